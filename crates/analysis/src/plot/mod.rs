//! Figures for the paper's phase diagrams and training curves: heatmaps with
//! contours and theory curves on top (Fig. 2–4, 7–12) and line plots (Fig. 6).
//!
//! Every figure is written twice, as a PNG of [`FIGURE_SIZE`] pixels and as an
//! SVG of the same size, with the bundled DejaVu Sans (no system fonts needed).
//!
//! - [`render_heatmap`]: a grid of cells (numbers on viridis with a colorbar, or
//!   categories such as the phases Ia–IV with a legend), contours, dashed curves.
//! - [`render_lines`]: line plot, optionally log y, with faint background series.
//! - [`contour_segments`]: marching squares, the level set drawn by the heatmap.

/// Linear/log10 axes: ticks, tick labels, heatmap cell edges.
mod axis;
/// Heatmap cell colours and the legend entries that explain them.
mod cells;
/// Clipping curves to the plot box.
mod clip;
/// Marching squares and joining segments into polylines.
mod contour;
/// [`render_heatmap`].
mod heatmap;
/// The colorbar and legend panel right of the plot, text wrapping.
mod legend;
/// [`render_lines`].
mod lines;
/// Shared colours: phases, special cells, contours, curves, series.
mod palette;
/// Test helpers, fixtures and the demo figures.
#[cfg(test)]
mod testing;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use axis::{Axis, TICKS};

pub use axis::superscript;
pub use contour::contour_segments;
pub use heatmap::render_heatmap;
pub use lines::render_lines;

/// Width and height in pixels of every PNG (and of the SVG canvas).
pub const FIGURE_SIZE: (u32, u32) = (1000, 800);

/// One heatmap cell.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    /// A metric value, coloured on viridis (-inf as the minimum colour, +inf as
    /// the maximum, NaN as [`CellValue::Missing`]).
    Number(f64),
    /// A discrete label, e.g. a phase "Ia".."IV"; one such cell makes the whole
    /// map categorical.
    Category(String),
    /// No result for this cell (white).
    Missing,
    /// The run diverged (non-finite loss): a result, drawn dark red.
    Diverged,
    /// The run failed with an error (grey).
    Failed,
}

/// A level set drawn on a heatmap as a solid line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contour {
    /// Legend entry.
    pub label: String,
    /// `values[iy][ix]` on the heatmap's grid; -inf counts as below any level,
    /// +inf as above, NaN as no data.
    pub values: Vec<Vec<f64>>,
    /// The level whose set is drawn.
    pub level: f64,
}

/// A curve in data coordinates drawn on a heatmap as a dashed polyline (e.g. a
/// theory boundary). Non-finite points, and non-positive ones on a log axis,
/// break the line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    /// Legend entry.
    pub label: String,
    /// (x, y) points in data coordinates, in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// A heatmap over a (possibly log-scaled) grid of cell centres.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Cell-centre x coordinates: sorted ascending, unique, finite.
    pub xs: Vec<f64>,
    /// Cell-centre y coordinates: sorted ascending, unique, finite.
    pub ys: Vec<f64>,
    /// Log-scaled x axis (then every x > 0).
    pub x_log: bool,
    /// Log-scaled y axis (then every y > 0).
    pub y_log: bool,
    /// Names for a categorical x axis (an optimizer, an activation): then
    /// `xs` is 0, 1, …, n−1 and `x_log` is false. Empty for a numeric axis.
    pub x_categories: Vec<String>,
    /// Names for a categorical y axis, as `x_categories`.
    pub y_categories: Vec<String>,
    /// `cells[iy][ix]`: `ys.len()` rows of `xs.len()` cells.
    pub cells: Vec<Vec<CellValue>>,
    /// Colorbar title (numeric map) or legend title (categorical map).
    pub metric_label: String,
    /// Preferred order of categories in the legend (e.g. Ia, Ib, II, III, IV);
    /// categories not listed follow, sorted.
    pub category_order: Vec<String>,
    pub contours: Vec<Contour>,
    pub curves: Vec<Curve>,
    /// Text written in each cell, `labels[iy][ix]` (lines split at `\n`),
    /// e.g. a mean and its standard error; empty for none. Left out where
    /// the cells are too small to hold it legibly.
    pub labels: Vec<Vec<String>>,
}

/// One line of a [`LinePlot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend entry (thin series: only the first thin one gets an entry).
    pub label: String,
    /// (x, y) points; non-finite ones, and y ≤ 0 on a log y axis, break the line.
    pub points: Vec<(f64, f64)>,
    /// A faint background line, e.g. one sample trajectory among many.
    pub thin: bool,
    /// Points, not joined (a scatter: measured against predicted per cell).
    pub markers: bool,
    /// `(i, n)`: the colour of the i-th of n values (series of one value
    /// share it; n ≤ 7 picks from the series palette, more from viridis).
    /// None: the next colour of the palette.
    pub colour: Option<(usize, usize)>,
    /// Error bars: `(low, high)` at each point of `points` (same length),
    /// drawn as capped vertical whiskers; empty for none.
    pub errors: Vec<(f64, f64)>,
}

/// A line plot, e.g. Fig. 6: single SGD runs (thin) against their mean (thick).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Log-scaled y axis.
    pub y_log: bool,
    pub series: Vec<Series>,
}

/// Why a figure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The figure's data is inconsistent (sizes, ordering, log of ≤ 0).
    #[error("invalid plot input: {0}")]
    Input(String),
    /// The output directory could not be created.
    #[error("cannot create directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The backend failed while drawing or writing the file.
    #[error("cannot draw {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    /// The bundled font could not be parsed.
    #[error("the bundled font assets/fonts/DejaVuSans.ttf could not be loaded")]
    Font,
}

static FONT_BYTES: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");

/// Registers DejaVu Sans as "sans-serif" for plotters' ab_glyph text, once.
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// A figure that can draw itself on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Draws `fig` into `png` and `svg` (parent directories created as needed).
fn render_files(fig: &impl Figure, png: &Path, svg: &Path) -> Result<(), PlotError> {
    register_font()?;
    for path in [png, svg] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    // Each file is drawn under a temporary name and renamed into place, so
    // a reader never sees half a figure and a link planted at the name is
    // replaced, not followed.
    let (png_tmp, svg_tmp) = (temporary(png), temporary(svg));
    let drawn = (|| {
        {
            let root = BitMapBackend::new(&png_tmp, FIGURE_SIZE).into_drawing_area();
            fig.draw(&root).map_err(draw_err(png))?;
            root.present().map_err(draw_err(png))?;
        }
        let root = SVGBackend::new(&svg_tmp, FIGURE_SIZE).into_drawing_area();
        fig.draw(&root).map_err(draw_err(svg))?;
        root.present().map_err(draw_err(svg))?;
        drop(root);
        for (tmp, path) in [(&png_tmp, png), (&svg_tmp, svg)] {
            std::fs::rename(tmp, path).map_err(|e| PlotError::Draw {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    })();
    if drawn.is_err() {
        let _ = std::fs::remove_file(&png_tmp);
        let _ = std::fs::remove_file(&svg_tmp);
    }
    drawn
}

/// `dir/.tmp-<pid>-<name>`: a temporary name beside `path` with its extension
/// (the bitmap backend picks the format from it).
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(
        format!(
            ".tmp-{}-{:?}-{}",
            std::process::id(),
            std::thread::current().id(),
            name.unwrap_or_default()
        )
        .replace(['(', ')'], ""),
    )
}

/// A line plot as an SVG document, in memory.
pub fn lines_svg(p: &LinePlot) -> Result<String, PlotError> {
    register_font()?;
    let fig = lines::LinesFigure::new(p)?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, FIGURE_SIZE).into_drawing_area();
        fig.draw(&root).map_err(draw_err(Path::new("(svg)")))?;
        root.present().map_err(draw_err(Path::new("(svg)")))?;
    }
    Ok(text)
}

/// Pixel width kept right of the chart for the colorbar and legend.
const PANEL_WIDTH: u32 = 250;
const TITLE_SIZE: f64 = 28.0;
const TICK_LABEL_SIZE: f64 = 22.0;
const AXIS_LABEL_SIZE: f64 = 25.0;

/// The chart type of every figure: two [`Axis`] coordinates.
type Chart<DB> = ChartContext<'static, DB, Cartesian2d<Axis, Axis>>;

/// A figure's frame: white canvas, `title` on top, a chart with labelled axes
/// (and grid lines if `grid`) on the left, and, if `panel`, [`PANEL_WIDTH`]
/// pixels kept free on the right. Returns the chart and the panel's pixel
/// rectangle (x0, y0, x1, y1), top-aligned with the plotting area.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    (x, y): (Axis, Axis),
    (x_label, y_label): (&str, &str),
    grid: bool,
    panel: bool,
) -> Result<(Chart<DB>, (i32, i32, i32, i32)), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let title_style = font(TITLE_SIZE).pos(Pos::new(HPos::Center, VPos::Center));
    let mut top = 14;
    for line in legend::wrap(root, title, &title_style, w - 40)? {
        root.draw(&Text::new(
            line,
            (w as i32 / 2, top + 18),
            title_style.clone(),
        ))?;
        top += 36;
    }
    let main = root.margin(top, 0, 0, if panel { PANEL_WIDTH } else { 0 });
    let mut chart = ChartBuilder::on(&main)
        .margin_top(6)
        .margin_bottom(8)
        .margin_left(8)
        .margin_right(30)
        .x_label_area_size(78)
        .y_label_area_size(105)
        .build_cartesian_2d(x, y)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(TICKS)
        .y_labels(TICKS)
        .set_all_tick_mark_size(7)
        .label_style(font(TICK_LABEL_SIZE))
        .axis_desc_style(font(AXIS_LABEL_SIZE))
        .x_desc(x_label)
        .y_desc(y_label);
    if grid {
        mesh.light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.15));
    } else {
        mesh.disable_mesh();
    }
    mesh.draw()?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    Ok((chart, (px.end + 30, py.start, w as i32 - 10, h as i32 - 10)))
}

/// A black box around the plotting area, with short outward ticks at the
/// minor tick positions of log axes.
fn draw_box<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart<DB>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (px, py) = chart.plotting_area().get_pixel_range();
    let (x, y) = (chart.x_range(), chart.y_range());
    let coord = chart.as_coord_spec();
    for v in coord.x_spec().minor_ticks(TICKS) {
        let (cx, _) = chart.backend_coord(&(v, y.start));
        root.draw(&PathElement::new(
            vec![(cx, py.end), (cx, py.end + 4)],
            BLACK,
        ))?;
    }
    for v in coord.y_spec().minor_ticks(TICKS) {
        let (_, cy) = chart.backend_coord(&(x.start, v));
        root.draw(&PathElement::new(
            vec![(px.start - 4, cy), (px.start, cy)],
            BLACK,
        ))?;
    }
    root.draw(&Rectangle::new(
        [(px.start, py.start), (px.end, py.end)],
        BLACK.stroke_width(1),
    ))
}

/// Turns a backend's error into a [`PlotError`] naming the file.
fn draw_err<E: std::error::Error + Send + Sync>(
    path: &Path,
) -> impl Fn(DrawingAreaErrorKind<E>) -> PlotError + '_ {
    move |e| PlotError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Text style of the given pixel size in the registered sans-serif font.
fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).color(&BLACK)
}

/// Splits `points` into runs of drawable points: finite, and > 0 on a log axis.
fn drawable_runs(points: &[(f64, f64)], x_log: bool, y_log: bool) -> Vec<Vec<(f64, f64)>> {
    let ok = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    let mut runs = vec![];
    let mut run = vec![];
    for &(x, y) in points {
        if ok(x, x_log) && ok(y, y_log) {
            run.push((x, y));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawable_runs_break_at_non_finite_and_non_positive_log_points() {
        let pts = [
            (1.0, 1.0),
            (2.0, f64::NAN),
            (3.0, 3.0),
            (4.0, 4.0),
            (5.0, -1.0),
            (6.0, 6.0),
        ];
        let runs = drawable_runs(&pts, false, true);
        assert_eq!(
            runs,
            vec![
                vec![(1.0, 1.0)],
                vec![(3.0, 3.0), (4.0, 4.0)],
                vec![(6.0, 6.0)]
            ]
        );
        assert_eq!(drawable_runs(&pts, false, false).len(), 2);
    }

    #[test]
    fn bundled_font_registers() {
        register_font().unwrap();
        register_font().unwrap();
    }
}
