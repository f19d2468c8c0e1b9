//! Product units of Durbin & Rumelhart, "Product Units: A Computationally Powerful and
//! Biologically Plausible Extension to Backpropagation Networks", Neural Computation 1(1), 1989:
//! each unit raises every input to a trained exponent and multiplies, `y_j = Π_i x_i^{w_ji}`.
//!
//! A negative input has the complex logarithm `ln|x| + iπ`, so the product is
//! `exp(Σ_i w_ji ln|x_i|) · exp(iπ Σ_i w_ji k_i)` with `k_i = 1` where `x_i < 0`, else 0; Durbin &
//! Rumelhart keep its real part:
//!
//! `y_j = exp(Σ_i w_ji ln r_i) · cos(π Σ_i w_ji k_i)`,  `r_i = |x_i| + ε`.
//!
//! With integer exponents this is the exact signed product (`cos(π · odd) = −1`). The same form
//! is the "RealNaiveNPU" of Heim, Pevný & Šmídl's `nmheim/NeuralArithmetic.jl` (`src/npu.jl`:
//! `exp.(W * log.(abs.(x) .+ eps(T))) .* cos.(W * k)` with `k = π` for negative inputs), the
//! NPU without its gate, and the "iNPU" of `Johnlrr/nalm` (`models/inpu.py`); we follow those
//! rather than taking the magnitude only (which loses the sign, as NAC• does).
//!
//! - **ε**: `ln 0` is guarded as in `NeuralArithmetic.jl`, by adding `ε = f32::EPSILON`
//!   (their `eps(Float32)`, 2⁻²³) to `|x|`, so a zero input gives `ln ε ≈ −15.9` rather than
//!   −∞. `x = −0.0` counts as non-negative (`k = 0`), as their `max(−sign(x), 0)` does.
//! - **Derivatives**: `∂y/∂w_ji = y ln r_i − π k_i · exp(Σ w ln r) sin(π Σ w k)` and
//!   `∂y/∂x_i = y · w_ji · sign(x_i) / r_i` with `sign(0) = 0` (autograd's slope of `|x|` at
//!   0); `k` is piecewise constant.
//! - **Init**: Glorot uniform, `U[−√(6/(fan_in + fan_out)), +√(6/(fan_in + fan_out))]`, as both
//!   implementations above draw their exponents. Small exponents around 0 start every unit near
//!   the constant 1, not at a large power of its inputs, whose output and gradients would
//!   explode on inputs far from 1.
//! - No projection and no regulariser: the exponents are free reals.
//!
//! Sums of logs are accumulated in `f32`: their terms are a few tens at most (`|ln ε| ≈ 16`), far
//! from where `f32`'s 24 bits lose what `exp` would show.
//!
//! ```
//! use logexp::model::{product::Product, Layer};
//! let unit = Product::new(2, 1);
//! // Exponents 1 and 1: y = x0 · x1, sign included.
//! let (n, stride) = (1, 8);
//! let mut x = vec![0.0f32; 2 * stride];
//! x[0] = -2.0;
//! x[stride] = 4.0;
//! let mut scratch = vec![0.0f32; unit.scratch_per_row() * stride];
//! let mut out = vec![0.0f32; stride];
//! unit.forward(&[1.0, 1.0], &x, n, stride, &mut scratch, &mut out);
//! assert!((out[0] + 8.0).abs() < 1e-4);
//! ```

use super::ParamBlock;
use super::layer::Layer;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::PI;

/// Added to `|x|` before its logarithm (`eps(Float32)` in `NeuralArithmetic.jl`).
pub const EPSILON: f32 = f32::EPSILON;

/// A layer of product units: `n_outputs × n_inputs` exponents, no bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    n_inputs: usize,
    n_outputs: usize,
}

impl Product {
    /// A layer from `n_inputs` features to `n_outputs` products.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Product {
        Product {
            n_inputs,
            n_outputs,
        }
    }
}

/// `sign(x)` with `sign(0) = 0`: the slope of `|x|` that autograd takes.
#[inline(always)]
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Layer for Product {
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
        let r = (6.0 / (self.n_inputs + self.n_outputs) as f64).sqrt();
        for w in params {
            *w = rng.random_range(-r..r) as f32;
        }
    }

    /// `ln r_i` of every input at `i · stride + b`, then the imaginary part
    /// `exp(Σ w ln r) · sin(π Σ w k)` of every unit at `(n_inputs + j) · stride + b`.
    fn scratch_per_row(&self) -> usize {
        self.n_inputs + self.n_outputs
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
        let (logs, imag) = scratch.split_at_mut(ni * stride);
        for i in 0..ni {
            let (l, xi) = (&mut logs[i * stride..i * stride + n], &x[i * stride..]);
            for (l, &v) in l.iter_mut().zip(xi) {
                *l = (v.abs() + EPSILON).ln();
            }
        }
        for j in 0..self.n_outputs {
            let w = &params[j * ni..(j + 1) * ni];
            let row = &mut out[j * stride..(j + 1) * stride];
            row[n..].fill(0.0);
            let im = &mut imag[j * stride..j * stride + n];
            for b in 0..n {
                // Log-magnitude and the exponents of the negative inputs, summed.
                let (mut log_mag, mut turns) = (0.0f32, 0.0f32);
                for i in 0..ni {
                    log_mag += w[i] * logs[i * stride + b];
                    if x[i * stride + b] < 0.0 {
                        turns += w[i];
                    }
                }
                let (mag, phase) = (log_mag.exp(), PI * turns);
                row[b] = mag * phase.cos();
                // sin(0) = 0 exactly, so with no negative input this is 0 unless mag is
                // infinite; backward only reads it for negative inputs.
                im[b] = mag * phase.sin();
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
        out: &[f32],
        d_out: &[f32],
        grad: &mut [f32],
        d_x: Option<&mut [f32]>,
    ) {
        let ni = self.n_inputs;
        let (logs, imag) = scratch.split_at(ni * stride);
        for j in 0..self.n_outputs {
            let d = &d_out[j * stride..j * stride + n];
            let y = &out[j * stride..j * stride + n];
            let im = &imag[j * stride..j * stride + n];
            for i in 0..ni {
                let (xi, li) = (&x[i * stride..], &logs[i * stride..]);
                let mut g = 0.0f32;
                for b in 0..n {
                    // ∂y/∂w = y ln r − π k · Im; the phase term only where k = 1, so that
                    // an infinite magnitude with no negative input gives ±∞, not NaN.
                    let mut dy = y[b] * li[b];
                    if xi[b] < 0.0 {
                        dy -= PI * im[b];
                    }
                    g += d[b] * dy;
                }
                grad[j * ni + i] = g;
            }
        }
        if let Some(d_x) = d_x {
            d_x[..ni * stride].fill(0.0);
            for i in 0..ni {
                let xi = &x[i * stride..i * stride + n];
                let dx = &mut d_x[i * stride..i * stride + n];
                for j in 0..self.n_outputs {
                    let w = params[j * ni + i];
                    let (d, y) = (&d_out[j * stride..], &out[j * stride..]);
                    for b in 0..n {
                        dx[b] += d[b] * y[b] * w;
                    }
                }
                // ∂r/∂x = sign(x), and 1/r is shared by every unit.
                for (g, &v) in dx.iter_mut().zip(xi) {
                    *g *= sign(v) / (v.abs() + EPSILON);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::assert_gradients_match;
    use crate::model::padded;
    use rand::SeedableRng;

    fn run(unit: &Product, params: &[f32], rows: &[&[f32]]) -> Vec<f32> {
        let n = rows.len();
        let stride = padded(n);
        let ni = unit.n_inputs();
        let mut x = vec![0.0f32; ni * stride];
        for (b, r) in rows.iter().enumerate() {
            for (i, &v) in r.iter().enumerate() {
                x[i * stride + b] = v;
            }
        }
        let mut scratch = vec![f32::NAN; unit.scratch_per_row() * stride];
        let mut out = vec![f32::NAN; unit.n_outputs() * stride];
        unit.forward(params, &x, n, stride, &mut scratch, &mut out);
        out
    }

    /// Within 1e-5 of `b`, relative to `1 + |b|`.
    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() <= 1e-5 * (1.0 + b.abs())
    }

    /// Within 1e-5 of `b` relative to `|b|`, for values far below 1.
    fn rel_close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() <= 1e-5 * b.abs()
    }

    #[test]
    fn forward_matches_hand_computed_powers() {
        let unit = Product::new(2, 3);
        // Unit 0: x0 · x1. Unit 1: x0² / x1. Unit 2: x0^0.5 · x1^0.
        let params = [1.0f32, 1.0, 2.0, -1.0, 0.5, 0.0];
        let out = run(&unit, &params, &[&[3.0, 4.0], &[-3.0, 4.0], &[-4.0, -2.0]]);
        let s = 8;
        // Row 0 (3, 4): 12; 9 / 4 = 2.25; √3 = 1.7320508.
        // Row 1 (−3, 4): −12; (−3)² / 4 = 2.25 (cos 2π = 1); √3 · cos(π/2) = 0.
        // Row 2 (−4, −2): 8 (cos 2π); 16 / (−2) = −8 (cos π); 2 · cos(π/2) = 0.
        let want = [
            [12.0, -12.0, 8.0],
            [2.25, 2.25, -8.0],
            [3f64.sqrt(), 0.0, 0.0],
        ];
        for (j, row) in want.iter().enumerate() {
            for (b, &v) in row.iter().enumerate() {
                assert!(
                    close(out[j * s + b], v),
                    "unit {j} row {b}: {}",
                    out[j * s + b]
                );
            }
            assert!(out[j * s + 3..(j + 1) * s].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn zero_inputs_are_guarded_by_epsilon() {
        let unit = Product::new(2, 2);
        // x = (0, 2). Exponent 1 on the zero: ε · 2 = 2⁻²². Exponent −1 on it: 2 / ε = 2²⁴,
        // finite.
        let out = run(&unit, &[1.0, 1.0, -1.0, 1.0], &[&[0.0, 2.0]]);
        assert!(rel_close(out[0], 2f64.powi(-22)), "{}", out[0]);
        assert!(rel_close(out[8], 2f64.powi(24)), "{}", out[8]);
    }

    #[test]
    fn gradients_match_finite_differences_with_negative_inputs() {
        let unit = Product::new(3, 2);
        let n = 6;
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut x = vec![0.0f32; 3 * stride];
        for i in 0..3 {
            for b in 0..n {
                // Magnitudes in [0.5, 2], about half of them negative.
                let m: f32 = rng.random_range(0.5..2.0);
                x[i * stride + b] = if rng.random_bool(0.5) { -m } else { m };
            }
        }
        // Row 0 has every input negative, row 1 none.
        for i in 0..3 {
            x[i * stride] = -x[i * stride].abs();
            x[i * stride + 1] = x[i * stride + 1].abs();
        }
        let params: Vec<f32> = (0..6).map(|_| rng.random_range(-1.5..1.5)).collect();
        assert_gradients_match(&unit, &params, &x, n, 1e-3);
    }

    #[test]
    fn gradient_at_a_zero_input_is_zero_for_it_and_finite_for_the_exponent() {
        // y = x0^w0 · x1 at x = (0, 3), w = (2, 1): y = 3ε²; ∂y/∂w0 = y ln ε;
        // ∂y/∂x0 = 0 (sign(0) = 0); ∂y/∂x1 = w1 y / (3 + ε).
        let unit = Product::new(2, 1);
        let params = [2.0f32, 1.0];
        let (n, stride) = (1, 8);
        let mut x = vec![0.0f32; 2 * stride];
        x[stride] = 3.0;
        let mut scratch = vec![0.0f32; unit.scratch_per_row() * stride];
        let mut out = vec![0.0f32; stride];
        unit.forward(&params, &x, n, stride, &mut scratch, &mut out);
        let eps = f64::from(EPSILON);
        let y = 3.0 * eps * eps;
        assert!(rel_close(out[0], y), "{}", out[0]);
        let mut d_out = vec![0.0f32; stride];
        d_out[0] = 1.0;
        let mut grad = [f32::NAN; 2];
        let mut d_x = vec![f32::NAN; 2 * stride];
        unit.backward(
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
        assert!(rel_close(grad[0], y * eps.ln()), "{}", grad[0]);
        assert_eq!(d_x[0], 0.0);
        assert!(rel_close(d_x[stride], y / 3.0), "{}", d_x[stride]);
    }

    #[test]
    fn init_is_glorot_uniform() {
        // 2 → 1: √(6/3) = 1.414; 50 → 50: √(6/100) = 0.245. Only the wide layer has enough
        // draws (2500) to come within 2 % of both ends.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (ni, no, r) in [(2, 1, 2f32.sqrt()), (50, 50, 0.06f32.sqrt())] {
            let unit = Product::new(ni, no);
            let mut w = vec![0.0; unit.n_params()];
            unit.init_params(&mut rng, &mut w);
            let lo = w.iter().fold(0.0f32, |m, &v| m.min(v));
            let hi = w.iter().fold(0.0f32, |m, &v| m.max(v));
            assert!(-r <= lo && hi <= r, "{ni}→{no}: [{lo}, {hi}], r {r}");
            if w.len() > 100 {
                assert!(lo < -0.98 * r && hi > 0.98 * r, "{ni}→{no}: [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn no_projection_and_no_regulariser() {
        let unit = Product::new(2, 1);
        let mut w = [-3.0f32, 2.5];
        unit.project(&mut w);
        assert_eq!(w, [-3.0, 2.5]);
        let mut grad = [1.0f32; 2];
        assert_eq!(unit.regularize(&w, 1.0, &mut grad), 0.0);
        assert_eq!(grad, [1.0, 1.0]);
    }
}
