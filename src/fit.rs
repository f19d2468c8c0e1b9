//! Fitting a model on a user's table ([`fit`]) and predicting with it ([`FittedModel::predict`],
//! [`predict_csv`]): the library calls behind `logexp fit` and `logexp predict`.
//!
//! Training reuses the protocol's fit loop ([`crate::train::fit`], through the same
//! [`crate::model::Network`] every run trains); nothing here trains differently.
//!
//! ## Validation that measures extrapolation
//!
//! Users fit to predict beyond what they measured, so by default ([`Validation::Extrapolate`])
//! the held-out rows are the ones *furthest outside the bulk* of the inputs: each row gets the
//! score `max_i |x_i − median_i| / IQR_i` (the inter-quartile range of feature `i`; where it is
//! 0, the feature's full range, and where that is 0 too, 1), and the 20 % of rows with the
//! highest scores are held out (equal scores are ordered by the sum over features of the same
//! ratios, then the later row first). The model is trained on the rest and
//! scored on them: that error is what to expect when predicting outside the training range.
//! [`Validation::Random`] holds out a random 20 % instead (interpolation), [`Validation::None`]
//! trains on every row.
//!
//! The validation rows are also split into *in range* (every input within the training rows'
//! `[min, max]`) and *out of range*, each scored separately.
//!
//! When restarts are asked for, the restart kept is the one with the lowest validation MAE (the
//! training MAE without validation): selection never looks at data the user later predicts on.
//!
//! ## The plain warning
//!
//! [`FitSummary::warning`] says the model does not seem to extrapolate when its validation %
//! error is more than [`EXTRAPOLATION_RATIO`] (3) times its training % error and above 1 %, or
//! when validation scores are not finite.

use crate::data::Dataset;
use crate::error::Error;
use crate::experiment::{Limits, RunSpec};
use crate::metrics::{EVAL_BATCH, Scores};
use crate::model::Network;
use crate::model::spec::{Model, ModelSpec};
use crate::table::{FeatureReader, Table};
use crate::train::{TrainConfig, Training};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

/// Validation % error above this multiple of the training % error (and above 1 %) is reported
/// as "does not extrapolate".
pub const EXTRAPOLATION_RATIO: f64 = 3.0;

/// Fraction of rows held out by [`Validation::Extrapolate`] and [`Validation::Random`].
pub const VALID_FRACTION: f64 = 0.2;

/// Which rows are held out for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validation {
    /// The 20 % of rows furthest outside the bulk of the inputs (see the module doc).
    #[default]
    Extrapolate,
    /// A random 20 % of rows (from the seed).
    Random,
    /// No validation: train on every row.
    None,
}

impl std::str::FromStr for Validation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "extrapolate" => Ok(Validation::Extrapolate),
            "random" => Ok(Validation::Random),
            "none" => Ok(Validation::None),
            _ => Err(Error::InvalidSetting {
                field: "valid",
                message: format!("'{s}' is not a validation mode: extrapolate, random or none"),
            }),
        }
    }
}

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Validation::Extrapolate => "extrapolate",
            Validation::Random => "random",
            Validation::None => "none",
        })
    }
}

/// How to fit: the model, the training settings (a [`Training`], as a run's: every option
/// and recipe of `train` applies), the validation split and the restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// The model trained.
    pub model: ModelSpec,
    /// Seed of initialisation, shuffling and the random split; restart `k` uses `seed + k`.
    pub seed: u64,
    /// How the model is trained. Flattened, so model files written before these settings were
    /// one type (which held the first seven at the same place) still load.
    #[serde(flatten)]
    pub training: Training,
    /// Which rows validate.
    pub valid: Validation,
    /// Trainings from different seeds; the best on validation is kept (at least 1).
    pub restarts: usize,
    /// Scale every input and the target by a power of two near the geometric mean of its
    /// magnitudes on the training rows ([`Scaling`]); off by default, since the paper's lg
    /// network relies on inputs far from 0. Not with the training settings' own target or
    /// input scale ([`Scaling::of_training`]), which choose the exponents their own way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scale: bool,
}

impl FitOptions {
    /// The paper's training protocol ([`Training::default`]: 100 epochs, batch 32, Adam 1e-3,
    /// MAE) for `model`, seed 0, extrapolation validation, one training.
    pub fn new(model: ModelSpec) -> FitOptions {
        FitOptions {
            model,
            seed: 0,
            training: Training::default(),
            valid: Validation::Extrapolate,
            restarts: 1,
            scale: false,
        }
    }

    /// The model, seed and training settings of a run spec, with the default validation.
    pub fn from_run_spec(spec: &crate::experiment::RunSpec) -> FitOptions {
        FitOptions {
            seed: spec.seed,
            training: spec.training(),
            ..FitOptions::new(spec.model.clone())
        }
    }

    fn validate(&self) -> Result<(), Error> {
        self.training.validate()?;
        let recipe_scales = self.training.target_scale != crate::experiment::TargetScale::None
            || self.training.input_scale != crate::experiment::InputScale::None;
        if self.scale && recipe_scales {
            // Both would choose the same stored exponents by different rules.
            return Err(Error::InvalidSetting {
                field: "scale",
                message: format!(
                    "--scale and the training settings' own scaling (recipe {}: target scale {}, input scale {}) both choose how to scale; drop --scale, or give --target-scale none --input-scale none",
                    self.training.recipe,
                    serde_json::to_string(&self.training.target_scale).unwrap_or_default(),
                    serde_json::to_string(&self.training.input_scale).unwrap_or_default()
                ),
            });
        }
        if self.restarts == 0 || self.restarts > 1000 {
            return Err(Error::InvalidSetting {
                field: "restarts",
                message: "must be between 1 and 1000".into(),
            });
        }
        Ok(())
    }
}

/// Errors of a model on some rows, with how many rows there were.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RowScores {
    /// Rows scored.
    pub rows: usize,
    /// MAE and % error (`None` when not finite, or when there are no rows).
    #[serde(flatten)]
    pub scores: Scores,
}

/// What a fit did and how well the model does: stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitSummary {
    /// The options fitted with.
    pub options: FitOptions,
    /// Valid rows in the table.
    pub rows: usize,
    /// Rows dropped as invalid while reading.
    pub dropped: usize,
    /// Errors on the training rows.
    pub train: RowScores,
    /// Errors on the validation rows (`rows` 0 with [`Validation::None`]).
    pub valid: RowScores,
    /// Validation rows whose every input is within the training rows' range.
    pub valid_in_range: RowScores,
    /// Validation rows with some input outside the training rows' range.
    pub valid_out_of_range: RowScores,
    /// Epochs completed by the kept training.
    pub epochs_run: usize,
    /// The epoch in which the kept training diverged, if it did.
    pub diverged_at_epoch: Option<usize>,
    /// Epochs after which the kept training restarted from fresh parameters
    /// ([`Training::reinit`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reinit_epochs: Vec<usize>,
    /// Which restart was kept (0-based).
    pub restart: usize,
    /// Per input, the training rows' `[min, max]`.
    pub train_ranges: Vec<[f64; 2]>,
    /// A plain sentence when the validation error suggests the model does not extrapolate.
    pub warning: Option<String>,
    /// The relation the model learned, as a formula ([`crate::explain`]), when it can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<crate::explain::Explanation>,
    /// Why there is no explanation, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_note: Option<String>,
}

impl FitSummary {
    /// A few lines for people: rows, errors per set, the warning.
    pub fn text(&self) -> String {
        let show = |s: &RowScores| {
            let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            format!(
                "{:>7} rows  MAE {:>12}  % error {:>10}",
                s.rows,
                f(s.scores.mae),
                f(s.scores.pct_err)
            )
        };
        let mut out = format!(
            "{} rows ({} dropped as invalid), validation: {}\n",
            self.rows, self.dropped, self.options.valid
        );
        let t = &self.options.training;
        if t.recipe != crate::recipe::Recipe::Paper {
            let mut scaling = String::new();
            if t.target_scale != crate::experiment::TargetScale::None {
                scaling += ", target divided by its log-linear constant (to a power of two)";
            }
            if t.input_scale != crate::experiment::InputScale::None {
                scaling += ", inputs scaled to a geometric mean near 50 (by powers of two)";
            }
            out += &format!(
                "training: recipe {} ({} epochs, {} loss, rate {} {}, warm-up {} steps, batch {}{scaling})\n",
                t.recipe, t.epochs, t.loss, t.lr, t.lr_schedule, t.warmup, t.batch_size
            );
        }
        if !self.reinit_epochs.is_empty() {
            out += &format!(
                "restarted from fresh parameters on a plateau after epochs {:?}\n",
                self.reinit_epochs
            );
        }
        out += &format!("train                 {}\n", show(&self.train));
        if self.valid.rows > 0 {
            out += &format!("validation            {}\n", show(&self.valid));
            out += &format!("  in training range   {}\n", show(&self.valid_in_range));
            out += &format!("  out of range        {}\n", show(&self.valid_out_of_range));
        }
        if let Some(epoch) = self.diverged_at_epoch {
            out += &format!("training diverged in epoch {epoch}\n");
        }
        if let Some(w) = &self.warning {
            out += w;
            out.push('\n');
        }
        out
    }
}

/// A trained model with everything needed to use it on new tables.
#[derive(Debug)]
pub struct FittedModel {
    /// The model's spec.
    pub spec: ModelSpec,
    /// The network built from it for the features.
    pub network: Model,
    /// Its parameters.
    pub params: Vec<f32>,
    /// Input column names, in the network's input order.
    pub features: Vec<String>,
    /// Target column name.
    pub target: String,
    /// How it was fitted.
    pub summary: FitSummary,
    /// The scaling of inputs and target, if the fit used one.
    pub scaling: Option<Scaling>,
}

/// Power-of-two scaling: the network sees input `i` as `x_i · 2^−inputs_log2[i]` and its output
/// is multiplied by `2^target_log2`. Each exponent is the mean of `log2 |v|` over the training
/// rows' non-zero values, rounded; powers of two keep every scaled value exact in floating
/// point, and a product of powers stays a product of powers (only its constant changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scaling {
    /// One exponent per input.
    pub inputs_log2: Vec<i32>,
    /// The target's exponent.
    pub target_log2: i32,
}

/// The rounded mean of `log2 |v|` over the non-zero values, kept within ±100 so that scaling
/// by its power of two stays far from `f32`'s limits.
fn log2_scale(values: impl Iterator<Item = f64>) -> i32 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values.filter(|v| *v != 0.0) {
        sum += v.abs().log2();
        n += 1;
    }
    if n == 0 {
        0
    } else {
        ((sum / n as f64).round() as i32).clamp(-100, 100)
    }
}

impl Scaling {
    /// The scaling of the rows `rows` of `data`.
    pub fn of(data: &Dataset, rows: &[usize]) -> Scaling {
        Scaling {
            inputs_log2: (0..data.n_features())
                .map(|i| log2_scale(rows.iter().map(|&r| f64::from(data.row(r)[i]))))
                .collect(),
            target_log2: log2_scale(rows.iter().map(|&r| data.target(r))),
        }
    }

    /// The training settings' own scaling ([`crate::experiment::InputScale`],
    /// [`crate::experiment::TargetScale`]) of the rows `rows` of `data`, each factor rounded
    /// to the nearest power of two so that a model file stores it as [`Scaling`] does (and the
    /// target divisor's sign dropped: the network keeps the sign); `None` when the settings
    /// scale nothing.
    ///
    /// ```
    /// use logexp::data::Dataset;
    /// use logexp::experiment::{InputScale, TargetScale};
    /// use logexp::fit::Scaling;
    /// use logexp::train::Training;
    /// // y = x1 · x2 / 1000; each input's geometric mean is 8^¼ ≈ 1.68, so factor 50 / 1.68
    /// // ≈ 29.7 ≈ 2^5.
    /// let x = vec![1.0, 4.0, 4.0, 1.0, 2.0, 2.0, 1.0, 1.0];
    /// let rows = Dataset::new(2, x, vec![0.004, 0.004, 0.004, 0.001]);
    /// let training = Training {
    ///     input_scale: InputScale::Geometric,
    ///     target_scale: TargetScale::Loglinear,
    ///     ..Training::default()
    /// };
    /// let s = Scaling::of_training(&rows, &[0, 1, 2, 3], &training).unwrap();
    /// assert_eq!(s.inputs_log2, vec![-5, -5]);
    /// // Inputs ×32 each: y = (32 x1)(32 x2) / 1,024,000, divisor ≈ 2^-20.
    /// assert_eq!(s.target_log2, -20);
    /// assert_eq!(Scaling::of_training(&rows, &[0, 1, 2, 3], &Training::default()), None);
    /// ```
    pub fn of_training(
        data: &Dataset,
        rows: &[usize],
        training: &crate::train::Training,
    ) -> Option<Scaling> {
        use crate::experiment::{InputScale, TargetScale};
        if training.input_scale == InputScale::None && training.target_scale == TargetScale::None {
            return None;
        }
        let train = subset(data, rows);
        let log2 = |factor: f64| -> i32 {
            if factor.is_finite() && factor != 0.0 {
                (factor.abs().log2().round() as i32).clamp(-100, 100)
            } else {
                0
            }
        };
        let inputs = Scaling {
            inputs_log2: training
                .input_scale
                .multipliers(&train)
                .iter()
                .map(|&m| -log2(m))
                .collect(),
            target_log2: 0,
        };
        let divisor = training.target_scale.divisor(&inputs.apply(&train));
        Some(Scaling {
            target_log2: log2(divisor),
            ..inputs
        })
    }

    /// `data` as the network sees it.
    pub fn apply(&self, data: &Dataset) -> Dataset {
        let k = data.n_features();
        let factors: Vec<f32> = self.inputs_log2.iter().map(|&e| 2f32.powi(-e)).collect();
        let records = data
            .records()
            .chunks_exact(k.max(1))
            .flat_map(|row| row.iter().zip(&factors).map(|(x, f)| x * f))
            .collect();
        let y = 2f64.powi(-self.target_log2);
        Dataset::new(k, records, data.targets().iter().map(|t| t * y).collect())
    }
}

/// Predicts every row of `data` with `network` and `params` (the evaluation path of runs),
/// through `scaling` if there is one.
pub fn predict_with(
    network: &Model,
    params: &[f32],
    scaling: Option<&Scaling>,
    data: &Dataset,
) -> Vec<f32> {
    let scaled;
    let data = match scaling {
        Some(s) => {
            scaled = s.apply(data);
            &scaled
        }
        None => data,
    };
    let mut out = match network {
        Model::Dense(n) => crate::metrics::predict(n, params, data),
        Model::Stack(n) => crate::metrics::predict(n, params, data),
        Model::LogLinear(n) => crate::metrics::predict(n, params, data),
    };
    if let Some(s) = scaling {
        let f = 2f32.powi(s.target_log2);
        out.iter_mut().for_each(|p| *p *= f);
    }
    out
}

fn scores_of(
    network: &Model,
    params: &[f32],
    scaling: Option<&Scaling>,
    data: &Dataset,
    rows: &[usize],
) -> RowScores {
    if rows.is_empty() {
        return RowScores {
            rows: 0,
            scores: Scores {
                mae: None,
                pct_err: None,
            },
        };
    }
    let subset = subset(data, rows);
    let predictions = predict_with(network, params, scaling, &subset);
    let finite = |v: f64| v.is_finite().then_some(v);
    let scores = Scores {
        mae: finite(crate::metrics::mae(&predictions, subset.targets())),
        pct_err: finite(crate::metrics::mean_pct_error(
            &predictions,
            subset.targets(),
        )),
    };
    RowScores {
        rows: rows.len(),
        scores,
    }
}

fn subset(data: &Dataset, rows: &[usize]) -> Dataset {
    let k = data.n_features();
    let mut records = Vec::with_capacity(rows.len() * k);
    let mut targets = Vec::with_capacity(rows.len());
    for &r in rows {
        records.extend_from_slice(data.row(r));
        targets.push(data.target(r));
    }
    Dataset::new(k, records, targets)
}

/// The `q`-quantile (0..=1) of sorted values, linearly interpolated.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Each row's distance from the bulk: `max_i |x_i − median_i| / IQR_i` (see the module doc).
pub fn outlyingness(data: &Dataset) -> Vec<f64> {
    robust_distances(data, |d| d.fold(0.0, f64::max))
}

/// `Σ_i |x_i − median_i| / IQR_i`: breaks ties of [`outlyingness`] (rows equally far out on
/// one input, e.g. every planet of the Sun on the central mass, are ordered by the others).
fn total_outlyingness(data: &Dataset) -> Vec<f64> {
    robust_distances(data, |d| d.sum())
}

/// Per row, `combine` over features of `|x_i − median_i| / spread_i`.
fn robust_distances(
    data: &Dataset,
    combine: impl Fn(&mut dyn Iterator<Item = f64>) -> f64,
) -> Vec<f64> {
    let k = data.n_features();
    let n = data.len();
    let mut centre = Vec::with_capacity(k);
    let mut spread = Vec::with_capacity(k);
    let mut column = Vec::with_capacity(n);
    for i in 0..k {
        column.clear();
        column.extend((0..n).map(|r| f64::from(data.row(r)[i])));
        column.sort_by(f64::total_cmp);
        let iqr = quantile(&column, 0.75) - quantile(&column, 0.25);
        let range = column[n - 1] - column[0];
        centre.push(quantile(&column, 0.5));
        spread.push(if iqr > 0.0 {
            iqr
        } else if range > 0.0 {
            range
        } else {
            1.0
        });
    }
    (0..n)
        .map(|r| {
            let mut distances = data
                .row(r)
                .iter()
                .enumerate()
                .map(|(i, &x)| (f64::from(x) - centre[i]).abs() / spread[i]);
            combine(&mut distances)
        })
        .collect()
}

/// Training and validation rows (sorted) for `mode`.
pub fn split(data: &Dataset, mode: Validation, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n = data.len();
    let n_valid = match mode {
        Validation::None => 0,
        // At least one row on each side once there are two rows.
        _ if n < 2 => 0,
        _ => ((n as f64 * VALID_FRACTION).round() as usize).clamp(1, n - 1),
    };
    let mut order: Vec<usize> = (0..n).collect();
    match mode {
        Validation::None => {}
        Validation::Extrapolate => {
            let score = outlyingness(data);
            let total = total_outlyingness(data);
            // Highest score first; equal scores by the sum over features, then the later row.
            order.sort_by(|&a, &b| {
                score[b]
                    .total_cmp(&score[a])
                    .then(total[b].total_cmp(&total[a]))
                    .then(b.cmp(&a))
            });
        }
        Validation::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(2);
            order.shuffle(&mut rng);
        }
    }
    let mut valid = order[..n_valid].to_vec();
    let mut train = order[n_valid..].to_vec();
    valid.sort_unstable();
    train.sort_unstable();
    (train, valid)
}

/// An upper estimate, in bytes, of what fitting `network` on `rows` rows allocates beyond the
/// table itself: a run's estimate ([`RunSpec::memory_estimate`]) with every row both trained
/// and validated on, a scaled copy of the rows, the best parameters kept across restarts, and
/// for `loglinear` the normal equations, which grow with the square of the features. `None`
/// if it does not fit in a `u64`.
pub fn fit_memory_estimate(options: &FitOptions, network: &Model, rows: usize) -> Option<u64> {
    let n_features = network.n_inputs();
    let spec = RunSpec {
        model: options.model.clone(),
        n_train: rows,
        n_test: rows,
        ..RunSpec::paper("x1", crate::model::spec::Pair::lg())
    }
    .with_training(options.training);
    let run = spec.memory_estimate(n_features, network.n_params(), 1)?;
    let f32_row = u64::try_from(n_features)
        .ok()?
        .checked_add(2)?
        .checked_mul(4)?;
    let scaled_copy = u64::try_from(rows).ok()?.checked_mul(f32_row)?;
    let best = u64::try_from(network.n_params()).ok()?.checked_mul(4)?;
    let normal_equations = match network {
        Model::LogLinear(_) => {
            let k = u64::try_from(n_features).ok()?.checked_add(1)?;
            k.checked_mul(k)?.checked_mul(2 * 8)?
        }
        _ => 0,
    };
    run.checked_add(scaled_copy)?
        .checked_add(best)?
        .checked_add(normal_equations)
}

/// Where a fit is, for a progress bar: [`fit_with_progress`] reports it before every epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The training under way, 0-based.
    pub restart: usize,
    /// Trainings in all.
    pub restarts: usize,
    /// The epoch about to run, 1-based.
    pub epoch: usize,
    /// Epochs per training.
    pub epochs: usize,
}

/// The training rows, reporting each epoch as the fit loop asks for its rows.
struct Reporting<'a, 'p> {
    rows: &'a Dataset,
    at: Progress,
    progress: &'p mut dyn FnMut(Progress),
}

impl crate::train::EpochData for Reporting<'_, '_> {
    fn rows(&mut self, epoch: usize) -> &Dataset {
        (self.progress)(Progress { epoch, ..self.at });
        self.rows
    }
}

/// One training of `net` on `train` from `seed`.
fn train_once<N: Network>(
    net: &N,
    train: &mut Reporting<'_, '_>,
    config: &TrainConfig,
    seed: u64,
) -> (Vec<f32>, crate::train::History) {
    // As runs do: initialisation from stream 0 of the seed, shuffling from stream 1.
    let mut init_rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(seed);
    shuffle_rng.set_stream(1);
    let mut params = vec![0.0f32; net.n_params()];
    net.init_params(&mut init_rng, &mut params);
    let history = crate::train::fit_from(net, &mut params, train, config, &mut shuffle_rng);
    (params, history)
}

/// Fits `options.model` on `table` (inputs = its features, target = its target).
///
/// ```
/// use logexp::fit::{fit, FitOptions};
/// use logexp::model::spec::ModelSpec;
/// use logexp::table::{read_table_from, ReadOptions};
/// let mut csv = String::from("a,b,y\n");
/// for i in 1..=40 { let (a, b) = (i as f64, (i % 7 + 1) as f64); csv += &format!("{a},{b},{}\n", a * b); }
/// let table = read_table_from(csv.as_bytes(), "t.csv".as_ref(), &ReadOptions::new("y")).unwrap();
/// let mut options = FitOptions::new(ModelSpec::preset("nmu").unwrap());
/// options.training.epochs = 2;
/// let model = fit(&table, &options).unwrap();
/// assert_eq!((model.summary.train.rows, model.summary.valid.rows), (32, 8));
/// ```
pub fn fit(table: &Table, options: &FitOptions) -> Result<FittedModel, Error> {
    fit_with_progress(table, options, &mut |_| {})
}

/// Like [`fit`], calling `progress` before every epoch of every training (what a progress bar
/// needs; the fit loop asks for each epoch's rows once, and once more before the first).
pub fn fit_with_progress(
    table: &Table,
    options: &FitOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<FittedModel, Error> {
    fit_within(table, options, &Limits::default(), progress)
}

/// Like [`fit_with_progress`], refusing a fit that would need more memory than `limits`
/// allows ([`fit_memory_estimate`]) before anything is allocated.
pub fn fit_within(
    table: &Table,
    options: &FitOptions,
    limits: &Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<FittedModel, Error> {
    options.validate()?;
    let data = &table.data;
    let network = options.model.build(data.n_features())?;
    let needed = fit_memory_estimate(options, &network, data.len());
    if needed.is_none_or(|bytes| bytes > limits.max_run_bytes) {
        // Hidden layers wider than the table are what to narrow; otherwise, the columns.
        let wide_layers = !matches!(network, Model::LogLinear(_))
            && options
                .model
                .hidden()
                .iter()
                .any(|&w| w > data.n_features());
        let field = if wide_layers { "hidden" } else { "features" };
        let (needed_text, limit_text) =
            crate::experiment::format_need_beside(needed, limits.max_run_bytes);
        return Err(Error::InvalidSetting {
            field,
            message: format!(
                "fitting {} on {} rows of {} features would need {} of memory, more than the limit of {}: use fewer columns (--features){}, or raise the limit (--max-memory)",
                options.model.describe(),
                data.len(),
                data.n_features(),
                needed_text,
                limit_text,
                if wide_layers {
                    " or narrower layers"
                } else {
                    ""
                },
            ),
        });
    }
    if let Some(bytes) = needed {
        limits.check_machine(bytes, &format!("fitting {}", options.model.describe()))?;
    }
    options
        .training
        .validate_model(!network.gates().is_empty(), &options.model.describe())?;
    let (train_rows, valid_rows) = split(data, options.valid, options.seed);
    let scaling = if options.scale {
        Some(Scaling::of(data, &train_rows))
    } else {
        Scaling::of_training(data, &train_rows, &options.training)
    };
    let train_set = match &scaling {
        Some(s) => s.apply(&subset(data, &train_rows)),
        None => subset(data, &train_rows),
    };
    // A network computes in f32: a target it cannot represent can only "diverge", and no
    // learning rate helps. (The log-linear fit works in f64.)
    if !matches!(network, Model::LogLinear(_))
        && let Some((row, y)) = train_set
            .targets()
            .iter()
            .enumerate()
            .find(|(_, y)| !(**y as f32).is_finite())
    {
        return Err(Error::InvalidSetting {
            field: "target",
            message: format!(
                "the target of row {} is {:e} as the network sees it{}, beyond the largest f32 ({:e}), and {} computes in f32: divide the column by a power of ten{}, or fit --model loglinear, which works in f64",
                train_rows.get(row).map_or(row, |&t| t) + 1,
                y,
                if options.scale {
                    " even after --scale"
                } else {
                    ""
                },
                f32::MAX,
                options.model.describe(),
                if options.scale {
                    ""
                } else {
                    ", scale it (--scale)"
                }
            ),
        });
    }
    let config = options.training.config();
    let mut best: Option<(f64, usize, Vec<f32>, crate::train::History)> = None;
    for k in 0..options.restarts {
        let seed = options.seed.wrapping_add(k as u64);
        let mut rows = Reporting {
            rows: &train_set,
            at: Progress {
                restart: k,
                restarts: options.restarts,
                epoch: 0,
                epochs: options.training.epochs,
            },
            progress: &mut *progress,
        };
        let (params, history) = match &network {
            Model::Dense(n) => train_once(n, &mut rows, &config, seed),
            Model::Stack(n) => train_once(n, &mut rows, &config, seed),
            // Closed form: every restart gives the same fit.
            Model::LogLinear(n) => (
                n.fit(&train_set).map_err(|e| {
                    // The fit numbers rows of the training subset; name the table's row.
                    use crate::model::loglinear::LogLinearError as E;
                    let table_row = |r: usize| train_rows.get(r - 1).map_or(r, |&t| t + 1);
                    let e = match e {
                        E::MixedSign { row, value } => E::MixedSign {
                            row: table_row(row),
                            value,
                        },
                        E::ZeroInput { input, row } => E::ZeroInput {
                            input,
                            row: table_row(row),
                        },
                        other => other,
                    };
                    Error::InvalidSetting {
                    field: "model",
                    message: format!(
                        "loglinear cannot fit this table: {e}; a trained model (product, npu, or dense lg) can"
                    ),
                    }
                })?,
                crate::train::History::default(),
            ),
        };
        let rows = if valid_rows.is_empty() {
            &train_rows
        } else {
            &valid_rows
        };
        let criterion = if history.diverged_at_epoch.is_some() {
            f64::INFINITY
        } else {
            scores_of(&network, &params, scaling.as_ref(), data, rows)
                .scores
                .mae
                .unwrap_or(f64::INFINITY)
        };
        if best.as_ref().is_none_or(|b| criterion < b.0) {
            best = Some((criterion, k, params, history));
        }
    }
    let (_, restart, params, history) = best.expect("at least one restart");
    let k = data.n_features();
    let train_ranges: Vec<[f64; 2]> = (0..k)
        .map(|i| {
            train_rows
                .iter()
                .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], &r| {
                    let x = f64::from(data.row(r)[i]);
                    [lo.min(x), hi.max(x)]
                })
        })
        .collect();
    let (in_range, out_of_range): (Vec<usize>, Vec<usize>) = valid_rows.iter().partition(|&&r| {
        data.row(r)
            .iter()
            .zip(&train_ranges)
            .all(|(&x, [lo, hi])| (*lo..=*hi).contains(&f64::from(x)))
    });
    let train = scores_of(&network, &params, scaling.as_ref(), data, &train_rows);
    let valid = scores_of(&network, &params, scaling.as_ref(), data, &valid_rows);
    let warning = extrapolation_warning(&train, &valid, history.diverged_at_epoch);
    let summary = FitSummary {
        options: options.clone(),
        rows: data.len(),
        dropped: table.dropped,
        train,
        valid,
        valid_in_range: scores_of(&network, &params, scaling.as_ref(), data, &in_range),
        valid_out_of_range: scores_of(&network, &params, scaling.as_ref(), data, &out_of_range),
        epochs_run: history.epoch_loss.len(),
        diverged_at_epoch: history.diverged_at_epoch,
        reinit_epochs: history.reinit_epochs,
        restart,
        train_ranges,
        warning,
        explanation: None,
        explanation_note: None,
    };
    let mut model = FittedModel {
        spec: options.model.clone(),
        network,
        params,
        features: table.features.clone(),
        target: table.target.clone(),
        summary,
        scaling,
    };
    match crate::explain::explain(&model, data, &train_rows, &valid_rows) {
        Ok(e) => model.summary.explanation = Some(e),
        Err(note) => model.summary.explanation_note = Some(note),
    }
    Ok(model)
}

/// Explains `model` on `table` (read with the model's features and target), with the fit's
/// own split rebuilt from its recorded validation mode and seed: what `explain --data` does.
/// A model that cannot be read out is a usage error saying why.
pub fn explain_table(
    model: &FittedModel,
    table: &Table,
) -> Result<crate::explain::Explanation, Error> {
    if table.features != model.features {
        return Err(Error::InvalidSetting {
            field: "data",
            message: format!(
                "the table's inputs ({}) are not the model's ({}): read it with the model's features",
                table.features.join(", "),
                model.features.join(", ")
            ),
        });
    }
    let options = &model.summary.options;
    let (train, valid) = split(&table.data, options.valid, options.seed);
    crate::explain::explain(model, &table.data, &train, &valid).map_err(|message| {
        Error::InvalidSetting {
            field: "model",
            message: format!("this model cannot be explained: {message}"),
        }
    })
}

/// The plain sentence of [`FitSummary::warning`], if one applies.
fn extrapolation_warning(
    train: &RowScores,
    valid: &RowScores,
    diverged: Option<usize>,
) -> Option<String> {
    if diverged.is_some() {
        return Some(
            "Training diverged (a parameter became non-finite): this model is not usable; try a smaller --lr or another --seed.".into(),
        );
    }
    if valid.rows == 0 {
        return None;
    }
    match (train.scores.pct_err, valid.scores.pct_err) {
        (_, None) => Some(
            "The validation error is not finite: this model does not extrapolate beyond the rows it was trained on.".into(),
        ),
        (Some(t), Some(v)) if v > 1.0 && v > EXTRAPOLATION_RATIO * t => Some(format!(
            "The validation % error ({v:.3}) is more than {EXTRAPOLATION_RATIO}× the training % error ({t:.3}): this model does not seem to extrapolate; do not trust its predictions outside the training range."
        )),
        _ => None,
    }
}

impl FittedModel {
    /// Predicts every row of `data` (inputs in [`FittedModel::features`] order).
    pub fn predict(&self, data: &Dataset) -> Vec<f32> {
        predict_with(&self.network, &self.params, self.scaling.as_ref(), data)
    }
}

/// Rows read and predicted per chunk by [`predict_csv`]: a multiple of the evaluation batch, so
/// every row is predicted in the same batch position as by [`FittedModel::predict`] on a whole
/// table.
pub const PREDICT_CHUNK: usize = 16 * EVAL_BATCH;

/// What [`predict_csv`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Predicted {
    /// Rows predicted (every data row of the input).
    pub rows: u64,
    /// Rows whose prediction is not a finite number (`NaN`, `inf` or `-inf` in the output):
    /// the model overflows `f32` there, typically far outside the range it was fitted on.
    pub non_finite: u64,
    /// The first such row, counted from 1 among the data rows.
    pub first_non_finite: Option<u64>,
}

impl Predicted {
    /// A sentence for people about the predictions that are not numbers, if any.
    pub fn note(&self) -> Option<String> {
        let first = self.first_non_finite?;
        Some(format!(
            "{} of {} predictions are not finite numbers (NaN or inf), the first on data row {first}: the model overflows f32 there (inputs far outside the range it was fitted on?)",
            self.non_finite, self.rows
        ))
    }
}

/// Reads the CSV `input` (named `path` in errors), finds the model's features by name, and
/// writes every input row to `out` with a column `<target>_predicted` appended, chunk by chunk
/// (memory stays flat however many rows). Returns how many rows it predicted, and how many of
/// those predictions are not finite.
///
/// A missing feature column, or an invalid cell in one, is an [`Error::Csv`] naming it.
pub fn predict_csv<R: Read, W: Write>(
    model: &FittedModel,
    input: R,
    path: &Path,
    out: W,
) -> Result<Predicted, Error> {
    let mut reader = FeatureReader::new(input, path, &model.features)?;
    let mut writer = csv::Writer::from_writer(out);
    // An I/O error keeps its kind, so a caller can tell a closed pipe (`| head`) from a
    // failure.
    let write_err = |e: csv::Error| {
        if !e.is_io_error() {
            return Error::Run(format!("cannot write the predictions: {e}"));
        }
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::io("cannot write the predictions of", path, io),
            other => Error::Run(format!("cannot write the predictions: {other:?}")),
        }
    };
    let mut header: Vec<String> = reader.header().to_vec();
    let predicted = format!("{}_predicted", model.target);
    if let Some(at) = header.iter().position(|h| *h == predicted) {
        // A second column of the same name could not be read back by name.
        return Err(Error::Csv {
            path: path.to_path_buf(),
            line: Some(1),
            column: Some(predicted),
            message: format!(
                "column {} already holds this name, which the predictions would take: rename or remove it (e.g. predict from the file the predictions were added to)",
                at + 1
            ),
        });
    }
    header.push(predicted);
    writer.write_record(&header).map_err(write_err)?;
    let k = model.features.len();
    let mut inputs = Vec::with_capacity(PREDICT_CHUNK * k);
    let mut rows: Vec<csv::ByteRecord> = Vec::with_capacity(PREDICT_CHUNK);
    let mut done = Predicted::default();
    loop {
        inputs.clear();
        let mut n = 0;
        while n < PREDICT_CHUNK {
            match reader.next_row(&mut inputs)? {
                Some(record) => {
                    if rows.len() == n {
                        rows.push(record.clone());
                    } else {
                        rows[n].clone_from(record);
                    }
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            break;
        }
        let chunk = Dataset::new(k, std::mem::take(&mut inputs), vec![0.0; n]);
        let predictions = model.predict(&chunk);
        inputs = chunk.records().to_vec();
        let mut number = String::new();
        for (i, (record, p)) in rows[..n].iter().zip(&predictions).enumerate() {
            use std::fmt::Write as _;
            if !p.is_finite() {
                done.non_finite += 1;
                done.first_non_finite
                    .get_or_insert(done.rows + i as u64 + 1);
            }
            number.clear();
            // Rust's shortest text that reads back to the same f32.
            let _ = write!(number, "{p}");
            let mut fields: Vec<&[u8]> = record.iter().collect();
            fields.push(number.as_bytes());
            writer.write_record(&fields).map_err(write_err)?;
        }
        done.rows += n as u64;
    }
    writer
        .flush()
        .map_err(|e| Error::io("cannot write the predictions of", path, e))?;
    Ok(done)
}

/// [`predict_csv`] from the file `data` (`-`: standard input) to the file `out` (written atomically: on any error
/// `out` is left as it was) or, without `out`, to standard output.
pub fn predict_file(
    model: &FittedModel,
    data: &Path,
    out: Option<&Path>,
) -> Result<Predicted, Error> {
    let (input, data) = crate::table::open_data(data)?;
    match out {
        Some(path) => crate::output::write_file_with(path, |w| predict_csv(model, input, &data, w)),
        None => {
            let stdout = std::io::stdout();
            predict_csv(model, input, &data, std::io::BufWriter::new(stdout.lock()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{ReadOptions, read_table_from};

    fn table(csv: &str) -> Table {
        read_table_from(csv.as_bytes(), Path::new("t.csv"), &ReadOptions::new("y")).unwrap()
    }

    #[test]
    fn extrapolate_holds_out_the_rows_furthest_from_the_median() {
        // One feature 1..=10: median 5.5, quartiles 3.25 and 7.75 (IQR 4.5); the two rows
        // furthest from 5.5 are 1 and 10 (4.5 each), held out as 20 % of 10.
        let mut csv = "x,y\n".to_string();
        for i in 1..=10 {
            csv += &format!("{i},{i}\n");
        }
        let t = table(&csv);
        let (train, valid) = split(&t.data, Validation::Extrapolate, 0);
        assert_eq!(valid, [0, 9]);
        assert_eq!(train, (1..9).collect::<Vec<_>>());
        let score = outlyingness(&t.data);
        assert!((score[0] - 1.0).abs() < 1e-12);
        assert!((score[4] - 0.5 / 4.5).abs() < 1e-12);
        let (train, valid) = split(&t.data, Validation::None, 0);
        assert_eq!((train.len(), valid.len()), (10, 0));
        let (train, valid) = split(&t.data, Validation::Random, 3);
        assert_eq!((train.len(), valid.len()), (8, 2));
        assert_ne!(
            valid,
            [0, 9],
            "a random split that happens to match the extrapolation one"
        );
    }

    #[test]
    fn validation_rows_are_split_by_the_training_range() {
        // y = 2x on 1..=10 with validation {1, 10}: both outside the training range [2, 9].
        let mut csv = "x,y\n".to_string();
        for i in 1..=10 {
            csv += &format!("{i},{}\n", 2 * i);
        }
        let options = FitOptions {
            training: Training {
                epochs: 1,
                ..Training::default()
            },
            ..FitOptions::new(
                ModelSpec::parse("units:nau", &crate::experiment::Pair::lg(), None).unwrap(),
            )
        };
        let model = fit(&table(&csv), &options).unwrap();
        let s = &model.summary;
        assert_eq!((s.train.rows, s.valid.rows), (8, 2));
        assert_eq!((s.valid_in_range.rows, s.valid_out_of_range.rows), (0, 2));
        assert_eq!(s.train_ranges, [[2.0, 9.0]]);
        assert!(s.text().contains("out of range"));
    }

    #[test]
    fn the_warning_follows_the_documented_rule() {
        let rs = |rows, pct: Option<f64>| RowScores {
            rows,
            scores: Scores {
                mae: pct,
                pct_err: pct,
            },
        };
        // 3.1 % > 3 × 1 %: warned; 2.9 % is not; below 1 % never.
        assert!(extrapolation_warning(&rs(8, Some(1.0)), &rs(2, Some(3.1)), None).is_some());
        assert!(extrapolation_warning(&rs(8, Some(1.0)), &rs(2, Some(2.9)), None).is_none());
        assert!(extrapolation_warning(&rs(8, Some(0.1)), &rs(2, Some(0.9)), None).is_none());
        assert!(extrapolation_warning(&rs(8, Some(0.1)), &rs(2, None), None).is_some());
        assert!(extrapolation_warning(&rs(8, Some(0.1)), &rs(0, None), None).is_none());
        assert!(extrapolation_warning(&rs(8, None), &rs(0, None), Some(3)).is_some());
    }

    #[test]
    fn progress_is_reported_every_epoch_of_every_restart() {
        let t = table("x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n");
        let options = FitOptions {
            training: Training {
                epochs: 3,
                ..Training::default()
            },
            restarts: 2,
            ..FitOptions::new(ModelSpec::preset("nau").unwrap())
        };
        let mut seen = Vec::new();
        let with =
            fit_with_progress(&t, &options, &mut |p| seen.push((p.restart, p.epoch))).unwrap();
        seen.dedup();
        assert_eq!(seen, [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]);
        // Reporting changes nothing in the result.
        assert_eq!(with.params, fit(&t, &options).unwrap().params);
    }

    #[test]
    fn predictions_refuse_an_input_that_already_has_their_column() {
        let t = table("x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n");
        let model = fit(&t, &FitOptions::new(ModelSpec::Loglinear)).unwrap();
        let input = "x,y_predicted\n1,2\n";
        let mut out = Vec::new();
        let e = predict_csv(&model, input.as_bytes(), Path::new("in.csv"), &mut out).unwrap_err();
        assert!(e.is_usage(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("column y_predicted") && text.contains("column 2"),
            "{text}"
        );
        assert!(out.is_empty(), "nothing is written before the refusal");
    }

    #[test]
    fn a_target_beyond_f32_is_refused_for_networks_but_fitted_by_loglinear() {
        let t = table("x,y\n1,1e38\n2,2e38\n3,3e38\n4,4e38\n5,5e38\n");
        let dense = FitOptions {
            valid: Validation::None,
            ..FitOptions::new(ModelSpec::parse("dense", &"lg".parse().unwrap(), None).unwrap())
        };
        let err = fit(&t, &dense).unwrap_err();
        assert!(err.is_usage(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("--target") && text.contains("row 4"),
            "{text}"
        );
        assert!(
            text.contains("--scale") && text.contains("loglinear"),
            "{text}"
        );
        let loglinear = FitOptions {
            valid: Validation::None,
            ..FitOptions::new(ModelSpec::Loglinear)
        };
        assert!(fit(&t, &loglinear).is_ok());
        // Scaled, the same table is within f32 for the network.
        let scaled = FitOptions {
            scale: true,
            ..dense
        };
        assert!(fit(&t, &scaled).is_ok());
        // Beyond f32 even when scaled: the advice no longer offers --scale, which was given.
        let huge = table("x,y\n1,1e300\n2,2e300\n3,3e300\n4,1e301\n5,5e300\n");
        let text = fit(&huge, &scaled).unwrap_err().to_string();
        assert!(text.contains("even after --scale"), "{text}");
        assert!(!text.contains("scale it (--scale)"), "{text}");
    }

    #[test]
    fn a_fit_beyond_the_memory_limit_is_refused_naming_the_flag_at_fault() {
        let t = table("x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n");
        let tiny = Limits {
            max_run_bytes: 1 << 20,
            machine_bytes: None,
        };
        let wide = FitOptions::new(
            ModelSpec::parse("dense", &"lg".parse().unwrap(), Some(&[4000, 4000])).unwrap(),
        );
        let e = fit_within(&t, &wide, &tiny, &mut |_| {}).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("invalid --hidden"), "{text}");
        assert!(
            text.contains("1.0 MiB") && text.contains("--max-memory"),
            "{text}"
        );
        // The same fit within a limit it fits in runs.
        let small = FitOptions {
            training: Training {
                epochs: 1,
                ..Training::default()
            },
            ..FitOptions::new(
                ModelSpec::parse("dense", &"lg".parse().unwrap(), Some(&[4, 4])).unwrap(),
            )
        };
        assert!(fit_within(&t, &small, &tiny, &mut |_| {}).is_ok());
        // loglinear's normal equations grow with the square of the columns.
        let estimate = |k: usize| {
            let network = ModelSpec::Loglinear.build(k).unwrap();
            fit_memory_estimate(&FitOptions::new(ModelSpec::Loglinear), &network, 10).unwrap()
        };
        assert!(estimate(2000) >= 2001 * 2001 * 8, "{}", estimate(2000));
        assert!(estimate(2000) > 3 * estimate(1000));
    }

    #[test]
    fn scaling_uses_powers_of_two_near_the_geometric_mean() {
        // Inputs 2 and 8 (log2 1 and 3, mean 2), targets 0.25 and 1 (log2 −2 and 0, mean −1),
        // a zero input ignored.
        let t = table("x,z,y\n2,0,0.25\n8,0,1\n");
        let s = Scaling::of(&t.data, &[0, 1]);
        assert_eq!(
            s,
            Scaling {
                inputs_log2: vec![2, 0],
                target_log2: -1
            }
        );
        let scaled = s.apply(&t.data);
        assert_eq!(scaled.records(), [0.5, 0.0, 2.0, 0.0]);
        assert_eq!(scaled.targets(), [0.5, 2.0]);
        // A single NAU unit with weights (1, 0) predicts x/4 on the scaled rows, times 2^−1
        // back in the table's units: 0.25 and 1, exactly the targets.
        let net = ModelSpec::parse("units:nau", &crate::experiment::Pair::lg(), None)
            .unwrap()
            .build(2)
            .unwrap();
        assert_eq!(
            predict_with(&net, &[1.0, 0.0], Some(&s), &t.data),
            [0.25, 1.0]
        );
        assert_eq!(predict_with(&net, &[1.0, 0.0], None, &t.data), [2.0, 8.0]);
    }

    #[test]
    fn bad_options_name_their_flag() {
        let t = table("x,y\n1,2\n2,4\n");
        let base = FitOptions::new(ModelSpec::preset("lg").unwrap());
        for (options, flag) in [
            (
                FitOptions {
                    training: Training {
                        epochs: 0,
                        ..Training::default()
                    },
                    ..base.clone()
                },
                "epochs",
            ),
            (
                FitOptions {
                    training: Training {
                        lr: 0.0,
                        ..Training::default()
                    },
                    ..base.clone()
                },
                "lr",
            ),
            (
                FitOptions {
                    restarts: 0,
                    ..base.clone()
                },
                "restarts",
            ),
        ] {
            let e = fit(&t, &options).unwrap_err();
            assert!(e.to_string().contains(flag), "{e}");
        }
        assert!("sideways".parse::<Validation>().is_err());
        assert_eq!("Random".parse::<Validation>().unwrap(), Validation::Random);
    }

    /// Restarts keep the training with the lowest validation MAE, and the kept one's scores are
    /// those of the seed it reports.
    #[test]
    fn restarts_keep_the_best_on_validation() {
        let mut csv = "a,b,y\n".to_string();
        for i in 1..=30 {
            let (a, b) = (i as f64, (i % 5 + 1) as f64);
            csv += &format!("{a},{b},{}\n", a * b);
        }
        let t = table(&csv);
        let spec = ModelSpec::preset("nmu").unwrap();
        let one = |seed| {
            fit(
                &t,
                &FitOptions {
                    training: Training {
                        epochs: 3,
                        ..Training::default()
                    },
                    seed,
                    ..FitOptions::new(spec.clone())
                },
            )
            .unwrap()
            .summary
            .valid
            .scores
            .mae
            .unwrap()
        };
        let singles = [one(0), one(1), one(2)];
        let best = fit(
            &t,
            &FitOptions {
                training: Training {
                    epochs: 3,
                    ..Training::default()
                },
                restarts: 3,
                ..FitOptions::new(spec.clone())
            },
        )
        .unwrap();
        let kept = best.summary.restart;
        assert_eq!(best.summary.valid.scores.mae.unwrap(), singles[kept]);
        assert!(singles.iter().all(|&m| m >= singles[kept]));
    }
}
