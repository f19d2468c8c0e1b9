//! The peers' own tasks, run with their own protocols as far as logexp can express them, and
//! their published numbers to compare with (`reproduce peers`, and a section of the report).
//!
//! Each task was read from the peers' code, which produced their tables (where their papers
//! say otherwise, the code wins):
//!
//! - **stable-nalu `simple_mul`** (Madsen & Johansen 2020, `AndreasMadsen/stable-nalu`,
//!   `experiments/simple_function_static.py`, `lfs_batch_jobs/simple_mul.sh`,
//!   `export/simple_mul.r`): t = (x1 + x2)·(x1 + x2 + x3 + x4), train U[1, 2) with fresh rows
//!   every step, test U[2, 6), batch 128, 200,000 Adam steps at 1e-3, MSE, hidden 2. The
//!   sparsity regulariser's ramp starts at step 10⁶, so it never acts in this task. *Solved*
//!   (`export/simple_mul.r`): the model is the checkpoint of lowest interpolation MSE
//!   (measured every 1,000 steps on 10,000 rows from U[1, 2):
//!   [`RunSpec::checkpoint_every`]), and it is solved when its extrapolation MSE is below
//!   that of the ε-perfect solution (ε = 10⁻⁵; [`epsilon_perfect_mse`], about 2.15·10⁻⁶).
//! - **stable-nalu function task, ×** (`--full`; same sources, `lfs_batch_jobs/
//!   function_task_static.sh`, `export/function_task_static.r`): t = (Σ a)·(Σ b) over 100
//!   inputs, with subsets a and b of 25 inputs that share 12, the same ranges, batch and
//!   checkpoint rule, 5·10⁶ steps, and the sparsity regulariser (λ = 10) ramped in from step
//!   10⁶ to 2·10⁶. They place the subsets at an offset drawn per seed; logexp places them at
//!   x1…x25 and x14…x38 (the units are symmetric in their inputs, so only the seed's draw
//!   differs), and the target ends in `+0*x100` so that the net has all 100 inputs. Their
//!   threshold script (`export/function_task_static_mse_expectation.r`) builds its ε-perfect
//!   weights with R's inclusive ranges, 26 inputs per subset; logexp uses the task's own 25.
//! - **NeuralPowerUnits simple task, × and + rows** (Heim et al. 2020, `nmheim/NeuralPowerUnits`
//!   `scripts/simple/run.jl`, `results_table.jl`): one network with four outputs, x + y, x·y,
//!   x / y and √x ([`NPU_OUTPUTS`]), trained jointly on the mean squared error over all outputs;
//!   train U[0.1, 2.1) with 100 fresh rows per step, 20,000 steps; NPU(2, 6) → NAU(6, 4) and
//!   the others likewise at width 6, Adam 0.005 (RMSProp 0.005 for NALU, 0.001 for iNALU),
//!   NAU and NMU drawn as their library draws them ([`UnitInit::NeuralArithmetic`]),
//!   dense: two sigmoid layers of 50; each output scored by its mean absolute error on a grid
//!   over [−4.1, 3.9]², reported as mean ± standard error over 20 runs. logexp tests on
//!   uniform rows over [−4.2, 4)² (the grid is its midpoint rule), writes √x as |x|^0.5 (equal
//!   on the training rows; they score √ on a positive grid of its own) and compares the × and
//!   + rows (their ÷ grid keeps |y| ≥ 0.1, which uniform rows do not).
//! - **iNALU minimal task, ×** (Schlör et al. 2020, `daschloer/inalu`
//!   `nalu_syn_simple_arith.py`, `experiment_runs/exp1`): one unit 2 → 1, 64,000 fixed rows,
//!   batch 64, 100 epochs, RMSProp 0.01 with every gradient clipped to ±0.1, MSE; weight and
//!   gate updates alternate (of every 10 batches of an epoch, the first 8 update the weights,
//!   the last 2 the gate: [`Alternate`]); their regulariser (weight 0.05) acts from their
//!   epoch index 11 (0-based: step 11,000) on the batches whose loss is below 1
//!   ([`Schedule::below`]). *Solved*: extrapolation MSE below 10⁻⁵ on U(−10, −5), which is a
//!   relative error of 5.4·10⁻⁵ there. Their success rates pool seven input distributions, of
//!   which logexp runs the two uniform ones (their rates on those two are given per range).
//!   Left out: they apply the regulariser as two optimiser steps of its own after the batch's
//!   step (weights, then gate), where logexp adds it to the batch's gradient; they regularise
//!   NALU's weights and gate too, where logexp's NALU has no regulariser; and their restart
//!   on a plateau (a rule over the last 10,000 batch losses) is not run.

use crate::data::Range;
use crate::experiment::{ModelSpec, Optimizer, Pair, RunRecord, RunSpec};
use crate::model::UnitInit;
use crate::report::bench::wilson;
use crate::sweep::Grid;
use crate::train::{Alternate, Loss, Schedule};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write;
use std::sync::OnceLock;

/// ε of stable-nalu's success criterion.
pub const STABLE_NALU_EPSILON: f64 = 1e-5;

/// The MSE, on inputs drawn uniformly from `range`, of the ε-perfect solution of the target
/// (Σ_{i∈first} xᵢ)·(Σ_{i∈second} xᵢ): the weights of a perfect NAU → NMU, each off by ε
/// towards the wrong value (1 − ε on the subsets, ε elsewhere), as stable-nalu computes its
/// success threshold (`export/function_task_static_mse_expectation.r`, there by Monte Carlo
/// over 10⁶ rows). Indices are 0-based. A Monte Carlo estimate over `samples` rows of a fixed
/// seed, in `f64`: the same value on every call.
pub fn epsilon_perfect_mse(
    first: std::ops::Range<usize>,
    second: std::ops::Range<usize>,
    n_inputs: usize,
    range: Range,
    epsilon: f64,
    samples: usize,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut x = vec![0.0f64; n_inputs];
    let mut sum = 0.0;
    for _ in 0..samples {
        x.iter_mut()
            .for_each(|v| *v = rng.random_range(range.low..range.high));
        let exact = |subset: &std::ops::Range<usize>| x[subset.clone()].iter().sum::<f64>();
        let off = |subset: &std::ops::Range<usize>| {
            x.iter()
                .enumerate()
                .map(|(i, v)| {
                    if subset.contains(&i) {
                        (1.0 - epsilon) * v
                    } else {
                        epsilon * v
                    }
                })
                .sum::<f64>()
        };
        let error = off(&first) * off(&second) - exact(&first) * exact(&second);
        sum += error * error;
    }
    sum / samples as f64
}

/// The threshold of stable-nalu's small task: t = (x1 + x2)·(x1 + x2 + x3 + x4) on U[2, 6).
fn simple_mul_threshold() -> f64 {
    static THRESHOLD: OnceLock<f64> = OnceLock::new();
    *THRESHOLD.get_or_init(|| {
        let test = Range::new(2.0, 6.0).expect("a valid range");
        epsilon_perfect_mse(0..2, 0..4, 4, test, STABLE_NALU_EPSILON, 1_000_000)
    })
}

/// The threshold of stable-nalu's function task: subsets x1…x25 and x14…x38 of 100 inputs
/// on U[2, 6).
fn function_task_threshold() -> f64 {
    static THRESHOLD: OnceLock<f64> = OnceLock::new();
    *THRESHOLD.get_or_init(|| {
        let test = Range::new(2.0, 6.0).expect("a valid range");
        epsilon_perfect_mse(0..25, 13..38, 100, test, STABLE_NALU_EPSILON, 100_000)
    })
}

/// stable-nalu's function task: (x1 + … + x25)·(x14 + … + x38), with `0*x100` so that the
/// target has 100 inputs.
fn function_task_target() -> String {
    let sum = |from: usize, to: usize| {
        (from..=to)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join("+")
    };
    format!("({})*({})+0*x100", sum(1, 25), sum(14, 38))
}

/// The NPU paper's simple task: x + y, x·y, x / y and √x, one output each.
pub const NPU_OUTPUTS: &str = "x1+x2;x1*x2;x1/x2;(x1^2)^0.25";

/// How a task scores a model over its seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// The share of runs whose test mean % error is below this many percent.
    SolvedBelowPct(f64),
    /// The share of runs whose checkpoint ([`RunSpec::checkpoint_every`]) has a test MSE below
    /// this (stable-nalu's criterion); a run without a checkpoint is not solved.
    CheckpointMseBelow(f64),
    /// The mean test MAE over runs, ± its standard error: of the whole record, or of one
    /// output (0-based) of a function of several outputs.
    MeanMae(Option<usize>),
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Criterion::SolvedBelowPct(pct) => {
                write!(
                    f,
                    "solved: test % error < {pct} % (their MSE threshold, relative)"
                )
            }
            Criterion::CheckpointMseBelow(threshold) => write!(
                f,
                "solved: the checkpoint of lowest validation MSE has a test MSE < {threshold:.3e} \
                 (ε-perfect, ε = 1e-5)"
            ),
            Criterion::MeanMae(None) => write!(f, "mean test MAE ± standard error"),
            Criterion::MeanMae(Some(o)) => write!(
                f,
                "mean test MAE of output {} of the jointly trained network ± standard error",
                o + 1
            ),
        }
    }
}

/// A number from a peer's paper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Published {
    /// A success rate in percent with its published interval (upper and lower distances).
    Rate {
        /// The rate, in percent.
        percent: f64,
        /// Distance to the interval's upper end.
        plus: f64,
        /// Distance to its lower end.
        minus: f64,
    },
    /// A success count out of a number of runs.
    Count {
        /// Runs solved.
        solved: u32,
        /// Runs.
        runs: u32,
    },
    /// A mean with its ± term.
    Mean {
        /// The mean.
        mean: f64,
        /// The ± term (their standard error).
        pm: Option<f64>,
    },
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Published::Rate {
                percent,
                plus,
                minus,
            } => write!(f, "{percent} % (+{plus}/−{minus})"),
            Published::Count { solved, runs } => write!(f, "{solved}/{runs}"),
            Published::Mean { mean, pm: Some(pm) } => write!(f, "{mean} ± {pm}"),
            Published::Mean { mean, pm: None } => write!(f, "{mean}"),
        }
    }
}

/// One model of a task with its training settings and its published result.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The spec of seed 0 (seeds vary the run seed and the data seed together).
    pub spec: RunSpec,
    /// What the peer's paper reports for it.
    pub published: Published,
}

/// Which `reproduce` target a task belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// stable-nalu's small task.
    StableNalu,
    /// stable-nalu's function task with 100 inputs (`reproduce stable-nalu --full`).
    StableNaluFull,
    /// The NPU paper's simple task.
    Npu,
    /// iNALU's minimal task.
    Inalu,
}

/// A peer's task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The `reproduce` target that runs it.
    pub group: Group,
    /// A short name.
    pub name: &'static str,
    /// Where the published numbers come from.
    pub source: &'static str,
    /// How runs are scored.
    pub criterion: Criterion,
    /// Seeds per model in the peer's table.
    pub seeds: u64,
    /// The models.
    pub entries: Vec<Entry>,
}

fn units(name: &str) -> ModelSpec {
    ModelSpec::preset(name).expect("a preset")
}

fn listed(list: &str, hidden: &[usize]) -> ModelSpec {
    ModelSpec::parse(list, &Pair::lg(), Some(hidden)).expect("valid units")
}

/// One output's row of the NPU paper's table (`plots/simple_err_table.tex`): every model
/// trained jointly on the four functions, scored on output `output`, beside `published`, their
/// mean ± standard error for NMU, RealNPU, NPU, iNALU, NALU and Dense, in that order.
fn npu_task(name: &'static str, output: usize, published: [[f64; 2]; 6], npu: &RunSpec) -> Task {
    // Their NAU and NMU layers draw their weights as their library does.
    let their_draws = |list: &str| RunSpec {
        model: listed(list, &[6])
            .with_unit_init(UnitInit::NeuralArithmetic)
            .expect("a unit model"),
        ..npu.clone()
    };
    let rmsprop = |list: &str, lr| RunSpec {
        model: listed(list, &[6]),
        optimizer: Optimizer::Rmsprop,
        lr,
        ..npu.clone()
    };
    let specs = [
        their_draws("nmu,nau"),
        their_draws("real-npu,nau"),
        their_draws("npu,nau"),
        rmsprop("inalu,inalu", 0.001),
        rmsprop("nalu,nalu", npu.lr),
        // Their `run_dense`: two sigmoid layers of 50 units and a linear output layer.
        RunSpec {
            model: ModelSpec::Dense {
                pair: "sigmoid,sigmoid".parse().expect("a pair"),
                hidden: vec![50, 50],
            },
            ..npu.clone()
        },
    ];
    Task {
        group: Group::Npu,
        name,
        source: "Heim et al. 2020, NeuralPowerUnits plots/simple_err_table.tex",
        criterion: Criterion::MeanMae(Some(output)),
        seeds: 20,
        entries: specs
            .into_iter()
            .zip(published)
            .map(|(spec, [mean, pm])| Entry {
                spec,
                published: Published::Mean { mean, pm: Some(pm) },
            })
            .collect(),
    }
}

/// The tasks, in the order the report lists them. Tasks of one group may share runs (the NPU
/// paper's rows score one set of runs on different outputs): [`grids`] runs each spec once.
pub fn tasks() -> Vec<Task> {
    let range = |low, high| Range::new(low, high).expect("a valid range");
    let simple_mul = RunSpec {
        loss: Loss::Mse,
        batch_size: 128,
        n_train: 128_000,
        epochs: 200,
        n_test: 10_000,
        fresh_data: true,
        train_range: range(1.0, 2.0),
        test_range: range(2.0, 6.0),
        // Their log interval: the interpolation error every 1,000 steps.
        checkpoint_every: Some(1),
        ..RunSpec::paper("(x1+x2)*(x1+x2+x3+x4)", Pair::lg())
    };
    let function_task = RunSpec {
        function: function_task_target(),
        epochs: 5_000,
        regularizer: Some(Schedule {
            lambda: 10.0,
            start: 1_000_000,
            end: 2_000_000,
            below: None,
        }),
        ..simple_mul.clone()
    };
    let npu = RunSpec {
        loss: Loss::Mse,
        batch_size: 100,
        n_train: 100_000,
        epochs: 20,
        n_test: 20_000,
        fresh_data: true,
        lr: 0.005,
        train_range: range(0.1, 2.1),
        test_range: range(-4.2, 4.0),
        // Their four outputs, trained jointly. √x1 is written |x1|^0.5, equal on the training
        // rows (all positive) and defined on the test rows, where they do not score it.
        ..RunSpec::paper(NPU_OUTPUTS, Pair::lg())
    };
    let inalu = RunSpec {
        loss: Loss::Mse,
        batch_size: 64,
        n_train: 64_000,
        epochs: 100,
        n_test: 64_000,
        lr: 0.01,
        optimizer: Optimizer::Rmsprop,
        clip: Some(0.1),
        alternate: Some(Alternate {
            weights: 8,
            cycle: 10,
        }),
        train_range: range(-1.0, 1.0),
        test_range: range(-10.0, -5.0),
        ..RunSpec::paper("x1*x2", Pair::lg())
    };
    let inalu_regularised = |train_range| RunSpec {
        model: listed("units:inalu", &[]),
        // Their `epoch > 10` counts epochs from 0: from the 12th epoch, after 11 × 1,000 steps.
        regularizer: Some(Schedule {
            lambda: 0.05,
            start: 11_000,
            end: 11_000,
            below: Some(1.0),
        }),
        train_range,
        ..inalu.clone()
    };
    let nalu_single = |train_range| RunSpec {
        model: listed("units:nalu", &[]),
        train_range,
        ..inalu.clone()
    };
    // Their scripts draw the NALU's weights as their iNALU's.
    let nalu_their_init = |train_range| RunSpec {
        model: listed("units:nalu", &[])
            .with_unit_init(UnitInit::Inalu)
            .expect("a unit model"),
        train_range,
        ..inalu.clone()
    };
    let rate = |percent, plus, minus| Published::Rate {
        percent,
        plus,
        minus,
    };
    vec![
        Task {
            group: Group::StableNalu,
            name: "stable-nalu simple_mul",
            source: "Madsen & Johansen 2020, paper/results/simple_mul.tex",
            criterion: Criterion::CheckpointMseBelow(simple_mul_threshold()),
            seeds: 100,
            entries: vec![
                Entry {
                    spec: RunSpec {
                        model: units("nmu"),
                        ..simple_mul.clone()
                    },
                    published: rate(94.0, 3.0, 6.0),
                },
                Entry {
                    spec: RunSpec {
                        model: units("nalu"),
                        ..simple_mul.clone()
                    },
                    published: rate(26.0, 9.0, 8.0),
                },
                Entry {
                    spec: RunSpec {
                        model: units("nac-mul"),
                        ..simple_mul.clone()
                    },
                    published: rate(13.0, 8.0, 5.0),
                },
            ],
        },
        Task {
            group: Group::StableNaluFull,
            name: "stable-nalu function task, ×, 100 inputs",
            source: "Madsen & Johansen 2020, paper/results/function_task_static.tex",
            criterion: Criterion::CheckpointMseBelow(function_task_threshold()),
            seeds: 100,
            entries: ["nmu", "nalu", "nac-mul"]
                .into_iter()
                .zip([
                    rate(98.0, 1.0, 5.0),
                    rate(0.0, 4.0, 0.0),
                    rate(31.0, 10.0, 8.0),
                ])
                .map(|(model, published)| Entry {
                    spec: RunSpec {
                        model: units(model),
                        ..function_task.clone()
                    },
                    published,
                })
                .collect(),
        },
        npu_task(
            "NPU simple task, ×",
            1,
            [
                [0.005, 0.004],
                [0.066, 0.026],
                [0.37, 0.23],
                [3.453, 0.065],
                [4.55, 0.2],
                [3.546, 0.035],
            ],
            &npu,
        ),
        npu_task(
            "NPU simple task, +",
            0,
            [
                [0.2, 0.18],
                [0.08, 0.021],
                [0.2, 0.11],
                [2.18, 0.13],
                [2.69, 0.22],
                [2.103, 0.04],
            ],
            &npu,
        ),
        Task {
            group: Group::Inalu,
            name: "iNALU minimal task, ×, U(−1, 1) → U(−10, −5)",
            source: "Schlör et al. 2020, daschloer/inalu experiment_runs/exp1 (10 seeds per range)",
            criterion: Criterion::SolvedBelowPct(5.4e-3),
            seeds: 10,
            entries: vec![
                Entry {
                    spec: inalu_regularised(range(-1.0, 1.0)),
                    published: Published::Count {
                        solved: 10,
                        runs: 10,
                    },
                },
                Entry {
                    spec: nalu_single(range(-1.0, 1.0)),
                    published: Published::Count {
                        solved: 8,
                        runs: 10,
                    },
                },
                Entry {
                    spec: nalu_their_init(range(-1.0, 1.0)),
                    published: Published::Count {
                        solved: 8,
                        runs: 10,
                    },
                },
            ],
        },
        Task {
            group: Group::Inalu,
            name: "iNALU minimal task, ×, U(−5, 5) → U(−10, −5)",
            source: "Schlör et al. 2020, daschloer/inalu experiment_runs/exp1 (10 seeds per range)",
            criterion: Criterion::SolvedBelowPct(5.4e-3),
            seeds: 10,
            entries: vec![
                Entry {
                    spec: inalu_regularised(range(-5.0, 5.0)),
                    published: Published::Count {
                        solved: 10,
                        runs: 10,
                    },
                },
                Entry {
                    spec: nalu_single(range(-5.0, 5.0)),
                    published: Published::Count {
                        solved: 0,
                        runs: 10,
                    },
                },
                Entry {
                    spec: nalu_their_init(range(-5.0, 5.0)),
                    published: Published::Count {
                        solved: 0,
                        runs: 10,
                    },
                },
            ],
        },
    ]
}

/// One grid per model of every task of `group`, `seeds` seeds each (`None`: each task's own
/// count).
pub fn grids(group: Group, seeds: Option<u64>) -> Vec<Grid> {
    let mut grids: Vec<Grid> = Vec::new();
    for task in tasks().into_iter().filter(|task| task.group == group) {
        let n = seeds.unwrap_or(task.seeds);
        for entry in task.entries {
            // Tasks that score the same runs differently list the same specs.
            if grids
                .iter()
                .any(|g| g.template == entry.spec && g.seeds == n)
            {
                continue;
            }
            grids.push(Grid {
                functions: vec![entry.spec.function.clone()],
                models: vec![entry.spec.model.clone()],
                seeds: n,
                data_seed: None,
                template: entry.spec,
            });
        }
    }
    grids
}

/// One model of one task: its runs in the records, scored by the task's criterion, beside the
/// published number.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The task's name.
    pub task: &'static str,
    /// Where the published number comes from.
    pub source: &'static str,
    /// How runs are scored ([`Criterion`]'s text).
    pub criterion: String,
    /// The model's label.
    pub model: String,
    /// Runs found.
    pub runs: usize,
    /// Our result, as text.
    pub ours: String,
    /// The published result, as text.
    pub published: String,
}

/// Two significant digits, in the notation the peers' tables use (0.0021, 3.3, 0.47).
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (1 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// "solved/runs (rate %, 95 % CI lo–hi)".
fn rate_text(solved: usize, runs: usize) -> String {
    let (lo, hi) = wilson(solved, runs);
    format!(
        "{solved}/{runs} ({:.0} %, 95 % CI {lo:.0}–{hi:.0})",
        100.0 * solved as f64 / runs as f64
    )
}

/// Whether `record` is a run of `entry` (any seed).
fn matches(record: &RunRecord, entry: &Entry) -> bool {
    let normalised = RunSpec {
        seed: 0,
        data_seed: 0,
        ..record.spec.clone()
    };
    normalised == entry.spec
}

/// The comparisons for every task model that has runs in `records`.
pub fn compare(records: &[&RunRecord]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for task in tasks() {
        for entry in &task.entries {
            let runs: Vec<&RunRecord> = records
                .iter()
                .copied()
                .filter(|r| matches(r, entry))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let ours = match task.criterion {
                Criterion::SolvedBelowPct(limit) => {
                    let solved = runs
                        .iter()
                        .filter(|r| r.test_pct_err.is_some_and(|e| e < limit))
                        .count();
                    rate_text(solved, runs.len())
                }
                Criterion::CheckpointMseBelow(threshold) => {
                    let solved = runs
                        .iter()
                        .filter(|r| {
                            r.checkpoint
                                .and_then(|c| c.test_mse)
                                .is_some_and(|mse| mse < threshold)
                        })
                        .count();
                    rate_text(solved, runs.len())
                }
                Criterion::MeanMae(output) => {
                    let maes: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| match output {
                            None => r.test_mae,
                            Some(o) => r.outputs.get(o).and_then(|s| s.test_mae),
                        })
                        .collect();
                    let n = maes.len() as f64;
                    let mean = maes.iter().sum::<f64>() / n;
                    let var =
                        maes.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
                    let missing = runs.len() - maes.len();
                    let mut text =
                        format!("{} ± {}", significant(mean), significant((var / n).sqrt()));
                    if missing > 0 {
                        let _ = write!(text, " ({missing} diverged left out)");
                    }
                    text
                }
            };
            out.push(Comparison {
                task: task.name,
                source: task.source,
                criterion: task.criterion.to_string(),
                model: entry.spec.model.describe(),
                runs: runs.len(),
                ours,
                published: entry.published.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_validates_and_its_grids_cover_every_model() {
        let grids: Vec<Grid> = [
            Group::StableNalu,
            Group::StableNaluFull,
            Group::Npu,
            Group::Inalu,
        ]
        .into_iter()
        .flat_map(|g| grids(g, Some(2)))
        .collect();
        let entries: usize = tasks().iter().map(|t| t.entries.len()).sum();
        // The NPU paper's two rows score the same six models' runs: run once.
        assert_eq!(grids.len(), entries - 6);
        assert_eq!(super::grids(Group::Npu, None).len(), 6);
        let npu_specs: Vec<RunSpec> = tasks()
            .into_iter()
            .filter(|t| t.group == Group::Npu)
            .flat_map(|t| t.entries.into_iter().map(|e| e.spec))
            .collect();
        assert_eq!(npu_specs.len(), 12);
        assert_eq!(npu_specs[..6], npu_specs[6..]);
        for grid in &grids {
            grid.validate().unwrap();
            assert_eq!(grid.specs().len(), 2);
        }
        // stable-nalu's 200,000 steps: 200 epochs of 128,000 fresh rows in batches of 128.
        let mul = &tasks()[0].entries[0].spec;
        assert_eq!(mul.epochs * mul.n_train / mul.batch_size, 200_000);
        // stable-nalu's function task: 5,000,000 steps, its regulariser ramped in over the
        // second million.
        let full = &tasks()[1].entries[0].spec;
        assert_eq!(full.epochs * full.n_train / full.batch_size, 5_000_000);
        let ramp = full.regularizer.unwrap();
        assert_eq!(
            (ramp.lambda, ramp.start, ramp.end),
            (10.0, 1_000_000, 2_000_000)
        );
        // The NPU paper's 20,000 steps of 100 rows.
        let npu = &tasks()[2].entries[0].spec;
        assert_eq!(npu.epochs * npu.n_train / npu.batch_size, 20_000);
        // Their four functions, one output each, on every model of the task.
        let outputs = crate::expr::parse_outputs(&npu.function).unwrap();
        assert_eq!(outputs.len(), 4);
        assert_eq!(outputs[1].eval(&[1.5, -2.0]), -3.0);
        assert_eq!(outputs[3].eval(&[2.25, 1.0]), 1.5);
        assert_eq!(outputs[3].eval(&[-2.25, 1.0]), 1.5);
    }

    /// The iNALU task runs their protocol: of every 10 batches 8 train the weights, and the
    /// regulariser (0.05) acts from step 11,000 on batches with a loss below 1, for iNALU;
    /// NALU alternates too. A short run of each (the regulariser brought forward to step 50
    /// of 300) trains to finite losses, and the alternation changes the iNALU's training.
    #[test]
    fn the_inalu_task_alternates_and_regularises_below_a_loss_of_one() {
        let entries: Vec<Entry> = tasks()
            .into_iter()
            .filter(|t| t.group == Group::Inalu)
            .flat_map(|t| t.entries)
            .collect();
        assert_eq!(entries.len(), 6);
        for entry in &entries {
            assert_eq!(
                entry.spec.alternate,
                Some(Alternate {
                    weights: 8,
                    cycle: 10
                })
            );
        }
        let inalu = &entries[0].spec;
        assert_eq!(
            inalu.regularizer,
            Some(Schedule {
                lambda: 0.05,
                start: 11_000,
                end: 11_000,
                below: Some(1.0)
            })
        );
        // 64,000 rows in batches of 64: step 11,000 is the first of the 12th epoch.
        assert_eq!(11 * inalu.n_train / inalu.batch_size, 11_000);
        for entry in [&entries[0], &entries[1]] {
            let short = RunSpec {
                epochs: 3,
                n_train: 6_400,
                n_test: 1_000,
                regularizer: entry.spec.regularizer.map(|r| Schedule {
                    start: 50,
                    end: 50,
                    ..r
                }),
                ..entry.spec.clone()
            };
            let record = crate::experiment::train(&short).unwrap().record;
            assert!(!record.diverged, "{record:?}");
            assert!(record.train_loss.iter().all(|l| l.is_finite()));
            assert!(record.test_pct_err.is_some_and(f64::is_finite));
            if entry.spec.regularizer.is_some() {
                let plain = RunSpec {
                    alternate: None,
                    ..short.clone()
                };
                let other = crate::experiment::train(&plain).unwrap().record;
                assert_ne!(other.train_loss, record.train_loss);
            }
        }
    }

    /// The ε-perfect thresholds against independent Monte Carlo estimates (Python's
    /// `random`, 400,000 rows for the small task: 2.1539e-6; 20,000 rows for the function
    /// task: 0.16058), within their sampling error; an exact solution has none.
    #[test]
    fn epsilon_perfect_thresholds_match_an_independent_estimate() {
        let small = simple_mul_threshold();
        assert!((small / 2.1539e-6 - 1.0).abs() < 0.01, "{small}");
        let full = function_task_threshold();
        assert!((full / 0.16058 - 1.0).abs() < 0.02, "{full}");
        let range = Range::new(2.0, 6.0).unwrap();
        assert_eq!(epsilon_perfect_mse(0..2, 0..4, 4, range, 0.0, 100), 0.0);
        // The function task's target is the sum of those subsets, over 100 inputs.
        let target = crate::expr::Expr::parse(&function_task_target()).unwrap();
        assert_eq!(target.n_vars(), 100);
        let x: Vec<f64> = (1..=100).map(f64::from).collect();
        let a: f64 = (1..=25).map(f64::from).sum();
        let b: f64 = (14..=38).map(f64::from).sum();
        assert_eq!(target.eval(&x), a * b);
    }

    /// stable-nalu's criterion: a run is solved when its checkpoint's test MSE is below the
    /// threshold; a run without a checkpoint (every validation MSE non-finite) is not.
    #[test]
    fn the_stable_nalu_criterion_reads_the_checkpoint() {
        let entry = &tasks()[0].entries[0];
        assert_eq!(entry.spec.checkpoint_every, Some(1));
        let threshold = simple_mul_threshold();
        let with = |seed, test_mse: Option<f64>| {
            let mut r = record(&entry.spec, seed, 0.0);
            r.checkpoint = test_mse.map(|m| crate::experiment::Checkpoint {
                epoch: 7,
                valid_mse: 1e-7,
                test_mse: Some(m),
            });
            r
        };
        let runs = [
            with(0, Some(threshold * 0.5)),
            with(1, Some(threshold * 2.0)),
            with(2, None),
            with(3, Some(threshold * 0.99)),
        ];
        let refs: Vec<&RunRecord> = runs.iter().collect();
        let rows = compare(&refs);
        assert!(rows[0].ours.starts_with("2/4 (50 %"), "{}", rows[0].ours);
        assert!(
            rows[0].criterion.contains("checkpoint") && rows[0].criterion.contains("2.15"),
            "{}",
            rows[0].criterion
        );
    }

    fn record(spec: &RunSpec, seed: u64, pct: f64) -> RunRecord {
        RunRecord {
            schema: crate::experiment::RECORD_SCHEMA,
            spec: RunSpec {
                seed,
                data_seed: seed,
                ..spec.clone()
            },
            n_inputs: 4,
            n_params: 6,
            train_loss: vec![1.0],
            train_mae: Some(1.0),
            train_pct_err: Some(1.0),
            test_mae: Some(pct),
            test_pct_err: Some(pct),
            diverged: false,
            diverged_at_epoch: None,
            reinit_epochs: Vec::new(),
            solved_at_epoch: None,
            checkpoint: None,
            outputs: Vec::new(),
            sparsity_error: None,
            wall_seconds: 0.0,
            logexp_version: "test".into(),
        }
    }

    #[test]
    fn comparisons_score_only_the_matching_runs() {
        let entry = &tasks()[0].entries[0];
        let mut solved = record(&entry.spec, 1, 1e-4);
        solved.checkpoint = Some(crate::experiment::Checkpoint {
            epoch: 1,
            valid_mse: 0.0,
            test_mse: Some(0.0),
        });
        let failed = record(&entry.spec, 2, 5.0);
        let mut other = solved.clone();
        other.spec.seed = 3;
        other.spec.epochs = 3;
        let records = [solved, failed, other];
        let refs: Vec<&RunRecord> = records.iter().collect();
        let rows = compare(&refs);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].runs, 2);
        assert!(rows[0].ours.starts_with("1/2 (50 %"), "{}", rows[0].ours);
        assert_eq!(rows[0].published, "94 % (+3/−6)");
        // A mean-MAE task on one output: × (output 2) at 1 and 3 gives 2 ± 1 (standard
        // error of two values 2 apart); + (output 1) at 10 and 30 gives 20 ± 10.
        let npu = &tasks()[2].entries[0];
        let joint = |seed, mae: f64| {
            let mut r = record(&npu.spec, seed, 99.0);
            r.outputs = ["x1+x2", "x1*x2", "x1/x2", "(x1^2)^0.25"]
                .iter()
                .zip([10.0 * mae, mae, 500.0, 600.0])
                .map(|(f, m)| crate::experiment::OutputScores {
                    function: f.to_string(),
                    train_mae: Some(0.0),
                    test_mae: Some(m),
                    test_pct_err: Some(1.0),
                })
                .collect();
            r
        };
        let runs = [joint(0, 1.0), joint(1, 3.0)];
        let refs: Vec<&RunRecord> = runs.iter().collect();
        let rows = compare(&refs);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].task, "NPU simple task, ×");
        assert_eq!(rows[0].ours, "2.0 ± 1.0");
        assert_eq!(rows[0].published, "0.005 ± 0.004");
        assert!(
            rows[0].criterion.contains("output 2"),
            "{}",
            rows[0].criterion
        );
        assert_eq!(rows[1].task, "NPU simple task, +");
        assert_eq!(rows[1].ours, "20 ± 10");
        assert_eq!(rows[1].published, "0.2 ± 0.18");
        assert_eq!(significant(0.00213), "0.0021");
        assert_eq!(significant(3.253), "3.3");
    }
}
