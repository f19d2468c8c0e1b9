//! Neural power units: the NPU and the RealNPU of Heim, Pevný & Šmídl, "Neural Power Units",
//! NeurIPS 2020 (arXiv 2006.01681; `nmheim/NeuralArithmetic.jl`, `src/npu.jl`; experiments in
//! `nmheim/NeuralPowerUnits`).
//!
//! Each input `i` has a relevance gate `g_i`, shared by every output, read clipped to [0, 1]:
//!
//! ```text
//! ĝ = clip(g, 0, 1)
//! r = ĝ ⊙ (|x| + ε) + (1 − ĝ)            ε = 2⁻²³ (Julia's eps(Float32))
//! k = ĝ ⊙ (π where x < 0, else 0)
//! NPU     : z = exp(W_re ln r − W_im k) ⊙ cos(W_im ln r + W_re k)
//! RealNPU : z = exp(W_re ln r) ⊙ cos(W_re k)
//! ```
//!
//! A gate at 0 turns its input into the constant 1, which leaves every product unchanged, so
//! irrelevant inputs can be switched off; at 1 the input enters as `|x|` with its sign carried
//! by the phase `π`.
//!
//! What we followed, checked against the code:
//! - `k` is `π·[x < 0]`, computed from `x` (`signk`: `max(−sign(x), 0)·π`); the docstring's
//!   `r < 0 ? π : 0` and the paper's text differ, the code produced the numbers. `x = 0`
//!   counts as positive.
//! - The gate is clipped in the forward pass only; nothing projects `g` after a step, so the raw
//!   parameter may leave [0, 1]. Its gradient is straight-through: `NeuralArithmetic.jl` gives
//!   `gateclip` a custom reverse rule whose pullback passes the incoming gradient unchanged
//!   (commit "Projected gradient for gates", v1.0.3). So `∂L/∂g` is `∂L/∂ĝ` evaluated at the
//!   clipped `ĝ`, also outside [0, 1]. The package version the paper's experiments pinned
//!   (v0.3.0) clipped with plain `min.(max.(g, 0), 1)`, whose automatic derivative is zero
//!   outside [0, 1]; the two agree while every gate stays inside, as it does from the 0.5
//!   start until a step carries it out. We follow the current `npu.jl`, as the brief asks.
//! - `d|x|/dx` is taken as `signum(x)`, i.e. +1 at `+0.0`, as ForwardDiff's `abs` does in Julia
//!   broadcasting; `k` is piecewise constant in `x` and contributes no input gradient.
//! - Init (`NPU(in, out)`, `RealNPU(in, out)`): `W_re` Glorot-uniform,
//!   `U[−√(6/(in+out)), √(6/(in+out))]`; `W_im` zero; `g = 0.5`. (The 100-input task's scripts
//!   build their own NPUs with `W_re = U[0, 1)/10` and `g = 1`; that is a protocol choice, not
//!   the layer's default.)
//! - Regulariser: the large arithmetic task adds `β·norm(ps, 1)` for the model's parameter
//!   collection `ps` (the simple task's scripts carry the same term with `β = 0`). Julia's `norm`
//!   of a collection of arrays is the p-norm of the arrays' own (Euclidean) norms, so the term
//!   is `β · Σ_blocks ‖A‖₂` — a sum of Frobenius norms of `W_re`, `W_im` and `g`, not the
//!   elementwise `‖θ‖₁` the paper writes. We implement the code's form; at an all-zero block
//!   (e.g. the initial `W_im`) its gradient is 0, as Zygote's smoothed norm gives there.
//!
//! ```
//! use logexp::model::{npu::RealNpu, Layer};
//! // One RealNPU from 2 inputs: z = |x₀|·|x₁|·cos(π·[x₀<0] + π·[x₁<0]) with W = 1, g = 1.
//! let npu = RealNpu::new(2, 1);
//! assert_eq!(npu.n_params(), 4);
//! let params = [1.0f32, 1.0, 1.0, 1.0];
//! let x = [2.0f32, 0., 0., 0., 0., 0., 0., 0., -3.0, 0., 0., 0., 0., 0., 0., 0.];
//! let mut scratch = vec![0.0; npu.scratch_per_row() * 8];
//! let mut out = [0.0f32; 8];
//! npu.forward(&params, &x, 1, 8, &mut scratch, &mut out);
//! assert!((out[0] + 6.0).abs() < 1e-4);
//! ```

use super::layer::Layer;
use super::{LANES, ParamBlock};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::PI;

/// The guard added to `|x|` before its logarithm: Julia's `eps(Float32)`, 2⁻²³, as
/// `NeuralArithmetic.jl` uses for `Float32` inputs.
pub const EPS: f32 = f32::EPSILON;

/// A layer of complex-weighted neural power units (NPU): `weight_re` and `weight_im`
/// (`n_outputs × n_inputs`) and one relevance `gate` per input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npu {
    n_inputs: usize,
    n_outputs: usize,
}

/// A layer of real neural power units (RealNPU): the NPU without imaginary weights,
/// `weight_re` (`n_outputs × n_inputs`) and one relevance `gate` per input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealNpu {
    n_inputs: usize,
    n_outputs: usize,
}

impl Npu {
    /// A layer from `n_inputs` features to `n_outputs` power products.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Npu {
        Npu {
            n_inputs,
            n_outputs,
        }
    }
}

impl RealNpu {
    /// A layer from `n_inputs` features to `n_outputs` power products.
    pub fn new(n_inputs: usize, n_outputs: usize) -> RealNpu {
        RealNpu {
            n_inputs,
            n_outputs,
        }
    }
}

/// The parameter slices of either kind: `im` is `None` for the RealNPU, which then computes
/// exactly the NPU's formulas with `W_im = 0`.
struct Parts<'p> {
    re: &'p [f32],
    im: Option<&'p [f32]>,
    gate: &'p [f32],
}

/// Shapes shared by both kinds.
#[derive(Clone, Copy)]
struct Dims {
    ni: usize,
    no: usize,
}

/// Gate read in the forward pass.
#[inline(always)]
fn clip(g: f32) -> f32 {
    g.clamp(0.0, 1.0)
}

/// The sign phase before gating: π for a negative input, 0 otherwise (`max(−sign(x), 0)·π`).
#[inline(always)]
fn phase(x: f32) -> f32 {
    if x < 0.0 { PI } else { 0.0 }
}

/// Block layout `[weight_re, (weight_im), gate]`.
fn blocks(d: Dims, complex: bool) -> Vec<ParamBlock> {
    let w = d.ni * d.no;
    let mut out = vec![ParamBlock {
        name: "weight_re".into(),
        offset: 0,
        shape: vec![d.no, d.ni],
    }];
    if complex {
        out.push(ParamBlock {
            name: "weight_im".into(),
            offset: w,
            shape: vec![d.no, d.ni],
        });
    }
    out.push(ParamBlock {
        name: "gate".into(),
        offset: if complex { 2 * w } else { w },
        shape: vec![d.ni],
    });
    out
}

/// The index ranges of [`blocks`], in the same order, without building the blocks (their names
/// allocate, and the regulariser runs every training step).
fn block_ranges(d: Dims, complex: bool) -> impl Iterator<Item = std::ops::Range<usize>> {
    let w = d.ni * d.no;
    let (im, gate) = if complex {
        (Some(w..2 * w), 2 * w..2 * w + d.ni)
    } else {
        (None, w..w + d.ni)
    };
    std::iter::once(0..w).chain(im).chain(std::iter::once(gate))
}

fn split(params: &[f32], d: Dims, complex: bool) -> Parts<'_> {
    let w = d.ni * d.no;
    if complex {
        Parts {
            re: &params[..w],
            im: Some(&params[w..2 * w]),
            gate: &params[2 * w..2 * w + d.ni],
        }
    } else {
        Parts {
            re: &params[..w],
            im: None,
            gate: &params[w..w + d.ni],
        }
    }
}

/// Glorot-uniform `W_re`, zero `W_im`, gates at one half (`NPU(in, out)` in `npu.jl`).
fn init(d: Dims, complex: bool, rng: &mut ChaCha8Rng, params: &mut [f32]) {
    let w = d.ni * d.no;
    let bound = (6.0 / (d.ni + d.no) as f64).sqrt();
    for p in &mut params[..w] {
        *p = rng.random_range(-bound..bound) as f32;
    }
    let gate_at = if complex {
        params[w..2 * w].fill(0.0);
        2 * w
    } else {
        w
    };
    params[gate_at..gate_at + d.ni].fill(0.5);
}

/// Scratch per row: `ln r_i` for every input, then `exp(e_j)·sin(c_j)` for every output.
fn scratch_rows(d: Dims) -> usize {
    d.ni + d.no
}

/// `z_j = exp(e_j)·cos(c_j)` with `e = W_re ln r − W_im k`, `c = W_im ln r + W_re k`.
#[allow(clippy::too_many_arguments)]
fn forward(
    p: &Parts,
    d: Dims,
    x: &[f32],
    n: usize,
    stride: usize,
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let (logs, sines) = scratch.split_at_mut(d.ni * stride);
    for i in 0..d.ni {
        let g = clip(p.gate[i]);
        let xi = &x[i * stride..i * stride + n];
        for (l, &xv) in logs[i * stride..i * stride + n].iter_mut().zip(xi) {
            *l = (g * (xv.abs() + EPS) + (1.0 - g)).ln();
        }
    }
    for j in 0..d.no {
        // Accumulate e in the output row and c in the sine row, then turn them into z and s.
        let e = &mut out[j * stride..(j + 1) * stride];
        let c = &mut sines[j * stride..(j + 1) * stride];
        e.fill(0.0);
        c.fill(0.0);
        for i in 0..d.ni {
            let re = p.re[j * d.ni + i];
            let im = p.im.map_or(0.0, |w| w[j * d.ni + i]);
            let g = clip(p.gate[i]);
            let li = &logs[i * stride..i * stride + n];
            let xi = &x[i * stride..i * stride + n];
            for b in 0..n {
                let k = g * phase(xi[b]);
                e[b] += re * li[b] - im * k;
                c[b] += im * li[b] + re * k;
            }
        }
        for b in 0..n {
            let m = e[b].exp();
            // On positive inputs the phase is exactly ±0 for every row (k = 0, and W_im gets
            // no gradient there, so it stays at its initial 0): skip the two libm calls.
            // sin(±0) = ±0 and cos(±0) = 1 exactly, so the bits are those of `sin_cos`.
            let (s, co) = if c[b] == 0.0 {
                (c[b], 1.0)
            } else {
                c[b].sin_cos()
            };
            e[b] = m * co;
            c[b] = m * s;
        }
    }
}

/// Chain rule through the forward above; see the module doc for the gate's straight-through
/// rule and the derivative of `|x|`.
#[allow(clippy::too_many_arguments)]
fn backward(
    p: &Parts,
    d: Dims,
    x: &[f32],
    n: usize,
    stride: usize,
    scratch: &[f32],
    out: &[f32],
    d_out: &[f32],
    grad: &mut [f32],
    mut d_x: Option<&mut [f32]>,
) {
    let w = d.ni * d.no;
    let (logs, sines) = scratch.split_at(d.ni * stride);
    let complex = p.im.is_some();
    let (g_re, rest) = grad.split_at_mut(w);
    let (g_im, g_gate) = if complex {
        rest.split_at_mut(w)
    } else {
        rest.split_at_mut(0)
    };
    // With u = δ·z and v = δ·s (s = exp(e)·sin(c)): ∂z/∂e = z, ∂z/∂c = −s, so
    // ∂L/∂W_re = Σ_b u ln r − v k, ∂L/∂W_im = Σ_b −u k − v ln r.
    for j in 0..d.no {
        let z = &out[j * stride..j * stride + n];
        let s = &sines[j * stride..j * stride + n];
        let dz = &d_out[j * stride..j * stride + n];
        for i in 0..d.ni {
            let g = clip(p.gate[i]);
            let li = &logs[i * stride..i * stride + n];
            let xi = &x[i * stride..i * stride + n];
            let (mut a_re, mut a_im) = (0.0f32, 0.0f32);
            for b in 0..n {
                let (u, v) = (dz[b] * z[b], dz[b] * s[b]);
                let k = g * phase(xi[b]);
                a_re += u * li[b] - v * k;
                a_im += -u * k - v * li[b];
            }
            g_re[j * d.ni + i] = a_re;
            if complex {
                g_im[j * d.ni + i] = a_im;
            }
        }
    }
    // Per input and row: A = ∂L/∂ln r = Σ_j u W_re − v W_im and B = ∂L/∂k = Σ_j −u W_im − v W_re;
    // then ∂r/∂ĝ = |x| + ε − 1, ∂k/∂ĝ = π·[x < 0], ∂r/∂x = ĝ·sign(x).
    for i in 0..d.ni {
        let g = clip(p.gate[i]);
        let xi = &x[i * stride..i * stride + n];
        let li = &logs[i * stride..i * stride + n];
        let mut d_gate = 0.0f32;
        // Rows in blocks of LANES: the sums over outputs run over contiguous lanes of each
        // output row (the row-by-row loop strode across the rows and did not vectorise). Each
        // row's sums keep their order (outputs ascending), and so does d_gate (rows
        // ascending), so the bits are the row-by-row loop's.
        for c in (0..n).step_by(LANES) {
            let len = LANES.min(n - c);
            let (mut a, mut bk) = ([0.0f32; LANES], [0.0f32; LANES]);
            for j in 0..d.no {
                let re = p.re[j * d.ni + i];
                let im = p.im.map_or(0.0, |w| w[j * d.ni + i]);
                let at = j * stride + c;
                let (dz, z, s) = (
                    &d_out[at..at + len],
                    &out[at..at + len],
                    &sines[at..at + len],
                );
                for l in 0..len {
                    let (u, v) = (dz[l] * z[l], dz[l] * s[l]);
                    a[l] += u * re - v * im;
                    bk[l] += -u * im - v * re;
                }
            }
            for l in 0..len {
                let b = c + l;
                // r = exp(ln r) is recomputed from the kept log rather than stored.
                let inv_r = (-li[b]).exp();
                d_gate += a[l] * (xi[b].abs() + EPS - 1.0) * inv_r + bk[l] * phase(xi[b]);
                if let Some(dx) = d_x.as_deref_mut() {
                    dx[i * stride + b] = a[l] * g * xi[b].signum() * inv_r;
                }
            }
        }
        g_gate[i] = d_gate;
        if let Some(dx) = d_x.as_deref_mut() {
            dx[i * stride + n..(i + 1) * stride].fill(0.0);
        }
    }
}

/// `Σ_blocks ‖A‖₂` over `W_re`, `W_im` and `g` (Julia's `norm(ps, 1)` of the experiments),
/// adding `λ·A/‖A‖₂`, nothing for an all-zero block.
fn regularize(params: &[f32], d: Dims, complex: bool, lambda: f32, grad: &mut [f32]) -> f64 {
    let mut total = 0.0f64;
    for range in block_ranges(d, complex) {
        let norm = params[range.clone()]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        total += norm;
        if norm > 0.0 {
            let scale = f64::from(lambda) / norm;
            for (g, &v) in grad[range.clone()].iter_mut().zip(&params[range]) {
                *g += (scale * f64::from(v)) as f32;
            }
        }
    }
    total
}

macro_rules! npu_layer {
    ($ty:ty, $complex:expr) => {
        impl $ty {
            fn dims(&self) -> Dims {
                Dims {
                    ni: self.n_inputs,
                    no: self.n_outputs,
                }
            }
        }

        impl Layer for $ty {
            fn n_inputs(&self) -> usize {
                self.n_inputs
            }

            fn n_outputs(&self) -> usize {
                self.n_outputs
            }

            fn n_params(&self) -> usize {
                let w = self.n_inputs * self.n_outputs;
                let weights = if $complex { 2 * w } else { w };
                weights + self.n_inputs
            }

            fn param_blocks(&self) -> Vec<ParamBlock> {
                blocks(self.dims(), $complex)
            }

            /// The relevance gate `g`, after the weights.
            fn gates(&self) -> Vec<std::ops::Range<usize>> {
                let n = self.n_params();
                let gate = n - self.n_inputs..n;
                vec![gate]
            }

            fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
                init(self.dims(), $complex, rng, params)
            }

            fn scratch_per_row(&self) -> usize {
                scratch_rows(self.dims())
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
                let d = self.dims();
                forward(&split(params, d, $complex), d, x, n, stride, scratch, out)
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
                let d = self.dims();
                backward(
                    &split(params, d, $complex),
                    d,
                    x,
                    n,
                    stride,
                    scratch,
                    out,
                    d_out,
                    grad,
                    d_x,
                )
            }

            fn regularize(&self, params: &[f32], lambda: f32, grad: &mut [f32]) -> f64 {
                regularize(params, self.dims(), $complex, lambda, grad)
            }
        }
    };
}

npu_layer!(Npu, true);
npu_layer!(RealNpu, false);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::assert_gradients_match;
    use crate::model::padded;
    use rand::SeedableRng;

    /// Feature-major batch from rows, padding lanes zero.
    fn batch(rows: &[&[f32]]) -> Vec<f32> {
        let (n, ni) = (rows.len(), rows[0].len());
        let stride = padded(n);
        let mut x = vec![0.0f32; ni * stride];
        for (b, r) in rows.iter().enumerate() {
            for (i, &v) in r.iter().enumerate() {
                x[i * stride + b] = v;
            }
        }
        x
    }

    fn run(layer: &dyn Layer, params: &[f32], x: &[f32], n: usize) -> Vec<f32> {
        let stride = padded(n);
        let mut scratch = vec![0.0f32; layer.scratch_per_row() * stride];
        let mut out = vec![f32::NAN; layer.n_outputs() * stride];
        layer.forward(params, x, n, stride, &mut scratch, &mut out);
        out
    }

    /// Random batch of n rows with both signs, |x| in [0.3, 2.5] (away from the kink of |x|).
    fn signed_batch(ni: usize, n: usize, seed: u64) -> Vec<f32> {
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = vec![0.0f32; ni * stride];
        for i in 0..ni {
            for b in 0..n {
                let sign = if (i + b) % 3 == 0 { -1.0 } else { 1.0 };
                x[i * stride + b] = sign * rng.random_range(0.3f32..2.5);
            }
        }
        x
    }

    #[test]
    fn npu_gradients_match_finite_differences() {
        let npu = Npu::new(3, 2);
        let n = 5;
        let x = signed_batch(3, n, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut params = vec![0.0f32; npu.n_params()];
        for p in &mut params[..6] {
            *p = rng.random_range(-1.0..1.0);
        }
        for p in &mut params[6..12] {
            *p = rng.random_range(-0.5..0.5);
        }
        // Gates strictly inside (0, 1): the clip's kinks are out of the finite differences'
        // reach.
        params[12..].copy_from_slice(&[0.2, 0.55, 0.85]);
        assert_gradients_match(&npu, &params, &x, n, 2e-3);
    }

    #[test]
    fn real_npu_gradients_match_finite_differences() {
        let npu = RealNpu::new(4, 3);
        let n = 7;
        let x = signed_batch(4, n, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut params = vec![0.0f32; npu.n_params()];
        for p in &mut params[..12] {
            *p = rng.random_range(-1.0..1.0);
        }
        params[12..].copy_from_slice(&[0.15, 0.5, 0.7, 0.9]);
        assert_gradients_match(&npu, &params, &x, n, 2e-3);
    }

    /// The NPU formulas in f64 with the gate used as given (no clip): the reference for the
    /// straight-through gradient.
    fn npu_f64(re: &[f64], im: &[f64], g: &[f64], x: &[f64]) -> f64 {
        let (mut e, mut c) = (0.0, 0.0);
        for i in 0..x.len() {
            let r = g[i] * (x[i].abs() + f64::from(EPS)) + (1.0 - g[i]);
            let k = g[i]
                * if x[i] < 0.0 {
                    std::f64::consts::PI
                } else {
                    0.0
                };
            e += re[i] * r.ln() - im[i] * k;
            c += im[i] * r.ln() + re[i] * k;
        }
        e.exp() * c.cos()
    }

    #[test]
    fn a_clipped_gate_gets_the_unclipped_formulas_gradient() {
        // Gates 1.3 and −0.2 read as 1 and 0; the straight-through gradient is ∂z/∂ĝ of the
        // unclipped formula at ĝ = 1 and ĝ = 0, not the zero slope of the clip.
        let npu = Npu::new(2, 1);
        let (re, im) = ([0.8f32, -0.6], [0.3f32, 0.4]);
        let params = [re[0], re[1], im[0], im[1], 1.3, -0.2];
        let rows: [[f32; 2]; 2] = [[1.7, -0.9], [-2.2, 1.4]];
        let x = batch(&[&rows[0], &rows[1]]);
        let n = rows.len();
        let stride = padded(n);
        let mut scratch = vec![0.0f32; npu.scratch_per_row() * stride];
        let mut out = vec![0.0f32; stride];
        npu.forward(&params, &x, n, stride, &mut scratch, &mut out);
        let mut d_out = vec![0.0f32; stride];
        d_out[0] = 1.0;
        d_out[1] = -0.5;
        let mut grad = vec![f32::NAN; 6];
        npu.backward(
            &params, &x, n, stride, &scratch, &out, &d_out, &mut grad, None,
        );
        let re64 = [f64::from(re[0]), f64::from(re[1])];
        let im64 = [f64::from(im[0]), f64::from(im[1])];
        let loss = |g: [f64; 2]| -> f64 {
            rows.iter()
                .zip([1.0, -0.5])
                .map(|(r, w)| w * npu_f64(&re64, &im64, &g, &[r[0].into(), r[1].into()]))
                .sum()
        };
        let h = 1e-6;
        let want = [
            (loss([1.0 + h, 0.0]) - loss([1.0 - h, 0.0])) / (2.0 * h),
            (loss([1.0, h]) - loss([1.0, -h])) / (2.0 * h),
        ];
        for i in 0..2 {
            assert!(want[i].abs() > 0.05, "gate {i} must have a slope to check");
            let got = f64::from(grad[4 + i]);
            assert!(
                (got - want[i]).abs() < 1e-4 * (1.0 + want[i].abs()),
                "gate {i}: backward {got}, unclipped formula {}",
                want[i]
            );
        }
        // The same params with the gates at 1 and 0 exactly give the same gradient.
        let mut at_edge = params;
        at_edge[4..].copy_from_slice(&[1.0, 0.0]);
        let mut grad_edge = vec![f32::NAN; 6];
        npu.forward(&at_edge, &x, n, stride, &mut scratch, &mut out);
        npu.backward(
            &at_edge,
            &x,
            n,
            stride,
            &scratch,
            &out,
            &d_out,
            &mut grad_edge,
            None,
        );
        assert_eq!(grad, grad_edge);
    }

    #[test]
    fn npu_forward_matches_hand_computation() {
        // W_re = [1, 1], W_im = [0.5, 0], gates 1 (so r = |x| + ε, k = π·[x<0]).
        let npu = Npu::new(2, 1);
        let params = [1.0f32, 1.0, 0.5, 0.0, 1.0, 1.0];
        // Row 0, x = (2, −1): ln r = (ln 2, 0), k = (0, π);
        //   e = ln 2 − (0.5·0 + 0·π) = ln 2, c = (0.5·ln 2 + 0) + (0 + π) = π + 0.5 ln 2,
        //   z = 2·cos(π + 0.5 ln 2) = −2·cos(0.34657) = −1.88108.
        // Row 1, x = (4, 1): e = ln 4, c = 0.5 ln 4 = ln 2, z = 4·cos(ln 2) = 3.07696.
        // Row 2, x = (0.5, −2), gates as above: e = ln 0.5 + ln 2 = 0, c = 0.5·ln 0.5 + π,
        //   z = −cos(0.5 ln 0.5) = −cos(−0.34657) = −0.94054.
        let x = batch(&[&[2.0, -1.0], &[4.0, 1.0], &[0.5, -2.0]]);
        let out = run(&npu, &params, &x, 3);
        let want = [-1.88108f32, 3.07696, -0.94054];
        for b in 0..3 {
            assert!(
                (out[b] - want[b]).abs() < 2e-5 * (1.0 + want[b].abs()),
                "row {b}: {} vs {}",
                out[b],
                want[b]
            );
        }
        assert!(out[3..8].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn real_npu_forward_matches_hand_computation() {
        // Output 0: W = [0.5, 2]; output 1: W = [1, 1]; gates [0.5, 1].
        let npu = RealNpu::new(2, 2);
        let params = [0.5f32, 2.0, 1.0, 1.0, 0.5, 1.0];
        // Row 0, x = (4, −1): r = (0.5·4 + 0.5, 1) = (2.5, 1), k = (0, π) (x₀ > 0);
        //   out0 = exp(0.5 ln 2.5 + 2·0)·cos(0 + 2π) = √2.5 = 1.58114,
        //   out1 = exp(ln 2.5)·cos(π) = −2.5.
        // Row 1, x = (−3, 2): r = (0.5·3 + 0.5, 2) = (2, 2), k = (0.5π, 0);
        //   out0 = exp(0.5 ln 2 + 2 ln 2)·cos(0.5·0.5π) = 2^2.5·cos(π/4) = 5.65685·0.70711 = 4,
        //   out1 = exp(2 ln 2)·cos(0.5π) = 4·0 = 0.
        let x = batch(&[&[4.0, -1.0], &[-3.0, 2.0]]);
        let out = run(&npu, &params, &x, 2);
        let stride = 8;
        let want = [[1.58114f32, 4.0], [-2.5, 0.0]];
        for j in 0..2 {
            for b in 0..2 {
                let got = out[j * stride + b];
                assert!(
                    (got - want[j][b]).abs() < 3e-5 * (1.0 + want[j][b].abs()),
                    "output {j} row {b}: {got} vs {}",
                    want[j][b]
                );
            }
            assert!(
                out[j * stride + 2..(j + 1) * stride]
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
    }

    #[test]
    fn a_zero_input_is_guarded_by_julias_eps_and_stays_finite() {
        // Gate 1, x = 0: r = ε = 2⁻²³, so z = exp(0.5·ln 2⁻²³) = 2^−11.5 = 3.4527e−4.
        let npu = RealNpu::new(1, 1);
        let params = [0.5f32, 1.0];
        let x = batch(&[&[0.0]]);
        let out = run(&npu, &params, &x, 1);
        assert!((out[0] - 3.4527e-4).abs() < 1e-8, "{}", out[0]);
        // A negative weight divides by ε: large but finite, and so are the gradients.
        let params = [-1.0f32, 1.0];
        let stride = 8;
        let mut scratch = vec![0.0f32; npu.scratch_per_row() * stride];
        let mut out = vec![0.0f32; stride];
        npu.forward(&params, &x, 1, stride, &mut scratch, &mut out);
        assert!((out[0] / 8_388_608.0 - 1.0).abs() < 1e-5, "{}", out[0]);
        let mut d_out = vec![0.0f32; stride];
        d_out[0] = 1.0;
        let (mut grad, mut d_x) = (vec![f32::NAN; 2], vec![f32::NAN; stride]);
        npu.backward(
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
        assert!(
            grad.iter().chain(&d_x).all(|v| v.is_finite()),
            "{grad:?} {d_x:?}"
        );
    }

    #[test]
    fn a_closed_gate_turns_its_input_into_one() {
        // Gate 0 on input 1: r₁ = 1, k₁ = 0 whatever x₁, so z = |x₀|^W₀ for x₀ > 0.
        let npu = Npu::new(2, 1);
        let params = [2.0f32, 3.0, 0.0, 0.7, 1.0, 0.0];
        let x = batch(&[&[3.0, -5.0], &[3.0, 100.0]]);
        let out = run(&npu, &params, &x, 2);
        assert!(
            (out[0] - 9.0).abs() < 1e-4 && (out[1] - 9.0).abs() < 1e-4,
            "{out:?}"
        );
    }

    #[test]
    fn init_is_glorot_uniform_with_zero_imaginary_weights_and_half_gates() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // 30 → 20: √(6/50) = 0.34641.
        let npu = Npu::new(30, 20);
        let mut p = vec![f32::NAN; npu.n_params()];
        npu.init_params(&mut rng, &mut p);
        let (re, rest) = p.split_at(600);
        let (im, gate) = rest.split_at(600);
        let bound = 0.34641f32;
        let max = re.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max <= bound && max > 0.95 * bound, "max {max}");
        let mean = re.iter().sum::<f32>() / 600.0;
        let var = re.iter().map(|v| v * v).sum::<f32>() / 600.0;
        // U[−a, a]: mean 0, variance a²/3 = 0.04.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 0.04).abs() < 0.006, "variance {var}");
        assert!(im.iter().all(|&v| v == 0.0));
        assert!(gate.iter().all(|&v| v == 0.5));

        let real = RealNpu::new(2, 6);
        let mut p = vec![f32::NAN; real.n_params()];
        real.init_params(&mut rng, &mut p);
        // 2 → 6: √(6/8) = 0.86603.
        assert!(p[..12].iter().all(|v| v.abs() <= 0.86603), "{p:?}");
        assert_eq!(&p[12..], &[0.5, 0.5]);
    }

    #[test]
    fn blocks_name_and_tile_the_parameters() {
        let names = |l: &dyn Layer| -> Vec<(String, usize, Vec<usize>)> {
            l.param_blocks()
                .into_iter()
                .map(|b| (b.name, b.offset, b.shape))
                .collect()
        };
        assert_eq!(
            names(&Npu::new(3, 2)),
            [
                ("weight_re".into(), 0, vec![2, 3]),
                ("weight_im".into(), 6, vec![2, 3]),
                ("gate".into(), 12, vec![3]),
            ]
        );
        assert_eq!(Npu::new(3, 2).n_params(), 15);
        assert_eq!(
            names(&RealNpu::new(3, 2)),
            [
                ("weight_re".into(), 0, vec![2, 3]),
                ("gate".into(), 6, vec![3]),
            ]
        );
        assert_eq!(RealNpu::new(3, 2).n_params(), 9);
        // The regulariser's allocation-free ranges are the blocks'.
        for complex in [true, false] {
            let d = Dims { ni: 3, no: 2 };
            let ranges: Vec<_> = block_ranges(d, complex).collect();
            let from_blocks: Vec<_> = blocks(d, complex)
                .iter()
                .map(|b| b.offset..b.offset + b.len())
                .collect();
            assert_eq!(ranges, from_blocks);
        }
    }

    #[test]
    fn regulariser_sums_the_blocks_euclidean_norms() {
        // W_re = [3, 4] (‖·‖ = 5), W_im = [0, 0] (0, no gradient), g = [0.6, 0.8] (1): R = 6.
        let npu = Npu::new(2, 1);
        let params = [3.0f32, 4.0, 0.0, 0.0, 0.6, 0.8];
        let mut grad = [1.0f32; 6];
        let r = npu.regularize(&params, 2.0, &mut grad);
        assert!((r - 6.0).abs() < 1e-6, "{r}");
        // += λ·A/‖A‖: 2·(0.6, 0.8) for W_re, 2·(0.6, 0.8) for g, nothing for W_im.
        let want = [2.2f32, 2.6, 1.0, 1.0, 2.2, 2.6];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{grad:?}");
        }
        // RealNPU 1 → 2: ‖W = [−1, 0]‖ + ‖g = [0.5]‖ = 1.5.
        let mut grad = [0.0f32; 3];
        let r = RealNpu::new(1, 2).regularize(&[-1.0, 0.0, 0.5], 1.0, &mut grad);
        assert!((r - 1.5).abs() < 1e-9, "{r}");
        assert_eq!(grad, [-1.0, 0.0, 1.0]);
    }

    #[test]
    fn nothing_is_projected() {
        // The peer clips the gate when reading it, never the stored parameter.
        let npu = Npu::new(1, 1);
        let mut p = [2.0f32, -3.0, 1.7];
        npu.project(&mut p);
        assert_eq!(p, [2.0, -3.0, 1.7]);
    }
}
