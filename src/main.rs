//! The `logexp` command line: parses arguments, calls the library, prints.

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use logexp::data::Range;
use logexp::experiment::{InputScale, Limits, ModelSpec, Optimizer, Pair, RunSpec, TargetScale};
use logexp::model::UnitInit;
use logexp::recipe::{Ingredients, Recipe};
use logexp::report::write_report_keeping;
use logexp::reproduce::{ReproduceOptions, Target};
use logexp::sweep::{
    Grid, Progress, Shard, parse_functions, parse_models, read_report_records, run_sweep_within,
};
use logexp::train::{Alternate, Loss, LrSchedule, Plateau, Schedule, Training};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Learn multiplicative relations with neural networks: train the paper's network
/// (symmetric log / exp activations) or any of the Keras activation pairs on a target formula
/// and measure how well it extrapolates.
#[derive(Parser)]
#[command(name = "logexp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one network on one target function and report its extrapolation error.
    Train(TrainArgs),
    /// Run a grid of functions × pairs × seeds in parallel, appending one JSON line per run;
    /// rerunning the same command resumes.
    Sweep(SweepArgs),
    /// Build the report (Table I beside the paper, rankings, figures, report.md) from results
    /// files; trains nothing.
    Report(ReportArgs),
    /// Fit a model on your own data (a CSV with a header) and save it (safetensors).
    Fit(FitArgs),
    /// Predict with a saved model on a CSV; columns are matched by name.
    Predict(PredictArgs),
    /// The relation a saved model learned, as a formula over the feature names.
    Explain(ExplainArgs),
    /// A whole experiment, then its report: the paper's (every activation pair on the paper's
    /// functions and the normaliser study) or the bench of units. Resumable.
    Reproduce(ReproduceArgs),
}

#[derive(Args)]
struct FitArgs {
    /// The CSV file: a header row, then one row per sample (`-`: standard input).
    #[arg(long)]
    data: PathBuf,
    /// The column to predict.
    #[arg(long)]
    target: String,
    /// Input columns, comma-separated [default: every numeric column but the target].
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// The model: `loglinear` (a product of powers fitted in closed form: exact when the law
    /// is one, per the bench), a unit preset (product, npu, nmu, … for sums inside products),
    /// `dense` (activations from --pair, e.g. lg) or unit layers such as "nau,nmu".
    #[arg(long, default_value = "loglinear", allow_hyphen_values = true)]
    model: String,
    /// Activations of a dense model (--model dense), one per hidden layer; `lg` is
    /// symlog,symexp [default: lg].
    #[arg(long, allow_hyphen_values = true)]
    pair: Option<Pair>,
    /// Hidden layer widths [default: the model's own].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    hidden: Option<Vec<usize>>,
    /// Validation rows: `extrapolate` (the 20 % furthest outside the bulk of the inputs),
    /// `random` (a random 20 %) or `none`.
    #[arg(long, default_value = "extrapolate")]
    valid: logexp::fit::Validation,
    /// Skip rows with an empty, non-numeric or non-finite cell (or the wrong number of
    /// fields) instead of refusing the file; the count is reported.
    #[arg(long)]
    drop_invalid: bool,
    /// Trainings from seeds SEED, SEED+1, …; the best on the validation rows is kept.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    restarts: usize,
    /// Scale inputs and target by powers of two near their typical magnitude (stored in the
    /// model file and undone in predictions and formulas); not with --target-scale or
    /// --input-scale other than none.
    #[arg(long)]
    scale: bool,
    /// Seed of initialisation, shuffling and the random split.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    training: TrainingArgs,
    /// Most memory the fit may use, in GiB; a larger fit is refused before it starts.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_MAX_RUN_GIB)]
    max_memory: f64,
    /// The model file to write (safetensors).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct PredictArgs {
    /// The model file written by `fit`.
    #[arg(long)]
    model: PathBuf,
    /// The CSV to predict on (`-`: standard input); it must have the model's feature columns
    /// (any order, extra columns kept).
    #[arg(long)]
    data: PathBuf,
    /// Where to write the rows with a prediction column appended [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ExplainArgs {
    /// The model file written by `fit`.
    #[arg(long)]
    model: PathBuf,
    /// A CSV to score the formula on (`-`: standard input; otherwise the explanation stored
    /// at fit time).
    #[arg(long)]
    data: Option<PathBuf>,
}

fn fit(args: &FitArgs) -> Result<(), logexp::Error> {
    use logexp::table::{ReadOptions, read_table};
    logexp::output::check_writable(&args.out)?;
    logexp::output::check_not_an_input(&args.out, "out", &[(&args.data, "--data")])?;
    let limits = memory_limits(args.max_memory)?;
    // Every flag is checked before the data is read (which may be a long stream).
    let options = logexp::fit::FitOptions {
        seed: args.seed,
        training: args.training.training()?,
        valid: args.valid,
        restarts: args.restarts,
        scale: args.scale,
        ..logexp::fit::FitOptions::new(model_spec(
            &args.model,
            args.pair.as_ref(),
            args.hidden.as_deref(),
        )?)
    };
    let table = read_table(
        &args.data,
        &ReadOptions {
            features: args.features.clone(),
            drop_invalid: args.drop_invalid,
            max_table_bytes: limits.usable_bytes(),
            ..ReadOptions::new(&args.target)
        },
    )?;
    if !table.left_out.is_empty() {
        const SHOWN: usize = 20;
        let mut names: Vec<&str> = table
            .left_out
            .iter()
            .take(SHOWN)
            .map(String::as_str)
            .collect();
        let more = format!("and {} more", table.left_out.len().saturating_sub(SHOWN));
        if table.left_out.len() > SHOWN {
            names.push(&more);
        }
        print_stderr(&format!(
            "note: not inputs, since data row 1 holds no number there: {} (to use them, name the inputs with --features)",
            names.join(", ")
        ));
    }
    if table.dropped > 0 {
        print_stderr(&format!(
            "note: {} invalid rows skipped (--drop-invalid); the first: {}",
            table.dropped,
            table.first_dropped.as_deref().unwrap_or("?")
        ));
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("fit [{elapsed_precise}] {wide_bar} {pos}/{len} epochs")
                .expect("valid template"),
        );
        bar
    });
    let model = logexp::fit::fit_within(&table, &options, &limits, &mut |p| {
        if let Some(bar) = &bar {
            bar.set_length((p.epochs * p.restarts) as u64);
            bar.set_position((p.restart * p.epochs + p.epoch) as u64);
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(epoch) = model.summary.diverged_at_epoch {
        // A diverged model predicts NaN: saving it would only hide the failure.
        return Err(logexp::Error::Run(format!(
            "training diverged in epoch {epoch} (a parameter became non-finite){}; no model written to {}: try a smaller --lr, another --seed or more --restarts",
            if args.restarts > 1 {
                format!(" in every one of the {} restarts", args.restarts)
            } else {
                String::new()
            },
            shown(&args.out)
        )));
    }
    logexp::modelfile::save(&model, &args.out)?;
    let mut text = model.summary.text();
    match (&model.summary.explanation, &model.summary.explanation_note) {
        (Some(e), _) => text.push_str(&format!("\n{}", e.text())),
        (None, Some(note)) => text.push_str(&format!("\nno formula: {note}")),
        (None, None) => {}
    }
    print_stdout(&format!("{text}\nmodel written to {}", shown(&args.out)))
}

fn predict(args: &PredictArgs) -> Result<(), logexp::Error> {
    if let Some(out) = &args.out {
        logexp::output::check_writable(out)?;
        let inputs = [
            (args.data.as_path(), "--data"),
            (args.model.as_path(), "--model"),
        ];
        logexp::output::check_not_an_input(out, "out", &inputs)?;
    }
    let model = logexp::modelfile::load(&args.model)?;
    let predicted = match logexp::fit::predict_file(&model, &args.data, args.out.as_deref()) {
        // A reader that stopped early (`| head`) is a quiet end, as for any Unix filter.
        Err(logexp::Error::Io { source, .. })
            if args.out.is_none() && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Ok(());
        }
        other => other?,
    };
    if let Some(note) = predicted.note() {
        print_stderr(&format!("note: {note}"));
    }
    if let Some(out) = &args.out {
        print_stderr(&format!(
            "{} predictions written to {}",
            predicted.rows,
            shown(out)
        ));
    }
    Ok(())
}

fn explain(args: &ExplainArgs) -> Result<(), logexp::Error> {
    let model = logexp::modelfile::load(&args.model)?;
    let text = match &args.data {
        Some(data) => {
            let table = logexp::table::read_table(
                data,
                &logexp::table::ReadOptions {
                    features: Some(model.features.clone()),
                    ..logexp::table::ReadOptions::new(&model.target)
                },
            )?;
            logexp::fit::explain_table(&model, &table)?.text()
        }
        None => match (&model.summary.explanation, &model.summary.explanation_note) {
            (Some(e), _) => e.text(),
            (None, note) => {
                return Err(logexp::Error::InvalidSetting {
                    field: "model",
                    message: format!(
                        "{} holds no formula: {}",
                        args.model.display(),
                        note.as_deref()
                            .unwrap_or("none was found when it was fitted")
                    ),
                });
            }
        },
    };
    print_stdout(&text)
}

#[derive(Args)]
struct ReportArgs {
    /// Results files (JSON Lines from `sweep` or `reproduce`); runs present in several files
    /// count once.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Directory for report.md, CSVs and figures.
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// Most memory the report may use, in GiB (its records' loss curves take most of it); a
    /// larger set of records is refused as soon as it is read.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_MAX_RUN_GIB)]
    max_memory: f64,
}

#[derive(Args, Clone)]
struct ReproduceArgs {
    /// What to reproduce: `paper` (Table I, the figures and the normaliser study); `peers`
    /// (every peer unit, the log-linear baseline, lg and dense baselines on the paper's
    /// functions, with its ranges and with [1,5) -> [5,21)); or a peer's own task with its own
    /// protocol beside its published numbers: `stable-nalu`, `npu`, `inalu` (their epochs are
    /// fixed: --epochs is refused); or `recipes`, the ablation of training recipes for lg and the
    /// "When does lg help?" table (its settings are fixed: --epochs and --recipe are refused).
    #[arg(default_value = "paper")]
    target: Target,
    /// Training recipe of the runs of `paper` and `peers` (see `train --help`); --epochs
    /// still wins [default: paper].
    #[arg(long)]
    recipe: Option<Recipe>,
    /// Directory for results.jsonl and the report [default: reproduce for the paper,
    /// reproduce-TARGET otherwise, with -quick appended for --quick].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seeds per (function, model) [default: 3 for the paper, 10 for peers, the published
    /// counts for stable-nalu (100), npu (20) and inalu (10); with --quick 1 for the paper, 3
    /// otherwise].
    #[arg(long, allow_negative_numbers = true)]
    seeds: Option<u64>,
    /// Epochs per run [default: 100, or 20 with --quick].
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// A first look in well under a minute: one seed, 20 epochs, the seven Table I functions.
    #[arg(long)]
    quick: bool,
    /// With `stable-nalu`: their function task with 100 inputs and 5,000,000 steps instead of
    /// the small one (about 31 min per run on one core; --seeds to run fewer than their 100).
    #[arg(long)]
    full: bool,
    /// Worker threads [default: one per core]. Results do not depend on it.
    #[arg(long, allow_negative_numbers = true)]
    threads: Option<usize>,
}

#[derive(Args)]
struct SweepArgs {
    /// `paper` (the seven Table I functions), `reproduce` (those and the normaliser study), or
    /// expressions separated by commas, e.g. "x1*x2,x1*x2/10".
    #[arg(long, allow_hyphen_values = true)]
    functions: String,
    /// Models separated by ';': `dense` (one dense network per pair of --pairs), presets
    /// (lg, nmu, …) or unit layers such as "nau,nmu". May be repeated.
    #[arg(long, default_value = "dense", allow_hyphen_values = true)]
    models: Vec<String>,
    /// The pairs of `dense` in --models: `all` (lg and the 121 Keras pairs), `keras` (the 121),
    /// or pairs separated by ';', e.g. "lg;relu,linear". May be repeated.
    #[arg(long, default_value = "all", allow_hyphen_values = true)]
    pairs: Vec<String>,
    /// Number of seeds: runs seeds 0..N-1.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    seeds: u64,
    /// A fixed data seed for every run [default: each run's seed, so every seed draws new data
    /// and all pairs of one seed see the same rows].
    #[arg(long, allow_negative_numbers = true)]
    data_seed: Option<u64>,
    /// The results file (JSON Lines); runs already in it are skipped.
    #[arg(long)]
    out: PathBuf,
    /// Run only the K-th of N disjoint slices of the grid, e.g. 3/8 (for job arrays).
    #[arg(long, allow_hyphen_values = true)]
    shard: Option<Shard>,
    /// Worker threads [default: one per core]. Results do not depend on it.
    #[arg(long, allow_negative_numbers = true)]
    threads: Option<usize>,
    #[command(flatten)]
    protocol: ProtocolArgs,
}

/// The training settings, shared by every command that trains (`train`, `sweep`, `fit`): one
/// flag per field of `logexp::train::Training`.
#[derive(Args, Clone)]
struct TrainingArgs {
    /// A named bundle of training settings: paper (the paper's protocol), lg-relative-cosine,
    /// lg-scaled or lg-scaled-inputs (see `logexp::recipe`). It fills in --epochs,
    /// --batch-size, --loss, --lr, --lr-schedule, --warmup, --target-scale and --input-scale
    /// where they are not given.
    #[arg(long, default_value_t = Training::default().recipe)]
    recipe: Recipe,
    /// Passes over the training set (--recipe may set another) [default: 100].
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Rows per minibatch (the last partial batch of each epoch is kept) (--recipe may set
    /// another) [default: 32].
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Learning rate (--recipe may set another) [default: 0.001].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Learning-rate schedule: constant (the paper's), cosine (decay to 0 over all steps
    /// after the warm-up), one-cycle (up from rate/25 over 30 % of the steps, then down to 0)
    /// or plateau (halve the rate after 10 epochs without a 1 % gain in training loss)
    /// (--recipe may set another) [default: constant].
    #[arg(long)]
    lr_schedule: Option<LrSchedule>,
    /// Optimiser steps of linear learning-rate warm-up (--recipe may set another) [default: 0].
    #[arg(long)]
    warmup: Option<u64>,
    /// Optimiser: adam (Keras's, the paper's) or rmsprop (TF 1's, iNALU's).
    #[arg(long, default_value_t = Training::default().optimizer)]
    optimizer: Optimizer,
    /// Clip every gradient component to [-CLIP, CLIP] before each step.
    #[arg(long, allow_negative_numbers = true)]
    clip: Option<f64>,
    /// The model's regulariser (NAU, NMU, iNALU, NPU) as LAMBDA,START,END[,BELOW]: its
    /// weight rises linearly from 0 at step START to LAMBDA at step END (stable-nalu's
    /// schedule); with BELOW, only batches whose loss is below BELOW are regularised (iNALU's
    /// 0.05,11000,11000,1).
    #[arg(long, allow_hyphen_values = true)]
    regularizer: Option<String>,
    /// Alternate weight and gate updates (iNALU's trick) as WEIGHTS,CYCLE: of every CYCLE
    /// batches of an epoch, the first WEIGHTS update every parameter but the gates (NALU,
    /// iNALU, NPU) and the rest update the gates alone (iNALU: 8,10).
    #[arg(long, allow_hyphen_values = true)]
    alternate: Option<String>,
    /// Restart from fresh parameters (iNALU's trick) as PATIENCE,ABOVE: when the epoch loss is
    /// above ABOVE and has not improved by 1 % for PATIENCE epochs.
    #[arg(long, allow_hyphen_values = true)]
    reinit_plateau: Option<String>,
    /// Training loss: mae (the paper's), mse, log (|symlog ŷ − symlog y|) or relative
    /// (|ŷ − y| / |y|) (--recipe may set another) [default: mae].
    #[arg(long)]
    loss: Option<Loss>,
    /// Divide the targets before training by a constant estimated from the training rows:
    /// none, or loglinear (the constant C of the least-squares fit y ≈ C·Π xᵢ^aᵢ) (--recipe
    /// may set another) [default: none].
    #[arg(long)]
    target_scale: Option<TargetScale>,
    /// Multiply each input before training by a factor estimated from the training rows:
    /// none, or geometric (each input scaled to a geometric mean |x| of 50) (--recipe may set
    /// another) [default: none].
    #[arg(long)]
    input_scale: Option<InputScale>,
    /// Use the mean of the parameters at the ends of the last EPOCHS epochs (stochastic weight
    /// averaging; 0: off) (--recipe may set another) [default: 0].
    #[arg(long, value_name = "EPOCHS")]
    average_last: Option<usize>,
}

impl TrainingArgs {
    /// The settings these flags give, the recipe filling in what is not given.
    fn training(&self) -> Result<Training, logexp::Error> {
        let given = Training {
            optimizer: self.optimizer,
            clip: self.clip,
            regularizer: self
                .regularizer
                .as_deref()
                .map(parse_schedule)
                .transpose()?,
            reinit: self
                .reinit_plateau
                .as_deref()
                .map(parse_plateau)
                .transpose()?,
            alternate: self.alternate.as_deref().map(parse_alternate).transpose()?,
            ..Training::default()
        };
        Ok(given.with_recipe(
            self.recipe,
            Ingredients {
                epochs: self.epochs,
                batch_size: self.batch_size,
                target_scale: self.target_scale,
                input_scale: self.input_scale,
                average_last: self.average_last,
                loss: self.loss,
                lr: self.lr,
                lr_schedule: self.lr_schedule,
                warmup: self.warmup,
            },
        ))
    }
}

/// The training protocol of `train` and `sweep`: the training settings and the data.
#[derive(Args, Clone)]
struct ProtocolArgs {
    #[command(flatten)]
    training: TrainingArgs,
    /// Draw new training rows every epoch (stable-nalu's protocol) instead of one fixed set.
    #[arg(long)]
    fresh_data: bool,
    /// Measure the test % error every EPOCHS epochs (and after the last) and record the first
    /// measured epoch at or below 1 % as `solved_at_epoch`; training is unchanged.
    #[arg(long, value_name = "EPOCHS", allow_negative_numbers = true)]
    solved_every: Option<usize>,
    /// Every EPOCHS epochs (and after the last) measure the MSE on validation rows drawn from
    /// the training range, and end with the parameters of the lowest (stable-nalu's model
    /// selection); the record gains `checkpoint`.
    #[arg(long, value_name = "EPOCHS", allow_negative_numbers = true)]
    checkpoint_every: Option<usize>,
    /// Hidden layer widths, comma-separated [default: 16,12 for dense networks, a preset's
    /// own, or 2 between unit layers].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    hidden: Option<Vec<usize>>,
    /// How unit models draw their initial weights: `own` (each unit's paper: stable-nalu's
    /// for NAC+, NAC•, NALU, NAU and NMU), `inalu` (iNALU's normal draws for NAC+, NAC• and
    /// NALU layers, as their scripts initialise their NALU baselines) or `neural-arithmetic`
    /// (the NPU paper's library: Glorot-uniform NAU, U[0, 1] NMU) [default: own].
    #[arg(long, value_name = "INIT")]
    unit_init: Option<UnitInit>,
    /// Training rows.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10_000)]
    n_train: usize,
    /// Test rows.
    #[arg(long, allow_negative_numbers = true, default_value_t = 2_000)]
    n_test: usize,
    /// Range LOW,HIGH of every training input (half-open).
    #[arg(long, default_value = "10,100", allow_hyphen_values = true)]
    train_range: Range,
    /// Range LOW,HIGH of every test input (half-open); the paper tests outside the training range.
    #[arg(long, default_value = "100,1000", allow_hyphen_values = true)]
    test_range: Range,
    /// Most memory one run may use, in GiB; a larger run is refused before it starts.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_MAX_RUN_GIB)]
    max_memory: f64,
}

/// `--max-memory`'s default, from the library's.
const DEFAULT_MAX_RUN_GIB: f64 = (logexp::experiment::DEFAULT_MAX_RUN_BYTES >> 30) as f64;

/// Most worker threads `--threads` accepts: far beyond any core count a sweep can use, low
/// enough that the thread stacks cannot exhaust memory.
const MAX_THREADS: usize = 1024;

impl ProtocolArgs {
    /// A spec with these settings (function, model and seeds filled in by the caller).
    fn template(&self, function: &str, model: ModelSpec) -> Result<RunSpec, logexp::Error> {
        Ok(RunSpec {
            model,
            n_train: self.n_train,
            n_test: self.n_test,
            train_range: self.train_range,
            test_range: self.test_range,
            fresh_data: self.fresh_data,
            solved_every: self.solved_every,
            checkpoint_every: self.checkpoint_every,
            ..RunSpec::paper(function, Pair::lg())
        }
        .with_training(self.training.training()?))
    }

    /// `model` with `--unit-init` applied, if given.
    fn with_unit_init(&self, model: ModelSpec) -> Result<ModelSpec, logexp::Error> {
        match self.unit_init {
            Some(init) => model.with_unit_init(init),
            None => Ok(model),
        }
    }

    /// `--unit-init` applied to every unit model of a sweep's list (dense models and
    /// `loglinear` have no unit layers and stay as they are); an error if none has any.
    fn with_unit_inits(&self, models: Vec<ModelSpec>) -> Result<Vec<ModelSpec>, logexp::Error> {
        let Some(init) = self.unit_init else {
            return Ok(models);
        };
        if !models.iter().any(|m| m.kind() == "units") {
            return Err(logexp::Error::InvalidSetting {
                field: "unit-init",
                message: "applies to unit models, and --models lists none: drop it or add \
                          one (nalu, nac, …)"
                    .to_string(),
            });
        }
        models
            .into_iter()
            .map(|m| match m.kind() {
                "units" => m.with_unit_init(init),
                _ => Ok(m),
            })
            .collect()
    }

    /// The limits of `--max-memory`.
    fn limits(&self) -> Result<Limits, logexp::Error> {
        memory_limits(self.max_memory)
    }
}

/// Reads `--max-memory GIB`.
fn memory_limits(gib: f64) -> Result<Limits, logexp::Error> {
    // Below a MiB nothing fits, and the refusal would blame the run's size instead.
    if !(1.0 / 1024.0..=1024.0 * 1024.0).contains(&gib) {
        return Err(logexp::Error::InvalidSetting {
            field: "max-memory",
            message: format!(
                "must be a number of GiB from 0.001 (1 MiB) up to 1048576, e.g. {DEFAULT_MAX_RUN_GIB}"
            ),
        });
    }
    Ok(Limits {
        max_run_bytes: (gib * (1u64 << 30) as f64) as u64,
        ..Limits::default()
    })
}

/// Reads `--regularizer LAMBDA,START,END[,BELOW]`.
fn parse_schedule(text: &str) -> Result<Schedule, logexp::Error> {
    let invalid = |what: String| logexp::Error::InvalidSetting {
        field: "regularizer",
        message: format!(
            "{what}: give LAMBDA,START,END[,BELOW], e.g. 10,10000,20000 (the weight, then the steps where it starts and stops rising; BELOW: regularise only batches whose loss is below it)"
        ),
    };
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let (lambda, start, end, below) = match parts[..] {
        [lambda, start, end] => (lambda, start, end, None),
        [lambda, start, end, below] => (lambda, start, end, Some(below)),
        _ => return Err(invalid(format!("{} values", parts.len()))),
    };
    let below = below
        .map(|b| {
            b.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    invalid(format!(
                        "BELOW '{}' is not a positive loss",
                        b.escape_debug()
                    ))
                })
        })
        .transpose()?;
    let lambda: f64 = lambda
        .parse()
        .map_err(|_| invalid(format!("'{}' is not a number", lambda.escape_debug())))?;
    let step = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| invalid(format!("'{}' is not a step count", s.escape_debug())))
    };
    Ok(Schedule {
        lambda,
        start: step(start)?,
        end: step(end)?,
        below,
    })
}

/// Reads `--alternate WEIGHTS,CYCLE`.
fn parse_alternate(text: &str) -> Result<Alternate, logexp::Error> {
    let invalid = |what: String| logexp::Error::InvalidSetting {
        field: "alternate",
        message: format!(
            "{what}: give WEIGHTS,CYCLE with 1 ≤ WEIGHTS < CYCLE, e.g. 8,10 (of every 10 batches, 8 update the weights and 2 the gates)"
        ),
    };
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [weights, cycle] = parts[..] else {
        return Err(invalid(format!("{} values", parts.len())));
    };
    let count = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| invalid(format!("'{}' is not a batch count", s.escape_debug())))
    };
    let alternate = Alternate {
        weights: count(weights)?,
        cycle: count(cycle)?,
    };
    alternate.validate().map_err(|_| {
        invalid(format!(
            "{} of {} batches leaves a group never trained",
            alternate.weights, alternate.cycle
        ))
    })?;
    Ok(alternate)
}

/// Reads `--reinit-plateau PATIENCE,ABOVE`.
fn parse_plateau(text: &str) -> Result<Plateau, logexp::Error> {
    let invalid = |what: String| logexp::Error::InvalidSetting {
        field: "reinit-plateau",
        message: format!(
            "{what}: give PATIENCE,ABOVE, e.g. 10,1 (restart after 10 epochs without a 1 % gain while the loss is above 1)"
        ),
    };
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [patience, above] = parts[..] else {
        return Err(invalid(format!("{} values", parts.len())));
    };
    let patience: usize = patience.parse().ok().filter(|&p| p >= 1).ok_or_else(|| {
        invalid(format!(
            "'{}' is not a whole number of epochs of at least 1",
            patience.escape_debug()
        ))
    })?;
    let above: f64 = above
        .parse()
        .ok()
        .filter(|a: &f64| a.is_finite() && *a >= 0.0)
        .ok_or_else(|| {
            invalid(format!(
                "'{}' is not a non-negative loss",
                above.escape_debug()
            ))
        })?;
    Ok(Plateau { patience, above })
}

#[derive(Args)]
struct TrainArgs {
    /// Target expression over x1..xn, e.g. "x1*x2/10" or "x1*(x2+x3)+x4"
    /// (+ - * / ^, unary minus, parentheses, numbers such as 1e3).
    #[arg(long, allow_hyphen_values = true)]
    function: String,
    /// Hidden-layer activations, one per hidden layer, comma-separated (e.g. relu,linear).
    /// `lg` is the paper's pair symlog,symexp. Names: elu, hard_sigmoid, linear, relu, selu,
    /// sigmoid, softmax, softplus, softsign, swish, tanh, symlog, symexp. Only for --model
    /// dense [default: lg].
    #[arg(long, allow_hyphen_values = true)]
    pair: Option<Pair>,
    /// The model: `dense` (activations from --pair), a preset (lg, nmu, …) or unit layers
    /// such as "nau,nmu".
    #[arg(long, default_value = "dense", allow_hyphen_values = true)]
    model: String,
    /// Seed of initialisation and shuffling.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    /// Seed of the data [default: the value of --seed]. All pairs with the same data seed see
    /// identical rows.
    #[arg(long, allow_negative_numbers = true)]
    data_seed: Option<u64>,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Print exactly one JSON record on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
}

/// The model of `--model`, with `--pair`'s activations when it is `dense`; a `--pair` given
/// for any other model would be ignored, so it is refused.
fn model_spec(
    model: &str,
    pair: Option<&Pair>,
    hidden: Option<&[usize]>,
) -> Result<ModelSpec, logexp::Error> {
    if pair.is_some() && !model.trim().eq_ignore_ascii_case("dense") {
        return Err(logexp::Error::InvalidSetting {
            field: "pair",
            message: format!(
                "--pair sets the activations of --model dense, and {} has its own: drop --pair, or use --model dense",
                model.trim()
            ),
        });
    }
    ModelSpec::parse(model, pair.unwrap_or(&Pair::lg()), hidden)
}

fn train(args: &TrainArgs) -> Result<(), logexp::Error> {
    let function = logexp::expr::canonical_outputs(
        &logexp::expr::parse_outputs(&args.function).map_err(|e| e.for_flag("--function"))?,
    );
    let spec = RunSpec {
        seed: args.seed,
        data_seed: args.data_seed.unwrap_or(args.seed),
        ..args.protocol.template(
            &function,
            args.protocol.with_unit_init(model_spec(
                &args.model,
                args.pair.as_ref(),
                args.protocol.hidden.as_deref(),
            )?)?,
        )?
    };
    let record = logexp::experiment::run_within(&spec, &args.protocol.limits()?)?;
    let text = if args.json {
        serde_json::to_string(&record).map_err(|e| logexp::Error::Run(e.to_string()))?
    } else {
        record.summary(10)
    };
    print_stdout(&text)
}

/// Reports progress on stderr: a bar on a terminal, a plain line every few seconds otherwise.
fn progress_reporter(label: &'static str) -> impl Fn(&Progress) + Sync {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} runs, ETA {eta}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(label);
        bar
    });
    let last_line = Mutex::new(Instant::now());
    move |p: &Progress| match &bar {
        Some(bar) => {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            if p.done == p.total {
                bar.finish_and_clear();
            }
        }
        None => {
            let mut last = last_line.lock().unwrap_or_else(|e| e.into_inner());
            if p.done == p.total || last.elapsed() >= Duration::from_secs(10) {
                *last = Instant::now();
                let eta = p
                    .eta()
                    .map_or("?".into(), |d| format!("{:.0} s", d.as_secs_f64()));
                print_stderr(&format!(
                    "{label}: {}/{} runs done ({} diverged), {:.0} s elapsed, ETA {eta}",
                    p.done,
                    p.total,
                    p.diverged,
                    p.elapsed.as_secs_f64()
                ));
            }
        }
    }
}

fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, logexp::Error> {
    if threads.is_some_and(|n| n == 0 || n > MAX_THREADS) {
        return Err(logexp::Error::InvalidSetting {
            field: "threads",
            message: format!(
                "must be at least 1 and at most {MAX_THREADS} (or leave it out to use every core)"
            ),
        });
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| {
            logexp::Error::Run(format!(
                "cannot start the worker threads ({e}); try fewer with --threads"
            ))
        })
}

fn sweep(args: &SweepArgs) -> Result<(), logexp::Error> {
    let grid = Grid {
        functions: parse_functions(&args.functions)?,
        models: args.protocol.with_unit_inits(parse_models(
            &args.models,
            &args.pairs,
            args.protocol.hidden.as_deref(),
        )?)?,
        seeds: args.seeds,
        data_seed: args.data_seed,
        template: args.protocol.template("", ModelSpec::paper(Pair::lg()))?,
    };
    let limits = args.protocol.limits()?;
    let specs = grid.plan_within(args.shard, &limits)?;
    let pool = thread_pool(args.threads)?;
    let report = progress_reporter("sweep");
    let summary = pool.install(|| run_sweep_within(&specs, &args.out, &limits, &report))?;
    print_stderr(&summary.describe(std::path::Path::new(&shown(&args.out))));
    Ok(())
}

/// Prints a line on stderr, made [`terminal_safe`]. Messages and progress must never kill the work they describe: a
/// closed or full stderr (`2>/dev/full`, `2>&1 | head -1`) loses the line, nothing else.
fn print_stderr(text: &str) {
    let text = terminal_safe(text);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}").and_then(|()| err.flush());
}

/// `text` made safe for a terminal: every [`logexp::report::is_hidden_char`] (control
/// characters from records, CSV headers, model files, file names or flags, which could move
/// the cursor, recolour the terminal or set its title, and invisible format characters, which
/// can make text read differently from what it is) is escaped. Line breaks and tabs are kept.
fn terminal_safe(text: &str) -> String {
    escape_hidden(text, true)
}

/// A path for a message: like [`terminal_safe`], with line breaks and tabs escaped too, so a
/// file name cannot start a line of its own (`--out $'x\nerror: fake'`).
fn shown(path: &std::path::Path) -> String {
    escape_hidden(&path.display().to_string(), false)
}

/// `text` with every hidden character escaped, line breaks and tabs kept if `keep_breaks`.
fn escape_hidden(text: &str, keep_breaks: bool) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        let kept = keep_breaks && (c == '\n' || c == '\t');
        if logexp::report::is_hidden_char(c) && !kept {
            safe.extend(c.escape_default());
        } else {
            safe.push(c);
        }
    }
    safe
}

/// An error as one safe terminal line: every control character escaped, line breaks too, and
/// an overlong line shortened in the middle.
fn error_line(err: &logexp::Error) -> String {
    const MAX_CHARS: usize = 2000;
    let mut line = terminal_safe(&err.to_string())
        .replace('\n', "\\n")
        .replace('\t', "\\t");
    let count = line.chars().count();
    if count > MAX_CHARS {
        let head: String = line.chars().take(MAX_CHARS / 2).collect();
        let tail: String = line.chars().skip(count - MAX_CHARS / 2).collect();
        line = format!(
            "{head} … ({} characters left out) … {tail}",
            count - MAX_CHARS
        );
    }
    format!("error: {line}")
}

/// Prints a line on stdout, made [`terminal_safe`]. A closed pipe (`logexp ... | head`) is not an error worth a panic:
/// the reader has what it wanted.
fn print_stdout(text: &str) -> Result<(), logexp::Error> {
    let text = terminal_safe(text);
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(logexp::Error::io("cannot write", "standard output", e))
        }
        _ => Ok(()),
    }
}

/// Refuses an `--out` directory that cannot be one, naming the flag.
fn out_directory(out: &std::path::Path) -> Result<(), logexp::Error> {
    logexp::output::check_directory(out).map_err(|e| match e {
        logexp::Error::NotADirectory { .. } => logexp::Error::InvalidSetting {
            field: "out",
            message: e.to_string(),
        },
        other => other,
    })
}

fn report(args: &ReportArgs) -> Result<(), logexp::Error> {
    out_directory(&args.out)?;
    let limits = memory_limits(args.max_memory)?;
    let read = read_report_records(&args.results, &limits)?;
    for note in read.notes() {
        print_stderr(&format!("note: {note}"));
    }
    let records = read.records;
    let names: Vec<String> = args
        .results
        .iter()
        .map(|path| format!("the results file {}", path.display()))
        .collect();
    let inputs: Vec<(&std::path::Path, &str)> = args
        .results
        .iter()
        .zip(&names)
        .map(|(path, name)| (path.as_path(), name.as_str()))
        .collect();
    let summary = write_report_keeping(&records, &args.out, &inputs)?;
    for note in &summary.notes {
        print_stderr(&format!("note: {note}"));
    }
    print_stderr(&format!(
        "report of {} runs written to {}",
        records.len(),
        shown(&summary.report_md)
    ));
    Ok(())
}

fn reproduce(args: &ReproduceArgs) -> Result<(), logexp::Error> {
    let target = match (args.full, args.target) {
        (false, target) => target,
        (true, Target::StableNalu | Target::StableNaluFull) => Target::StableNaluFull,
        (true, other) => {
            return Err(logexp::Error::InvalidSetting {
                field: "full",
                message: format!(
                    "--full selects stable-nalu's 100-input task and applies only to \
                     `reproduce stable-nalu`, not {}: drop it",
                    other.name()
                ),
            });
        }
    };
    let args = &ReproduceArgs {
        target,
        ..args.clone()
    };
    let mut options = if args.quick {
        ReproduceOptions::quick_of(args.target)
    } else {
        ReproduceOptions::of(args.target)
    };
    if let Some(seeds) = args.seeds {
        options.seeds = seeds;
    }
    if let Some(epochs) = args.epochs {
        if !args.target.takes_training_settings() {
            return Err(logexp::Error::InvalidSetting {
                field: "epochs",
                message: format!(
                    "reproduce {} fixes the epochs of its runs: drop --epochs (it applies to \
                     the paper and peers targets)",
                    args.target.name()
                ),
            });
        }
        options.epochs = epochs;
    }
    if let Some(recipe) = args.recipe {
        if !args.target.takes_training_settings() {
            return Err(logexp::Error::InvalidSetting {
                field: "recipe",
                message: format!(
                    "reproduce {} runs its own fixed protocol: drop --recipe (it applies to \
                     the paper and peers targets)",
                    args.target.name()
                ),
            });
        }
        options.recipe = recipe;
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let mut name = String::from("reproduce");
        if args.target != Target::Paper {
            name = format!("{name}-{}", args.target.name());
        }
        if args.quick {
            name.push_str("-quick");
        }
        PathBuf::from(name)
    });
    out_directory(&out)?;
    let pool = thread_pool(args.threads)?;
    let progress = progress_reporter("reproduce");
    let summary = pool.install(|| logexp::reproduce::reproduce(&options, &out, &progress))?;
    print_stderr(
        &summary
            .sweep
            .describe(std::path::Path::new(&shown(&summary.results))),
    );
    print_stdout(&format!("report written to {}", shown(&summary.report_md)))
}

fn main() -> ExitCode {
    // An interrupt (Ctrl-C, SIGTERM, SIGHUP) must not leave a half-written temporary file beside
    // an output. Results files need nothing here: a sweep's torn last line is repaired when it
    // resumes. If the handler cannot be installed, the default (an immediate exit) stands.
    let _ = ctrlc::set_handler(|| {
        logexp::output::remove_staged_files();
        std::process::exit(130);
    });
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => train(args),
        Command::Sweep(args) => sweep(args),
        Command::Report(args) => report(args),
        Command::Fit(args) => fit(args),
        Command::Predict(args) => predict(args),
        Command::Explain(args) => explain(args),
        Command::Reproduce(args) => reproduce(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            print_stderr(&error_line(&err));
            ExitCode::from(if err.is_usage() { 2 } else { 1 })
        }
    }
}
