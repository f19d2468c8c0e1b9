//! Scaling derived from the training rows before a network trains: targets divided by a
//! constant ([`TargetScale`]) and inputs multiplied by a factor per input ([`InputScale`]).
//! Both are the paper's normaliser N generalised: estimated from the training rows, never
//! from the test rows, and both are off in the paper's protocol.

use crate::data::Dataset;
use serde::{Deserialize, Serialize};

/// Whether a run divides its targets by a constant before training: the paper's normaliser N
/// (its functions carry /10, /100, /1000 so that targets stay small), estimated from the
/// training rows instead of written into the function.
///
/// The network is trained on `y / D` and predicts `D · output`; % errors are unchanged by the
/// shared factor and absolute errors are multiplied back by `|D|`, so records compare with
/// unscaled runs. Nothing looks at the test rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetScale {
    /// Train on the targets as they are (the paper's).
    #[default]
    None,
    /// `D` is the constant of the least-squares fit of ln|y| on ln|xᵢ| over the training rows
    /// (the `loglinear` model's `C` in `y ≈ C · Π xᵢ^aᵢ`, with its sign), so a product of
    /// powers is trained with constant 1; `D = 1` when that fit is impossible (targets of both
    /// signs or zero, a zero input, collinear inputs).
    Loglinear,
}

impl TargetScale {
    /// The divisor `D` for the training rows `train`.
    ///
    /// ```
    /// use logexp::data::Dataset;
    /// use logexp::experiment::TargetScale;
    /// // y = x1 · x2 / 1000 on three rows.
    /// let rows = Dataset::new(2, vec![10.0, 20.0, 30.0, 40.0, 50.0, 70.0], vec![0.2, 1.2, 3.5]);
    /// let d = TargetScale::Loglinear.divisor(&rows);
    /// assert!((d - 1e-3).abs() < 1e-8);
    /// assert_eq!(TargetScale::None.divisor(&rows), 1.0);
    /// ```
    pub fn divisor(self, train: &Dataset) -> f64 {
        match self {
            TargetScale::None => 1.0,
            TargetScale::Loglinear => {
                let n = train.n_features();
                match crate::model::loglinear::LogLinear::new(n).fit(train) {
                    Ok(p) => {
                        let d = f64::from(p[n + 1]) * f64::from(p[n]).exp();
                        if d.is_finite() && d != 0.0 { d } else { 1.0 }
                    }
                    Err(_) => 1.0,
                }
            }
        }
    }
}

impl std::str::FromStr for TargetScale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(TargetScale::None),
            "loglinear" => Ok(TargetScale::Loglinear),
            _ => Err(format!(
                "unknown target scale '{}': use none or loglinear",
                s.escape_debug()
            )),
        }
    }
}

/// The geometric mean of |xᵢ| that [`InputScale::Geometric`] gives each input over the
/// training rows. Close to that of the paper's training range [10, 100) (≈ 47.7), where
/// inputs sit in the symlog's logarithmic regime; chosen among 10, 50 and 300 by the lowest
/// worst median validation error of `lg-scaled-inputs` trained on [1, 2.5) and [10, 40) and
/// validated on [2.5, 5) and [40, 100), inside the training ranges (DESIGN.md, "Training
/// recipes").
pub const INPUT_GEOMETRIC_MEAN: f64 = 50.0;

/// Whether a run multiplies each input by a factor estimated from the training rows before
/// the network sees it. A symlog unit computes ln(1 + |w·x + b|), which is a product's
/// logarithm only where |w·x| ≫ 1: inputs in [1, 5) sit where it is not, and the network
/// must first learn large weights. Scaling the inputs moves them into the logarithmic regime.
///
/// Input `i` is multiplied by `mᵢ = G / gᵢ`, with `gᵢ` the geometric mean of its non-zero
/// |values| over the training rows and `G` = [`INPUT_GEOMETRIC_MEAN`]; the test rows are
/// multiplied by the same factors. Nothing looks at the test rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputScale {
    /// Train on the inputs as they are (the paper's).
    #[default]
    None,
    /// Each input scaled to the geometric mean |x| of [`INPUT_GEOMETRIC_MEAN`].
    Geometric,
}

impl InputScale {
    /// The factor per input for the training rows `train` (all 1 for `None`, and for an input
    /// that is zero on every row).
    ///
    /// ```
    /// use logexp::data::Dataset;
    /// use logexp::scaling::{InputScale, INPUT_GEOMETRIC_MEAN};
    /// // Input 1 is 1 and 4 (geometric mean 2); input 2 is always 500.
    /// let rows = Dataset::new(2, vec![1.0, 500.0, 4.0, 500.0], vec![500.0, 2000.0]);
    /// let m = InputScale::Geometric.multipliers(&rows);
    /// assert!((m[0] - INPUT_GEOMETRIC_MEAN / 2.0).abs() < 1e-9);
    /// assert!((m[1] - INPUT_GEOMETRIC_MEAN / 500.0).abs() < 1e-9);
    /// assert_eq!(InputScale::None.multipliers(&rows), vec![1.0, 1.0]);
    /// ```
    pub fn multipliers(self, train: &Dataset) -> Vec<f64> {
        let n = train.n_features();
        match self {
            InputScale::None => vec![1.0; n],
            InputScale::Geometric => (0..n)
                .map(|i| {
                    let (sum, count) = (0..train.len())
                        .map(|r| f64::from(train.row(r)[i]).abs())
                        .filter(|&x| x > 0.0 && x.is_finite())
                        .fold((0.0, 0usize), |(s, c), x| (s + x.ln(), c + 1));
                    if count == 0 {
                        return 1.0;
                    }
                    let factor = INPUT_GEOMETRIC_MEAN / (sum / count as f64).exp();
                    if factor.is_finite() && factor > 0.0 {
                        factor
                    } else {
                        1.0
                    }
                })
                .collect(),
        }
    }
}

impl std::str::FromStr for InputScale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(InputScale::None),
            "geometric" => Ok(InputScale::Geometric),
            _ => Err(format!(
                "unknown input scale '{}': use none or geometric",
                s.escape_debug()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_that_are_zero_or_absent_keep_factor_one() {
        // Input 1 is always 0; input 2 is 0 on one row and 8 on the other (geometric mean of
        // the non-zero values: 8).
        let rows = Dataset::new(2, vec![0.0, 0.0, 0.0, 8.0], vec![0.0, 0.0]);
        let m = InputScale::Geometric.multipliers(&rows);
        assert_eq!(m[0], 1.0);
        assert!((m[1] - INPUT_GEOMETRIC_MEAN / 8.0).abs() < 1e-12);
        assert_eq!("geometric".parse::<InputScale>(), Ok(InputScale::Geometric));
        assert!(
            "log"
                .parse::<InputScale>()
                .unwrap_err()
                .contains("none or geometric")
        );
    }
}
