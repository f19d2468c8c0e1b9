//! # logexp
//!
//! Learning multiplicative relations with neural networks: a Rust implementation of
//! "Estimating Multiplicative Relations in Neural Networks" (Goel), whose *symmetric logarithm*
//! and *symmetric exponential* activations let a shallow dense network turn products of its
//! inputs into sums of logarithms and back, so that it keeps predicting far outside the range it
//! was trained on.
//!
//! The library holds every decision; the `logexp` binary only parses arguments and prints.
//!
//! ```
//! use logexp::experiment::{run, Pair, RunSpec};
//! // The paper's protocol, shortened so the example runs quickly.
//! let spec = RunSpec { epochs: 5, n_train: 1000, ..RunSpec::paper("x1*x2/10", Pair::lg()) };
//! let record = run(&spec).unwrap();
//! println!("test % error: {:?}", record.test_pct_err);
//! ```
//!
//! ## What logexp is not
//!
//! It is not a general deep-learning framework: its models are the tiny networks of the paper
//! (and their peers), trained on the CPU with hand-written forward and backward passes that are
//! fast precisely because they are small. For large models use a framework such as burn or
//! candle.
//!
//! ## Modules
//!
//! - [`activation`]: symlog, symexp and the 11 Keras activations, with exact derivatives.
//! - [`expr`]: target expressions such as `x1*(x2+x3)+x4`.
//! - [`data`]: datasets and the paper's uniform sampling.
//! - [`model`]: the [`model::Network`] trait, the model spec and its presets, the paper's dense
//!   network and the peers' units (NAC, NALU, NAU, NMU, iNALU, NPU, RealNPU, product units).
//! - [`optim`]: Adam with Keras's defaults, RMSProp as TF 1.
//! - [`isa`]: the one place that chooses the instruction set (AVX2 or baseline).
//! - [`fpenv`]: subnormals flushed to zero during training and prediction, as TensorFlow does.
//! - [`train`]: the fit loop and its options (regulariser schedule, clipping, projection,
//!   fresh rows, restarts on a plateau), loss history and divergence detection.
//! - [`metrics`]: MAE and the paper's mean percentage error.
//! - [`experiment`]: run specs and records.
//! - [`results`]: results files: reading, locking, appending and repairing them safely.
//! - [`table`]: CSV tables of the user's measurements, read by column name.
//! - [`fit`]: fitting a model on a table with validation that measures extrapolation, and
//!   streaming predictions.
//! - [`modelfile`]: saving and loading fitted models as safetensors.
//! - [`explain`]: the relation a unit model learned, as a formula.
//! - [`error`]: the error type.

pub mod activation;
pub mod data;
pub mod error;
pub mod experiment;
pub mod explain;
pub mod expr;
pub mod fastmath;
pub mod fit;
pub mod fpenv;
pub mod isa;
pub mod metrics;
pub mod model;
pub mod modelfile;
pub mod optim;
pub mod output;
pub mod peers;
pub mod plot;
pub mod protocol;
pub mod recipe;
pub mod report;
pub mod reproduce;
pub mod results;
pub mod scaling;
pub mod study;
pub mod sweep;
pub mod table;
#[cfg(test)]
mod test_dir;
pub mod train;

pub use error::Error;
