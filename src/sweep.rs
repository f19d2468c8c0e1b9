//! Grids of runs: planning, sharding, parallel execution and the resumable results file.
//!
//! A results file holds one [`RunRecord`] per line (JSON Lines). Lines are appended whole, one
//! `write` each, as runs finish; a run is identified by its spec ([`RunSpec::key`]), so rerunning
//! a sweep skips what the file already holds. A process killed mid-write can leave at most one
//! unterminated last line, which resuming cuts away (that run is simply done again).

use crate::error::Error;
use crate::experiment::{Pair, RunRecord, RunSpec, run};
use crate::expr::Expr;
use crate::protocol::{PAPER_FUNCTIONS, reproduce_functions};
use rayon::prelude::*;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A grid of runs: every function × pair × seed, all other settings from a template spec.
///
/// ```
/// use logexp::experiment::{Pair, RunSpec};
/// use logexp::sweep::Grid;
/// let grid = Grid {
///     functions: vec!["x1*x2".into(), "x1*x2/10".into()],
///     pairs: Pair::paper_grid(),
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
    /// Activation pairs.
    pub pairs: Vec<Pair>,
    /// Seeds `0..seeds`.
    pub seeds: u64,
    /// A fixed data seed for every run; `None` uses each run's seed, so that every seed draws
    /// fresh data while all pairs of that seed see the same rows.
    pub data_seed: Option<u64>,
    /// Every other setting (epochs, sizes, ranges, …).
    pub template: RunSpec,
}

impl Grid {
    /// Every run of the grid, in a fixed order: function, then seed, then pair.
    pub fn specs(&self) -> Vec<RunSpec> {
        let mut specs = Vec::with_capacity(self.functions.len() * self.pairs.len());
        for function in &self.functions {
            for seed in 0..self.seeds {
                for pair in &self.pairs {
                    specs.push(RunSpec {
                        function: function.clone(),
                        pair: pair.clone(),
                        seed,
                        data_seed: self.data_seed.unwrap_or(seed),
                        ..self.template.clone()
                    });
                }
            }
        }
        specs
    }

    /// Validates every function and pair once, so a typo fails before hours of work.
    pub fn validate(&self) -> Result<(), Error> {
        if self.functions.is_empty() {
            return Err(Error::InvalidSetting {
                field: "functions",
                message: "no functions given: use `paper` or a comma-separated list".into(),
            });
        }
        if self.pairs.is_empty() {
            return Err(Error::InvalidSetting {
                field: "pairs",
                message: "no pairs given: use `all` or a list such as 'lg;relu,linear'".into(),
            });
        }
        if self.seeds == 0 {
            return Err(Error::InvalidSetting {
                field: "seeds",
                message: "must be at least 1".into(),
            });
        }
        // The data depend on the function and data seed, not on the pair; the network on the
        // pair and the function's variable count. Checking each once covers the grid.
        let data_seeds: Vec<u64> = match self.data_seed {
            Some(seed) => vec![seed],
            None => (0..self.seeds).collect(),
        };
        for function in &self.functions {
            for &data_seed in &data_seeds {
                let spec = RunSpec {
                    function: function.clone(),
                    pair: self.pairs[0].clone(),
                    data_seed,
                    ..self.template.clone()
                };
                let expr = spec.validate()?;
                spec.datasets(&expr)?;
            }
            for pair in &self.pairs {
                RunSpec {
                    function: function.clone(),
                    pair: pair.clone(),
                    ..self.template.clone()
                }
                .validate()?;
            }
        }
        Ok(())
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
             (e.g. 'x1*x2,x1*x2/10'), or give 'paper'",
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
        let f = Expr::parse(element)
            .map_err(|e| e.for_flag(format!("--functions (element {number})")))?
            .canonical();
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

/// The records of a results file.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Every complete record, in file order.
    pub records: Vec<RunRecord>,
    /// Byte length of the complete lines; anything after it is an unterminated last line left
    /// by an interrupted write.
    pub complete_len: u64,
    /// Whether such an unterminated last line was found.
    pub partial_tail: bool,
}

impl Results {
    /// Keys ([`RunSpec::key`]) of the runs present.
    pub fn keys(&self) -> HashSet<String> {
        self.records.iter().map(|r| r.spec.key()).collect()
    }
}

/// Reads a results file. A missing file is an empty result. A line that is complete (ends in a
/// newline) but is not a record is an error naming the file and line, so nothing is appended
/// after corrupt data; an unterminated last line is reported in [`Results::partial_tail`].
pub fn read_results(path: &Path) -> Result<Results, Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Results::default()),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut results = Results::default();
    let mut line = String::new();
    let mut line_no = 0;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if !line.ends_with('\n') {
            results.partial_tail = true;
            break;
        }
        if line.trim().is_empty() {
            results.complete_len += n as u64;
            continue;
        }
        let record: RunRecord =
            serde_json::from_str(line.trim_end()).map_err(|e| Error::CorruptResults {
                path: path.to_path_buf(),
                line: line_no,
                message: e.to_string(),
            })?;
        results.records.push(record);
        results.complete_len += n as u64;
    }
    Ok(results)
}

/// Reads and merges several results files, dropping exact duplicate runs (same spec).
pub fn read_all_results(paths: &[PathBuf]) -> Result<Vec<RunRecord>, Error> {
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(Error::io(
                "cannot read",
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        for record in read_results(path)?.records {
            if seen.insert(record.spec.key()) {
                records.push(record);
            }
        }
    }
    Ok(records)
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
    /// Whether an unterminated last line from an interrupted write was cut away.
    pub repaired_tail: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl SweepSummary {
    /// One line saying what happened, for people.
    pub fn describe(&self, out: &Path) -> String {
        let repaired = if self.repaired_tail {
            " (an interrupted last line was cut away and its run redone)"
        } else {
            ""
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
pub fn run_sweep(
    specs: &[RunSpec],
    out: &Path,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<SweepSummary, Error> {
    let started = Instant::now();
    let existing = read_results(out)?;
    let done_keys = existing.keys();
    let mut seen = HashSet::new();
    let pending: Vec<&RunSpec> = specs
        .iter()
        .filter(|s| {
            let key = s.key();
            !done_keys.contains(&key) && seen.insert(key)
        })
        .collect();
    let skipped = specs.len() - pending.len();

    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .map_err(|e| Error::io("cannot write", out, e))?;
    if existing.partial_tail {
        // Cut the unterminated line an interrupted write left, so appends start on a fresh line.
        file.set_len(existing.complete_len)
            .map_err(|e| Error::io("cannot repair", out, e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| Error::io("cannot repair", out, e))?;
    }

    let writer = Mutex::new(file);
    let done = AtomicUsize::new(0);
    let diverged = AtomicUsize::new(0);
    let total = pending.len();
    pending
        .par_iter()
        .try_for_each(|spec| -> Result<(), Error> {
            let record = run(spec)?;
            let mut line = serde_json::to_string(&record).expect("records always serialise");
            line.push('\n');
            {
                // One write per line: a kill can cut at most the line being written.
                let mut file = writer.lock().unwrap_or_else(|p| p.into_inner());
                file.write_all(line.as_bytes())
                    .map_err(|e| Error::io("cannot write", out, e))?;
            }
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
    let file = writer.into_inner().unwrap_or_else(|p| p.into_inner());
    file.sync_all()
        .map_err(|e| Error::io("cannot write", out, e))?;
    Ok(SweepSummary {
        planned: specs.len(),
        skipped,
        ran: total,
        diverged: diverged.into_inner(),
        repaired_tail: existing.partial_tail,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_grid() -> Grid {
        Grid {
            functions: vec!["x1*x2".into(), "x1+x2".into()],
            pairs: vec!["lg".parse().unwrap(), "relu,linear".parse().unwrap()],
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

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("logexp-sweep-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("results.jsonl")
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
        let out = temp_path("resume");
        let specs = tiny_grid().specs();
        let first = run_sweep(&specs[..5], &out, &|_| {}).unwrap();
        assert_eq!((first.ran, first.skipped), (5, 0));
        // Simulate a kill in the middle of writing the sixth record.
        let sixth = serde_json::to_string(&run(&specs[5]).unwrap()).unwrap();
        let mut f = OpenOptions::new().append(true).open(&out).unwrap();
        f.write_all(&sixth.as_bytes()[..sixth.len() / 2]).unwrap();
        drop(f);
        let read = read_results(&out).unwrap();
        assert!(read.partial_tail);
        assert_eq!(read.records.len(), 5);

        let second = run_sweep(&specs, &out, &|_| {}).unwrap();
        assert!(second.repaired_tail);
        assert_eq!((second.ran, second.skipped), (7, 5));
        let all = read_results(&out).unwrap();
        assert!(!all.partial_tail);
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
        let one = temp_path("threads1");
        let two = temp_path("threads2");
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
        let out = temp_path("corrupt");
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
        let text = parse_functions(" ").unwrap_err().to_string();
        assert!(
            text.contains("--functions") && text.contains("is empty"),
            "{text}"
        );
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
}
