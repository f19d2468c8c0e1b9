//! Error measures in `f64`: MAE and the paper's mean percentage error (eq. 3).

use crate::data::Dataset;
use crate::model::Network;
use serde::{Deserialize, Serialize};

/// Rows predicted per forward call when evaluating: large enough to amortise the per-call
/// overhead, small enough to keep the workspace in L1/L2.
pub const EVAL_BATCH: usize = 256;

/// τ, the test (extrapolation) % error at or below which a run counts as a success, or as
/// solved ([`crate::experiment::RunRecord::solved_at_epoch`]): 1 %.
pub const SUCCESS_PCT: f64 = 1.0;

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

/// Mean squared error `1/n Σ (ŷ − y)²`, the peers' measure (stable-nalu, iNALU).
pub fn mse(predictions: &[f32], targets: &[f64]) -> f64 {
    assert_eq!(predictions.len(), targets.len());
    let sum: f64 = predictions
        .iter()
        .zip(targets)
        .map(|(&p, &y)| (f64::from(p) - y).powi(2))
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
    if crate::isa::avx2() {
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

/// Predictions row-major, as the dataset keeps its targets: output `o` of row `r` at
/// `r * n_outputs + o` (so one value per row for one output).
#[inline(always)]
fn predict_body<N: Network>(net: &N, params: &[f32], data: &Dataset) -> Vec<f32> {
    let k = net.n_outputs();
    let mut ws = net.workspace(EVAL_BATCH);
    let mut x = vec![0.0f32; EVAL_BATCH * data.n_features()];
    let mut out = vec![0.0f32; data.len() * k];
    // Several outputs arrive output-major per chunk and are interleaved into `out`.
    let mut batch = vec![
        0.0f32;
        if k > 1 {
            k * crate::model::padded(EVAL_BATCH)
        } else {
            0
        }
    ];
    let mut start = 0;
    while start < data.len() {
        let n = EVAL_BATCH.min(data.len() - start);
        data.gather_range(start, n, &mut x);
        if k == 1 {
            net.forward(params, &x, n, &mut ws, &mut out[start..]);
        } else {
            net.forward(params, &x, n, &mut ws, &mut batch);
            let stride = crate::model::padded(n);
            for (b, row) in out[start * k..(start + n) * k]
                .chunks_exact_mut(k)
                .enumerate()
            {
                for (o, v) in row.iter_mut().enumerate() {
                    *v = batch[o * stride + b];
                }
            }
        }
        start += n;
    }
    out
}

/// The values of output `o` of `k` in a row-major buffer of predictions or targets.
pub fn output_column<T: Copy>(values: &[T], k: usize, o: usize) -> Vec<T> {
    values.iter().skip(o).step_by(k).copied().collect()
}

/// MAE and percentage error of each output of the model on `data` (one entry for a
/// single-output model, equal to [`score`]).
pub fn score_outputs<N: Network>(net: &N, params: &[f32], data: &Dataset) -> Vec<Scores> {
    let predictions = predict(net, params, data);
    let k = data.n_outputs();
    let finite = |v: f64| v.is_finite().then_some(v);
    (0..k)
        .map(|o| {
            let (p, y) = (
                output_column(&predictions, k, o),
                output_column(data.targets(), k, o),
            );
            Scores {
                mae: finite(mae(&p, &y)),
                pct_err: finite(mean_pct_error(&p, &y)),
            }
        })
        .collect()
}

/// MAE and percentage error of the model on `data` (over every output and row, for a
/// network of several outputs).
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
        // 100 + 25 + 400 = 525 -> 175
        assert_eq!(mse(&pred, &y), 175.0);
    }

    /// A 1 → 1 (linear) → 1 net computing `6x + 3.5` (params `[w1, b1, w2, b2] =
    /// [2, 1, 3, 0.5]`), exact in `f32` for small integers.
    fn affine_net() -> (crate::model::Dense, [f32; 4]) {
        use crate::activation::Activation::Linear;
        let net = crate::model::Dense::new(1, &[1], &[Linear]).unwrap();
        (net, [2.0, 1.0, 3.0, 0.5])
    }

    /// More rows than one evaluation chunk, and a partial last chunk: every row predicted, in
    /// order, on either instruction set.
    #[test]
    fn predict_covers_every_row_across_chunks() {
        let (net, params) = affine_net();
        for n in [1, EVAL_BATCH, 2 * EVAL_BATCH + 37] {
            let data = Dataset::new(1, (0..n).map(|r| r as f32).collect(), vec![0.0; n]);
            let expected: Vec<f32> = (0..n).map(|r| 6.0 * r as f32 + 3.5).collect();
            assert_eq!(predict(&net, &params, &data), expected, "n {n}");
            let _flush = crate::fpenv::FlushSubnormals::new();
            assert_eq!(
                predict_body(&net, &params, &data),
                expected,
                "baseline, n {n}"
            );
        }
    }

    /// 1e-19 · 1e-20 = 1e-39 is subnormal: prediction flushes it to 0 as TensorFlow does.
    #[test]
    fn several_outputs_are_predicted_row_major_across_chunks_and_scored_apart() {
        use crate::activation::Activation::Linear;
        // 1 → 1 (linear) → 2: h = 2x + 1, outputs 3h + 0.5 = 6x + 3.5 and −h = −2x − 1, exact
        // in f32 for small integers. Params: [w1, b1, w21, w22, b21, b22].
        let net = crate::model::Dense::with_outputs(1, &[1], &[Linear], 2).unwrap();
        let params = [2.0, 1.0, 3.0, -1.0, 0.5, 0.0];
        for n in [1, EVAL_BATCH, 2 * EVAL_BATCH + 37] {
            let x: Vec<f32> = (0..n).map(|r| r as f32).collect();
            // Targets off by 1 on the first output and exact on the second.
            let targets: Vec<f64> = (0..n)
                .flat_map(|r| [6.0 * r as f64 + 4.5, -2.0 * r as f64 - 1.0])
                .collect();
            let data = Dataset::with_outputs(1, 2, x, targets);
            let expected: Vec<f32> = (0..n)
                .flat_map(|r| [6.0 * r as f32 + 3.5, -2.0 * r as f32 - 1.0])
                .collect();
            assert_eq!(predict(&net, &params, &data), expected, "n {n}");
            let scores = score_outputs(&net, &params, &data);
            assert_eq!(scores.len(), 2);
            assert_eq!(scores[0].mae, Some(1.0), "n {n}");
            assert_eq!(scores[1].mae, Some(0.0), "n {n}");
            assert_eq!(score(&net, &params, &data).mae, Some(0.5), "n {n}");
        }
    }

    #[test]
    fn prediction_flushes_subnormals_to_zero() {
        let (net, _) = affine_net();
        let data = Dataset::new(1, vec![1e-20; 3], vec![1.0; 3]);
        let out = predict(&net, &[1e-19, 0.0, 1.0, 0.0], &data);
        assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), [0; 3]);
    }

    #[test]
    fn scores_are_none_when_not_finite() {
        let (net, _) = affine_net();
        let data = Dataset::new(1, vec![1.0, 2.0], vec![10.0, 19.0]);
        // 6x + 3.5 → 9.5 and 15.5: MAE (0.5 + 3.5) / 2, % error (5 % + 18.42… %) / 2.
        let scores = score(&net, &[2.0, 1.0, 3.0, 0.5], &data);
        assert_eq!(scores.mae, Some(2.0));
        let pct = (0.5 / 10.0 + 3.5 / 19.0) * 100.0 / 2.0;
        assert!((scores.pct_err.unwrap() - pct).abs() < 1e-12);
        // A huge output weight overflows every prediction.
        let scores = score(&net, &[2.0, 1.0, 3e38, 0.5], &data);
        assert_eq!(
            scores,
            Scores {
                mae: None,
                pct_err: None
            }
        );
        // A zero target makes the % error infinite but leaves MAE.
        let data = Dataset::new(1, vec![1.0], vec![0.0]);
        let scores = score(&net, &[2.0, 1.0, 3.0, 0.5], &data);
        assert_eq!(scores.mae, Some(9.5));
        assert_eq!(scores.pct_err, None);
    }

    #[test]
    fn a_zero_target_makes_pct_error_infinite() {
        assert!(mean_pct_error(&[1.0], &[0.0]).is_infinite());
    }
}
