//! logexp: learning multiplicative relations with neural networks.
pub mod expr;
