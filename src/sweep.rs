//! Grids of runs: planning, sharding, progress and parallel execution.
//!
//! Records go to a results file ([`crate::results`]), appended whole, one `write` each, as runs
//! finish; a run is identified by its spec ([`RunSpec::key`]), so rerunning a sweep skips what
//! the file already holds. The file is locked for the sweep's whole life, and an interrupted
//! write is repaired on resume under the rules of [`crate::results`].

use crate::error::Error;
use crate::experiment::{Limits, ModelSpec, Pair, RunSpec, run_within};
use crate::expr::{canonical_outputs, parse_outputs};
use crate::protocol::{PAPER_FUNCTIONS, reproduce_functions};
use crate::results::{ResultsWriter, Tail};
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// The results file used to live here; these paths stay importable from `sweep`.
pub use crate::results::{
    ReportRecords, Results, read_all_results, read_all_results_within, read_report_records,
    read_results,
};

/// A grid of runs: every function × model × seed, all other settings from a template spec.
///
/// ```
/// use logexp::experiment::{ModelSpec, Pair, RunSpec};
/// use logexp::sweep::Grid;
/// let grid = Grid {
///     functions: vec!["x1*x2".into(), "x1*x2/10".into()],
///     models: Pair::paper_grid().into_iter().map(ModelSpec::paper).collect(),
///     seeds: 3,
///     data_seed: None,
///     template: RunSpec::paper("", Pair::lg()),
/// };
/// assert_eq!(grid.specs().len(), 2 * 122 * 3);
/// ```
#[derive(Debug, Clone)]
pub struct Grid {
    /// Target expressions.
    pub functions: Vec<String>,
    /// Models: the paper's grid has one dense model per activation pair.
    pub models: Vec<ModelSpec>,
    /// Seeds `0..seeds`.
    pub seeds: u64,
    /// A fixed data seed for every run; `None` uses each run's seed, so that every seed draws
    /// fresh data while all models of that seed see the same rows.
    pub data_seed: Option<u64>,
    /// Every other setting (epochs, sizes, ranges, …).
    pub template: RunSpec,
}

/// The most runs one process plans: 1,000,000. A planned run holds its spec (about 270 bytes
/// with its strings) and its key (about 300 more) until the sweep ends, and resuming a full
/// file holds its keys too: about 0.6 GB for a million runs, 1.2 GB when resuming. That is
/// already far beyond what one machine trains (at the paper's ~0.1 s per run on 2 cores, about
/// 14 hours). Larger grids are split with `--shard K/N`: each shard plans only its own runs,
/// so the limit applies per shard.
pub const MAX_GRID_RUNS: usize = 1_000_000;

impl Grid {
    /// The number of runs in the whole grid, or an error naming `--seeds` if it cannot even be
    /// counted.
    pub fn size(&self) -> Result<usize, Error> {
        usize::try_from(self.seeds)
            .ok()
            .and_then(|seeds| seeds.checked_mul(self.functions.len()))
            .and_then(|n| n.checked_mul(self.models.len()))
            .ok_or_else(|| Error::InvalidSetting {
                field: "seeds",
                message: format!(
                    "{} seeds × {} functions × {} models is more runs than can be counted; use fewer seeds",
                    self.seeds,
                    self.functions.len(),
                    self.models.len()
                ),
            })
    }

    /// The run at position `i` of [`Grid::specs`] (`i` below [`Grid::size`]).
    fn spec_at(&self, i: usize) -> RunSpec {
        let model = i % self.models.len();
        let rest = i / self.models.len();
        // `seeds` fits in usize: `size` succeeded for `i` to be valid.
        let seeds = self.seeds as usize;
        let seed = (rest % seeds) as u64;
        let function = rest / seeds;
        RunSpec {
            function: self.functions[function].clone(),
            model: self.models[model].clone(),
            seed,
            data_seed: self.data_seed.unwrap_or(seed),
            ..self.template.clone()
        }
    }

    /// Every run of the grid, in a fixed order: function, then seed, then model. Call
    /// [`Grid::validate`] first, which bounds the size; [`Grid::plan`] does both, per shard.
    pub fn specs(&self) -> Vec<RunSpec> {
        let size = self.size().unwrap_or(0);
        (0..size).map(|i| self.spec_at(i)).collect()
    }

    /// Validates the whole grid (see [`Grid::plan`]), so a typo fails before hours of work.
    pub fn validate(&self) -> Result<(), Error> {
        self.check(None, &Limits::default()).map(|_| ())
    }

    /// Validates the grid and returns the runs of `shard` (all of them for `None`), in the
    /// order of [`Grid::specs`]: only the shard's own runs are ever built, so a grid too large
    /// for one process ([`MAX_GRID_RUNS`]) can still be run in shards. Every function and pair
    /// is checked, and the data of every (function, data seed) the shard uses.
    pub fn plan(&self, shard: Option<Shard>) -> Result<Vec<RunSpec>, Error> {
        self.plan_within(shard, &Limits::default())
    }

    /// Like [`Grid::plan`], checking every run against `limits` instead of the defaults.
    pub fn plan_within(
        &self,
        shard: Option<Shard>,
        limits: &Limits,
    ) -> Result<Vec<RunSpec>, Error> {
        let (start, step, count) = self.check(shard, limits)?;
        Ok((0..count).map(|k| self.spec_at(start + k * step)).collect())
    }

    /// Checks the grid for `shard`; returns the shard's first index, stride and run count.
    fn check(&self, shard: Option<Shard>, limits: &Limits) -> Result<(usize, usize, usize), Error> {
        if self.functions.is_empty() {
            return Err(Error::InvalidSetting {
                field: "functions",
                message: "no functions given: use `paper` or a comma-separated list".into(),
            });
        }
        if self.models.is_empty() {
            return Err(Error::InvalidSetting {
                field: "models",
                message: "no models given: use `dense` with pairs such as 'lg;relu,linear', or presets such as 'lg;nmu'".into(),
            });
        }
        if self.seeds == 0 {
            return Err(Error::InvalidSetting {
                field: "seeds",
                message: "must be at least 1".into(),
            });
        }
        // Sizes first: everything below is linear in the runs planned.
        let size = self.size()?;
        let (start, step) = shard.map_or((0, 1), |s| (s.index - 1, s.count));
        let count = shard.map_or(size, |s| s.len_of(size));
        if count > MAX_GRID_RUNS {
            // Name the factor that makes the grid big, and the shard count that would do.
            let field = if self.seeds as usize >= self.functions.len().max(self.models.len()) {
                "seeds"
            } else if self.models.len() >= self.functions.len() {
                if self.models.iter().all(|m| m.pair().is_some()) {
                    "pairs"
                } else {
                    "models"
                }
            } else {
                "functions"
            };
            let shards = size.div_ceil(MAX_GRID_RUNS);
            let per = shard.map_or(String::new(), |s| {
                format!(" in shard {}/{}", s.index, s.count)
            });
            return Err(Error::InvalidSetting {
                field,
                message: format!(
                    "{count} runs{per} ({} functions × {} models × {} seeds), more than the {MAX_GRID_RUNS} one process may plan; use fewer, or split the grid with --shard K/N for N of at least {shards}",
                    self.functions.len(),
                    self.models.len(),
                    self.seeds
                ),
            });
        }
        for function in &self.functions {
            for model in &self.models {
                RunSpec {
                    function: function.clone(),
                    model: model.clone(),
                    ..self.template.clone()
                }
                .validate_within(limits)
                .map_err(|e| match e {
                    // A run names its one pair `--pair`; in a grid it came from `--pairs`.
                    Error::InvalidSetting {
                        field: "pair",
                        message,
                    } => Error::InvalidSetting {
                        field: "pairs",
                        message: format!("pair '{}': {message}", model.label()),
                    },
                    Error::InvalidSetting {
                        field: "model",
                        message,
                    } => Error::InvalidSetting {
                        field: "models",
                        message: format!("model '{}': {message}", model.label()),
                    },
                    other => other,
                })?;
            }
        }
        // The data depend on the function and data seed, not on the model: check each
        // (function, data seed) the shard uses once. Indices ascend, so repeats are adjacent.
        let mut last: Option<(usize, u64)> = None;
        for k in 0..count {
            let i = start + k * step;
            let rest = i / self.models.len();
            let seed = (rest % self.seeds as usize) as u64;
            let cell = (rest / self.seeds as usize, self.data_seed.unwrap_or(seed));
            if last == Some(cell) {
                continue;
            }
            last = Some(cell);
            let spec = RunSpec {
                function: self.functions[cell.0].clone(),
                model: self.models[0].clone(),
                data_seed: cell.1,
                ..self.template.clone()
            };
            let expr = spec.validate_within(limits)?;
            spec.datasets(&expr)?;
        }
        Ok((start, step, count))
    }
}

/// Reads a function list: `paper` for the seven Table I functions, `reproduce` for those plus
/// the normaliser study, or expressions separated by commas. Each expression is kept in its
/// [canonical spelling](Expr::canonical), and spellings of one tree (`x1*x2`, `x1 * x2`,
/// `(x1)*(x2)`) count once.
///
/// # Errors
///
/// [`Error::InvalidSetting`] for an empty list, an empty element (`x1,,x2` names element 2) or
/// `;` as a separator; [`Error::InvalidExpression`] naming the element, e.g.
/// `--functions (element 3)`, for one that does not parse (its columns count in that element).
pub fn parse_functions(list: &str) -> Result<Vec<String>, Error> {
    let invalid = |message: String| Error::InvalidSetting {
        field: "functions",
        message,
    };
    match list.trim() {
        "paper" => return Ok(PAPER_FUNCTIONS.iter().map(|f| f.to_string()).collect()),
        "reproduce" => return Ok(reproduce_functions()),
        "" => {
            return Err(invalid(
                "is empty: give 'paper', 'reproduce' or functions separated by ',' \
                 (e.g. 'x1*x2,x1*x2/10')"
                    .to_string(),
            ));
        }
        _ => {}
    }
    if let Some(at) = list.chars().position(|c| c == ';') {
        return Err(invalid(format!(
            "cannot read '{}' (';' at column {}): separate functions with ',' \
             (e.g. 'x1*x2,x1*x2/10'), or give 'paper'; ';' joins the outputs of one jointly \
             trained function, which `train --function` takes and sweeps do not",
            crate::expr::shortened(list.trim(), 60),
            at + 1
        )));
    }
    let count = list.split(',').count();
    let mut functions: Vec<String> = Vec::new();
    for (i, element) in list.split(',').enumerate() {
        let number = i + 1;
        if element.trim().is_empty() {
            return Err(invalid(format!(
                "element {number} of {count} is empty: remove the extra ',' or put a function \
                 there (e.g. 'x1*x2,x1*x2/10')"
            )));
        }
        let f = canonical_outputs(
            &parse_outputs(element)
                .map_err(|e| e.for_flag(format!("--functions (element {number})")))?,
        );
        if !functions.contains(&f) {
            functions.push(f);
        }
    }
    Ok(functions)
}

/// Reads pair lists: each value is `all` (lg and the 121 Keras pairs), `keras` (the 121) or
/// pairs separated by `;` such as `lg;relu,linear`. Values are concatenated, duplicates dropped.
///
/// # Errors
///
/// [`Error::InvalidSetting`] for `--pairs`, naming the value and pair at fault and listing the
/// valid activation names.
pub fn parse_pairs(values: &[String]) -> Result<Vec<Pair>, Error> {
    let mut pairs: Vec<Pair> = Vec::new();
    for (v, value) in values.iter().enumerate() {
        let found = match value.trim() {
            "all" => Pair::paper_grid(),
            "keras" => Pair::keras_grid(),
            list => {
                let mut found = Vec::new();
                for (p, pair) in list.split(';').enumerate() {
                    if pair.trim().is_empty() {
                        continue;
                    }
                    found.push(pair.parse::<Pair>().map_err(|e| Error::InvalidSetting {
                        field: "pairs",
                        message: pair_error(values.len(), v + 1, p + 1, pair, &e),
                    })?);
                }
                found
            }
        };
        for pair in found {
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
    }
    Ok(pairs)
}

/// Reads model lists: each value holds models separated by `;`, each a preset (`lg`, `nmu`,
/// …), unit layers (`nau,nmu`), or `dense`, which stands for one dense model per pair of
/// `pairs` (see [`parse_pairs`]). `hidden`, when given, applies to every model. Values are
/// concatenated, duplicates dropped, order kept.
///
/// ```
/// use logexp::sweep::parse_models;
/// let models = parse_models(&["dense;nau".into()], &["lg;relu,linear".into()], None).unwrap();
/// let labels: Vec<String> = models.iter().map(|m| m.label()).collect();
/// assert_eq!(labels, ["lg", "relu,linear", "nau,nau"]);
/// ```
///
/// # Errors
///
/// [`Error::InvalidSetting`] for `models` (naming the model at fault) or `pairs`.
pub fn parse_models(
    values: &[String],
    pairs: &[String],
    hidden: Option<&[usize]>,
) -> Result<Vec<ModelSpec>, Error> {
    let mut models: Vec<ModelSpec> = Vec::new();
    let mut push = |m: ModelSpec| {
        if !models.contains(&m) {
            models.push(m);
        }
    };
    for value in values {
        for (i, name) in value.split(';').enumerate() {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            if name.eq_ignore_ascii_case("dense") {
                let pairs = parse_pairs(pairs)?;
                if pairs.is_empty() {
                    return Err(Error::InvalidSetting {
                        field: "pairs",
                        message: "no pairs given for the dense models: use `all` or a list such as 'lg;relu,linear'".into(),
                    });
                }
                for pair in pairs {
                    push(ModelSpec::Dense {
                        pair,
                        hidden: hidden.map_or_else(|| vec![16, 12], <[usize]>::to_vec),
                    });
                }
                continue;
            }
            // A sweep's --hidden is for the listed models that have hidden layers.
            let has_hidden = ModelSpec::preset(name.trim()) != Some(ModelSpec::Loglinear);
            let model = ModelSpec::parse(name, &Pair::lg(), hidden.filter(|_| has_hidden))
                .map_err(|e| match e {
                    Error::InvalidSetting { message, .. } => Error::InvalidSetting {
                        field: "models",
                        message: format!(
                            "model {} ('{}'): {message}; separate models with ';'",
                            i + 1,
                            crate::expr::short_text(name)
                        ),
                    },
                    other => other,
                })?;
            push(model);
        }
    }
    Ok(models)
}

/// The message for pair `pair_number` (text `pair`) of value `value_number` that does not
/// parse: where it is, what is wrong (names shortened and escaped, as they are user text) and
/// what is valid.
fn pair_error(
    n_values: usize,
    value_number: usize,
    pair_number: usize,
    pair: &str,
    error: &Error,
) -> String {
    let place = if n_values > 1 {
        format!("value {value_number}, pair {pair_number}")
    } else {
        format!("pair {pair_number}")
    };
    let shown = crate::expr::short_text(pair.trim());
    let problem = match error {
        Error::UnknownActivation(unknown) => format!(
            "unknown activation '{}'",
            crate::expr::short_text(unknown.name.trim())
        ),
        other => crate::expr::short_text(&other.to_string()),
    };
    let names: Vec<&str> = crate::activation::Activation::ALL
        .iter()
        .map(|a| a.name())
        .collect();
    format!(
        "{place} ('{shown}'): {problem}; valid names are {}; a pair is activations separated \
         by ',' (or 'lg'), pairs are separated by ';', and a value may also be 'all' or 'keras'",
        names.join(", ")
    )
}

/// The `index`-th of `count` disjoint slices of a grid (`--shard K/N`, 1-based `K`). Runs are
/// dealt round-robin, so every shard gets a similar mix of functions and pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// How many of a grid's `size` runs fall in this shard.
    pub fn len_of(&self, size: usize) -> usize {
        if size < self.index {
            0
        } else {
            (size - self.index) / self.count + 1
        }
    }

    /// Whether the run at position `i` of the grid belongs to this shard.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }

    /// The runs of `specs` in this shard.
    pub fn select(&self, specs: Vec<RunSpec>) -> Vec<RunSpec> {
        specs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, s)| s)
            .collect()
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `K/N` with `1 <= K <= N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("cannot read shard '{s}': give K/N with 1 <= K <= N, e.g. 3/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// How far a sweep has come; passed to the progress callback after every run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Runs finished in this invocation.
    pub done: usize,
    /// Runs this invocation has to do (excluding those already in the file).
    pub total: usize,
    /// Runs skipped because the file already had them.
    pub skipped: usize,
    /// Runs finished in this invocation that diverged.
    pub diverged: usize,
    /// Time since this invocation started.
    pub elapsed: Duration,
}

impl Progress {
    /// Estimated time to finish, from the mean time per run so far.
    pub fn eta(&self) -> Option<Duration> {
        (self.done > 0).then(|| {
            self.elapsed
                .mul_f64((self.total - self.done) as f64 / self.done as f64)
        })
    }
}

/// What a sweep did.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSummary {
    /// Runs in the (sharded) grid.
    pub planned: usize,
    /// Runs already in the file.
    pub skipped: usize,
    /// Runs done now.
    pub ran: usize,
    /// Runs done now that diverged.
    pub diverged: usize,
    /// How the file ended before the sweep (and so what was repaired): a kept record whose
    /// newline was added, or a torn record that was cut.
    pub tail: Tail,
    /// Wall time.
    pub elapsed: Duration,
}

impl SweepSummary {
    /// One line saying what happened, for people.
    pub fn describe(&self, out: &Path) -> String {
        // Never claim a run was redone: the torn record cannot be identified, and a record
        // that was complete was kept.
        let repaired = match self.tail {
            Tail::Terminated => String::new(),
            Tail::Unterminated => {
                " (the last line lacked its newline: it was kept and completed)".into()
            }
            Tail::Torn { len, .. } => format!(
                " (a record cut short by an interrupted write, {len} bytes, was cut away; if its run is in this grid it was run again)"
            ),
        };
        format!(
            "{} runs planned: {} already in {}, {} run now ({} diverged) in {:.1} s{repaired}",
            self.planned,
            self.skipped,
            out.display(),
            self.ran,
            self.diverged,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Runs every spec not yet in `out`, in parallel on the current rayon pool, appending each
/// record as it finishes. Each run is single-threaded and a pure function of its spec, so the
/// records do not depend on the number of threads.
///
/// `out` is opened with [`ResultsWriter::open`]: it must be a regular file or a new path, it is
/// locked (before it is read) until the sweep ends, and a file that is not a results file is
/// refused untouched.
pub fn run_sweep(
    specs: &[RunSpec],
    out: &Path,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<SweepSummary, Error> {
    run_sweep_within(specs, out, &Limits::default(), on_progress)
}

/// Like [`run_sweep`], checking every run against `limits` instead of the defaults.
pub fn run_sweep_within(
    specs: &[RunSpec],
    out: &Path,
    limits: &Limits,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<SweepSummary, Error> {
    let started = Instant::now();
    let writer = ResultsWriter::open(out)?;
    let done_keys = writer.keys();
    let mut seen = HashSet::new();
    let pending: Vec<&RunSpec> = specs
        .iter()
        .filter(|s| {
            let key = s.key();
            !done_keys.contains(&key) && seen.insert(key)
        })
        .collect();
    let skipped = specs.len() - pending.len();

    let done = AtomicUsize::new(0);
    let diverged = AtomicUsize::new(0);
    let total = pending.len();
    pending
        .par_iter()
        .try_for_each(|spec| -> Result<(), Error> {
            let record = run_within(spec, limits)?;
            writer.append(&record)?;
            if record.diverged {
                diverged.fetch_add(1, Ordering::Relaxed);
            }
            let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
            on_progress(&Progress {
                done: finished,
                total,
                skipped,
                diverged: diverged.load(Ordering::Relaxed),
                elapsed: started.elapsed(),
            });
            Ok(())
        })?;
    let tail = writer.tail();
    writer.finish()?;
    Ok(SweepSummary {
        planned: specs.len(),
        skipped,
        ran: total,
        diverged: diverged.into_inner(),
        tail,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Range;
    use crate::experiment::{RunRecord, run};
    use crate::expr::Expr;
    use crate::results::Tail;
    use crate::test_dir::TempDir;
    use std::fs::OpenOptions;
    use std::io::Write;

    fn tiny_grid() -> Grid {
        Grid {
            functions: vec!["x1*x2".into(), "x1+x2".into()],
            models: vec![
                ModelSpec::paper(Pair::lg()),
                ModelSpec::paper("relu,linear".parse().unwrap()),
            ],
            seeds: 3,
            data_seed: None,
            template: RunSpec {
                epochs: 2,
                n_train: 64,
                n_test: 16,
                ..RunSpec::paper("", Pair::lg())
            },
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_grid() {
        let specs = tiny_grid().specs();
        assert_eq!(specs.len(), 12);
        let mut all: Vec<String> = Vec::new();
        for k in 1..=5 {
            let shard: Shard = format!("{k}/5").parse().unwrap();
            all.extend(shard.select(specs.clone()).iter().map(|s| s.key()));
        }
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 12, "a run in two shards");
        assert_eq!(unique.len(), 12);
        for bad in ["0/3", "4/3", "a/3", "3", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn data_seed_follows_the_seed_unless_fixed() {
        let mut grid = tiny_grid();
        assert!(grid.specs().iter().all(|s| s.data_seed == s.seed));
        grid.data_seed = Some(7);
        assert!(grid.specs().iter().all(|s| s.data_seed == 7));
    }

    #[test]
    fn resuming_skips_done_runs_and_repairs_a_cut_line() {
        let dir = TempDir::new("resume");
        let out = dir.join("results.jsonl");
        let specs = tiny_grid().specs();
        let first = run_sweep(&specs[..5], &out, &|_| {}).unwrap();
        assert_eq!((first.ran, first.skipped), (5, 0));
        // Simulate a kill in the middle of writing the sixth record.
        let sixth = serde_json::to_string(&run(&specs[5]).unwrap()).unwrap();
        let mut f = OpenOptions::new().append(true).open(&out).unwrap();
        f.write_all(&sixth.as_bytes()[..sixth.len() / 2]).unwrap();
        drop(f);
        let read = read_results(&out).unwrap();
        assert!(matches!(read.tail, Tail::Torn { .. }), "{:?}", read.tail);
        assert_eq!(read.records.len(), 5);

        let second = run_sweep(&specs, &out, &|_| {}).unwrap();
        assert!(matches!(second.tail, Tail::Torn { .. }));
        assert!(second.describe(&out).contains("cut away"));
        assert_eq!((second.ran, second.skipped), (7, 5));
        let all = read_results(&out).unwrap();
        assert_eq!(all.tail, Tail::Terminated);
        let keys: Vec<String> = all.records.iter().map(|r| r.spec.key()).collect();
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(keys.len(), 12);
        assert_eq!(unique.len(), 12);
        let third = run_sweep(&specs, &out, &|_| {}).unwrap();
        assert_eq!(third.ran, 0);
    }

    #[test]
    fn records_do_not_depend_on_the_thread_count() {
        let specs = tiny_grid().specs();
        let strip = |path: &Path| {
            let mut lines: Vec<String> = read_results(path)
                .unwrap()
                .records
                .into_iter()
                .map(|mut r| {
                    r.wall_seconds = 0.0;
                    serde_json::to_string(&r).unwrap()
                })
                .collect();
            lines.sort();
            lines
        };
        let (dir1, dir2) = (TempDir::new("threads1"), TempDir::new("threads2"));
        let (one, two) = (dir1.join("results.jsonl"), dir2.join("results.jsonl"));
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        pool(1)
            .install(|| run_sweep(&specs, &one, &|_| {}))
            .unwrap();
        pool(2)
            .install(|| run_sweep(&specs, &two, &|_| {}))
            .unwrap();
        assert_eq!(strip(&one), strip(&two));
    }

    #[test]
    fn a_corrupt_complete_line_is_refused_and_the_file_kept() {
        let dir = TempDir::new("corrupt");
        let out = dir.join("results.jsonl");
        let specs = tiny_grid().specs();
        run_sweep(&specs[..2], &out, &|_| {}).unwrap();
        let mut f = OpenOptions::new().append(true).open(&out).unwrap();
        f.write_all(b"{not json}\n").unwrap();
        drop(f);
        let before = std::fs::read(&out).unwrap();
        let err = run_sweep(&specs, &out, &|_| {}).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), before);
    }

    /// The planning limit is inclusive, and a grid over it names the factor that makes it
    /// big. One data seed for every run keeps the data check to one cell, so a million-run
    /// grid validates in moments.
    #[test]
    fn the_grid_limit_is_inclusive_and_names_the_biggest_factor() {
        let at_limit = Grid {
            functions: vec!["x1*x2".into()],
            models: vec![ModelSpec::paper(Pair::lg())],
            seeds: MAX_GRID_RUNS as u64,
            data_seed: Some(0),
            ..tiny_grid()
        };
        at_limit.validate().unwrap();
        let over = Grid {
            seeds: MAX_GRID_RUNS as u64 + 1,
            ..at_limit.clone()
        };
        match over.validate().unwrap_err() {
            Error::InvalidSetting { field, message } => {
                assert_eq!(field, "seeds", "{message}");
                assert!(
                    message.contains("--shard K/N for N of at least 2"),
                    "{message}"
                );
            }
            other => panic!("{other}"),
        }
        let many_models = Grid {
            functions: vec!["x1*x2".into()],
            models: vec![ModelSpec::paper(Pair::lg()); 1001],
            seeds: 1000,
            data_seed: Some(0),
            ..tiny_grid()
        };
        match many_models.validate().unwrap_err() {
            Error::InvalidSetting { field, .. } => assert_eq!(field, "pairs"),
            other => panic!("{other}"),
        }
    }

    /// Every listed model is checked against every function (not the template's model), and
    /// the data check builds the grid's own model; a shard checks the data of its own runs.
    #[test]
    fn the_check_uses_each_listed_model_and_each_runs_function() {
        // loglinear fits one output: a joint target with it listed is refused up front.
        let joint = Grid {
            functions: vec!["x1+x2;x1*x2".into()],
            models: vec![ModelSpec::paper(Pair::lg()), ModelSpec::Loglinear],
            ..tiny_grid()
        };
        match joint.validate().unwrap_err() {
            Error::InvalidSetting { field, message } => {
                assert_eq!(field, "models");
                assert!(message.contains("loglinear"), "{message}");
            }
            other => panic!("{other}"),
        }
        // The template's own model (loglinear) is not one of the grid's: it is not checked.
        let template_model = Grid {
            functions: vec!["x1+x2;x1*x2".into()],
            models: vec![ModelSpec::paper(Pair::lg())],
            template: RunSpec {
                model: ModelSpec::Loglinear,
                ..tiny_grid().template
            },
            ..tiny_grid()
        };
        template_model.validate().unwrap();
        // Runs 0, 1 use x1*x2 and runs 2, 3 a target that is never finite: shard 2/2 holds
        // runs 1 and 3, and its check must reach run 3's data.
        let sharded = Grid {
            functions: vec!["x1*x2".into(), "x1/(x1-x1)".into()],
            models: vec![ModelSpec::paper(Pair::lg())],
            seeds: 2,
            ..tiny_grid()
        };
        let second = Shard { index: 2, count: 2 };
        let err = sharded.plan(Some(second)).unwrap_err().to_string();
        assert!(err.contains("x1/(x1-x1)"), "{err}");
        let first_only = Grid {
            functions: vec!["x1*x2".into(), "x1/(x1-x1)".into()],
            seeds: 1,
            ..sharded.clone()
        };
        assert_eq!(
            first_only
                .plan(Some(Shard { index: 1, count: 2 }))
                .unwrap()
                .len(),
            1
        );
    }

    /// The data check samples each run's own data seed. `x1^E` on [1, 2) overflows only when
    /// a draw comes close enough to 2, so whether a seed's 64 rows are finite depends on the
    /// seed: the test finds an exponent and a grid of S seeds where seed 0 and seeds S..2S are
    /// finite and one seed below S is not, and the check must name that one.
    #[test]
    fn the_data_check_samples_each_runs_own_data_seed() {
        let range = Range::new(1.0, 2.0).unwrap();
        let finite = |e: u32, seed: u64| {
            let f = Expr::parse(&format!("x1^{e}")).unwrap();
            crate::data::Dataset::sample(&f, 64, range, seed, 0).is_ok()
        };
        let (e, seeds, bad) = (1025..1100u32)
            .find_map(|e| {
                (2..8u64).find_map(|s| {
                    let bad = (1..s).find(|&k| !finite(e, k))?;
                    (finite(e, 0) && (s..2 * s).all(|k| finite(e, k))).then_some((e, s, bad))
                })
            })
            .expect("an exponent whose overflow depends on the seed");
        let grid = Grid {
            functions: vec![format!("x1^{e}")],
            models: vec![ModelSpec::paper(Pair::lg())],
            seeds,
            data_seed: None,
            template: RunSpec {
                train_range: range,
                test_range: Range::new(1.0, 1.5).unwrap(),
                ..tiny_grid().template
            },
        };
        let err = grid.validate().unwrap_err().to_string();
        assert!(
            err.contains("train-range") && err.contains("not finite"),
            "{err}"
        );
        // The seed at fault is the run's: with that seed alone the grid fails, without it not.
        let alone = |seed| Grid {
            seeds: 1,
            data_seed: Some(seed),
            ..grid.clone()
        };
        assert!(alone(bad).validate().is_err());
        assert!(alone(0).validate().is_ok());
    }

    #[test]
    fn model_lists_expand_dense_keep_order_and_drop_repeats() {
        let labels =
            |models: Vec<ModelSpec>| -> Vec<String> { models.iter().map(|m| m.label()).collect() };
        let models = parse_models(
            &["nmu; dense ;lg".into(), "nmu".into()],
            &["lg;relu,linear".into()],
            None,
        )
        .unwrap();
        // `dense` gives the pairs; `lg` again and `nmu` again are dropped.
        assert_eq!(labels(models), ["nau,nmu", "lg", "relu,linear"]);
        let wide = parse_models(&["nmu".into()], &[], Some(&[3])).unwrap();
        assert_eq!(wide[0].hidden(), [3]);
        // A sweep's --hidden widens the models that have hidden layers and leaves loglinear.
        let mixed = parse_models(&["loglinear;nmu".into()], &[], Some(&[3])).unwrap();
        assert_eq!(mixed, [ModelSpec::Loglinear, wide[0].clone()]);
        let err = parse_models(&["dense".into()], &[], None).unwrap_err();
        assert!(err.to_string().contains("--pairs"), "{err}");
        let err = parse_models(&["nmu;bogus".into()], &[], None).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn a_bad_pair_is_placed_by_value_only_when_there_are_several() {
        let one = parse_pairs(&["lg;relu,bogus".into()])
            .unwrap_err()
            .to_string();
        assert!(one.contains("pair 2 ('relu,bogus')"), "{one}");
        assert!(!one.contains("value 1"), "{one}");
        let two = parse_pairs(&["lg".into(), "relu,bogus".into()])
            .unwrap_err()
            .to_string();
        assert!(two.contains("value 2, pair 1 ('relu,bogus')"), "{two}");
    }

    /// Progress counts finished runs from 1 to the total, each once, whatever the order.
    #[test]
    fn progress_counts_every_finished_run_once() {
        let dir = TempDir::new("progress");
        let out = dir.join("results.jsonl");
        let specs = tiny_grid().specs();
        let seen = std::sync::Mutex::new(Vec::new());
        run_sweep(&specs, &out, &|p| {
            assert_eq!(p.total, specs.len());
            seen.lock().unwrap().push(p.done);
        })
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (1..=specs.len()).collect::<Vec<_>>());
    }

    #[test]
    fn the_eta_is_the_remaining_runs_at_the_mean_time_so_far() {
        let progress = |done| Progress {
            done,
            total: 10,
            skipped: 0,
            diverged: 0,
            elapsed: Duration::from_secs(8),
        };
        // 4 runs in 8 s: the 6 left take 12 s; nothing done yet gives no estimate.
        assert_eq!(progress(4).eta(), Some(Duration::from_secs(12)));
        assert_eq!(progress(10).eta(), Some(Duration::ZERO));
        assert_eq!(progress(0).eta(), None);
    }

    #[test]
    fn function_and_pair_lists_parse() {
        assert_eq!(parse_functions("paper").unwrap().len(), 7);
        assert_eq!(parse_functions("reproduce").unwrap().len(), 13);
        assert_eq!(
            parse_functions("x1*x2, x1+x2").unwrap(),
            vec!["x1*x2".to_string(), "x1+x2".to_string()]
        );
        let err = parse_functions("x1*x2;x1+x2").unwrap_err().to_string();
        assert!(err.contains("separate functions with ','"), "{err}");
        assert!(parse_functions("x1*").is_err());
        // Spellings differing only in spaces, and repeats, are one function.
        assert_eq!(
            parse_functions("x1*x2, x1 * x2,x1*x2").unwrap(),
            vec!["x1*x2".to_string()]
        );
        assert_eq!(parse_pairs(&["all".into()]).unwrap().len(), 122);
        assert_eq!(
            parse_pairs(&["keras".into(), "lg".into()]).unwrap().len(),
            122
        );
        let two = parse_pairs(&["lg;relu,linear".into(), "relu,linear".into()]).unwrap();
        assert_eq!(two, vec![Pair::lg(), "relu,linear".parse().unwrap()]);
        assert!(parse_pairs(&["relu,gelu".into()]).is_err());

        // Whitespace separates tokens, it never joins them: `x1 2` is not `x12`.
        assert!(parse_functions("x1*x2, x1 2").is_err());
        // Spellings of one tree are one function, spelled canonically.
        assert_eq!(
            parse_functions("(x1)*(x2),x1*x2, (x1*x2)*x3 ,x1*(x2*x3)").unwrap(),
            ["x1*x2", "x1*x2*x3", "x1*(x2*x3)"]
        );
        // Errors name the flag and the element.
        let err = parse_functions("x1*x2,,x1").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidSetting {
                field: "functions",
                ..
            }
        ));
        let text = err.to_string();
        assert!(text.contains("--functions") && text.contains("element 2 of 3 is empty"));
        let text = parse_functions("x1*x2,").unwrap_err().to_string();
        assert!(text.contains("element 2 of 2 is empty"), "{text}");
        // An empty list says what a list holds, not that its one element is empty.
        for empty in ["", " "] {
            let text = parse_functions(empty).unwrap_err().to_string();
            assert!(
                text.contains("--functions") && text.contains("is empty: give 'paper'"),
                "{text}"
            );
        }
        let err = parse_functions("x1*x2,x1+x2, x1 2").unwrap_err();
        let Error::InvalidExpression { flag, source } = &err else {
            panic!("expected an expression error, got {err:?}");
        };
        assert_eq!(flag, "--functions (element 3)");
        // The column counts in the element as written, its leading space included.
        assert_eq!(source.column, 5);
        assert!(err.is_usage());
        let text = parse_functions("x1;x2").unwrap_err().to_string();
        assert!(text.contains("'x1;x2' (';' at column 3)"), "{text}");
        let long = format!("x1;{}", "x1,".repeat(50_000));
        let text = parse_functions(&long).unwrap_err().to_string();
        assert!(
            text.len() < 300 && text.contains("…"),
            "{} bytes",
            text.len()
        );

        // --pairs errors name the flag, the place and the valid names.
        let err = parse_pairs(&["bogus".into()]).unwrap_err();
        assert!(matches!(err, Error::InvalidSetting { field: "pairs", .. }));
        let text = err.to_string();
        for needle in ["--pairs", "pair 1", "'bogus'", "relu", "symexp", "'lg'"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        let text = parse_pairs(&["lg".into(), "lg;relu,gelu".into()])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("value 2, pair 2") && text.contains("'gelu'"),
            "{text}"
        );
        // A hostile name is shortened and escaped.
        let hostile = format!("\u{1b}[31m{}", "a".repeat(10_000));
        let text = parse_pairs(&[hostile]).unwrap_err().to_string();
        assert!(!text.contains('\u{1b}') && text.len() < 600, "{text}");
    }

    #[test]
    fn a_grid_with_a_bad_function_fails_before_running() {
        let mut grid = tiny_grid();
        grid.functions.push("x1/(x1-x1)".into());
        assert!(grid.validate().is_err());
        grid.functions.pop();
        grid.validate().unwrap();
    }

    #[test]
    fn a_complete_record_without_its_newline_is_kept_and_not_redone() {
        let dir = TempDir::new("unterminated");
        let out = dir.join("results.jsonl");
        let specs = tiny_grid().specs();
        let record = run(&specs[0]).unwrap();
        let text = serde_json::to_string(&record).unwrap();
        std::fs::write(&out, &text).unwrap();
        let summary = run_sweep(&specs[..3], &out, &|_| {}).unwrap();
        assert_eq!((summary.skipped, summary.ran), (1, 2));
        assert_eq!(summary.tail, Tail::Unterminated);
        let said = summary.describe(&out);
        assert!(
            !said.contains("cut away") && !said.contains("again"),
            "{said}"
        );
        let after = std::fs::read_to_string(&out).unwrap();
        assert!(after.starts_with(&format!("{text}\n")), "{after}");
        assert_eq!(after.lines().count(), 3);
    }

    #[test]
    fn a_file_that_is_not_results_is_refused_untouched() {
        let dir = TempDir::new("notes");
        let specs = tiny_grid().specs();
        let cases: [&[u8]; 5] = [
            b"my notes",
            &[0u8; 100_000],
            b"my notes\n{\"schema\":1,",
            b"{\"hello\":\"world\"}\n",
            b"\xff\xfe\n",
        ];
        for (i, bytes) in cases.iter().enumerate() {
            let out = dir.join(format!("notes{i}"));
            std::fs::write(&out, bytes).unwrap();
            let err = run_sweep(&specs[..1], &out, &|_| {}).unwrap_err();
            assert!(matches!(err, Error::NotResults { .. }), "case {i}: {err}");
            assert!(err.is_usage());
            assert_eq!(&std::fs::read(&out).unwrap(), bytes, "case {i} changed");
        }
    }

    #[test]
    fn plans_and_shards_match_the_materialised_grid_in_order() {
        let grid = tiny_grid();
        let all = grid.specs();
        assert_eq!(grid.size().unwrap(), 12);
        assert_eq!(grid.plan(None).unwrap(), all);
        // The documented order: function, then seed, then pair.
        assert_eq!((all[0].seed, all[1].seed, all[2].seed), (0, 0, 1));
        assert_eq!(
            all[1].model,
            ModelSpec::paper("relu,linear".parse().unwrap())
        );
        assert_eq!(all[6].function, "x1+x2");
        for count in 1..=13 {
            for index in 1..=count {
                let shard = Shard { index, count };
                let planned = grid.plan(Some(shard)).unwrap();
                assert_eq!(planned, shard.select(all.clone()), "{index}/{count}");
                assert_eq!(shard.len_of(12), planned.len(), "{index}/{count}");
            }
        }
    }

    #[test]
    fn a_grid_too_large_is_refused_before_anything_is_built() {
        let mut grid = tiny_grid();
        for seeds in [100_000_000, u64::MAX] {
            grid.seeds = seeds;
            let err = grid.plan(None).unwrap_err().to_string();
            assert!(err.contains("--seeds"), "{err}");
            assert!(grid.validate().is_err());
        }
        grid.seeds = 100_000_000;
        let err = grid.plan(None).unwrap_err().to_string();
        assert!(err.contains("--shard") && err.contains("1000000"), "{err}");
        assert!(err.contains("N of at least 400"), "{err}");
        // 400,000,000 runs: 400 shards hold 1,000,000 each, 399 hold more.
        let too_big = grid.plan(Some(Shard {
            index: 1,
            count: 399,
        }));
        assert!(too_big.is_err());
        assert_eq!(
            Shard {
                index: 400,
                count: 400
            }
            .len_of(grid.size().unwrap()),
            1_000_000
        );
        // A shard small enough is planned without building the rest.
        let shard = Shard {
            index: 7,
            count: 100_000_000,
        };
        let planned = grid.plan(Some(shard)).unwrap();
        assert_eq!(planned.len(), 4);
        let got: Vec<(usize, u64)> = planned
            .iter()
            .map(|s| {
                (
                    grid.models.iter().position(|m| *m == s.model).unwrap(),
                    s.seed,
                )
            })
            .collect();
        // Indices 6, 1e8+6, 2e8+6, 3e8+6: pair i % 2, seed (i / 2) % 1e8, function i / 2e8.
        assert_eq!(got, vec![(0, 3), (0, 50_000_003), (0, 3), (0, 50_000_003)]);
        assert_eq!(planned[0].function, "x1*x2");
        assert_eq!(planned[2].function, "x1+x2");
    }

    #[test]
    fn a_record_longer_than_a_line_may_be_is_not_written() {
        let dir = TempDir::new("long");
        let out = dir.join("results.jsonl");
        let mut record: RunRecord = run(&tiny_grid().specs()[0]).unwrap();
        record.train_loss = vec![0.123_456_789_012_345_67; crate::results::MAX_LINE_BYTES / 16];
        let writer = crate::results::ResultsWriter::open(&out).unwrap();
        assert!(writer.append(&record).is_err());
        writer.finish().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"");
    }
}
