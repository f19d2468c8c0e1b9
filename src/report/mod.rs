//! The report: the paper's Table I and figures, rebuilt from run records alone.
//!
//! [`write_report`] reads nothing but the [`RunRecord`]s it is given (and the paper's Table I,
//! embedded at compile time): it never trains. The only computation beyond statistics is
//! re-sampling the data for Figures 1–2 with [`RunSpec::datasets`](crate::experiment::RunSpec::datasets), which is cheap and exactly
//! reproduces the rows the runs saw.
//!
//! # Statistics
//!
//! Records are grouped by (function, pair), whatever their other settings; settings that vary
//! within a function are listed in `report.md`. Functions are matched with whitespace removed,
//! so `x1 * x2` and `x1*x2` are one function. Records with identical specs (the same run read
//! twice, e.g. from overlapping result files) count once.
//!
//! Within a group every statistic is taken over runs (seeds), with a missing score (the run
//! diverged, or its prediction was not finite) counting as +∞: a pair that diverges in most
//! seeds therefore ranks last rather than being judged on its few lucky runs. Medians of an
//! even count are the mean of the two middle values (∞ if either is). Pairs are ranked by
//! median test % error, ties broken by the pair's name (`symlog,symexp` for lg).
//!
//! # Files
//!
//! Under the output directory (created if missing):
//!
//! | file | contents |
//! | --- | --- |
//! | `report.md` | everything below, with the protocol and a comparison with the paper |
//! | `table1.csv` | Table I beside the paper's figures |
//! | `normaliser.csv` | the normaliser study (section II) |
//! | `rankings/SLUG.csv` | every pair of one function, ranked (see [`slug`]: one name per function) |
//! | `figures/fig1-train-data`, `fig2-test-data` | histograms of the data (Figs 1, 2) |
//! | `figures/fig3-symlog`, `fig4-symexp`, `activations` | the activations (Figs 3, 4; all 13) |
//! | `figures/fig7a-SLUG` … `fig7f-SLUG`, `fig8-SLUG` | training loss of the paper's functions |
//! | `figures/loss-SLUG` | training loss of any other function |
//! | `figures/normaliser` | % error against the normaliser N |
//!
//! Every figure is written as `.svg` and `.png`. Each file is written to a temporary name and
//! renamed, so a failed report leaves complete files only. Files of an earlier report in the
//! same directory that this one does not rewrite are left as they are.
//!
//! # Limits
//!
//! Records are text from disk, and a report must finish, stay small and say what it left out:
//!
//! - a figure whose axes cannot be drawn (values whose span overflows, ends beyond
//!   [`plot::MAX_AXIS_ABS`] on a linear axis, widths lost in rounding) is skipped; `report.md`
//!   says so in its place and under "Not shown", and never links to it;
//! - per figure at most [`plot::MAX_SERIES`] lines of [`plot::MAX_POINTS`] points, and in
//!   Figs 1–2 at most [`plot::MAX_HISTOGRAM_SERIES`] inputs re-sampled from at most
//!   400,000 values; loss figures for at most [`MAX_LOSS_FIGURES`] functions;
//! - a table cell or list names at most [`MAX_LISTED_VALUES`] values (seeds as ranges) and
//!   counts the rest; record text is cut to [`MAX_RECORD_TEXT_CHARS`] characters;
//! - record text (functions, version strings) is escaped for Markdown and HTML, and control
//!   and invisible formatting characters are shown as their code points (`U+001B`);
//! - time is near-linear in the number of records (`benches/report.rs`).
//!
//! Given no records at all, the report is a `report.md` that says so (and empty `figures/` and
//! `rankings/` directories).

use crate::activation::Activation;
use crate::error::Error;
use crate::experiment::{Pair, RunRecord};
use crate::plot::{
    self, Axis, HistogramFigure, HistogramPanel, HistogramSeries, LineChart, Series, Stroke,
};
use crate::protocol::{PAPER_FUNCTIONS, normaliser_study, reproduce_functions};
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The paper's Table I (and the complex function of section VI.B), transcribed by hand from
/// the paper; embedded so that a report needs no file outside the repository.
const PAPER_TABLE1_JSON: &str = include_str!("../../data/paper-table1.json");

/// How many baseline pairs the loss figures show beside lg, as in the paper's Fig. 7.
const LOSS_FIGURE_BASELINES: usize = 7;

/// Training-loss figures are drawn for at most this many functions (in the report's order:
/// the paper's first); every function still gets its ranking.
pub const MAX_LOSS_FIGURES: usize = 64;

/// At most this many input values (rows × inputs) are re-sampled for the data histograms, so a
/// function of very many variables costs no more than the paper's.
const HISTOGRAM_MAX_VALUES: usize = 400_000;

/// At most this many rows are re-sampled for the data histograms: the rows are drawn in
/// sequence, so these are exactly the first rows of the run's data, and a histogram needs no
/// more.
const HISTOGRAM_MAX_ROWS: usize = 100_000;

/// One row of the paper's Table I.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PaperRow {
    /// The target function, spelled as in [`PAPER_FUNCTIONS`].
    pub function: String,
    /// The paper's test % error for lg.
    pub lg_pct_err: f64,
    /// The paper's test MAE for lg (`None` where the paper gives none: the complex function).
    pub lg_mae: Option<f64>,
    /// The paper's best baseline pair, as `A1,A2`.
    pub next_best_pair: String,
    /// Its test % error.
    pub next_best_pct_err: f64,
}

#[derive(Deserialize)]
struct PaperTable {
    rows: Vec<PaperRow>,
}

/// The paper's Table I, one row per function of [`PAPER_FUNCTIONS`] in that order.
///
/// The embedded table is checked by a unit test; were it ever unreadable, this returns no rows
/// and the report says that the paper's figures are unavailable rather than failing.
pub fn paper_table1() -> Vec<PaperRow> {
    serde_json::from_str::<PaperTable>(PAPER_TABLE1_JSON)
        .map(|t| t.rows)
        .unwrap_or_default()
}

/// Statistics of one (function, pair) over its runs. Scores that are missing (diverged or not
/// finite) count as `f64::INFINITY`, so every field is always set.
#[derive(Debug, Clone, PartialEq)]
pub struct PairStats {
    /// The activation pair.
    pub pair: Pair,
    /// Number of runs (distinct specs, normally one per seed).
    pub runs: usize,
    /// Runs that diverged (the loss or a parameter became non-finite).
    pub diverged: usize,
    /// Runs without a test % error: the diverged ones and those whose prediction was not
    /// finite.
    pub unscored: usize,
    /// Median test % error over runs.
    pub median_pct_err: f64,
    /// Lowest test % error over runs.
    pub min_pct_err: f64,
    /// Highest test % error over runs (∞ if any run is unscored).
    pub max_pct_err: f64,
    /// Median test MAE over runs.
    pub median_test_mae: f64,
    /// Median training loss of the last epoch over runs (∞ for a diverged run, whose last
    /// recorded loss predates the divergence).
    pub median_final_loss: f64,
}

/// One function's pairs, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRanking {
    /// The function, spelled as in [`PAPER_FUNCTIONS`] where it is one of them, else as in its
    /// first record.
    pub function: String,
    /// Every pair with records, ranked by median test % error (ties by pair name).
    pub pairs: Vec<PairStats>,
    /// The ranking CSV written for it.
    pub csv: PathBuf,
}

/// One row of Table I: lg and the best baseline for a function, beside the paper's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Table1Row {
    /// The function, as in [`PAPER_FUNCTIONS`].
    pub function: String,
    /// lg's statistics (`lg.runs` is the number of seeds); `None` if lg has no records here.
    pub lg: Option<PairStats>,
    /// The best pair other than lg; `None` if there are no other pairs.
    pub best_baseline: Option<PairStats>,
    /// lg's 1-based rank among all pairs present (1 = best).
    pub lg_rank: Option<usize>,
    /// Number of pairs present for the function.
    pub pairs: usize,
    /// The paper's row, if the embedded table has one.
    pub paper: Option<PaperRow>,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The Markdown report.
    pub report_md: PathBuf,
    /// Every file written, `report.md` included.
    pub files: Vec<PathBuf>,
    /// Table I, one row per function of [`PAPER_FUNCTIONS`] that has records, in that order.
    pub table1: Vec<Table1Row>,
    /// The ranking of every function with records.
    pub rankings: Vec<FunctionRanking>,
    /// What the report could not show and why (also stated in `report.md`).
    pub notes: Vec<String>,
}

/// The longest slug [`slug`] returns, in bytes (all its characters are ASCII). File names
/// built from it (`fig7a-SLUG.svg`, `loss-SLUG.png`) stay far below every file system's limit.
pub const MAX_SLUG_LEN: usize = 64;

/// The readable part of a hashed slug is cut to this many characters.
const HASHED_SLUG_PREFIX: usize = MAX_SLUG_LEN - 17;

/// The character-by-character readable form behind [`slug`]: letters, digits and `_` kept,
/// `*` → `_`, `/` → `_div`, `+` → `_plus_`, `-` → `_minus_`, `^` → `_pow_`, `.` → `p`,
/// whitespace dropped, anything else `_`; runs of `_` merged and trimmed.
fn readable_slug(function: &str) -> String {
    let mut out = String::new();
    let mut push = |s: &str| {
        for c in s.chars() {
            if !(c == '_' && (out.ends_with('_') || out.is_empty())) {
                out.push(c);
            }
        }
    };
    for c in function.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '_' => push(c.encode_utf8(&mut [0; 4])),
            c if c.is_whitespace() => {}
            '*' => push("_"),
            '/' => push("_div"),
            '+' => push("_plus_"),
            '-' => push("_minus_"),
            '^' => push("_pow_"),
            '.' => push("p"),
            _ => push("_"),
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Whether `key` (a function without whitespace) is in the grammar on which
/// [`readable_slug`] is injective: operands `xN` or unsigned decimals (`10`, `0.5`) separated
/// by single binary operators `* / + - ^`, nothing else. Its readable slug is then the operands
/// (with `.` as `p`) joined by `_`, `_div`, `_plus_`, `_minus_`, `_pow_`; split at `_`, each
/// piece is an operand (starts with `x` or a digit), `plus`, `minus`, `pow` or `div` + operand,
/// so the function can be read back from the slug.
fn is_plain(key: &str) -> bool {
    let mut rest = key;
    loop {
        let operand = if let Some(r) = rest.strip_prefix('x') {
            let digits = r.len() - r.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return false;
            }
            1 + digits
        } else {
            let int = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if int == 0 {
                return false;
            }
            match rest[int..].strip_prefix('.') {
                Some(f) => {
                    let frac = f.len() - f.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    if frac == 0 {
                        return false;
                    }
                    int + 1 + frac
                }
                None => int,
            }
        };
        rest = &rest[operand..];
        match rest.chars().next() {
            None => return true,
            Some('*' | '/' | '+' | '-' | '^') => rest = &rest[1..],
            Some(_) => return false,
        }
    }
}

/// FNV-1a, 64 bits: a hash that never changes between builds, platforms or Rust versions
/// (std's `DefaultHasher` may), so a function keeps its file name.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The file-name stem of a function's ranking CSV and loss figure: unique per function by
/// construction, readable where possible, at most [`MAX_SLUG_LEN`] ASCII characters from
/// `[A-Za-z0-9_-]`, never starting with `-` or `.`.
///
/// Functions are matched with whitespace removed (as the report groups them). Three kinds:
///
/// - the functions of the paper and its normaliser study keep their historical names
///   (`x1_x2_div10`, `x1_x2_plus_x3_plus_x4`, …), which are distinct;
/// - a simple function (operands `xN` or decimals joined by single `* / + - ^`, see below)
///   gets its readable form, unless that is too long or already one of the paper's names:
///   `x1*x2*2` → `x1_x2_2`, `x1 - 0.5` → `x1_minus_0p5`. On these functions the readable
///   form can be read back, so two of them never share it;
/// - any other function gets a cut readable form, `-` and 16 hex digits of a stable 64-bit
///   hash of its text: `(x1)*(x2)` → `x1_x2-…`. Only these names contain `-`, so they never
///   equal a name of the first two kinds.
///
/// ```
/// use logexp::report::slug;
/// assert_eq!(slug("x1*x2/10"), "x1_x2_div10");
/// assert_eq!(slug("x1*(x2+x3)+x4"), "x1_x2_plus_x3_plus_x4");
/// assert_eq!(slug("x1 * x2 * 2"), "x1_x2_2");
/// assert!(slug("(x1)*(x2)").starts_with("x1_x2-"));
/// ```
pub fn slug(function: &str) -> String {
    let key = function_key(function);
    let readable = readable_slug(&key);
    let known = reproduce_functions();
    let is_reserved = |s: &str| known.iter().any(|f| readable_slug(&function_key(f)) == s);
    if known.iter().any(|f| function_key(f) == key)
        || (is_plain(&key) && readable.len() <= MAX_SLUG_LEN && !is_reserved(&readable))
    {
        return readable;
    }
    let prefix: String = readable.chars().take(HASHED_SLUG_PREFIX).collect();
    let prefix = prefix.trim_end_matches('_');
    let prefix = if prefix.is_empty() {
        "function"
    } else {
        prefix
    };
    format!("{prefix}-{:016x}", stable_hash(&key))
}

/// Writes the report for `records` into `out_dir` (see the module documentation for the
/// files) and returns what it wrote.
///
/// Errors only when a directory or file cannot be created or written (or a figure cannot be
/// drawn); data it cannot use (no lg runs for a function, a function of the normaliser study
/// without records, data that cannot be re-sampled) is reported in `report.md` and in
/// [`ReportSummary::notes`] instead.
pub fn write_report(records: &[RunRecord], out_dir: &Path) -> Result<ReportSummary, Error> {
    let figures_dir = out_dir.join("figures");
    let rankings_dir = out_dir.join("rankings");
    for dir in [out_dir, &figures_dir, &rankings_dir] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    let report_md = out_dir.join("report.md");

    let (records, duplicates) = dedup(records);
    if records.is_empty() {
        let text = "# logexp report\n\nNo run records were given, so there is nothing to \
                    report. Produce records with a sweep (or `train --json`) and run the report \
                    on its results file.\n";
        plot::write_atomic(&report_md, text.as_bytes())?;
        return Ok(ReportSummary {
            report_md: report_md.clone(),
            files: vec![report_md],
            table1: Vec::new(),
            rankings: Vec::new(),
            notes: vec!["no run records".to_string()],
        });
    }

    let groups = group(&records);
    let slugs = unique_slugs(&groups);
    let paper = paper_table1();
    let mut notes = Vec::new();
    if paper.is_empty() {
        notes.push("the paper's Table I could not be read; its columns are empty".to_string());
    }
    let mut files = Vec::new();

    // Rankings.
    let mut rankings = Vec::new();
    for (g, slug) in groups.iter().zip(&slugs) {
        let pairs = rank(g);
        let csv = rankings_dir.join(format!("{slug}.csv"));
        plot::write_atomic(&csv, ranking_csv(&pairs).as_bytes())?;
        files.push(csv.clone());
        rankings.push(FunctionRanking {
            function: g.function.clone(),
            pairs,
            csv,
        });
    }

    // Table I.
    let table1 = table1_rows(&rankings, &paper);
    let table1_csv = out_dir.join("table1.csv");
    plot::write_atomic(&table1_csv, table1_csv_text(&table1).as_bytes())?;
    files.push(table1_csv);

    // Normaliser study.
    let study = normaliser_cells(&rankings);
    let normaliser_csv = out_dir.join("normaliser.csv");
    plot::write_atomic(&normaliser_csv, normaliser_csv_text(&study).as_bytes())?;
    files.push(normaliser_csv);
    let missing_study: Vec<String> = study
        .iter()
        .filter(|c| c.ranking.is_none())
        .map(|c| c.function.clone())
        .collect();
    if !missing_study.is_empty() {
        notes.push(format!(
            "normaliser study: no records for {}",
            missing_study.join(", ")
        ));
    }

    // Figures.
    let mut jobs: Vec<(FigureJob, String, String)> = Vec::new();
    let data = data_figures(&records);
    let data_source = match data {
        Ok(data) => {
            jobs.push((
                FigureJob::Hist(data.train),
                "fig1-train-data".to_string(),
                "Fig. 1 (training data)".to_string(),
            ));
            jobs.push((
                FigureJob::Hist(data.test),
                "fig2-test-data".to_string(),
                "Fig. 2 (test data)".to_string(),
            ));
            notes.extend(data.left_out);
            Some(data.source)
        }
        Err(why) => {
            notes.push(format!("Figures 1-2 not drawn: {why}"));
            None
        }
    };
    for (job, stem) in activation_figures() {
        let name = job.title.clone();
        jobs.push((FigureJob::Line(job), stem.to_string(), name));
    }
    let mut loss_figures = Vec::new();
    let mut thinned = false;
    for (g, slug) in groups.iter().zip(&slugs).take(MAX_LOSS_FIGURES) {
        let label = figure_label(&g.function);
        let stem = match &label {
            Some(l) => format!("fig{l}-{slug}"),
            None => format!("loss-{slug}"),
        };
        let chart = loss_chart(g, label.as_deref());
        thinned |= chart
            .series
            .iter()
            .any(|s| s.points.len() > plot::MAX_POINTS);
        let name = match &label {
            Some(l) => format!("Fig. {l} (training loss of {})", printable(&g.function, 60)),
            None => format!("the training loss of {}", printable(&g.function, 60)),
        };
        loss_figures.push((g.function.clone(), label, stem.clone()));
        jobs.push((FigureJob::Line(chart), stem, name));
    }
    if groups.len() > MAX_LOSS_FIGURES {
        notes.push(format!(
            "training-loss figures are drawn for the first {MAX_LOSS_FIGURES} functions only; \
             {} more functions have rankings but no figure",
            groups.len() - MAX_LOSS_FIGURES
        ));
    }
    if thinned {
        notes.push(format!(
            "loss curves longer than {} epochs are drawn through {} evenly spaced epochs",
            plot::MAX_POINTS,
            plot::MAX_POINTS
        ));
    }
    let has_study = study.iter().any(|c| c.ranking.is_some());
    if has_study {
        jobs.push((
            FigureJob::Line(normaliser_chart(&study)),
            "normaliser".to_string(),
            "the normaliser study figure".to_string(),
        ));
    }
    // Figures are independent and PNG rasterising dominates the report's time.
    let drawn: Vec<Result<plot::Drawn, Error>> = jobs
        .par_iter()
        .map(|(job, stem, _)| {
            let stem = figures_dir.join(stem);
            match job {
                FigureJob::Line(chart) => plot::write_line_chart(chart, &stem),
                FigureJob::Hist(figure) => plot::write_histograms(figure, &stem),
            }
        })
        .collect();
    let mut skipped: HashMap<String, String> = HashMap::new();
    for (result, (_, stem, name)) in drawn.into_iter().zip(&jobs) {
        match result? {
            plot::Drawn::Files(paths) => files.extend(paths),
            plot::Drawn::Skipped(why) => {
                notes.push(format!("{name} not drawn: {why}"));
                skipped.insert(stem.clone(), why);
            }
        }
    }

    let ctx = MdContext {
        records: &records,
        duplicates,
        groups: &groups,
        rankings: &rankings,
        slugs: &slugs,
        table1: &table1,
        paper_available: !paper.is_empty(),
        study: &study,
        has_study,
        data_source: data_source.as_deref(),
        loss_figures: &loss_figures,
        skipped: &skipped,
        notes: &notes,
    };
    plot::write_atomic(&report_md, markdown(&ctx).as_bytes())?;
    files.insert(0, report_md.clone());

    Ok(ReportSummary {
        report_md,
        files,
        table1,
        rankings,
        notes,
    })
}

enum FigureJob {
    Line(LineChart),
    Hist(HistogramFigure),
}

/// Drops records whose spec is identical to an earlier one's; returns the rest and how many
/// were dropped.
fn dedup(records: &[RunRecord]) -> (Vec<&RunRecord>, usize) {
    let mut seen = HashSet::new();
    let kept: Vec<&RunRecord> = records
        .iter()
        .filter(|r| seen.insert(r.spec.key()))
        .collect();
    let dropped = records.len() - kept.len();
    (kept, dropped)
}

/// The records of one function.
struct Group<'a> {
    /// Display spelling.
    function: String,
    records: Vec<&'a RunRecord>,
    by_pair: BTreeMap<Pair, Vec<&'a RunRecord>>,
}

fn function_key(function: &str) -> String {
    function.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Groups by function, ordered as the paper (Table I, then the normaliser study's others),
/// then any other function alphabetically.
fn group<'a>(records: &[&'a RunRecord]) -> Vec<Group<'a>> {
    let mut by_key: HashMap<String, Group<'a>> = HashMap::new();
    for &r in records {
        let key = function_key(&r.spec.function);
        let g = by_key.entry(key.clone()).or_insert_with(|| Group {
            function: PAPER_FUNCTIONS
                .iter()
                .find(|f| function_key(f) == key)
                .map_or_else(|| r.spec.function.clone(), |f| f.to_string()),
            records: Vec::new(),
            by_pair: BTreeMap::new(),
        });
        g.records.push(r);
        g.by_pair.entry(r.spec.pair.clone()).or_default().push(r);
    }
    let order: Vec<String> = reproduce_functions()
        .iter()
        .map(|f| function_key(f))
        .collect();
    // Positions computed once per group, not per comparison: reports may hold very many
    // functions.
    let mut groups: Vec<(usize, String, Group<'a>)> = by_key
        .into_iter()
        .map(|(key, g)| {
            let position = order.iter().position(|f| *f == key).unwrap_or(order.len());
            (position, key, g)
        })
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    groups.into_iter().map(|(_, _, g)| g).collect()
}

/// The slugs of the groups. [`slug`] is unique per function already (groups have distinct
/// keys); this only guards against a collision of its 64-bit hash, which would otherwise let
/// one function's files overwrite another's.
fn unique_slugs(groups: &[Group<'_>]) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::new();
    groups
        .iter()
        .map(|g| {
            let base = slug(&g.function);
            let mut candidate = base.clone();
            let mut n = 1;
            while !used.insert(candidate.clone()) {
                n += 1;
                candidate = format!("{base}-{n}");
            }
            candidate
        })
        .collect()
}

/// A score as a rankable number: missing or non-finite is +∞.
fn score(v: Option<f64>) -> f64 {
    match v {
        Some(v) if v.is_finite() => v,
        _ => f64::INFINITY,
    }
}

/// The median; the mean of the two middle values for an even count. `None` if empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => {
            let (a, b) = (v[n / 2 - 1], v[n / 2]);
            // inf + finite is inf, as the ranking rule wants; avoid inf - inf = NaN paths.
            Some(if a.is_infinite() || b.is_infinite() {
                f64::INFINITY
            } else {
                (a + b) / 2.0
            })
        }
    }
}

fn final_loss(r: &RunRecord) -> f64 {
    if r.diverged {
        f64::INFINITY
    } else {
        score(r.final_train_loss())
    }
}

fn pair_stats(pair: &Pair, runs: &[&RunRecord]) -> PairStats {
    let pct: Vec<f64> = runs.iter().map(|r| score(r.test_pct_err)).collect();
    let mae: Vec<f64> = runs.iter().map(|r| score(r.test_mae)).collect();
    let loss: Vec<f64> = runs.iter().map(|r| final_loss(r)).collect();
    let inf = f64::INFINITY;
    PairStats {
        pair: pair.clone(),
        runs: runs.len(),
        diverged: runs.iter().filter(|r| r.diverged).count(),
        unscored: pct.iter().filter(|v| v.is_infinite()).count(),
        median_pct_err: median(&pct).unwrap_or(inf),
        min_pct_err: pct.iter().copied().fold(inf, f64::min),
        max_pct_err: pct.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        median_test_mae: median(&mae).unwrap_or(inf),
        median_final_loss: median(&loss).unwrap_or(inf),
    }
}

/// The ranking rule: median test % error, then the pair's name.
fn rank(g: &Group<'_>) -> Vec<PairStats> {
    let mut stats: Vec<PairStats> = g
        .by_pair
        .iter()
        .map(|(pair, runs)| pair_stats(pair, runs))
        .collect();
    stats.sort_by(|a, b| {
        a.median_pct_err
            .total_cmp(&b.median_pct_err)
            .then_with(|| a.pair.to_string().cmp(&b.pair.to_string()))
    });
    stats
}

fn table1_rows(rankings: &[FunctionRanking], paper: &[PaperRow]) -> Vec<Table1Row> {
    PAPER_FUNCTIONS
        .iter()
        .filter_map(|f| {
            let ranking = rankings.iter().find(|r| r.function == *f)?;
            let lg_rank = ranking.pairs.iter().position(|p| p.pair.is_lg());
            Some(Table1Row {
                function: f.to_string(),
                lg: lg_rank.map(|i| ranking.pairs[i].clone()),
                best_baseline: ranking.pairs.iter().find(|p| !p.pair.is_lg()).cloned(),
                lg_rank: lg_rank.map(|i| i + 1),
                pairs: ranking.pairs.len(),
                paper: paper.iter().find(|p| p.function == *f).cloned(),
            })
        })
        .collect()
}

/// Numbers for CSV: Rust's shortest round-trip form, `inf` for +∞, empty for missing.
fn csv_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        String::new()
    } else if v > 0.0 {
        "inf".to_string()
    } else {
        "-inf".to_string()
    }
}

fn csv_opt(v: Option<f64>) -> String {
    v.map(csv_num).unwrap_or_default()
}

/// Quotes a CSV field when it needs it (pair names contain commas).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The column header of every ranking CSV.
const RANKING_HEADER: &str = "rank,pair,median_test_pct_err,min_test_pct_err,max_test_pct_err,\
median_test_mae,median_final_train_loss,runs,diverged_runs,unscored_runs";

fn ranking_csv(pairs: &[PairStats]) -> String {
    let mut out = String::from(RANKING_HEADER);
    out.push('\n');
    for (i, p) in pairs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            i + 1,
            csv_field(&p.pair.to_string()),
            csv_num(p.median_pct_err),
            csv_num(p.min_pct_err),
            csv_num(p.max_pct_err),
            csv_num(p.median_test_mae),
            csv_num(p.median_final_loss),
            p.runs,
            p.diverged,
            p.unscored
        );
    }
    out
}

fn table1_csv_text(rows: &[Table1Row]) -> String {
    let mut out = String::from(
        "function,lg_median_test_pct_err,lg_min_test_pct_err,lg_max_test_pct_err,\
         lg_median_test_mae,best_baseline,best_baseline_median_test_pct_err,lg_rank,pairs,\
         seeds,paper_lg_pct_err,paper_lg_mae,paper_next_best_pair,paper_next_best_pct_err\n",
    );
    for r in rows {
        let lg = r.lg.as_ref();
        let best = r.best_baseline.as_ref();
        let paper = r.paper.as_ref();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.function),
            csv_opt(lg.map(|s| s.median_pct_err)),
            csv_opt(lg.map(|s| s.min_pct_err)),
            csv_opt(lg.map(|s| s.max_pct_err)),
            csv_opt(lg.map(|s| s.median_test_mae)),
            csv_field(&best.map(|s| s.pair.to_string()).unwrap_or_default()),
            csv_opt(best.map(|s| s.median_pct_err)),
            r.lg_rank.map(|n| n.to_string()).unwrap_or_default(),
            r.pairs,
            lg.map_or(0, |s| s.runs),
            csv_opt(paper.map(|p| p.lg_pct_err)),
            csv_opt(paper.and_then(|p| p.lg_mae)),
            csv_field(paper.map_or("", |p| p.next_best_pair.as_str())),
            csv_opt(paper.map(|p| p.next_best_pct_err)),
        );
    }
    out
}

/// One cell of the normaliser study.
struct StudyCell<'a> {
    n_factors: usize,
    normaliser: u32,
    function: String,
    ranking: Option<&'a FunctionRanking>,
}

impl StudyCell<'_> {
    fn lg(&self) -> Option<(usize, &PairStats)> {
        let r = self.ranking?;
        r.pairs
            .iter()
            .enumerate()
            .find(|(_, p)| p.pair.is_lg())
            .map(|(i, p)| (i + 1, p))
    }

    fn best_baseline(&self) -> Option<&PairStats> {
        self.ranking?.pairs.iter().find(|p| !p.pair.is_lg())
    }
}

fn normaliser_cells(rankings: &[FunctionRanking]) -> Vec<StudyCell<'_>> {
    normaliser_study()
        .into_iter()
        .map(|np| {
            let function = np.expression();
            let key = function_key(&function);
            StudyCell {
                n_factors: np.n_factors,
                normaliser: np.normaliser,
                ranking: rankings.iter().find(|r| function_key(&r.function) == key),
                function,
            }
        })
        .collect()
}

fn normaliser_csv_text(cells: &[StudyCell<'_>]) -> String {
    let mut out = String::from(
        "factors,normaliser,function,lg_median_test_pct_err,lg_rank,best_baseline,\
         best_baseline_median_test_pct_err,pairs\n",
    );
    for c in cells {
        let lg = c.lg();
        let best = c.best_baseline();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            c.n_factors,
            c.normaliser,
            csv_field(&c.function),
            csv_opt(lg.map(|(_, s)| s.median_pct_err)),
            lg.map(|(rank, _)| rank.to_string()).unwrap_or_default(),
            csv_field(&best.map(|s| s.pair.to_string()).unwrap_or_default()),
            csv_opt(best.map(|s| s.median_pct_err)),
            c.ranking.map_or(0, |r| r.pairs.len()),
        );
    }
    out
}

/// Fig. 7's letter (`7a`…`7f`) or `8` for a function of [`PAPER_FUNCTIONS`].
fn figure_label(function: &str) -> Option<String> {
    let i = PAPER_FUNCTIONS.iter().position(|f| *f == function)?;
    Some(if i < 6 {
        format!("7{}", (b'a' + i as u8) as char)
    } else {
        "8".to_string()
    })
}

/// The legend label of a pair: lg spelled out, as the paper's "lg_model" is unexplained there.
fn pair_legend(pair: &Pair) -> String {
    if pair.is_lg() {
        format!("lg ({pair})")
    } else {
        pair.to_string()
    }
}

/// The training loss per epoch, median over runs. A diverged run counts as +∞ from its
/// divergence on (so the median curve ends where most runs diverged); a run that simply has
/// fewer epochs (a shorter setting) drops out of the later epochs.
fn median_loss_curve(runs: &[&RunRecord]) -> Vec<(f64, f64)> {
    // Beyond the longest run every value would be missing or +∞, which draws nothing.
    let epochs = runs.iter().map(|r| r.train_loss.len()).max().unwrap_or(0);
    (0..epochs)
        .filter_map(|e| {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| match r.train_loss.get(e) {
                    Some(&l) => Some(score(Some(l))),
                    None if r.diverged => Some(f64::INFINITY),
                    None => None,
                })
                .collect();
            median(&values).map(|m| ((e + 1) as f64, m))
        })
        .collect()
}

fn loss_chart(g: &Group<'_>, label: Option<&str>) -> LineChart {
    let mut baselines: Vec<(f64, &Pair, &Vec<&RunRecord>)> = g
        .by_pair
        .iter()
        .filter(|(pair, _)| !pair.is_lg())
        .map(|(pair, runs)| {
            let finals: Vec<f64> = runs.iter().map(|r| final_loss(r)).collect();
            (median(&finals).unwrap_or(f64::INFINITY), pair, runs)
        })
        .filter(|(m, _, _)| m.is_finite())
        .collect();
    baselines.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.to_string().cmp(&b.1.to_string()))
    });
    let mut series: Vec<Series> = baselines
        .iter()
        .take(LOSS_FIGURE_BASELINES)
        .map(|(_, pair, runs)| Series::new(pair_legend(pair), median_loss_curve(runs)))
        .collect();
    if let Some((pair, runs)) = g.by_pair.iter().find(|(p, _)| p.is_lg()) {
        // Drawn last so that it lies on top.
        series.push(Series {
            emphasis: true,
            ..Series::new(pair_legend(pair), median_loss_curve(runs))
        });
    }
    let seeds = g.by_pair.values().map(Vec::len).max().unwrap_or(0);
    let loss = g
        .records
        .first()
        .map_or("mae".to_string(), |r| r.spec.loss.to_string());
    let prefix = label.map_or(String::new(), |l| format!("Fig. {l}: "));
    let over = if seeds == 1 {
        "one run per pair".to_string()
    } else {
        format!("median over up to {seeds} runs per pair")
    };
    LineChart {
        title: format!(
            "{prefix}training loss, y = {} ({over})",
            printable(&g.function, MAX_RECORD_TEXT_CHARS)
        ),
        x: Axis::linear("epoch"),
        y: Axis::log(format!("training loss ({loss})")),
        series,
    }
}

fn activation_figures() -> Vec<(LineChart, &'static str)> {
    let xs: Vec<f32> = (0..=400).map(|i| -5.0 + i as f32 * 0.025).collect();
    let curve = |a: Activation| -> Vec<(f64, f64)> {
        xs.iter()
            .map(|&x| (f64::from(x), f64::from(a.forward(x))))
            .collect()
    };
    let single = |a: Activation, title: &str| LineChart {
        title: title.to_string(),
        x: Axis::linear("x"),
        y: Axis::linear("f(x)"),
        series: vec![Series {
            emphasis: true,
            // The title names the one curve; no legend needed.
            ..Series::new("", curve(a))
        }],
    };
    let mut all = Vec::new();
    for (i, a) in Activation::ALL.iter().enumerate() {
        let label = if *a == Activation::Softmax {
            "softmax (one unit: 1)".to_string()
        } else {
            a.name().to_string()
        };
        let ours = matches!(a, Activation::Symlog | Activation::Symexp);
        all.push(Series {
            emphasis: ours,
            // Beyond the palette (and for symexp beside symlog) the dash tells lines apart.
            stroke: if *a == Activation::Symexp || (!ours && i >= plot::PALETTE_LEN) {
                Stroke::Dashed
            } else {
                Stroke::Solid
            },
            colour: if ours { None } else { Some(i) },
            ..Series::new(label, curve(*a))
        });
    }
    vec![
        (
            single(Activation::Symlog, "Fig. 3: symmetric logarithm (eq. 1)"),
            "fig3-symlog",
        ),
        (
            single(Activation::Symexp, "Fig. 4: symmetric exponential (eq. 2)"),
            "fig4-symexp",
        ),
        (
            LineChart {
                title: "All 13 activations (y clipped to [-5, 5])".to_string(),
                x: Axis::linear("x"),
                y: Axis {
                    range: Some((-5.0, 5.0)),
                    ..Axis::linear("f(x)")
                },
                series: all,
            },
            "activations",
        ),
    ]
}

/// Figs 1–2, ready to draw.
struct DataFigures {
    train: HistogramFigure,
    test: HistogramFigure,
    /// A sentence saying which data they show.
    source: String,
    /// What the figures leave out, for the notes.
    left_out: Vec<String>,
}

/// The histograms of Figs 1–2. The spec is the first record's for `x1*x2` (the paper's first
/// function), else the first record's. At most [`plot::MAX_HISTOGRAM_SERIES`] inputs are
/// shown, from at most [`HISTOGRAM_MAX_ROWS`] rows and [`HISTOGRAM_MAX_VALUES`] values.
fn data_figures(records: &[&RunRecord]) -> Result<DataFigures, String> {
    let record = records
        .iter()
        .find(|r| function_key(&r.spec.function) == "x1*x2")
        .or_else(|| records.first())
        .ok_or_else(|| "no records".to_string())?;
    let full = &record.spec;
    let function = printable(&full.function, MAX_RECORD_TEXT_CHARS);
    // The sampler must not be given empty or reversed ranges.
    let train_range = crate::data::Range::new(full.train_range.low, full.train_range.high)
        .map_err(|e| format!("training range: {e}"))?;
    let test_range = crate::data::Range::new(full.test_range.low, full.test_range.high)
        .map_err(|e| format!("test range: {e}"))?;
    let expr = crate::expr::Expr::parse(&full.function)
        .map_err(|e| printable(&e.to_string(), 2 * MAX_RECORD_TEXT_CHARS))?;
    let n_inputs = expr.n_vars().max(1);
    if n_inputs > HISTOGRAM_MAX_VALUES {
        return Err(format!(
            "the function has {n_inputs} inputs, more than the {HISTOGRAM_MAX_VALUES} values \
             the histograms re-sample"
        ));
    }
    let max_rows = (HISTOGRAM_MAX_VALUES / n_inputs).min(HISTOGRAM_MAX_ROWS);
    let sample = |n: usize, range, stream| {
        crate::data::Dataset::sample(&expr, n.clamp(1, max_rows), range, full.data_seed, stream)
            .map_err(|e| e.to_string())
    };
    // Streams 0 and 1 are the training and test rows (RunSpec::datasets); rows are drawn in
    // sequence, so these are exactly the run's first rows.
    let train = sample(full.n_train, train_range, 0)?;
    let test = sample(full.n_test, test_range, 1)?;
    let shown_inputs = n_inputs.min(plot::MAX_HISTOGRAM_SERIES);
    let figure = |d: &crate::data::Dataset, fig: &str, what: &str, range, of: usize| {
        let n = d.n_features();
        let inputs = (0..n.min(shown_inputs))
            .map(|i| HistogramSeries {
                label: format!("x{}", i + 1),
                values: d
                    .records()
                    .iter()
                    .skip(i)
                    .step_by(n.max(1))
                    .map(|&v| f64::from(v))
                    .collect(),
            })
            .collect();
        let shown = if d.len() < of {
            format!("first {} of {of} rows", d.len())
        } else {
            format!("{of} rows")
        };
        let inputs_title = if n > shown_inputs {
            format!("inputs x1-x{shown_inputs} of {n}, uniform in {range}")
        } else {
            format!("inputs, uniform in {range}")
        };
        HistogramFigure {
            title: format!("{fig}: {what} data of y = {function} ({shown})"),
            panels: vec![
                HistogramPanel {
                    title: inputs_title,
                    x_label: "input value".to_string(),
                    series: inputs,
                    bins: 30,
                },
                HistogramPanel {
                    title: format!("target y = {function}"),
                    x_label: "y".to_string(),
                    series: vec![HistogramSeries {
                        label: "y".to_string(),
                        values: d.targets().to_vec(),
                    }],
                    bins: 30,
                },
            ],
        }
    };
    let train_fig = figure(&train, "Fig. 1", "training", full.train_range, full.n_train);
    let test_fig = figure(&test, "Fig. 2", "test", full.test_range, full.n_test);
    let mut left_out = Vec::new();
    if n_inputs > shown_inputs {
        left_out.push(format!(
            "Figures 1-2 show the first {shown_inputs} of the function's {n_inputs} inputs"
        ));
    }
    if max_rows < HISTOGRAM_MAX_ROWS && (full.n_train > max_rows || full.n_test > max_rows) {
        left_out.push(format!(
            "Figures 1-2 show the first {max_rows} rows only (at most {HISTOGRAM_MAX_VALUES} \
             values are re-sampled)"
        ));
    }
    let source = format!(
        "re-sampled from the spec of a {} record (data seed {}, {} training rows in {}, \
         {} test rows in {})",
        md_function(&full.function),
        full.data_seed,
        full.n_train,
        full.train_range,
        full.n_test,
        full.test_range
    );
    Ok(DataFigures {
        train: train_fig,
        test: test_fig,
        source,
        left_out,
    })
}

fn normaliser_chart(cells: &[StudyCell<'_>]) -> LineChart {
    let mut series = Vec::new();
    for (k, factors) in (2..=4usize).enumerate() {
        let row: Vec<&StudyCell<'_>> = cells.iter().filter(|c| c.n_factors == factors).collect();
        if row.iter().all(|c| c.ranking.is_none()) {
            continue;
        }
        let lg: Vec<(f64, f64)> = row
            .iter()
            .filter_map(|c| Some((f64::from(c.normaliser), c.lg()?.1.median_pct_err)))
            .collect();
        let best: Vec<(f64, f64)> = row
            .iter()
            .filter_map(|c| Some((f64::from(c.normaliser), c.best_baseline()?.median_pct_err)))
            .collect();
        series.push(Series {
            emphasis: true,
            colour: Some(k),
            ..Series::new(format!("lg, {factors} factors"), lg)
        });
        series.push(Series {
            stroke: Stroke::Dashed,
            colour: Some(k),
            ..Series::new(format!("best baseline, {factors} factors"), best)
        });
    }
    LineChart {
        title: "Normaliser study: test % error of y = x1·…·xk / N (medians over runs)".to_string(),
        x: Axis::log("normaliser N"),
        y: Axis::log("median test % error"),
        series,
    }
}

/// Text from a record (a function, a version string) is shown in `report.md`, in figure
/// titles and in notes cut to this many characters, with an ellipsis; the files keep it whole.
pub const MAX_RECORD_TEXT_CHARS: usize = 120;

/// A table cell or list in `report.md` names at most this many distinct values (settings,
/// versions, functions); the rest are counted ("… and 9 more").
pub const MAX_LISTED_VALUES: usize = 12;

/// Characters that must never reach a terminal or `report.md` raw: control characters (escape
/// sequences, newlines that would break a table row) and invisible formatting characters
/// (zero-width and bidirectional overrides, which can make text read differently from what it
/// is).
fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

/// Record text made safe to print: every control or invisible formatting character replaced by
/// its code point (`U+001B`), and the text cut to `max` characters with `…` when longer. For
/// notes and messages that quote a record on a terminal.
///
/// ```
/// use logexp::report::printable;
/// assert_eq!(printable("x1\u{1b}[31m\n", 80), "x1U+001B[31mU+000A");
/// assert_eq!(printable("x1*x2*x3", 5), "x1*x2…");
/// ```
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if is_hidden_char(c) {
            let _ = write!(out, "U+{:04X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Plain text for Markdown (a table cell, a list item, alt text): [`printable`] (not cut), then every
/// character that Markdown or HTML would act on within a line escaped, so the text shows as
/// itself and cannot add cells, links, emphasis or markup. Only line-internal syntax matters
/// because this text never starts a line.
fn md_text(text: &str) -> String {
    let mut out = String::new();
    for c in printable(text, usize::MAX).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '#' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether a function can go into a Markdown code span as it is: the characters of the
/// expression grammar, none of which ends a code span or a table cell.
fn code_span_safe(function: &str) -> bool {
    function
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " *+-/^().,".contains(c))
}

/// A function for `report.md`: a code span (`` `x1*x2` ``) when its characters allow, else
/// escaped text ([`md_text`]); cut to [`MAX_RECORD_TEXT_CHARS`] either way.
fn md_function(function: &str) -> String {
    if code_span_safe(function) {
        let shown: String = function.chars().take(MAX_RECORD_TEXT_CHARS).collect();
        if shown.len() < function.len() {
            format!("`{shown}` …")
        } else {
            format!("`{shown}`")
        }
    } else {
        md_text(&printable(function, MAX_RECORD_TEXT_CHARS))
    }
}

/// A function in a figure's alt text (no code spans there): `*` shown as `·`.
fn md_function_alt(function: &str) -> String {
    if code_span_safe(function) {
        printable(function, MAX_RECORD_TEXT_CHARS).replace('*', "·")
    } else {
        md_text(&printable(function, MAX_RECORD_TEXT_CHARS))
    }
}

/// At most [`MAX_LISTED_VALUES`] values joined by `, `, then how many were left out.
fn capped_list(values: &[String]) -> String {
    let shown = values.len().min(MAX_LISTED_VALUES);
    let mut out = values[..shown].join(", ");
    if values.len() > shown {
        let _ = write!(out, ", … and {} more", values.len() - shown);
    }
    out
}

/// Percentages for Markdown: two decimals, ∞ for a median that no finite score reaches.
fn md_pct(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "∞".to_string()
    }
}

/// MAE-sized numbers for Markdown: two decimals up to a million, then scientific.
fn md_big(v: f64) -> String {
    if !v.is_finite() {
        "∞".to_string()
    } else if v.abs() >= 1e6 {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Everything the Markdown is written from.
struct MdContext<'a> {
    records: &'a [&'a RunRecord],
    duplicates: usize,
    groups: &'a [Group<'a>],
    rankings: &'a [FunctionRanking],
    slugs: &'a [String],
    table1: &'a [Table1Row],
    paper_available: bool,
    study: &'a [StudyCell<'a>],
    has_study: bool,
    data_source: Option<&'a str>,
    /// (function, figure label, file stem)
    loss_figures: &'a [(String, Option<String>, String)],
    /// Figures not drawn: file stem → why.
    skipped: &'a HashMap<String, String>,
    notes: &'a [String],
}

/// The distinct values of one setting, in first-seen order. Linear in the number of values
/// (a set of the values seen), as reports may read hundreds of thousands of records.
fn distinct<T: ToString>(values: impl Iterator<Item = T>) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let s = v.to_string();
        if !seen.contains(&s) {
            seen.insert(s.clone());
            out.push(s);
        }
    }
    out
}

/// Seeds as ranges: `0-4, 7`; past [`MAX_LISTED_VALUES`] ranges the rest are counted.
fn seed_list(seeds: impl Iterator<Item = u64>) -> String {
    let mut seeds: Vec<u64> = seeds.collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let start = seeds[i];
        let mut end = start;
        while i + 1 < seeds.len() && end != u64::MAX && seeds[i + 1] == end + 1 {
            i += 1;
            end = seeds[i];
        }
        i += 1;
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    if parts.len() > MAX_LISTED_VALUES {
        format!(
            "{} ({} distinct)",
            capped_list(&parts).replace(" more", " more ranges"),
            seeds.len()
        )
    } else {
        parts.join(", ")
    }
}

/// The settings of a set of records other than pair and seed, each as (name, its distinct
/// values as one cell: every value when few, else capped, data seeds as ranges).
fn settings(records: &[&RunRecord]) -> Vec<(&'static str, usize, String)> {
    let s = || records.iter().map(|r| &r.spec);
    let cell = |name: &'static str, values: Vec<String>| {
        let n = values.len();
        (name, n, capped_list(&values))
    };
    let data_seeds = distinct(s().map(|s| s.data_seed));
    let data_seed_cell = if data_seeds.len() <= MAX_LISTED_VALUES {
        data_seeds.join(", ")
    } else {
        seed_list(s().map(|s| s.data_seed))
    };
    vec![
        cell(
            "model",
            distinct(s().map(|s| format!("{:?}", s.model).to_lowercase())),
        ),
        cell(
            "hidden layer widths",
            distinct(s().map(|s| {
                s.hidden
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })),
        ),
        cell("epochs", distinct(s().map(|s| s.epochs))),
        cell("batch size", distinct(s().map(|s| s.batch_size))),
        cell("Adam learning rate", distinct(s().map(|s| s.lr))),
        cell("loss", distinct(s().map(|s| s.loss))),
        cell("training rows (n_train)", distinct(s().map(|s| s.n_train))),
        cell("test rows (n_test)", distinct(s().map(|s| s.n_test))),
        cell("training input range", distinct(s().map(|s| s.train_range))),
        cell("test input range", distinct(s().map(|s| s.test_range))),
        ("data seed", data_seeds.len(), data_seed_cell),
    ]
}

fn md_link(path: &str, text: &str) -> String {
    format!("[{text}]({path})")
}

fn markdown(ctx: &MdContext<'_>) -> String {
    let mut md = String::new();
    md_intro(&mut md, ctx);
    md_protocol(&mut md, ctx);
    md_table1(&mut md, ctx);
    md_differences(&mut md, ctx);
    md_figures(&mut md, ctx);
    md_normaliser(&mut md, ctx);
    md_rankings(&mut md, ctx);
    md_divergence(&mut md, ctx);
    if !ctx.notes.is_empty() {
        md.push_str("## Not shown\n\n");
        for n in ctx.notes {
            let _ = writeln!(md, "- {}", md_text(n));
        }
        md.push('\n');
    }
    md
}

fn md_intro(md: &mut String, ctx: &MdContext<'_>) {
    let pairs: BTreeSet<&Pair> = ctx.records.iter().map(|r| &r.spec.pair).collect();
    let versions: Vec<String> = distinct(ctx.records.iter().map(|r| &r.logexp_version))
        .iter()
        .map(|v| md_text(&printable(v, MAX_RECORD_TEXT_CHARS)))
        .collect();
    let _ = writeln!(
        md,
        "# logexp report\n\n\
         A re-run of Goel, *Estimating Multiplicative Relations in Neural Networks*: the paper's \
         Table I and figures, rebuilt from {} run records ({} functions, {} activation pairs, \
         seeds {}) made by logexp {}. Every statistic is over seeds; the paper ran each cell \
         once.\n",
        ctx.records.len(),
        ctx.groups.len(),
        pairs.len(),
        seed_list(ctx.records.iter().map(|r| r.spec.seed)),
        capped_list(&versions)
    );
    if ctx.duplicates > 0 {
        let _ = writeln!(
            md,
            "{} further records repeated a run already read (identical spec) and were counted \
             once.\n",
            ctx.duplicates
        );
    }
}

fn md_protocol(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str(
        "## What was run\n\n\
         Each run trains a dense network on one target function: two hidden layers with the \
         pair's two activations, then one linear output unit; weights Glorot-uniform, biases \
         zero; Adam with Keras's defaults (β1 0.9, β2 0.999, ε 1e-7) on minibatches reshuffled \
         every epoch, minimising the loss below. The test inputs lie outside the training \
         range, so the test error measures extrapolation. The paper states the network, the \
         loss, the epochs and the ranges, but not the data sizes or seeds; all values here are \
         read from the records:\n\n\
         | setting | values seen |\n| --- | --- |\n",
    );
    for (name, _, values) in settings(ctx.records) {
        let _ = writeln!(md, "| {name} | {values} |");
    }
    let _ = writeln!(
        md,
        "| seeds | {} |",
        seed_list(ctx.records.iter().map(|r| r.spec.seed))
    );
    // The paper's Fig. 6 shows 297 parameters for four inputs; this lets a reader check ours.
    let mut params: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for r in ctx.records {
        params.entry(r.n_inputs).or_default().insert(r.n_params);
    }
    let params: Vec<String> = params
        .iter()
        .map(|(inputs, p)| {
            let p: Vec<String> = p.iter().map(usize::to_string).collect();
            format!("{} with {inputs} inputs", p.join(" or "))
        })
        .collect();
    let _ = writeln!(md, "| trainable parameters | {} |\n", params.join("; "));
    let mixed: Vec<String> = ctx
        .groups
        .iter()
        .filter_map(|g| {
            let varying: Vec<String> = settings(&g.records)
                .into_iter()
                .filter(|(_, n, _)| *n > 1)
                .map(|(name, _, v)| format!("{name} {v}"))
                .collect();
            (!varying.is_empty())
                .then(|| format!("- {}: {}", md_function(&g.function), varying.join("; ")))
        })
        .collect();
    if !mixed.is_empty() {
        md.push_str(
            "Some functions mix runs with different settings; they are grouped together all \
             the same (statistics are over all their runs):\n\n",
        );
        for m in mixed {
            let _ = writeln!(md, "{m}");
        }
        md.push('\n');
    }
}

fn md_table1(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str("## Table I beside the paper\n\n");
    if ctx.table1.is_empty() {
        md.push_str("None of the paper's seven functions has records.\n\n");
        return;
    }
    md.push_str(
        "Test (extrapolation) % error and MAE. Ours: median over seeds (min–max), best \
         baseline = best of the other pairs by median % error, lg's rank among all pairs \
         present (1 = best). Paper: one run per cell. Also in [table1.csv](table1.csv).\n\n\
         | function | lg % err (min–max) | lg MAE | best baseline | its % err | lg rank | \
         seeds | paper lg % err | paper lg MAE | paper next best | its % err |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in ctx.table1 {
        let (lg_pct, lg_mae, seeds) = match &r.lg {
            Some(s) => (
                format!(
                    "{} ({}–{})",
                    md_pct(s.median_pct_err),
                    md_pct(s.min_pct_err),
                    md_pct(s.max_pct_err)
                ),
                md_big(s.median_test_mae),
                s.runs.to_string(),
            ),
            None => ("no lg runs".to_string(), "—".to_string(), "0".to_string()),
        };
        let (best, best_pct) = match &r.best_baseline {
            Some(b) => (b.pair.to_string(), md_pct(b.median_pct_err)),
            None => ("—".to_string(), "—".to_string()),
        };
        let rank = r
            .lg_rank
            .map_or("—".to_string(), |n| format!("{n} of {}", r.pairs));
        let (p_pct, p_mae, p_next, p_next_pct) = match &r.paper {
            Some(p) => (
                md_pct(p.lg_pct_err),
                p.lg_mae.map_or("—".to_string(), md_big),
                p.next_best_pair.clone(),
                md_pct(p.next_best_pct_err),
            ),
            None => Default::default(),
        };
        let _ = writeln!(
            md,
            "| {} | {lg_pct} | {lg_mae} | {best} | {best_pct} | {rank} | {seeds} | {p_pct} | \
             {p_mae} | {p_next} | {p_next_pct} |",
            md_function(&r.function)
        );
    }
    md.push('\n');
    if !ctx.paper_available {
        md.push_str("The paper's figures could not be read; its columns are empty.\n\n");
    }
}

fn md_differences(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str("## Where we differ from the paper\n\n");
    let rows: Vec<&Table1Row> = ctx
        .table1
        .iter()
        .filter(|r| r.lg.is_some() && r.paper.is_some())
        .collect();
    if rows.is_empty() {
        md.push_str("No function has both lg runs and a figure in the paper to compare.\n\n");
        return;
    }
    md.push_str(
        "The paper ran each cell once, and a single run of these small networks can land \
         anywhere in a wide spread, so differences of about 2× from a single figure are \
         expected; what matters is whether the paper's figure lies within our spread over \
         seeds and whether the ordering holds.\n\n",
    );
    let (mut first, mut within) = (0, 0);
    for r in &rows {
        let (Some(lg), Some(paper)) = (&r.lg, &r.paper) else {
            continue;
        };
        let spread = format!(
            "median {} % (min–max {}–{} over {} runs)",
            md_pct(lg.median_pct_err),
            md_pct(lg.min_pct_err),
            md_pct(lg.max_pct_err),
            lg.runs
        );
        let versus = if lg.min_pct_err <= paper.lg_pct_err && paper.lg_pct_err <= lg.max_pct_err {
            within += 1;
            let side = if lg.median_pct_err < paper.lg_pct_err {
                "below"
            } else if lg.median_pct_err > paper.lg_pct_err {
                "above"
            } else {
                "equal to"
            };
            format!(
                "the paper's {} % is within our range (our median is {side} it)",
                md_pct(paper.lg_pct_err)
            )
        } else if lg.max_pct_err < paper.lg_pct_err {
            format!(
                "below the paper's {} % in every run",
                md_pct(paper.lg_pct_err)
            )
        } else {
            format!(
                "above the paper's {} % in every run",
                md_pct(paper.lg_pct_err)
            )
        };
        let ratio = lg.median_pct_err / paper.lg_pct_err;
        let far = if ratio.is_finite() && (0.5..=2.0).contains(&ratio) {
            String::new()
        } else if ratio.is_finite() {
            format!(" — {ratio:.1}× the paper's figure, more than the 2× a single run explains")
        } else {
            " — most runs have no finite score".to_string()
        };
        let rank = match r.lg_rank {
            Some(1) => {
                first += 1;
                format!("lg ranks first of {} pairs", r.pairs)
            }
            Some(n) => format!(
                "lg ranks {} of {} pairs (best: {} at {} %)",
                ordinal(n),
                r.pairs,
                r.best_baseline
                    .as_ref()
                    .map_or("?".to_string(), |b| b.pair.to_string()),
                r.best_baseline
                    .as_ref()
                    .map_or("?".to_string(), |b| md_pct(b.median_pct_err))
            ),
            None => "lg has no rank".to_string(),
        };
        let paper_next: Option<Pair> = paper.next_best_pair.parse().ok();
        let ranking = ctx.rankings.iter().find(|f| f.function == r.function);
        let next = match (&paper_next, &r.best_baseline, ranking) {
            (Some(p), Some(b), _) if *p == b.pair => format!(
                "the paper's next best, {p}, is also our best baseline ({} % against the \
                 paper's {} %)",
                md_pct(b.median_pct_err),
                md_pct(paper.next_best_pct_err)
            ),
            (Some(p), Some(b), Some(ranking)) => {
                let baselines: Vec<&PairStats> =
                    ranking.pairs.iter().filter(|s| !s.pair.is_lg()).collect();
                match baselines.iter().position(|s| s.pair == *p) {
                    Some(i) => format!(
                        "the paper's next best, {p}, is our {} baseline at {} % (the paper: \
                         {} %); our best baseline is {} at {} %",
                        ordinal(i + 1),
                        md_pct(baselines[i].median_pct_err),
                        md_pct(paper.next_best_pct_err),
                        b.pair,
                        md_pct(b.median_pct_err)
                    ),
                    None => format!(
                        "the paper's next best, {p}, was not run here; our best baseline is {} \
                         at {} %",
                        b.pair,
                        md_pct(b.median_pct_err)
                    ),
                }
            }
            _ => format!(
                "the paper's next best is {} at {} %; we have no baseline to compare",
                paper.next_best_pair,
                md_pct(paper.next_best_pct_err)
            ),
        };
        let _ = writeln!(
            md,
            "- {}: lg {spread} — {versus}{far}. Rank: {rank}; {next}.",
            md_function(&r.function)
        );
    }
    let _ = writeln!(
        md,
        "\nIn short: lg ranks first for {first} of {} functions, and the paper's lg figure lies \
         within our range over seeds for {within} of them.\n",
        rows.len()
    );
}

/// An embedded figure with a caption line linking both formats, or, when the figure was
/// skipped, the caption and why. `caption` is Markdown (code spans for functions, whose `*`
/// would otherwise start emphasis); `alt` is the same as plain text, already escaped.
fn figure_md(md: &mut String, ctx: &MdContext<'_>, stem: &str, caption: &str, alt: &str) {
    if let Some(why) = ctx.skipped.get(stem) {
        let _ = writeln!(md, "{caption}: not drawn, {}.\n", md_text(why));
        return;
    }
    let _ = writeln!(
        md,
        "![{alt}](figures/{stem}.svg)\n\n{caption} ({}, {})\n",
        md_link(&format!("figures/{stem}.svg"), "SVG"),
        md_link(&format!("figures/{stem}.png"), "PNG")
    );
}

/// [`figure_md`] for a caption of trusted text (no functions from records).
fn figure_md_plain(md: &mut String, ctx: &MdContext<'_>, stem: &str, caption: &str) {
    figure_md(md, ctx, stem, caption, caption);
}

fn md_figures(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str("## Figures\n\n### Data (Figs 1–2)\n\n");
    match ctx.data_source {
        Some(source) => {
            let _ = writeln!(
                md,
                "The inputs (left) and the target (right), {source}. Every input is uniform \
                 over its range; the test range lies entirely above the training range.\n"
            );
            figure_md_plain(md, ctx, "fig1-train-data", "Fig. 1: training data");
            figure_md_plain(md, ctx, "fig2-test-data", "Fig. 2: test data");
        }
        None => md.push_str("Not drawn (see the end of this report).\n\n"),
    }
    md.push_str("### Activations (Figs 3–4)\n\n");
    figure_md_plain(
        md,
        ctx,
        "fig3-symlog",
        "Fig. 3: symlog, sign(x)·ln(1+|x|) (eq. 1)",
    );
    figure_md_plain(
        md,
        ctx,
        "fig4-symexp",
        "Fig. 4: symexp, sign(x)·(e^|x|−1) (eq. 2)",
    );
    figure_md_plain(
        md,
        ctx,
        "activations",
        "All 13 activations over [-5, 5] (softmax of a one-unit layer is constant)",
    );
    let _ = writeln!(
        md,
        "### Training loss (Figs 7–8)\n\n\
         Training loss per epoch, median over seeds, for lg and the {LOSS_FIGURE_BASELINES} \
         other pairs with the lowest median final training loss (the paper's selection). A \
         low training loss with a high test error is overfitting to the training range.\n"
    );
    for (function, label, stem) in ctx.loss_figures {
        let (caption, alt) = match label {
            Some(l) => (
                format!("Fig. {l}: training loss, y = {}", md_function(function)),
                format!("Fig. {l}: training loss, y = {}", md_function_alt(function)),
            ),
            None => (
                format!("Training loss, y = {}", md_function(function)),
                format!("Training loss, y = {}", md_function_alt(function)),
            ),
        };
        figure_md(md, ctx, stem, &caption, &alt);
    }
    if ctx.loss_figures.len() < ctx.groups.len() {
        let _ = writeln!(
            md,
            "Figures for {} further functions are not drawn (at most {MAX_LOSS_FIGURES} per \
             report); their rankings are listed below.\n",
            ctx.groups.len() - ctx.loss_figures.len()
        );
    }
}

fn md_normaliser(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str(
        "## Normaliser study\n\n\
         Section II of the paper varies the normaliser N of x1·x2/N, x1·x2·x3/N and \
         x1·x2·x3·x4/N but reports only some cells; here is every cell with records (medians \
         of test % error over seeds; also in [normaliser.csv](normaliser.csv)).\n\n\
         | function | factors | N | lg % err | lg rank | best baseline | its % err |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut missing = Vec::new();
    for c in ctx.study {
        if c.ranking.is_none() {
            missing.push(md_function(&c.function));
            continue;
        }
        let (lg, rank) = match c.lg() {
            Some((rank, s)) => (md_pct(s.median_pct_err), rank.to_string()),
            None => ("no lg runs".to_string(), "—".to_string()),
        };
        let (best, best_pct) = match c.best_baseline() {
            Some(b) => (b.pair.to_string(), md_pct(b.median_pct_err)),
            None => ("—".to_string(), "—".to_string()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {lg} | {rank} | {best} | {best_pct} |",
            md_function(&c.function),
            c.n_factors,
            c.normaliser
        );
    }
    md.push('\n');
    if !missing.is_empty() {
        let _ = writeln!(md, "Missing (no records): {}.\n", missing.join(", "));
    }
    if ctx.has_study {
        figure_md_plain(
            md,
            ctx,
            "normaliser",
            "Median test % error against N: lg solid, best baseline (per cell) dashed",
        );
    }
}

fn md_rankings(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str(
        "## Full rankings\n\n\
         Every pair of each function, ranked by median test % error over seeds (a run without \
         a score counts as +∞; ties by pair name), with min, max, median MAE, median final \
         training loss, and the counts of runs, diverged runs and unscored runs:\n\n",
    );
    for ((r, slug), g) in ctx.rankings.iter().zip(ctx.slugs).zip(ctx.groups) {
        let best = r.pairs.first().map_or(String::new(), |p| {
            format!(
                "; best: {} at {} %",
                p.pair.label(),
                md_pct(p.median_pct_err)
            )
        });
        let _ = writeln!(
            md,
            "- {}: {} ({} pairs, {} runs{best})",
            md_function(&r.function),
            md_link(
                &format!("rankings/{slug}.csv"),
                &format!("rankings/{slug}.csv")
            ),
            r.pairs.len(),
            g.records.len()
        );
    }
    md.push('\n');
}

fn md_divergence(md: &mut String, ctx: &MdContext<'_>) {
    md.push_str("## Diverged and unscored runs\n\n");
    let total = ctx.records.len();
    let diverged = ctx.records.iter().filter(|r| r.diverged).count();
    let unscored_only = ctx
        .records
        .iter()
        .filter(|r| !r.diverged && score(r.test_pct_err).is_infinite())
        .count();
    if diverged == 0 && unscored_only == 0 {
        let _ = writeln!(
            md,
            "No run diverged and every run has a test score ({total} runs).\n"
        );
        return;
    }
    let _ = writeln!(
        md,
        "{diverged} of {total} runs diverged (the loss or a parameter became non-finite) and \
         {unscored_only} more finished training with a non-finite test score. They are kept: \
         each counts as +∞ in the medians, so a pair that fails in most seeds ranks last.\n\n\
         | pair | diverged | unscored, not diverged | runs | where (function: diverged/runs) |\n\
         | --- | --- | --- | --- | --- |"
    );
    // (diverged, unscored but not diverged, runs, where)
    let mut by_pair: BTreeMap<&Pair, (usize, usize, usize, Vec<String>)> = BTreeMap::new();
    for g in ctx.groups {
        for (pair, runs) in &g.by_pair {
            let d = runs.iter().filter(|r| r.diverged).count();
            let u = runs
                .iter()
                .filter(|r| !r.diverged && score(r.test_pct_err).is_infinite())
                .count();
            let entry = by_pair.entry(pair).or_default();
            entry.0 += d;
            entry.1 += u;
            entry.2 += runs.len();
            if d + u > 0 {
                let unscored = if u > 0 {
                    format!(" (+{u} unscored)")
                } else {
                    String::new()
                };
                entry.3.push(format!(
                    "{}: {d}/{}{unscored}",
                    md_function(&g.function),
                    runs.len()
                ));
            }
        }
    }
    let mut rows: Vec<_> = by_pair
        .into_iter()
        .filter(|(_, (d, u, _, _))| d + u > 0)
        .collect();
    rows.sort_by(|a, b| {
        (b.1.0 + b.1.1)
            .cmp(&(a.1.0 + a.1.1))
            .then_with(|| a.0.cmp(b.0))
    });
    for (pair, (d, u, runs, wher)) in rows {
        let _ = writeln!(
            md,
            "| {} | {d} | {u} | {runs} | {} |",
            pair.label(),
            capped_list(&wher)
        );
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{RECORD_SCHEMA, RunSpec};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "logexp-report-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A hand-made record: `pct` None means the run diverged in epoch 2.
    fn rec(function: &str, pair: &str, seed: u64, pct: Option<f64>) -> RunRecord {
        let scale = pct.unwrap_or(1.0);
        let diverged = pct.is_none();
        let train_loss = if diverged {
            vec![1000.0]
        } else {
            vec![1000.0, 100.0 * scale, 10.0 * scale]
        };
        RunRecord {
            schema: RECORD_SCHEMA,
            spec: RunSpec {
                seed,
                epochs: 3,
                n_train: 64,
                n_test: 32,
                ..RunSpec::paper(function, pair.parse().unwrap())
            },
            n_inputs: 2,
            n_params: 0,
            train_loss,
            train_mae: pct.map(|_| 1.0),
            train_pct_err: pct.map(|_| 1.0),
            test_mae: pct.map(|p| p * 10.0),
            test_pct_err: pct,
            diverged,
            diverged_at_epoch: diverged.then_some(2),
            wall_seconds: 0.0,
            logexp_version: "test".to_string(),
        }
    }

    fn fixture() -> Vec<RunRecord> {
        let mut v = Vec::new();
        let mut add = |f: &str, pair: &str, pcts: &[Option<f64>]| {
            for (seed, &p) in pcts.iter().enumerate() {
                v.push(rec(f, pair, seed as u64, p));
            }
        };
        // x1*x2: lg 10, 12, 20 -> median 12; sigmoid,relu median 9 beats it (lg rank 2).
        add("x1*x2", "lg", &[Some(12.0), Some(10.0), Some(20.0)]);
        add(
            "x1*x2",
            "relu,linear",
            &[Some(30.0), Some(25.0), Some(40.0)],
        );
        add("x1*x2", "elu,elu", &[Some(20.0), None, Some(22.0)]);
        add("x1*x2", "tanh,tanh", &[Some(5.0), Some(200.0), Some(300.0)]);
        add("x1*x2", "sigmoid,relu", &[Some(9.0), Some(8.0), Some(11.0)]);
        // x1*x2/10, two seeds: lg 8, 6 -> median 7; elu,linear and softplus,relu tie at 55
        // (name decides); relu,selu has one diverged run -> median inf, last.
        add("x1*x2/10", "lg", &[Some(8.0), Some(6.0)]);
        add("x1*x2/10", "relu,selu", &[Some(70.0), None]);
        add("x1*x2/10", "softplus,relu", &[Some(50.0), Some(60.0)]);
        add("x1*x2/10", "elu,linear", &[Some(55.0), Some(55.0)]);
        // The other paper functions, one seed each, lg first.
        for f in &PAPER_FUNCTIONS[2..] {
            add(f, "lg", &[Some(20.0)]);
            add(f, "selu,linear", &[Some(97.0)]);
        }
        // A function outside the paper, spelled with spaces.
        add("x1 + x2", "relu,relu", &[Some(1.0)]);
        v
    }

    fn csv_rows(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_embedded_paper_table_has_the_seven_functions_in_order() {
        let rows = paper_table1();
        let functions: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(functions, PAPER_FUNCTIONS);
        assert_eq!(rows[0].next_best_pair, "relu,linear");
        assert!(
            rows.iter()
                .all(|r| r.next_best_pair.parse::<Pair>().is_ok())
        );
        assert_eq!(rows[6].lg_mae, None);
    }

    #[test]
    fn medians_follow_the_ranking_rule() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[1.0, f64::INFINITY]), Some(f64::INFINITY));
        assert_eq!(median(&[1.0, 2.0, f64::INFINITY]), Some(2.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn slugs_are_safe_and_readable() {
        assert_eq!(slug("x1*x2"), "x1_x2");
        assert_eq!(slug("x1*x2*x3*x4/1000"), "x1_x2_x3_x4_div1000");
        assert_eq!(slug("x1 - 0.5"), "x1_minus_0p5");
        // Nothing readable left: a placeholder and the hash.
        assert!(slug("((").starts_with("function-"), "{}", slug("(("));
        assert!(
            slug(&"x1*".repeat(100))
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }

    /// The names docs/reproduce/ links to, written out by hand.
    #[test]
    fn the_paper_functions_keep_their_file_names() {
        let expected = [
            ("x1*x2", "x1_x2"),
            ("x1*x2/10", "x1_x2_div10"),
            ("x1*x2*x3", "x1_x2_x3"),
            ("x1*x2*x3/100", "x1_x2_x3_div100"),
            ("x1*x2*x3*x4", "x1_x2_x3_x4"),
            ("x1*x2*x3*x4/1000", "x1_x2_x3_x4_div1000"),
            ("x1*(x2+x3)+x4", "x1_x2_plus_x3_plus_x4"),
            ("x1*x2/100", "x1_x2_div100"),
            ("x1*x2/1000", "x1_x2_div1000"),
            ("x1*x2*x3/10", "x1_x2_x3_div10"),
            ("x1*x2*x3/1000", "x1_x2_x3_div1000"),
            ("x1*x2*x3*x4/10", "x1_x2_x3_x4_div10"),
            ("x1*x2*x3*x4/100", "x1_x2_x3_x4_div100"),
        ];
        for (f, name) in expected {
            assert_eq!(slug(f), name, "{f}");
        }
        assert_eq!(reproduce_functions().len(), expected.len());
    }

    /// Pairs of distinct functions whose readable forms collide.
    #[test]
    fn colliding_readable_forms_get_distinct_slugs() {
        let collide = [
            ["x1*x2", "(x1)*(x2)"],
            ["x1*x2*2", "x1*x2_2"],
            ["x1*(x2+x3)+x4", "x1*x2+x3+x4"],
            ["x1*(x2+x3)", "x1*x2+x3"],
            ["x1*0.5", "x1*0p5"],
            ["x1*x2", "x1**x2"],
        ];
        for [a, b] in collide {
            assert_ne!(slug(a), slug(b), "{a} vs {b}");
        }
        // Whitespace does not make another function.
        assert_eq!(slug("x1 * x2"), slug("x1*x2"));
        // Long functions get short names.
        let long = "x1*".repeat(1000) + "x2";
        assert!(slug(&long).len() <= MAX_SLUG_LEN);
        assert_ne!(slug(&long), slug(&("x1*".repeat(999) + "x2")));
    }

    fn safe_file_name(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_SLUG_LEN
            && !s.starts_with(['-', '.'])
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Distinct functions (whitespace aside) get distinct slugs, each a safe file name.
        #[test]
        fn slugs_are_unique_and_safe(
            a in "[x0-9*/+^().e _-]{0,24}|x[0-9]{1,2}([*/+^-](x[0-9]|[0-9]{1,3}(\\.[0-9])?)){0,6}",
            b in "[x0-9*/+^().e _-]{0,24}|x[0-9]{1,2}([*/+^-](x[0-9]|[0-9]{1,3}(\\.[0-9])?)){0,6}",
            c in "\\PC{0,12}",
        ) {
            for f in [&a, &b, &c] {
                let s = slug(f);
                proptest::prop_assert!(safe_file_name(&s), "{f:?} -> {s:?}");
            }
            for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
                if function_key(x) != function_key(y) {
                    proptest::prop_assert_ne!(slug(x), slug(y), "{:?} vs {:?}", x, y);
                }
            }
        }
    }

    /// Runs `write_report` on another thread and fails if it takes longer than `limit`.
    fn report_within(records: Vec<RunRecord>, dir: &Path, limit_secs: u64) -> ReportSummary {
        let (tx, rx) = std::sync::mpsc::channel();
        let out = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(write_report(&records, &out));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(limit_secs)) {
            Ok(result) => result.unwrap(),
            Err(_) => panic!("write_report did not finish within {limit_secs} s"),
        }
    }

    /// Deletes a directory when dropped, so a failing test leaves nothing behind either.
    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn colliding_functions_get_their_own_files() {
        let dir = TempDir(temp_dir("collide"));
        let functions = [
            "x1*x2",
            "(x1)*(x2)",
            "x1*x2*2",
            "x1*(x2+x3)",
            "x1*x2+x3",
            "x1*x2+x3*2",
        ];
        let records: Vec<RunRecord> = functions
            .iter()
            .map(|f| rec(f, "lg", 0, Some(10.0)))
            .collect();
        let summary = report_within(records, &dir.0, 120);
        let csvs: BTreeSet<&PathBuf> = summary.rankings.iter().map(|r| &r.csv).collect();
        assert_eq!(csvs.len(), functions.len(), "{csvs:?}");
        let files: BTreeSet<&PathBuf> = summary.files.iter().collect();
        assert_eq!(files.len(), summary.files.len(), "a file written twice");
        let loss_svgs = summary
            .files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "svg"))
            .filter(|p| {
                p.to_string_lossy().contains("/loss-") || p.to_string_lossy().contains("/fig7a-")
            })
            .count();
        assert_eq!(loss_svgs, functions.len());
    }

    /// Values at the ends of f64: the report finishes, skips what it cannot draw and says so.
    #[test]
    fn extreme_values_are_skipped_not_hung_on() {
        let dir = TempDir(temp_dir("extreme"));
        let extreme = |function: &str, seed, loss: Vec<f64>| RunRecord {
            spec: RunSpec {
                train_range: crate::data::Range::new(-17.0, 17.0).unwrap(),
                test_range: crate::data::Range::new(-17.0, 17.0).unwrap(),
                n_train: 200,
                n_test: 50,
                ..rec(function, "lg", seed, Some(1.0)).spec
            },
            train_loss: loss,
            test_pct_err: Some(1e307),
            test_mae: Some(f64::MAX),
            ..rec(function, "lg", seed, Some(1.0))
        };
        let records = vec![
            // First record: Figs 1-2 are drawn from it; its targets span about ±1.7e308.
            extreme("x1*1e307", 0, vec![f64::MAX, 1e307, 1e-307]),
            extreme("x1*1e307", 1, vec![-1e307, 1e307, f64::MAX]),
            extreme("x1*x2*1e300", 0, vec![5.0, 5.0, 5.0]),
            extreme("x1", 0, vec![f64::MAX; 3]),
            extreme("x1", 1, vec![f64::MIN_POSITIVE; 3]),
        ];
        let summary = report_within(records, &dir.0, 120);
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        assert!(
            md.contains("Fig. 1 (training data) not drawn")
                && md.contains("Fig. 2 (test data) not drawn"),
            "{md}"
        );
        assert!(md.contains("Fig. 1: training data: not drawn, "), "{md}");
        assert!(
            summary
                .notes
                .iter()
                .any(|n| n.contains("Fig. 1") && n.contains("wider than an f64 can hold"))
        );
        // No link to a figure that was not written.
        for part in md.split("](").skip(1) {
            let target = &part[..part.find(')').unwrap()];
            assert!(dir.0.join(target).is_file(), "broken link {target}");
        }
        for f in &summary.files {
            assert!(f.is_file(), "{}", f.display());
        }
    }

    /// Only the problem rows of a table count: a row's cells split at `|` not escaped by `\`.
    fn cells(row: &str) -> usize {
        let mut n = 0;
        let mut chars = row.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '|' => n += 1,
                _ => {}
            }
        }
        n
    }

    #[test]
    fn record_text_cannot_inject_into_report_md() {
        let dir = TempDir(temp_dir("inject"));
        let evil = "x1|x2`<script>alert(1)</script>`[a](b) *_\u{1b}[31m\nx3\u{202e}";
        let mut records = vec![
            rec(evil, "lg", 0, Some(10.0)),
            rec(evil, "relu,linear", 0, None),
            rec("x1*x2", "lg", 0, Some(10.0)),
        ];
        records[1].logexp_version = "0.1<b>bold</b>|\r\n# heading".to_string();
        let summary = report_within(records, &dir.0, 120);
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        assert!(
            !md.contains("<script") && !md.contains("<b>"),
            "raw HTML in report.md"
        );
        assert!(
            !md.chars().any(|c| c != '\n' && is_hidden_char(c)),
            "control characters in report.md"
        );
        assert!(!md.contains("\n# heading") && !md.contains("\nx3"));
        assert!(md.contains("U+001B\\[31m"), "the escape is shown, not sent");
        // Every table row has as many cells as its table's header.
        let mut header = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let n = cells(line);
                match header {
                    None => header = Some(n),
                    Some(h) => assert_eq!(n, h, "table row {line:?}"),
                }
            } else {
                header = None;
            }
        }
        // The function is still there, readably.
        assert!(
            md.contains("x1\\|x2\\`&lt;script&gt;alert(1)&lt;/script&gt;\\`"),
            "{md}"
        );
        // Figures' SVG must stay valid XML: no control characters there either.
        for f in summary
            .files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "svg"))
        {
            let svg = std::fs::read_to_string(f).unwrap();
            assert!(
                !svg.contains('\u{1b}') && !svg.contains("<script"),
                "{}",
                f.display()
            );
        }
        assert!(summary.notes.iter().all(|n| !n.chars().any(is_hidden_char)));
    }

    #[test]
    fn many_inputs_and_many_seeds_are_capped() {
        let dir = TempDir(temp_dir("caps"));
        // 40 inputs: Figs 1-2 show 16 of them.
        let wide = RunRecord {
            spec: RunSpec {
                n_train: 100_000,
                ..rec("x1*x40", "lg", 0, Some(1.0)).spec
            },
            ..rec("x1*x40", "lg", 0, Some(1.0))
        };
        let data = data_figures(&[&wide]).unwrap();
        assert_eq!(
            data.train.panels[0].series.len(),
            plot::MAX_HISTOGRAM_SERIES
        );
        assert!(data.train.panels[0].title.contains("x1-x16 of 40"));
        let values: usize = data.train.panels[0]
            .series
            .iter()
            .map(|s| s.values.len())
            .sum();
        assert_eq!(values, 16 * (HISTOGRAM_MAX_VALUES / 40));
        assert!(
            data.left_out
                .iter()
                .any(|n| n.contains("16 of the function's 40 inputs"))
        );

        // 20,000 seeds with scattered data seeds and 14 versions: every line stays short.
        let records: Vec<RunRecord> = (0..20_000u64)
            .map(|seed| {
                let mut r = rec("x1*x2", "lg", seed, Some(10.0));
                r.spec.data_seed = seed * 3;
                r.logexp_version = format!("0.{}", seed % 14);
                r
            })
            .collect();
        let summary = report_within(records, &dir.0, 300);
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        let longest = md.lines().map(str::len).max().unwrap();
        assert!(longest < 2_000, "a {longest}-byte line");
        assert!(md.contains("seeds 0-19999)"), "seeds as a range");
        assert!(md.contains("| data seed | 0, 3, 6, "));
        assert!(
            md.contains("… and 19988 more ranges (20000 distinct)"),
            "{md}"
        );
        assert!(md.contains("… and 2 more"), "versions capped");
    }

    #[test]
    fn the_report_matches_hand_computed_figures() {
        let dir = temp_dir("full");
        let mut records = fixture();
        // The same run read twice counts once.
        records.push(records[0].clone());
        // One x1*x2 lg run with other settings: grouped anyway, settings listed.
        records.push(RunRecord {
            spec: RunSpec {
                epochs: 5,
                seed: 9,
                ..records[0].spec.clone()
            },
            test_pct_err: Some(1000.0),
            test_mae: Some(10000.0),
            ..records[0].clone()
        });
        let summary = write_report(&records, &dir).unwrap();

        // Table I: the paper's seven functions in order, the complex one seventh.
        let functions: Vec<&str> = summary.table1.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(functions, PAPER_FUNCTIONS);
        let row = &summary.table1[0];
        let lg = row.lg.as_ref().unwrap();
        // lg x1*x2 runs: 12, 10, 20, 1000 -> median (12 + 20) / 2 = 16, min 10, max 1000.
        assert_eq!(lg.runs, 4);
        assert_eq!(
            (lg.median_pct_err, lg.min_pct_err, lg.max_pct_err),
            (16.0, 10.0, 1000.0)
        );
        // MAE is 10 x % error in the fixture: 100, 120, 200, 10000 -> 160.
        assert_eq!(lg.median_test_mae, 160.0);
        let best = row.best_baseline.as_ref().unwrap();
        assert_eq!(best.pair.to_string(), "sigmoid,relu");
        assert_eq!(best.median_pct_err, 9.0);
        assert_eq!(row.lg_rank, Some(2));
        assert_eq!(row.pairs, 5);
        assert_eq!(row.paper.as_ref().unwrap().lg_pct_err, 15.453791);

        let row = &summary.table1[1];
        let lg = row.lg.as_ref().unwrap();
        assert_eq!(
            (lg.median_pct_err, lg.min_pct_err, lg.max_pct_err),
            (7.0, 6.0, 8.0)
        );
        assert_eq!(
            row.best_baseline.as_ref().unwrap().pair.to_string(),
            "elu,linear"
        );
        assert_eq!(row.lg_rank, Some(1));
        assert_eq!(summary.table1[6].lg_rank, Some(1));

        // Ranking CSVs: order, medians and divergence counts.
        let rows = csv_rows(&dir.join("rankings/x1_x2_div10.csv"));
        let pairs: Vec<&str> = rows
            .iter()
            .map(|l| l.split('"').nth(1).unwrap_or(l))
            .collect();
        assert_eq!(
            pairs,
            ["symlog,symexp", "elu,linear", "softplus,relu", "relu,selu"]
        );
        assert_eq!(rows[3], "4,\"relu,selu\",inf,70,inf,inf,inf,2,1,1");
        let rows = csv_rows(&dir.join("rankings/x1_x2.csv"));
        assert_eq!(rows[0], "1,\"sigmoid,relu\",9,8,11,90,90,3,0,0");
        let elu = rows.iter().find(|l| l.contains("\"elu,elu\"")).unwrap();
        assert!(elu.ends_with(",3,1,1"), "{elu}");
        assert!(elu.starts_with("3,"), "{elu}");
        assert!(dir.join("rankings/x1_plus_x2.csv").exists());

        let table1 = std::fs::read_to_string(dir.join("table1.csv")).unwrap();
        assert_eq!(table1.lines().count(), 8);
        assert!(
            table1
                .lines()
                .nth(7)
                .unwrap()
                .starts_with("x1*(x2+x3)+x4,20,")
        );

        // Every figure in both formats, non-empty.
        let figures = [
            "fig1-train-data",
            "fig2-test-data",
            "fig3-symlog",
            "fig4-symexp",
            "activations",
            "fig7a-x1_x2",
            "fig7b-x1_x2_div10",
            "fig7c-x1_x2_x3",
            "fig7d-x1_x2_x3_div100",
            "fig7e-x1_x2_x3_x4",
            "fig7f-x1_x2_x3_x4_div1000",
            "fig8-x1_x2_plus_x3_plus_x4",
            "loss-x1_plus_x2",
            "normaliser",
        ];
        for stem in figures {
            for ext in ["svg", "png"] {
                let path = dir.join(format!("figures/{stem}.{ext}"));
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                assert!(len > 0, "{} missing or empty", path.display());
                assert!(summary.files.contains(&path), "{}", path.display());
            }
        }
        for f in &summary.files {
            assert!(f.exists(), "{}", f.display());
        }

        // report.md: every function, every link resolves, the mixed settings are stated.
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        for f in PAPER_FUNCTIONS.iter().chain(&["x1 + x2"]) {
            assert!(md.contains(&format!("`{f}`")), "{f} not in report.md");
        }
        let mut links = 0;
        for part in md.split("](").skip(1) {
            let target = &part[..part.find(')').unwrap()];
            assert!(dir.join(target).is_file(), "broken link {target}");
            links += 1;
        }
        assert!(links >= 2 * figures.len());
        assert!(md.contains("epochs 3, 5"), "mixed epochs not stated");
        assert!(md.contains("counted once"));
        // Divergence summary names the pairs that diverged.
        assert!(md.contains("| elu,elu | 1 | 0 | 3 |"), "{md}");
        assert!(md.contains("| relu,selu | 1 | 0 | 2 |"));
        // Comparison with the paper, generated from the numbers.
        assert!(md.contains("lg ranks 2nd of 5 pairs (best: sigmoid,relu at 9.00 %)"));
        assert!(md.contains("the paper's next best, relu,linear, is our 3rd baseline"));
        assert!(md.contains("the paper's next best, selu,linear, is also our best baseline"));
        // Normaliser: present cells listed, missing ones named.
        assert!(md.contains("| `x1*x2/10` | 2 | 10 | 7.00 | 1 | elu,linear | 55.00 |"));
        assert!(md.contains("`x1*x2/100`"));
        // No temporary files left.
        for sub in ["", "figures", "rankings"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                let name = e.unwrap().file_name();
                assert!(!name.to_string_lossy().contains(".tmp-"), "{name:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn real_runs_make_a_report() {
        let dir = temp_dir("real");
        let records: Vec<RunRecord> = ["lg", "relu,linear"]
            .iter()
            .flat_map(|pair| {
                (0..2).map(move |seed| {
                    crate::experiment::run(&RunSpec {
                        seed,
                        epochs: 2,
                        n_train: 64,
                        n_test: 32,
                        ..RunSpec::paper("x1*x2", pair.parse().unwrap())
                    })
                    .unwrap()
                })
            })
            .collect();
        let summary = write_report(&records, &dir).unwrap();
        assert_eq!(summary.table1.len(), 1);
        assert_eq!(summary.table1[0].lg.as_ref().unwrap().runs, 2);
        assert!(summary.notes.iter().any(|n| n.contains("x1*x2*x3/100")));
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        assert!(md.contains("| training rows (n_train) | 64 |"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_records_is_a_report_that_says_so() {
        let dir = temp_dir("empty");
        let summary = write_report(&[], &dir).unwrap();
        assert_eq!(summary.files, vec![summary.report_md.clone()]);
        assert!(summary.table1.is_empty());
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        assert!(md.contains("nothing to report"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hostile_records_give_a_report_not_a_panic() {
        let dir = temp_dir("hostile");
        let base = rec("x1*x2", "lg", 0, Some(10.0));
        let records = vec![
            // Chosen for Figs 1-2, but its ranges cannot be sampled.
            RunRecord {
                spec: RunSpec {
                    train_range: crate::data::Range {
                        low: 5.0,
                        high: 1.0,
                    },
                    n_train: 0,
                    epochs: usize::MAX,
                    ..base.spec.clone()
                },
                train_loss: vec![f64::NAN, f64::INFINITY, 1e300, 1e-300, -1.0],
                test_pct_err: Some(f64::NAN),
                test_mae: Some(f64::INFINITY),
                ..base.clone()
            },
            RunRecord {
                spec: RunSpec {
                    pair: "relu,linear,tanh".parse().unwrap(),
                    ..base.spec.clone()
                },
                train_loss: vec![],
                test_pct_err: Some(-5.0),
                ..base.clone()
            },
            RunRecord {
                spec: RunSpec {
                    function: "x1**".to_string(),
                    ..base.spec.clone()
                },
                train_loss: vec![0.0, 0.0],
                ..base.clone()
            },
            RunRecord {
                spec: RunSpec {
                    function: "  ".to_string(),
                    ..base.spec.clone()
                },
                diverged: true,
                diverged_at_epoch: None,
                ..base.clone()
            },
        ];
        let summary = write_report(&records, &dir).unwrap();
        assert!(summary.notes.iter().any(|n| n.contains("Figures 1-2")));
        let row = &summary.table1[0];
        assert_eq!(row.lg.as_ref().unwrap().median_pct_err, f64::INFINITY);
        assert_eq!(row.lg_rank, Some(2));
        for f in &summary.files {
            assert!(f.is_file(), "{}", f.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_out_dir_is_an_error() {
        let dir = temp_dir("unwritable");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = write_report(&fixture(), &file.join("out")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("a-file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
