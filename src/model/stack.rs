//! A chain of unit layers ([`Layer`]) ending in one output: the peers' models, e.g. stable-nalu's
//! NAU → NMU or the NPU paper's NAU → NPU.
//!
//! ```
//! use logexp::model::{Network, Stack, UnitKind};
//! // 4 inputs → NAU(2) → NAU(1): 8 + 2 weights.
//! let net = Stack::new(4, &[UnitKind::Nau, UnitKind::Nau], &[2]).unwrap();
//! assert_eq!(net.n_params(), 10);
//! assert_eq!(net.param_blocks()[1].name, "layer1.weight");
//! ```

use super::inalu::Inalu;
use super::kernels::{copy_outputs, load_output_gradient};
use super::layer::Layer;
use super::linear::Linear;
use super::nalu::Nalu;
use super::nau::Nau;
use super::nmu::Nmu;
use super::npu::{Npu, RealNpu};
use super::product::Product;
use super::{Network, ParamBlock, padded};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of unit layer a [`Stack`] chains, by their names on the command line and in records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum UnitKind {
    /// Neural addition unit (Madsen & Johansen 2020): `z = W x`, W clamped to [−1, 1].
    Nau,
    /// Neural multiplication unit (Madsen & Johansen 2020): `z = Π_i (W x_i + 1 − W)`, W
    /// clamped to [0, 1].
    Nmu,
    /// Product unit (Durbin & Rumelhart 1989): `z = Π_i x_i^{w_i}`, real part for negative
    /// inputs.
    Product,
    /// Additive neural accumulator, NAC+ (Trask et al. 2018): `z = W x`, `W = tanh(Ŵ) ⊙ σ(M̂)`.
    Nac,
    /// Multiplicative neural accumulator, NAC• (Trask et al. 2018): `z = exp(W ln(|x| + ε))`.
    NacMul,
    /// Neural arithmetic logic unit (Trask et al. 2018, as in stable-nalu): NAC+ and NAC• with
    /// shared W, mixed by the gate `σ(G x)`.
    Nalu,
    /// Improved NALU (Schlör, Ring & Hotho 2020): separate weights, clipped product with sign
    /// recovery, input-independent gate.
    Inalu,
    /// Neural power unit (Heim, Pevný & Šmídl 2020): gated inputs, complex weights,
    /// `z = exp(W_re ln r − W_im k) ⊙ cos(W_im ln r + W_re k)`.
    Npu,
    /// Real neural power unit (Heim, Pevný & Šmídl 2020): the NPU without imaginary weights,
    /// `z = exp(W_re ln r) ⊙ cos(W_re k)`.
    RealNpu,
    /// An unconstrained affine layer `W x + b`: the constant factors and offsets the peers'
    /// stacks cannot express.
    Linear,
}

/// How the layers of a [`Stack`] draw their initial weights, where peers' code bases differ.
/// `inalu` changes the NAC-family layers (NAC+, NAC•, NALU), `neural-arithmetic` the NAU and
/// NMU layers; every other kind always uses its own paper's initialisation.
///
/// | value | NAC+/NAC•/NALU: Ŵ, M̂, gate G | NAU | NMU | source |
/// | --- | --- | --- | --- | --- |
/// | `own` (default) | U[−r, r], U[−r, r], Glorot uniform | U[−r, r], r = min(0.5, √3·√(2/(in+out))) | U[0.25, 0.75] | stable-nalu (`r` from their variance rule) |
/// | `inalu` | N(1, 0.1), N(−1, 0.1), N(0, 0.1) | as `own` | as `own` | iNALU's scripts (`daschloer/inalu`, `ig, im, iw, isg, ism, isw`), which draw their NALU baselines as their iNALU |
/// | `neural-arithmetic` | as `own` | Glorot uniform, ±√(6/(in+out)) | U[0, 1] | the NPU paper's library (`nmheim/NeuralArithmetic.jl`, `NAU(in, out; init=glorot_uniform)`, `NMU(in, out; init=rand)`) |
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum UnitInit {
    /// Each unit's own paper.
    #[default]
    Own,
    /// iNALU's normal draws for NAC+, NAC• and NALU.
    Inalu,
    /// NeuralArithmetic.jl's draws for NAU (Glorot uniform) and NMU (U[0, 1]).
    NeuralArithmetic,
}

impl UnitInit {
    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            UnitInit::Own => "own",
            UnitInit::Inalu => "inalu",
            UnitInit::NeuralArithmetic => "neural-arithmetic",
        }
    }
}

impl FromStr for UnitInit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "own" => Ok(UnitInit::Own),
            "inalu" => Ok(UnitInit::Inalu),
            "neural-arithmetic" => Ok(UnitInit::NeuralArithmetic),
            _ => Err(format!(
                "unknown initialisation '{}': use own (each unit's paper), inalu (iNALU's \
                 normal draws for NAC and NALU layers) or neural-arithmetic (the NPU paper's \
                 draws for NAU and NMU layers)",
                s.escape_debug()
            )),
        }
    }
}

impl UnitKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [UnitKind; 10] = [
        UnitKind::Nau,
        UnitKind::Nmu,
        UnitKind::Nac,
        UnitKind::NacMul,
        UnitKind::Nalu,
        UnitKind::Inalu,
        UnitKind::Npu,
        UnitKind::RealNpu,
        UnitKind::Product,
        UnitKind::Linear,
    ];

    /// The kind's name (`nau`, `nmu`, `real-npu`, …).
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Nau => "nau",
            UnitKind::Nmu => "nmu",
            UnitKind::Product => "product",
            UnitKind::Linear => "linear",
            UnitKind::Nac => "nac",
            UnitKind::NacMul => "nac-mul",
            UnitKind::Nalu => "nalu",
            UnitKind::Inalu => "inalu",
            UnitKind::Npu => "npu",
            UnitKind::RealNpu => "real-npu",
        }
    }

    /// A layer of this kind from `n_inputs` features to `n_outputs`.
    pub fn layer(self, n_inputs: usize, n_outputs: usize) -> Box<dyn Layer> {
        self.layer_with_init(n_inputs, n_outputs, UnitInit::Own)
    }

    /// Like [`UnitKind::layer`], drawing the initial weights as `init` says.
    pub fn layer_with_init(
        self,
        n_inputs: usize,
        n_outputs: usize,
        init: UnitInit,
    ) -> Box<dyn Layer> {
        match self {
            UnitKind::Nau => Box::new(Nau::new(n_inputs, n_outputs).with_init(init)),
            UnitKind::Nmu => Box::new(Nmu::new(n_inputs, n_outputs).with_init(init)),
            UnitKind::Product => Box::new(Product::new(n_inputs, n_outputs)),
            UnitKind::Linear => Box::new(Linear::new(n_inputs, n_outputs)),
            UnitKind::Nac => Box::new(Nalu::nac(n_inputs, n_outputs).with_init(init)),
            UnitKind::NacMul => Box::new(Nalu::nac_mul(n_inputs, n_outputs).with_init(init)),
            UnitKind::Nalu => Box::new(Nalu::new(n_inputs, n_outputs).with_init(init)),
            UnitKind::Inalu => Box::new(Inalu::new(n_inputs, n_outputs)),
            UnitKind::Npu => Box::new(Npu::new(n_inputs, n_outputs)),
            UnitKind::RealNpu => Box::new(RealNpu::new(n_inputs, n_outputs)),
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UnitKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim();
        UnitKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let names: Vec<&str> = UnitKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown unit '{}': valid names are {}",
                    wanted.escape_debug(),
                    names.join(", ")
                )
            })
    }
}

/// Why a [`Stack`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// The model has no inputs.
    #[error("the model needs at least one input")]
    NoInputs,
    /// No unit layer was given.
    #[error("a unit model needs at least one layer, e.g. nau,nmu")]
    NoLayers,
    /// Layers and hidden widths do not match.
    #[error(
        "{layers} unit layer(s) need {} hidden width(s) between them, not {hidden}: e.g. nau,nmu with hidden 2",
        layers - 1
    )]
    WidthCount {
        /// Unit layers given.
        layers: usize,
        /// Hidden widths given.
        hidden: usize,
    },
    /// A hidden width is zero.
    #[error("hidden layer {layer} has 0 units: give every layer at least 1")]
    EmptyLayer {
        /// 1-based layer number.
        layer: usize,
    },
    /// The parameter count overflows.
    #[error(
        "the model has more parameters than can be counted: use fewer inputs or narrower layers"
    )]
    TooManyParameters,
}

/// Unit layers chained: layer `l` maps the widths `[n_inputs, hidden…, 1][l] → [l + 1]`, its
/// parameters following the previous layer's in the flat buffer.
#[derive(Debug)]
pub struct Stack {
    n_inputs: usize,
    kinds: Vec<UnitKind>,
    layers: Vec<Box<dyn Layer>>,
    offsets: Vec<usize>,
    n_params: usize,
}

impl Stack {
    /// `kinds[l]` for layer `l`, with `hidden` the widths between layers (one fewer than kinds);
    /// the last layer has one output.
    pub fn new(n_inputs: usize, kinds: &[UnitKind], hidden: &[usize]) -> Result<Stack, StackError> {
        Stack::with_init(n_inputs, kinds, hidden, UnitInit::Own)
    }

    /// Like [`Stack::new`], drawing NAC+, NAC• and NALU weights as `init` says.
    pub fn with_init(
        n_inputs: usize,
        kinds: &[UnitKind],
        hidden: &[usize],
        init: UnitInit,
    ) -> Result<Stack, StackError> {
        Stack::with_outputs(n_inputs, kinds, hidden, init, 1)
    }

    /// Like [`Stack::with_init`], with `n_outputs` units in the last layer: a target of several
    /// outputs trained jointly, as the NPU paper trains one network on +, ×, ÷ and √.
    ///
    /// ```
    /// use logexp::model::{Network, Stack, UnitInit, UnitKind};
    /// let net = Stack::with_outputs(2, &[UnitKind::Npu, UnitKind::Nau], &[6], UnitInit::Own, 4)
    ///     .unwrap();
    /// assert_eq!((net.n_inputs(), net.n_outputs()), (2, 4));
    /// ```
    pub fn with_outputs(
        n_inputs: usize,
        kinds: &[UnitKind],
        hidden: &[usize],
        init: UnitInit,
        n_outputs: usize,
    ) -> Result<Stack, StackError> {
        if n_inputs == 0 {
            return Err(StackError::NoInputs);
        }
        if kinds.is_empty() {
            return Err(StackError::NoLayers);
        }
        if hidden.len() + 1 != kinds.len() {
            return Err(StackError::WidthCount {
                layers: kinds.len(),
                hidden: hidden.len(),
            });
        }
        if let Some(i) = hidden.iter().position(|&w| w == 0) {
            return Err(StackError::EmptyLayer { layer: i + 1 });
        }
        // Parameter counts of every kind are at most a small multiple of inputs × outputs;
        // check that product before building anything.
        let widths: Vec<usize> = std::iter::once(n_inputs)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(n_outputs.max(1)))
            .collect();
        for pair in widths.windows(2) {
            let size = pair[0]
                .checked_mul(pair[1])
                .and_then(|s| s.checked_mul(8))
                .ok_or(StackError::TooManyParameters)?;
            if size > isize::MAX as usize / 64 {
                return Err(StackError::TooManyParameters);
            }
        }
        let mut layers = Vec::with_capacity(kinds.len());
        let mut offsets = Vec::with_capacity(kinds.len());
        let mut n_params: usize = 0;
        for (kind, pair) in kinds.iter().zip(widths.windows(2)) {
            let layer = kind.layer_with_init(pair[0], pair[1], init);
            offsets.push(n_params);
            n_params = n_params
                .checked_add(layer.n_params())
                .ok_or(StackError::TooManyParameters)?;
            layers.push(layer);
        }
        if n_params > isize::MAX as usize / std::mem::size_of::<f32>() {
            return Err(StackError::TooManyParameters);
        }
        Ok(Stack {
            n_inputs,
            kinds: kinds.to_vec(),
            layers,
            offsets,
            n_params,
        })
    }

    /// The kinds of the layers, first to last.
    pub fn kinds(&self) -> &[UnitKind] {
        &self.kinds
    }

    /// The layers, first to last, with the offset of each one's parameters.
    pub fn layers(&self) -> impl Iterator<Item = (&dyn Layer, usize)> {
        self.layers
            .iter()
            .map(|l| l.as_ref())
            .zip(self.offsets.iter().copied())
    }

    fn slice<'p>(&self, l: usize, params: &'p [f32]) -> &'p [f32] {
        &params[self.offsets[l]..self.offsets[l] + self.layers[l].n_params()]
    }
}

/// Scratch for a [`Stack`]: each layer's outputs and kept values, and two gradient buffers.
#[derive(Debug, Clone)]
pub struct StackWorkspace {
    capacity: usize,
    outs: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
    d_a: Vec<f32>,
    d_b: Vec<f32>,
}

impl Network for Stack {
    type Workspace = StackWorkspace;

    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_params(&self) -> usize {
        self.n_params
    }

    fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].n_outputs()
    }

    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        assert_eq!(params.len(), self.n_params, "parameter buffer size");
        for (l, layer) in self.layers.iter().enumerate() {
            let end = self.offsets[l] + layer.n_params();
            layer.init_params(rng, &mut params[self.offsets[l]..end]);
        }
    }

    fn workspace(&self, capacity: usize) -> StackWorkspace {
        let capacity = padded(capacity.max(1));
        let widest = self
            .layers
            .iter()
            .map(|l| l.n_inputs().max(l.n_outputs()))
            .max()
            .unwrap_or(1);
        StackWorkspace {
            capacity,
            outs: self
                .layers
                .iter()
                .map(|l| vec![0.0; l.n_outputs() * capacity])
                .collect(),
            scratch: self
                .layers
                .iter()
                .map(|l| vec![0.0; l.scratch_per_row() * capacity])
                .collect(),
            d_a: vec![0.0; widest * capacity],
            d_b: vec![0.0; widest * capacity],
        }
    }

    fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut StackWorkspace,
        out: &mut [f32],
    ) {
        let stride = padded(n);
        assert!(
            stride <= ws.capacity,
            "batch of {n} exceeds workspace capacity"
        );
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.outs.split_at_mut(l);
            let input: &[f32] = if l == 0 {
                &x[..layer.n_inputs() * stride]
            } else {
                &before[l - 1][..layer.n_inputs() * stride]
            };
            layer.forward(
                self.slice(l, params),
                input,
                n,
                stride,
                &mut ws.scratch[l][..layer.scratch_per_row() * stride],
                &mut rest[0][..layer.n_outputs() * stride],
            );
        }
        copy_outputs(
            &ws.outs[self.layers.len() - 1],
            self.n_outputs(),
            n,
            stride,
            out,
        );
    }

    fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut StackWorkspace,
        d_out: &[f32],
        grad: &mut [f32],
    ) {
        let stride = padded(n);
        load_output_gradient(d_out, self.n_outputs(), n, stride, &mut ws.d_a);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let input: &[f32] = if l == 0 {
                &x[..layer.n_inputs() * stride]
            } else {
                &ws.outs[l - 1][..layer.n_inputs() * stride]
            };
            let d_x = (l > 0).then(|| &mut ws.d_b[..layer.n_inputs() * stride]);
            let end = self.offsets[l] + layer.n_params();
            layer.backward(
                self.slice(l, params),
                input,
                n,
                stride,
                &ws.scratch[l][..layer.scratch_per_row() * stride],
                &ws.outs[l][..layer.n_outputs() * stride],
                &ws.d_a[..layer.n_outputs() * stride],
                &mut grad[self.offsets[l]..end],
                d_x,
            );
            std::mem::swap(&mut ws.d_a, &mut ws.d_b);
        }
    }

    fn reinit(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        for (l, layer) in self.layers.iter().enumerate() {
            let end = self.offsets[l] + layer.n_params();
            layer.reinit(rng, &mut params[self.offsets[l]..end]);
        }
    }

    fn sparsity_error(&self, params: &[f32]) -> Option<f64> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(l, layer)| layer.sparsity_error(self.slice(l, params)))
            .reduce(f64::max)
    }

    fn project(&self, params: &mut [f32]) {
        for (l, layer) in self.layers.iter().enumerate() {
            let end = self.offsets[l] + layer.n_params();
            layer.project(&mut params[self.offsets[l]..end]);
        }
    }

    fn regularize(&self, params: &[f32], lambda: f32, grad: &mut [f32]) -> f64 {
        let mut total = 0.0;
        for (l, layer) in self.layers.iter().enumerate() {
            let range = self.offsets[l]..self.offsets[l] + layer.n_params();
            total += layer.regularize(&params[range.clone()], lambda, &mut grad[range]);
        }
        total
    }

    /// Every layer's gates, moved to the layer's place in the buffer.
    fn gates(&self) -> Vec<std::ops::Range<usize>> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(l, layer)| {
                let offset = self.offsets[l];
                layer
                    .gates()
                    .into_iter()
                    .map(move |r| offset + r.start..offset + r.end)
            })
            .collect()
    }

    /// `layer{l}.{name}` for every block of every layer, first layer first.
    fn param_blocks(&self) -> Vec<ParamBlock> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(l, layer)| {
                let offset = self.offsets[l];
                layer.param_blocks().into_iter().map(move |b| ParamBlock {
                    name: format!("layer{l}.{}", b.name),
                    offset: offset + b.offset,
                    shape: b.shape,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// NAU → iNALU → NALU on 3 inputs, hidden 2, 2 (by hand: NAU 3·2 = 6 parameters, then
    /// iNALU 2 → 2 with four 2 × 2 blocks and its 2 gates at 6 + 16 = 22..24, then NALU 2 → 1
    /// with two 1 × 2 weight blocks and its 1 × 2 gate at 24 + 4 = 28..30).
    #[test]
    fn the_gates_of_every_layer_are_found_in_the_buffer() {
        use UnitKind::*;
        let net = Stack::new(3, &[Nau, Inalu, Nalu], &[2, 2]).unwrap();
        assert_eq!(net.n_params(), 30);
        assert_eq!(net.gates(), [22..24, 28..30]);
        let gates: Vec<String> = net
            .param_blocks()
            .into_iter()
            .filter(|b| net.gates().contains(&(b.offset..b.offset + b.len())))
            .map(|b| b.name)
            .collect();
        assert_eq!(gates, ["layer1.g", "layer2.g"]);
        assert!(Stack::new(2, &[Nau, Nmu], &[2]).unwrap().gates().is_empty());
        let npu = Stack::new(2, &[Npu, Nau], &[3]).unwrap();
        // NPU 2 → 3: 6 real and 6 imaginary weights, then its 2 relevance gates.
        let gate = 12..14;
        assert_eq!(npu.gates(), [gate]);
    }

    #[test]
    fn shapes_are_checked() {
        use UnitKind::Nau;
        assert_eq!(
            Stack::new(0, &[Nau], &[]).unwrap_err(),
            StackError::NoInputs
        );
        assert_eq!(Stack::new(2, &[], &[]).unwrap_err(), StackError::NoLayers);
        assert!(matches!(
            Stack::new(2, &[Nau, Nau], &[]).unwrap_err(),
            StackError::WidthCount {
                layers: 2,
                hidden: 0
            }
        ));
        assert_eq!(
            Stack::new(2, &[Nau, Nau], &[0]).unwrap_err(),
            StackError::EmptyLayer { layer: 1 }
        );
        assert_eq!(
            Stack::new(usize::MAX, &[Nau, Nau], &[3]).unwrap_err(),
            StackError::TooManyParameters
        );
    }

    #[test]
    fn two_linear_layers_compose_and_back_propagate() {
        // NAU(2 → 2) then NAU(2 → 1): y = v · (W x), written out by hand.
        let net = Stack::new(2, &[UnitKind::Nau, UnitKind::Nau], &[2]).unwrap();
        let params = [0.5f32, -0.25, 1.0, 0.75, 0.5, -1.0];
        let n = 3;
        let stride = padded(n);
        let rows = [[1.0f32, 2.0], [3.0, -1.0], [0.5, 0.5]];
        let mut x = vec![0.0f32; 2 * stride];
        for (b, r) in rows.iter().enumerate() {
            x[b] = r[0];
            x[stride + b] = r[1];
        }
        let mut ws = net.workspace(n);
        let mut out = [0.0f32; 3];
        net.forward(&params, &x, n, &mut ws, &mut out);
        for (b, r) in rows.iter().enumerate() {
            let h0 = 0.5 * r[0] - 0.25 * r[1];
            let h1 = 1.0 * r[0] + 0.75 * r[1];
            assert_eq!(out[b], 0.5 * h0 - h1, "row {b}");
        }
        // d/dv0 = Σ_b d_out[b] · h0[b]; d/dW00 = Σ_b d_out[b] · v0 · x0[b].
        let d_out = [1.0f32, -2.0, 0.5];
        let mut grad = vec![0.0f32; 6];
        net.backward(&params, &x, n, &mut ws, &d_out, &mut grad);
        let (mut dv0, mut dw00) = (0.0f32, 0.0f32);
        for (b, r) in rows.iter().enumerate() {
            dv0 += d_out[b] * (0.5 * r[0] - 0.25 * r[1]);
            dw00 += d_out[b] * 0.5 * r[0];
        }
        assert!((grad[4] - dv0).abs() < 1e-5, "{} vs {dv0}", grad[4]);
        assert!((grad[0] - dw00).abs() < 1e-5, "{} vs {dw00}", grad[0]);
    }

    #[test]
    fn blocks_are_prefixed_and_tile_the_buffer() {
        let net = Stack::new(3, &[UnitKind::Nau, UnitKind::Nau], &[2]).unwrap();
        let blocks = net.param_blocks();
        let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["layer0.weight", "layer1.weight"]);
        assert_eq!((blocks[1].offset, blocks[1].shape.clone()), (6, vec![1, 2]));
        let mut params = vec![0.0; net.n_params()];
        net.init_params(&mut ChaCha8Rng::seed_from_u64(0), &mut params);
        assert!(params.iter().all(|w| w.abs() <= 0.5 && *w != 0.0));
    }

    #[test]
    fn unit_names_parse_and_unknown_ones_list_the_valid_names() {
        for kind in UnitKind::ALL {
            assert_eq!(kind.name().parse::<UnitKind>().unwrap(), kind);
        }
        let err = "nmx".parse::<UnitKind>().unwrap_err();
        assert!(err.contains("valid names are nau"), "{err}");
    }
}
