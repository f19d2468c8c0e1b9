//! The improved NALU (iNALU) of Schlör, Ring & Hotho, "iNALU: Improved Neural Arithmetic Logic
//! Unit", Frontiers in AI 2020 (arXiv 2003.07629), as implemented in `daschloer/inalu`
//! (`nalu_architectures.py`, `nalui2_layer`: separate weights, input-independent gate; training
//! details from `nalu_syn_simple_arith.py` and `nalu_syn_simple_func.py`).
//!
//! Per output `j`, with `W = tanh(Ŵ) ⊙ σ(M̂)` for each of two independent weight pairs:
//!
//! ```text
//! a_j = Σ_i W_a,ji x_i
//! m_j = exp( min( Σ_i W_m,ji ln(max(|x_i|, 10⁻⁷)), 20 ) )        clipped exponent, ω = 20
//! s_j = clip( Π_i ( sign(x_i) |W_m,ji| + 1 − |W_m,ji| ), −1, 1 )   sign recovery, sign(0) = 0
//! g_j = σ(G_j)                                                       one scalar per output
//! y_j = g_j a_j + (1 − g_j) m_j s_j
//! ```
//!
//! The `min(·, 20)` sits on the exponent (after the weighted sum of logs, before `exp`), and the
//! zero guard is `max(|x|, 10⁻⁷)`, not NALU's `|x| + ε`: both as in their code. Every factor of
//! the sign product lies in [1 − 2|W|, 1] ⊂ [−1, 1], so the clip never binds in exact arithmetic;
//! it is kept because their code has it.
//!
//! **Gradients** are what TensorFlow's autodiff gives for their graph: `min(z, 20)` passes the
//! gradient where `z ≤ 20` and 0 where the clip is active; `clip(s, −1, 1)` passes it where
//! `−1 ≤ s ≤ 1`; `max(|x|, 10⁻⁷)` passes it to `|x|` where `|x| ≥ 10⁻⁷` (so inputs that small get
//! no gradient through the log); `sign(x)` has gradient 0, so the sign factor contributes to
//! `∂/∂W_m` only, through `d|w|/dw = sign(w)`.
//!
//! **Initialisation** as their experiment scripts set it (they override the module defaults
//! 0.88/0.5/0 and σ = 0.2): `Ŵ ~ N(1, 0.1²)`, `M̂ ~ N(−1, 0.1²)`, `G ~ N(0, 0.1²)`, so W starts
//! near `tanh(1) σ(−1) ≈ 0.20` and the gate at one half. [`Inalu::reinit`] is their plateau
//! re-initialisation: every parameter redrawn `U(−2, 2)`.
//!
//! **Regulariser** (their `regularize`, applied to every trainable variable):
//! `R = Σ_blocks mean_{v ∈ block} max(20 − |v|, 0)`, summed over the five blocks Ŵ_a, M̂_a, Ŵ_m,
//! M̂_m and G. It pushes every pre-activation away from 0 towards ±20, saturating tanh and σ
//! so that W and g become discrete. Their training adds `0.05 · R` (so λ = 0.05) after epoch 10
//! whenever the batch loss is below 1; that schedule is the trainer's.
//!
//! **Deviation from their code:** for `n_outputs > 1` their sign product pairs the flattened
//! `[n_inputs, n_outputs]` weight matrix with a tiled input in a different order, so output `j`
//! multiplies factors of the wrong weights (for a square layer, the transpose). We compute the
//! product the paper and their comments describe, `Π_i` over output `j`'s own weights; for one
//! output (their minimal and simple arithmetic tasks, 2 → 1) the two agree. Their parameter
//! matrices are `[n_inputs, n_outputs]`; ours are unit-major `[n_outputs, n_inputs]` (drawn
//! i.i.d., so the init is unchanged).
//!
//! ```
//! use logexp::model::{inalu::Inalu, Layer};
//! let inalu = Inalu::new(2, 1);
//! // Ŵ_a, M̂_a, Ŵ_m, M̂_m (1 × 2 each) and one gate.
//! assert_eq!(inalu.n_params(), 9);
//! let names: Vec<String> = inalu.param_blocks().into_iter().map(|b| b.name).collect();
//! assert_eq!(names, ["w_hat_a", "m_hat_a", "w_hat_m", "m_hat_m", "g"]);
//! ```

use super::ParamBlock;
use super::layer::Layer;
use super::nalu::{nac_weight, sigmoid, sign};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Floor of `|x|` inside the logarithm, `ln(max(|x|, 10⁻⁷))`.
pub const LOG_FLOOR: f32 = 1e-7;
/// Upper clip ω of the multiplicative path's exponent, `exp(min(z, 20))`.
pub const OMEGA: f32 = 20.0;
/// The regulariser's threshold `t` in `max(t − |v|, 0)`.
pub const REG_THRESHOLD: f32 = 20.0;

/// A layer of iNALUs, `n_inputs → n_outputs`: blocks `w_hat_a`, `m_hat_a`, `w_hat_m`, `m_hat_m`
/// (`[n_outputs, n_inputs]` each) and `g` (`[n_outputs]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inalu {
    n_inputs: usize,
    n_outputs: usize,
}

/// A standard normal draw (Box–Muller in `f64`).
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 − U[0, 1) lies in (0, 1]: the log is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Inalu {
    /// A layer of iNALUs from `n_inputs` features to `n_outputs`.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Inalu {
        Inalu {
            n_inputs,
            n_outputs,
        }
    }

    fn block(&self) -> usize {
        self.n_inputs * self.n_outputs
    }

    /// iNALU's plateau re-initialisation: every parameter (both weight pairs and the gate)
    /// redrawn from `U(−2, 2)`, as their `reinit` does when the loss has stopped falling while
    /// above 1. When to call it is the trainer's decision ([`Layer::reinit`]).
    pub fn redraw(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        for p in &mut params[..self.n_params()] {
            *p = rng.random_range(-2.0f64..2.0) as f32;
        }
    }

    /// Offsets of the five blocks: Ŵ_a, M̂_a, Ŵ_m, M̂_m, G.
    fn offsets(&self) -> [usize; 5] {
        let b = self.block();
        [0, b, 2 * b, 3 * b, 4 * b]
    }
}

impl Layer for Inalu {
    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    fn n_params(&self) -> usize {
        4 * self.block() + self.n_outputs
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        let shape = vec![self.n_outputs, self.n_inputs];
        let mut blocks: Vec<ParamBlock> = ["w_hat_a", "m_hat_a", "w_hat_m", "m_hat_m"]
            .into_iter()
            .zip(self.offsets())
            .map(|(name, offset)| ParamBlock {
                name: name.into(),
                offset,
                shape: shape.clone(),
            })
            .collect();
        blocks.push(ParamBlock {
            name: "g".into(),
            offset: self.offsets()[4],
            shape: vec![self.n_outputs],
        });
        blocks
    }

    /// The gate block `g`, which iNALU's training updates apart from the weights.
    fn gates(&self) -> Vec<std::ops::Range<usize>> {
        let start = self.offsets()[4];
        let gate = start..start + self.n_outputs;
        vec![gate]
    }

    fn reinit(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        self.redraw(rng, params);
    }

    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        let [wa, ma, wm, mm, g] = self.offsets();
        let b = self.block();
        // (mean, std) of each block as their experiment scripts set ig, im, iw, isg, ism, isw.
        for (start, len, mean) in [
            (wa, b, 1.0),
            (ma, b, -1.0),
            (wm, b, 1.0),
            (mm, b, -1.0),
            (g, self.n_outputs, 0.0),
        ] {
            for p in &mut params[start..start + len] {
                *p = (mean + 0.1 * standard_normal(rng)) as f32;
            }
        }
    }

    /// `ln(max(|x_i|, 10⁻⁷))` per input, then per output the sum `a`, the unclipped exponent
    /// `z`, the product `m = exp(min(z, 20))` and the unclipped sign product `s`.
    fn scratch_per_row(&self) -> usize {
        self.n_inputs + 4 * self.n_outputs
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
        let (ni, no) = (self.n_inputs, self.n_outputs);
        let [wa, ma, wm, mm, go] = self.offsets();
        let (logs, kept) = scratch.split_at_mut(ni * stride);
        for i in 0..ni {
            let li = &mut logs[i * stride..(i + 1) * stride];
            li.fill(0.0);
            for (l, &xi) in li[..n].iter_mut().zip(&x[i * stride..i * stride + n]) {
                *l = xi.abs().max(LOG_FLOOR).ln();
            }
        }
        let (a_all, rest) = kept.split_at_mut(no * stride);
        let (z_all, rest) = rest.split_at_mut(no * stride);
        let (m_all, s_all) = rest.split_at_mut(no * stride);
        for j in 0..no {
            let a = &mut a_all[j * stride..(j + 1) * stride];
            let z = &mut z_all[j * stride..(j + 1) * stride];
            let m = &mut m_all[j * stride..(j + 1) * stride];
            let s = &mut s_all[j * stride..(j + 1) * stride];
            a.fill(0.0);
            z.fill(0.0);
            m.fill(0.0);
            s.fill(0.0);
            s[..n].fill(1.0);
            for i in 0..ni {
                let k = j * ni + i;
                let w_a = nac_weight(params[wa + k], params[ma + k]).0;
                let w_m = nac_weight(params[wm + k], params[mm + k]).0;
                let abs_w = w_m.abs();
                let xi = &x[i * stride..i * stride + n];
                let li = &logs[i * stride..i * stride + n];
                for b in 0..n {
                    a[b] += w_a * xi[b];
                    z[b] += w_m * li[b];
                    s[b] *= sign(xi[b]) * abs_w + 1.0 - abs_w;
                }
            }
            let g = sigmoid(params[go + j]);
            let row = &mut out[j * stride..(j + 1) * stride];
            row.fill(0.0);
            for b in 0..n {
                m[b] = z[b].min(OMEGA).exp();
                row[b] = g * a[b] + (1.0 - g) * m[b] * s[b].clamp(-1.0, 1.0);
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
        d_x: Option<&mut [f32]>,
    ) {
        let (ni, no) = (self.n_inputs, self.n_outputs);
        let [wa, ma, wm, mm, go] = self.offsets();
        let logs = &scratch[..ni * stride];
        let kept = &scratch[ni * stride..];
        let at = |part: usize, j: usize, b: usize| kept[(part * no + j) * stride + b];
        // ∂L/∂a, ∂L/∂z (zero where min(z, 20) clips) and ∂L/∂s (zero where the clip binds) of
        // output j, row b: recomputed at each use, as backward may not allocate.
        let parts = |j: usize, b: usize| -> (f32, f32, f32) {
            let g = sigmoid(params[go + j]);
            let d = d_out[j * stride + b];
            let (z, m, s) = (at(1, j, b), at(2, j, b), at(3, j, b));
            let dz = if z <= OMEGA {
                d * (1.0 - g) * m * s.clamp(-1.0, 1.0)
            } else {
                0.0
            };
            let ds = if (-1.0..=1.0).contains(&s) {
                d * (1.0 - g) * m
            } else {
                0.0
            };
            (d * g, dz, ds)
        };
        for j in 0..no {
            // Gate: ∂y/∂G_j = (a − m s) g (1 − g), summed over the batch.
            let g = sigmoid(params[go + j]);
            let mut d_g = 0.0f32;
            for b in 0..n {
                let y_mul = at(2, j, b) * at(3, j, b).clamp(-1.0, 1.0);
                d_g += d_out[j * stride + b] * (at(0, j, b) - y_mul);
            }
            grad[go + j] = d_g * g * (1.0 - g);
            for i in 0..ni {
                let k = j * ni + i;
                let w_m = nac_weight(params[wm + k], params[mm + k]).0;
                let abs_w = w_m.abs();
                let (mut d_wa, mut d_wm) = (0.0f32, 0.0f32);
                for b in 0..n {
                    let (da, dz, ds) = parts(j, b);
                    let xb = x[i * stride + b];
                    d_wa += da * xb;
                    d_wm += dz * logs[i * stride + b];
                    if ds != 0.0 {
                        // ∂s/∂f_i = Π_{k≠i} f_k: s / f_i unless f_i is 0, then the product of
                        // the others directly (rare; s itself is then 0).
                        let sx = sign(xb);
                        let f = sx * abs_w + 1.0 - abs_w;
                        let others = if f != 0.0 {
                            at(3, j, b) / f
                        } else {
                            (0..ni)
                                .filter(|&q| q != i)
                                .map(|q| {
                                    let aq = nac_weight(
                                        params[wm + j * ni + q],
                                        params[mm + j * ni + q],
                                    )
                                    .0
                                    .abs();
                                    sign(x[q * stride + b]) * aq + 1.0 - aq
                                })
                                .product()
                        };
                        // ∂f/∂w = (sign(x) − 1) · sign(w).
                        d_wm += ds * others * (sx - 1.0) * sign(w_m);
                    }
                }
                let (_, dwa_dw, dwa_dm) = nac_weight(params[wa + k], params[ma + k]);
                grad[wa + k] = d_wa * dwa_dw;
                grad[ma + k] = d_wa * dwa_dm;
                let (_, dwm_dw, dwm_dm) = nac_weight(params[wm + k], params[mm + k]);
                grad[wm + k] = d_wm * dwm_dw;
                grad[mm + k] = d_wm * dwm_dm;
            }
        }
        if let Some(d_x) = d_x {
            d_x.fill(0.0);
            for i in 0..ni {
                for j in 0..no {
                    let k = j * ni + i;
                    let w_a = nac_weight(params[wa + k], params[ma + k]).0;
                    let w_m = nac_weight(params[wm + k], params[mm + k]).0;
                    for b in 0..n {
                        let (da, dz, _) = parts(j, b);
                        let xb = x[i * stride + b];
                        // d ln(max(|x|, 10⁻⁷))/dx = sign(x)/|x| where |x| ≥ 10⁻⁷, else 0; the
                        // sign factor has no input gradient.
                        let dlog = if xb.abs() >= LOG_FLOOR {
                            sign(xb) / xb.abs()
                        } else {
                            0.0
                        };
                        d_x[i * stride + b] += da * w_a + dz * w_m * dlog;
                    }
                }
            }
        }
    }

    /// `R = Σ_blocks mean_v max(20 − |v|, 0)` over Ŵ_a, M̂_a, Ŵ_m, M̂_m and G (see the module
    /// doc); `∂R/∂v = −sign(v)/|block|` where `|v| ≤ 20`, with TensorFlow's choice −1 at
    /// `v = 0` (the gradient of `min(−v, v)` goes to `−v` on ties).
    fn regularize(&self, params: &[f32], lambda: f32, grad: &mut [f32]) -> f64 {
        let [_, _, _, _, go] = self.offsets();
        let b = self.block();
        let mut total = 0.0f64;
        for (start, len) in [(0, b), (b, b), (2 * b, b), (3 * b, b), (go, self.n_outputs)] {
            if len == 0 {
                continue;
            }
            let mut sum = 0.0f64;
            for k in start..start + len {
                let v = params[k];
                sum += f64::from((REG_THRESHOLD - v.abs()).max(0.0));
                if v.abs() <= REG_THRESHOLD {
                    let slope = if v >= 0.0 { -1.0 } else { 1.0 };
                    grad[k] += lambda * slope / len as f32;
                }
            }
            total += sum / len as f64;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::assert_gradients_match;
    use crate::model::padded;
    use rand::SeedableRng;

    fn batch(rows: &[&[f32]]) -> (Vec<f32>, usize) {
        let n = rows.len();
        let stride = padded(n);
        let mut x = vec![0.0f32; rows[0].len() * stride];
        for (b, r) in rows.iter().enumerate() {
            for (i, &v) in r.iter().enumerate() {
                x[i * stride + b] = v;
            }
        }
        (x, stride)
    }

    fn run(layer: &Inalu, params: &[f32], rows: &[&[f32]]) -> (Vec<f32>, Vec<f32>, usize) {
        let (x, stride) = batch(rows);
        let mut scratch = vec![f32::NAN; layer.scratch_per_row() * stride];
        let mut out = vec![f32::NAN; layer.n_outputs() * stride];
        layer.forward(params, &x, rows.len(), stride, &mut scratch, &mut out);
        (out, scratch, stride)
    }

    /// Weights (Ŵ, M̂) giving W = ±1 (tanh 10 · σ(10) = 1 − 4.5e-5), or 0 (Ŵ = 0).
    const ONE: [f32; 2] = [10.0, 10.0];

    #[test]
    fn gradients_match_finite_differences_with_negative_inputs() {
        let layer = Inalu::new(3, 2);
        let n = 5;
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut x = vec![0.0f32; 3 * stride];
        for i in 0..3 {
            for b in 0..n {
                let s = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                x[i * stride + b] = s * rng.random_range(0.3f32..2.0);
            }
        }
        let params: Vec<f32> = (0..layer.n_params())
            .map(|_| rng.random_range(-1.5f32..1.5))
            .collect();
        assert_gradients_match(&layer, &params, &x, n, 2e-3);
    }

    #[test]
    fn gradients_match_where_a_sign_factor_is_exactly_zero() {
        // Ŵ_m,0 = 20, M̂_m,0 = 0: tanh 20 rounds to 1 in f32 and σ(0) = 1/2, so |W_m,0| = 0.5
        // exactly and a negative x_0 gives the factor −0.5 + 1 − 0.5 = 0: backward must take
        // the product of the other factors, not s / 0.
        let layer = Inalu::new(2, 1);
        let n = 3;
        let stride = padded(n);
        let mut x = vec![0.0f32; 2 * stride];
        for (b, (x0, x1)) in [(-1.5f32, 0.7f32), (-0.4, -1.2), (-2.0, 1.9)]
            .iter()
            .enumerate()
        {
            x[b] = *x0;
            x[stride + b] = *x1;
        }
        let p = [0.4f32, -0.3, 0.2, 0.9, 20.0, 0.8, 0.0, -0.5, 0.3];
        assert_eq!(nac_weight(p[4], p[6]).0, 0.5);
        assert_gradients_match(&layer, &p, &x, n, 2e-3);
    }

    #[test]
    fn forward_by_hand_recovers_the_sign() {
        // Both weight pairs W ≈ [1, 1], G = 0 → g = 1/2.
        // x = (2, −3): a = −1, z = ln 2 + ln 3, m = 6, s = (1)(−1) = −1: y = −0.5 − 3 = −3.5.
        let layer = Inalu::new(2, 1);
        let p = [
            ONE[0], ONE[0], ONE[1], ONE[1], ONE[0], ONE[0], ONE[1], ONE[1], 0.0,
        ];
        let (out, _, stride) = run(&layer, &p, &[&[2.0, -3.0], &[-2.0, -3.0]]);
        assert!((out[0] - (-3.5)).abs() < 2e-3, "{}", out[0]);
        // x = (−2, −3): a = −5, m = 6, s = (−1)(−1) = 1: y = −2.5 + 3 = 0.5.
        assert!((out[1] - 0.5).abs() < 2e-3, "{}", out[1]);
        assert!(out[2..stride].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn forward_by_hand_with_partial_weights_and_gate() {
        // W_a = [0.5 · 0.5, 0] (Ŵ = atanh 0.5, M̂ = 0; Ŵ = 0), W_m = [−0.25, 0] likewise,
        // G = ln 3 → g = 3/4. x = (−4, 7):
        // a = 0.25 · (−4) = −1; z = −0.25 · ln 4 → m = 4^−0.25 = 0.70711;
        // s = (−1 · 0.25 + 0.75) · (1 · 0 + 1) = 0.5; y = 0.75 · (−1) + 0.25 · 0.70711 · 0.5
        //   = −0.75 + 0.088388 = −0.661612.
        let h = 0.5f32.atanh();
        let layer = Inalu::new(2, 1);
        let p = [h, 0.0, 0.0, 0.0, -h, 0.0, 0.0, 0.0, 3f32.ln()];
        let (out, _, _) = run(&layer, &p, &[&[-4.0, 7.0]]);
        assert!((out[0] - (-0.661612)).abs() < 1e-5, "{}", out[0]);
    }

    #[test]
    fn exponent_is_clipped_at_twenty_and_passes_no_gradient_there() {
        // W_m ≈ [1, 1], x = (1e5, 1e5): z = 2 ln 1e5 = 23.03 > 20 → m = e^20; gate g = σ(−20)
        // ≈ 2e-9 so y ≈ e^20 = 4.85165e8.
        let layer = Inalu::new(2, 1);
        let p = [0.0, 0.0, 0.0, 0.0, ONE[0], ONE[0], ONE[1], ONE[1], -20.0];
        let rows: &[&[f32]] = &[&[1e5, 1e5]];
        let (out, scratch, stride) = run(&layer, &p, rows);
        assert!((out[0] / 20f32.exp() - 1.0).abs() < 1e-4, "{}", out[0]);
        let (x, _) = batch(rows);
        let mut d_out = vec![0.0; stride];
        d_out[0] = 1.0;
        let mut grad = vec![f32::NAN; layer.n_params()];
        let mut d_x = vec![f32::NAN; 2 * stride];
        layer.backward(
            &p,
            &x,
            1,
            stride,
            &scratch,
            &out,
            &d_out,
            &mut grad,
            Some(&mut d_x),
        );
        // No gradient through z: W_m only sees the sign factor, whose ∂/∂w is 0 for x > 0.
        assert!(grad[4..8].iter().all(|&g| g == 0.0), "{grad:?}");
        assert_eq!((d_x[0], d_x[stride]), (0.0, 0.0));
    }

    #[test]
    fn zero_input_is_floored_and_finite() {
        // x = (0, 5), W_m ≈ [1, 1]: ln(max(0, 1e-7)) = −16.118, m = 5e-7; s = (0 + 1 − 1)·1
        // = 0 (sign(0) = 0, |W| = 1), so y = g a = 0.5 · 0 = 0 with W_a = 0.
        let layer = Inalu::new(2, 1);
        let p = [0.0, 0.0, 0.0, 0.0, ONE[0], ONE[0], ONE[1], ONE[1], 0.0];
        let rows: &[&[f32]] = &[&[0.0, 5.0]];
        let (out, scratch, stride) = run(&layer, &p, rows);
        assert!(out[0].abs() < 1e-9, "{}", out[0]);
        let (x, _) = batch(rows);
        let mut d_out = vec![0.0; stride];
        d_out[0] = 1.0;
        let mut grad = vec![f32::NAN; layer.n_params()];
        let mut d_x = vec![f32::NAN; 2 * stride];
        layer.backward(
            &p,
            &x,
            1,
            stride,
            &scratch,
            &out,
            &d_out,
            &mut grad,
            Some(&mut d_x),
        );
        assert!(grad.iter().chain(&d_x).all(|g| g.is_finite()));
        assert_eq!(d_x[0], 0.0, "no gradient below the log floor");
    }

    #[test]
    fn init_follows_their_scripts_normals() {
        let layer = Inalu::new(50, 20);
        let mut p = vec![0.0; layer.n_params()];
        layer.init_params(&mut ChaCha8Rng::seed_from_u64(7), &mut p);
        let stats = |s: &[f32]| {
            let n = s.len() as f64;
            let mean = s.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = s
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, var.sqrt())
        };
        // 1000 draws per weight block: standard error of the mean 0.0032, of the std ≈ 0.0022.
        for (k, want) in [(0, 1.0), (1, -1.0), (2, 1.0), (3, -1.0)] {
            let (mean, std) = stats(&p[k * 1000..(k + 1) * 1000]);
            assert!((mean - want).abs() < 0.015, "block {k}: mean {mean}");
            assert!((std - 0.1).abs() < 0.012, "block {k}: std {std}");
        }
        let gate = &p[4000..];
        assert!(gate.iter().all(|g| g.abs() < 0.5), "{gate:?}");
        let mut p2 = p.clone();
        layer.redraw(&mut ChaCha8Rng::seed_from_u64(8), &mut p2);
        assert!(p2.iter().all(|v| v.abs() < 2.0));
        let max = p2.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 1.95, "U(−2, 2) reaches near its bounds: {max}");
        assert!(
            p2[4000..].iter().zip(gate).all(|(a, b)| a != b),
            "gate redrawn too"
        );
    }

    #[test]
    fn regulariser_by_hand() {
        // 1 → 1 layer: blocks Ŵ_a, M̂_a, Ŵ_m, M̂_m, G of one value each.
        // v = (0.5, −3, 25, 0, −20): max(20 − |v|, 0) = 19.5, 17, 0, 20, 0 → R = 56.5.
        let layer = Inalu::new(1, 1);
        let p = [0.5f32, -3.0, 25.0, 0.0, -20.0];
        let mut grad = [1.0f32; 5];
        let r = layer.regularize(&p, 0.5, &mut grad);
        assert!((r - 56.5).abs() < 1e-9, "{r}");
        // λ · ∂R/∂v = 0.5 · (−1, +1, 0, −1 at v = 0, +1 at |v| = 20), added to 1.
        assert_eq!(grad, [0.5, 1.5, 1.0, 0.5, 1.5]);
        // Means within blocks: 2 → 1 has two values per weight block.
        let layer = Inalu::new(2, 1);
        let p = [10.0f32, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 19.0];
        let mut grad = [0.0f32; 9];
        // Ŵ_a: (10 + 0)/2 = 5; M̂_a … M̂_m: 20 each; G: 1 → 66.
        let r = layer.regularize(&p, 1.0, &mut grad);
        assert!((r - 66.0).abs() < 1e-9, "{r}");
        assert_eq!(&grad[..3], &[-0.5, 0.0, -0.5]);
        assert_eq!(grad[8], -1.0);
    }
}
