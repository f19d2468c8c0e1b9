//! Models: the [`Network`] trait the trainer sees, the paper's dense network ([`dense`]) and the
//! shared kernels ([`kernels`]).
//!
//! Every model keeps all its parameters in one flat `f32` slice owned by the caller, so the
//! optimizer, gradient checks and serialization see a single buffer. Scratch memory lives in a
//! workspace created once per run: the forward and backward passes allocate nothing.
//!
//! Batches are *feature-major* and padded: input feature `i` of sample `b` in a batch of `n`
//! rows lives at `i * padded(n) + b`, where [`padded`] rounds up to the SIMD width [`LANES`] and
//! the padding lanes hold zeros. Each feature's batch is contiguous, so the inner loops run over
//! the batch in blocks of 8 lanes held in registers and vectorise.

use rand_chacha::ChaCha8Rng;

pub mod dense;
pub mod inalu;
pub(crate) mod kernels;
pub mod layer;
pub mod linear;
pub mod loglinear;
pub mod nalu;
pub mod nau;
pub mod nmu;
pub mod npu;
pub mod product;
pub mod spec;
pub mod stack;

pub use dense::{Dense, DenseWorkspace, ShapeError};
pub use layer::Layer;
pub use stack::{Stack, StackError, StackWorkspace, UnitInit, UnitKind};

/// A differentiable model with a flat parameter vector: what the trainer needs and nothing more.
///
/// Peer units (NMU, NALU, …) implement this trait beside [`Dense`], so training, metrics and
/// records never assume a dense net.
pub trait Network {
    /// Scratch buffers for a batch of at most `capacity` rows.
    type Workspace;

    /// Number of input features.
    fn n_inputs(&self) -> usize;
    /// Number of outputs: 1, or one per expression of a jointly trained target.
    fn n_outputs(&self) -> usize {
        1
    }
    /// Number of parameters in the flat buffer.
    fn n_params(&self) -> usize;
    /// Writes initial parameters (drawn from `rng`) into `params`.
    fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]);
    /// Allocates scratch for batches of up to `capacity` rows.
    fn workspace(&self, capacity: usize) -> Self::Workspace;
    /// Predicts the `n` rows of the feature-major batch `x` (row stride [`padded`]`(n)`,
    /// padding lanes zero) into `out[..n]`, keeping in `ws`
    /// what [`Network::backward`] needs. A network with several outputs writes them
    /// output-major like the inputs: output `o` of row `b` at `out[o * padded(n) + b]`.
    fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut Self::Workspace,
        out: &mut [f32],
    );
    /// Given `d_out` (the loss gradient with respect to each of the `n` predictions of the last
    /// [`Network::forward`] call with this workspace, laid out as `forward`'s `out`), overwrites
    /// `grad` with the gradient with respect to every parameter.
    fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut Self::Workspace,
        d_out: &[f32],
        grad: &mut [f32],
    );

    /// Parameters drawn afresh when training restarts on a plateau; the initialisation by
    /// default.
    fn reinit(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
        self.init_params(rng, params);
    }

    /// stable-nalu's sparsity error over the layers that have one ([`Layer::sparsity_error`]),
    /// the worst of them; `None` for networks without such layers.
    fn sparsity_error(&self, _params: &[f32]) -> Option<f64> {
        None
    }

    /// Projection after every optimiser step (NAU and NMU clamp their weights). Nothing by
    /// default.
    #[inline(always)]
    fn project(&self, _params: &mut [f32]) {}

    /// The model's regulariser `R(params)`, adding `lambda · ∂R/∂params` to `grad`; 0 and
    /// nothing added by default.
    #[inline(always)]
    fn regularize(&self, _params: &[f32], _lambda: f32, _grad: &mut [f32]) -> f64 {
        0.0
    }

    /// The ranges of the flat parameter buffer that are gates (NALU's and iNALU's `g`), in
    /// buffer order: an alternating schedule ([`crate::train::Alternate`]) updates them on its
    /// gate batches and every other parameter on its weight batches. None by default.
    fn gates(&self) -> Vec<std::ops::Range<usize>> {
        Vec::new()
    }

    /// The named blocks of the flat parameter buffer, in buffer order, covering it exactly:
    /// what reports print and what model files store one tensor each for. The default is one
    /// block, `params`, for networks without a finer structure.
    fn param_blocks(&self) -> Vec<ParamBlock> {
        vec![ParamBlock {
            name: "params".to_string(),
            offset: 0,
            shape: vec![self.n_params()],
        }]
    }
}

/// A named block of a network's flat parameter buffer: `shape` (row-major) starting at
/// `offset`.
///
/// ```
/// use logexp::activation::Activation::{Symexp, Symlog};
/// use logexp::model::{Dense, Network};
/// let net = Dense::new(2, &[16, 12], &[Symlog, Symexp]).unwrap();
/// let blocks = net.param_blocks();
/// assert_eq!(blocks[0].name, "layer0.weight");
/// assert_eq!(blocks[0].shape, vec![16, 2]);
/// assert_eq!(blocks.last().unwrap().name, "layer2.bias");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamBlock {
    /// Name, e.g. `layer0.weight` (unit-major: row `j` feeds unit `j`) or `layer0.bias`.
    pub name: String,
    /// Index of the block's first parameter in the flat buffer.
    pub offset: usize,
    /// Dimensions; their product is the block's length.
    pub shape: Vec<usize>,
}

impl ParamBlock {
    /// Number of parameters in the block.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the block holds no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SIMD width the kernels are written for: 8 `f32` lanes (one AVX register, two SSE registers).
/// Batches are padded to a multiple of it.
pub const LANES: usize = 8;

/// The row stride of a feature-major batch of `n` rows: `n` rounded up to [`LANES`].
#[inline(always)]
pub fn padded(n: usize) -> usize {
    n.next_multiple_of(LANES)
}

/// One SIMD register's worth of lanes.
pub(crate) type Lanes = [f32; LANES];
