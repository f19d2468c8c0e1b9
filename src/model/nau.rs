//! The neural addition unit (NAU) of Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020
//! (`AndreasMadsen/stable-nalu`, `re_regualized_linear_nac.py`).
//!
//! `z_j = Σ_i W_ji x_i` with W clamped to [−1, 1] after every optimiser step (and read clamped),
//! initialised `U[−r, r]` with `r = min(0.5, √3 · √(2 / (fan_in + fan_out)))`; its sparsity
//! regulariser is `mean_ji min(|W_ji|, 1 − |W_ji|)`, which pulls every weight to −1, 0 or 1.
//!
//! ```
//! use logexp::model::{nau::Nau, Layer};
//! let nau = Nau::new(3, 2);
//! assert_eq!(nau.n_params(), 6);
//! let mut w = [1.5f32, -0.2, 0.0, -3.0, 0.4, 1.0];
//! nau.project(&mut w);
//! assert_eq!(w, [1.0, -0.2, 0.0, -1.0, 0.4, 1.0]);
//! ```

use super::ParamBlock;
use super::layer::{Layer, weighted_sums, weighted_sums_backward};
use super::stack::UnitInit;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A layer of NAUs: `n_outputs × n_inputs` weights, no bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nau {
    n_inputs: usize,
    n_outputs: usize,
    /// Glorot-uniform weights, as NeuralArithmetic.jl draws them, instead of stable-nalu's.
    glorot: bool,
}

impl Nau {
    /// A layer from `n_inputs` features to `n_outputs` sums.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Nau {
        Nau {
            n_inputs,
            n_outputs,
            glorot: false,
        }
    }

    /// The same layer, drawing its weights as `init` says (see [`UnitInit`]).
    pub fn with_init(self, init: UnitInit) -> Nau {
        Nau {
            glorot: init == UnitInit::NeuralArithmetic,
            ..self
        }
    }
}

impl Layer for Nau {
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
        let std = (2.0 / (self.n_inputs + self.n_outputs) as f64).sqrt();
        // Glorot's limit √(6/(in+out)) is √3·std; stable-nalu caps it at 0.5.
        let r = if self.glorot {
            3f64.sqrt() * std
        } else {
            (3f64.sqrt() * std).min(0.5)
        };
        for w in params {
            *w = rng.random_range(-r..r) as f32;
        }
    }

    fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        _scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let ni = self.n_inputs;
        let weight = |j: usize, i: usize| params[j * ni + i].clamp(-1.0, 1.0);
        weighted_sums(ni, self.n_outputs, weight, |_| 0.0, x, n, stride, out);
    }

    fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        _scratch: &[f32],
        _out: &[f32],
        d_out: &[f32],
        grad: &mut [f32],
        d_x: Option<&mut [f32]>,
    ) {
        let ni = self.n_inputs;
        // The clamp's own derivative is taken as 1, as stable-nalu's weights are clamped in
        // place after every step and so only sit outside [−1, 1] between an update and its
        // projection.
        let weight = |j: usize, i: usize| params[j * ni + i].clamp(-1.0, 1.0);
        weighted_sums_backward(ni, self.n_outputs, weight, x, n, stride, d_out, grad, d_x);
    }

    fn sparsity_error(&self, params: &[f32]) -> Option<f64> {
        Some(params.iter().fold(0.0, |worst: f64, &w| {
            let a = f64::from(w.clamp(-1.0, 1.0)).abs();
            worst.max(a.min(1.0 - a))
        }))
    }

    fn project(&self, params: &mut [f32]) {
        for w in params {
            *w = w.clamp(-1.0, 1.0);
        }
    }

    fn regularize(&self, params: &[f32], lambda: f32, grad: &mut [f32]) -> f64 {
        let count = params.len().max(1) as f32;
        let mut sum = 0.0f64;
        for (&w, g) in params.iter().zip(grad.iter_mut()) {
            let a = w.abs();
            sum += f64::from(a.min(1.0 - a));
            // d/dw min(|w|, 1 − |w|): towards 0 below one half, towards ±1 above; 0 at w = 0,
            // where autograd takes |w|'s slope as 0 (signum would push a zero weight).
            let sign = if w == 0.0 { 0.0 } else { w.signum() };
            let slope = if a < 0.5 { sign } else { -sign };
            *g += lambda * slope / count;
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

    #[test]
    fn gradients_match_finite_differences() {
        let nau = Nau::new(3, 2);
        let n = 5;
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut x = vec![0.0f32; 3 * stride];
        for i in 0..3 {
            for b in 0..n {
                x[i * stride + b] = rng.random_range(-3.0..3.0);
            }
        }
        let params = [0.3f32, -0.7, 0.1, 0.9, -0.2, 0.45];
        assert_gradients_match(&nau, &params, &x, n, 1e-3);
    }

    #[test]
    fn init_is_bounded_by_stable_nalus_rule() {
        // 2 → 10: √3 · √(2/12) = 0.71, so r = 0.5; 100 → 100: √3 · 0.1 = 0.173.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (ni, no, r) in [(2, 10, 0.5f32), (100, 100, 0.1732)] {
            let nau = Nau::new(ni, no);
            let mut w = vec![0.0; nau.n_params()];
            nau.init_params(&mut rng, &mut w);
            let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(max <= r && max > 0.8 * r, "{ni}→{no}: max {max}, r {r}");
        }
    }

    #[test]
    fn neural_arithmetic_init_is_glorot_uniform_without_the_cap() {
        // 6 → 4 (the NPU task's NAU): √(6/10) = 0.775, above stable-nalu's cap of 0.5.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let nau = Nau::new(6, 400).with_init(UnitInit::NeuralArithmetic);
        let r = (6.0f32 / 406.0).sqrt();
        let mut w = vec![0.0; nau.n_params()];
        nau.init_params(&mut rng, &mut w);
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max <= r && max > 0.99 * r, "max {max}, r {r}");
        let small = Nau::new(6, 4).with_init(UnitInit::NeuralArithmetic);
        let mut w = vec![0.0; 24];
        let mut above_cap = 0;
        for seed in 0..20 {
            small.init_params(&mut ChaCha8Rng::seed_from_u64(seed), &mut w);
            assert!(w.iter().all(|v| v.abs() <= 0.775), "{w:?}");
            above_cap += w.iter().filter(|v| v.abs() > 0.5).count();
        }
        assert!(above_cap > 50, "{above_cap} of 480 draws beyond 0.5");
        assert_eq!(Nau::new(6, 4).with_init(UnitInit::Inalu), Nau::new(6, 4));
    }

    #[test]
    fn regulariser_is_zero_at_minus_one_zero_one_and_pulls_towards_them() {
        let nau = Nau::new(4, 1);
        let mut grad = [0.0f32; 4];
        assert_eq!(nau.regularize(&[-1.0, 0.0, 1.0, 0.0], 2.0, &mut grad), 0.0);
        // A weight at exactly 0 is where the regulariser wants it: no push.
        assert_eq!((grad[1], grad[3]), (0.0, 0.0));
        // Sparsity error: the worst weight's distance to −1, 0 or 1 (0.5 here: the 0.5).
        assert_eq!(nau.sparsity_error(&[-1.0, 0.0, 1.0, 0.0]), Some(0.0));
        assert_eq!(nau.sparsity_error(&[0.2, -0.7, 0.9, 0.5]), Some(0.5));
        let mut grad = [0.0f32; 4];
        // min(|w|, 1 − |w|): 0.2, 0.3, 0.1, 0.5 → mean 0.275.
        let r = nau.regularize(&[0.2, -0.7, 0.9, 0.5], 2.0, &mut grad);
        assert!((r - 0.275).abs() < 1e-6, "{r}");
        // λ/count = 0.5: 0.2 → down, −0.7 → down to −1, 0.9 → up to 1.
        assert_eq!(&grad[..3], &[0.5, 0.5, -0.5]);
    }
}
