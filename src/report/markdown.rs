//! `report.md`: its sections (introduction, protocol, Table I, differences from the paper,
//! figures, normaliser study, rankings, divergence, what is not shown), written from an
//! [`MdContext`] of everything already computed and drawn.

use super::figures::{LOSS_FIGURE_BASELINES, MAX_LOSS_FIGURES};
use super::stats::{FunctionRanking, Group, PairStats, StudyCell, Table1Row, score};
use super::text::*;
use crate::experiment::{Pair, RunRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

/// Everything the Markdown is written from.
pub(super) struct MdContext<'a> {
    pub(super) records: &'a [&'a RunRecord],
    pub(super) duplicates: usize,
    pub(super) groups: &'a [Group<'a>],
    pub(super) rankings: &'a [FunctionRanking],
    pub(super) slugs: &'a [String],
    pub(super) table1: &'a [Table1Row],
    pub(super) paper_available: bool,
    pub(super) study: &'a [StudyCell<'a>],
    pub(super) has_study: bool,
    pub(super) data_source: Option<&'a str>,
    /// (function, figure label, file stem)
    pub(super) loss_figures: &'a [(String, Option<String>, String)],
    /// Figures not drawn: file stem → why.
    pub(super) skipped: &'a HashMap<String, String>,
    pub(super) notes: &'a [String],
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
        cell("model", distinct(s().map(|s| s.model.kind().to_string()))),
        cell(
            "hidden layer widths",
            distinct(s().map(|s| {
                s.model
                    .hidden()
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

pub(super) fn markdown(ctx: &MdContext<'_>) -> String {
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
    let pairs: BTreeSet<&Pair> = ctx
        .records
        .iter()
        .filter_map(|r| r.spec.model.pair())
        .collect();
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
    let papers_model = ctx
        .records
        .iter()
        .all(|r| r.spec.model.kind() == "dense" && r.outputs.is_empty());
    md.push_str("## What was run\n\n");
    md.push_str(if papers_model {
        "Each run trains a dense network on one target function: two hidden layers with the \
         pair's two activations, then one linear output unit; weights Glorot-uniform, biases \
         zero; Adam with Keras's defaults (β1 0.9, β2 0.999, ε 1e-7) on minibatches reshuffled \
         every epoch, minimising the loss below. "
    } else {
        // Unit models and joint targets are not the paper's network: say what they are.
        "Each run trains the model its record names (a dense network as the paper's, a stack \
         of arithmetic units, or the closed-form log-linear fit) on one target function, or on \
         several at once (functions separated by ';', one output each, trained on the mean \
         loss over outputs), with the optimiser and loss below. "
    });
    md.push_str(
        "The test inputs lie outside the training \
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
