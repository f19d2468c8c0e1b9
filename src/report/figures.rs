//! The figures of a report, built from records as [`LineChart`]s and [`HistogramFigure`]s
//! ready for [`crate::plot`] to draw: the data histograms (Figs 1–2), the activations
//! (Figs 3–4 and all 13), the training loss per function (Figs 7–8) and the normaliser study.

use super::stats::{Group, StudyCell, final_loss, median, score};
use super::text::{MAX_RECORD_TEXT_CHARS, function_key, md_function, printable};
use crate::activation::Activation;
use crate::experiment::{Pair, RunRecord};
use crate::plot::{
    self, Axis, HistogramFigure, HistogramPanel, HistogramSeries, LineChart, Series, Stroke,
};
use crate::protocol::PAPER_FUNCTIONS;

/// How many baseline pairs the loss figures show beside lg, as in the paper's Fig. 7.
pub(super) const LOSS_FIGURE_BASELINES: usize = 7;

/// Training-loss figures are drawn for at most this many functions (in the report's order:
/// the paper's first); every function still gets its ranking.
pub const MAX_LOSS_FIGURES: usize = 64;

/// At most this many input values (rows × inputs) are re-sampled for the data histograms, so a
/// function of very many variables costs no more than the paper's.
pub(super) const HISTOGRAM_MAX_VALUES: usize = 400_000;

/// At most this many rows are re-sampled for the data histograms: the rows are drawn in
/// sequence, so these are exactly the first rows of the run's data, and a histogram needs no
/// more.
const HISTOGRAM_MAX_ROWS: usize = 100_000;

/// Fig. 7's letter (`7a`…`7f`) or `8` for a function of [`PAPER_FUNCTIONS`].
pub(super) fn figure_label(function: &str) -> Option<String> {
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
pub(super) fn median_loss_curve(runs: &[&RunRecord]) -> Vec<(f64, f64)> {
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

pub(super) fn loss_chart(g: &Group<'_>, label: Option<&str>) -> LineChart {
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

pub(super) fn activation_figures() -> Vec<(LineChart, &'static str)> {
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
pub(super) struct DataFigures {
    pub(super) train: HistogramFigure,
    pub(super) test: HistogramFigure,
    /// A sentence saying which data they show.
    pub(super) source: String,
    /// What the figures leave out, for the notes.
    pub(super) left_out: Vec<String>,
}

/// The histograms of Figs 1–2. The spec is the first record's for `x1*x2` (the paper's first
/// function), else the first record's. At most [`plot::MAX_HISTOGRAM_SERIES`] inputs are
/// shown, from at most [`HISTOGRAM_MAX_ROWS`] rows and [`HISTOGRAM_MAX_VALUES`] values.
pub(super) fn data_figures(records: &[&RunRecord]) -> Result<DataFigures, String> {
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
    let outputs = crate::expr::parse_outputs(&full.function)
        .map_err(|e| printable(&e.to_string(), 2 * MAX_RECORD_TEXT_CHARS))?;
    let n_inputs = crate::expr::n_inputs(&outputs);
    if n_inputs > HISTOGRAM_MAX_VALUES {
        return Err(format!(
            "the function has {n_inputs} inputs, more than the {HISTOGRAM_MAX_VALUES} values \
             the histograms re-sample"
        ));
    }
    let max_rows = (HISTOGRAM_MAX_VALUES / n_inputs).min(HISTOGRAM_MAX_ROWS);
    let sample = |n: usize, range, stream| {
        crate::data::Dataset::sample_outputs(
            &outputs,
            n.clamp(1, max_rows),
            range,
            full.data_seed,
            stream,
        )
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
                    series: if outputs.len() == 1 {
                        vec![HistogramSeries {
                            label: "y".to_string(),
                            values: d.targets().to_vec(),
                        }]
                    } else {
                        // One series per output of a jointly trained target.
                        outputs
                            .iter()
                            .take(plot::MAX_HISTOGRAM_SERIES)
                            .enumerate()
                            .map(|(o, expr)| HistogramSeries {
                                label: printable(&expr.canonical(), 24),
                                values: crate::metrics::output_column(
                                    d.targets(),
                                    outputs.len(),
                                    o,
                                ),
                            })
                            .collect()
                    },
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

pub(super) fn normaliser_chart(cells: &[StudyCell<'_>]) -> LineChart {
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
