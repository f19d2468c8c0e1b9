//! The paper's model: fully connected layers with one activation each and a linear output
//! (Dense(16, A1) → Dense(12, A2) → Dense(1) in the paper's Fig. 5–6; `lg` is symlog, symexp).

use super::kernels::{
    AffineShape, affine_backward, affine_forward, copy_outputs, load_output_gradient,
    propagate_to_input, zero_padding,
};
use super::{Network, ParamBlock, padded};
use crate::activation::Activation;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One dense layer: where its parameters sit, and its activation.
#[derive(Debug, Clone, PartialEq)]
struct LayerShape {
    affine: AffineShape,
    activation: Activation,
}

/// A fully connected network: hidden layers with one activation each, then one linear output
/// unit. The paper's model is `Dense::new(n_inputs, &[16, 12], &[A1, A2])`.
///
/// ```
/// use logexp::activation::Activation::{Symexp, Symlog};
/// use logexp::model::{Dense, Network};
/// let net = Dense::new(4, &[16, 12], &[Symlog, Symexp]).unwrap();
/// assert_eq!(net.n_params(), 297); // as the paper's Fig. 6
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    n_inputs: usize,
    layers: Vec<LayerShape>,
    n_params: usize,
}

/// Why a [`Dense`] network could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The network has no inputs.
    #[error("the network needs at least one input")]
    NoInputs,
    /// A hidden layer was given zero units.
    #[error("hidden layer {layer} has 0 units: give every layer at least 1 (e.g. --hidden 16,12)")]
    EmptyLayer {
        /// 1-based layer number.
        layer: usize,
    },
    /// Hidden widths and activations differ in number.
    #[error(
        "the network has {layers} hidden layer(s) (--hidden) but the pair names {activations} activation(s): give one activation per hidden layer, e.g. --hidden 16,12 with relu,linear"
    )]
    ActivationCount {
        /// Number of hidden layers.
        layers: usize,
        /// Number of activations.
        activations: usize,
    },
    /// The parameter count does not fit in memory's address range (checked before anything is
    /// allocated).
    #[error(
        "a network with {n_inputs} inputs and hidden layers {hidden:?} has more parameters than can be counted: use fewer inputs or narrower layers (e.g. --hidden 16,12)"
    )]
    TooManyParameters {
        /// Inputs asked for.
        n_inputs: usize,
        /// Hidden widths asked for.
        hidden: Vec<usize>,
    },
}

impl Dense {
    /// Builds the shape of a network; parameters are set by [`Network::init_params`].
    pub fn new(
        n_inputs: usize,
        hidden: &[usize],
        activations: &[Activation],
    ) -> Result<Self, ShapeError> {
        Dense::with_outputs(n_inputs, hidden, activations, 1)
    }

    /// Like [`Dense::new`], with `n_outputs` linear output units (a target of several outputs
    /// trained jointly; at least 1).
    pub fn with_outputs(
        n_inputs: usize,
        hidden: &[usize],
        activations: &[Activation],
        n_outputs: usize,
    ) -> Result<Self, ShapeError> {
        if n_inputs == 0 {
            return Err(ShapeError::NoInputs);
        }
        if hidden.len() != activations.len() {
            return Err(ShapeError::ActivationCount {
                layers: hidden.len(),
                activations: activations.len(),
            });
        }
        if let Some(i) = hidden.iter().position(|&w| w == 0) {
            return Err(ShapeError::EmptyLayer { layer: i + 1 });
        }
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let mut offset: usize = 0;
        let mut inputs = n_inputs;
        let widths = hidden
            .iter()
            .copied()
            .chain(std::iter::once(n_outputs.max(1)));
        let acts = activations
            .iter()
            .copied()
            .chain(std::iter::once(Activation::Linear));
        let too_many = || ShapeError::TooManyParameters {
            n_inputs,
            hidden: hidden.to_vec(),
        };
        for (units, activation) in widths.zip(acts) {
            // Widths come from users (`--hidden`), so every derived size is checked: a wrapped
            // count would build a network far smaller than its description.
            let weights = units.checked_mul(inputs).ok_or_else(too_many)?;
            let biases = offset.checked_add(weights).ok_or_else(too_many)?;
            let end = biases.checked_add(units).ok_or_else(too_many)?;
            layers.push(LayerShape {
                affine: AffineShape {
                    inputs,
                    units,
                    weights: offset,
                    biases,
                },
                activation,
            });
            offset = end;
            inputs = units;
        }
        // Offsets index `f32` slices; keep the byte size representable too.
        if offset > isize::MAX as usize / std::mem::size_of::<f32>() {
            return Err(too_many());
        }
        Ok(Dense {
            n_inputs,
            layers,
            n_params: offset,
        })
    }

    /// Hidden layer widths.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1]
            .iter()
            .map(|l| l.affine.units)
            .collect()
    }

    /// Hidden layer activations.
    pub fn activations(&self) -> Vec<Activation> {
        self.layers[..self.layers.len() - 1]
            .iter()
            .map(|l| l.activation)
            .collect()
    }
}

/// Scratch for [`Dense`]: per layer, the pre-activations `z`, the outputs `a`, and one gradient
/// buffer per layer for back-propagation.
#[derive(Debug, Clone)]
pub struct DenseWorkspace {
    capacity: usize,
    z: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    d_a: Vec<f32>,
    d_z: Vec<f32>,
}

impl Network for Dense {
    type Workspace = DenseWorkspace;

    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_params(&self) -> usize {
        self.n_params
    }

    fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].affine.units
    }

    /// `layer{i}.weight` (`[units, inputs]`) then `layer{i}.bias` (`[units]`) for every layer,
    /// the output layer last.
    fn param_blocks(&self) -> Vec<ParamBlock> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                [
                    ParamBlock {
                        name: format!("layer{i}.weight"),
                        offset: l.affine.weights,
                        shape: vec![l.affine.units, l.affine.inputs],
                    },
                    ParamBlock {
                        name: format!("layer{i}.bias"),
                        offset: l.affine.biases,
                        shape: vec![l.affine.units],
                    },
                ]
            })
            .collect()
    }

    /// Glorot-uniform weights (`±√(6 / (fan_in + fan_out))`) and zero biases, as Keras.
    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        assert_eq!(params.len(), self.n_params, "parameter buffer size");
        for layer in &self.layers {
            let limit = (6.0 / (layer.affine.inputs + layer.affine.units) as f64).sqrt();
            let weights = &mut params[layer.affine.weights..layer.affine.biases];
            for w in weights {
                *w = rng.random_range(-limit..limit) as f32;
            }
            params[layer.affine.biases..layer.affine.biases + layer.affine.units].fill(0.0);
        }
    }

    fn workspace(&self, capacity: usize) -> DenseWorkspace {
        let capacity = padded(capacity.max(1));
        let widest = self
            .layers
            .iter()
            .map(|l| l.affine.units)
            .max()
            .unwrap_or(1);
        let per_layer = |_: &LayerShape| vec![0.0; widest * capacity];
        DenseWorkspace {
            capacity,
            z: self.layers.iter().map(per_layer).collect(),
            a: self.layers.iter().map(per_layer).collect(),
            d_a: vec![0.0; widest.max(self.n_inputs) * capacity],
            d_z: vec![0.0; widest * capacity],
        }
    }

    #[inline(always)]
    fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut DenseWorkspace,
        out: &mut [f32],
    ) {
        let stride = padded(n);
        assert!(
            stride <= ws.capacity,
            "batch of {n} exceeds workspace capacity"
        );
        // A full paper batch gets its own copy of the code with the stride a constant, which
        // removes most of the loops' index arithmetic; the operations and their order are the
        // same, so are the results.
        if stride == FULL_BATCH {
            self.forward_strided(params, x, n, FULL_BATCH, ws, out);
        } else {
            self.forward_strided(params, x, n, stride, ws, out);
        }
    }

    #[inline(always)]
    fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut DenseWorkspace,
        d_out: &[f32],
        grad: &mut [f32],
    ) {
        let stride = padded(n);
        if stride == FULL_BATCH {
            self.backward_strided(params, x, n, FULL_BATCH, ws, d_out, grad);
        } else {
            self.backward_strided(params, x, n, stride, ws, d_out, grad);
        }
    }
}

/// The paper's (and Keras's default) batch size, for which the kernels are specialised.
const FULL_BATCH: usize = 32;

impl Dense {
    #[inline(always)]
    fn forward_strided(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        ws: &mut DenseWorkspace,
        out: &mut [f32],
    ) {
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.a.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &before[l - 1] };
            let z = &mut ws.z[l];
            let a = &mut rest[0];
            affine_forward(params, &layer.affine, input, stride, z);
            layer
                .activation
                .forward_layer(z, a, layer.affine.units, stride);
            // Padding lanes carry zeros, so they stay finite and add nothing downstream.
            zero_padding(a, layer.affine.units, n, stride);
        }
        copy_outputs(
            &ws.a[self.layers.len() - 1],
            self.n_outputs(),
            n,
            stride,
            out,
        );
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn backward_strided(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        stride: usize,
        ws: &mut DenseWorkspace,
        d_out: &[f32],
        grad: &mut [f32],
    ) {
        load_output_gradient(d_out, self.n_outputs(), n, stride, &mut ws.d_a);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let len = layer.affine.units * stride;
            layer.activation.backward_layer(
                &ws.z[l],
                &ws.a[l],
                &ws.d_a[..len],
                &mut ws.d_z[..len],
                layer.affine.units,
                stride,
            );
            zero_padding(&mut ws.d_z, layer.affine.units, n, stride);
            let input: &[f32] = if l == 0 { x } else { &ws.a[l - 1] };
            affine_backward(&layer.affine, input, stride, &ws.d_z[..len], grad);
            if l > 0 {
                // Gradient with respect to this layer's input, which is the previous output.
                propagate_to_input(params, &layer.affine, stride, &ws.d_z[..len], &mut ws.d_a);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::activation::Activation::*;
    use crate::model::LANES;
    use rand::SeedableRng;

    #[test]
    fn parameter_blocks_name_and_tile_the_buffer() {
        let net = Dense::new(4, &[16, 12], &[Symlog, Symexp]).unwrap();
        let blocks = net.param_blocks();
        // Written out by hand from the layout: W0 16×4 at 0, b0 16 at 64, W1 12×16 at 80,
        // b1 12 at 272, W2 1×12 at 284, b2 1 at 296.
        let want = [
            ("layer0.weight", 0, vec![16, 4]),
            ("layer0.bias", 64, vec![16]),
            ("layer1.weight", 80, vec![12, 16]),
            ("layer1.bias", 272, vec![12]),
            ("layer2.weight", 284, vec![1, 12]),
            ("layer2.bias", 296, vec![1]),
        ];
        assert_eq!(blocks.len(), want.len());
        for (block, (name, offset, shape)) in blocks.iter().zip(want) {
            assert_eq!(
                (block.name.as_str(), block.offset, &block.shape),
                (name, offset, &shape)
            );
        }
        assert_eq!(
            blocks.last().map(|b| b.offset + b.len()),
            Some(net.n_params())
        );
        assert!(blocks.iter().all(|b| !b.is_empty()));
        let none = ParamBlock {
            name: "nothing".into(),
            offset: 0,
            shape: vec![3, 0],
        };
        assert!(none.is_empty());
        // A dense network has no discrete weights, so no sparsity error (not 0, not -1).
        assert_eq!(net.sparsity_error(&vec![0.5; net.n_params()]), None);
        // Biases really are where the blocks say: initialisation leaves them zero.
        let mut params = vec![1.0f32; net.n_params()];
        net.init_params(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), &mut params);
        for b in blocks.iter().filter(|b| b.name.ends_with("bias")) {
            assert!(
                params[b.offset..b.offset + b.len()]
                    .iter()
                    .all(|&p| p == 0.0)
            );
        }
        for b in blocks.iter().filter(|b| b.name.ends_with("weight")) {
            assert!(
                params[b.offset..b.offset + b.len()]
                    .iter()
                    .all(|&p| p != 0.0 && p.abs() < 1.0)
            );
        }
    }

    #[test]
    fn paper_network_has_297_parameters() {
        let net = Dense::new(4, &[16, 12], &[Symlog, Symexp]).unwrap();
        assert_eq!(net.n_params(), 4 * 16 + 16 + 16 * 12 + 12 + 12 + 1);
        assert_eq!(net.n_params(), 297);
        assert_eq!(net.hidden(), vec![16, 12]);
        assert_eq!(net.activations(), vec![Symlog, Symexp]);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert_eq!(Dense::new(0, &[4], &[Relu]), Err(ShapeError::NoInputs));
        assert_eq!(
            Dense::new(2, &[4, 0], &[Relu, Relu]),
            Err(ShapeError::EmptyLayer { layer: 2 })
        );
        assert!(matches!(
            Dense::new(2, &[4], &[Relu, Relu]),
            Err(ShapeError::ActivationCount { .. })
        ));
        // 2^62 parameters: no usize arithmetic wraps, but their bytes would pass isize::MAX.
        let huge = 1usize << 31;
        assert!(matches!(
            Dense::new(1, &[huge, huge], &[Relu, Relu]),
            Err(ShapeError::TooManyParameters { .. })
        ));
        // A count that does wrap is refused too.
        assert!(matches!(
            Dense::new(2, &[usize::MAX, 2], &[Relu, Relu]),
            Err(ShapeError::TooManyParameters { .. })
        ));
    }

    #[test]
    fn glorot_init_is_bounded_with_zero_biases() {
        let net = Dense::new(2, &[16, 12], &[Relu, Relu]).unwrap();
        let mut params = vec![f32::NAN; net.n_params()];
        net.init_params(&mut ChaCha8Rng::seed_from_u64(7), &mut params);
        let l0 = &net.layers[0];
        let limit = (6.0f32 / 18.0).sqrt();
        assert!(
            params[l0.affine.weights..l0.affine.biases]
                .iter()
                .all(|w| w.abs() <= limit)
        );
        assert!(
            params[l0.affine.biases..l0.affine.biases + 16]
                .iter()
                .all(|&b| b == 0.0)
        );
        // Not degenerate: the weights spread over most of the interval.
        let max = params[l0.affine.weights..l0.affine.biases]
            .iter()
            .fold(0.0f32, |m, w| m.max(w.abs()));
        assert!(max > 0.8 * limit);
    }

    #[test]
    fn forward_matches_a_hand_computation() {
        // 1 input -> 2 relu units -> linear output.
        let net = Dense::new(1, &[2], &[Relu]).unwrap();
        // W1 = [2, -1], b1 = [0.5, 0], W2 = [3, 4], b2 = [1]
        let params = [2.0, -1.0, 0.5, 0.0, 3.0, 4.0, 1.0];
        let mut ws = net.workspace(2);
        let mut out = [0.0; 2];
        let mut x = [0.0; LANES];
        x[..2].copy_from_slice(&[1.0, -2.0]);
        net.forward(&params, &x, 2, &mut ws, &mut out);
        // x=1: h = [2.5, 0] -> 3*2.5 + 1 = 8.5; x=-2: h = [0, 2] -> 4*2 + 1 = 9
        assert_eq!(out, [8.5, 9.0]);
    }

    /// Central finite differences of the batch loss against the analytic gradient, for every
    /// activation in each hidden position, with both losses.
    #[test]
    fn gradient_matches_finite_differences_for_every_activation() {
        use crate::train::Loss;
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (n_in, n) = (3, 7);
        let stride = padded(n);
        let mut x = vec![0.0f32; n_in * stride];
        for row in x.chunks_exact_mut(stride) {
            for v in &mut row[..n] {
                *v = rng.random_range(-1.5..1.5);
            }
        }
        let y: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut failures = Vec::new();
        for first in Activation::ALL {
            for (second, loss) in [(Linear, Loss::Mae), (first, Loss::Mse), (Tanh, Loss::Mse)] {
                let net = Dense::new(n_in, &[5, 4], &[first, second]).unwrap();
                let mut params = vec![0.0; net.n_params()];
                let mut ws = net.workspace(n);
                // Finite differences are only valid away from kinks (relu at 0, hard_sigmoid at
                // ±2.5): redraw until no pre-activation is within reach of one.
                for attempt in 0.. {
                    assert!(attempt < 1000, "no kink-free draw for {first},{second}");
                    net.init_params(&mut rng, &mut params);
                    for b in params.iter_mut() {
                        // Non-zero biases so that every bias gradient is exercised.
                        *b += rng.random_range(-0.1..0.1);
                    }
                    net.forward(&params, &x, n, &mut ws, &mut vec![0.0; n]);
                    let near_kink = |layer: usize| {
                        let act = net.layers[layer].activation;
                        ws.z[layer][..net.layers[layer].affine.units * stride]
                            .chunks_exact(stride)
                            .flat_map(|row| &row[..n])
                            .any(|&z| match act {
                                Relu => z.abs() < 0.05,
                                HardSigmoid => (z.abs() - 2.5).abs() < 0.05,
                                _ => false,
                            })
                    };
                    if !near_kink(0) && !near_kink(1) {
                        break;
                    }
                }
                let objective = |p: &[f32], ws: &mut DenseWorkspace| {
                    let mut out = vec![0.0; n];
                    let mut d = vec![0.0; n];
                    net.forward(p, &x, n, ws, &mut out);
                    loss.value_and_gradient(&out, &y, &mut d)
                };
                let mut out = vec![0.0; n];
                let mut d_out = vec![0.0; n];
                let mut grad = vec![0.0; net.n_params()];
                net.forward(&params, &x, n, &mut ws, &mut out);
                loss.value_and_gradient(&out, &y, &mut d_out);
                net.backward(&params, &x, n, &mut ws, &d_out, &mut grad);
                let scale = grad.iter().fold(0.0f32, |m, g| m.max(g.abs())).max(1e-3);
                for k in 0..params.len() {
                    let h = 1e-3f32;
                    let mut p = params.clone();
                    p[k] = params[k] + h;
                    let plus = objective(&p, &mut ws);
                    p[k] = params[k] - h;
                    let minus = objective(&p, &mut ws);
                    let numeric = (plus - minus) / (2.0 * f64::from(h));
                    let analytic = f64::from(grad[k]);
                    if (numeric - analytic).abs() > 2e-2 * f64::from(scale) + 2e-2 * analytic.abs()
                    {
                        failures.push(format!(
                            "{first},{second} {loss}: param {k}: numeric {numeric:.5} analytic {analytic:.5}"
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// One row through the network in `f64`, written out from the definitions (weights
    /// `W[j,i]` row-major per layer, then biases) with each activation's closed form: an
    /// independent reference for the `f32` kernels. Returns every layer's pre-activations and
    /// the output.
    fn forward_f64(net: &Dense, params: &[f64], row: &[f64]) -> (Vec<Vec<f64>>, f64) {
        use crate::activation::tests::exact;
        let mut input = row.to_vec();
        let mut zs = Vec::new();
        for layer in &net.layers {
            let z: Vec<f64> = (0..layer.affine.units)
                .map(|j| {
                    let w = &params[layer.affine.weights + j * layer.affine.inputs..]
                        [..layer.affine.inputs];
                    let dot: f64 = w.iter().zip(&input).map(|(w, x)| w * x).sum();
                    params[layer.affine.biases + j] + dot
                })
                .collect();
            input = if layer.activation == Softmax {
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                e.iter().map(|v| v / sum).collect()
            } else {
                z.iter().map(|&v| exact(layer.activation, v).0).collect()
            };
            zs.push(z);
        }
        (zs, input[0])
    }

    #[derive(Clone, Copy, Debug)]
    enum Loss64 {
        Mae,
        Mse,
    }

    /// The batch loss in `f64`.
    fn loss_f64(net: &Dense, params: &[f64], rows: &[Vec<f64>], y: &[f64], loss: Loss64) -> f64 {
        let total: f64 = rows
            .iter()
            .zip(y)
            .map(|(row, target)| {
                let r = forward_f64(net, params, row).1 - target;
                match loss {
                    Loss64::Mae => r.abs(),
                    Loss64::Mse => r * r,
                }
            })
            .sum();
        total / rows.len() as f64
    }

    /// The analytic `f32` gradient of the paper's network (4 → 16 → 12 → 1) against central
    /// differences of an independent `f64` evaluation, at 32 rows (the full-batch kernels every
    /// real step runs) and 37 (a full tile plus a padded partial block), with inputs in the
    /// paper's range [10, 100).
    ///
    /// Tolerance: 1e-3 relative, plus 1e-5 of the largest gradient for components that are
    /// nearly zero. The `f64` differences are accurate to about 1e-8 relative (step 1e-6 of the
    /// parameter); the `f32` kernels to about 1e-6 of the largest term. A 1 % error anywhere in
    /// a backward pass (softmax's, for instance) is ten times the tolerance.
    #[test]
    fn gradient_matches_f64_finite_differences_at_full_and_partial_batches() {
        use crate::train::Loss;
        use rand::Rng;
        let pairs = [
            [Symlog, Symexp],
            [Softmax, Tanh],
            [Tanh, Softmax],
            [Softmax, Softmax],
            [Softmax, Symexp],
            [Symlog, Softmax],
            [Elu, Selu],
            [Relu, Sigmoid],
            [Softplus, Swish],
            [Softsign, HardSigmoid],
            [HardSigmoid, Relu],
            [Selu, Elu],
            [Sigmoid, Softplus],
            [Swish, Softsign],
            [Linear, Symlog],
            [Symexp, Linear],
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(37);
        let n_in = 4;
        let mut failures = Vec::new();
        for n in [32usize, 37] {
            let stride = padded(n);
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    (0..n_in)
                        .map(|_| f64::from(rng.random_range(10.0f32..100.0)))
                        .collect()
                })
                .collect();
            let mut x = vec![0.0f32; n_in * stride];
            for (b, row) in rows.iter().enumerate() {
                for (i, &v) in row.iter().enumerate() {
                    x[i * stride + b] = v as f32;
                }
            }
            // Targets of the paper's kind, a product scaled into the tens, exact in f32.
            let y32: Vec<f32> = rows
                .iter()
                .map(|r| (r[0] * r[1] / 100.0 + r[2] - r[3]) as f32)
                .collect();
            let y64: Vec<f64> = y32.iter().map(|&v| f64::from(v)).collect();
            for pair in pairs {
                for (loss, loss64) in [(Loss::Mae, Loss64::Mae), (Loss::Mse, Loss64::Mse)] {
                    let net = Dense::new(n_in, &[16, 12], &pair).unwrap();
                    let mut params = vec![0.0f32; net.n_params()];
                    // Glorot weights with first-layer weights scaled to 3 % (so pre-activations
                    // are of order 1 for inputs up to 100, as in a trained net, rather than
                    // saturating every unit) and non-zero biases, redrawn until no
                    // pre-activation or residual is near a kink.
                    for attempt in 0.. {
                        assert!(attempt < 1000, "no kink-free draw for {pair:?}");
                        net.init_params(&mut rng, &mut params);
                        let first = &net.layers[0];
                        for w in &mut params[first.affine.weights..first.affine.biases] {
                            *w *= 0.03;
                        }
                        for layer in &net.layers {
                            for b in &mut params
                                [layer.affine.biases..layer.affine.biases + layer.affine.units]
                            {
                                *b = rng.random_range(-0.5..0.5);
                            }
                        }
                        let p64: Vec<f64> = params.iter().map(|&v| f64::from(v)).collect();
                        let passes: Vec<_> =
                            rows.iter().map(|r| forward_f64(&net, &p64, r)).collect();
                        let near_kink = net.layers.iter().enumerate().any(|(l, layer)| {
                            let kinks: &[f64] = match layer.activation {
                                Relu | Elu | Selu => &[0.0],
                                HardSigmoid => &[-2.5, 2.5],
                                _ => &[],
                            };
                            passes
                                .iter()
                                .flat_map(|(zs, _)| &zs[l])
                                .any(|z| kinks.iter().any(|k| (z - k).abs() < 1e-3))
                        });
                        let near_fit = passes
                            .iter()
                            .zip(&y64)
                            .any(|((_, p), y)| (p - y).abs() < 1e-3);
                        let finite = passes.iter().all(|(_, p)| p.is_finite());
                        if !near_kink && !near_fit && finite {
                            break;
                        }
                    }
                    let mut ws = net.workspace(n);
                    let mut out = vec![0.0f32; n];
                    let mut d_out = vec![0.0f32; n];
                    let mut grad = vec![f32::NAN; net.n_params()];
                    net.forward(&params, &x, n, &mut ws, &mut out);
                    loss.value_and_gradient(&out, &y32, &mut d_out);
                    net.backward(&params, &x, n, &mut ws, &d_out, &mut grad);
                    let numeric: Vec<f64> = (0..params.len())
                        .map(|k| {
                            let h = 1e-6 * f64::from(params[k].abs()).max(1e-2);
                            // Perturbed in f64: a step of 1e-6 is below f32's resolution.
                            let at = |delta: f64| {
                                let mut p64: Vec<f64> =
                                    params.iter().map(|&v| f64::from(v)).collect();
                                p64[k] += delta;
                                loss_f64(&net, &p64, &rows, &y64, loss64)
                            };
                            (at(h) - at(-h)) / (2.0 * h)
                        })
                        .collect();
                    let scale = numeric.iter().fold(0.0f64, |m, g| m.max(g.abs()));
                    for (k, (&g, &a)) in numeric.iter().zip(&grad).enumerate() {
                        let a = f64::from(a);
                        if (a - g).abs() > 1e-3 * g.abs() + 1e-5 * scale {
                            failures.push(format!(
                                "{pair:?} {loss:?} n {n}: param {k}: f64 {g:.6e}, ours {a:.6e}"
                            ));
                        }
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
