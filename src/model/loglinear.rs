//! The closed-form baseline every table carries: `y = s · exp(c + Σᵢ wᵢ ln|xᵢ|)`, a product of
//! powers fitted by least squares of ln|y| on ln|xᵢ| and a constant — a product unit fitted
//! exactly, with no training. The sign `s` is the one sign of the training targets; data
//! whose targets take both signs (or are zero), or whose inputs touch zero, are refused: the
//! model cannot describe them.
//!
//! A neural unit earns its place where it beats this baseline: it recovers every pure product
//! of powers (`x1*x2/10`, `0.5*x1*x2^2`) to rounding error and fails on sums inside products.
//!
//! ```
//! use logexp::data::{Dataset, Range};
//! use logexp::expr::Expr;
//! use logexp::model::loglinear::LogLinear;
//! use logexp::model::Network;
//! let f = Expr::parse("x1*x2^2/10").unwrap();
//! let data = Dataset::sample(&f, 200, Range::new(1.0, 5.0).unwrap(), 0, 0).unwrap();
//! let model = LogLinear::new(2);
//! let params = model.fit(&data).unwrap();
//! // Exponents 1 and 2, constant ln(1/10), sign +1.
//! assert!((params[0] - 1.0).abs() < 1e-4 && (params[1] - 2.0).abs() < 1e-4);
//! assert!((params[2] - (0.1f32).ln()).abs() < 1e-4 && params[3] == 1.0);
//! ```

use super::{Network, ParamBlock, padded};
use crate::data::Dataset;
use rand_chacha::ChaCha8Rng;

/// The log-linear model on `n_inputs` inputs. Parameters: the exponents `weight` (`[n]`), the
/// constant `bias` (`[1]`), the sign `sign` (`[1]`, ±1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLinear {
    n_inputs: usize,
}

/// Why the baseline cannot be fitted to a training set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogLinearError {
    /// A target is zero or targets have both signs.
    #[error(
        "the targets are not all of one sign (data row {row} has {value}): a product of powers keeps one sign, so the log-linear baseline does not apply"
    )]
    MixedSign {
        /// 1-based row.
        row: usize,
        /// Its target.
        value: f64,
    },
    /// An input is zero, whose logarithm is −∞.
    #[error(
        "input {input} is 0 in data row {row}: the log-linear baseline needs inputs away from 0"
    )]
    ZeroInput {
        /// 1-based input.
        input: usize,
        /// 1-based row.
        row: usize,
    },
    /// The inputs' logarithms are collinear (or too few rows).
    #[error(
        "the inputs' logarithms are collinear (or there are fewer rows than inputs + 1), so the exponents are not determined"
    )]
    Singular,
}

impl LogLinear {
    /// The baseline on `n_inputs` inputs.
    pub fn new(n_inputs: usize) -> LogLinear {
        LogLinear { n_inputs }
    }

    /// The least-squares fit of ln|y| on ln|xᵢ| and a constant over `data`, in `f64`, as the
    /// parameter buffer `[w₁ … wₙ, c, s]`.
    pub fn fit(&self, data: &Dataset) -> Result<Vec<f32>, LogLinearError> {
        let n = self.n_inputs;
        let k = n + 1;
        let targets = data.targets();
        let sign = targets.first().map_or(1.0, |y| y.signum());
        // Normal equations AᵀA β = Aᵀz with A = [ln|x| …, 1], z = ln|y|.
        let mut ata = vec![0.0f64; k * k];
        let mut atz = vec![0.0f64; k];
        let mut row_logs = vec![0.0f64; k];
        for (r, &y) in targets.iter().enumerate() {
            if y == 0.0 || y.signum() != sign || !y.is_finite() {
                return Err(LogLinearError::MixedSign {
                    row: r + 1,
                    value: y,
                });
            }
            for (i, &x) in data.row(r).iter().enumerate() {
                if x == 0.0 {
                    return Err(LogLinearError::ZeroInput {
                        input: i + 1,
                        row: r + 1,
                    });
                }
                row_logs[i] = f64::from(x).abs().ln();
            }
            row_logs[n] = 1.0;
            let z = y.abs().ln();
            for a in 0..k {
                atz[a] += row_logs[a] * z;
                for b in 0..k {
                    ata[a * k + b] += row_logs[a] * row_logs[b];
                }
            }
        }
        let beta = solve(&mut ata, &mut atz, k).ok_or(LogLinearError::Singular)?;
        let mut params: Vec<f32> = beta.iter().map(|&b| b as f32).collect();
        params.push(sign as f32);
        Ok(params)
    }
}

/// Solves `a x = b` (`k × k`, row-major) by Gaussian elimination with partial pivoting;
/// `None` if the matrix is singular to working precision.
fn solve(a: &mut [f64], b: &mut [f64], k: usize) -> Option<Vec<f64>> {
    let scale = a
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for col in 0..k {
        let pivot =
            (col..k).max_by(|&p, &q| a[p * k + col].abs().total_cmp(&a[q * k + col].abs()))?;
        if a[pivot * k + col].abs() <= 1e-12 * scale {
            return None;
        }
        if pivot != col {
            for j in 0..k {
                a.swap(pivot * k + j, col * k + j);
            }
            b.swap(pivot, col);
        }
        for row in col + 1..k {
            let factor = a[row * k + col] / a[col * k + col];
            for j in col..k {
                a[row * k + j] -= factor * a[col * k + j];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0f64; k];
    for row in (0..k).rev() {
        let tail: f64 = (row + 1..k).map(|j| a[row * k + j] * x[j]).sum();
        x[row] = (b[row] - tail) / a[row * k + row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

impl Network for LogLinear {
    type Workspace = ();

    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_params(&self) -> usize {
        self.n_inputs + 2
    }

    /// Exponents 0, constant 0, sign +1: the constant 1, until [`LogLinear::fit`] runs.
    fn init_params(&self, _rng: &mut ChaCha8Rng, params: &mut [f32]) {
        params.fill(0.0);
        params[self.n_inputs + 1] = 1.0;
    }

    fn workspace(&self, _capacity: usize) {}

    fn forward(&self, params: &[f32], x: &[f32], n: usize, _ws: &mut (), out: &mut [f32]) {
        let stride = padded(n);
        let (w, c, s) = (
            &params[..self.n_inputs],
            params[self.n_inputs],
            params[self.n_inputs + 1],
        );
        for (b, o) in out[..n].iter_mut().enumerate() {
            let mut log = c;
            for (i, &wi) in w.iter().enumerate() {
                log += wi * x[i * stride + b].abs().ln();
            }
            *o = s * log.exp();
        }
    }

    /// The gradient of the fitted form (the sign gets none); the baseline is fitted in closed
    /// form, so this serves gradient checks and anyone who wants to fine-tune it.
    fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        ws: &mut (),
        d_out: &[f32],
        grad: &mut [f32],
    ) {
        let stride = padded(n);
        let _ = ws;
        grad.fill(0.0);
        let (w, c, sign) = (
            &params[..self.n_inputs],
            params[self.n_inputs],
            params[self.n_inputs + 1],
        );
        for b in 0..n {
            let mut log = c;
            for (i, &wi) in w.iter().enumerate() {
                log += wi * x[i * stride + b].abs().ln();
            }
            // ∂y/∂wᵢ = y ln|xᵢ|, ∂y/∂c = y.
            let y = sign * log.exp();
            for i in 0..self.n_inputs {
                grad[i] += d_out[b] * y * x[i * stride + b].abs().ln();
            }
            grad[self.n_inputs] += d_out[b] * y;
        }
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        vec![
            ParamBlock {
                name: "weight".into(),
                offset: 0,
                shape: vec![self.n_inputs],
            },
            ParamBlock {
                name: "bias".into(),
                offset: self.n_inputs,
                shape: vec![1],
            },
            ParamBlock {
                name: "sign".into(),
                offset: self.n_inputs + 1,
                shape: vec![1],
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Range;
    use crate::expr::Expr;

    fn data(f: &str, low: f64, high: f64) -> Dataset {
        Dataset::sample(
            &Expr::parse(f).unwrap(),
            300,
            Range::new(low, high).unwrap(),
            3,
            0,
        )
        .unwrap()
    }

    #[test]
    fn pure_products_of_powers_are_recovered_and_predicted_outside_the_range() {
        // 0.5 · x1 · x2⁻² · x3^0.5 on [1, 5): exponents 1, −2, 0.5, constant ln 0.5.
        let model = LogLinear::new(3);
        let params = model.fit(&data("0.5*x1/x2^2*x3^0.5", 1.0, 5.0)).unwrap();
        for (got, want) in params.iter().zip([1.0f32, -2.0, 0.5, 0.5f32.ln(), 1.0]) {
            assert!((got - want).abs() < 1e-4, "{params:?}");
        }
        // At x = (10, 4, 16): 0.5 · 10 / 16 · 4 = 1.25.
        let stride = padded(1);
        let mut x = vec![0.0f32; 3 * stride];
        x[0] = 10.0;
        x[stride] = 4.0;
        x[2 * stride] = 16.0;
        let mut out = [0.0f32];
        model.forward(&params, &x, 1, &mut (), &mut out);
        assert!((out[0] - 1.25).abs() < 1e-4, "{}", out[0]);
    }

    #[test]
    fn negative_targets_of_one_sign_keep_their_sign() {
        let params = LogLinear::new(2).fit(&data("-3*x1*x2", 1.0, 2.0)).unwrap();
        assert_eq!(params[3], -1.0);
        assert!((params[2] - 3f32.ln()).abs() < 1e-4);
    }

    #[test]
    fn data_it_cannot_describe_are_refused_with_the_reason() {
        let mixed = LogLinear::new(1).fit(&data("x1", -1.0, 1.0)).unwrap_err();
        assert!(matches!(mixed, LogLinearError::MixedSign { .. }), "{mixed}");
        // Two identical inputs: their exponents are not determined.
        let dup = Dataset::new(2, vec![2.0, 2.0, 3.0, 3.0, 5.0, 5.0], vec![4.0, 9.0, 25.0]);
        assert_eq!(
            LogLinear::new(2).fit(&dup).unwrap_err(),
            LogLinearError::Singular
        );
        let zero = Dataset::new(1, vec![0.0, 1.0], vec![1.0, 2.0]);
        assert!(matches!(
            LogLinear::new(1).fit(&zero).unwrap_err(),
            LogLinearError::ZeroInput { input: 1, row: 1 }
        ));
    }

    #[test]
    fn sums_inside_products_are_beyond_it() {
        // x1·(x2 + x3) trained on [1, 5): the best product of powers misses outside.
        let model = LogLinear::new(3);
        let params = model.fit(&data("x1*(x2+x3)", 1.0, 5.0)).unwrap();
        let test = data("x1*(x2+x3)", 5.0, 21.0);
        let pct = crate::metrics::score(&model, &params, &test)
            .pct_err
            .unwrap();
        assert!(pct > 1.0, "{pct}");
    }
}
