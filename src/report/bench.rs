//! The bench of units: for each function and pair of ranges, every unit model beside lg and
//! the best other dense network, with success rates over seeds (`bench.csv` and a section of
//! `report.md`). Written only when the records hold at least one unit model.
//!
//! A run *succeeds* when its test (extrapolation) mean % error is at most [`SUCCESS_PCT`]
//! (τ = 1 %); it is *exact* below [`EXACT_PCT`]. Diverged runs count as failures. Rates carry a
//! 95 % Wilson interval, as stable-nalu reports them. Runs measured on a schedule
//! ([`crate::experiment::RunSpec::solved_every`]) add when they were *solved* ([`SolvedAt`]):
//! a column and CSV fields that appear only when some record has a schedule.

use super::stats::{median, score};
use super::text::{function_key, md_pct, md_text};
use crate::experiment::{ModelSpec, RunRecord};
use std::collections::BTreeMap;
use std::fmt::Write;

pub use crate::metrics::SUCCESS_PCT;

/// Test % error below which a run counts as exact: 0.01 %, about what stable-nalu's
/// ε-perfect criterion (ε = 10⁻⁵ on every weight) allows on its product tasks.
pub const EXACT_PCT: f64 = 0.01;

/// One model on one task over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// The target function.
    pub function: String,
    /// Training range, `[low, high)`.
    pub train_range: String,
    /// Test range.
    pub test_range: String,
    /// The model as users write it, with its hidden widths where they are not the default.
    pub model: String,
    /// Runs (seeds).
    pub runs: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Median test % error (diverged runs count as infinite).
    pub median_pct_err: f64,
    /// Best test % error.
    pub best_pct_err: f64,
    /// Worst test % error (infinite if a run diverged).
    pub worst_pct_err: f64,
    /// Runs at or below [`SUCCESS_PCT`].
    pub success: usize,
    /// Runs below [`EXACT_PCT`].
    pub exact: usize,
    /// Mean seconds per run.
    pub seconds: f64,
    /// Every run's test % error, in record order (infinite for a diverged run).
    pub errors: Vec<f64>,
    /// Median sparsity error of the runs that have one (NAU, NMU layers).
    pub median_sparsity_error: Option<f64>,
    /// The median training loss per epoch over the runs (empty for closed-form fits).
    pub loss_curve: Vec<(f64, f64)>,
    /// When the runs were solved, if any of them was measured on a schedule.
    pub solved: Option<SolvedAt>,
}

/// When the runs of a [`BenchRow`] measured on a schedule ([`RunRecord::solved_at_epoch`])
/// first met the success criterion. Runs without a schedule are left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SolvedAt {
    /// Runs measured on a schedule.
    pub measured: usize,
    /// The epoch each solved run was solved at, in record order (unsolved runs have none).
    pub epochs: Vec<usize>,
    /// The schedules (measured every K epochs) of the measured runs, distinct and sorted.
    pub every: Vec<usize>,
}

impl SolvedAt {
    /// The runs' schedules and solved epochs, or `None` when none was measured on one.
    fn of(runs: &[&RunRecord]) -> Option<SolvedAt> {
        let measured: Vec<&RunRecord> = runs
            .iter()
            .copied()
            .filter(|r| r.spec.solved_every.is_some())
            .collect();
        if measured.is_empty() {
            return None;
        }
        let mut every: Vec<usize> = measured
            .iter()
            .filter_map(|r| r.spec.solved_every)
            .collect();
        every.sort_unstable();
        every.dedup();
        Some(SolvedAt {
            measured: measured.len(),
            epochs: measured.iter().filter_map(|r| r.solved_at_epoch).collect(),
            every,
        })
    }

    /// The median epoch of the solved runs, `None` when none was solved.
    pub fn median_epoch(&self) -> Option<f64> {
        median(&self.epochs.iter().map(|&e| e as f64).collect::<Vec<_>>())
    }

    /// The table cell: `median epoch (solved/measured)`, or `— (0/measured)`.
    fn cell(&self) -> String {
        let median = self
            .median_epoch()
            .map_or("—".to_string(), |m| m.to_string());
        format!("{median} ({}/{})", self.epochs.len(), self.measured)
    }
}

/// The rows of the bench, or none when no record holds a unit model.
pub(super) fn bench_rows(records: &[&RunRecord]) -> Vec<BenchRow> {
    if !records
        .iter()
        .any(|r| matches!(r.spec.model, ModelSpec::Units { .. }))
    {
        return Vec::new();
    }
    type Task = (String, String, String);
    let mut tasks: BTreeMap<Task, BTreeMap<String, Vec<&RunRecord>>> = BTreeMap::new();
    for &r in records {
        let task = (
            function_key(&r.spec.function),
            r.spec.train_range.to_string(),
            r.spec.test_range.to_string(),
        );
        tasks
            .entry(task)
            .or_default()
            .entry(r.spec.model.describe())
            .or_default()
            .push(r);
    }
    let mut rows = Vec::new();
    for ((_, train_range, test_range), models) in tasks {
        let mut task_rows: Vec<(bool, BenchRow)> = models
            .iter()
            .map(|(model, runs)| {
                let errors: Vec<f64> = runs.iter().map(|r| score(r.test_pct_err)).collect();
                let count = |ok: &dyn Fn(f64) -> bool| errors.iter().filter(|&&e| ok(e)).count();
                let dense_other = runs[0].spec.model.pair().is_some_and(|p| !p.is_lg());
                (
                    dense_other,
                    BenchRow {
                        function: runs[0].spec.function.clone(),
                        train_range: train_range.clone(),
                        test_range: test_range.clone(),
                        model: model.clone(),
                        runs: runs.len(),
                        diverged: runs.iter().filter(|r| r.diverged).count(),
                        median_pct_err: median(&errors).unwrap_or(f64::INFINITY),
                        best_pct_err: errors.iter().copied().fold(f64::INFINITY, f64::min),
                        worst_pct_err: errors.iter().copied().fold(0.0, f64::max),
                        success: count(&|e| e <= SUCCESS_PCT),
                        exact: count(&|e| e < EXACT_PCT),
                        seconds: runs.iter().map(|r| r.wall_seconds).sum::<f64>()
                            / runs.len() as f64,
                        errors: errors.clone(),
                        loss_curve: super::figures::median_loss_curve(runs),
                        median_sparsity_error: median(
                            &runs
                                .iter()
                                .filter_map(|r| r.sparsity_error)
                                .collect::<Vec<_>>(),
                        ),
                        solved: SolvedAt::of(runs),
                    },
                )
            })
            .collect();
        // Of the dense networks other than lg, only the best by median stays: the paper's own
        // tables rank all of them.
        let best_other = task_rows
            .iter()
            .filter(|(other, _)| *other)
            .map(|(_, r)| r.median_pct_err)
            .fold(f64::INFINITY, f64::min);
        let mut kept_other = false;
        task_rows.retain(|(other, r)| {
            if !*other {
                return true;
            }
            let keep = !kept_other && r.median_pct_err == best_other;
            kept_other |= keep;
            keep
        });
        let mut task_rows: Vec<BenchRow> = task_rows.into_iter().map(|(_, r)| r).collect();
        task_rows.sort_by(|a, b| {
            a.median_pct_err
                .total_cmp(&b.median_pct_err)
                .then_with(|| a.model.cmp(&b.model))
        });
        rows.extend(task_rows);
    }
    rows
}

/// The tasks of `rows` in order, each with its rows: one table and one strip plot per task.
pub(super) fn tasks(rows: &[BenchRow]) -> Vec<&[BenchRow]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=rows.len() {
        let same = |a: &BenchRow, b: &BenchRow| {
            a.function == b.function
                && a.train_range == b.train_range
                && a.test_range == b.test_range
        };
        if i == rows.len() || !same(&rows[i], &rows[start]) {
            out.push(&rows[start..i]);
            start = i;
        }
    }
    out
}

/// The strip plot of one task: every run's test % error (log scale) by model, one column of
/// points per model (spread a little sideways so equal errors stay visible), models in the
/// table's order. Diverged runs cannot be drawn and are counted in the table instead.
pub(super) fn strip_chart(task: &[BenchRow]) -> crate::plot::LineChart {
    use crate::plot::{Axis, LineChart, Series, Stroke};
    let first = &task[0];
    let series = task
        .iter()
        .take(crate::plot::MAX_SERIES)
        .enumerate()
        .map(|(m, row)| {
            let n = row.errors.len().max(1) as f64;
            Series {
                label: format!("{}. {}", m + 1, super::text::printable(&row.model, 40)),
                points: row
                    .errors
                    .iter()
                    .enumerate()
                    .map(|(b, &e)| ((m + 1) as f64 + 0.4 * (b as f64 / n - 0.5), e))
                    .collect(),
                stroke: Stroke::Points,
                colour: Some(m),
                ..Series::default()
            }
        })
        .collect();
    LineChart {
        title: format!(
            "test % error by model: {}, train {} → test {}",
            super::text::printable(&first.function, 40),
            first.train_range,
            first.test_range
        ),
        x: Axis {
            range: Some((0.5, task.len().min(crate::plot::MAX_SERIES) as f64 + 0.5)),
            ..Axis::linear("model (numbered as in the legend)")
        },
        y: Axis::log("test % error"),
        series,
    }
}

/// The training loss of one task: each model's median loss per epoch (log scale), models
/// fitted in closed form left out.
pub(super) fn loss_chart(task: &[BenchRow]) -> crate::plot::LineChart {
    use crate::plot::{Axis, LineChart, Series};
    let first = &task[0];
    LineChart {
        title: format!(
            "training loss by model (median over runs): {}, train {}",
            super::text::printable(&first.function, 40),
            first.train_range
        ),
        x: Axis::linear("epoch"),
        y: Axis::log("training loss"),
        series: task
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.loss_curve.is_empty())
            .take(crate::plot::MAX_SERIES)
            .map(|(m, r)| Series {
                colour: Some(m),
                ..Series::new(
                    format!("{}. {}", m + 1, super::text::printable(&r.model, 40)),
                    r.loss_curve.clone(),
                )
            })
            .collect(),
    }
}

/// The 95 % Wilson score interval of `k` successes in `n` trials, in percent.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 100.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    (
        100.0 * (centre - half).max(0.0),
        100.0 * (centre + half).min(1.0),
    )
}

/// Whether any row has runs measured on a solved-at schedule: only then do the table and the
/// CSV carry its column, so reports of records without one stay as they were.
fn any_solved(rows: &[BenchRow]) -> bool {
    rows.iter().any(|r| r.solved.is_some())
}

/// `bench.csv`: one line per row; with a solved-at schedule in some record, three more fields
/// (`solved_runs`, `measured_runs`, `median_solved_at_epoch`; empty where they do not apply).
pub(super) fn bench_csv(rows: &[BenchRow]) -> String {
    let with_solved = any_solved(rows);
    let mut out = String::from(
        "function,train_range,test_range,model,runs,diverged,median_test_pct_err,best_test_pct_err,worst_test_pct_err,success,success_pct_low95,success_pct_high95,exact,median_sparsity_error,mean_seconds",
    );
    out.push_str(if with_solved {
        ",solved_runs,measured_runs,median_solved_at_epoch\n"
    } else {
        "\n"
    });
    for r in rows {
        let (lo, hi) = wilson(r.success, r.runs);
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{lo:.1},{hi:.1},{},{},{:.4}",
            super::csv::csv_field(&r.function),
            super::csv::csv_field(&r.train_range),
            super::csv::csv_field(&r.test_range),
            super::csv::csv_field(&r.model),
            r.runs,
            r.diverged,
            r.median_pct_err,
            r.best_pct_err,
            r.worst_pct_err,
            r.success,
            r.exact,
            r.median_sparsity_error
                .map_or(String::new(), |e| e.to_string()),
            r.seconds
        );
        if with_solved {
            let _ = match &r.solved {
                Some(solved) => write!(
                    out,
                    ",{},{},{}",
                    solved.epochs.len(),
                    solved.measured,
                    solved
                        .median_epoch()
                        .map_or(String::new(), |m| m.to_string())
                ),
                None => write!(out, ",,,"),
            };
        }
        out.push('\n');
    }
    out
}

/// The bench section of `report.md`; `figure(stem, k)` is the path of task `k`'s figure
/// `stem` (`strip`, `bench-loss`), if it was drawn.
pub(super) fn bench_markdown(
    rows: &[BenchRow],
    figure: &dyn Fn(&str, usize) -> Option<String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Bench: units built to learn products\n");
    let _ = writeln!(
        out,
        "Every model on the same rows, metric and seeds. *Success*: test mean % error at most \
         τ = {SUCCESS_PCT} %, with its 95 % Wilson interval; *exact*: below {EXACT_PCT} %. \
         Diverged runs count as failures (and as an infinite error). *Sparsity error* \
         (stable-nalu's, median over runs): how far the worst NAU/NMU weight is from −1, 0 or \
         1. Of the dense networks other than lg only the best (by median) is shown. Also in \
         `bench.csv`.\n"
    );
    let with_solved = any_solved(rows);
    if with_solved {
        let mut every: Vec<usize> = rows
            .iter()
            .filter_map(|r| r.solved.as_ref())
            .flat_map(|s| s.every.iter().copied())
            .collect();
        every.sort_unstable();
        every.dedup();
        let every: Vec<String> = every.iter().map(usize::to_string).collect();
        let _ = writeln!(
            out,
            "*Solved at*: the first epoch, of those measured (every {} epochs and the last), whose \
             test % error is at most τ = {SUCCESS_PCT} % (0 for a closed-form fit); the median \
             over the solved runs, with solved / runs measured on a schedule (a run may be \
             solved at some measurement and end above τ).\n",
            every.join(" or ")
        );
    }
    for (k, task) in tasks(rows).into_iter().enumerate() {
        let first = &task[0];
        let _ = writeln!(
            out,
            "\n### {} — train {}, test {}\n",
            md_text(&first.function),
            md_text(&first.train_range),
            md_text(&first.test_range)
        );
        let (solved_head, solved_rule) = if with_solved {
            (" solved at (median epoch, solved/measured) |", " ---: |")
        } else {
            ("", "")
        };
        let _ = writeln!(
            out,
            "| model | runs | diverged | median test % error (min–max) | success (≤ {SUCCESS_PCT} %) | exact | sparsity error |{solved_head} s / run |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | --- | --- | ---: | ---: |{solved_rule} ---: |"
        );
        for r in task {
            let (lo, hi) = wilson(r.success, r.runs);
            let solved = if with_solved {
                format!(
                    " {} |",
                    r.solved.as_ref().map_or("—".to_string(), SolvedAt::cell)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} ({}–{}) | {}/{} ({:.0} %, 95 % CI {lo:.0}–{hi:.0}) | {}/{} | {} |{solved} {:.3} |",
                md_text(&r.model),
                r.runs,
                r.diverged,
                md_pct(r.median_pct_err),
                md_pct(r.best_pct_err),
                md_pct(r.worst_pct_err),
                r.success,
                r.runs,
                100.0 * r.success as f64 / r.runs.max(1) as f64,
                r.exact,
                r.runs,
                r.median_sparsity_error
                    .map_or("—".to_string(), |e| format!("{e:.2e}")),
                r.seconds
            );
        }
        if let Some(path) = figure("strip", k) {
            let _ = writeln!(out, "\n![test % error by model]({path})");
        }
        if let Some(path) = figure("bench-loss", k) {
            let _ = writeln!(out, "\n![training loss by model]({path})");
        }
    }
    out
}

/// The section comparing the peers' own tasks with their published numbers.
pub(super) fn peers_markdown(rows: &[crate::peers::Comparison]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## The peers' own tasks beside their published numbers\n"
    );
    let _ = writeln!(
        out,
        "Each task with the peer's protocol as far as logexp expresses it (see `src/peers.rs` \
         for the settings, where they come from and what differs), scored by the peer's own \
         criterion; success rates come with a 95 % Wilson interval.\n"
    );
    let _ = writeln!(
        out,
        "| task | criterion | model | runs | logexp | published | source |"
    );
    let _ = writeln!(out, "| --- | --- | --- | ---: | --- | --- | --- |");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md_text(r.task),
            md_text(&r.criterion),
            md_text(&r.model),
            r.runs,
            md_text(&r.ours),
            md_text(&r.published),
            md_text(r.source)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Pair;

    #[test]
    fn wilson_matches_published_intervals() {
        // stable-nalu reports NMU 98 % (+1/−5) over 100 seeds: 98/100 → [93.0, 99.4].
        let (lo, hi) = wilson(98, 100);
        assert!(
            (lo - 93.0).abs() < 0.1 && (hi - 99.4).abs() < 0.1,
            "{lo} {hi}"
        );
        // and NALU 0 % (+4/−0): 0/100 → [0, 3.7].
        let (lo, hi) = wilson(0, 100);
        assert!(lo.abs() < 1e-9 && (hi - 3.7).abs() < 0.1, "{lo} {hi}");
    }

    fn record(model: ModelSpec, seed: u64, pct: Option<f64>) -> RunRecord {
        let mut r = super::super::fixtures::rec("x1*x2", "lg", seed, pct);
        r.spec.model = model;
        r
    }

    #[test]
    fn rows_count_successes_and_keep_only_the_best_other_dense_network() {
        let nmu = ModelSpec::preset("nmu").unwrap();
        let relu = ModelSpec::paper("relu,linear".parse().unwrap());
        let tanh = ModelSpec::paper("tanh,linear".parse().unwrap());
        let lg = ModelSpec::paper(Pair::lg());
        let records = [
            record(nmu.clone(), 0, Some(0.001)),
            record(nmu.clone(), 1, Some(0.5)),
            record(nmu.clone(), 2, None),
            record(lg.clone(), 0, Some(8.0)),
            record(relu.clone(), 0, Some(40.0)),
            record(tanh.clone(), 0, Some(90.0)),
        ];
        let refs: Vec<&RunRecord> = records.iter().collect();
        let rows = bench_rows(&refs);
        let models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
        assert_eq!(models, ["nau,nmu", "lg", "relu,linear"]);
        let nmu_row = &rows[0];
        assert_eq!(
            (
                nmu_row.runs,
                nmu_row.diverged,
                nmu_row.exact,
                nmu_row.success
            ),
            (3, 1, 1, 2)
        );
        assert_eq!(nmu_row.worst_pct_err, f64::INFINITY);
        assert_eq!(nmu_row.median_pct_err, 0.5);
        // Without unit models there is no bench.
        let dense_only: Vec<&RunRecord> = records[3..].iter().collect();
        assert!(bench_rows(&dense_only).is_empty());
        let md = bench_markdown(&rows, &|stem, k| {
            Some(format!("figures/{stem}-{}.svg", k + 1))
        });
        assert!(md.contains("(figures/bench-loss-1.svg)"), "{md}");
        assert_eq!(loss_chart(tasks(&rows)[0]).series.len(), 3);
        assert!(md.contains("(figures/strip-1.svg)"), "{md}");
        let chart = strip_chart(tasks(&rows)[0]);
        assert_eq!(chart.series.len(), 3);
        // nau,nmu's three runs sit around x = 1, the diverged one at an infinite error.
        let xs: Vec<f64> = chart.series[0].points.iter().map(|p| p.0).collect();
        assert!(xs.iter().all(|x| (0.79..=1.21).contains(x)), "{xs:?}");
        assert!(chart.series[0].points.iter().any(|p| p.1.is_infinite()));
        assert!(md.contains("| nau,nmu | 3 | 1 |"), "{md}");
        assert!(bench_csv(&rows).lines().count() == 4);
        // No record measured on a schedule: no solved-at column, field or sentence.
        assert!(rows.iter().all(|r| r.solved.is_none()));
        assert!(!md.contains("olved"), "{md}");
        assert!(!bench_csv(&rows).contains("solved"));
    }

    #[test]
    fn solved_at_is_the_median_of_the_solved_runs_with_their_count() {
        let nmu = ModelSpec::preset("nmu").unwrap();
        let measured = |seed, every, at| {
            let mut r = record(nmu.clone(), seed, Some(0.5));
            r.spec.solved_every = Some(every);
            r.solved_at_epoch = at;
            r
        };
        let records = [
            measured(0, 10, Some(30)),
            measured(1, 10, Some(50)),
            measured(2, 5, None),
            // Not measured: left out of the count.
            record(nmu.clone(), 3, Some(0.5)),
            record(ModelSpec::paper(Pair::lg()), 0, Some(8.0)),
        ];
        let refs: Vec<&RunRecord> = records.iter().collect();
        let rows = bench_rows(&refs);
        assert_eq!(
            rows[0].solved,
            Some(SolvedAt {
                measured: 3,
                epochs: vec![30, 50],
                every: vec![5, 10],
            })
        );
        assert_eq!(rows[1].solved, None);
        let md = bench_markdown(&rows, &|_, _| None);
        assert!(md.contains("(every 5 or 10 epochs and the last)"), "{md}");
        assert!(
            md.contains("| sparsity error | solved at (median epoch, solved/measured) | s / run |"),
            "{md}"
        );
        assert!(md.contains("| 40 (2/3) | 0.000 |"), "{md}");
        assert!(md.contains("| — | 0.000 |"), "{md}");
        let csv = bench_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].ends_with(",mean_seconds,solved_runs,measured_runs,median_solved_at_epoch"),
            "{csv}"
        );
        assert!(lines[1].ends_with(",0.0000,2,3,40"), "{csv}");
        assert!(lines[2].ends_with(",0.0000,,,"), "{csv}");
        // None solved: a dash and the count.
        let unsolved = [measured(0, 10, None)];
        let rows = bench_rows(&unsolved.iter().collect::<Vec<_>>());
        assert!(bench_markdown(&rows, &|_, _| None).contains("| — (0/1) |"));
        assert!(bench_csv(&rows).lines().nth(1).unwrap().ends_with(",0,1,"));
    }
}
