//! Error measures in `f64`: MAE and the paper's mean percentage error (eq. 3).

use crate::data::Dataset;
use crate::model::Network;
use serde::{Deserialize, Serialize};

/// Rows predicted per forward call when evaluating: large enough to amortise the per-call
/// overhead, small enough to keep the workspace in L1/L2.
pub const EVAL_BATCH: usize = 256;

/// Mean absolute error `1/n Σ |ŷ − y|`.
pub fn mae(predictions: &[f32], targets: &[f64]) -> f64 {
    assert_eq!(predictions.len(), targets.len());
    let sum: f64 = predictions
        .iter()
        .zip(targets)
        .map(|(&p, &y)| (f64::from(p) - y).abs())
        .sum();
    sum / targets.len() as f64
}

/// Mean percentage error, paper eq. 3: `100/n Σ |ŷ − y| / |y|`. Infinite if some `y` is 0.
pub fn mean_pct_error(predictions: &[f32], targets: &[f64]) -> f64 {
    assert_eq!(predictions.len(), targets.len());
    let sum: f64 = predictions
        .iter()
        .zip(targets)
        .map(|(&p, &y)| (f64::from(p) - y).abs() / y.abs())
        .sum();
    100.0 * sum / targets.len() as f64
}

/// How well a model fits one dataset. A field is `None` when it is not finite (a prediction
/// overflowed), which is a result to report, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean absolute error.
    pub mae: Option<f64>,
    /// Mean percentage error (paper eq. 3).
    pub pct_err: Option<f64>,
}

/// Predicts every row of `data` with `params` (with AVX2 where the CPU has it; the results are
/// the same bits either way).
pub fn predict<N: Network>(net: &N, params: &[f32], data: &Dataset) -> Vec<f32> {
    let _flush = crate::fpenv::FlushSubnormals::new();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { predict_avx2(net, params, data) };
    }
    predict_body(net, params, data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn predict_avx2<N: Network>(net: &N, params: &[f32], data: &Dataset) -> Vec<f32> {
    predict_body(net, params, data)
}

#[inline(always)]
fn predict_body<N: Network>(net: &N, params: &[f32], data: &Dataset) -> Vec<f32> {
    let mut ws = net.workspace(EVAL_BATCH);
    let mut x = vec![0.0f32; EVAL_BATCH * data.n_features()];
    let mut out = vec![0.0f32; data.len()];
    let mut start = 0;
    while start < data.len() {
        let n = EVAL_BATCH.min(data.len() - start);
        data.gather_range(start, n, &mut x);
        net.forward(params, &x, n, &mut ws, &mut out[start..]);
        start += n;
    }
    out
}

/// MAE and percentage error of the model on `data`.
pub fn score<N: Network>(net: &N, params: &[f32], data: &Dataset) -> Scores {
    let predictions = predict(net, params, data);
    let finite = |v: f64| v.is_finite().then_some(v);
    Scores {
        mae: finite(mae(&predictions, data.targets())),
        pct_err: finite(mean_pct_error(&predictions, data.targets())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mae_and_pct_error_by_hand() {
        let pred = [110.0f32, 45.0, -10.0];
        let y = [100.0, 50.0, 10.0];
        // |10| + |5| + |20| = 35 -> 35/3
        assert!((mae(&pred, &y) - 35.0 / 3.0).abs() < 1e-12);
        // 10% + 10% + 200% -> 220/3
        assert!((mean_pct_error(&pred, &y) - 220.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_zero_target_makes_pct_error_infinite() {
        assert!(mean_pct_error(&[1.0], &[0.0]).is_infinite());
    }
}
