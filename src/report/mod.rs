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

pub mod bench;
mod csv;
mod figures;
#[cfg(test)]
mod fixtures;
mod markdown;
pub mod recipes;
mod stats;
mod text;

pub use figures::MAX_LOSS_FIGURES;
pub use stats::{FunctionRanking, PairStats, PaperRow, Table1Row, paper_table1};
pub use text::{
    MAX_LISTED_VALUES, MAX_RECORD_TEXT_CHARS, MAX_SLUG_LEN, is_hidden_char, printable, slug,
};

use crate::error::Error;
use crate::experiment::RunRecord;
use crate::plot::{self, HistogramFigure, LineChart};
use csv::{normaliser_csv_text, ranking_csv, table1_csv_text};
use figures::{activation_figures, data_figures, figure_label, loss_chart, normaliser_chart};
use markdown::{MdContext, markdown};
use rayon::prelude::*;
use stats::{Group, dedup, group, normaliser_cells, rank, table1_rows};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The Markdown report.
    pub report_md: PathBuf,
    /// Every file written, `report.md` included.
    pub files: Vec<PathBuf>,
    /// Table I, one row per function of [`PAPER_FUNCTIONS`](crate::protocol::PAPER_FUNCTIONS)
    /// that has records, in that order.
    pub table1: Vec<Table1Row>,
    /// The ranking of every function with records.
    pub rankings: Vec<FunctionRanking>,
    /// What the report could not show and why (also stated in `report.md`).
    pub notes: Vec<String>,
}

/// Writes the report for `records` into `out_dir` (see the module documentation for the
/// files) and returns what it wrote.
///
/// Errors only when a directory or file cannot be created or written (or a figure cannot be
/// drawn); data it cannot use (no lg runs for a function, a function of the normaliser study
/// without records, data that cannot be re-sampled) is reported in `report.md` and in
/// [`ReportSummary::notes`] instead.
///
/// The files become visible together, when the report is complete (see
/// [`crate::output::Batch`]): an error or an interrupt leaves the previous report as it was.
pub fn write_report(records: &[RunRecord], out_dir: &Path) -> Result<ReportSummary, Error> {
    write_report_keeping(records, out_dir, &[])
}

/// [`write_report`], refusing to write over any of `inputs` (the results files the records
/// came from, each with the name to give in the error).
pub fn write_report_keeping(
    records: &[RunRecord],
    out_dir: &Path,
    inputs: &[(&Path, &str)],
) -> Result<ReportSummary, Error> {
    crate::output::write_directory(out_dir, inputs, |batch| {
        stage_report(records, out_dir, batch)
    })
}

fn stage_report(
    records: &[RunRecord],
    out_dir: &Path,
    batch: &crate::output::Batch,
) -> Result<ReportSummary, Error> {
    let figures_dir = out_dir.join("figures");
    let rankings_dir = out_dir.join("rankings");
    batch.create_directory(out_dir)?;
    for dir in [&figures_dir, &rankings_dir] {
        batch.create_own_directory(dir)?;
    }
    let report_md = out_dir.join("report.md");

    let (records, duplicates) = dedup(records);
    if records.is_empty() {
        let text = "# logexp report\n\nNo run records were given, so there is nothing to \
                    report. Produce records with a sweep (or `train --json`) and run the report \
                    on its results file.\n";
        batch.write_file(&report_md, text.as_bytes())?;
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
        batch.write_file(&csv, ranking_csv(&pairs).as_bytes())?;
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
    batch.write_file(&table1_csv, table1_csv_text(&table1).as_bytes())?;
    files.push(table1_csv);

    // Normaliser study.
    let study = normaliser_cells(&rankings);
    let normaliser_csv = out_dir.join("normaliser.csv");
    batch.write_file(&normaliser_csv, normaliser_csv_text(&study).as_bytes())?;
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
    // The bench of units: one strip plot per task.
    let bench = bench::bench_rows(&records);
    let bench_tasks = bench::tasks(&bench);
    for (k, task) in bench_tasks.iter().enumerate() {
        jobs.push((
            FigureJob::Line(bench::strip_chart(task)),
            format!("strip-{}", k + 1),
            format!("the strip plot of bench task {}", k + 1),
        ));
        jobs.push((
            FigureJob::Line(bench::loss_chart(task)),
            format!("bench-loss-{}", k + 1),
            format!("the loss figure of bench task {}", k + 1),
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
                FigureJob::Line(chart) => plot::stage_line_chart(chart, &stem, batch),
                FigureJob::Hist(figure) => plot::stage_histograms(figure, &stem, batch),
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
    let mut md = markdown(&ctx);
    if !bench.is_empty() {
        let bench_csv = out_dir.join("bench.csv");
        batch.write_file(&bench_csv, bench::bench_csv(&bench).as_bytes())?;
        files.push(bench_csv);
        let figure = |kind: &str, k: usize| {
            let stem = format!("{kind}-{}", k + 1);
            (!skipped.contains_key(&stem)).then(|| format!("figures/{stem}.svg"))
        };
        md.push_str(&bench::bench_markdown(&bench, &figure));
    }
    let peers = crate::peers::compare(&records);
    if !peers.is_empty() {
        md.push_str(&bench::peers_markdown(&peers));
    }
    batch.write_file(&report_md, md.as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::figures::HISTOGRAM_MAX_VALUES;
    use super::fixtures::*;
    use super::text::is_hidden_char;
    use super::*;
    use crate::experiment::RunSpec;
    use crate::protocol::PAPER_FUNCTIONS;
    use crate::test_dir::TempDir;
    use std::collections::BTreeSet;

    #[test]
    fn colliding_functions_get_their_own_files() {
        let dir = TempDir::new("collide");
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
        let summary = report_within(records, &dir, 120);
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
        let dir = TempDir::new("extreme");
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
        let summary = report_within(records, &dir, 120);
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
            assert!(dir.join(target).is_file(), "broken link {target}");
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
        let dir = TempDir::new("inject");
        let evil = "x1|x2`<script>alert(1)</script>`[a](b) *_\u{1b}[31m\nx3\u{202e}";
        let mut records = vec![
            rec(evil, "lg", 0, Some(10.0)),
            rec(evil, "relu,linear", 0, None),
            rec("x1*x2", "lg", 0, Some(10.0)),
        ];
        records[1].logexp_version = "0.1<b>bold</b>|\r\n# heading".to_string();
        let summary = report_within(records, &dir, 120);
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

    /// A jointly trained target's histogram shows one series per output, with that output's
    /// values, not the outputs pooled.
    #[test]
    fn a_joint_target_gets_a_target_series_per_output() {
        let joint = rec("x1+x2;x1*x2", "lg", 0, Some(1.0));
        let data = data_figures(&[&joint]).unwrap();
        let targets = &data.train.panels[1].series;
        let labels: Vec<&str> = targets.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["x1+x2", "x1*x2"]);
        let inputs = &data.train.panels[0].series;
        let (x1, x2) = (&inputs[0].values, &inputs[1].values);
        assert_eq!(targets[0].values.len(), x1.len());
        for r in 0..x1.len() {
            assert_eq!(targets[0].values[r], x1[r] + x2[r]);
            assert_eq!(targets[1].values[r], x1[r] * x2[r]);
        }
    }

    #[test]
    fn many_inputs_and_many_seeds_are_capped() {
        let dir = TempDir::new("caps");
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
        let summary = report_within(records, &dir, 300);
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
        let dir = TempDir::new("full");
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
    }

    #[test]
    fn real_runs_make_a_report() {
        let dir = TempDir::new("real");
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
        // The paper's runs are described as the paper's network.
        assert!(md.contains("Each run trains a dense network on one target function"));
    }

    #[test]
    fn no_records_is_a_report_that_says_so() {
        let dir = TempDir::new("empty");
        let summary = write_report(&[], &dir).unwrap();
        assert_eq!(summary.files, vec![summary.report_md.clone()]);
        assert!(summary.table1.is_empty());
        let md = std::fs::read_to_string(&summary.report_md).unwrap();
        assert!(md.contains("nothing to report"));
    }

    #[test]
    fn hostile_records_give_a_report_not_a_panic() {
        let dir = TempDir::new("hostile");
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
                    model: crate::experiment::ModelSpec::paper("relu,linear,tanh".parse().unwrap()),
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
                reinit_epochs: Vec::new(),
                solved_at_epoch: None,
                sparsity_error: None,
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
    }

    #[test]
    fn an_out_dir_through_a_file_is_refused_as_usage() {
        let dir = TempDir::new("unwritable");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = write_report(&fixture(), &file.join("out")).unwrap_err();
        assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
        assert!(err.is_usage());
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
