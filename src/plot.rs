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
use plotters::coord::Shift;
use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Draws `chart` to `STEM.svg` and `STEM.png` (`stem` is a path without extension) and returns
/// both paths, SVG first. The directory must exist.
pub fn write_line_chart(chart: &LineChart, stem: &Path) -> Result<[PathBuf; 2], Error> {
    render_both(stem, CHART_SIZE, chart)
}

/// Draws `figure` to `STEM.svg` and `STEM.png` and returns both paths, SVG first. The directory
/// must exist.
pub fn write_histograms(figure: &HistogramFigure, stem: &Path) -> Result<[PathBuf; 2], Error> {
    let width = 520 * figure.panels.len().clamp(1, 4) as u32;
    render_both(stem, (width, 460), figure)
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

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that readers see either the old file or the complete new one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = temp_path(path);
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("cannot write", path, e));
    }
    rename_into_place(&tmp, path)
}

/// A temporary name beside `path` that keeps its extension (the PNG encoder picks the format
/// from it) and is unique within this process and across processes.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}{ext}", std::process::id()))
}

fn rename_into_place(tmp: &Path, path: &Path) -> Result<(), Error> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        Error::io("cannot write", path, e)
    })
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

/// Renders `figure` once into an SVG string and once into a PNG file, both then renamed into
/// place.
fn render_both<F: Figure>(
    stem: &Path,
    size: (u32, u32),
    figure: &F,
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
    write_atomic(&svg_path, svg.as_bytes())?;

    let tmp = temp_path(&png_path);
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(draw_error(&png_path, e));
    }
    rename_into_place(&tmp, &png_path)?;
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
    let inside = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
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
                let mid = (lo * hi).sqrt();
                (mid / 10f64.sqrt(), mid * 10f64.sqrt())
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

    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = chart.series.iter().flat_map(|s| {
        s.points
            .iter()
            .filter(|&&p| {
                point_ok(
                    p,
                    &chart.x,
                    &Axis {
                        range: None,
                        ..chart.y.clone()
                    },
                )
            })
            .map(|p| p.1)
    });
    let (x0, x1) = axis_range(&chart.x, xs);
    let (y0, y1) = axis_range(&chart.y, ys);
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
            }
            .map_err(|e| e.to_string())?;
        }
        let drawn: Vec<(f64, f64)> = series
            .points
            .iter()
            .copied()
            .filter(|&p| point_ok(p, &chart.x, &chart.y))
            .collect();
        if drawn.len() <= MARKER_MAX_POINTS {
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
    let areas = root.split_evenly((1, figure.panels.len().min(4)));
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

fn draw_histogram_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &HistogramPanel,
) -> Result<(), String> {
    let bins = panel.bins.max(1);
    let all = panel.series.iter().flat_map(|s| s.values.iter().copied());
    let (raw_lo, raw_hi) = all
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    // Bins span exactly the data; equal values get a unit-wide bin around them.
    let (lo, hi) = if raw_lo > raw_hi {
        (0.0, 1.0)
    } else if raw_lo == raw_hi {
        let pad = (raw_lo.abs() * 0.05).max(0.5);
        (raw_lo - pad, raw_hi + pad)
    } else {
        (raw_lo, raw_hi)
    };
    let counts: Vec<Vec<usize>> = panel
        .series
        .iter()
        .map(|s| bin_counts(&s.values, lo, hi, bins))
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
    let pad = (hi - lo) * 0.02;
    let title = if raw_lo > raw_hi {
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "logexp-plot-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn non_empty(path: &Path) -> bool {
        std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    }

    #[test]
    fn the_embedded_font_registers() {
        assert!(font_ready());
    }

    #[test]
    fn awkward_series_still_draw_both_formats() {
        let dir = temp_dir("awkward");
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
        let [svg, png] = write_line_chart(&chart, &dir.join("awkward")).unwrap();
        assert!(non_empty(&svg) && non_empty(&png));
        assert!(std::fs::read_to_string(&svg).unwrap().contains("awkward"));

        let nothing = LineChart {
            title: "nothing".into(),
            x: Axis::log("x"),
            y: Axis::log("y"),
            series: vec![Series::new("nan", vec![(f64::NAN, f64::NAN), (0.0, 0.0)])],
        };
        let [svg, png] = write_line_chart(&nothing, &dir.join("nothing")).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("no data"));
        assert!(non_empty(&png));
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn histograms_handle_equal_and_missing_values() {
        let dir = temp_dir("hist");
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
        let [svg, png] = write_histograms(&figure, &dir.join("hist")).unwrap();
        assert!(non_empty(&svg) && non_empty(&png));
        let empty = HistogramFigure::default();
        let [svg, png] = write_histograms(&empty, &dir.join("none")).unwrap();
        assert!(non_empty(&svg) && non_empty(&png));
        let _ = std::fs::remove_dir_all(&dir);
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
    fn an_unwritable_directory_is_an_error() {
        let dir = temp_dir("unwritable");
        let file = dir.join("a-file");
        std::fs::write(&file, "x").unwrap();
        let chart = LineChart::default();
        let err = write_line_chart(&chart, &file.join("chart")).unwrap_err();
        assert!(err.to_string().contains("chart.svg"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
