//! The smallest general layer the peers' stacks lack: an unconstrained affine map
//! `z_j = Σᵢ W_ji xᵢ + b_j`, Glorot-uniform weights and zero biases (as Keras's `Dense`).
//!
//! NAU's weights are clamped to [−1, 1] and it has no bias, so a stack ending in NAU cannot
//! scale a product by more than 1 or add a constant; a `linear` layer can. Write it where the
//! target needs it, e.g. `product,linear` for `1000*x1*x2 + 3`, or `nau,nmu,linear`.
//!
//! ```
//! use logexp::model::{linear::Linear, Layer};
//! let layer = Linear::new(3, 2);
//! assert_eq!(layer.n_params(), 3 * 2 + 2);
//! assert_eq!(layer.param_blocks()[1].name, "bias");
//! ```

use super::ParamBlock;
use super::layer::{Layer, weighted_sums, weighted_sums_backward};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// An affine layer: `n_outputs × n_inputs` weights, then `n_outputs` biases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linear {
    n_inputs: usize,
    n_outputs: usize,
}

impl Linear {
    /// A layer from `n_inputs` features to `n_outputs`.
    pub fn new(n_inputs: usize, n_outputs: usize) -> Linear {
        Linear {
            n_inputs,
            n_outputs,
        }
    }

    fn n_weights(&self) -> usize {
        self.n_inputs * self.n_outputs
    }
}

impl Layer for Linear {
    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    fn n_params(&self) -> usize {
        self.n_weights() + self.n_outputs
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        vec![
            ParamBlock {
                name: "weight".into(),
                offset: 0,
                shape: vec![self.n_outputs, self.n_inputs],
            },
            ParamBlock {
                name: "bias".into(),
                offset: self.n_weights(),
                shape: vec![self.n_outputs],
            },
        ]
    }

    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        let limit = (6.0 / (self.n_inputs + self.n_outputs) as f64).sqrt();
        let (weights, biases) = params.split_at_mut(self.n_weights());
        for w in weights {
            *w = rng.random_range(-limit..limit) as f32;
        }
        biases.fill(0.0);
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
        let (weights, biases) = params.split_at(self.n_weights());
        let weight = |j: usize, i: usize| weights[j * ni + i];
        weighted_sums(ni, self.n_outputs, weight, |j| biases[j], x, n, stride, out);
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
        let (grad_w, grad_b) = grad.split_at_mut(self.n_weights());
        let weight = |j: usize, i: usize| params[j * ni + i];
        weighted_sums_backward(ni, self.n_outputs, weight, x, n, stride, d_out, grad_w, d_x);
        for (j, g) in grad_b.iter_mut().enumerate() {
            *g = d_out[j * stride..j * stride + n].iter().sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::assert_gradients_match;
    use crate::model::padded;
    use rand::SeedableRng;

    #[test]
    fn forward_is_the_affine_map_written_out() {
        // z = [2·x1 − x2 + 0.5, 10·x2 − 3] at (x1, x2) = (3, 4): 2.5 and 37.
        let layer = Linear::new(2, 2);
        let params = [2.0f32, -1.0, 0.0, 10.0, 0.5, -3.0];
        let stride = padded(1);
        let mut x = vec![0.0f32; 2 * stride];
        x[0] = 3.0;
        x[stride] = 4.0;
        let mut out = vec![9.0f32; 2 * stride];
        layer.forward(&params, &x, 1, stride, &mut [], &mut out);
        assert_eq!((out[0], out[stride]), (2.5, 37.0));
        assert!(out[1..stride].iter().all(|&v| v == 0.0), "padding zeroed");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let layer = Linear::new(3, 2);
        let n = 5;
        let stride = padded(n);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut x = vec![0.0f32; 3 * stride];
        for i in 0..3 {
            for b in 0..n {
                x[i * stride + b] = rng.random_range(-3.0..3.0);
            }
        }
        let params = [0.3f32, -1.7, 2.1, 0.9, -0.2, 1.45, 0.5, -2.0];
        // f32 differences of a linear map: rounding alone reaches a few 1e-3 here.
        assert_gradients_match(&layer, &params, &x, n, 1e-2);
    }

    #[test]
    fn glorot_weights_and_zero_biases() {
        let layer = Linear::new(6, 2);
        let mut params = vec![1.0; layer.n_params()];
        layer.init_params(&mut ChaCha8Rng::seed_from_u64(0), &mut params);
        let limit = (6.0f32 / 8.0).sqrt();
        assert!(params[..12].iter().all(|w| w.abs() <= limit && *w != 0.0));
        assert_eq!(&params[12..], &[0.0, 0.0]);
    }
}
