//! Heatmaps: numeric maps on viridis with a colorbar, categorical maps (the
//! phases of Fig. 3) with a legend, contours and dashed curves on top.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{Axis, cell_edges};
use super::cells::{CellColours, colour_cells};
use super::clip::clip_run;
use super::contour::{contour_segments, join_segments};
use super::legend::{Colorbar, Entry, Mark, draw_haloed, draw_panel};
use super::palette::{self, CONTOURS, CURVES};
use super::{Figure, Heatmap, PlotError, draw_box, drawable_runs, frame, render_files};

/// Draws `h` into `png` and `svg`. Errors (never panics) on inconsistent input:
/// empty, unsorted or non-finite coordinates, a non-positive coordinate on a
/// log axis, a `cells` or contour grid whose shape is not `ys.len()` x `xs.len()`.
pub fn render_heatmap(h: &Heatmap, png: &Path, svg: &Path) -> Result<(), PlotError> {
    render_files(&HeatmapFigure::new(h)?, png, svg)
}

/// A polyline in data coordinates with its colour.
type Polylines = (Vec<Vec<(f64, f64)>>, RGBColor);

/// Everything [`render_heatmap`] draws, checked and coloured.
struct HeatmapFigure<'a> {
    h: &'a Heatmap,
    x: Axis,
    y: Axis,
    x_edges: Vec<f64>,
    y_edges: Vec<f64>,
    /// Fill colour of each cell, `[iy][ix]`.
    fills: Vec<Vec<RGBColor>>,
    colorbar: Option<Colorbar>,
    /// Legend title: the metric label on a categorical map.
    legend_title: Option<String>,
    entries: Vec<Entry>,
    contours: Vec<Polylines>,
    curves: Vec<Polylines>,
}

impl<'a> HeatmapFigure<'a> {
    fn new(h: &'a Heatmap) -> Result<Self, PlotError> {
        let bad = |msg: String| PlotError::Input(format!("heatmap \"{}\": {msg}", h.title));
        check_centres("xs", &h.xs, h.x_log).map_err(bad)?;
        check_centres("ys", &h.ys, h.y_log).map_err(bad)?;
        check_grid("cells", h.cells.iter().map(Vec::len), h.cells.len(), h).map_err(bad)?;
        if !h.labels.is_empty() {
            check_grid("labels", h.labels.iter().map(Vec::len), h.labels.len(), h).map_err(bad)?;
        }
        for c in &h.contours {
            let what = format!("contour \"{}\"", c.label);
            check_grid(&what, c.values.iter().map(Vec::len), c.values.len(), h).map_err(bad)?;
            if c.level.is_nan() {
                return Err(bad(format!("{what} has a NaN level")));
            }
        }
        let (x_edges, y_edges) = (cell_edges(&h.xs, h.x_log), cell_edges(&h.ys, h.y_log));
        let axis =
            |name: &str, centres: &[f64], edges: &[f64], log: bool, categories: &[String]| {
                if categories.is_empty() {
                    return Axis::over_cells(edges[0], edges[centres.len()], log, centres);
                }
                let indices = (0..categories.len()).map(|i| i as f64);
                if log || !centres.iter().copied().eq(indices) {
                    return Err(bad(format!(
                        "{name} has {} categories, so its centres must be 0, 1, … on a linear axis",
                        categories.len()
                    )));
                }
                Axis::categorical(categories)
            };
        let x = axis("x", &h.xs, &x_edges, h.x_log, &h.x_categories)?;
        let y = axis("y", &h.ys, &y_edges, h.y_log, &h.y_categories)?;

        let CellColours {
            fills,
            colorbar,
            legend_title,
            mut entries,
        } = colour_cells(h);

        let mut contours = vec![];
        for (i, c) in h.contours.iter().enumerate() {
            let colour = palette::nth(&CONTOURS, i);
            let segs = contour_segments(&h.xs, &h.ys, h.x_log, h.y_log, &c.values, c.level);
            contours.push((join_segments(&segs), colour));
            let mark = Mark::Line {
                colour: colour.to_rgba(),
                halo: Some(BLACK),
                width: 3,
                dashed: false,
            };
            entries.push(Entry {
                label: c.label.clone(),
                mark,
            });
        }
        let mut curves = vec![];
        for (i, c) in h.curves.iter().enumerate() {
            let colour = palette::nth(&CURVES, i);
            let runs = drawable_runs(&c.points, h.x_log, h.y_log);
            curves.push((
                runs.iter().flat_map(|r| clip_run(r, &x, &y)).collect(),
                colour,
            ));
            let mark = Mark::Line {
                colour: colour.to_rgba(),
                halo: Some(WHITE),
                width: 3,
                dashed: true,
            };
            entries.push(Entry {
                label: c.label.clone(),
                mark,
            });
        }
        entries.retain(|e| !e.label.is_empty());
        Ok(Self {
            h,
            x,
            y,
            x_edges,
            y_edges,
            fills,
            colorbar,
            legend_title,
            entries,
            contours,
            curves,
        })
    }
}

impl Figure for HeatmapFigure<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let h = self.h;
        let labels = (h.x_label.as_str(), h.y_label.as_str());
        let (mut chart, panel) = frame(
            root,
            &h.title,
            (self.x.clone(), self.y.clone()),
            labels,
            false,
            true,
        )?;
        // Each cell also covers the next cell right and up, which is drawn
        // later over it: no anti-aliasing seams between cells in SVG viewers.
        let (xe, ye) = (&self.x_edges, &self.y_edges);
        let (nx, ny) = (xe.len() - 1, ye.len() - 1);
        chart.draw_series(self.fills.iter().enumerate().flat_map(|(iy, row)| {
            row.iter().enumerate().map(move |(ix, colour)| {
                let far = (xe[(ix + 2).min(nx)], ye[(iy + 2).min(ny)]);
                Rectangle::new([(xe[ix], ye[iy]), far], colour.filled())
            })
        }))?;
        let area = chart.plotting_area();
        for (lines, colour) in &self.contours {
            for line in lines {
                draw_haloed(area, line, colour.to_rgba(), Some(BLACK), 3, false)?;
            }
        }
        for (lines, colour) in &self.curves {
            for line in lines {
                draw_haloed(area, line, colour.to_rgba(), Some(WHITE), 3, true)?;
            }
        }
        self.draw_labels(root, &chart)?;
        draw_box(root, &chart)?;
        draw_panel(
            root,
            panel,
            self.colorbar.as_ref(),
            self.legend_title.as_deref(),
            &self.entries,
        )
    }
}

/// Cell-centre coordinates must be non-empty, finite, strictly ascending and,
/// on a log axis, positive.
impl HeatmapFigure<'_> {
    /// `h.labels` centred in their cells, black on light fills and white on
    /// dark ones, in one font size that fits the widest label into a cell
    /// (none below [`MIN_LABEL_SIZE`]: then no labels at all).
    fn draw_labels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &super::Chart<DB>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let h = self.h;
        if h.labels.is_empty() {
            return Ok(());
        }
        let (xe, ye) = (&self.x_edges, &self.y_edges);
        let width = |ix: usize| {
            (chart.backend_coord(&(xe[ix + 1], ye[0])).0 - chart.backend_coord(&(xe[ix], ye[0])).0)
                .abs() as f64
        };
        let height = |iy: usize| {
            (chart.backend_coord(&(xe[0], ye[iy + 1])).1 - chart.backend_coord(&(xe[0], ye[iy])).1)
                .abs() as f64
        };
        let cell_w = (0..h.xs.len()).map(width).fold(f64::INFINITY, f64::min);
        let cell_h = (0..h.ys.len()).map(height).fold(f64::INFINITY, f64::min);
        let lines = |l: &str| l.split('\n').count().max(1) as f64;
        let chars = |l: &str| l.split('\n').map(|s| s.chars().count()).max().unwrap_or(0) as f64;
        let labels = || h.labels.iter().flatten().filter(|l| !l.is_empty());
        let (most_chars, most_lines) = labels().fold((1.0f64, 1.0f64), |(c, n), l| {
            (c.max(chars(l)), n.max(lines(l)))
        });
        // DejaVu Sans digits are about 0.6 em wide; lines 1.25 em apart.
        let size = (0.9 * cell_w / (0.6 * most_chars))
            .min(0.85 * cell_h / (1.25 * most_lines))
            .min(MAX_LABEL_SIZE);
        if size < MIN_LABEL_SIZE {
            return Ok(());
        }
        for (iy, row) in h.labels.iter().enumerate() {
            for (ix, label) in row.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
                let fill = self.fills[iy][ix];
                let luminance = 0.299 * f64::from(fill.0)
                    + 0.587 * f64::from(fill.1)
                    + 0.114 * f64::from(fill.2);
                let colour = if luminance < 128.0 { WHITE } else { BLACK };
                let style = super::font(size)
                    .color(&colour)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let (cx, cy) = chart.backend_coord(&(h.xs[ix], h.ys[iy]));
                let n = lines(label);
                for (k, line) in label.split('\n').enumerate() {
                    let dy = (k as f64 - (n - 1.0) / 2.0) * 1.25 * size;
                    root.draw(&Text::new(
                        line.to_string(),
                        (cx, cy + dy.round() as i32),
                        style.clone(),
                    ))?;
                }
            }
        }
        Ok(())
    }
}

/// Cell labels are drawn at most this large (pixels) …
const MAX_LABEL_SIZE: f64 = 22.0;
/// … and not at all where they would have to be smaller than this.
const MIN_LABEL_SIZE: f64 = 11.0;

fn check_centres(name: &str, v: &[f64], log: bool) -> Result<(), String> {
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if let Some((i, c)) = v
        .iter()
        .enumerate()
        .find(|(_, c)| !c.is_finite() || (log && **c <= 0.0))
    {
        let need = if log {
            "finite and > 0 on a log axis"
        } else {
            "finite"
        };
        return Err(format!("{name}[{i}] = {c} must be {need}"));
    }
    if let Some(i) = (1..v.len()).find(|&i| v[i] <= v[i - 1]) {
        return Err(format!(
            "{name} must be strictly ascending, but {name}[{i}] = {} follows {}",
            v[i],
            v[i - 1]
        ));
    }
    Ok(())
}

/// A grid of `n_rows` rows with lengths `row_lens` must be ys.len() x xs.len().
fn check_grid(
    what: &str,
    mut row_lens: impl Iterator<Item = usize>,
    n_rows: usize,
    h: &Heatmap,
) -> Result<(), String> {
    let (nx, ny) = (h.xs.len(), h.ys.len());
    if n_rows != ny {
        return Err(format!("{what} has {n_rows} rows but ys has {ny} values"));
    }
    match row_lens.position(|n| n != nx) {
        Some(iy) => Err(format!(
            "{what} row {iy} does not have xs.len() = {nx} values"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::axis::TICKS;
    use super::super::testing::{numeric_map, png_summary, svg_texts, temp_dir};
    use super::super::{CellValue, FIGURE_SIZE};
    use super::*;

    #[test]
    fn cell_labels_are_written_in_coarse_cells_and_left_out_of_crowded_ones() {
        let dir = temp_dir("heatmap-labels");
        let (png, svg) = (dir.join("map.png"), dir.join("map.svg"));
        let map = |n: usize| Heatmap {
            title: "labels".into(),
            xs: (0..n).map(|i| i as f64).collect(),
            ys: vec![0.0, 0.4, 0.8],
            cells: (0..3)
                .map(|iy| {
                    (0..n)
                        .map(|ix| CellValue::Number((iy * n + ix) as f64))
                        .collect()
                })
                .collect(),
            labels: (0..3)
                .map(|iy| {
                    (0..n)
                        .map(|ix| format!("{}\n± 0.{iy}{ix}", iy * n + ix))
                        .collect()
                })
                .collect(),
            ..Heatmap::default()
        };
        render_heatmap(&map(3), &png, &svg).unwrap();
        let texts = svg_texts(&svg);
        for needle in ["0", "8", "± 0.00", "± 0.22"] {
            assert!(
                texts.iter().any(|t| t == needle),
                "SVG lacks {needle:?}: {texts:?}"
            );
        }
        // 200 columns: no room, no labels (and no error).
        render_heatmap(&map(200), &png, &svg).unwrap();
        assert!(!svg_texts(&svg).iter().any(|t| t.starts_with("± ")));
        // Labels must match the grid's shape.
        let mut bad = map(3);
        bad.labels[1].pop();
        let err = render_heatmap(&bad, &png, &svg).unwrap_err().to_string();
        assert!(err.contains("labels row 1"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn numeric_heatmap_writes_png_of_figure_size_and_svg_with_title_and_legend() {
        let dir = temp_dir("heatmap-numeric");
        let (png, svg) = (dir.join("map.png"), dir.join("map.svg"));
        render_heatmap(&numeric_map(), &png, &svg).unwrap();
        let (w, h, colours) = png_summary(&png);
        assert_eq!((w, h), FIGURE_SIZE);
        assert!(colours > 50, "only {colours} distinct colours");
        let texts = svg_texts(&svg);
        for needle in [
            "Lyapunov exponent map",
            "m = 0 boundary",
            "theory λ = 2/h",
            "diverged",
            "m (Eq. 7)",
        ] {
            assert!(
                texts.iter().any(|t| t == needle),
                "SVG lacks the text {needle:?}"
            );
        }
        for absent in ["missing", "failed"] {
            assert!(
                !texts.iter().any(|t| t == absent),
                "legend entry {absent:?} for an absent cell kind"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn categorical_heatmap_lists_every_category_in_the_svg() {
        let phases = ["Ia", "Ib", "II", "III", "IV", "other"];
        let cells = vec![
            phases
                .iter()
                .map(|p| CellValue::Category(p.to_string()))
                .collect(),
            vec![
                CellValue::Diverged,
                CellValue::Failed,
                CellValue::Missing,
                CellValue::Number(f64::NAN),
                CellValue::Category("Ia".into()),
                CellValue::Category("II".into()),
            ],
        ];
        let h = Heatmap {
            title: "Phases of the saddle".into(),
            xs: (1..=6).map(f64::from).collect(),
            ys: vec![0.5, 1.0],
            cells,
            metric_label: "phase".into(),
            category_order: ["Ia", "Ib", "II", "III", "IV"].map(String::from).to_vec(),
            ..Heatmap::default()
        };
        let fig = HeatmapFigure::new(&h).unwrap();
        let labels: Vec<&str> = fig.entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Ia", "Ib", "II", "III", "IV", "other", "diverged", "failed", "missing"
            ]
        );
        let dir = temp_dir("heatmap-categorical");
        let (png, svg) = (dir.join("phases.png"), dir.join("phases.svg"));
        render_heatmap(&h, &png, &svg).unwrap();
        let texts = svg_texts(&svg);
        for needle in phases
            .iter()
            .chain(&["diverged", "failed", "missing", "phase"])
        {
            assert!(
                texts.iter().any(|t| t == needle),
                "SVG lacks the text {needle:?}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn categorical_axes_name_each_cell_and_need_index_centres() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let h = Heatmap {
            title: "accuracy".into(),
            xs: vec![0.0, 1.0, 2.0],
            ys: vec![0.0, 1.0],
            x_categories: names(&["linear", "tanh", "relu"]),
            y_categories: names(&["sgd", "adam"]),
            cells: vec![vec![CellValue::Number(1.0); 3]; 2],
            ..Heatmap::default()
        };
        let fig = HeatmapFigure::new(&h).unwrap();
        let ticks = |a: &Axis| {
            a.major_ticks(TICKS)
                .into_iter()
                .map(|v| a.label(v))
                .collect::<Vec<_>>()
        };
        assert_eq!(ticks(&fig.x), ["linear", "tanh", "relu"]);
        assert_eq!(ticks(&fig.y), ["sgd", "adam"]);
        assert_eq!(fig.x.bounds(), (-0.5, 2.5));
        let dir = temp_dir("heatmap-categories");
        let svg = dir.join("c.svg");
        render_heatmap(&h, &dir.join("c.png"), &svg).unwrap();
        let texts = svg_texts(&svg);
        for name in ["linear", "tanh", "relu", "sgd", "adam"] {
            assert!(
                texts.iter().any(|t| t == name),
                "SVG lacks {name:?}: {texts:?}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();

        for bad in [
            Heatmap {
                xs: vec![0.5, 1.0, 2.0],
                ..h.clone()
            },
            Heatmap {
                x_categories: names(&["a", "b"]),
                ..h.clone()
            },
            Heatmap {
                x_log: true,
                xs: vec![1.0, 2.0, 3.0],
                ..h.clone()
            },
        ] {
            assert!(matches!(HeatmapFigure::new(&bad), Err(PlotError::Input(_))));
        }
    }

    #[test]
    fn flat_or_all_nan_maps_still_render() {
        let dir = temp_dir("heatmap-flat");
        for v in [3.0, f64::NAN] {
            let h = Heatmap {
                title: "flat".into(),
                xs: vec![1.0],
                ys: vec![1.0, 2.0],
                cells: vec![vec![CellValue::Number(v)]; 2],
                ..Heatmap::default()
            };
            render_heatmap(&h, &dir.join("flat.png"), &dir.join("flat.svg")).unwrap();
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mismatched_or_invalid_grids_are_errors_not_panics() {
        let good = numeric_map();
        let mut short_row = good.clone();
        short_row.cells[2].pop();
        let mut few_rows = good.clone();
        few_rows.cells.pop();
        let mut bad_contour = good.clone();
        bad_contour.contours[0].values.pop();
        let mut unsorted = good.clone();
        unsorted.ys.swap(0, 1);
        let mut log_of_zero = good.clone();
        log_of_zero.y_log = true;
        let empty = Heatmap::default();
        let dir = temp_dir("heatmap-errors");
        for (name, h) in [
            ("short row", short_row),
            ("few rows", few_rows),
            ("contour", bad_contour),
            ("unsorted", unsorted),
            ("log of 0", log_of_zero),
            ("empty", empty),
        ] {
            match render_heatmap(&h, &dir.join("x.png"), &dir.join("x.svg")) {
                Err(PlotError::Input(msg)) => assert!(!msg.is_empty()),
                other => panic!("{name}: expected an input error, got {other:?}"),
            }
        }
        assert!(!dir.join("x.png").exists(), "nothing written for bad input");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
