//! The fit loop: epochs of reshuffled minibatches, Adam, the loss history Keras would print, and
//! divergence detection.

use crate::data::Dataset;
use crate::error::Error;
use crate::experiment::{InputScale, TargetScale};
use crate::fpenv::FlushSubnormals;
use crate::model::{Network, padded};
use crate::optim::{Optimizer, OptimizerState};
use crate::recipe::{Ingredients, Recipe};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Mean absolute error (the paper's loss).
    #[default]
    Mae,
    /// Mean squared error.
    Mse,
    /// Mean absolute error on the log scale, `mean |symlog(ŷ) − symlog(y)|` with
    /// `symlog(v) = sign(v)·ln(1 + |v|)`: for large targets it scores the ratio ŷ/y, as the
    /// paper's % error does, while staying defined at 0 and for negative values.
    Log,
    /// Mean relative error, `mean |ŷ − y| / max(|y|, RELATIVE_FLOOR)`: the paper's score
    /// itself (without the factor 100). The floor only guards a zero target, which none of
    /// the paper's functions produce (see [`RELATIVE_FLOOR`]).
    Relative,
}

/// The smallest `|y|` [`Loss::Relative`] divides by. Our targets are products of inputs ≥ 1
/// divided by at most 1000, so they never come near it; it keeps a zero target from making the
/// loss infinite (a row with |y| below it is weighted as if |y| were 1e-6).
pub const RELATIVE_FLOOR: f32 = 1e-6;

/// `sign(v)·ln(1 + |v|)` in `f32`.
#[inline(always)]
fn symlog(v: f32) -> f32 {
    v.signum() * v.abs().ln_1p()
}

impl std::str::FromStr for Loss {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mae" => Ok(Loss::Mae),
            "mse" => Ok(Loss::Mse),
            "log" => Ok(Loss::Log),
            "relative" => Ok(Loss::Relative),
            _ => Err(format!("unknown loss '{s}': use mae, mse, log or relative")),
        }
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loss::Mae => "mae",
            Loss::Mse => "mse",
            Loss::Log => "log",
            Loss::Relative => "relative",
        })
    }
}

impl Loss {
    /// The mean loss over a batch (in `f64`) and its gradient with respect to each prediction.
    #[inline(always)]
    pub fn value_and_gradient(
        self,
        predictions: &[f32],
        targets: &[f32],
        d_out: &mut [f32],
    ) -> f64 {
        let n = predictions.len();
        let inv_n = 1.0 / n as f32;
        let mut sum = 0.0f64;
        for ((&p, &y), d) in predictions.iter().zip(targets).zip(d_out.iter_mut()) {
            let r = p - y;
            match self {
                Loss::Mae => {
                    sum += f64::from(r.abs());
                    // TF's sign(0) is 0: an exact fit contributes no gradient. Written as a
                    // difference of two selections so that it compiles without branches (the
                    // sign of a residual is a coin flip the branch predictor keeps missing).
                    let up = if r > 0.0 { inv_n } else { 0.0 };
                    let down = if r < 0.0 { inv_n } else { 0.0 };
                    *d = up - down;
                }
                Loss::Mse => {
                    sum += f64::from(r) * f64::from(r);
                    *d = 2.0 * r * inv_n;
                }
                Loss::Log => {
                    // The sign is taken of the symlog difference (the quantity whose absolute
                    // value is summed), so that a fit exact on the log scale gets no gradient,
                    // as MAE's sign(0) = 0; d symlog(p)/dp = 1/(1 + |p|).
                    let q = symlog(p) - symlog(y);
                    sum += f64::from(q.abs());
                    let slope = inv_n / (1.0 + p.abs());
                    *d = if q > 0.0 {
                        slope
                    } else if q < 0.0 {
                        -slope
                    } else {
                        0.0
                    };
                }
                Loss::Relative => {
                    let w = 1.0 / y.abs().max(RELATIVE_FLOOR);
                    sum += f64::from(r.abs()) * f64::from(w);
                    let slope = inv_n * w;
                    *d = if r > 0.0 {
                        slope
                    } else if r < 0.0 {
                        -slope
                    } else {
                        0.0
                    };
                }
            }
        }
        sum / n as f64
    }
}

/// A regulariser's weight over training, as stable-nalu schedules its sparsity regulariser:
/// `λ(t) = lambda · clamp((t − start) / (end − start), 0, 1)` at optimiser step `t` (from 0);
/// a step from 0 to `lambda` at `start` when `end ≤ start`. With `below`, the regulariser
/// acts only on the batches whose loss (before their update, without the regulariser) is
/// below it, as iNALU's training regularises only once the loss is below 1.
///
/// ```
/// use logexp::train::Schedule;
/// let s = Schedule { lambda: 10.0, start: 100, end: 200, below: None };
/// assert_eq!((s.at(50), s.at(150), s.at(1000)), (0.0, 5.0, 10.0));
/// let gated = Schedule { below: Some(1.0), ..s };
/// assert_eq!((gated.applies(0.5), gated.applies(1.0), s.applies(1e9)), (true, false, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The final weight λ̂.
    pub lambda: f64,
    /// The step at which the weight starts to rise from 0.
    pub start: u64,
    /// The step at which it reaches `lambda`.
    pub end: u64,
    /// Regularise only batches whose loss is below this; `None` (left out of records)
    /// regularises every batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
}

impl Schedule {
    /// The weight at step `t`.
    pub fn at(&self, t: u64) -> f64 {
        if t < self.start {
            0.0
        } else if t >= self.end {
            self.lambda
        } else {
            self.lambda * (t - self.start) as f64 / (self.end - self.start) as f64
        }
    }

    /// Whether a batch whose loss is `loss` is regularised (see [`Schedule::below`]).
    #[inline(always)]
    pub fn applies(&self, loss: f64) -> bool {
        self.below.is_none_or(|below| loss < below)
    }

    /// Checks the weight is a finite, non-negative number `f32` can hold, and the loss
    /// threshold (if any) a positive number.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.lambda.is_finite() && self.lambda >= 0.0 && self.lambda <= f64::from(f32::MAX)) {
            return Err(format!(
                "the weight must be a non-negative number that f32 can hold, not {}",
                self.lambda
            ));
        }
        if self.start > self.end {
            return Err(format!(
                "the weight rises from step START to step END, so START ({}) cannot come after END ({})",
                self.start, self.end
            ));
        }
        if let Some(below) = self.below
            && !(below.is_finite() && below > 0.0)
        {
            return Err(format!(
                "the loss threshold BELOW must be a positive number, not {below}"
            ));
        }
        Ok(())
    }
}

/// Alternating updates, as iNALU trains: in every cycle of `cycle` consecutive batches of an
/// epoch (counted from the epoch's first batch), the first `weights` update every parameter
/// except the network's gates ([`Network::gates`]) and the others update the gates only. The
/// parameters a step leaves alone keep their optimiser state (moments, mean squares) too, as
/// TF 1's `apply_gradients` on a `var_list` does; Adam's step count advances at every step.
///
/// ```
/// use logexp::train::Alternate;
/// // iNALU: 8 of every 10 batches train the weights, 2 the gates.
/// let a = Alternate { weights: 8, cycle: 10 };
/// let gate_batches: Vec<usize> = (0..20).filter(|&b| !a.updates_weights(b)).collect();
/// assert_eq!(gate_batches, [8, 9, 18, 19]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Alternate {
    /// Batches per cycle that update the weights (first in the cycle).
    pub weights: usize,
    /// Batches per cycle.
    pub cycle: usize,
}

impl Alternate {
    /// Whether the epoch's batch `batch` (from 0) updates the weights (otherwise the gates).
    pub fn updates_weights(&self, batch: usize) -> bool {
        batch % self.cycle < self.weights
    }

    /// Checks both groups get batches: `1 ≤ weights < cycle`.
    pub fn validate(&self) -> Result<(), String> {
        if self.weights >= 1 && self.weights < self.cycle {
            Ok(())
        } else {
            Err(format!(
                "{} of {} batches for the weights leaves a group never trained: WEIGHTS must be at least 1 and below CYCLE, e.g. 8,10",
                self.weights, self.cycle
            ))
        }
    }
}

/// Restart on a plateau, as iNALU trains: when the epoch loss is still above `above` and has
/// not fallen below 99 % of its best for `patience` epochs, the network's parameters are drawn
/// afresh ([`Network::reinit`]) and the optimiser's state is reset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// Epochs without a 1 % improvement before a restart.
    pub patience: usize,
    /// Loss below which training is never restarted.
    pub above: f64,
}

/// How the learning rate moves over a run's optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate at every step (the paper's).
    #[default]
    Constant,
    /// Cosine decay from the full rate (after any warm-up) to 0 at the end of the last epoch:
    /// `lr · ½(1 + cos(π (t − w)/(T − w)))` at step `t` of `T`, warm-up `w`.
    Cosine,
    /// One cycle (Smith & Topping 2019, as PyTorch's `OneCycleLR`): over the first 30 % of the
    /// steps after any warm-up the rate rises from `lr/25` to `lr` on a half cosine, then falls
    /// to 0 on a half cosine.
    #[serde(rename = "one-cycle")]
    OneCycle,
    /// Reduce on plateau (as Keras' `ReduceLROnPlateau`, on the training loss): the rate halves
    /// whenever [`PLATEAU_PATIENCE`] epochs pass without the epoch loss falling below 99 % of
    /// its best since the last change.
    Plateau,
}

/// Epochs without a 1 % improvement before [`LrSchedule::Plateau`] halves the rate.
pub const PLATEAU_PATIENCE: usize = 10;

impl std::str::FromStr for LrSchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "constant" => Ok(LrSchedule::Constant),
            "cosine" => Ok(LrSchedule::Cosine),
            "one-cycle" => Ok(LrSchedule::OneCycle),
            "plateau" => Ok(LrSchedule::Plateau),
            _ => Err(format!(
                "unknown learning-rate schedule '{}': use constant, cosine, one-cycle or plateau",
                s.escape_debug()
            )),
        }
    }
}

impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Cosine => "cosine",
            LrSchedule::OneCycle => "one-cycle",
            LrSchedule::Plateau => "plateau",
        })
    }
}

/// The learning rate's factor at every step of a run: a linear warm-up over `warmup` steps
/// (step `t < w` runs at `(t + 1)/w` of the rate), then the [`LrSchedule`] over the remaining
/// steps up to `total`.
///
/// ```
/// use logexp::train::{LrPlan, LrSchedule};
/// let plan = LrPlan { schedule: LrSchedule::Cosine, warmup: 4, total: 14 };
/// // Warm-up 1/4, 2/4, …; the cosine starts at 1, is ½ halfway through its 10 steps.
/// assert_eq!((plan.factor(0), plan.factor(3), plan.factor(4), plan.factor(9)), (0.25, 1.0, 1.0, 0.5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrPlan {
    /// What follows the warm-up.
    pub schedule: LrSchedule,
    /// Steps of linear warm-up.
    pub warmup: u64,
    /// Optimiser steps in the whole run.
    pub total: u64,
}

impl LrPlan {
    /// The factor of the base learning rate at step `t` (from 0).
    pub fn factor(&self, t: u64) -> f64 {
        if t < self.warmup {
            return (t + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((t - self.warmup) as f64 / span as f64).min(1.0);
        let half_cosine = |p: f64| 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
        match self.schedule {
            // Plateau's reductions depend on the losses; the trainer applies them.
            LrSchedule::Constant | LrSchedule::Plateau => 1.0,
            LrSchedule::Cosine => half_cosine(progress),
            LrSchedule::OneCycle => {
                const RISE: f64 = 0.3;
                const START: f64 = 1.0 / 25.0;
                if progress < RISE {
                    1.0 - (1.0 - START) * half_cosine(progress / RISE)
                } else {
                    half_cosine((progress - RISE) / (1.0 - RISE))
                }
            }
        }
    }
}

/// What a training run is asked to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per minibatch; the last partial batch of an epoch is kept.
    pub batch_size: usize,
    /// The optimiser's learning rate.
    pub learning_rate: f64,
    /// The loss minimised.
    pub loss: Loss,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Every gradient component clipped to `[−clip, clip]` before the step (iNALU clips at
    /// 0.1).
    pub clip: Option<f32>,
    /// The network's regulariser and its schedule; `None` trains without one.
    pub regularizer: Option<Schedule>,
    /// Restarts on a plateau; `None` never restarts.
    pub reinit: Option<Plateau>,
    /// How the learning rate moves over the steps.
    pub lr_schedule: LrSchedule,
    /// Steps of linear learning-rate warm-up (0: none).
    pub warmup: u64,
    /// Epochs at the end whose parameters are averaged into the result (0: none).
    pub average_last: usize,
    /// Alternating weight and gate updates; `None` updates every parameter at every step.
    pub alternate: Option<Alternate>,
}

impl Default for TrainConfig {
    /// The paper's protocol: [`Training::default`]'s.
    fn default() -> Self {
        Training::default().config()
    }
}

/// How a network is trained: the one list of training settings, their defaults (the paper's
/// protocol) and their checks. A protocol run ([`crate::experiment::RunSpec`], whose record
/// keeps them as flat fields so the paper's records keep their keys and order) and a fit on a
/// user's table ([`crate::fit::FitOptions`]) both hold one, and both train through
/// [`Training::config`]. A named [`Recipe`] fills in some of them
/// ([`Training::with_recipe`]).
///
/// Its JSON (a model file's fit options) writes the first seven settings always, so model
/// files stay readable by versions that knew only those, and the later ones only when they are
/// not at their default.
///
/// ```
/// use logexp::recipe::{Ingredients, Recipe};
/// use logexp::train::Training;
/// let t = Training::default().with_recipe(
///     Recipe::LgRelativeCosine,
///     Ingredients { epochs: Some(5), ..Ingredients::default() },
/// );
/// assert_eq!((t.epochs, t.lr), (5, 3e-3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Passes over the training set (1 to [`crate::experiment::MAX_EPOCHS`]); the paper's: 100.
    pub epochs: usize,
    /// Rows per minibatch; the last partial batch of an epoch is kept. The paper's: 32.
    pub batch_size: usize,
    /// The base learning rate; the paper's: 1e-3.
    pub lr: f64,
    /// The loss minimised; the paper's: MAE.
    pub loss: Loss,
    /// The optimiser; the paper's: Adam with Keras's defaults.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Every gradient component clipped to `[−clip, clip]` before the optimiser step (iNALU
    /// clips at 0.1); `None`, the paper's, clips nothing.
    #[serde(default)]
    pub clip: Option<f64>,
    /// The model's regulariser (NAU/NMU sparsity) with its schedule λ(t); `None`, the paper's,
    /// trains without one.
    #[serde(default)]
    pub regularizer: Option<Schedule>,
    /// Restart from fresh parameters when the loss plateaus (iNALU's trick); `None`, the
    /// paper's, never restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinit: Option<Plateau>,
    /// How the learning rate moves over the steps; the paper's: constant.
    #[serde(default, skip_serializing_if = "is_default")]
    pub lr_schedule: LrSchedule,
    /// Optimiser steps of linear learning-rate warm-up; the paper's: 0.
    #[serde(default, skip_serializing_if = "is_default")]
    pub warmup: u64,
    /// The named recipe the settings came from; the paper's: `paper`. Informative only: the
    /// settings it filled in are the fields above.
    #[serde(default, skip_serializing_if = "is_default")]
    pub recipe: Recipe,
    /// Divide the targets by a constant estimated from the training rows before training
    /// ([`TargetScale`]); the paper's: none.
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_scale: TargetScale,
    /// Multiply each input by a factor estimated from the training rows before training
    /// ([`InputScale`]); the paper's: none.
    #[serde(default, skip_serializing_if = "is_default")]
    pub input_scale: InputScale,
    /// Use the mean of the parameters at the ends of the last this many epochs instead of the
    /// last parameters (stochastic weight averaging, Izmailov et al. 2018); the paper's: 0,
    /// off. A run's `--solved-every` measurements see the running parameters, not the mean.
    #[serde(default, skip_serializing_if = "is_default")]
    pub average_last: usize,
    /// Alternate weight and gate updates (iNALU's trick, [`Alternate`]); `None`, the paper's,
    /// updates every parameter at every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate: Option<Alternate>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Default for Training {
    /// The paper's protocol: 100 epochs, batch 32, Adam 1e-3, MAE, constant rate, nothing else.
    fn default() -> Self {
        Training {
            epochs: 100,
            batch_size: 32,
            lr: 1e-3,
            loss: Loss::Mae,
            optimizer: Optimizer::Adam,
            clip: None,
            regularizer: None,
            reinit: None,
            lr_schedule: LrSchedule::Constant,
            warmup: 0,
            recipe: Recipe::Paper,
            target_scale: TargetScale::None,
            input_scale: InputScale::None,
            average_last: 0,
            alternate: None,
        }
    }
}

impl Training {
    /// These settings with `recipe` applied: each setting a recipe fills in
    /// ([`Ingredients`]) takes its `explicit` value when there is one, otherwise the recipe's,
    /// otherwise keeps its value here; the others are kept. The result names the recipe.
    /// `Recipe::Paper` fills in nothing, so with no explicit values the settings are
    /// unchanged (apart from naming `paper`, the default).
    pub fn with_recipe(self, recipe: Recipe, explicit: Ingredients) -> Training {
        let filled = recipe.ingredients();
        Training {
            epochs: explicit.epochs.or(filled.epochs).unwrap_or(self.epochs),
            batch_size: explicit
                .batch_size
                .or(filled.batch_size)
                .unwrap_or(self.batch_size),
            target_scale: explicit
                .target_scale
                .or(filled.target_scale)
                .unwrap_or(self.target_scale),
            input_scale: explicit
                .input_scale
                .or(filled.input_scale)
                .unwrap_or(self.input_scale),
            average_last: explicit
                .average_last
                .or(filled.average_last)
                .unwrap_or(self.average_last),
            lr: explicit.lr.or(filled.lr).unwrap_or(self.lr),
            loss: explicit.loss.or(filled.loss).unwrap_or(self.loss),
            lr_schedule: explicit
                .lr_schedule
                .or(filled.lr_schedule)
                .unwrap_or(self.lr_schedule),
            warmup: explicit.warmup.or(filled.warmup).unwrap_or(self.warmup),
            recipe,
            ..self
        }
    }

    /// Checks every setting, naming the offending one (as its command-line flag) and how to
    /// fix it.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid =
            |field: &'static str, message: String| Err(Error::InvalidSetting { field, message });
        let max_epochs = crate::experiment::MAX_EPOCHS;
        if self.epochs == 0 || self.epochs > max_epochs {
            return invalid(
                "epochs",
                format!("must be between 1 and {max_epochs} (the record keeps one loss per epoch)"),
            );
        }
        if self.batch_size == 0 {
            return invalid(
                "batch-size",
                "must be at least 1 (the paper uses 32)".into(),
            );
        }
        // Training runs in f32 under flush-to-zero: a rate that is not a normal f32 would train
        // nothing at all (or overflow), so it is refused rather than trained with.
        if !(self.lr.is_finite() && self.lr > 0.0 && (self.lr as f32).is_normal()) {
            return invalid(
                "lr",
                format!(
                    "must be a positive number that f32 can hold (between {:e} and {:e}), e.g. 0.001",
                    f32::MIN_POSITIVE,
                    f32::MAX
                ),
            );
        }
        if let Some(clip) = self.clip
            && !(clip.is_finite() && clip > 0.0 && (clip as f32).is_normal())
        {
            return invalid(
                "clip",
                "must be a positive number that f32 can hold, e.g. 0.1".into(),
            );
        }
        if self.average_last > self.epochs {
            return invalid(
                "average-last",
                format!(
                    "averages the parameters of the last epochs, so it must be at most --epochs ({}); 0 turns it off",
                    self.epochs
                ),
            );
        }
        if let Some(schedule) = &self.regularizer {
            schedule
                .validate()
                .map_err(|message| Error::InvalidSetting {
                    field: "regularizer",
                    message,
                })?;
        }
        if let Some(alternate) = &self.alternate {
            alternate
                .validate()
                .map_err(|message| Error::InvalidSetting {
                    field: "alternate",
                    message,
                })?;
        }
        Ok(())
    }

    /// Checks the settings that depend on the model: alternating updates need a model with
    /// gates (`has_gates`; `model` names it in the message).
    pub fn validate_model(&self, has_gates: bool, model: &str) -> Result<(), Error> {
        if self.alternate.is_some() && !has_gates {
            return Err(Error::InvalidSetting {
                field: "alternate",
                message: format!(
                    "alternates weight and gate updates, but the model {model} has no gates: use units with a gate (nalu, inalu, npu, real-npu) or leave --alternate out"
                ),
            });
        }
        Ok(())
    }

    /// The configuration the fit loop runs with.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            loss: self.loss,
            optimizer: self.optimizer,
            clip: self.clip.map(|c| c as f32),
            regularizer: self.regularizer,
            reinit: self.reinit,
            lr_schedule: self.lr_schedule,
            warmup: self.warmup,
            average_last: self.average_last,
            alternate: self.alternate,
        }
    }
}

/// The length of a batch's predictions (and targets, and their gradient) for `outputs`
/// outputs and `n` rows: `n` for one output, output-major padded rows otherwise (the layout of
/// [`Network::forward`]).
fn outputs_len(outputs: usize, n: usize) -> usize {
    if outputs == 1 { n } else { outputs * padded(n) }
}

/// The loss of a batch of several outputs: the mean over outputs of each output's mean loss,
/// so the mean over every prediction (Flux's `mse` of a matrix, as the NPU paper trains), and
/// its gradient. Padding lanes get no gradient.
fn joint_loss(
    loss: Loss,
    outputs: usize,
    n: usize,
    predictions: &[f32],
    targets: &[f32],
    d_out: &mut [f32],
) -> f64 {
    let stride = padded(n);
    let share = 1.0 / outputs as f32;
    let mut sum = 0.0f64;
    for o in 0..outputs {
        let rows = o * stride..o * stride + n;
        sum += loss.value_and_gradient(
            &predictions[rows.clone()],
            &targets[rows.clone()],
            &mut d_out[rows.clone()],
        );
        for d in &mut d_out[rows] {
            *d *= share;
        }
        d_out[o * stride + n..(o + 1) * stride].fill(0.0);
    }
    sum / outputs as f64
}

/// Where each epoch's training rows come from: one fixed set (`&Dataset`, the paper's way), or
/// new rows every epoch (stable-nalu's way). Every epoch's set has the same number of rows.
pub trait EpochData {
    /// The rows of `epoch` (1-based).
    fn rows(&mut self, epoch: usize) -> &Dataset;
}

impl EpochData for &Dataset {
    fn rows(&mut self, _epoch: usize) -> &Dataset {
        self
    }
}

/// What happened during training.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Per completed epoch, the sample-weighted mean of its batch losses (what Keras prints).
    pub epoch_loss: Vec<f64>,
    /// The 1-based epoch in which the loss or a parameter became non-finite, if any.
    pub diverged_at_epoch: Option<usize>,
    /// The epochs after which the parameters were drawn afresh ([`Plateau`]).
    pub reinit_epochs: Vec<usize>,
}

/// Owns every buffer one training run needs, so that [`Trainer::step`] allocates nothing.
pub struct Trainer<'n, N: Network> {
    net: &'n N,
    loss: Loss,
    batch_size: usize,
    workspace: N::Workspace,
    x: Vec<f32>,
    y: Vec<f32>,
    predictions: Vec<f32>,
    d_out: Vec<f32>,
    grad: Vec<f32>,
    order: Vec<u32>,
    optimizer_kind: Optimizer,
    learning_rate: f64,
    optimizer: OptimizerState,
    clip: Option<f32>,
    regularizer: Option<Schedule>,
    lr_plan: Option<LrPlan>,
    /// Reductions of the rate so far ([`LrSchedule::Plateau`]); 1 otherwise.
    lr_reduction: f64,
    steps: u64,
    /// With alternating updates: the rule, the ranges a weight batch updates (everything but
    /// the gates), the ranges a gate batch updates, and the batch's place in its epoch.
    alternate: Option<Alternation>,
}

/// The state of alternating updates over a run, built once so that steps allocate nothing.
struct Alternation {
    rule: Alternate,
    weights: Vec<std::ops::Range<usize>>,
    gates: Vec<std::ops::Range<usize>>,
    batch: usize,
}

impl Alternation {
    fn new(rule: Alternate, gates: Vec<std::ops::Range<usize>>, n_params: usize) -> Self {
        let mut weights = Vec::with_capacity(gates.len() + 1);
        let mut at = 0;
        for gate in &gates {
            if gate.start > at {
                weights.push(at..gate.start);
            }
            at = gate.end;
        }
        if at < n_params {
            weights.push(at..n_params);
        }
        Alternation {
            rule,
            weights,
            gates,
            batch: 0,
        }
    }
}

impl<'n, N: Network> Trainer<'n, N> {
    /// Buffers for training `net` on `n_rows` rows with `config`.
    ///
    /// # Panics
    /// If `config.batch_size` is 0 or `n_rows` does not fit in `u32` (validate specs first, see
    /// [`crate::experiment::RunSpec::validate`]).
    pub fn new(net: &'n N, config: &TrainConfig, n_rows: usize) -> Self {
        assert!(config.batch_size > 0, "batch size must be positive");
        let rows = u32::try_from(n_rows).expect("at most 2^32 rows");
        let b = config.batch_size.min(n_rows.max(1));
        Trainer {
            net,
            loss: config.loss,
            batch_size: b,
            workspace: net.workspace(b),
            x: vec![0.0; padded(b) * net.n_inputs()],
            // One output: the batch's `b` values. Several: output-major with padded rows.
            y: vec![0.0; outputs_len(net.n_outputs(), b)],
            predictions: vec![0.0; outputs_len(net.n_outputs(), b)],
            d_out: vec![0.0; outputs_len(net.n_outputs(), b)],
            grad: vec![0.0; net.n_params()],
            order: (0..rows).collect(),
            optimizer_kind: config.optimizer,
            learning_rate: config.learning_rate,
            optimizer: OptimizerState::new(config.optimizer, net.n_params(), config.learning_rate),
            clip: config.clip,
            regularizer: config.regularizer,
            // The paper's constant rate needs no plan: the step then never touches the rate.
            lr_plan: (config.lr_schedule != LrSchedule::Constant || config.warmup > 0).then(|| {
                LrPlan {
                    schedule: config.lr_schedule,
                    warmup: config.warmup,
                    total: (config.epochs as u64).saturating_mul(n_rows.div_ceil(b) as u64),
                }
            }),
            lr_reduction: 1.0,
            steps: 0,
            alternate: config
                .alternate
                .map(|rule| Alternation::new(rule, net.gates(), net.n_params())),
        }
    }

    /// Forgets the optimiser's state (moments, step count), as after a restart.
    pub fn reset_optimizer(&mut self) {
        self.optimizer =
            OptimizerState::new(self.optimizer_kind, self.net.n_params(), self.learning_rate);
    }

    /// One minibatch step on the rows `indices` of `data`: forward, loss, backward, the
    /// regulariser (if any), clipping (if asked), the optimiser, the network's projection.
    /// Returns the batch's mean loss before the update. Uses AVX2 where the CPU has it, as
    /// [`Trainer::epoch`] does, and flushes subnormals to zero as TensorFlow does (see
    /// [`crate::fpenv`]).
    pub fn step(&mut self, params: &mut [f32], data: &Dataset, indices: &[u32]) -> f64 {
        let _flush = FlushSubnormals::new();
        #[cfg(target_arch = "x86_64")]
        if crate::isa::avx2() {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.step_avx2(params, data, indices) };
        }
        self.step_body(params, data, indices)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn step_avx2(&mut self, params: &mut [f32], data: &Dataset, indices: &[u32]) -> f64 {
        self.step_body(params, data, indices)
    }

    #[inline(always)]
    fn step_body(&mut self, params: &mut [f32], data: &Dataset, indices: &[u32]) -> f64 {
        let n = indices.len();
        let x = &mut self.x[..padded(n) * data.n_features()];
        data.gather(indices, x, &mut self.y);
        self.net
            .forward(params, x, n, &mut self.workspace, &mut self.predictions);
        let outputs = self.net.n_outputs();
        let len = outputs_len(outputs, n);
        let loss = if outputs == 1 {
            self.loss
                .value_and_gradient(&self.predictions[..n], &self.y[..n], &mut self.d_out[..n])
        } else {
            joint_loss(
                self.loss,
                outputs,
                n,
                &self.predictions[..len],
                &self.y[..len],
                &mut self.d_out[..len],
            )
        };
        self.net.backward(
            params,
            x,
            n,
            &mut self.workspace,
            &self.d_out[..len],
            &mut self.grad,
        );
        // The options below are off for the paper's runs: their branches are not taken and
        // the step's arithmetic is exactly the paper's.
        if let Some(schedule) = self.regularizer {
            let lambda = schedule.at(self.steps) as f32;
            if lambda > 0.0 && schedule.applies(loss) {
                self.net.regularize(params, lambda, &mut self.grad);
            }
        }
        if let Some(c) = self.clip {
            for g in &mut self.grad {
                *g = g.clamp(-c, c);
            }
        }
        if let Some(plan) = self.lr_plan {
            self.optimizer.set_learning_rate(
                self.learning_rate * plan.factor(self.steps) * self.lr_reduction,
            );
        }
        match &mut self.alternate {
            None => self.optimizer.step(params, &self.grad),
            Some(alternation) => {
                let ranges = if alternation.rule.updates_weights(alternation.batch) {
                    &alternation.weights
                } else {
                    &alternation.gates
                };
                self.optimizer.step_ranges(params, &self.grad, ranges);
                alternation.batch += 1;
            }
        }
        self.net.project(params);
        self.steps += 1;
        loss
    }

    /// One epoch: reshuffle, then every minibatch. Returns the sample-weighted mean batch loss,
    /// or `None` as soon as a batch loss is not finite.
    ///
    /// On x86-64 CPUs with AVX2 the whole epoch runs in code compiled for AVX2 (chosen at run
    /// time, so the binary still runs on any x86-64). The kernels use no fused multiply-add,
    /// so both paths give the same bits. Subnormals are flushed to zero, as TensorFlow does
    /// (see [`crate::fpenv`]).
    pub fn epoch(
        &mut self,
        params: &mut [f32],
        data: &Dataset,
        rng: &mut ChaCha8Rng,
    ) -> Option<f64> {
        let _flush = FlushSubnormals::new();
        #[cfg(target_arch = "x86_64")]
        if crate::isa::avx2() {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.epoch_avx2(params, data, rng) };
        }
        self.epoch_body(params, data, rng)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn epoch_avx2(
        &mut self,
        params: &mut [f32],
        data: &Dataset,
        rng: &mut ChaCha8Rng,
    ) -> Option<f64> {
        self.epoch_body(params, data, rng)
    }

    /// The epoch compiled for the baseline instruction set only.
    pub fn epoch_portable(
        &mut self,
        params: &mut [f32],
        data: &Dataset,
        rng: &mut ChaCha8Rng,
    ) -> Option<f64> {
        let _flush = FlushSubnormals::new();
        self.epoch_body(params, data, rng)
    }

    #[inline(always)]
    fn epoch_body(
        &mut self,
        params: &mut [f32],
        data: &Dataset,
        rng: &mut ChaCha8Rng,
    ) -> Option<f64> {
        shuffle(&mut self.order, rng);
        if let Some(alternation) = &mut self.alternate {
            // Their cycle counts the epoch's batches: every epoch starts with weight batches.
            alternation.batch = 0;
        }
        // Taking the order out lets `step` borrow `self` mutably; it is put back below.
        let order = std::mem::take(&mut self.order);
        let mut weighted = 0.0f64;
        let mut finite = true;
        for batch in order.chunks(self.batch_size) {
            let loss = self.step_body(params, data, batch);
            if !loss.is_finite() {
                finite = false;
                break;
            }
            weighted += loss * batch.len() as f64;
        }
        self.order = order;
        finite.then(|| weighted / data.len() as f64)
    }
}

/// Trains `net` from `params` on `data`, shuffling with `rng`. Stops at the first epoch whose loss
/// or parameters are not finite and records it: divergence is a result, not an error.
///
/// ```
/// use logexp::activation::Activation::{Symexp, Symlog};
/// use logexp::data::{Dataset, Range};
/// use logexp::expr::Expr;
/// use logexp::model::{Dense, Network};
/// use logexp::train::{fit, TrainConfig};
/// use rand::SeedableRng;
/// use rand_chacha::ChaCha8Rng;
///
/// let f = Expr::parse("x1*x2/10").unwrap();
/// let data = Dataset::sample(&f, 512, Range::PAPER_TRAIN, 0, 0).unwrap();
/// let net = Dense::new(2, &[16, 12], &[Symlog, Symexp]).unwrap();
/// let mut rng = ChaCha8Rng::seed_from_u64(1);
/// let mut params = vec![0.0; net.n_params()];
/// net.init_params(&mut rng, &mut params);
/// let config = TrainConfig { epochs: 5, ..TrainConfig::default() };
/// let history = fit(&net, &mut params, &data, &config, &mut rng);
/// assert_eq!(history.epoch_loss.len(), 5);
/// assert!(history.epoch_loss[4] < history.epoch_loss[0]);
/// ```
pub fn fit<N: Network>(
    net: &N,
    params: &mut [f32],
    data: &Dataset,
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
) -> History {
    let mut fixed = data;
    fit_from(net, params, &mut fixed, config, rng)
}

/// Like [`fit`], with each epoch's rows from `data` (see [`EpochData`]).
pub fn fit_from<N: Network, D: EpochData>(
    net: &N,
    params: &mut [f32],
    data: &mut D,
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
) -> History {
    fit_watched(net, params, data, config, rng, &mut |_, _| {})
}

/// Like [`fit_from`], calling `watch(epoch, params)` after every completed epoch (1-based) with
/// the parameters training carries into the next one (after a [`Plateau`] restart, if that
/// epoch triggered one), so that a caller can measure the model while it trains. The watcher
/// sees the parameters read-only and its work stays outside the optimiser steps: training,
/// its history and the final parameters are the same with any watcher. It is not called for
/// the epoch that diverged.
///
/// ```
/// use logexp::activation::Activation::{Symexp, Symlog};
/// use logexp::data::{Dataset, Range};
/// use logexp::expr::Expr;
/// use logexp::model::{Dense, Network};
/// use logexp::train::{fit_watched, TrainConfig};
/// use rand::SeedableRng;
/// use rand_chacha::ChaCha8Rng;
///
/// let f = Expr::parse("x1*x2/10").unwrap();
/// let data = Dataset::sample(&f, 256, Range::PAPER_TRAIN, 0, 0).unwrap();
/// let net = Dense::new(2, &[16, 12], &[Symlog, Symexp]).unwrap();
/// let mut params = vec![0.0; net.n_params()];
/// net.init_params(&mut ChaCha8Rng::seed_from_u64(1), &mut params);
/// let config = TrainConfig { epochs: 4, ..TrainConfig::default() };
/// let mut seen = Vec::new();
/// fit_watched(&net, &mut params, &mut &data, &config, &mut ChaCha8Rng::seed_from_u64(2),
///     &mut |epoch, _| seen.push(epoch));
/// assert_eq!(seen, [1, 2, 3, 4]);
/// ```
pub fn fit_watched<N: Network, D: EpochData>(
    net: &N,
    params: &mut [f32],
    data: &mut D,
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
    watch: &mut dyn FnMut(usize, &[f32]),
) -> History {
    let n_rows = data.rows(1).len();
    let mut trainer = Trainer::new(net, config, n_rows);
    let mut history = History::default();
    let mut plateau = PlateauWatch::default();
    let mut rate_plateau = PlateauWatch::default();
    let rate_rule = Plateau {
        patience: PLATEAU_PATIENCE,
        above: f64::NEG_INFINITY,
    };
    // Weight averaging: f64 sums of the parameters at the ends of the window's epochs.
    let mut average = (config.average_last > 0).then(|| (vec![0.0f64; params.len()], 0usize));
    let window_start = config.epochs.saturating_sub(config.average_last);
    for epoch in 1..=config.epochs {
        match trainer.epoch(params, data.rows(epoch), rng) {
            Some(loss) if params.iter().all(|p| p.is_finite()) => {
                history.epoch_loss.push(loss);
                if let Some((sum, count)) = &mut average
                    && epoch > window_start
                {
                    for (s, p) in sum.iter_mut().zip(params.iter()) {
                        *s += f64::from(*p);
                    }
                    *count += 1;
                }
                if config.lr_schedule == LrSchedule::Plateau && rate_plateau.stuck(loss, &rate_rule)
                {
                    trainer.lr_reduction *= 0.5;
                }
                if let Some(rule) = config.reinit
                    && plateau.stuck(loss, &rule)
                {
                    // Restarts draw from their own stream, so the shuffling order is the
                    // one an uninterrupted run would have used.
                    let restart = plateau.restarts;
                    let mut redraw = rng.clone();
                    redraw.set_stream(2 + restart);
                    net.reinit(&mut redraw, params);
                    trainer.reset_optimizer();
                    history.reinit_epochs.push(epoch);
                    // An average must not mix the network before and after a redraw.
                    if let Some((sum, count)) = &mut average {
                        sum.fill(0.0);
                        *count = 0;
                    }
                }
                watch(epoch, params);
            }
            _ => {
                history.diverged_at_epoch = Some(epoch);
                break;
            }
        }
    }
    if let Some((sum, count)) = average
        && count > 0
        && history.diverged_at_epoch.is_none()
    {
        for (p, s) in params.iter_mut().zip(&sum) {
            *p = (s / count as f64) as f32;
        }
    }
    history
}

/// The state of the [`Plateau`] rule over epochs.
#[derive(Debug, Default)]
struct PlateauWatch {
    best: Option<f64>,
    since_best: usize,
    restarts: u64,
}

impl PlateauWatch {
    /// Whether training should restart after an epoch with `loss`; resets itself if so.
    fn stuck(&mut self, loss: f64, rule: &Plateau) -> bool {
        match self.best {
            Some(best) if loss >= 0.99 * best => self.since_best += 1,
            _ => {
                self.best = Some(loss);
                self.since_best = 0;
            }
        }
        if loss > rule.above && self.since_best >= rule.patience.max(1) {
            self.best = None;
            self.since_best = 0;
            self.restarts += 1;
            true
        } else {
            false
        }
    }
}

/// Fisher–Yates with `u32` draws, whose sequence rand documents as portable across platforms.
fn shuffle(order: &mut [u32], rng: &mut ChaCha8Rng) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i as u32) as usize;
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mae_gradient_is_sign_over_n_and_zero_on_exact_fit() {
        let mut d = [0.0; 3];
        let loss = Loss::Mae.value_and_gradient(&[3.0, 1.0, 2.0], &[1.0, 2.0, 2.0], &mut d);
        assert!((loss - 1.0).abs() < 1e-12);
        assert_eq!(d, [1.0 / 3.0, -1.0 / 3.0, 0.0]);
        let loss = Loss::Mse.value_and_gradient(&[3.0, 1.0, 2.0], &[1.0, 2.0, 2.0], &mut d);
        assert!((loss - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(d, [4.0 / 3.0, -2.0 / 3.0, 0.0]);
    }

    #[test]
    fn learning_rate_plans_by_hand() {
        // Cosine over 8 steps, no warm-up: ½(1 + cos(π t/8)) = 1, (1 + √½)/2, ½ at t = 0, 2, 4.
        let plan = LrPlan {
            schedule: LrSchedule::Cosine,
            warmup: 0,
            total: 8,
        };
        let half_root = std::f64::consts::FRAC_1_SQRT_2;
        assert_eq!(plan.factor(0), 1.0);
        assert!((plan.factor(2) - (1.0 + half_root) / 2.0).abs() < 1e-12);
        assert!((plan.factor(4) - 0.5).abs() < 1e-12);
        assert!(
            plan.factor(7) > 0.0 && plan.factor(7) < 0.04,
            "{}",
            plan.factor(7)
        );
        assert_eq!(plan.factor(8), 0.0);
        // Warm-up alone: 1/3, 2/3, 1, then constant.
        let warm = LrPlan {
            schedule: LrSchedule::Constant,
            warmup: 3,
            total: 100,
        };
        let f: Vec<f64> = (0..5).map(|t| warm.factor(t)).collect();
        assert_eq!(f, [1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0, 1.0]);
        assert_eq!("Cosine".parse::<LrSchedule>(), Ok(LrSchedule::Cosine));
        assert!("step".parse::<LrSchedule>().is_err());
        // One cycle over 20 steps: starts at 1/25, half way up at 15 % (1 − 0.96 · ½ = 0.52),
        // the full rate at 30 % (t = 6), half way down at 65 % (t = 13), 0 at the end.
        let cycle = LrPlan {
            schedule: LrSchedule::OneCycle,
            warmup: 0,
            total: 20,
        };
        assert!((cycle.factor(0) - 0.04).abs() < 1e-12);
        assert!((cycle.factor(3) - 0.52).abs() < 1e-12);
        assert_eq!(cycle.factor(6), 1.0);
        assert!((cycle.factor(13) - 0.5).abs() < 1e-12);
        assert_eq!(cycle.factor(20), 0.0);
        assert_eq!("one-cycle".parse::<LrSchedule>(), Ok(LrSchedule::OneCycle));
        assert_eq!(LrSchedule::Plateau.to_string(), "plateau");
    }

    /// With a loss that never improves (the Recorder predicts 0 whatever its parameter), the
    /// plateau schedule halves the rate after epochs 11 and 22 (epoch 1 sets the best, ten
    /// more without a 1 % gain): one step per epoch at rate 1, ½ and ¼ moves the parameter by
    /// 11 + 5.5 + 8/4 = 18.5 in 30 epochs.
    #[test]
    fn weight_averaging_returns_the_mean_of_the_last_epochs_parameters() {
        // The Recorder's gradient is 1: each Adam step at rate 1 moves the parameter by 1, so
        // after epochs 1–4 (one step each) it is −1, −2, −3, −4; the last two average −3.5.
        let config = TrainConfig {
            epochs: 4,
            average_last: 2,
            ..one_step_per_epoch_at_rate_one()
        };
        let p = recorder_parameter_after(&config);
        assert!((p + 3.5).abs() < 1e-3, "{p}");
        let p = recorder_parameter_after(&TrainConfig {
            average_last: 0,
            ..config
        });
        assert!((p + 4.0).abs() < 1e-3, "{p}");
    }

    #[test]
    fn the_plateau_schedule_halves_the_rate_when_the_loss_stalls() {
        let p = recorder_parameter_after(&TrainConfig {
            epochs: 30,
            lr_schedule: LrSchedule::Plateau,
            ..one_step_per_epoch_at_rate_one()
        });
        assert!((p + 18.5).abs() < 1e-2, "{p}");
    }

    /// Four rows in one batch of four at rate 1: one Adam step per epoch.
    fn one_step_per_epoch_at_rate_one() -> TrainConfig {
        TrainConfig {
            batch_size: 4,
            learning_rate: 1.0,
            ..TrainConfig::default()
        }
    }

    /// The Recorder's parameter (from 0) after `config` on four rows.
    fn recorder_parameter_after(config: &TrainConfig) -> f32 {
        let mut params = [0.0f32];
        fit(
            &Recorder::new(),
            &mut params,
            &indexed_rows(4),
            config,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        params[0]
    }

    /// The trainer moves the optimiser's rate along the plan: with the Recorder's gradient of
    /// 1, each Adam step moves the parameter by about the step's rate, so after a cosine run
    /// of 4 steps at rate 1 it is −(1 + (1 + √½)/2 + ½ + (1 − √½)/2) = −2.5.
    #[test]
    fn the_trainer_follows_the_plan() {
        let p = recorder_parameter_after(&TrainConfig {
            epochs: 4,
            lr_schedule: LrSchedule::Cosine,
            ..one_step_per_epoch_at_rate_one()
        });
        assert!((p + 2.5).abs() < 1e-3, "{p}");
    }

    #[test]
    fn log_loss_by_hand() {
        // ŷ = e − 1, y = 0: symlog = 1 and 0, |1 − 0| = 1; slope 1/(1 + (e − 1)) = 1/e, /2 rows.
        // ŷ = −3, y = 3: symlog = −ln 4 and ln 4, |−2 ln 4| = 2 ln 4; slope −1/(1 + 3) = −1/4, /2.
        let e = std::f32::consts::E;
        let mut d = [0.0; 2];
        let loss = Loss::Log.value_and_gradient(&[e - 1.0, -3.0], &[0.0, 3.0], &mut d);
        let expected = (1.0 + 2.0 * 4f64.ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        assert!((d[0] - 1.0 / (2.0 * e)).abs() < 1e-7, "{}", d[0]);
        assert!((d[1] + 1.0 / 8.0).abs() < 1e-7, "{}", d[1]);
        // An exact fit contributes nothing, as MAE's sign(0) = 0.
        let loss = Loss::Log.value_and_gradient(&[5.0, -2.0], &[5.0, -2.0], &mut d);
        assert_eq!((loss, d), (0.0, [0.0, 0.0]));
    }

    #[test]
    fn relative_loss_by_hand() {
        // |12 − 10|/10 = 0.2 and |−1 − (−4)|/4 = 0.75: mean 0.475. Gradients sign(r)/(n|y|):
        // +1/30 and +1/12 (3 rows; the third, exact, gets 0). A zero target is divided by the floor, not by 0.
        let mut d = [0.0; 3];
        let loss =
            Loss::Relative.value_and_gradient(&[12.0, -1.0, 5.0], &[10.0, -4.0, 5.0], &mut d);
        assert!((loss - 0.95 / 3.0).abs() < 1e-7, "{loss}");
        assert_eq!(d[2], 0.0);
        assert!(
            (d[0] - 1.0 / 30.0).abs() < 1e-8 && (d[1] - 1.0 / 12.0).abs() < 1e-8,
            "{d:?}"
        );
        let loss = Loss::Relative.value_and_gradient(&[1e-3], &[0.0], &mut d[..1]);
        assert!(loss.is_finite() && (loss - 1e3).abs() < 1e-2, "{loss}");
    }

    /// Central differences of the mean loss (in f64 at the f32 predictions) against the
    /// analytic gradient, at residuals far from the kink at 0.
    #[test]
    fn loss_gradients_match_finite_differences() {
        let p = [3.5f32, -0.4, 120.0, 0.7, -15.0, 0.02];
        let y = [1.0f32, 0.3, 100.0, -0.9, -10.0, 0.05];
        for loss in [Loss::Mae, Loss::Mse, Loss::Log, Loss::Relative] {
            let mut d = [0.0f32; 6];
            loss.value_and_gradient(&p, &y, &mut d);
            for i in 0..p.len() {
                let h = 1e-3 * (1.0 + p[i].abs());
                let at = |delta: f32| {
                    let mut q = p;
                    q[i] += delta;
                    let mut scratch = [0.0f32; 6];
                    loss.value_and_gradient(&q, &y, &mut scratch)
                };
                let numeric = (at(h) - at(-h)) / (2.0 * f64::from(h));
                let analytic = f64::from(d[i]);
                assert!(
                    (numeric - analytic).abs() <= 1e-3 * analytic.abs().max(1e-2),
                    "{loss} row {i}: numeric {numeric} analytic {analytic}"
                );
            }
        }
    }

    /// The joint loss of a network of several outputs is the mean over every prediction, and
    /// a step's gradient (joint loss, then the network's backward pass through its output-major
    /// outputs) matches central differences of that mean computed in f64, for a unit stack and
    /// a dense network, on a partial batch (padding lanes between outputs).
    #[test]
    fn several_outputs_train_on_the_mean_loss_over_outputs_with_exact_gradients() {
        use crate::activation::Activation::Tanh;
        use crate::model::{Dense, Stack, UnitInit, UnitKind};
        fn check<N: Network>(net: &N, name: &str) {
            let (k, n) = (net.n_outputs(), 13);
            assert_eq!(k, 3, "{name}");
            let outputs = crate::expr::parse_outputs("x1+x2;x1*x2;x1-0.5*x2").unwrap();
            let range = crate::data::Range::new(1.0, 2.0).unwrap();
            let data = Dataset::sample_outputs(&outputs, n, range, 3, 0).unwrap();
            let mut params = vec![0.0; net.n_params()];
            net.init_params(&mut ChaCha8Rng::seed_from_u64(5), &mut params);
            let indices: Vec<u32> = (0..n as u32).collect();
            let config = TrainConfig {
                loss: Loss::Mse,
                batch_size: n,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(net, &config, n);
            let stride = padded(n);
            let x = &mut trainer.x[..stride * 2];
            data.gather(&indices, x, &mut trainer.y);
            net.forward(
                &params,
                x,
                n,
                &mut trainer.workspace,
                &mut trainer.predictions,
            );
            let loss = joint_loss(
                Loss::Mse,
                k,
                n,
                &trainer.predictions[..k * stride],
                &trainer.y[..k * stride],
                &mut trainer.d_out[..k * stride],
            );
            // The mean over all k·n predictions, by hand in f64.
            let mean_sq = |p: &[f32]| -> f64 {
                let predicted = crate::metrics::predict(net, p, &data);
                predicted
                    .iter()
                    .zip(data.targets())
                    .map(|(&q, &y)| (f64::from(q) - f64::from(y as f32)).powi(2))
                    .sum::<f64>()
                    / (k * n) as f64
            };
            assert!(
                (loss - mean_sq(&params)).abs() <= 1e-6 * loss,
                "{name}: {loss}"
            );
            for o in 0..k {
                assert!(
                    trainer.d_out[o * stride + n..(o + 1) * stride]
                        .iter()
                        .all(|&d| d == 0.0),
                    "{name}: padding lanes of output {o}"
                );
            }
            let d_out = trainer.d_out.clone();
            net.backward(
                &params,
                x,
                n,
                &mut trainer.workspace,
                &d_out[..k * stride],
                &mut trainer.grad,
            );
            for i in 0..params.len() {
                let h = 1e-2 * params[i].abs().max(0.1);
                let mut q = params.clone();
                q[i] = params[i] + h;
                let up = mean_sq(&q);
                q[i] = params[i] - h;
                let down = mean_sq(&q);
                let numeric = (up - down) / (2.0 * f64::from(h));
                let analytic = f64::from(trainer.grad[i]);
                assert!(
                    (numeric - analytic).abs() <= 2e-3 * (numeric.abs() + 0.05),
                    "{name} parameter {i}: numeric {numeric} analytic {analytic}"
                );
            }
        }
        let stack = Stack::with_outputs(2, &[UnitKind::Nau, UnitKind::Nmu], &[4], UnitInit::Own, 3)
            .unwrap();
        check(&stack, "nau,nmu");
        let linear_out =
            Stack::with_outputs(2, &[UnitKind::Nmu, UnitKind::Nau], &[4], UnitInit::Own, 3)
                .unwrap();
        check(&linear_out, "nmu,nau");
        let dense = Dense::with_outputs(2, &[5], &[Tanh], 3).unwrap();
        check(&dense, "dense tanh");
    }

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_seed() {
        let mut a: Vec<u32> = (0..100).collect();
        shuffle(&mut a, &mut ChaCha8Rng::seed_from_u64(1));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        let mut b: Vec<u32> = (0..100).collect();
        shuffle(&mut b, &mut ChaCha8Rng::seed_from_u64(2));
        assert_ne!(a, b);
    }

    /// The AVX2 path (where the CPU has it) and the baseline SSE2 path give the same bits.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        use crate::activation::Activation::*;
        use crate::data::Range;
        use crate::expr::Expr;
        use crate::model::{Dense, Network};
        let f = Expr::parse("x1*x2*x3/100").unwrap();
        let data = Dataset::sample(&f, 500, Range::PAPER_TRAIN, 0, 0).unwrap();
        for pair in [
            [Symlog, Symexp],
            [Softmax, Tanh],
            [Softplus, Swish],
            [Elu, Selu],
        ] {
            let net = Dense::new(3, &[16, 12], &pair).unwrap();
            let mut start = vec![0.0; net.n_params()];
            net.init_params(&mut ChaCha8Rng::seed_from_u64(3), &mut start);
            let config = TrainConfig::default();
            let (mut a, mut b) = (start.clone(), start);
            let (mut rng_a, mut rng_b) =
                (ChaCha8Rng::seed_from_u64(4), ChaCha8Rng::seed_from_u64(4));
            let mut dispatched = Trainer::new(&net, &config, data.len());
            let mut portable = Trainer::new(&net, &config, data.len());
            for _ in 0..3 {
                let la = dispatched.epoch(&mut a, &data, &mut rng_a);
                // Baseline code throughout, including the SSE2 branch of the weight-gradient
                // dot products, which would otherwise pick AVX2 at run time.
                let lb = crate::model::kernels::tests::with_sse2_dot4(|| {
                    portable.epoch_portable(&mut b, &data, &mut rng_b)
                });
                assert_eq!(la.map(f64::to_bits), lb.map(f64::to_bits), "{pair:?}");
            }
            let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{pair:?}");
        }
    }

    /// Training flushes subnormals (as TensorFlow does) but leaves the caller's mode as it was.
    #[test]
    fn training_leaves_the_floating_point_mode_as_it_found_it() {
        use crate::activation::Activation::*;
        use crate::data::Range;
        use crate::expr::Expr;
        use crate::model::{Dense, Network};
        use std::hint::black_box;
        // 2⁻¹²⁷, a subnormal, written as bits so that no arithmetic (which the mode would
        // affect) produces the expected value.
        const HALF_OF_SMALLEST: u32 = 0x0040_0000;
        let half_of_smallest = || (black_box(f32::MIN_POSITIVE) * black_box(0.5f32)).to_bits();
        assert_eq!(
            half_of_smallest(),
            HALF_OF_SMALLEST,
            "subnormals are kept outside training"
        );
        let f = Expr::parse("x1*x2").unwrap();
        let data = Dataset::sample(&f, 64, Range::PAPER_TRAIN, 0, 0).unwrap();
        let net = Dense::new(2, &[4], &[Softmax]).unwrap();
        let mut params = vec![0.0; net.n_params()];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        net.init_params(&mut rng, &mut params);
        let mut trainer = Trainer::new(&net, &TrainConfig::default(), data.len());
        trainer.epoch(&mut params, &data, &mut rng);
        trainer.epoch_portable(&mut params, &data, &mut rng);
        trainer.step(&mut params, &data, &[0, 1, 2]);
        assert_eq!(half_of_smallest(), HALF_OF_SMALLEST);
    }

    /// A network that learns nothing but records what the trainer shows it: the rows of every
    /// batch (each row's single input is its own index) and how many times Adam moved its one
    /// parameter. Its gradient is always 1, so with learning rate 1 each Adam step moves the
    /// parameter by 1 − O(ε): after k steps it is −k to within 1e-4.
    struct Recorder {
        batches: std::cell::RefCell<Vec<Vec<u32>>>,
    }

    impl Recorder {
        fn new() -> Self {
            Recorder {
                batches: std::cell::RefCell::new(Vec::new()),
            }
        }
    }

    impl Network for Recorder {
        type Workspace = ();

        fn n_inputs(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            1
        }
        fn init_params(&self, _: &mut ChaCha8Rng, params: &mut [f32]) {
            params.fill(0.0);
        }
        fn workspace(&self, _: usize) {}
        fn forward(&self, _: &[f32], x: &[f32], n: usize, _: &mut (), out: &mut [f32]) {
            let stride = crate::model::padded(n);
            assert!(
                x[n..stride].iter().all(|&v| v == 0.0),
                "padding lanes not zero"
            );
            self.batches
                .borrow_mut()
                .push(x[..n].iter().map(|&v| v as u32).collect());
            out[..n].fill(0.0);
        }
        fn backward(&self, _: &[f32], _: &[f32], _: usize, _: &mut (), _: &[f32], g: &mut [f32]) {
            g.fill(1.0);
        }
    }

    /// Rows `0..n` whose single input is the row's index (exact in `f32`), target 1.
    fn indexed_rows(n: usize) -> Dataset {
        Dataset::new(1, (0..n).map(|r| r as f32).collect(), vec![1.0; n])
    }

    /// Keras's `fit` with batch 32 (the paper's protocol): every row once per epoch, the last
    /// partial batch of n mod 32 rows kept, a fresh order every epoch, ⌈n/32⌉ Adam steps.
    #[test]
    fn every_epoch_sees_every_row_once_in_a_new_order_with_the_partial_batch_last() {
        for n in [37usize, 100, 64, 5] {
            let net = Recorder::new();
            let data = indexed_rows(n);
            let epochs = 4;
            let config = TrainConfig {
                epochs,
                learning_rate: 1.0,
                ..TrainConfig::default()
            };
            let mut params = [0.0f32];
            let history = fit(
                &net,
                &mut params,
                &data,
                &config,
                &mut ChaCha8Rng::seed_from_u64(7),
            );
            assert_eq!(history.epoch_loss.len(), epochs, "n {n}");
            assert_eq!(history.diverged_at_epoch, None);
            let batches = net.batches.into_inner();
            let per_epoch = n.div_ceil(32);
            assert_eq!(batches.len(), epochs * per_epoch, "n {n}: batches");
            // Adam ran once per batch: the parameter moved by 1 per step.
            let steps = (epochs * per_epoch) as f32;
            assert!(
                (params[0] + steps).abs() < 1e-4,
                "n {n}: {} steps?",
                -params[0]
            );
            let sizes: Vec<usize> = batches[..per_epoch].iter().map(Vec::len).collect();
            let mut expected = vec![32; n / 32];
            if n % 32 != 0 {
                expected.push(n % 32);
            }
            assert_eq!(sizes, expected, "n {n}: batch sizes");
            let orders: Vec<Vec<u32>> = batches.chunks(per_epoch).map(|e| e.concat()).collect();
            for (e, order) in orders.iter().enumerate() {
                let mut seen = order.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..n as u32).collect::<Vec<_>>(), "n {n}, epoch {e}");
                assert_ne!(seen, *order, "n {n}, epoch {e}: not shuffled");
                for (f, earlier) in orders[..e].iter().enumerate() {
                    assert_ne!(
                        order, earlier,
                        "n {n}: epochs {f} and {e} in the same order"
                    );
                }
            }
        }
    }

    /// The watcher sees every completed epoch with the parameters carried into the next one:
    /// with the Recorder's gradient of 1 and one batch per epoch, each epoch moves the
    /// parameter by −1, and a plateau restart (the Recorder's loss is always 1, so a patience
    /// of 2 restarts after epoch 3) sets it back to its initial 0 before the watcher looks.
    #[test]
    fn the_watcher_sees_each_epochs_parameters_after_any_restart() {
        let data = indexed_rows(8);
        let config = TrainConfig {
            epochs: 4,
            batch_size: 8,
            learning_rate: 1.0,
            ..TrainConfig::default()
        };
        let watched = |config: &TrainConfig| {
            let mut seen = Vec::new();
            let mut params = [0.0f32];
            let history = fit_watched(
                &Recorder::new(),
                &mut params,
                &mut &data,
                config,
                &mut ChaCha8Rng::seed_from_u64(3),
                &mut |epoch, p| seen.push((epoch, p[0].round())),
            );
            (seen, history)
        };
        let (seen, history) = watched(&config);
        assert_eq!(seen, [(1, -1.0), (2, -2.0), (3, -3.0), (4, -4.0)]);
        assert!(history.reinit_epochs.is_empty());
        let (seen, history) = watched(&TrainConfig {
            reinit: Some(Plateau {
                patience: 2,
                above: 0.5,
            }),
            ..config
        });
        assert_eq!(seen, [(1, -1.0), (2, -2.0), (3, 0.0), (4, -1.0)]);
        assert_eq!(history.reinit_epochs, [3]);
    }

    #[test]
    fn a_regulariser_must_start_rising_no_later_than_it_stops() {
        let schedule = |start, end| Schedule {
            lambda: 1.0,
            start,
            end,
            below: None,
        };
        let e = schedule(1, 0).validate().unwrap_err();
        assert!(e.contains("START (1) cannot come after END (0)"), "{e}");
        assert!(schedule(u64::MAX, 0).validate().is_err());
        // Equal steps are a jump to LAMBDA (iNALU's 11000,11000).
        assert!(schedule(11_000, 11_000).validate().is_ok());
        assert!(schedule(0, 10).validate().is_ok());
    }

    #[test]
    fn an_alternation_must_give_both_groups_batches() {
        let alternate = |weights, cycle| Alternate { weights, cycle }.validate();
        for (weights, cycle) in [(0, 10), (10, 10), (11, 10), (0, 0), (1, 1)] {
            let e = alternate(weights, cycle).unwrap_err();
            assert!(
                e.contains("leaves a group never trained"),
                "{weights},{cycle}: {e}"
            );
        }
        for (weights, cycle) in [(1, 2), (8, 10), (9, 10)] {
            assert!(alternate(weights, cycle).is_ok(), "{weights},{cycle}");
        }
    }

    #[test]
    fn a_clip_must_be_a_positive_normal_f32() {
        let with_clip = |clip| Training {
            clip: Some(clip),
            ..Training::default()
        };
        for bad in [-0.1, 0.0, -0.0, f64::NAN, f64::INFINITY, 1e-40, 1e39] {
            let e = with_clip(bad).validate().unwrap_err();
            assert!(e.to_string().starts_with("invalid --clip"), "{bad}: {e}");
        }
        for good in [0.1, 1.0, 1e-30] {
            assert!(with_clip(good).validate().is_ok(), "{good}");
        }
    }

    /// One parameter, a constant loss of 1; every initialisation records the numbers it draws:
    /// [`Redrawn::DRAWS`] of them, more than the shuffles draw between two restarts, so two
    /// restarts on one stream would draw some of the same numbers.
    struct Redrawn {
        draws: std::cell::RefCell<Vec<u64>>,
    }

    impl Redrawn {
        const DRAWS: usize = 64;
    }

    impl Network for Redrawn {
        type Workspace = ();

        fn n_inputs(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            1
        }
        fn init_params(&self, rng: &mut ChaCha8Rng, params: &mut [f32]) {
            for _ in 0..Redrawn::DRAWS {
                self.draws.borrow_mut().push(rand::RngCore::next_u64(rng));
            }
            params.fill(0.0);
        }
        fn workspace(&self, _: usize) {}
        fn forward(&self, _: &[f32], _: &[f32], n: usize, _: &mut (), out: &mut [f32]) {
            out[..n].fill(0.0);
        }
        fn backward(&self, _: &[f32], _: &[f32], _: usize, _: &mut (), _: &[f32], g: &mut [f32]) {
            g.fill(0.0);
        }
    }

    #[test]
    fn every_restart_draws_numbers_no_other_restart_or_shuffle_draws() {
        use rand::RngCore;
        let net = Redrawn {
            draws: std::cell::RefCell::new(Vec::new()),
        };
        // Patience 1 on a flat loss: restarts after epochs 2 and 4, the second one after the
        // last shuffle, so the caller's generator continues the shuffling stream from there.
        let config = TrainConfig {
            epochs: 4,
            batch_size: 8,
            reinit: Some(Plateau {
                patience: 1,
                above: 0.5,
            }),
            ..TrainConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let history = fit(&net, &mut [0.0], &indexed_rows(8), &config, &mut rng);
        assert_eq!(history.reinit_epochs, [2, 4]);
        let mut draws = net.draws.into_inner();
        assert_eq!(draws.len(), 2 * Redrawn::DRAWS);
        // What the shuffling stream would draw next: a restart drawing it would tie the new
        // parameters to the next epoch's order.
        draws.push(rng.next_u64());
        let mut distinct = draws.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), draws.len(), "{draws:?}");
    }

    /// Three parameters `[w0, g, w1]`, the middle one a gate, each with gradient 1 whatever
    /// the data; every forward pass records the parameters it sees (those before the step).
    struct Gated {
        seen: std::cell::RefCell<Vec<[f32; 3]>>,
    }

    impl Network for Gated {
        type Workspace = ();

        fn n_inputs(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            3
        }
        fn init_params(&self, _: &mut ChaCha8Rng, params: &mut [f32]) {
            params.fill(0.0);
        }
        fn workspace(&self, _: usize) {}
        fn forward(&self, p: &[f32], _: &[f32], n: usize, _: &mut (), out: &mut [f32]) {
            self.seen.borrow_mut().push([p[0], p[1], p[2]]);
            out[..n].fill(0.0);
        }
        fn backward(&self, _: &[f32], _: &[f32], _: usize, _: &mut (), _: &[f32], g: &mut [f32]) {
            g.fill(1.0);
        }
        fn gates(&self) -> Vec<std::ops::Range<usize>> {
            let gate = 1..2;
            vec![gate]
        }
    }

    /// With 2 of every 3 batches for the weights and 7 batches an epoch, each epoch runs
    /// W W G W W G W (the cycle restarts with the epoch, as their batch counter does): a
    /// weight batch moves w0 and w1 only, a gate batch g only.
    #[test]
    fn alternating_updates_move_the_weights_then_the_gate_in_each_cycle() {
        let net = Gated {
            seen: std::cell::RefCell::new(Vec::new()),
        };
        let config = TrainConfig {
            epochs: 2,
            batch_size: 1,
            learning_rate: 1.0,
            alternate: Some(Alternate {
                weights: 2,
                cycle: 3,
            }),
            ..TrainConfig::default()
        };
        let mut params = [0.0f32; 3];
        fit(
            &net,
            &mut params,
            &indexed_rows(7),
            &config,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let mut seen = net.seen.into_inner();
        seen.push(params);
        let moved: Vec<[bool; 3]> = seen
            .windows(2)
            .map(|w| [w[0][0] != w[1][0], w[0][1] != w[1][1], w[0][2] != w[1][2]])
            .collect();
        let (w, g) = ([true, false, true], [false, true, false]);
        let epoch = [w, w, g, w, w, g, w];
        assert_eq!(moved, [epoch, epoch].concat());
    }

    /// Adam's moments of the parameters a step leaves alone do not move, while its step count
    /// does (TF 1 shares the β powers between its train ops). By hand, with gradient 1 and
    /// rate 1: two weight steps move w0 and w1 by 1 each (m = 0.19, v = 0.001999); the gate's
    /// first update comes at step 3 with m = 0.1, v = 0.001, so it moves by
    /// √(1 − 0.999³)/(1 − 0.9³) · 0.1/√0.001 = 0.638812, not the 1 of a first step.
    #[test]
    fn frozen_parameters_keep_their_optimiser_state() {
        let net = Gated {
            seen: std::cell::RefCell::new(Vec::new()),
        };
        let data = indexed_rows(4);
        let config = TrainConfig {
            learning_rate: 1.0,
            alternate: Some(Alternate {
                weights: 2,
                cycle: 3,
            }),
            ..TrainConfig::default()
        };
        let moments = |t: &Trainer<Gated>| match &t.optimizer {
            OptimizerState::Adam(adam) => (
                adam.first_moments().to_vec(),
                adam.second_moments().to_vec(),
                adam.iterations(),
            ),
            OptimizerState::RmsProp(_) => unreachable!("Adam"),
        };
        let mut trainer = Trainer::new(&net, &config, data.len());
        let mut params = [0.0f32; 3];
        trainer.step(&mut params, &data, &[0]);
        let (m, v, t) = moments(&trainer);
        assert_eq!((m[1], v[1], t), (0.0, 0.0, 1));
        assert!((m[0] - 0.1).abs() < 1e-7 && (v[2] - 0.001).abs() < 1e-9);
        trainer.step(&mut params, &data, &[1]);
        let before_gate = moments(&trainer);
        trainer.step(&mut params, &data, &[2]);
        let (m, v, t) = moments(&trainer);
        assert_eq!(t, 3);
        assert_eq!(
            (m[0], v[0], m[2], v[2]),
            (
                before_gate.0[0],
                before_gate.1[0],
                before_gate.0[2],
                before_gate.1[2]
            )
        );
        assert!((m[0] - 0.19).abs() < 1e-6 && (v[0] - 0.001999).abs() < 1e-8);
        assert!((m[1] - 0.1).abs() < 1e-7 && (v[1] - 0.001).abs() < 1e-9);
        assert!((params[0] + 2.0).abs() < 1e-4, "{params:?}");
        assert!((params[2] + 2.0).abs() < 1e-4, "{params:?}");
        assert!((params[1] + 0.638812).abs() < 1e-5, "{params:?}");

        // RMSProp: a weight step leaves the gate's mean square at 0 (v = 0.1 · 1² elsewhere).
        let rms = TrainConfig {
            optimizer: Optimizer::Rmsprop,
            ..config
        };
        let mut trainer = Trainer::new(&net, &rms, data.len());
        let mut params = [0.0f32; 3];
        trainer.step(&mut params, &data, &[0]);
        match &trainer.optimizer {
            OptimizerState::RmsProp(r) => {
                let v = r.mean_squares();
                assert_eq!(v[1], 0.0);
                assert!(
                    (v[0] - 0.1).abs() < 1e-7 && (v[2] - 0.1).abs() < 1e-7,
                    "{v:?}"
                );
            }
            OptimizerState::Adam(_) => unreachable!("RMSProp"),
        }
        assert_eq!(params[1], 0.0);
    }

    /// One parameter, prediction 0: a row's MAE is its target, 0.5 on even rows and 2 on odd
    /// ones. The regulariser records the row of every batch it is asked to regularise.
    struct Thresholded {
        row: std::cell::Cell<u32>,
        regularised: std::cell::RefCell<Vec<(u32, f32)>>,
    }

    impl Network for Thresholded {
        type Workspace = ();

        fn n_inputs(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            1
        }
        fn init_params(&self, _: &mut ChaCha8Rng, params: &mut [f32]) {
            params.fill(0.0);
        }
        fn workspace(&self, _: usize) {}
        fn forward(&self, _: &[f32], x: &[f32], n: usize, _: &mut (), out: &mut [f32]) {
            self.row.set(x[0] as u32);
            out[..n].fill(0.0);
        }
        fn backward(&self, _: &[f32], _: &[f32], _: usize, _: &mut (), _: &[f32], g: &mut [f32]) {
            g.fill(0.0);
        }
        fn regularize(&self, _: &[f32], lambda: f32, _: &mut [f32]) -> f64 {
            self.regularised.borrow_mut().push((self.row.get(), lambda));
            0.0
        }
    }

    /// With `below: 1`, from step 4 on (λ = 0.5 there) exactly the batches of even rows (loss
    /// 0.5) are regularised, never those of odd rows (loss 2); without a threshold every batch
    /// from step 4 is.
    #[test]
    fn the_regulariser_weight_rises_linearly_between_start_and_end() {
        let s = Schedule {
            lambda: 8.0,
            start: 10,
            end: 50,
            below: None,
        };
        let weights: Vec<f64> = [0, 9, 10, 15, 30, 49, 50, 1000]
            .iter()
            .map(|&t| s.at(t))
            .collect();
        // 8 · (t − 10) / 40 between the ends, written out by hand.
        assert_eq!(weights, [0.0, 0.0, 0.0, 1.0, 4.0, 7.8, 8.0, 8.0]);
    }

    #[test]
    fn the_regulariser_acts_only_on_batches_below_its_threshold() {
        let data = Dataset::new(
            1,
            (0..6).map(|r| r as f32).collect(),
            (0..6).map(|r| if r % 2 == 0 { 0.5 } else { 2.0 }).collect(),
        );
        let run = |below: Option<f64>| {
            let net = Thresholded {
                row: std::cell::Cell::new(0),
                regularised: std::cell::RefCell::new(Vec::new()),
            };
            let config = TrainConfig {
                epochs: 3,
                batch_size: 1,
                regularizer: Some(Schedule {
                    lambda: 0.5,
                    start: 4,
                    end: 4,
                    below,
                }),
                ..TrainConfig::default()
            };
            let mut params = [0.0f32];
            fit(
                &net,
                &mut params,
                &data,
                &config,
                &mut ChaCha8Rng::seed_from_u64(5),
            );
            net.regularised.into_inner()
        };
        let gated = run(Some(1.0));
        let all = run(None);
        // 18 steps, 14 of them from step 4 on.
        assert_eq!(all.len(), 14);
        assert!(all.iter().all(|&(_, l)| l == 0.5));
        let even: Vec<(u32, f32)> = all.iter().copied().filter(|(r, _)| r % 2 == 0).collect();
        assert_eq!(gated, even);
        assert!(!gated.is_empty() && gated.len() < all.len());
    }

    /// `Trainer::step` runs exactly the rows it is given, in that order, and one Adam step.
    #[test]
    fn a_step_trains_on_exactly_its_rows() {
        let net = Recorder::new();
        let data = indexed_rows(50);
        let config = TrainConfig {
            learning_rate: 1.0,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(&net, &config, data.len());
        let mut params = [0.0f32];
        trainer.step(&mut params, &data, &[4, 49, 0, 17, 3]);
        trainer.step(&mut params, &data, &[9]);
        assert_eq!(
            net.batches.borrow().clone(),
            vec![vec![4, 49, 0, 17, 3], vec![9]]
        );
        assert!((params[0] + 2.0).abs() < 1e-4, "{}", params[0]);
    }

    /// All 24 orders of 4 elements are equally likely. Over 24,000 shuffles each is expected
    /// 1,000 times; the chi-square statistic has 23 degrees of freedom (mean 23, sd 6.8) and
    /// exceeds 60 with probability below 1e-4 for a uniform shuffle (the fixed seed makes the
    /// test deterministic; the bound is what makes it meaningful for any seed). A shuffle that
    /// yields only cyclic permutations (Sattolo's) reaches 6 of the 24 orders (chi-square
    /// ≈ 72,000); the classic "swap with any position" shuffle is biased (≈ 300).
    #[test]
    fn shuffle_draws_every_order_equally_often() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let mut counts = std::collections::HashMap::<[u32; 4], u32>::new();
        let trials = 24_000;
        for _ in 0..trials {
            let mut order = [0u32, 1, 2, 3];
            shuffle(&mut order, &mut rng);
            *counts.entry(order).or_default() += 1;
        }
        assert_eq!(counts.len(), 24, "orders reached: {counts:?}");
        let expected = f64::from(trials) / 24.0;
        let chi2: f64 = counts
            .values()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum();
        assert!(
            chi2 < 60.0,
            "chi-square {chi2:.1} over 23 degrees of freedom"
        );
    }

    /// Each element lands in each position with probability 1/n (n = 5..8, 8,000 shuffles
    /// each): a chi-square over the n² cells, (n−1)² degrees of freedom, bounded at
    /// df + 6·√(2·df) (about 1e-4 for a uniform shuffle). A cyclic-only shuffle never leaves an
    /// element in place and fails at once.
    #[test]
    fn shuffle_puts_every_element_everywhere_equally_often() {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        for n in 5..=8usize {
            let trials = 8_000;
            let mut counts = vec![0u32; n * n];
            for _ in 0..trials {
                let mut order: Vec<u32> = (0..n as u32).collect();
                shuffle(&mut order, &mut rng);
                for (position, &element) in order.iter().enumerate() {
                    counts[element as usize * n + position] += 1;
                }
            }
            let expected = f64::from(trials) / n as f64;
            let chi2: f64 = counts
                .iter()
                .map(|&c| (f64::from(c) - expected).powi(2) / expected)
                .sum();
            let df = ((n - 1) * (n - 1)) as f64;
            let bound = df + 6.0 * (2.0 * df).sqrt();
            assert!(chi2 < bound, "n {n}: chi-square {chi2:.1} > {bound:.1}");
        }
    }

    /// 1e-19 · 1e-20 = 1e-39 is subnormal in `f32`. In a 1 → 1 (linear) → 1 net with those as
    /// input and first weight, the hidden unit is that product: flushed to 0 under TensorFlow's
    /// mode, so the output weight's gradient is exactly 0 and Adam leaves that weight at 0.
    /// Without the flush the gradient is about −1e-39 and Adam moves the weight to about 3e-37
    /// (a normal number: Adam divides the subnormal moment by √v + ε = 1e-7).
    #[test]
    fn training_flushes_subnormals_to_zero() {
        use crate::activation::Activation::Linear;
        use crate::model::Dense;
        let net = Dense::new(1, &[1], &[Linear]).unwrap();
        // Layout: [w1, b1, w2, b2].
        let start = [1e-19f32, 0.0, 0.0, 0.0];
        let data = Dataset::new(1, vec![1e-20; 3], vec![1.0; 3]);
        let config = TrainConfig::default();
        let mut trainer = Trainer::new(&net, &config, data.len());
        let mut rng = ChaCha8Rng::seed_from_u64(0);

        let mut params = start;
        trainer.step(&mut params, &data, &[0, 1]);
        assert_eq!(params[2], 0.0, "step: the subnormal reached Adam");
        // The step did happen: the output bias trained.
        assert!(params[3] > 0.0);

        let mut params = start;
        trainer.epoch(&mut params, &data, &mut rng);
        assert_eq!(params[2], 0.0, "epoch: the subnormal reached Adam");
        assert!(params[3] > 0.0);

        let mut params = start;
        trainer.epoch_portable(&mut params, &data, &mut rng);
        assert_eq!(params[2], 0.0, "epoch_portable: the subnormal reached Adam");

        let mut params = start;
        fit(&net, &mut params, &data, &config, &mut rng);
        assert_eq!(params[2], 0.0, "fit: the subnormal reached Adam");
    }

    #[test]
    fn the_plateau_rule_restarts_only_when_stuck_above_the_threshold() {
        let rule = Plateau {
            patience: 2,
            above: 1.0,
        };
        let mut watch = PlateauWatch::default();
        // 10 → 9.95 (less than 1 % better: 1 epoch stuck) → 9.99 (2: restart).
        assert!(!watch.stuck(10.0, &rule));
        assert!(!watch.stuck(9.95, &rule));
        assert!(watch.stuck(9.99, &rule));
        // After a restart the count starts again; steady progress never restarts.
        for loss in [20.0, 15.0, 10.0, 5.0, 2.0] {
            assert!(!watch.stuck(loss, &rule), "{loss}");
        }
        // Stuck below the threshold is fine.
        let mut low = PlateauWatch::default();
        for _ in 0..10 {
            assert!(!low.stuck(0.5, &rule));
        }
    }

    #[test]
    fn loss_names_parse() {
        assert_eq!("MAE".parse::<Loss>(), Ok(Loss::Mae));
        assert_eq!("mse".parse::<Loss>(), Ok(Loss::Mse));
        assert_eq!("log".parse::<Loss>(), Ok(Loss::Log));
        assert_eq!("Relative".parse::<Loss>(), Ok(Loss::Relative));
        assert!(
            "huber"
                .parse::<Loss>()
                .unwrap_err()
                .contains("mae, mse, log or relative")
        );
        // Records and messages spell the loss as it parses.
        for loss in [Loss::Mae, Loss::Mse, Loss::Log, Loss::Relative] {
            assert_eq!(loss.to_string().parse::<Loss>(), Ok(loss));
        }
        assert_eq!(Loss::Mse.to_string(), "mse");
    }
}
