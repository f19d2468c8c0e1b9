//! The [`Layer`] trait: one layer of arithmetic units (NAU, NMU, NAC, NALU, iNALU, NPU, product
//! units), which [`super::stack::Stack`] chains into a [`super::Network`].
//!
//! A layer maps `n_inputs` features to `n_outputs` features of a feature-major batch: feature
//! `i` of row `b` lives at `i * stride + b`, with `stride = padded(n)` (see [`super::padded`]).
//! Rows `n..stride` are padding: a layer writes zeros there in its output and never reads them
//! from `d_out`.

use super::ParamBlock;
use rand_chacha::ChaCha8Rng;

/// One layer of units with its parameters in a slice of the model's flat buffer.
///
/// Implementations are small and exact: every `forward`/`backward` pair is checked against
/// finite differences (`assert_gradients_match` in the tests). Layers are object safe, so a
/// [`super::stack::Stack`] holds them as `Box<dyn Layer>`: the peers' networks are a few dozen
/// parameters wide, and one virtual call per layer and batch costs nothing beside the loops.
pub trait Layer: std::fmt::Debug + Send + Sync {
    /// Features in.
    fn n_inputs(&self) -> usize;
    /// Features out.
    fn n_outputs(&self) -> usize;
    /// Parameters of this layer (its slice of the model's flat buffer).
    fn n_params(&self) -> usize;
    /// Named blocks of the layer's slice, offsets relative to its start, in buffer order and
    /// covering it exactly; names without a layer prefix (`weight`, `gate`, …).
    fn param_blocks(&self) -> Vec<ParamBlock>;
    /// The ranges of the layer's slice (relative to its start, in buffer order) that are
    /// gates rather than weights: what an alternating schedule ([`crate::train::Alternate`])
    /// updates on its gate batches. None by default.
    fn gates(&self) -> Vec<std::ops::Range<usize>> {
        Vec::new()
    }
    /// Writes the layer's initial parameters, drawn from `rng`.
    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]);
    /// `f32` values per batch row that `forward` keeps for `backward` (logs, products, gates).
    fn scratch_per_row(&self) -> usize {
        0
    }
    /// Computes the `n_outputs × stride` outputs of the `n` rows of `x` (`n_inputs × stride`)
    /// into `out`, zeros in its padding lanes; may keep intermediate values in `scratch`
    /// (`scratch_per_row() × stride` long).
    fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        scratch: &mut [f32],
        out: &mut [f32],
    );
    /// Given the batch's `x`, the `out` and `scratch` of the matching `forward`, and `d_out`
    /// (loss gradient per output, zero in padding lanes): overwrites `grad` (this layer's slice)
    /// with the parameter gradient and, when asked, `d_x` (`n_inputs × stride`) with the input
    /// gradient, zeros in its padding lanes.
    #[allow(clippy::too_many_arguments)]
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
    );
    /// Parameters drawn afresh when training restarts on a plateau (iNALU redraws from
    /// U(−2, 2)); the initialisation by default.
    fn reinit(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        self.init_params(rng, params);
    }
    /// Projection after every optimiser step, e.g. NAU and NMU clamp their weights into their
    /// valid range. Nothing by default.
    fn project(&self, _params: &mut [f32]) {}
    /// stable-nalu's sparsity error of the layer's weights, `max min(|W|, |1 − |W||)`: 0 when
    /// every weight is exactly −1, 0 or 1 (a discrete, readable solution). `None` for layers
    /// without that notion.
    fn sparsity_error(&self, _params: &[f32]) -> Option<f64> {
        None
    }
    /// The layer's sparsity regulariser `R(params)`, adding `lambda · ∂R/∂params` to `grad`.
    /// Layers without one return 0 and leave `grad` alone.
    fn regularize(&self, _params: &[f32], _lambda: f32, _grad: &mut [f32]) -> f64 {
        0.0
    }
}

/// The weighted sums of a linear layer (NAU, `linear`): `out[j] = bias(j) + Σᵢ weight(j, i)·xᵢ`
/// for the `n` rows of a feature-major batch, padding lanes zero. Inputs are added in order,
/// so the sums are the same bits whichever layer calls it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weighted_sums(
    n_inputs: usize,
    n_outputs: usize,
    weight: impl Fn(usize, usize) -> f32,
    bias: impl Fn(usize) -> f32,
    x: &[f32],
    n: usize,
    stride: usize,
    out: &mut [f32],
) {
    for j in 0..n_outputs {
        let row = &mut out[j * stride..(j + 1) * stride];
        row[..n].fill(bias(j));
        row[n..].fill(0.0);
        for i in 0..n_inputs {
            let w = weight(j, i);
            for (o, &xi) in row[..n].iter_mut().zip(&x[i * stride..i * stride + n]) {
                *o += w * xi;
            }
        }
    }
}

/// The gradients of [`weighted_sums`]: `grad_w[j·n_inputs + i] = Σ_b d_out[j, b]·x[i, b]` and,
/// when asked, `d_x[i, b] = Σⱼ weight(j, i)·d_out[j, b]` (padding lanes zero).
#[allow(clippy::too_many_arguments)]
pub(crate) fn weighted_sums_backward(
    n_inputs: usize,
    n_outputs: usize,
    weight: impl Fn(usize, usize) -> f32,
    x: &[f32],
    n: usize,
    stride: usize,
    d_out: &[f32],
    grad_w: &mut [f32],
    d_x: Option<&mut [f32]>,
) {
    for j in 0..n_outputs {
        let d = &d_out[j * stride..j * stride + n];
        for i in 0..n_inputs {
            let xi = &x[i * stride..i * stride + n];
            grad_w[j * n_inputs + i] = d.iter().zip(xi).map(|(&d, &x)| d * x).sum();
        }
    }
    if let Some(d_x) = d_x {
        d_x.fill(0.0);
        for i in 0..n_inputs {
            let dx = &mut d_x[i * stride..i * stride + n];
            for j in 0..n_outputs {
                let w = weight(j, i);
                for (g, &d) in dx.iter_mut().zip(&d_out[j * stride..j * stride + n]) {
                    *g += w * d;
                }
            }
        }
    }
}

/// Checks a layer's `backward` against central finite differences of its `forward`, for the
/// loss `Σ c[j,b] · out[j,b]` with fixed random weights `c`: parameter and input gradients, on
/// `n` rows of `x` (feature-major, stride `padded(n)`). Panics with the first mismatch.
///
/// The forward pass runs in `f32`, so the difference quotient is computed in `f64` from `f32`
/// outputs with a step relative to each value; `tolerance` bounds
/// `|analytic − numeric| / (1 + |numeric|)`.
#[cfg(test)]
pub(crate) fn assert_gradients_match(
    layer: &dyn Layer,
    params: &[f32],
    x: &[f32],
    n: usize,
    tolerance: f64,
) {
    use rand::{Rng, SeedableRng};
    let stride = super::padded(n);
    let (ni, no) = (layer.n_inputs(), layer.n_outputs());
    assert_eq!(x.len(), ni * stride, "x must be n_inputs × padded(n)");
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut c = vec![0.0f32; no * stride];
    for j in 0..no {
        for b in 0..n {
            c[j * stride + b] = rng.random_range(0.5f32..1.5) * if b % 2 == 0 { 1.0 } else { -1.0 };
        }
    }
    let mut scratch = vec![0.0f32; layer.scratch_per_row() * stride];
    let loss = |p: &[f32], x: &[f32]| -> f64 {
        let mut s = vec![0.0f32; layer.scratch_per_row() * stride];
        let mut out = vec![0.0f32; no * stride];
        layer.forward(p, x, n, stride, &mut s, &mut out);
        out.iter()
            .zip(&c)
            .map(|(&o, &c)| f64::from(o) * f64::from(c))
            .sum()
    };
    let mut out = vec![0.0f32; no * stride];
    layer.forward(params, x, n, stride, &mut scratch, &mut out);
    for j in 0..no {
        assert!(
            out[j * stride + n..(j + 1) * stride]
                .iter()
                .all(|&v| v == 0.0),
            "padding lanes of output {j} must be zero"
        );
    }
    let mut grad = vec![f32::NAN; params.len()];
    let mut d_x = vec![f32::NAN; ni * stride];
    layer.backward(
        params,
        x,
        n,
        stride,
        &scratch,
        &out,
        &c,
        &mut grad,
        Some(&mut d_x),
    );
    let numeric = |value: f32, set: &mut dyn FnMut(f32) -> f64| -> f64 {
        let h = 1e-3f32 * value.abs().max(1e-1);
        let (up, down) = (value + h, value - h);
        (set(up) - set(down)) / (f64::from(up) - f64::from(down))
    };
    for k in 0..params.len() {
        let mut p = params.to_vec();
        let num = numeric(params[k], &mut |v| {
            p[k] = v;
            loss(&p, x)
        });
        let ana = f64::from(grad[k]);
        assert!(
            (ana - num).abs() <= tolerance * (1.0 + num.abs()),
            "parameter {k}: backward {ana}, finite differences {num}"
        );
    }
    for i in 0..ni {
        for b in 0..stride {
            let at = i * stride + b;
            if b >= n {
                assert_eq!(d_x[at], 0.0, "padding lane of d_x at {at}");
                continue;
            }
            let mut xs = x.to_vec();
            let num = numeric(x[at], &mut |v| {
                xs[at] = v;
                loss(params, &xs)
            });
            let ana = f64::from(d_x[at]);
            assert!(
                (ana - num).abs() <= tolerance * (1.0 + num.abs()),
                "input {i} row {b}: backward {ana}, finite differences {num}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_without_discrete_weights_have_no_sparsity_error_or_regulariser() {
        // Product and linear weights are meant to be any real number: a sparsity error of 0
        // would claim every trained product unit had found a discrete solution.
        let layers: [Box<dyn Layer>; 2] = [
            Box::new(super::super::product::Product::new(2, 3)),
            Box::new(super::super::linear::Linear::new(2, 3)),
        ];
        for layer in &layers {
            let params = vec![0.3f32; layer.n_params()];
            assert_eq!(layer.sparsity_error(&params), None);
            let mut grad = vec![0.5f32; layer.n_params()];
            assert_eq!(layer.regularize(&params, 1.0, &mut grad), 0.0);
            assert!(grad.iter().all(|&g| g == 0.5));
        }
    }
}
