//! The report of `reproduce recipes` ([`crate::study`]): the ablation of training recipes for
//! lg and the "When does lg help?" table, from run records alone.
//!
//! Records are grouped by their *settings label* ([`settings_label`]), written from the
//! record's own fields (the recipe it started from and what differs from that recipe), so the
//! rows say exactly what was run whatever produced the records. Records of a function and
//! ranges listed in [`crate::study::FAMILIES`] go to the families table, the others to the
//! ablation tables, one per (training range, test range).
//!
//! | file | contents |
//! | --- | --- |
//! | `report.md` | the tables, the figures, the protocol |
//! | `recipes.csv` | one row per (ranges, settings, function) of the ablation |
//! | `families.csv` | one row per (family, model) |
//! | `figures/recipes-cost-K` | median % error against seconds per run, one point per settings, ranges K |

use super::bench::{SUCCESS_PCT, wilson};
use super::stats::{median, score};
use super::text::{function_key, md_pct, md_text, printable};
use crate::error::Error;
use crate::experiment::{RunRecord, RunSpec};
use crate::plot::{self, Axis, LineChart, Series, Stroke};
use std::fmt::Write;
use std::path::Path;

/// The training settings of a run in words: the recipe it started from, then what differs from
/// that recipe (`paper`, `paper + 1000 epochs`, `lg-relative-cosine + mae loss, lr 0.001`),
/// with the model first when it is not lg.
///
/// ```
/// use logexp::experiment::{Pair, RunSpec};
/// use logexp::report::recipes::settings_label;
/// let spec = RunSpec { epochs: 1000, ..RunSpec::paper("x1*x2", Pair::lg()) };
/// assert_eq!(settings_label(&spec), "paper + 1000 epochs");
/// ```
pub fn settings_label(spec: &RunSpec) -> String {
    let base = spec.recipe.settings();
    let mut parts = Vec::new();
    if spec.epochs != base.epochs {
        parts.push(format!("{} epochs", spec.epochs));
    }
    if spec.loss != base.loss {
        parts.push(format!("{} loss", spec.loss));
    }
    if spec.lr != base.lr {
        parts.push(format!("lr {}", spec.lr));
    }
    if spec.lr_schedule != base.lr_schedule {
        parts.push(format!("{} rate", spec.lr_schedule));
    }
    if spec.warmup != base.warmup {
        parts.push(format!("warm-up {}", spec.warmup));
    }
    if spec.batch_size != base.batch_size {
        parts.push(format!("batch {}", spec.batch_size));
    }
    if spec.target_scale != base.target_scale {
        parts.push(match spec.target_scale {
            crate::experiment::TargetScale::None => "no target scale".to_string(),
            crate::experiment::TargetScale::Loglinear => "loglinear target scale".to_string(),
        });
    }
    if spec.average_last != base.average_last {
        parts.push(format!("average of last {} epochs", spec.average_last));
    }
    if spec.input_scale != base.input_scale {
        parts.push(match spec.input_scale {
            crate::experiment::InputScale::None => "no input scale".to_string(),
            crate::experiment::InputScale::Geometric => "geometric input scale".to_string(),
        });
    }
    let paper = RunSpec::paper("", crate::experiment::Pair::lg());
    if spec.optimizer != paper.optimizer {
        parts.push(format!("{}", spec.optimizer));
    }
    let mut label = spec.recipe.name().to_string();
    if !parts.is_empty() {
        label = format!("{label} + {}", parts.join(", "));
    }
    let model = spec.model.describe();
    if model != "lg" {
        label = format!("{model} · {label}");
    }
    label
}

/// One settings label on one function and pair of ranges, over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Training range.
    pub train_range: String,
    /// Test range.
    pub test_range: String,
    /// [`settings_label`] of the runs.
    pub settings: String,
    /// The function, as first written in the records.
    pub function: String,
    /// Runs (seeds).
    pub runs: usize,
    /// Runs that diverged (counted as infinite error).
    pub diverged: usize,
    /// Median test % error.
    pub median_pct_err: f64,
    /// Worst test % error.
    pub max_pct_err: f64,
    /// Runs with test % error at most τ ([`SUCCESS_PCT`]).
    pub success: usize,
    /// Mean seconds per run.
    pub seconds: f64,
}

/// Groups `records` into cells, in the order their keys first appear.
fn cells<'a>(records: impl Iterator<Item = &'a RunRecord>) -> Vec<Cell> {
    let mut keys: Vec<(String, String, String, String)> = Vec::new();
    let mut runs: Vec<Vec<&RunRecord>> = Vec::new();
    for r in records {
        let key = (
            r.spec.train_range.to_string(),
            r.spec.test_range.to_string(),
            settings_label(&r.spec),
            function_key(&r.spec.function),
        );
        match keys.iter().position(|k| *k == key) {
            Some(i) => runs[i].push(r),
            None => {
                keys.push(key);
                runs.push(vec![r]);
            }
        }
    }
    keys.into_iter()
        .zip(runs)
        .map(|((train_range, test_range, settings, _), runs)| {
            let errors: Vec<f64> = runs.iter().map(|r| score(r.test_pct_err)).collect();
            Cell {
                train_range,
                test_range,
                settings,
                function: runs[0].spec.function.clone(),
                runs: runs.len(),
                diverged: runs
                    .iter()
                    .filter(|r| r.diverged_at_epoch.is_some())
                    .count(),
                median_pct_err: median(&errors).unwrap_or(f64::INFINITY),
                max_pct_err: errors.iter().copied().fold(0.0, f64::max),
                success: errors.iter().filter(|&&e| e <= SUCCESS_PCT).count(),
                seconds: runs.iter().map(|r| r.wall_seconds).sum::<f64>() / runs.len() as f64,
            }
        })
        .collect()
}

/// Sorts cells into the order the study plans them (ranges, then settings rows, then
/// functions), whatever order a resumed results file holds them in; cells the study does not
/// plan keep their first-appearance order after those it does.
fn in_study_order(cells: &mut [Cell]) {
    let planned: Vec<RunSpec> = crate::study::ablation_grids(1)
        .iter()
        .chain(crate::study::family_grids(1).iter())
        .flat_map(|g| g.specs())
        .collect();
    let ranges = distinct(
        planned
            .iter()
            .map(|s| (s.train_range.to_string(), s.test_range.to_string())),
    );
    let settings = distinct(planned.iter().map(settings_label));
    let functions = distinct(planned.iter().map(|s| function_key(&s.function)));
    cells.sort_by_key(|c| {
        (
            rank(&ranges, &(c.train_range.clone(), c.test_range.clone())),
            rank(&settings, &c.settings),
            rank(&functions, &function_key(&c.function)),
        )
    });
}

/// Where `item` stands in `items`; unknown items after every known one.
fn rank<T: PartialEq>(items: &[T], item: &T) -> usize {
    items.iter().position(|x| x == item).unwrap_or(usize::MAX)
}

/// Items in first-appearance order without repeats.
fn distinct<T: PartialEq + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The median over a settings row of the functions' median % errors.
fn row_median(cells: &[&Cell]) -> f64 {
    let medians: Vec<f64> = cells.iter().map(|c| c.median_pct_err).collect();
    median(&medians).unwrap_or(f64::INFINITY)
}

/// What [`write_recipes_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipesReport {
    /// The Markdown report.
    pub report_md: std::path::PathBuf,
    /// Every file written, `report.md` first.
    pub files: Vec<std::path::PathBuf>,
    /// The ablation's cells.
    pub ablation: Vec<Cell>,
    /// The families' cells (settings label per model).
    pub families: Vec<Cell>,
    /// Figures that could not be drawn, with the reason.
    pub notes: Vec<String>,
}

/// Writes the recipes report for `records` into `out_dir` (see the module documentation).
///
/// Like [`super::write_report`], the files become visible together when the report is complete.
pub fn write_recipes_report(records: &[RunRecord], out_dir: &Path) -> Result<RecipesReport, Error> {
    write_recipes_report_keeping(records, out_dir, &[])
}

/// [`write_recipes_report`], refusing to write over any of `inputs` (see
/// [`super::write_report_keeping`]).
pub fn write_recipes_report_keeping(
    records: &[RunRecord],
    out_dir: &Path,
    inputs: &[(&Path, &str)],
) -> Result<RecipesReport, Error> {
    crate::output::write_directory(out_dir, inputs, |batch| {
        stage_recipes_report(records, out_dir, batch)
    })
}

fn stage_recipes_report(
    records: &[RunRecord],
    out_dir: &Path,
    batch: &crate::output::Batch,
) -> Result<RecipesReport, Error> {
    let figures_dir = out_dir.join("figures");
    batch.create_directory(out_dir)?;
    batch.create_own_directory(&figures_dir)?;
    let is_family = |r: &&RunRecord| {
        crate::study::family_of(&r.spec.function, r.spec.train_range, r.spec.test_range).is_some()
    };
    let mut ablation = cells(records.iter().filter(|r| !is_family(r)));
    let mut families = cells(records.iter().filter(is_family));
    in_study_order(&mut ablation);
    in_study_order(&mut families);
    let mut files = Vec::new();
    let mut notes = Vec::new();

    let ranges = distinct(
        ablation
            .iter()
            .map(|c| (c.train_range.clone(), c.test_range.clone())),
    );
    let mut md = String::new();
    md.push_str("# logexp: training recipes for lg\n\n");
    md.push_str(
        "What makes the paper's symlog,symexp network (`lg`, dense 16,12) extrapolate? Each \
         row of the ablation is one set of training settings, named by the recipe it starts \
         from and what it changes (`logexp::recipe`); each cell is the median / max over the \
         seeds of the test (extrapolation) % error. Every setting is fixed in advance and the \
         same for every function: nothing is chosen on the test range.\n\n",
    );
    let _ = writeln!(
        md,
        "A run succeeds at τ = {SUCCESS_PCT} %; a diverged run counts as ∞. Seconds are \
         wall time per run on the machine that ran it (one run per thread).\n"
    );
    for (k, (train, test)) in ranges.iter().enumerate() {
        let here: Vec<&Cell> = ablation
            .iter()
            .filter(|c| &c.train_range == train && &c.test_range == test)
            .collect();
        let functions = distinct(here.iter().map(|c| function_key(&c.function)));
        let settings = distinct(here.iter().map(|c| c.settings.clone()));
        let _ = writeln!(md, "## Ablation: train {train} → test {test}\n");
        let mut header = String::from("| settings |");
        let mut rule = String::from("| --- |");
        for f in &functions {
            let _ = write!(header, " {} |", md_text(&printable(f, 40)));
            rule.push_str(" --- |");
        }
        header.push_str(" median of medians | functions ≤ 1 % | seeds ≤ 1 % | s / run |");
        rule.push_str(" --- | --- | --- | --- |");
        let _ = writeln!(md, "{header}\n{rule}");
        let mut points = Vec::new();
        for s in &settings {
            let row: Vec<&Cell> = here.iter().copied().filter(|c| &c.settings == s).collect();
            let mut line = format!("| {} |", md_text(s));
            for f in &functions {
                match row.iter().find(|c| &function_key(&c.function) == f) {
                    Some(c) => {
                        let _ = write!(
                            line,
                            " {} / {} |",
                            md_pct(c.median_pct_err),
                            md_pct(c.max_pct_err)
                        );
                    }
                    None => line.push_str(" — |"),
                }
            }
            let below = row.iter().filter(|c| c.median_pct_err <= 1.0).count();
            let success: usize = row.iter().map(|c| c.success).sum();
            let total: usize = row.iter().map(|c| c.runs).sum();
            let seconds =
                row.iter().map(|c| c.seconds * c.runs as f64).sum::<f64>() / total.max(1) as f64;
            let _ = writeln!(
                line,
                " {} | {below} of {} | {success} of {total} | {seconds:.2} |",
                md_pct(row_median(&row)),
                row.len()
            );
            md.push_str(&line);
            points.push((s.clone(), seconds, row_median(&row)));
        }
        md.push('\n');
        let stem = format!("recipes-cost-{}", k + 1);
        let chart = cost_chart(&points, train, test);
        match plot::stage_line_chart(&chart, &figures_dir.join(&stem), batch)? {
            plot::Drawn::Files(paths) => {
                files.extend(paths);
                let _ = writeln!(
                    md,
                    "![median % error against seconds per run, one marker per row above, coloured by the recipe the row starts from](figures/{stem}.svg)\n"
                );
            }
            plot::Drawn::Skipped(why) => {
                let _ = writeln!(
                    md,
                    "(The figure of error against cost is not drawn: {why}.)\n"
                );
                notes.push(format!("{stem} not drawn: {why}"));
            }
        }
    }
    if !families.is_empty() {
        md.push_str(&families_markdown(&families));
    }
    let recipes_csv = out_dir.join("recipes.csv");
    batch.write_file(&recipes_csv, cells_csv(&ablation, false).as_bytes())?;
    files.push(recipes_csv);
    let families_csv = out_dir.join("families.csv");
    batch.write_file(&families_csv, cells_csv(&families, true).as_bytes())?;
    files.push(families_csv);
    let report_md = out_dir.join("report.md");
    batch.write_file(&report_md, md.as_bytes())?;
    files.insert(0, report_md.clone());
    Ok(RecipesReport {
        report_md,
        files,
        ablation,
        families,
        notes,
    })
}

/// Median % error (over functions) against seconds per run: one marker per settings row, one
/// colour per recipe the rows start from (the legend would not hold one entry per row).
fn cost_chart(points: &[(String, f64, f64)], train: &str, test: &str) -> LineChart {
    let base = |label: &str| label.split(" + ").next().unwrap_or(label).to_string();
    let recipes = distinct(points.iter().map(|(label, _, _)| base(label)));
    LineChart {
        title: format!("lg: error against cost, train {train} → test {test}"),
        x: Axis::log("seconds per run"),
        y: Axis::log("median over functions of the median test % error"),
        series: recipes
            .iter()
            .take(plot::MAX_SERIES)
            .enumerate()
            .map(|(i, recipe)| Series {
                label: format!("{} and its variants", printable(recipe, 40)),
                points: points
                    .iter()
                    .filter(|(label, _, _)| &base(label) == recipe)
                    .map(|&(_, seconds, error)| (seconds, error))
                    .collect(),
                stroke: Stroke::Points,
                colour: Some(i),
                ..Series::default()
            })
            .collect(),
    }
}

/// The families table: one row per family, one column per model and settings.
fn families_markdown(families: &[Cell]) -> String {
    let mut md = String::from("## When does lg help?\n\n");
    md.push_str(
        "One function per kind of multiplicative law; each cell is the median test % error \
         and the seeds at or below τ = 1 %. The ranges are the paper's ([10, 100) → \
         [100, 1000)) except for the negative inputs.\n\n",
    );
    let columns = distinct(families.iter().map(|c| c.settings.clone()));
    let rows = distinct(families.iter().map(|c| {
        (
            function_key(&c.function),
            c.train_range.clone(),
            c.test_range.clone(),
        )
    }));
    let mut header = String::from("| family | function | train → test |");
    let mut rule = String::from("| --- | --- | --- |");
    for c in &columns {
        // Labels name the model only when it is not lg; in this table every column is a model.
        let named = if c.contains(" · ") {
            c.clone()
        } else {
            format!("lg · {c}")
        };
        let _ = write!(header, " {} |", md_text(&named));
        rule.push_str(" --- |");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for (function, train, test) in &rows {
        let here: Vec<&Cell> = families
            .iter()
            .filter(|c| {
                &function_key(&c.function) == function
                    && &c.train_range == train
                    && &c.test_range == test
            })
            .collect();
        let family = crate::study::FAMILIES
            .iter()
            .find(|f| f.function == function && f.train.to_string() == *train)
            .map_or("", |f| f.name);
        let _ = write!(
            md,
            "| {} | {} | {train} → {test} |",
            md_text(family),
            md_text(&printable(function, 40))
        );
        for column in &columns {
            match here.iter().find(|c| &c.settings == column) {
                Some(c) => {
                    let (lo, hi) = wilson(c.success, c.runs);
                    let _ = write!(
                        md,
                        " {} ({}/{}, CI {:.0}–{:.0} %) |",
                        md_pct(c.median_pct_err),
                        c.success,
                        c.runs,
                        lo,
                        hi
                    );
                }
                None => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

/// CSV of cells; `with_family` adds a first column with the family's name.
fn cells_csv(cells: &[Cell], with_family: bool) -> String {
    let mut out = String::new();
    if with_family {
        out.push_str("family,");
    }
    out.push_str(
        "train_range,test_range,settings,function,runs,diverged,median_pct_err,max_pct_err,success,seconds_per_run\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for c in cells {
        if with_family {
            let name = crate::study::FAMILIES
                .iter()
                .find(|f| {
                    f.function == function_key(&c.function) && f.train.to_string() == c.train_range
                })
                .map_or("", |f| f.name);
            let _ = write!(out, "{},", quote(name));
        }
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{:.4}",
            quote(&c.train_range),
            quote(&c.test_range),
            quote(&c.settings),
            quote(&c.function),
            c.runs,
            c.diverged,
            c.median_pct_err,
            c.max_pct_err,
            c.success,
            c.seconds
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::rec;
    use super::*;
    use crate::recipe::Recipe;
    use crate::test_dir::TempDir;
    use crate::train::{Loss, LrSchedule};

    /// `r` with the paper's epochs (the fixture's are 3), then `f` applied.
    fn with(mut r: RunRecord, f: impl FnOnce(&mut RunSpec), seconds: f64) -> RunRecord {
        r.spec.epochs = 100;
        f(&mut r.spec);
        r.wall_seconds = seconds;
        r
    }

    #[test]
    fn labels_name_the_recipe_and_what_differs_from_it() {
        let paper = RunSpec::paper("x1*x2", crate::experiment::Pair::lg());
        assert_eq!(settings_label(&paper), "paper");
        let recipe = crate::study::ABLATION
            .iter()
            .find(|c| c.name == "recipe, mae loss")
            .unwrap()
            .apply(&paper);
        assert_eq!(settings_label(&recipe), "lg-relative-cosine + mae loss");
        let relu = RunSpec {
            lr_schedule: LrSchedule::Cosine,
            warmup: 10,
            ..RunSpec::paper("x1*x2", "relu,linear".parse().unwrap())
        };
        assert_eq!(
            settings_label(&relu),
            "relu,linear · paper + cosine rate, warm-up 10"
        );
    }

    #[test]
    fn the_report_tables_medians_maxima_and_families_by_settings() {
        let mut records = Vec::new();
        // Paper settings: x1*x2 errors 4, 6, 8 (median 6, max 8); x1*x2/10 errors 0.5, 0.7,
        // diverged (median 0.7, max ∞).
        for (seed, pct) in [4.0, 6.0, 8.0].into_iter().enumerate() {
            records.push(with(
                rec("x1*x2", "lg", seed as u64, Some(pct)),
                |_| {},
                0.1,
            ));
        }
        for (seed, pct) in [Some(0.5), Some(0.7), None].into_iter().enumerate() {
            records.push(with(rec("x1*x2/10", "lg", seed as u64, pct), |_| {}, 0.1));
        }
        // The recipe: x1*x2 errors 0.2, 0.9, 3.0 (median 0.9, max 3).
        for (seed, pct) in [0.2, 0.9, 3.0].into_iter().enumerate() {
            let recipe = |s: &mut RunSpec| {
                s.recipe = Recipe::LgRelativeCosine;
                s.epochs = 1000;
                s.loss = Loss::Relative;
                s.lr = 3e-3;
                s.lr_schedule = LrSchedule::Cosine;
            };
            records.push(with(
                rec("x1*x2", "lg", seed as u64, Some(pct)),
                recipe,
                1.0,
            ));
        }
        // A family: x1*x2 on negative inputs, relu,linear errors 50 and 70.
        let family = crate::study::FAMILIES[5];
        for (seed, pct) in [50.0, 70.0].into_iter().enumerate() {
            let negative = |s: &mut RunSpec| {
                s.train_range = family.train;
                s.test_range = family.test;
            };
            records.push(with(
                rec("x1*x2", "relu,linear", seed as u64, Some(pct)),
                negative,
                0.1,
            ));
        }
        // A resumed file holds records in any order; the tables keep the study's order.
        records.reverse();
        let dir = TempDir::new("recipes");
        let report = write_recipes_report(&records, &dir).unwrap();
        assert_eq!(report.ablation.len(), 3);
        let paper_x1x2 = &report.ablation[0];
        assert_eq!(paper_x1x2.settings, "paper");
        assert_eq!(
            (paper_x1x2.median_pct_err, paper_x1x2.max_pct_err),
            (6.0, 8.0)
        );
        let paper_div = &report.ablation[1];
        assert_eq!(paper_div.median_pct_err, 0.7);
        assert!(paper_div.max_pct_err.is_infinite());
        assert_eq!((paper_div.diverged, paper_div.success), (1, 2));
        let recipe = &report.ablation[2];
        assert_eq!(recipe.settings, "lg-relative-cosine");
        assert_eq!((recipe.median_pct_err, recipe.success), (0.9, 2));
        assert_eq!(report.families.len(), 1);
        assert_eq!(report.families[0].median_pct_err, 60.0);
        let md = std::fs::read_to_string(&report.report_md).unwrap();
        assert!(md.contains("| paper | 6.00 / 8.00 | 0.70 / ∞ |"), "{md}");
        assert!(
            md.contains("| lg-relative-cosine | 0.90 / 3.00 | — |"),
            "{md}"
        );
        assert!(md.contains("| negative inputs |"), "{md}");
        // Wilson interval for 0 of 2 at 95 %: 0 to 65.8 %.
        assert!(md.contains("60.00 (0/2, CI 0–66 %)"), "{md}");
        assert!(md.contains("| relu,linear · paper |"), "{md}");
        assert!(dir.join("figures/recipes-cost-1.svg").exists());
        let csv = std::fs::read_to_string(dir.join("recipes.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);
        let families = std::fs::read_to_string(dir.join("families.csv")).unwrap();
        assert!(
            families
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("\"negative inputs\",")
        );
    }
}
