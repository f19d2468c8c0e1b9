//! Figures as SVG and PNG: line charts (linear or log axes) and histogram panels.
//!
//! This module knows nothing about runs; [`crate::report`] turns records into [`LineChart`]s and
//! [`HistogramFigure`]s and this module draws them. Every figure is written twice, as
//! `STEM.svg` and `STEM.png`, each to a temporary file in the same directory that is renamed into
//! place once complete, so an interrupted report never leaves a half-written figure.
//!
//! Text in the PNGs is drawn with the DejaVu Sans font shipped in `assets/` (through plotters'
//! `ab_glyph` feature) rather than with the system's fonts, so the figures build and render the
//! same on machines without fontconfig or freetype.
//!
//! Drawing never panics on awkward data: non-finite points (and non-positive ones on a log
//! axis) are left out and break the line there, empty charts get a default range and say
//! "no data", and a range of equal values is padded.

use crate::error::Error;
use crate::output::Batch;
use plotters::coord::Shift;
use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The font every figure uses, registered with plotters under the family `sans-serif`.
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name text styles ask for; plotters' own defaults (axis labels) ask for it too.
const FAMILY: &str = "sans-serif";

/// Line chart size in pixels (PNG) or user units (SVG).
const CHART_SIZE: (u32, u32) = (960, 540);
/// Width given to the legend on the right of a line chart.
const LEGEND_WIDTH: u32 = 250;
/// Series with at most this many points also get a marker at each point, so that a
/// single-point series is visible and sparse ones (the normaliser study) show their samples.
const MARKER_MAX_POINTS: usize = 12;

/// How many distinct colours series get before [`Series::colour`] indices wrap around.
pub const PALETTE_LEN: usize = 10;

/// Ten colours that stay distinguishable (Tableau 10).
const PALETTE: [RGBColor; PALETTE_LEN] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Evenly spaced values.
    #[default]
    Linear,
    /// Evenly spaced powers of ten; values ≤ 0 cannot be shown and are skipped.
    Log,
}

/// How a series' line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stroke {
    /// A plain line.
    #[default]
    Solid,
    /// A dashed line, to pair a series with a solid one of the same colour.
    Dashed,
    /// No line, a marker at every point: strip plots of values per category.
    Points,
}

/// One named line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// The points in drawing order; non-finite points break the line.
    pub points: Vec<(f64, f64)>,
    /// Drawn thicker, so the series the figure is about stands out.
    pub emphasis: bool,
    /// Solid or dashed.
    pub stroke: Stroke,
    /// A fixed palette index (modulo the palette size); `None` takes the next free colour.
    /// Emphasised series without a colour are black.
    pub colour: Option<usize>,
}

impl Series {
    /// A plain solid series with the next free colour.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.into(),
            points,
            ..Series::default()
        }
    }
}

/// An axis: its label, its scale and optionally a fixed range (points outside it are skipped).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axis {
    /// Axis description.
    pub label: String,
    /// Linear or log.
    pub scale: Scale,
    /// A fixed `(low, high)`; `None` fits the data.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    /// A linear axis that fits the data.
    pub fn linear(label: impl Into<String>) -> Axis {
        Axis {
            label: label.into(),
            ..Axis::default()
        }
    }

    /// A log axis that fits the data.
    pub fn log(label: impl Into<String>) -> Axis {
        Axis {
            label: label.into(),
            scale: Scale::Log,
            range: None,
        }
    }
}

/// A line chart with a title, two axes and a legend on the right.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// The lines, drawn in order (the first ends up underneath).
    pub series: Vec<Series>,
}

/// One set of values to histogram within a [`HistogramPanel`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramSeries {
    /// Legend text.
    pub label: String,
    /// The values; non-finite ones are skipped.
    pub values: Vec<f64>,
}

/// One histogram plot: several overlaid, translucent histograms sharing bins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramPanel {
    /// Panel title.
    pub title: String,
    /// What the values are.
    pub x_label: String,
    /// Overlaid histograms.
    pub series: Vec<HistogramSeries>,
    /// Number of equal-width bins over the range of all values (at least 1).
    pub bins: usize,
}

/// Histogram panels side by side under one title.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramFigure {
    /// Title above all panels.
    pub title: String,
    /// The panels, left to right.
    pub panels: Vec<HistogramPanel>,
}

/// At most this many series of a [`LineChart`] are drawn (the first ones); callers that may
/// have more say what they left out.
pub const MAX_SERIES: usize = 16;

/// At most this many points of one [`Series`] are drawn: longer series are thinned to evenly
/// spaced points, keeping the first and the last, so a figure's size stays bounded.
pub const MAX_POINTS: usize = 2_000;

/// At most this many histograms are overlaid in one [`HistogramPanel`] (the first ones).
pub const MAX_HISTOGRAM_SERIES: usize = 16;

/// At most this many panels of a [`HistogramFigure`] are drawn (the first ones).
pub const MAX_PANELS: usize = 4;

/// The most bins a histogram panel gets, whatever it asks for.
pub const MAX_BINS: usize = 200;

/// The largest magnitude a linear axis end may have. Beyond it, the arithmetic of padding and
/// ticks comes near `f64` overflow; such data are better shown on a log axis, and a figure
/// that needs it is skipped instead.
pub const MAX_AXIS_ABS: f64 = 1e300;

/// What a `write_*` call did with a figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Drawn {
    /// Written: the SVG and the PNG, in that order.
    Files([PathBuf; 2]),
    /// Not drawn, and nothing written, for the reason given (an axis the data leave without a
    /// drawable range: an infinite or overflowing span, ends beyond [`MAX_AXIS_ABS`], a width
    /// too small for its magnitude to tell ticks apart).
    Skipped(String),
}

impl Drawn {
    /// The files written, if the figure was drawn.
    pub fn files(&self) -> Option<&[PathBuf; 2]> {
        match self {
            Drawn::Files(files) => Some(files),
            Drawn::Skipped(_) => None,
        }
    }
}

/// Draws `chart` to `STEM.svg` and `STEM.png` (`stem` is a path without extension), or skips
/// it when an axis cannot be drawn (see [`Drawn::Skipped`]). At most [`MAX_SERIES`] series and
/// [`MAX_POINTS`] points per series are drawn. The directory must exist.
pub fn write_line_chart(chart: &LineChart, stem: &Path) -> Result<Drawn, Error> {
    let batch = Batch::new();
    let drawn = stage_line_chart(chart, stem, &batch)?;
    batch.commit()?;
    Ok(drawn)
}

/// Like [`write_line_chart`], with the two files staged in `batch` (visible once it commits).
pub fn stage_line_chart(chart: &LineChart, stem: &Path, batch: &Batch) -> Result<Drawn, Error> {
    let chart = capped_chart(chart);
    if let Err(why) = line_ranges(&chart) {
        return Ok(Drawn::Skipped(why));
    }
    render_both(stem, CHART_SIZE, &chart, batch).map(Drawn::Files)
}

/// Draws `figure` to `STEM.svg` and `STEM.png`, or skips it when a panel's axis cannot be drawn.
/// At most [`MAX_PANELS`] panels of at most [`MAX_HISTOGRAM_SERIES`] histograms with at most
/// [`MAX_BINS`] bins are drawn. The directory must exist.
pub fn write_histograms(figure: &HistogramFigure, stem: &Path) -> Result<Drawn, Error> {
    let batch = Batch::new();
    let drawn = stage_histograms(figure, stem, &batch)?;
    batch.commit()?;
    Ok(drawn)
}

/// Like [`write_histograms`], with the two files staged in `batch` (visible once it commits).
pub fn stage_histograms(
    figure: &HistogramFigure,
    stem: &Path,
    batch: &Batch,
) -> Result<Drawn, Error> {
    let figure = capped_histograms(figure);
    for panel in &figure.panels {
        if let Err(why) = panel_range(panel) {
            return Ok(Drawn::Skipped(format!("panel \"{}\": {why}", panel.title)));
        }
    }
    let width = 520 * figure.panels.len().clamp(1, MAX_PANELS) as u32;
    render_both(stem, (width, 460), &figure, batch).map(Drawn::Files)
}

/// Text for a figure: control and invisible formatting characters (which are not even valid
/// in SVG's XML) shown as their code points.
fn figure_text(text: &str) -> String {
    crate::report::printable(text, usize::MAX)
}

/// `chart` within [`MAX_SERIES`] and [`MAX_POINTS`], with its text made drawable.
fn capped_chart(chart: &LineChart) -> LineChart {
    LineChart {
        title: figure_text(&chart.title),
        x: Axis {
            label: figure_text(&chart.x.label),
            ..chart.x.clone()
        },
        y: Axis {
            label: figure_text(&chart.y.label),
            ..chart.y.clone()
        },
        series: chart
            .series
            .iter()
            .take(MAX_SERIES)
            .map(|s| Series {
                label: figure_text(&s.label),
                points: thin(&s.points, MAX_POINTS),
                ..s.clone()
            })
            .collect(),
    }
}

/// At most `max` (≥ 2) evenly spaced points of `points`, the first and the last among them.
pub(crate) fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= max {
        return points.to_vec();
    }
    let max = max.max(2);
    (0..max).map(|i| points[i * (n - 1) / (max - 1)]).collect()
}

/// `figure` within [`MAX_PANELS`], [`MAX_HISTOGRAM_SERIES`] and [`MAX_BINS`], text drawable.
fn capped_histograms(figure: &HistogramFigure) -> HistogramFigure {
    HistogramFigure {
        title: figure_text(&figure.title),
        panels: figure
            .panels
            .iter()
            .take(MAX_PANELS)
            .map(|p| HistogramPanel {
                title: figure_text(&p.title),
                x_label: figure_text(&p.x_label),
                series: p
                    .series
                    .iter()
                    .take(MAX_HISTOGRAM_SERIES)
                    .map(|s| HistogramSeries {
                        label: figure_text(&s.label),
                        values: s.values.clone(),
                    })
                    .collect(),
                bins: p.bins.clamp(1, MAX_BINS),
            })
            .collect(),
    }
}

/// Checks that plotters can lay out a linear axis over `[lo, hi]` in bounded time: its tick
/// search steps by powers of ten from `lo` and never ends when the span is infinite or NaN, or
/// when a step is lost in rounding (`lo + step == lo`).
fn check_linear(what: &str, lo: f64, hi: f64) -> Result<(), String> {
    let width = hi - lo;
    if !(lo.is_finite() && hi.is_finite()) {
        Err(format!(
            "the {what} axis would need an infinite end (the values span more than an f64 \
             can hold)"
        ))
    } else if lo.abs() > MAX_AXIS_ABS || hi.abs() > MAX_AXIS_ABS {
        Err(format!(
            "the {what} axis would span [{}, {}], beyond the ±{} a linear axis can show",
            fmt_num(lo),
            fmt_num(hi),
            fmt_num(MAX_AXIS_ABS)
        ))
    } else if !(width.is_finite() && width > 0.0) {
        Err(format!(
            "the {what} axis would have no positive finite width"
        ))
    } else if width < lo.abs().max(hi.abs()) * 1e-9 || width < 1e-290 {
        Err(format!(
            "the {what} axis would span [{lo:e}, {hi:e}], too narrow for its magnitude to tell \
             ticks apart"
        ))
    } else {
        Ok(())
    }
}

/// Checks a log axis over `[lo, hi]`: positive finite ends a measurable ratio apart.
fn check_log(what: &str, lo: f64, hi: f64) -> Result<(), String> {
    if !(lo > 0.0 && lo.is_finite() && hi.is_finite() && hi > lo) {
        Err(format!(
            "the {what} axis (log) would span [{}, {}], not two positive finite ends",
            fmt_num(lo),
            fmt_num(hi)
        ))
    } else if hi.ln() - lo.ln() < 1e-9 {
        Err(format!("the {what} axis (log) would be too narrow"))
    } else {
        Ok(())
    }
}

fn check_axis(what: &str, scale: Scale, (lo, hi): Span) -> Result<Span, String> {
    match scale {
        Scale::Linear => check_linear(what, lo, hi)?,
        Scale::Log => check_log(what, lo, hi)?,
    }
    Ok((lo, hi))
}

/// Something drawable on any plotters backend, so one description renders to SVG and PNG.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_line_chart(area, self)
    }
}

impl Figure for HistogramFigure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_histograms(area, self)
    }
}

/// Registers the shipped font once per process. Returns false if plotters refused it, which
/// only happens if the embedded file is corrupt (a unit test guards against that).
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_BYTES).is_ok()
    })
}

/// A plotting failure as an [`Error`] naming the file.
fn draw_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::io("cannot draw", path, io::Error::other(message.to_string()))
}

/// Renders `figure` once into an SVG string and once into a PNG file, both staged in `batch`.
fn render_both<F: Figure>(
    stem: &Path,
    size: (u32, u32),
    figure: &F,
    batch: &Batch,
) -> Result<[PathBuf; 2], Error> {
    let svg_path = with_extension(stem, "svg");
    let png_path = with_extension(stem, "png");
    if !font_ready() {
        return Err(draw_error(
            &png_path,
            "the embedded font could not be loaded",
        ));
    }

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        figure.draw(&root).map_err(|e| draw_error(&svg_path, e))?;
        root.present().map_err(|e| draw_error(&svg_path, e))?;
    }
    batch.write_file(&svg_path, svg.as_bytes())?;
    // Drawn into memory and encoded into the file the batch opened: a backend that opened
    // the path itself could create it again after an interrupt had removed it.
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let drawn = (|| {
            let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
            figure.draw(&root)?;
            root.present().map_err(|e| e.to_string())
        })();
        drawn.map_err(|e| draw_error(&png_path, e))?;
    }
    batch.write_with(&png_path, |file| {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(std::io::BufWriter::new(file))
            .write_image(&pixels, size.0, size.1, image::ColorType::Rgb8)
            .map_err(|e| draw_error(&png_path, e))
    })?;
    Ok([svg_path, png_path])
}

/// `stem` with `.ext` appended (not replacing: stems may contain dots, e.g. `x1.5`).
fn with_extension(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// Short tick labels: plain decimals in the readable middle, scientific notation far out.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "n/a".to_string()
        } else if v > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        // 2.50e5 -> 2.5e5, 1.00e5 -> 1e5
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let m = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{exp}")
            }
            None => s,
        }
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    }
}

/// Ticks of a log axis over `[lo, hi]`: labelled ones at 1, 2 and 5 × 10^k (only the powers
/// of ten, or every few of them, over many decades) and grid lines at 1…9 × 10^k. plotters' own
/// log ticks start at the first power of ten inside the range, which leaves a range such as
/// 20…900 with a single label.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let inside = |v: &f64| v.is_finite() && *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let at = |mantissas: &[f64], step: usize| -> Vec<f64> {
        (k0..=k1)
            .filter(|k| ((k - k0) as usize).is_multiple_of(step))
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
            .filter(inside)
            .collect()
    };
    let decades = (k1 - k0).max(1) as usize;
    let mut bold = at(&[1.0, 2.0, 5.0], 1);
    if bold.len() > 12 {
        bold = at(&[1.0], decades.div_ceil(10));
    }
    let all = at(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1);
    if bold.len() < 2 {
        bold = all.clone();
    }
    let light = if decades <= 8 { all } else { Vec::new() };
    (bold, light)
}

/// Whether a value can be placed on an axis of this scale.
fn drawable(v: f64, scale: Scale) -> bool {
    v.is_finite() && (scale == Scale::Linear || v > 0.0)
}

/// Whether a point can be drawn: finite, positive on log axes, within fixed ranges.
fn point_ok(p: (f64, f64), x: &Axis, y: &Axis) -> bool {
    let inside = |v: f64, axis: &Axis| {
        drawable(v, axis.scale) && axis.range.is_none_or(|(lo, hi)| v >= lo && v <= hi)
    };
    inside(p.0, x) && inside(p.1, y)
}

/// The range an axis shows: its fixed range if valid, else the span of the drawable values,
/// padded so that equal values and single points still get a visible, non-empty range.
fn axis_range(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    if let Some((lo, hi)) = axis.range
        && drawable(lo, axis.scale)
        && drawable(hi, axis.scale)
        && lo < hi
    {
        return (lo, hi);
    }
    let (lo, hi) = values
        .filter(|&v| drawable(v, axis.scale))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    match axis.scale {
        Scale::Linear => {
            if lo > hi {
                return (0.0, 1.0);
            }
            let span = hi - lo;
            let pad = if span > 0.0 {
                span * 0.04
            } else {
                (lo.abs() * 0.1).max(0.5)
            };
            (lo - pad, hi + pad)
        }
        Scale::Log => {
            if lo > hi {
                return (1.0, 10.0);
            }
            // A log axis gets at least a factor of ten so that it has labelled ticks.
            let (lo, hi) = (
                (lo / 1.25).max(f64::MIN_POSITIVE),
                (hi * 1.25).min(f64::MAX),
            );
            if hi / lo < 10.0 {
                // sqrt of each, not of the product, which overflows for large values.
                let mid = lo.sqrt() * hi.sqrt();
                (
                    (mid / 10f64.sqrt()).max(f64::MIN_POSITIVE),
                    (mid * 10f64.sqrt()).min(f64::MAX),
                )
            } else {
                (lo, hi)
            }
        }
    }
}

fn colour_of(series: &Series, next: &mut usize) -> RGBColor {
    match series.colour {
        Some(i) => PALETTE[i % PALETTE.len()],
        None if series.emphasis => BLACK,
        None => {
            let c = PALETTE[*next % PALETTE.len()];
            *next += 1;
            c
        }
    }
}

/// An axis's shown range, `(low, high)`.
type Span = (f64, f64);

/// The ranges both axes of `chart` show, checked to be drawable.
fn line_ranges(chart: &LineChart) -> Result<(Span, Span), String> {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    // y fits the points whose x is drawable (a fixed y range is applied by axis_range).
    let free_y = Axis {
        range: None,
        ..chart.y.clone()
    };
    let ys = chart.series.iter().flat_map(|s| {
        s.points
            .iter()
            .filter(|&&p| point_ok(p, &chart.x, &free_y))
            .map(|p| p.1)
    });
    let x = check_axis("x", chart.x.scale, axis_range(&chart.x, xs))?;
    let y = check_axis("y", chart.y.scale, axis_range(&chart.y, ys))?;
    Ok((x, y))
}

fn draw_line_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LineChart,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let has_points = chart
        .series
        .iter()
        .any(|s| s.points.iter().any(|&p| point_ok(p, &chart.x, &chart.y)));
    let title = if has_points {
        chart.title.clone()
    } else {
        format!("{} (no data)", chart.title)
    };
    let root = root.titled(&title, font(22)).map_err(|e| e.to_string())?;
    let (w, _) = root.dim_in_pixel();
    let labelled = chart.series.iter().any(|s| !s.label.is_empty());
    let (plot_area, legend_area) = if labelled {
        root.split_horizontally(w.saturating_sub(LEGEND_WIDTH))
    } else {
        root.split_horizontally(w)
    };

    let ((x0, x1), (y0, y1)) = line_ranges(chart)?;
    let colours = series_colours(&chart.series);
    match (chart.x.scale, chart.y.scale) {
        (Scale::Linear, Scale::Linear) => draw_lines(&plot_area, chart, &colours, x0..x1, y0..y1),
        (Scale::Linear, Scale::Log) => {
            draw_lines(&plot_area, chart, &colours, x0..x1, log_axis(y0, y1))
        }
        (Scale::Log, Scale::Linear) => {
            draw_lines(&plot_area, chart, &colours, log_axis(x0, x1), y0..y1)
        }
        (Scale::Log, Scale::Log) => draw_lines(
            &plot_area,
            chart,
            &colours,
            log_axis(x0, x1),
            log_axis(y0, y1),
        ),
    }?;
    if labelled {
        draw_legend(&legend_area, &chart.series, &colours)?;
    }
    Ok(())
}

fn log_axis(lo: f64, hi: f64) -> WithKeyPoints<LogCoord<f64>> {
    let (bold, light) = log_ticks(lo, hi);
    (lo..hi)
        .log_scale()
        .with_key_points(bold)
        .with_light_points(light)
}

fn series_colours(series: &[Series]) -> Vec<RGBColor> {
    let mut next = 0;
    series.iter().map(|s| colour_of(s, &mut next)).collect()
}

fn line_style(series: &Series, colour: RGBColor) -> ShapeStyle {
    ShapeStyle {
        color: colour.to_rgba(),
        filled: false,
        stroke_width: if series.emphasis { 3 } else { 2 },
    }
}

/// Draws the axes and every series; generic over the axis types so that each combination of
/// linear and log axes shares one body.
fn draw_lines<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    chart: &LineChart,
    colours: &[RGBColor],
    x: X,
    y: Y,
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut ctx = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    ctx.configure_mesh()
        .x_desc(chart.x.label.as_str())
        .y_desc(chart.y.label.as_str())
        .axis_desc_style(font(16))
        .label_style(font(13))
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .light_line_style(RGBColor(0, 0, 0).mix(0.05))
        .draw()
        .map_err(|e| e.to_string())?;

    for (series, &colour) in chart.series.iter().zip(colours) {
        let style = line_style(series, colour);
        for segment in segments(&series.points, &chart.x, &chart.y) {
            match series.stroke {
                Stroke::Solid => ctx
                    .draw_series(LineSeries::new(segment.iter().copied(), style))
                    .map(|_| ()),
                Stroke::Dashed => ctx
                    .draw_series(DashedLineSeries::new(segment.iter().copied(), 8, 5, style))
                    .map(|_| ()),
                Stroke::Points => Ok(()),
            }
            .map_err(|e| e.to_string())?;
        }
        let drawn: Vec<(f64, f64)> = series
            .points
            .iter()
            .copied()
            .filter(|&p| point_ok(p, &chart.x, &chart.y))
            .collect();
        // Point series are nothing but markers (their point count is bounded with the rest).
        if drawn.len() <= MARKER_MAX_POINTS || series.stroke == Stroke::Points {
            ctx.draw_series(
                drawn
                    .into_iter()
                    .map(|p| Circle::new(p, 4, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The runs of consecutive drawable points; a skipped point ends a run, so a gap in the data
/// shows as a gap in the line rather than a misleading straight join.
fn segments(points: &[(f64, f64)], x: &Axis, y: &Axis) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for &p in points {
        if point_ok(p, x, y) {
            current.push(p);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A legend in its own area, so it never hides data however many series there are.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    colours: &[RGBColor],
) -> Result<(), String> {
    let row = 24;
    let top = 40;
    for (i, (s, &colour)) in series.iter().zip(colours).enumerate() {
        if s.label.is_empty() {
            continue;
        }
        let y = top + row * i as i32;
        let style = line_style(s, colour);
        let points = vec![(8, y), (44, y)];
        match s.stroke {
            Stroke::Solid => area
                .draw(&PathElement::new(points, style))
                .map_err(|e| e.to_string())?,
            Stroke::Dashed => area
                .draw(&DashedPathElement::new(points, 8, 5, style))
                .map_err(|e| e.to_string())?,
            Stroke::Points => area
                .draw(&Circle::new((26, y), 4, colour.filled()))
                .map_err(|e| e.to_string())?,
        }
        let style = font(14).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(s.label.clone(), (52, y), style))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_histograms<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &HistogramFigure,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(&figure.title, font(22))
        .map_err(|e| e.to_string())?;
    if figure.panels.is_empty() {
        return root
            .draw(&Text::new("no data", (20, 20), font(16)))
            .map_err(|e| e.to_string());
    }
    let areas = root.split_evenly((1, figure.panels.len().min(MAX_PANELS)));
    for (panel, area) in figure.panels.iter().zip(areas.iter()) {
        draw_histogram_panel(area, panel)?;
    }
    Ok(())
}

/// Counts of `values` in `bins` equal bins over `[lo, hi]`; the top edge goes into the last bin.
fn bin_counts(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0usize; bins];
    let width = (hi - lo) / bins as f64;
    for &v in values.iter().filter(|v| v.is_finite()) {
        if v < lo || v > hi || width <= 0.0 {
            continue;
        }
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
}

/// The span of a panel's bins, `(low, high, whether any value is finite)`: exactly the finite
/// values' span, a unit-wide bin around equal values, `[0, 1]` without data; checked (with the
/// 2 % margin drawn around it) to be drawable.
fn panel_range(panel: &HistogramPanel) -> Result<(f64, f64, bool), String> {
    let all = panel.series.iter().flat_map(|s| s.values.iter().copied());
    let (raw_lo, raw_hi) = all
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = if raw_lo > raw_hi {
        (0.0, 1.0)
    } else if raw_lo == raw_hi {
        let pad = (raw_lo.abs() * 0.05).max(0.5);
        (raw_lo - pad, raw_hi + pad)
    } else {
        (raw_lo, raw_hi)
    };
    if !(hi - lo).is_finite() {
        return Err(format!(
            "its values span [{}, {}], wider than an f64 can hold",
            fmt_num(lo),
            fmt_num(hi)
        ));
    }
    let pad = (hi - lo) * 0.02;
    check_linear(
        &format!("horizontal ({})", panel.x_label),
        lo - pad,
        hi + pad,
    )?;
    Ok((lo, hi, raw_lo <= raw_hi))
}

fn draw_histogram_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &HistogramPanel,
) -> Result<(), String> {
    let bins = panel.bins.clamp(1, MAX_BINS);
    let (lo, hi, has_data) = panel_range(panel)?;
    let counts: Vec<Vec<usize>> = panel
        .series
        .iter()
        .map(|s| bin_counts(&s.values, lo, hi, bins))
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
    let pad = (hi - lo) * 0.02;
    let title = if !has_data {
        format!("{} (no data)", panel.title)
    } else {
        panel.title.clone()
    };
    let mut ctx = ChartBuilder::on(area)
        .caption(title, font(17))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..top)
        .map_err(|e| e.to_string())?;
    ctx.configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc("count")
        .axis_desc_style(font(15))
        .label_style(font(12))
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .x_labels(6)
        .light_line_style(RGBColor(0, 0, 0).mix(0.05))
        .draw()
        .map_err(|e| e.to_string())?;
    let width = (hi - lo) / bins as f64;
    for (k, (series, counts)) in panel.series.iter().zip(&counts).enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let bars = counts.iter().enumerate().map(|(i, &c)| {
            let x0 = lo + width * i as f64;
            Rectangle::new(
                [(x0, 0.0), (x0 + width, c as f64)],
                colour.mix(0.3).filled(),
            )
        });
        ctx.draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(series.label.clone())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.mix(0.6).filled())
            });
        // An outline of the bar tops keeps overlaid histograms apart.
        let outline = counts.iter().enumerate().flat_map(|(i, &c)| {
            let x0 = lo + width * i as f64;
            [(x0, c as f64), (x0 + width, c as f64)]
        });
        ctx.draw_series(LineSeries::new(outline, colour.stroke_width(2)))
            .map_err(|e| e.to_string())?;
    }
    if panel.series.iter().any(|s| !s.label.is_empty()) {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(font(13))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;

    fn non_empty(path: &Path) -> bool {
        std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    }

    fn files(drawn: Result<Drawn, Error>) -> [PathBuf; 2] {
        match drawn.unwrap() {
            Drawn::Files(files) => files,
            Drawn::Skipped(why) => panic!("skipped: {why}"),
        }
    }

    /// The (width, height) of a PNG file, read from its header; panics if it is not a PNG.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            &bytes[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is not a PNG",
            path.display()
        );
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    }

    /// Whether the SVG draws `label` as one text element (plotters puts it on its own line).
    fn has_text(svg: &str, label: &str) -> bool {
        svg.contains(&format!(">\n{label}\n</text>"))
    }

    /// The SVG's text, checked to be one complete SVG document of the given size.
    fn svg_text(path: &Path, (w, h): (u32, u32)) -> String {
        let svg = std::fs::read_to_string(path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", path.display());
        assert!(svg.trim_end().ends_with("</svg>"), "{}", path.display());
        assert!(
            svg.contains(&format!("width=\"{w}\" height=\"{h}\"")),
            "size of {}",
            path.display()
        );
        svg
    }

    #[test]
    fn the_embedded_font_registers() {
        assert!(font_ready());
    }

    #[test]
    fn awkward_series_still_draw_both_formats() {
        let dir = TempDir::new("awkward");
        let chart = LineChart {
            title: "awkward".into(),
            x: Axis::linear("epoch"),
            y: Axis::log("loss"),
            series: vec![
                Series::new("empty", vec![]),
                Series::new("single", vec![(1.0, 5.0)]),
                Series::new(
                    "gaps",
                    vec![
                        (1.0, 3.0),
                        (2.0, f64::NAN),
                        (3.0, -1.0),
                        (4.0, f64::INFINITY),
                        (5.0, 2.0),
                    ],
                ),
                Series {
                    emphasis: true,
                    stroke: Stroke::Dashed,
                    ..Series::new("flat", vec![(0.0, 7.0), (10.0, 7.0)])
                },
            ],
        };
        let [svg, png] = files(write_line_chart(&chart, &dir.join("awkward")));
        let text = svg_text(&svg, CHART_SIZE);
        // The title, both axis labels and every legend entry are drawn.
        for label in [
            "awkward", "epoch", "loss", "empty", "single", "gaps", "flat",
        ] {
            assert!(has_text(&text, label), "{label} missing");
        }
        assert!(!text.contains("no data"));
        assert_eq!(png_size(&png), CHART_SIZE);

        let nothing = LineChart {
            title: "nothing".into(),
            x: Axis::log("x"),
            y: Axis::log("y"),
            series: vec![Series::new("nan", vec![(f64::NAN, f64::NAN), (0.0, 0.0)])],
        };
        let [svg, png] = files(write_line_chart(&nothing, &dir.join("nothing")));
        assert!(svg_text(&svg, CHART_SIZE).contains("nothing (no data)"));
        assert_eq!(png_size(&png), CHART_SIZE);
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn histograms_handle_equal_and_missing_values() {
        let dir = TempDir::new("hist");
        let figure = HistogramFigure {
            title: "hist".into(),
            panels: vec![
                HistogramPanel {
                    title: "equal".into(),
                    x_label: "x".into(),
                    series: vec![HistogramSeries {
                        label: "x1".into(),
                        values: vec![3.0; 10],
                    }],
                    bins: 0,
                },
                HistogramPanel {
                    title: "empty".into(),
                    x_label: "y".into(),
                    series: vec![HistogramSeries {
                        label: "y".into(),
                        values: vec![f64::NAN],
                    }],
                    bins: 20,
                },
            ],
        };
        let [svg, png] = files(write_histograms(&figure, &dir.join("hist")));
        let text = svg_text(&svg, (1040, 460));
        for label in ["hist", "equal", "empty (no data)", "x1", "count"] {
            assert!(has_text(&text, label), "{label} missing");
        }
        assert_eq!(png_size(&png), (1040, 460));
        let empty = HistogramFigure::default();
        let [svg, png] = files(write_histograms(&empty, &dir.join("none")));
        assert!(has_text(&svg_text(&svg, (520, 460)), "no data"));
        assert_eq!(png_size(&png), (520, 460));
        assert!(non_empty(&png));
    }

    #[test]
    fn bins_count_every_finite_value_once() {
        let counts = bin_counts(&[0.0, 0.5, 1.0, 9.99, 10.0, f64::NAN], 0.0, 10.0, 10);
        assert_eq!(counts.iter().sum::<usize>(), 5);
        assert_eq!(counts[0], 2);
        assert_eq!(counts[9], 2);
    }

    #[test]
    fn ranges_are_padded_and_never_empty() {
        let lin = Axis::linear("x");
        let (lo, hi) = axis_range(&lin, [2.0, 2.0].into_iter());
        assert!(lo < 2.0 && hi > 2.0);
        assert_eq!(axis_range(&lin, std::iter::empty()), (0.0, 1.0));
        let log = Axis::log("y");
        let (lo, hi) = axis_range(&log, [5.0, -1.0, f64::NAN].into_iter());
        assert!(lo > 0.0 && lo < 5.0 && hi > 5.0 && hi / lo >= 9.99);
        assert_eq!(axis_range(&log, [0.0].into_iter()), (1.0, 10.0));
    }

    #[test]
    fn numbers_format_short() {
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(fmt_num(250000.0), "2.5e5");
        assert_eq!(fmt_num(1e10), "1e10");
        assert_eq!(fmt_num(0.0001), "1e-4");
        assert_eq!(fmt_num(-0.0), "0");
        assert_eq!(fmt_num(f64::INFINITY), "inf");
    }

    #[test]
    fn log_ticks_label_one_two_five_and_thin_out_over_many_decades() {
        let (bold, light) = log_ticks(15.0, 900.0);
        assert_eq!(bold, [20.0, 50.0, 100.0, 200.0, 500.0]);
        assert_eq!(light.first(), Some(&20.0));
        assert_eq!(light.len(), 8 + 9);
        let (bold, light) = log_ticks(1e-3, 1e12);
        assert!(bold.len() <= 12 && bold.contains(&1e-3), "{bold:?}");
        assert!(light.is_empty());
        assert_eq!(log_ticks(0.0, 1.0), (vec![], vec![]));
    }

    #[test]
    fn a_chart_under_a_file_is_refused() {
        let dir = TempDir::new("unwritable");
        let file = dir.join("a-file");
        std::fs::write(&file, "x").unwrap();
        let chart = LineChart::default();
        let err = write_line_chart(&chart, &file.join("chart")).unwrap_err();
        // The path goes through a file: the user's input, refused before anything is drawn.
        assert!(matches!(err, Error::NotRegularOutput { .. }), "{err}");
        assert!(err.to_string().contains("chart.svg"), "{err}");
    }

    /// Runs `f` on another thread and fails if it takes longer than a minute: the failure these
    /// tests guard against is plotters searching forever for ticks.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("drawing did not finish within 60 s")
    }

    #[test]
    fn undrawable_axes_are_skipped_with_a_reason() {
        let dir = TempDir::new("extreme");
        let line = |name: &str, y: Axis, points: Vec<(f64, f64)>| {
            let dir = dir.to_path_buf();
            let name = name.to_string();
            within_a_minute(move || {
                let chart = LineChart {
                    title: name.clone(),
                    x: Axis::linear("x"),
                    y,
                    series: vec![Series::new("s", points)],
                };
                write_line_chart(&chart, &dir.join(name)).unwrap()
            })
        };
        let skipped = |d: &Drawn| matches!(d, Drawn::Skipped(_));
        // A span that overflows, ends beyond 1e300, a width lost in rounding.
        let d = line("span", Axis::linear("y"), vec![(0.0, -1e308), (1.0, 1e308)]);
        assert!(skipped(&d), "{d:?}");
        let d = line("big", Axis::linear("y"), vec![(0.0, 1e307), (1.0, 1e307)]);
        assert!(skipped(&d), "{d:?}");
        let d = line(
            "narrow",
            Axis::linear("y"),
            vec![(0.0, 1e20), (1.0, 1e20 + 1e5)],
        );
        assert!(skipped(&d), "{d:?}");
        let fixed = Axis {
            range: Some((-f64::MAX, f64::MAX)),
            ..Axis::linear("y")
        };
        let d = line("fixed", fixed, vec![(0.0, 1.0)]);
        assert!(skipped(&d), "{d:?}");
        if let Drawn::Skipped(why) = &d {
            assert!(why.contains("y axis"), "{why}");
        }
        // A log axis over the whole positive range of f64 is drawable.
        let d = line(
            "log",
            Axis::log("y"),
            vec![(0.0, f64::MIN_POSITIVE), (1.0, f64::MAX)],
        );
        assert!(d.files().is_some(), "{d:?}");
        let d = line(
            "log-equal",
            Axis::log("y"),
            vec![(0.0, 1e300), (1.0, 1e300)],
        );
        assert!(d.files().is_some(), "{d:?}");
        assert!(!dir.join("span.svg").exists() && !dir.join("span.png").exists());

        let hist = |name: &str, values: Vec<f64>| {
            let dir = dir.to_path_buf();
            let name = name.to_string();
            within_a_minute(move || {
                let figure = HistogramFigure {
                    title: name.clone(),
                    panels: vec![HistogramPanel {
                        title: "p".into(),
                        x_label: "y".into(),
                        series: vec![HistogramSeries {
                            label: "y".into(),
                            values,
                        }],
                        bins: usize::MAX,
                    }],
                };
                write_histograms(&figure, &dir.join(name)).unwrap()
            })
        };
        let d = hist("h-span", vec![-1.7e308, 1.7e308]);
        assert!(
            matches!(&d, Drawn::Skipped(why) if why.contains("panel \"p\"")),
            "{d:?}"
        );
        assert!(skipped(&hist("h-equal-huge", vec![1e307; 5])));
        assert!(skipped(&hist("h-narrow", vec![1e20, 1e20 + 1e5])));
        // Equal ordinary values are padded to a unit bin and drawn, with a sane bin count.
        let d = hist("h-equal", vec![3.0; 5]);
        assert!(d.files().is_some(), "{d:?}");
    }

    #[test]
    fn figures_are_capped_in_series_points_and_panels() {
        let dir = TempDir::new("caps");
        let series: Vec<Series> = (0..40)
            .map(|i| {
                let points = (0..100_000).map(|e| (e as f64, (i + e) as f64)).collect();
                Series::new(format!("series{i}"), points)
            })
            .collect();
        let chart = LineChart {
            title: "many".into(),
            x: Axis::linear("x"),
            y: Axis::linear("y"),
            series,
        };
        let [svg, _] = files(write_line_chart(&chart, &dir.join("many")));
        let text = svg_text(&svg, CHART_SIZE);
        assert!(has_text(&text, "series15") && !has_text(&text, "series16"));
        // 16 series of at most 2,000 points: well under a few megabytes.
        assert!(text.len() < 4_000_000, "{} bytes", text.len());
        assert_eq!(
            thin(&[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)], 2),
            [(0.0, 0.0), (2.0, 2.0)]
        );

        let panel = |i: usize| HistogramPanel {
            title: format!("panel{i}"),
            x_label: "v".into(),
            series: (0..100)
                .map(|k| HistogramSeries {
                    label: format!("h{k}"),
                    values: vec![k as f64, 1.0 + k as f64],
                })
                .collect(),
            bins: 30,
        };
        let figure = HistogramFigure {
            title: "wide".into(),
            panels: (0..10).map(panel).collect(),
        };
        let [svg, png] = files(write_histograms(&figure, &dir.join("wide")));
        let text = svg_text(&svg, (2080, 460));
        assert!(has_text(&text, "panel3") && !has_text(&text, "panel4"));
        assert!(has_text(&text, "h15") && !has_text(&text, "h16"));
        assert_eq!(png_size(&png), (2080, 460));
    }
}
