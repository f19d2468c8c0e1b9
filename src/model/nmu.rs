//! The neural multiplication unit (NMU) of Madsen & Johansen, "Neural Arithmetic Units", ICLR
//! 2020 (`AndreasMadsen/stable-nalu`, `stable_nalu/layer/re_regualized_linear_mnac.py`, with
//! `functional/mnac.py`, `functional/regualizer.py` and `functional/sparsity_error.py`).
//!
//! `z_j = Π_i (W_ji x_i + 1 − W_ji)`: a weight of 1 lets `x_i` into the product, a weight of 0
//! replaces it by the neutral factor 1. No logarithm and no division, so zero and negative inputs
//! are fine.
//!
//! What we follow, checked against their code:
//! - **Init** `W ~ U[0.5 − r, 0.5 + r]` with `r = min(0.25, √3 · √0.25) = 0.25`, i.e.
//!   `U[0.25, 0.75]`, independent of the layer's width (`reset_parameters`).
//! - **Range**: their published runs use `--oob-mode clip` (the default of
//!   `experiments/simple_function_static.py`): W is clamped in place to [0, 1] after every
//!   optimiser step (`optimize`), so the forward pass sees weights already in [0, 1]. We clamp
//!   in [`Layer::project`] and also read W clamped in `forward`, which changes nothing after a
//!   projection but keeps the unit's meaning if a caller skips it. The clamp in `forward` has
//!   no derivative of its own (taken as 1), as in their clip mode where it is not in the graph.
//!   Their `mnac_epsilon` (a lower bound ε instead of 0) is 0 in every published run, so we have
//!   none.
//! - **Regulariser**: the experiments' default `--regualizer-shape linear`, i.e.
//!   `R = mean_ji min(|W_ji|, |1 − W_ji|)` on the stored weights (in clip mode those are the
//!   clamped ones); on [0, 1] this is the paper's `mean min(W, 1 − W)`. The library's own
//!   default shape, `squared` (`W²(1 − W)²`), is not what the experiments ran. Its slope follows
//!   the absolute values' (sub)gradients as autograd takes them: 0 at W = 0 and at W = 1, so a
//!   weight clamped to either end is not pushed; 0 as well at the tie W = ½ (midpoint of the
//!   two one-sided slopes), which only an exact ½ hits.
//! - **Sparsity error** (their evaluation metric): `max_ji min(|W_ji|, |1 − |W_ji||)`, see
//!   [`Nmu::sparsity_error`].
//!
//! The backward pass never divides by a factor: `∂z_j/∂(factor i)` is the product of the other
//! factors, taken as prefix × suffix products, so it stays exact when a factor is exactly 0
//! (e.g. `x_i = −1` with `W_ji = ½`).
//!
//! ```
//! use logexp::model::{nmu::Nmu, Layer};
//! let nmu = Nmu::new(2, 1);
//! // Weights 1 and 0: z = x0 · 1, so the unit passes x0 through.
//! let (n, stride) = (1, 8);
//! let mut x = vec![0.0f32; 2 * stride];
//! x[0] = 3.0;
//! x[stride] = 5.0;
//! let mut scratch = vec![0.0f32; nmu.scratch_per_row() * stride];
//! let mut out = vec![0.0f32; stride];
//! nmu.forward(&[1.0, 0.0], &x, n, stride, &mut scratch, &mut out);
//! assert_eq!(out[0], 3.0);
//! ```

use super::ParamBlock;
use super::layer::Layer;
use super::stack::UnitInit;
use super::{LANES, Lanes};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A layer of NMUs: `n_outputs × n_inputs` gates in [0, 1], no bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nmu {
    n_inputs: usize,
    n_outputs: usize,
    /// Weights drawn from U[0, 1], as NeuralArithmetic.jl draws them, instead of stable-nalu's.
    unit_interval: bool,
}

/// The factor `W x + 1 − W` of one input, computed the same way in `forward` and `backward` so
/// that the recomputed factors are bit-identical to the forward pass's.
#[inline(always)]
fn factor(w: f32, x: f32) -> f32 {
    w * x + (1.0 - w)
}

/// Slope of `min(|w|, |1 − w|)` as autograd takes it: `sign(w)` where `|w|` is the smaller,
/// `−sign(1 − w)` where `|1 − w|` is, with `sign(0) = 0`, and 0 at the tie.
#[inline(always)]
fn regulariser_slope(w: f32) -> f32 {
    let sign = |v: f32| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let (a, b) = (w.abs(), (1.0 - w).abs());
    if a < b {
        sign(w)
    } else if b < a {
        -sign(1.0 - w)
    } else {
        0.0
    }
}

impl Nmu {
    /// A layer from `n_inputs` features to `n_outputs` products.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Nmu {
        Nmu {
            n_inputs,
            n_outputs,
            unit_interval: false,
        }
    }

    /// The same layer, drawing its weights as `init` says (see [`UnitInit`]).
    pub fn with_init(self, init: UnitInit) -> Nmu {
        Nmu {
            unit_interval: init == UnitInit::NeuralArithmetic,
            ..self
        }
    }

    /// stable-nalu's sparsity error `max_ji min(|W_ji|, |1 − |W_ji||)` of this layer's
    /// parameters: 0 when every weight is exactly 0 or 1, at most ½; 0 for an empty layer.
    pub fn weight_sparsity_error(&self, params: &[f32]) -> f64 {
        params
            .iter()
            .map(|&w| {
                let a = f64::from(w).abs();
                a.min((1.0 - a).abs())
            })
            .fold(0.0, f64::max)
    }
}

impl Layer for Nmu {
    fn sparsity_error(&self, params: &[f32]) -> Option<f64> {
        Some(self.weight_sparsity_error(params))
    }

    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    fn n_params(&self) -> usize {
        self.n_inputs * self.n_outputs
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        vec![ParamBlock {
            name: "weight".into(),
            offset: 0,
            shape: vec![self.n_outputs, self.n_inputs],
        }]
    }

    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        // stable-nalu: std = √0.25, r = min(0.25, √3 · std) = 0.25 around 0.5;
        // NeuralArithmetic.jl: U[0, 1], i.e. r = 0.5.
        let r = if self.unit_interval {
            0.5
        } else {
            (3f64.sqrt() * 0.25f64.sqrt()).min(0.25)
        };
        for w in params {
            *w = rng.random_range(0.5 - r..0.5 + r) as f32;
        }
    }

    /// The prefix products `Π_{k<i} (W_jk x_k + 1 − W_jk)` of every unit `j` and input `i`,
    /// at `(j · n_inputs + i) · stride + b`: backward multiplies them by suffix products to get
    /// each factor's cofactor without dividing.
    fn scratch_per_row(&self) -> usize {
        self.n_outputs * self.n_inputs
    }

    fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let ni = self.n_inputs;
        for j in 0..self.n_outputs {
            let row = &mut out[j * stride..(j + 1) * stride];
            row.fill(0.0);
            let z = &mut row[..n];
            z.fill(1.0);
            for i in 0..ni {
                let w = params[j * ni + i].clamp(0.0, 1.0);
                let at = (j * ni + i) * stride;
                scratch[at..at + n].copy_from_slice(z);
                for (z, &xi) in z.iter_mut().zip(&x[i * stride..i * stride + n]) {
                    *z *= factor(w, xi);
                }
            }
        }
    }

    fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        scratch: &[f32],
        _out: &[f32],
        d_out: &[f32],
        grad: &mut [f32],
        mut d_x: Option<&mut [f32]>,
    ) {
        let ni = self.n_inputs;
        grad.fill(0.0);
        if let Some(d_x) = d_x.as_deref_mut() {
            d_x[..ni * stride].fill(0.0);
        }
        // Blocks of LANES rows: the running suffix product of each row lives in a register
        // array, so nothing is allocated. ∂z/∂W_ji = (x_i − 1) · c_ji and ∂z/∂x_i = W_ji · c_ji
        // with the cofactor c_ji = prefix_ji · suffix_ji (the product of the other factors).
        for block in (0..n).step_by(LANES) {
            let m = LANES.min(n - block);
            for j in 0..self.n_outputs {
                let d = &d_out[j * stride + block..j * stride + block + m];
                let mut suffix: Lanes = [1.0; LANES];
                for i in (0..ni).rev() {
                    let w = params[j * ni + i].clamp(0.0, 1.0);
                    let xi = &x[i * stride + block..i * stride + block + m];
                    let at = (j * ni + i) * stride + block;
                    let prefix = &scratch[at..at + m];
                    let mut g = 0.0f32;
                    let mut dx_row = d_x
                        .as_deref_mut()
                        .map(|d_x| &mut d_x[i * stride + block..i * stride + block + m]);
                    for l in 0..m {
                        // d_out · cofactor, the gradient reaching this factor.
                        let dc = d[l] * prefix[l] * suffix[l];
                        g += dc * (xi[l] - 1.0);
                        if let Some(dx) = dx_row.as_deref_mut() {
                            dx[l] += dc * w;
                        }
                        suffix[l] *= factor(w, xi[l]);
                    }
                    grad[j * ni + i] += g;
                }
            }
        }
    }

    fn project(&self, params: &mut [f32]) {
        for w in params {
            *w = w.clamp(0.0, 1.0);
        }
    }

    fn regularize(&self, params: &[f32], lambda: f32, grad: &mut [f32]) -> f64 {
        let count = params.len().max(1) as f32;
        let mut sum = 0.0f64;
        for (&w, g) in params.iter().zip(grad.iter_mut()) {
            sum += f64::from(w.abs().min((1.0 - w).abs()));
            *g += lambda * regulariser_slope(w) / count;
        }
        sum / f64::from(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::assert_gradients_match;
    use crate::model::padded;
    use rand::SeedableRng;

    /// Feature-major batch from rows of features.
    fn batch(rows: &[&[f32]]) -> Vec<f32> {
        let stride = padded(rows.len());
        let ni = rows[0].len();
        let mut x = vec![0.0f32; ni * stride];
        for (b, r) in rows.iter().enumerate() {
            for (i, &v) in r.iter().enumerate() {
                x[i * stride + b] = v;
            }
        }
        x
    }

    fn run(nmu: &Nmu, params: &[f32], rows: &[&[f32]]) -> Vec<f32> {
        let n = rows.len();
        let stride = padded(n);
        let x = batch(rows);
        let mut scratch = vec![f32::NAN; nmu.scratch_per_row() * stride];
        let mut out = vec![f32::NAN; nmu.n_outputs() * stride];
        nmu.forward(params, &x, n, stride, &mut scratch, &mut out);
        out
    }

    #[test]
    fn forward_matches_hand_computed_products() {
        let nmu = Nmu::new(3, 2);
        // Unit 0: W = (1, 1, 0) → x0 · x1. Unit 1: W = (0.5, 0.25, 1) →
        // (0.5 x0 + 0.5)(0.25 x1 + 0.75) · x2. Weights outside [0, 1] read clamped: 1.5 → 1,
        // −0.5 → 0.
        let params = [1.5f32, 1.0, -0.5, 0.5, 0.25, 1.0];
        let out = run(&nmu, &params, &[&[2.0, 3.0, 7.0], &[-1.0, 4.0, -2.0]]);
        let stride = 8;
        // Row 0: 2 · 3 = 6; (1 + 0.5)(0.75 + 0.75) · 7 = 1.5 · 1.5 · 7 = 15.75.
        // Row 1: −1 · 4 = −4; (−0.5 + 0.5)(1 + 0.75) · (−2) = 0.
        assert_eq!(&out[..2], &[6.0, -4.0]);
        assert_eq!(&out[stride..stride + 2], &[15.75, 0.0]);
        assert!(out[2..stride].iter().all(|&v| v == 0.0), "padding lanes");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let nmu = Nmu::new(4, 3);
        let n = 5;
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut x = vec![0.0f32; 4 * stride];
        for i in 0..4 {
            for b in 0..n {
                x[i * stride + b] = rng.random_range(-2.0..2.0);
            }
        }
        // Row 3 has an input exactly 0; row 4 has a factor exactly 0 (x = −1, W = ½).
        x[2 * stride + 3] = 0.0;
        x[stride + 4] = -1.0;
        let params: Vec<f32> = (0..12)
            .map(|k| {
                if k == 5 {
                    0.5
                } else {
                    rng.random_range(0.2..0.8)
                }
            })
            .collect();
        assert_gradients_match(&nmu, &params, &x, n, 1e-3);
    }

    #[test]
    fn gradients_at_a_zero_factor_are_the_other_factors_product() {
        // z = (0.5 x0 + 0.5)(0.5 x1 + 0.5) at x = (−1, 3): factors 0 and 2, z = 0.
        // ∂z/∂W0 = (x0 − 1) · 2 = −4; ∂z/∂W1 = (x1 − 1) · 0 = 0;
        // ∂z/∂x0 = W0 · 2 = 1; ∂z/∂x1 = W1 · 0 = 0. Division by the factor would give NaN.
        let nmu = Nmu::new(2, 1);
        let params = [0.5f32, 0.5];
        let (n, stride) = (1, 8);
        let x = batch(&[&[-1.0, 3.0]]);
        let mut scratch = vec![0.0f32; nmu.scratch_per_row() * stride];
        let mut out = vec![0.0f32; stride];
        nmu.forward(&params, &x, n, stride, &mut scratch, &mut out);
        assert_eq!(out[0], 0.0);
        let mut d_out = vec![0.0f32; stride];
        d_out[0] = 1.0;
        let mut grad = [f32::NAN; 2];
        let mut d_x = vec![f32::NAN; 2 * stride];
        nmu.backward(
            &params,
            &x,
            n,
            stride,
            &scratch,
            &out,
            &d_out,
            &mut grad,
            Some(&mut d_x),
        );
        assert_eq!(grad, [-4.0, 0.0]);
        assert_eq!((d_x[0], d_x[stride]), (1.0, 0.0));
        assert!(d_x[1..stride].iter().all(|&v| v == 0.0), "padding lanes");
    }

    #[test]
    fn init_is_uniform_on_a_quarter_to_three_quarters_whatever_the_width() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (ni, no) in [(2, 1), (100, 50)] {
            let nmu = Nmu::new(ni, no);
            let mut w = vec![0.0; nmu.n_params()];
            nmu.init_params(&mut rng, &mut w);
            let lo = w.iter().fold(1.0f32, |m, &v| m.min(v));
            let hi = w.iter().fold(0.0f32, |m, &v| m.max(v));
            assert!(lo >= 0.25 && hi < 0.75, "{ni}→{no}: [{lo}, {hi}]");
            if w.len() > 100 {
                assert!(lo < 0.26 && hi > 0.74, "{ni}→{no}: [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn neural_arithmetic_init_is_uniform_on_the_unit_interval() {
        let nmu = Nmu::new(100, 50).with_init(UnitInit::NeuralArithmetic);
        let mut w = vec![0.0; nmu.n_params()];
        nmu.init_params(&mut ChaCha8Rng::seed_from_u64(0), &mut w);
        let lo = w.iter().fold(1.0f32, |m, &v| m.min(v));
        let hi = w.iter().fold(0.0f32, |m, &v| m.max(v));
        assert!(
            (0.0..0.01).contains(&lo) && (0.99..1.0).contains(&hi),
            "[{lo}, {hi}]"
        );
        assert_eq!(Nmu::new(2, 1).with_init(UnitInit::Inalu), Nmu::new(2, 1));
    }

    #[test]
    fn projection_clamps_into_zero_one() {
        let nmu = Nmu::new(5, 1);
        let mut w = [-0.3f32, 0.0, 0.42, 1.0, 7.0];
        nmu.project(&mut w);
        assert_eq!(w, [0.0, 0.0, 0.42, 1.0, 1.0]);
    }

    #[test]
    fn regulariser_is_mean_distance_to_zero_or_one() {
        let nmu = Nmu::new(4, 1);
        let mut grad = [0.0f32; 4];
        assert_eq!(nmu.regularize(&[0.0, 1.0, 1.0, 0.0], 3.0, &mut grad), 0.0);
        // Clamped ends are not pushed: |w| and |1 − w| have slope 0 at their kink.
        assert_eq!(grad, [0.0; 4]);
        // min(w, 1 − w): 0.2, 0.3, 0.1, 0.5 → mean 0.275.
        let mut grad = [1.0f32; 4];
        let r = nmu.regularize(&[0.2, 0.7, 0.9, 0.5], 2.0, &mut grad);
        assert!((r - 0.275).abs() < 1e-6, "{r}");
        // λ/count = 0.5 added to the existing 1: 0.2 goes down to 0 (+), 0.7 and 0.9 up to 1
        // (−), the tie at ½ is not pushed.
        assert_eq!(grad, [1.5, 0.5, 0.5, 1.0]);
        // Out of range (before a projection): |−0.25| = 0.25, |1 − 1.5| = 0.5 → mean 0.375,
        // both pulled back towards [0, 1].
        let mut grad = [0.0f32; 2];
        let r = nmu.regularize(&[-0.25, 1.5], 1.0, &mut grad);
        assert!((r - 0.375).abs() < 1e-6, "{r}");
        assert_eq!(grad, [-0.5, 0.5]);
    }

    #[test]
    fn sparsity_error_is_the_worst_weight() {
        let nmu = Nmu::new(3, 1);
        // min(|w|, |1 − |w||): 0, 0.1, 0.3 → max 0.3.
        let e = nmu.weight_sparsity_error(&[1.0, 0.9, 0.3]);
        assert!((e - 0.3).abs() < 1e-6, "{e}");
        assert_eq!(nmu.weight_sparsity_error(&[0.0, 1.0, 0.0]), 0.0);
    }
}
