//! The neural accumulators NAC+ and NAC• and the neural arithmetic logic unit (NALU) of Trask,
//! Trask, Lewis, Reed & Blunsom, "Neural Arithmetic Logic Units", NeurIPS 2018 (arXiv
//! 1808.00508), as implemented by `AndreasMadsen/stable-nalu` (`stable_nalu/layer/nac.py`,
//! `_abstract_nalu.py`, `functional/nac_weight.py`, `network/simple_function_static.py`), whose
//! code produced the NALU and NAC• numbers this crate compares against.
//!
//! All three share the weight `W = tanh(Ŵ) ⊙ σ(M̂)`, which lies in (−1, 1) and is pushed towards
//! −1, 0 or 1 by saturating the two nonlinearities:
//!
//! - **NAC+** ([`NacMode::Add`], `nac`): `z_j = Σ_i W_ji x_i`.
//! - **NAC•** ([`NacMode::Mul`], `nac-mul`): `z_j = exp(Σ_i W_ji ln(|x_i| + ε))`, ε = 10⁻⁷
//!   (stable-nalu's `eps` default). The sign of `x` is lost: NAC• sees only `|x|`, so it
//!   outputs `|x₁ x₂|` for `x₁ x₂`, and it is always positive.
//! - **NALU** ([`NacMode::Nalu`], `nalu`): `y = g ⊙ (W x) + (1 − g) ⊙ exp(W ln(|x| + ε))` with
//!   the input-dependent gate `g = σ(G x)`; the additive and multiplicative paths share `W`
//!   (stable-nalu's default, `nalu_two_nac = False`), the gate has no bias (`nalu_bias = False`).
//!
//! Neither unit has a projection or a regulariser in stable-nalu's default configuration (its
//! optional NAC `z` regulariser defaults to λ = 0, its gate regulariser to off), so none is
//! implemented here.
//!
//! **Initialisation** (stable-nalu, not in Trask's paper, which gives none): Ŵ and M̂ are drawn
//! i.i.d. `U[−r, r]` with `r` solving `fan · Var(W) = 2`, `fan = max(fan_in + fan_out, 5)`, where
//! `Var(W) = (1 − tanh(r)/r) · (r − tanh(r/2)) / (2r)` is their closed form for the variance of
//! `tanh(ŵ)σ(m̂)` (`nac_w_optimal_r`, solved by bisection on [0, 10]); for the small layers of
//! their tasks (fan ≤ 5) `r ≈ 9.47`. The NALU gate `G` is Glorot-uniform with the sigmoid gain 1,
//! `U[−a, a]`, `a = √(6 / (fan_in + fan_out))` (`xavier_uniform_`).
//!
//! **Where stable-nalu differs from Trask's paper:** the paper writes the NALU with an
//! unspecified initialisation and, for the two NACs of the NALU, says only that they share
//! weights; stable-nalu fixes the init above and ε = 10⁻⁷. stable-nalu's NAC• is not a layer of
//! its own: its "NAC•" model is a NAC+ layer followed by `exp ∘ NAC ∘ ln(|·| + ε)`, which is
//! exactly a [`NacMode::Mul`] layer here (same weights, same init).
//!
//! **Gradients** follow PyTorch's autograd: `d|x|/dx = sign(x)` with `sign(0) = 0`, so an exact
//! zero input passes no gradient through the logarithm. Logs and sums are `f32`, as in
//! stable-nalu; `exp` may overflow to `+∞` for large `W ln|x|` exactly as theirs does (the
//! trainer records such a run as diverged).
//!
//! ```
//! use logexp::model::{nalu::Nalu, Layer};
//! let nalu = Nalu::new(3, 2);
//! // Ŵ, M̂ and G, each 2 × 3.
//! assert_eq!(nalu.n_params(), 18);
//! let names: Vec<String> = nalu.param_blocks().into_iter().map(|b| b.name).collect();
//! assert_eq!(names, ["w_hat", "m_hat", "g"]);
//! assert_eq!(Nalu::nac_mul(3, 2).n_params(), 12);
//! ```

use super::inalu::standard_normal;
use super::layer::Layer;
use super::{ParamBlock, UnitInit};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// ε inside NAC•'s logarithm, `ln(|x| + ε)`: stable-nalu's default `eps`.
pub const EPS: f32 = 1e-7;

/// Which of the three NAC-family units a [`Nalu`] layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NacMode {
    /// NAC+: `W x`.
    Add,
    /// NAC•: `exp(W ln(|x| + ε))`.
    Mul,
    /// NALU: `g ⊙ W x + (1 − g) ⊙ exp(W ln(|x| + ε))`, `g = σ(G x)`.
    Nalu,
}

/// A layer of NAC+, NAC• or NALU units, `n_inputs → n_outputs`: blocks `w_hat` and `m_hat`
/// (and `g` for the NALU), each `[n_outputs, n_inputs]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nalu {
    n_inputs: usize,
    n_outputs: usize,
    mode: NacMode,
    init: UnitInit,
}

/// PyTorch's `sign`: 0 at 0, unlike `f32::signum`.
#[inline(always)]
pub(crate) fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The logistic function.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `(W, ∂W/∂ŵ, ∂W/∂m̂)` of the NAC weight `W = tanh(ŵ) σ(m̂)`.
#[inline(always)]
pub(crate) fn nac_weight(w_hat: f32, m_hat: f32) -> (f32, f32, f32) {
    let t = w_hat.tanh();
    let s = sigmoid(m_hat);
    (t * s, (1.0 - t * t) * s, t * s * (1.0 - s))
}

/// Variance of `tanh(ŵ) σ(m̂)` for ŵ, m̂ i.i.d. `U[−r, r]`, stable-nalu's closed form
/// (`nac_w_variance`).
fn nac_w_variance(r: f64) -> f64 {
    if r == 0.0 {
        0.0
    } else {
        (1.0 - r.tanh() / r) * (r - (r / 2.0).tanh()) / (2.0 * r)
    }
}

/// The half-width `r` of stable-nalu's NAC init `U[−r, r]`: the root of
/// `max(fan_in + fan_out, 5) · Var(r) = 2` on [0, 10], by bisection (`nac_w_optimal_r`).
pub fn nac_optimal_r(fan_in: usize, fan_out: usize) -> f64 {
    let fan = (fan_in + fan_out).max(5) as f64;
    let (mut lo, mut hi) = (0.0f64, 10.0f64);
    // f(0) = −2 < 0 and f(10) = fan · 0.405 − 2 > 0 for fan ≥ 5: the root is bracketed; 100
    // halvings take the interval below f64 resolution.
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if fan * nac_w_variance(mid) - 2.0 < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

impl Nalu {
    /// A layer of NALUs from `n_inputs` features to `n_outputs`.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Nalu {
        Nalu::with_mode(n_inputs, n_outputs, NacMode::Nalu)
    }

    /// A layer of additive NACs (NAC+).
    pub fn nac(n_inputs: usize, n_outputs: usize) -> Nalu {
        Nalu::with_mode(n_inputs, n_outputs, NacMode::Add)
    }

    /// A layer of multiplicative NACs (NAC•).
    pub fn nac_mul(n_inputs: usize, n_outputs: usize) -> Nalu {
        Nalu::with_mode(n_inputs, n_outputs, NacMode::Mul)
    }

    /// A layer of the given kind.
    pub fn with_mode(n_inputs: usize, n_outputs: usize, mode: NacMode) -> Nalu {
        Nalu {
            n_inputs,
            n_outputs,
            mode,
            init: UnitInit::Own,
        }
    }

    /// The layer with its weights drawn as `init` says.
    pub fn with_init(self, init: UnitInit) -> Nalu {
        Nalu { init, ..self }
    }

    /// Which unit the layer computes.
    pub fn mode(&self) -> NacMode {
        self.mode
    }

    fn block(&self) -> usize {
        self.n_inputs * self.n_outputs
    }

    /// Whether the layer has a multiplicative path (and so keeps `ln(|x| + ε)`).
    fn has_log(&self) -> bool {
        self.mode != NacMode::Add
    }
}

impl Layer for Nalu {
    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    fn n_params(&self) -> usize {
        match self.mode {
            NacMode::Nalu => 3 * self.block(),
            _ => 2 * self.block(),
        }
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        let shape = vec![self.n_outputs, self.n_inputs];
        let mut names = vec!["w_hat", "m_hat"];
        if self.mode == NacMode::Nalu {
            names.push("g");
        }
        names
            .into_iter()
            .enumerate()
            .map(|(k, name)| ParamBlock {
                name: name.into(),
                offset: k * self.block(),
                shape: shape.clone(),
            })
            .collect()
    }

    /// NALU's gate matrix `g`; NAC+ and NAC• have none.
    fn gates(&self) -> Vec<std::ops::Range<usize>> {
        match self.mode {
            NacMode::Nalu => {
                let gate = 2 * self.block()..3 * self.block();
                vec![gate]
            }
            _ => Vec::new(),
        }
    }

    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        let block = self.block();
        if self.init == UnitInit::Inalu {
            // iNALU's scripts: Ŵ ~ N(1, 0.1), M̂ ~ N(−1, 0.1), G ~ N(0, 0.1).
            let means = [1.0, -1.0, 0.0];
            for (k, p) in params[..self.n_params()].iter_mut().enumerate() {
                *p = (means[k / block] + 0.1 * standard_normal(rng)) as f32;
            }
            return;
        }
        let r = nac_optimal_r(self.n_inputs, self.n_outputs);
        for p in &mut params[..2 * block] {
            *p = rng.random_range(-r..r) as f32;
        }
        if self.mode == NacMode::Nalu {
            let a = (6.0 / (self.n_inputs + self.n_outputs) as f64).sqrt();
            for p in &mut params[2 * block..3 * block] {
                *p = rng.random_range(-a..a) as f32;
            }
        }
    }

    /// NAC+: none. NAC•: `ln(|x_i| + ε)` per input. NALU: those logs, then per output the sum
    /// `a = W x`, the product `m = exp(W ln(|x| + ε))` and the gate `g`.
    fn scratch_per_row(&self) -> usize {
        match self.mode {
            NacMode::Add => 0,
            NacMode::Mul => self.n_inputs,
            NacMode::Nalu => self.n_inputs + 3 * self.n_outputs,
        }
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
        let (ni, no, block) = (self.n_inputs, self.n_outputs, self.block());
        let (w_hat, rest) = params.split_at(block);
        let m_hat = &rest[..block];
        let (logs, kept) = scratch.split_at_mut(if self.has_log() { ni * stride } else { 0 });
        for i in 0..(if self.has_log() { ni } else { 0 }) {
            let li = &mut logs[i * stride..(i + 1) * stride];
            li.fill(0.0);
            for (l, &xi) in li[..n].iter_mut().zip(&x[i * stride..i * stride + n]) {
                *l = (xi.abs() + EPS).ln();
            }
        }
        for j in 0..no {
            let row = &mut out[j * stride..(j + 1) * stride];
            row.fill(0.0);
            match self.mode {
                NacMode::Add | NacMode::Mul => {
                    let src = if self.mode == NacMode::Add { x } else { &*logs };
                    for i in 0..ni {
                        let w = nac_weight(w_hat[j * ni + i], m_hat[j * ni + i]).0;
                        for (o, &v) in row[..n].iter_mut().zip(&src[i * stride..i * stride + n]) {
                            *o += w * v;
                        }
                    }
                    if self.mode == NacMode::Mul {
                        for o in &mut row[..n] {
                            *o = o.exp();
                        }
                    }
                }
                NacMode::Nalu => {
                    let gate = &params[2 * block..3 * block];
                    let (a_all, rest) = kept.split_at_mut(no * stride);
                    let (m_all, g_all) = rest.split_at_mut(no * stride);
                    let a = &mut a_all[j * stride..(j + 1) * stride];
                    let m = &mut m_all[j * stride..(j + 1) * stride];
                    let g = &mut g_all[j * stride..(j + 1) * stride];
                    a.fill(0.0);
                    m.fill(0.0);
                    g.fill(0.0);
                    for i in 0..ni {
                        let w = nac_weight(w_hat[j * ni + i], m_hat[j * ni + i]).0;
                        let gw = gate[j * ni + i];
                        let xi = &x[i * stride..i * stride + n];
                        let li = &logs[i * stride..i * stride + n];
                        for b in 0..n {
                            a[b] += w * xi[b];
                            m[b] += w * li[b];
                            g[b] += gw * xi[b];
                        }
                    }
                    for b in 0..n {
                        m[b] = m[b].exp();
                        g[b] = sigmoid(g[b]);
                        row[b] = g[b] * a[b] + (1.0 - g[b]) * m[b];
                    }
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
        out: &[f32],
        d_out: &[f32],
        grad: &mut [f32],
        d_x: Option<&mut [f32]>,
    ) {
        let (ni, no, block) = (self.n_inputs, self.n_outputs, self.block());
        let (w_hat, m_hat) = (&params[..block], &params[block..2 * block]);
        let logs = &scratch[..if self.has_log() { ni * stride } else { 0 }];
        let kept = &scratch[logs.len()..];
        // Per output and row: ∂L/∂a (through W x), ∂L/∂z (through W ln|x|, z the exponent) and
        // ∂L/∂(G x), recomputed from d_out and the kept values at each use rather than stored,
        // as backward may not allocate and `scratch` is read-only here.
        let parts = |j: usize, b: usize| -> (f32, f32, f32) {
            let d = d_out[j * stride + b];
            match self.mode {
                NacMode::Add => (d, 0.0, 0.0),
                NacMode::Mul => (0.0, d * out[j * stride + b], 0.0),
                NacMode::Nalu => {
                    let a = kept[j * stride + b];
                    let m = kept[(no + j) * stride + b];
                    let g = kept[(2 * no + j) * stride + b];
                    (d * g, d * (1.0 - g) * m, d * (a - m) * g * (1.0 - g))
                }
            }
        };
        for j in 0..no {
            for i in 0..ni {
                let k = j * ni + i;
                let xi = &x[i * stride..i * stride + n];
                let (mut d_w, mut d_g) = (0.0f32, 0.0f32);
                for b in 0..n {
                    let (da, dz, dg) = parts(j, b);
                    let l = if self.has_log() {
                        logs[i * stride + b]
                    } else {
                        0.0
                    };
                    d_w += da * xi[b] + dz * l;
                    d_g += dg * xi[b];
                }
                let (_, dw_dwhat, dw_dmhat) = nac_weight(w_hat[k], m_hat[k]);
                grad[k] = d_w * dw_dwhat;
                grad[block + k] = d_w * dw_dmhat;
                if self.mode == NacMode::Nalu {
                    grad[2 * block + k] = d_g;
                }
            }
        }
        if let Some(d_x) = d_x {
            d_x.fill(0.0);
            for i in 0..ni {
                for j in 0..no {
                    let k = j * ni + i;
                    let w = nac_weight(w_hat[k], m_hat[k]).0;
                    let gw = if self.mode == NacMode::Nalu {
                        params[2 * block + k]
                    } else {
                        0.0
                    };
                    for b in 0..n {
                        let (da, dz, dg) = parts(j, b);
                        let xb = x[i * stride + b];
                        // d ln(|x| + ε)/dx = sign(x) / (|x| + ε), 0 at x = 0 as in PyTorch.
                        let dlog = if dz != 0.0 {
                            sign(xb) / (xb.abs() + EPS)
                        } else {
                            0.0
                        };
                        d_x[i * stride + b] += w * (da + dz * dlog) + gw * dg;
                    }
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

    /// A feature-major batch from rows.
    fn batch(rows: &[&[f32]]) -> (Vec<f32>, usize) {
        let n = rows.len();
        let stride = padded(n);
        let ni = rows[0].len();
        let mut x = vec![0.0f32; ni * stride];
        for (b, r) in rows.iter().enumerate() {
            for (i, &v) in r.iter().enumerate() {
                x[i * stride + b] = v;
            }
        }
        (x, stride)
    }

    fn run(layer: &Nalu, params: &[f32], rows: &[&[f32]]) -> (Vec<f32>, usize) {
        let (x, stride) = batch(rows);
        let mut scratch = vec![f32::NAN; layer.scratch_per_row() * stride];
        let mut out = vec![f32::NAN; layer.n_outputs() * stride];
        layer.forward(params, &x, rows.len(), stride, &mut scratch, &mut out);
        (out, stride)
    }

    /// Random inputs of both signs with |x| in [0.3, 2], away from the kink of |x| at 0.
    fn signed_inputs(ni: usize, n: usize, seed: u64) -> Vec<f32> {
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = vec![0.0f32; ni * stride];
        for i in 0..ni {
            for b in 0..n {
                let s = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                x[i * stride + b] = s * rng.random_range(0.3f32..2.0);
            }
        }
        x
    }

    fn random_params(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-1.5f32..1.5)).collect()
    }

    #[test]
    fn gradients_match_finite_differences_for_every_mode() {
        for (mode, seed) in [(NacMode::Add, 1), (NacMode::Mul, 2), (NacMode::Nalu, 3)] {
            let layer = Nalu::with_mode(3, 2, mode);
            let n = 5;
            let x = signed_inputs(3, n, seed);
            let params = random_params(layer.n_params(), seed + 10);
            assert_gradients_match(&layer, &params, &x, n, 2e-3);
        }
    }

    #[test]
    fn nac_forward_by_hand() {
        // Ŵ = [atanh(0.5), 10], M̂ = [0, 10] → W ≈ [0.5 · 0.5, 1 · 1] = [0.25, 1] (tanh 10 and
        // σ(10) are 1 to 4.5e-5). z = 0.25 · 2 + 1 · (−3) = −2.5.
        let nac = Nalu::nac(2, 1);
        let params = [0.5f32.atanh(), 10.0, 0.0, 10.0];
        let (out, stride) = run(&nac, &params, &[&[2.0, -3.0]]);
        assert!((out[0] - (-2.5)).abs() < 1e-3, "{}", out[0]);
        assert!(out[1..stride].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn nac_mul_forward_by_hand_loses_the_sign() {
        // W ≈ [1, 1]: exp(ln(2 + ε) + ln(3 + ε)) = 6 for (2, 3) and for (−2, 3): |x| only.
        // W ≈ [1, −1] (second unit): 2 / 3.
        let nac = Nalu::nac_mul(2, 2);
        let params = [10.0f32, 10.0, 10.0, -10.0, 10.0, 10.0, 10.0, 10.0];
        let (out, stride) = run(&nac, &params, &[&[2.0, 3.0], &[-2.0, 3.0]]);
        assert!((out[0] - 6.0).abs() < 2e-3, "{}", out[0]);
        assert!((out[1] - 6.0).abs() < 2e-3, "{}", out[1]);
        assert!((out[stride] - 2.0 / 3.0).abs() < 1e-3, "{}", out[stride]);
        // A zero input gives ln(ε) ≈ −16.1 and a finite, near-zero product.
        let (out, _) = run(&nac, &params, &[&[0.0, 3.0]]);
        assert!(out[0].is_finite() && out[0] < 1e-5, "{}", out[0]);
    }

    #[test]
    fn nalu_forward_by_hand() {
        // W ≈ [1, 1] (Ŵ = M̂ = 10), G = [ln 3, 0] so for x = (1, 4): g = σ(ln 3) = 3/4.
        // a = 1 + 4 = 5, m = 1 · 4 = 4, y = 0.75 · 5 + 0.25 · 4 = 4.75.
        let nalu = Nalu::new(2, 1);
        let params = [10.0f32, 10.0, 10.0, 10.0, 3f32.ln(), 0.0];
        let (out, _) = run(&nalu, &params, &[&[1.0, 4.0]]);
        assert!((out[0] - 4.75).abs() < 2e-3, "{}", out[0]);
        // For x = (−1, 4): g = σ(−ln 3) = 1/4, a = 3, m = |−1| · 4 = 4: y = 0.75 + 3 = 3.75.
        let (out, _) = run(&nalu, &params, &[&[-1.0, 4.0]]);
        assert!((out[0] - 3.75).abs() < 2e-3, "{}", out[0]);
    }

    #[test]
    fn zero_input_passes_no_gradient_through_the_log() {
        let layer = Nalu::nac_mul(1, 1);
        let params = [0.3f32, 0.2];
        let (x, stride) = batch(&[&[0.0]]);
        let mut scratch = vec![0.0; stride];
        let mut out = vec![0.0; stride];
        layer.forward(&params, &x, 1, stride, &mut scratch, &mut out);
        let mut d_out = vec![0.0; stride];
        d_out[0] = 1.0;
        let (mut grad, mut d_x) = (vec![0.0; 2], vec![f32::NAN; stride]);
        layer.backward(
            &params,
            &x,
            1,
            stride,
            &scratch,
            &out,
            &d_out,
            &mut grad,
            Some(&mut d_x),
        );
        assert_eq!(d_x[0], 0.0);
        assert!(grad.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn optimal_r_solves_stable_nalus_equation() {
        // fan ≤ 5 → fan = 5: 5 · Var(r) = 2 at r ≈ 9.4714 (bisection in Python gives
        // 9.471406…); 100 + 2 → 0.50391; 4 + 4 → 3.28741.
        for (fi, fo, want) in [
            (2, 1, 9.471406),
            (2, 2, 9.471406),
            (100, 2, 0.503909),
            (4, 4, 3.287405),
        ] {
            let r = nac_optimal_r(fi, fo);
            assert!((r - want).abs() < 1e-5, "{fi}+{fo}: {r}");
            let fan = (fi + fo).max(5) as f64;
            assert!((fan * nac_w_variance(r) - 2.0).abs() < 1e-9);
        }
    }

    #[test]
    fn init_is_bounded_as_stable_nalu_draws_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let nalu = Nalu::new(100, 2);
        let mut p = vec![0.0; nalu.n_params()];
        nalu.init_params(&mut rng, &mut p);
        let max = |s: &[f32]| s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // Ŵ, M̂: U[−r, r], r = 0.50391; G: U[−a, a], a = √(6/102) = 0.24254.
        let (r, a) = (0.50391f32, 0.24254f32);
        let wm = max(&p[..400]);
        assert!(wm <= r && wm > 0.95 * r, "Ŵ, M̂ max {wm}");
        let gm = max(&p[400..]);
        assert!(gm <= a && gm > 0.9 * a, "G max {gm}");
        let nac = Nalu::nac(2, 1);
        let mut p = vec![0.0; nac.n_params()];
        nac.init_params(&mut rng, &mut p);
        assert!(max(&p) <= 9.4715, "{p:?}");
    }

    /// `init = inalu`: every block a normal draw of std 0.1 around iNALU's means (Ŵ 1, M̂ −1,
    /// G 0), for NALU and the NACs alike.
    #[test]
    fn the_inalu_init_draws_normals_around_their_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (layer, means) in [
            (
                Nalu::new(100, 20).with_init(UnitInit::Inalu),
                &[1.0, -1.0, 0.0][..],
            ),
            (
                Nalu::nac_mul(100, 20).with_init(UnitInit::Inalu),
                &[1.0, -1.0][..],
            ),
        ] {
            let mut p = vec![f32::NAN; layer.n_params()];
            layer.init_params(&mut rng, &mut p);
            for (block, mean) in p.chunks(2000).zip(means) {
                let n = block.len() as f64;
                let m = block.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = block
                    .iter()
                    .map(|&v| (f64::from(v) - m).powi(2))
                    .sum::<f64>()
                    / n;
                // 2,000 draws: the mean within 5 standard errors (0.011), the std within 10 %.
                assert!((m - mean).abs() < 0.011, "mean {m} for {mean}");
                assert!((var.sqrt() - 0.1).abs() < 0.01, "std {}", var.sqrt());
            }
        }
    }

    #[test]
    fn blocks_tile_the_parameters() {
        let layer = Nalu::new(3, 2);
        let blocks = layer.param_blocks();
        assert_eq!(blocks[2].offset, 12);
        assert_eq!(blocks.iter().map(|b| b.len()).sum::<usize>(), 18);
        assert_eq!(Nalu::nac(3, 2).param_blocks().len(), 2);
    }
}
