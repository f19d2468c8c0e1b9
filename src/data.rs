//! Datasets: rows of `f32` inputs (records) with `f64` targets, and the paper's uniform sampler.

use crate::expr::Expr;
use crate::model::padded;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A half-open interval `[low, high)` that inputs are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Inclusive lower end.
    pub low: f64,
    /// Exclusive upper end.
    pub high: f64,
}

impl Range {
    /// The paper's training range, `[10, 100)`.
    pub const PAPER_TRAIN: Range = Range {
        low: 10.0,
        high: 100.0,
    };
    /// The paper's test (extrapolation) range, `[100, 1000)`.
    pub const PAPER_TEST: Range = Range {
        low: 100.0,
        high: 1000.0,
    };

    /// `[low, high)`, refusing empty, reversed and non-finite intervals, and intervals that the
    /// networks' `f32` inputs cannot represent.
    ///
    /// Inputs are drawn in `f64` and rounded to `f32`, so each end must be a finite `f32` that
    /// is zero or normal (subnormals are flushed to zero in training, as in TensorFlow), and the
    /// interval must hold at least two `f32` values: otherwise every input would be rounded
    /// out of the range the record claims.
    ///
    /// ```
    /// use logexp::data::Range;
    /// assert!(Range::new(10.0, 100.0).is_ok());
    /// assert!(Range::new(1e39, 1e40).is_err()); // beyond f32::MAX
    /// assert!(Range::new(1.00000001, 1.00000002).is_err()); // no f32 between the ends
    /// ```
    pub fn new(low: f64, high: f64) -> Result<Range, DataError> {
        if !(low.is_finite() && high.is_finite()) || low >= high {
            return Err(DataError::BadRange { low, high });
        }
        let unrepresentable = |reason: String| DataError::Unrepresentable { low, high, reason };
        for end in [low, high] {
            if end.abs() > f64::from(f32::MAX) {
                return Err(unrepresentable(format!(
                    "{end:?} is beyond the largest f32 ({:e})",
                    f32::MAX
                )));
            }
            if end != 0.0 && end.abs() < f64::from(f32::MIN_POSITIVE) {
                return Err(unrepresentable(format!(
                    "{end:?} is closer to zero than the smallest normal f32 ({:e}); use 0 or a larger end",
                    f32::MIN_POSITIVE
                )));
            }
        }
        let first = f32_at_or_above(low);
        if !(first.is_finite() && f64::from(first) < high && f64::from(first.next_up()) < high) {
            return Err(unrepresentable(
                "fewer than two f32 values lie between the ends; widen the range".to_string(),
            ));
        }
        Ok(Range { low, high })
    }

    /// Width of the interval.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.low, self.high)
    }
}

impl std::str::FromStr for Range {
    type Err = DataError;

    /// Parses `LOW,HIGH`, e.g. `10,100`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DataError::RangeSyntax(s.to_string());
        let (low, high) = s.split_once(',').ok_or_else(bad)?;
        let low: f64 = low.trim().parse().map_err(|_| bad())?;
        let high: f64 = high.trim().parse().map_err(|_| bad())?;
        Range::new(low, high)
    }
}

/// Why a dataset could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// An interval with `low >= high` or a non-finite end.
    #[error(
        "range [{low:?}, {high:?}) is empty or not finite: give LOW,HIGH with LOW < HIGH, e.g. 10,100"
    )]
    BadRange {
        /// Lower end given.
        low: f64,
        /// Upper end given.
        high: f64,
    },
    /// A range whose ends or width `f32` cannot represent.
    #[error("range [{low:?}, {high:?}) cannot be sampled in f32: {reason}")]
    Unrepresentable {
        /// Lower end given.
        low: f64,
        /// Upper end given.
        high: f64,
        /// Which end or width fails, and the fix.
        reason: String,
    },
    /// A range that is not two numbers.
    #[error("cannot read range '{0}': give two numbers LOW,HIGH, e.g. 10,100")]
    RangeSyntax(String),
    /// More values than memory can address.
    #[error("{rows} rows of {features} inputs are more values than memory can hold")]
    TooLarge {
        /// Rows asked for.
        rows: usize,
        /// Inputs per row.
        features: usize,
    },
    /// Zero rows requested.
    #[error("a dataset needs at least one row")]
    NoRows,
    /// The target is NaN or infinite on a sampled row.
    #[error(
        "the target '{expression}' is not finite ({value}) at row {row} (x = {inputs:?}): change the expression or the input range"
    )]
    NonFiniteTarget {
        /// The expression's text.
        expression: String,
        /// 0-based row.
        row: usize,
        /// The inputs of that row.
        inputs: Vec<f64>,
        /// The value it evaluated to.
        value: f64,
    },
}

/// Rows of inputs with one target each (records + targets, as linfa's datasets).
///
/// Inputs are `f32` (what the network sees); targets are kept in `f64`, exactly as the expression
/// evaluates on those `f32` inputs, so metrics compare against the true value.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    n_features: usize,
    /// Targets per row: one, or one per output of a jointly trained target.
    n_outputs: usize,
    /// Row-major: feature `i` of row `r` is `records[r * n_features + i]`.
    records: Vec<f32>,
    /// Row-major: output `o` of row `r` is `targets[r * n_outputs + o]`.
    targets: Vec<f64>,
}

impl Dataset {
    /// A dataset from row-major records and one target per row.
    ///
    /// # Panics
    /// If `records.len() != targets.len() * n_features`.
    pub fn new(n_features: usize, records: Vec<f32>, targets: Vec<f64>) -> Self {
        Dataset::with_outputs(n_features, 1, records, targets)
    }

    /// A dataset from row-major records and `n_outputs` targets per row (row-major: output
    /// `o` of row `r` at `r * n_outputs + o`).
    ///
    /// # Panics
    /// If `n_outputs` is 0, or the records and targets do not hold the same number of rows.
    pub fn with_outputs(
        n_features: usize,
        n_outputs: usize,
        records: Vec<f32>,
        targets: Vec<f64>,
    ) -> Self {
        assert!(n_outputs > 0, "a dataset needs at least one output");
        assert_eq!(targets.len() % n_outputs, 0, "ragged targets");
        assert_eq!(
            records.len(),
            targets.len() / n_outputs * n_features,
            "ragged dataset"
        );
        Dataset {
            n_features,
            n_outputs,
            records,
            targets,
        }
    }

    /// Samples `n_rows` rows with every input uniform in `range` and the target `expr(x)`.
    ///
    /// The rows depend only on `(expr's variable count, seed, n_rows, range)` and on `stream`,
    /// which keeps the training and test sets independent draws from the same seed.
    ///
    /// ```
    /// use logexp::data::{Dataset, Range};
    /// use logexp::expr::Expr;
    /// let f = Expr::parse("x1*x2/10").unwrap();
    /// let train = Dataset::sample(&f, 100, Range::PAPER_TRAIN, 0, 0).unwrap();
    /// assert_eq!((train.len(), train.n_features()), (100, 2));
    /// let x = train.row(0);
    /// assert_eq!(train.target(0), f64::from(x[0]) * f64::from(x[1]) / 10.0);
    /// ```
    pub fn sample(
        expr: &Expr,
        n_rows: usize,
        range: Range,
        seed: u64,
        stream: u64,
    ) -> Result<Dataset, DataError> {
        Dataset::sample_outputs(std::slice::from_ref(expr), n_rows, range, seed, stream)
    }

    /// Like [`Dataset::sample`], with one target per expression of `outputs` (a target trained
    /// jointly, see [`crate::expr::parse_outputs`]). The inputs are those [`Dataset::sample`]
    /// draws for the highest variable index of any output, so one output alone gives the rows
    /// and targets `sample` gives.
    ///
    /// ```
    /// use logexp::data::{Dataset, Range};
    /// use logexp::expr::parse_outputs;
    /// let outputs = parse_outputs("x1+x2;x1*x2").unwrap();
    /// let d = Dataset::sample_outputs(&outputs, 10, Range::PAPER_TRAIN, 0, 0).unwrap();
    /// assert_eq!((d.len(), d.n_outputs()), (10, 2));
    /// let x = d.row(3);
    /// assert_eq!(d.targets_of(3)[1], f64::from(x[0]) * f64::from(x[1]));
    /// ```
    ///
    /// # Panics
    /// If `outputs` is empty.
    pub fn sample_outputs(
        outputs: &[Expr],
        n_rows: usize,
        range: Range,
        seed: u64,
        stream: u64,
    ) -> Result<Dataset, DataError> {
        assert!(!outputs.is_empty(), "a target needs at least one output");
        if n_rows == 0 {
            return Err(DataError::NoRows);
        }
        let n_features = crate::expr::n_inputs(outputs);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let values = n_rows
            .checked_mul(n_features)
            .filter(|&v| v <= isize::MAX as usize / std::mem::size_of::<f32>())
            .ok_or(DataError::TooLarge {
                rows: n_rows,
                features: n_features,
            })?;
        let mut records = Vec::with_capacity(values);
        for _ in 0..values {
            records.push(uniform_f32(&mut rng, range));
        }
        // Evaluated in chunks of rows: node by node within a chunk (the same bits as row by
        // row), with the chunk's intermediate values kept in cache.
        const CHUNK: usize = 1024;
        let k = outputs.len();
        // One output is evaluated straight into the targets; several each into `targets` and
        // then interleaved into `all` (row-major).
        let mut targets = vec![0.0f64; n_rows];
        let mut all = vec![0.0f64; if k > 1 { n_rows * k } else { 0 }];
        for (o, expr) in outputs.iter().enumerate() {
            for (rows, out) in records
                .chunks(CHUNK * n_features)
                .zip(targets.chunks_mut(CHUNK))
            {
                expr.eval_rows(rows, n_features, out);
            }
            if let Some(r) = targets.iter().position(|y| !y.is_finite()) {
                return Err(DataError::NonFiniteTarget {
                    expression: expr.source().to_string(),
                    row: r,
                    inputs: records[r * n_features..(r + 1) * n_features]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect(),
                    value: targets[r],
                });
            }
            if k > 1 {
                for (row, &y) in all.chunks_exact_mut(k).zip(&targets) {
                    row[o] = y;
                }
            }
        }
        if k > 1 {
            targets = all;
        }
        Ok(Dataset::with_outputs(n_features, k, records, targets))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len() / self.n_outputs
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Number of targets per row: 1, or the outputs of a jointly trained target.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// The targets of row `r`, one per output.
    pub fn targets_of(&self, r: usize) -> &[f64] {
        &self.targets[r * self.n_outputs..(r + 1) * self.n_outputs]
    }

    /// Number of input features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The inputs of row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.records[r * self.n_features..(r + 1) * self.n_features]
    }

    /// The target of row `r` (its first output's, when there are several).
    pub fn target(&self, r: usize) -> f64 {
        self.targets[r * self.n_outputs]
    }

    /// All targets, row-major (see [`Dataset::with_outputs`]).
    pub fn targets(&self) -> &[f64] {
        &self.targets
    }

    /// The same rows with every target divided by `divisor` (in `f64`, as targets are kept).
    pub fn with_targets_divided_by(&self, divisor: f64) -> Dataset {
        Dataset {
            n_features: self.n_features,
            n_outputs: self.n_outputs,
            records: self.records.clone(),
            targets: self.targets.iter().map(|y| y / divisor).collect(),
        }
    }

    /// The same rows with input `i` multiplied by `multipliers[i]` (in `f64`, rounded to
    /// `f32` as inputs are kept).
    pub fn with_inputs_multiplied_by(&self, multipliers: &[f64]) -> Dataset {
        let n = self.n_features.max(1);
        Dataset {
            n_features: self.n_features,
            n_outputs: self.n_outputs,
            records: self
                .records
                .iter()
                .enumerate()
                .map(|(k, &x)| {
                    (f64::from(x) * multipliers.get(k % n).copied().unwrap_or(1.0)) as f32
                })
                .collect(),
            targets: self.targets.clone(),
        }
    }

    /// All inputs, row-major.
    pub fn records(&self) -> &[f32] {
        &self.records
    }

    /// Copies the rows `indices` into the feature-major batch `x` (feature `i` of batch row `b`
    /// at `i * stride + b`, with `stride = `[`padded`]`(indices.len())` and zeros in the padding
    /// lanes) and their targets into `y`, laid out alike: output `o` of batch row `b` at
    /// `o * stride + b` (so `y[..n]` with one output), padding lanes zero between outputs.
    #[inline(always)]
    pub fn gather(&self, indices: &[u32], x: &mut [f32], y: &mut [f32]) {
        if self.n_outputs > 1 {
            return self.gather_outputs(indices, x, y);
        }
        // The paper's functions have 2–4 inputs: with the row width a constant, each row is
        // a fixed-size array and the copy is a handful of moves without index checks.
        match self.n_features {
            1 => self.gather_rows::<1>(indices, x, y),
            2 => self.gather_rows::<2>(indices, x, y),
            3 => self.gather_rows::<3>(indices, x, y),
            4 => self.gather_rows::<4>(indices, x, y),
            _ => {
                let (n, stride) = (indices.len(), padded(indices.len()));
                let x = &mut x[..self.n_features * stride];
                for (b, &r) in indices.iter().enumerate() {
                    for (i, &v) in self.row(r as usize).iter().enumerate() {
                        x[i * stride + b] = v;
                    }
                    y[b] = self.targets[r as usize] as f32;
                }
                zero_padding(x, n, stride);
            }
        }
    }

    /// [`Dataset::gather`] for several outputs: not the paper's hot path, so one plain loop.
    fn gather_outputs(&self, indices: &[u32], x: &mut [f32], y: &mut [f32]) {
        let (n, stride) = (indices.len(), padded(indices.len()));
        let x = &mut x[..self.n_features * stride];
        let y = &mut y[..self.n_outputs * stride];
        for (b, &r) in indices.iter().enumerate() {
            for (i, &v) in self.row(r as usize).iter().enumerate() {
                x[i * stride + b] = v;
            }
            for (o, &t) in self.targets_of(r as usize).iter().enumerate() {
                y[o * stride + b] = t as f32;
            }
        }
        zero_padding(x, n, stride);
        zero_padding(y, n, stride);
    }

    /// [`Dataset::gather`] for rows of `F` features.
    #[inline(always)]
    fn gather_rows<const F: usize>(&self, indices: &[u32], x: &mut [f32], y: &mut [f32]) {
        let (n, stride) = (indices.len(), padded(indices.len()));
        let (rows, _) = self.records.as_chunks::<F>();
        let mut features = x[..F * stride].chunks_exact_mut(stride);
        let mut columns: [&mut [f32]; F] =
            std::array::from_fn(|_| features.next().expect("F features of `stride` lanes"));
        let y = &mut y[..n];
        for b in 0..n {
            let r = indices[b] as usize;
            let row = &rows[r];
            for i in 0..F {
                columns[i][b] = row[i];
            }
            y[b] = self.targets[r] as f32;
        }
        for column in &mut columns {
            column[n..].fill(0.0);
        }
    }

    /// Copies the contiguous rows `start..start + n` into the feature-major batch `x`, laid out
    /// as in [`Dataset::gather`].
    pub fn gather_range(&self, start: usize, n: usize, x: &mut [f32]) {
        let stride = padded(n);
        let x = &mut x[..self.n_features * stride];
        for b in 0..n {
            for (i, &v) in self.row(start + b).iter().enumerate() {
                x[i * stride + b] = v;
            }
        }
        zero_padding(x, n, stride);
    }
}

fn zero_padding(x: &mut [f32], n: usize, stride: usize) {
    if n < stride {
        for feature in x.chunks_exact_mut(stride) {
            feature[n..].fill(0.0);
        }
    }
}

/// The smallest `f32` that is `>= x` (for finite `x` within `f32`'s range).
fn f32_at_or_above(x: f64) -> f32 {
    let v = x as f32;
    if f64::from(v) < x { v.next_up() } else { v }
}

/// A uniform draw from `[low, high)` rounded to `f32`, never rounding out of the range: a
/// `low` that `f32` cannot represent exactly could round below it, a draw near `high` onto it.
/// (For the paper's ranges, whose ends are exact in `f32`, neither correction ever applies, so
/// their data are the same bits as before the corrections existed.)
fn uniform_f32(rng: &mut ChaCha8Rng, range: Range) -> f32 {
    let u: f64 = rng.random();
    let v = (range.low + range.width() * u) as f32;
    if f64::from(v) >= range.high {
        v.next_down()
    } else if f64::from(v) < range.low {
        f32_at_or_above(range.low)
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_at_or_above_is_the_smallest_f32_not_below() {
        // Exact in f32: itself, not the next one up.
        assert_eq!(f32_at_or_above(10.0), 10.0);
        assert_eq!(f32_at_or_above(-0.5), -0.5);
        // Between two f32 values: the upper one.
        let above_one = f64::from(1.0f32.next_up());
        assert_eq!(f32_at_or_above(1.0 + 1e-9), 1.0f32.next_up());
        assert_eq!(f32_at_or_above((1.0 + above_one) / 2.0), 1.0f32.next_up());
        // So a range holding exactly two f32 values, from an exact end, is accepted.
        let two = f64::from(1.0f32.next_up().next_up());
        assert!(Range::new(1.0, two).is_ok());
        assert!(Range::new(above_one, two).is_err());
    }

    fn expr(s: &str) -> Expr {
        Expr::parse(s).unwrap()
    }

    #[test]
    fn ranges_print_half_open() {
        assert_eq!(Range::new(10.0, 100.0).unwrap().to_string(), "[10, 100)");
        assert_eq!(Range::new(-4.2, 4.0).unwrap().to_string(), "[-4.2, 4)");
    }

    /// The error names the first row whose target is not finite, with that row's inputs: x1¹⁰⁰⁰
    /// overflows for x1 above about 2.03, so on [1, 2.2) some row does (with this seed a row after the second, as the test checks).
    #[test]
    fn a_non_finite_target_names_its_row_and_inputs() {
        let range = Range::new(1.0, 2.2).unwrap();
        let Err(DataError::NonFiniteTarget { row, inputs, .. }) =
            Dataset::sample(&expr("x1^1000+x2*0"), 100, range, 7, 0)
        else {
            panic!("x1^1000 overflows on [1, 2.2)")
        };
        let same_draws = Dataset::sample(&expr("x1+x2"), 100, range, 7, 0).unwrap();
        let expected: Vec<f64> = same_draws.row(row).iter().map(|&v| f64::from(v)).collect();
        assert_eq!(inputs, expected);
        assert!(inputs[0] > 2.0, "{inputs:?}");
        assert!(row >= 2, "a later row tells row arithmetic apart: {row}");
    }

    /// More values than an allocation of `f32`s can hold (isize::MAX bytes) is refused before
    /// anything is allocated: 2^62 one-input rows need 2^64 bytes.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_sample_too_large_to_allocate_is_refused() {
        let rows = 1usize << 62;
        assert!(matches!(
            Dataset::sample(&expr("x1"), rows, Range::PAPER_TRAIN, 0, 0),
            Err(DataError::TooLarge { rows: r, features: 1 }) if r == rows
        ));
    }

    #[test]
    fn sampling_stays_in_range_and_spreads_over_it() {
        let d = Dataset::sample(&expr("x1*x2*x3"), 5000, Range::PAPER_TEST, 3, 1).unwrap();
        let xs: Vec<f32> = d.records().to_vec();
        assert!(xs.iter().all(|&x| (100.0..1000.0).contains(&x)));
        let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64;
        assert!((mean - 550.0).abs() < 10.0, "mean {mean}");
        let low_tenth = xs.iter().filter(|&&x| x < 190.0).count() as f64 / xs.len() as f64;
        assert!((low_tenth - 0.1).abs() < 0.02, "{low_tenth}");
    }

    #[test]
    fn same_seed_same_rows_other_seed_or_stream_other_rows() {
        let f = expr("x1*x2");
        let a = Dataset::sample(&f, 50, Range::PAPER_TRAIN, 9, 0).unwrap();
        assert_eq!(
            a,
            Dataset::sample(&f, 50, Range::PAPER_TRAIN, 9, 0).unwrap()
        );
        assert_ne!(
            a,
            Dataset::sample(&f, 50, Range::PAPER_TRAIN, 10, 0).unwrap()
        );
        assert_ne!(
            a,
            Dataset::sample(&f, 50, Range::PAPER_TRAIN, 9, 1).unwrap()
        );
        // The rows depend on the variable count, not on the formula.
        let g = Dataset::sample(&expr("x1+x2"), 50, Range::PAPER_TRAIN, 9, 0).unwrap();
        assert_eq!(a.records(), g.records());
    }

    #[test]
    fn non_finite_targets_are_refused_with_the_expression() {
        let err = Dataset::sample(&expr("x1/(x1-x1)"), 10, Range::PAPER_TRAIN, 0, 0).unwrap_err();
        assert!(err.to_string().contains("x1/(x1-x1)"), "{err}");
        assert_eq!(
            Dataset::sample(&expr("x1"), 0, Range::PAPER_TRAIN, 0, 0),
            Err(DataError::NoRows)
        );
    }

    #[test]
    fn ranges_parse_and_refuse_nonsense() {
        assert_eq!("10,100".parse::<Range>().unwrap(), Range::PAPER_TRAIN);
        assert!(matches!(
            "100,10".parse::<Range>(),
            Err(DataError::BadRange { .. })
        ));
        assert!(matches!(
            "5,5".parse::<Range>(),
            Err(DataError::BadRange { .. })
        ));
        assert!(matches!(
            "ten,100".parse::<Range>(),
            Err(DataError::RangeSyntax(_))
        ));
        assert!(matches!(
            "10".parse::<Range>(),
            Err(DataError::RangeSyntax(_))
        ));
    }

    #[test]
    fn gather_builds_a_padded_feature_major_batch() {
        let d = Dataset::new(
            2,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            vec![10.0, 20.0, 30.0],
        );
        let (mut x, mut y) = ([f32::NAN; 16], [0.0; 2]);
        d.gather(&[2, 0], &mut x, &mut y);
        let mut expected = [0.0; 16];
        expected[..2].copy_from_slice(&[5.0, 1.0]);
        expected[8..10].copy_from_slice(&[6.0, 2.0]);
        assert_eq!(x, expected);
        assert_eq!(y, [30.0, 10.0]);
    }

    #[test]
    fn several_outputs_gather_output_major_and_sample_each_expression() {
        // Two rows of two features, three outputs per row.
        let d = Dataset::with_outputs(
            2,
            3,
            vec![1.0, 2.0, 3.0, 4.0],
            vec![10.0, 11.0, 12.0, 20.0, 21.0, 22.0],
        );
        assert_eq!((d.len(), d.n_outputs(), d.target(1)), (2, 3, 20.0));
        assert_eq!(d.targets_of(1), [20.0, 21.0, 22.0]);
        let (mut x, mut y) = ([f32::NAN; 16], [f32::NAN; 24]);
        d.gather(&[1, 0], &mut x, &mut y);
        let mut expected_x = [0.0; 16];
        expected_x[..2].copy_from_slice(&[3.0, 1.0]);
        expected_x[8..10].copy_from_slice(&[4.0, 2.0]);
        assert_eq!(x, expected_x);
        let mut expected_y = [0.0; 24];
        for o in 0..3 {
            expected_y[o * 8] = 20.0 + o as f32;
            expected_y[o * 8 + 1] = 10.0 + o as f32;
        }
        assert_eq!(y, expected_y);
        let halved = d.with_targets_divided_by(2.0);
        assert_eq!(halved.targets_of(0), [5.0, 5.5, 6.0]);

        // Each output is its own expression over the same inputs; one output alone gives
        // exactly the dataset `sample` gives, and the inputs follow the widest output.
        let outputs = crate::expr::parse_outputs("x1+x2;x3;x1*x2").unwrap();
        let joint = Dataset::sample_outputs(&outputs, 50, Range::PAPER_TRAIN, 4, 0).unwrap();
        let alone = Dataset::sample(&outputs[1], 50, Range::PAPER_TRAIN, 4, 0).unwrap();
        assert_eq!(joint.records(), alone.records());
        for r in 0..50 {
            let x: Vec<f64> = joint.row(r).iter().map(|&v| f64::from(v)).collect();
            assert_eq!(joint.targets_of(r), [x[0] + x[1], x[2], x[0] * x[1]]);
            assert_eq!(alone.target(r), x[2]);
        }
        let err = Dataset::sample_outputs(
            &crate::expr::parse_outputs("x1;x1/(x1-x1)").unwrap(),
            10,
            Range::PAPER_TRAIN,
            0,
            0,
        )
        .unwrap_err();
        assert!(err.to_string().contains("x1/(x1-x1)"), "{err}");
    }

    /// The generic path (more than 4 features) and the contiguous gather used by prediction
    /// lay rows out exactly as the specialised one: feature-major, padding zeroed.
    #[test]
    fn wide_rows_and_contiguous_ranges_gather_feature_major() {
        let (features, rows) = (5, 11);
        // Feature i of row r holds 100·r + i, exact in f32.
        let records: Vec<f32> = (0..rows)
            .flat_map(|r| (0..features).map(move |i| (100 * r + i) as f32))
            .collect();
        let d = Dataset::new(
            features,
            records,
            (0..rows).map(|r| r as f64 + 0.5).collect(),
        );
        let indices = [7u32, 2, 10];
        let (mut x, mut y) = ([f32::NAN; 5 * 8], [f32::NAN; 3]);
        d.gather(&indices, &mut x, &mut y);
        for i in 0..features {
            for (b, &r) in indices.iter().enumerate() {
                assert_eq!(
                    x[i * 8 + b],
                    (100 * r as usize + i) as f32,
                    "feature {i} row {b}"
                );
            }
            assert!(
                x[i * 8 + 3..i * 8 + 8].iter().all(|&v| v == 0.0),
                "padding {i}"
            );
        }
        assert_eq!(y, [7.5, 2.5, 10.5]);
        let mut x = [f32::NAN; 5 * 8];
        d.gather_range(4, 6, &mut x);
        for i in 0..features {
            for b in 0..6 {
                assert_eq!(
                    x[i * 8 + b],
                    (100 * (4 + b) + i) as f32,
                    "feature {i} row {b}"
                );
            }
            assert_eq!(&x[i * 8 + 6..i * 8 + 8], &[0.0, 0.0], "padding {i}");
        }
    }

    /// Above 2²⁴ consecutive `f32`s are 2 apart, so half the draws from [2²⁴, 2²⁴ + 2) round
    /// up onto the excluded upper end; the sampler must step those back below it.
    #[test]
    fn sampling_never_returns_the_upper_end() {
        let low = 16_777_216.0;
        let range = Range {
            low,
            high: low + 2.0,
        };
        let d = Dataset::sample(&expr("x1"), 200, range, 5, 0).unwrap();
        assert!(
            d.records().iter().all(|&x| f64::from(x) == low),
            "{:?}",
            d.records()
        );
    }
}
