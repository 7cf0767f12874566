//! Line plots, e.g. Fig. 6: many faint single-run trajectories under thick
//! summary lines, optionally on a log y axis.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Axis;
use super::legend::{Entry, Mark, draw_haloed, draw_panel};
use super::palette::{self, SERIES, THIN, THIN_ALPHA};
use super::{Figure, LinePlot, PlotError, Series, draw_box, drawable_runs, frame, render_files};

/// Draws `p` into `png` and `svg`. Points that cannot be drawn (non-finite, or
/// y ≤ 0 on a log axis) break their line; a plot with no drawable point at
/// all is still drawn, with empty axes.
pub fn render_lines(p: &LinePlot, png: &Path, svg: &Path) -> Result<(), PlotError> {
    render_files(&LinesFigure::new(p)?, png, svg)
}

/// One line to draw: its runs of drawable points and its style.
struct Line {
    runs: Vec<Vec<(f64, f64)>>,
    colour: RGBAColor,
    width: u32,
    halo: Option<RGBColor>,
    /// Draw each point as a dot, unjoined.
    markers: bool,
    /// Error bars: (x, low, high), finite ones only.
    errors: Vec<(f64, f64, f64)>,
}

pub(super) struct LinesFigure<'a> {
    p: &'a LinePlot,
    x: Axis,
    y: Axis,
    /// Thin lines first, so that thick ones are drawn on top.
    lines: Vec<Line>,
    entries: Vec<Entry>,
}

impl<'a> LinesFigure<'a> {
    pub(super) fn new(p: &'a LinePlot) -> Result<Self, PlotError> {
        let mut thin_lines = vec![];
        let mut thick_lines = vec![];
        let mut entries = vec![];
        let mut thin_entry = None;
        for s in &p.series {
            let runs = drawable_runs(&s.points, false, p.y_log);
            if s.thin {
                thin_lines.push(Line {
                    runs,
                    colour: THIN.mix(THIN_ALPHA),
                    width: 1,
                    halo: None,
                    markers: s.markers,
                    errors: error_bars(s, p.y_log),
                });
                if thin_entry.is_none() && !s.label.is_empty() {
                    let mark = Mark::Line {
                        colour: THIN.to_rgba(),
                        halo: None,
                        width: 2,
                        dashed: false,
                    };
                    thin_entry = Some(Entry {
                        label: s.label.clone(),
                        mark,
                    });
                }
            } else {
                let colour = match s.colour {
                    Some((i, n)) if n > SERIES.len() => {
                        ViridisRGB::get_color(i as f64 / (n - 1) as f64).to_rgba()
                    }
                    Some((i, _)) => palette::nth(&SERIES, i).to_rgba(),
                    None => palette::nth(&SERIES, thick_lines.len()).to_rgba(),
                };
                thick_lines.push(Line {
                    runs,
                    colour,
                    // Curves of many cells are jagged: one pixel wide, no halo
                    // (wide strokes spike at the sharp turns).
                    width: if s.colour.is_some() { 1 } else { 3 },
                    halo: s.colour.is_none().then_some(WHITE),
                    markers: s.markers,
                    errors: error_bars(s, p.y_log),
                });
                if !s.label.is_empty() {
                    let mark = if s.markers {
                        Mark::Swatch(RGBColor(colour.0, colour.1, colour.2))
                    } else {
                        Mark::Line {
                            colour,
                            halo: None,
                            width: 3,
                            dashed: false,
                        }
                    };
                    entries.push(Entry {
                        label: s.label.clone(),
                        mark,
                    });
                }
            }
        }
        entries.extend(thin_entry);
        let lines: Vec<Line> = thin_lines.into_iter().chain(thick_lines).collect();
        let points = || lines.iter().flat_map(|l| l.runs.iter().flatten());
        let whiskers = || lines.iter().flat_map(|l| &l.errors);
        let (x, y) = (
            range(points().map(|p| p.0)),
            range(
                points()
                    .map(|p| p.1)
                    .chain(whiskers().flat_map(|e| [e.1, e.2])),
            ),
        );
        let x = match x {
            // Error bars at the ends keep their caps inside the box.
            Some((lo, hi)) if whiskers().next().is_some() && hi > lo => {
                let pad = 0.03 * (hi - lo);
                Axis::new(lo - pad, hi + pad, false)?
            }
            Some((lo, hi)) => Axis::new(lo, hi, false)?,
            None => Axis::new(0.0, 1.0, false)?,
        };
        let y = match (y, p.y_log) {
            (Some((lo, hi)), true) => {
                let pad = (hi / lo).log10().max(0.2) * 0.04;
                Axis::new(lo / 10f64.powf(pad), hi * 10f64.powf(pad), true)?
            }
            (Some((lo, hi)), false) => {
                let pad = (hi - lo).max(hi.abs() * 1e-3).max(1e-12) * 0.04;
                Axis::new(lo - pad, hi + pad, false)?
            }
            (None, log) => Axis::new(
                if log { 0.1 } else { 0.0 },
                if log { 10.0 } else { 1.0 },
                log,
            )?,
        };
        Ok(Self {
            p,
            x,
            y,
            lines,
            entries,
        })
    }
}

/// The drawable error bars of `s`: finite, at a drawable point, and > 0 on
/// a log axis. Bars given for some points only (or a length that does not
/// match) are an input mistake the plot shows as no bars, not a panic.
fn error_bars(s: &Series, y_log: bool) -> Vec<(f64, f64, f64)> {
    if s.errors.len() != s.points.len() {
        return vec![];
    }
    let ok = |v: f64| v.is_finite() && (!y_log || v > 0.0);
    s.points
        .iter()
        .zip(&s.errors)
        .filter(|((x, y), (lo, hi))| x.is_finite() && ok(*y) && ok(*lo) && ok(*hi) && lo <= hi)
        .map(|((x, _), (lo, hi))| (*x, *lo, *hi))
        .collect()
}

/// min and max of `values`, None if empty.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

impl Figure for LinesFigure<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let p = self.p;
        let labels = (p.x_label.as_str(), p.y_label.as_str());
        let panel = !self.entries.is_empty();
        let (chart, rect) = frame(
            root,
            &p.title,
            (self.x.clone(), self.y.clone()),
            labels,
            true,
            panel,
        )?;
        let area = chart.plotting_area();
        for line in &self.lines {
            for &(x, lo, hi) in &line.errors {
                let (px, top) = chart.backend_coord(&(x, hi));
                let (_, bottom) = chart.backend_coord(&(x, lo));
                let style = line.colour.stroke_width(2);
                root.draw(&PathElement::new(vec![(px, top), (px, bottom)], style))?;
                for py in [top, bottom] {
                    root.draw(&PathElement::new(vec![(px - 6, py), (px + 6, py)], style))?;
                }
            }
            for run in &line.runs {
                if line.markers {
                    for &point in run {
                        area.draw(&Circle::new(point, 4, line.colour.filled()))?;
                    }
                } else if run.len() == 1 {
                    area.draw(&Circle::new(run[0], line.width + 1, line.colour.filled()))?;
                } else {
                    draw_haloed(area, run, line.colour, line.halo, line.width, false)?;
                }
            }
        }
        draw_box(root, &chart)?;
        if panel {
            draw_panel(root, rect, None, None, &self.entries)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{png_summary, svg_texts, temp_dir, trajectories};
    use super::super::{FIGURE_SIZE, Series};
    use super::*;

    #[test]
    fn line_plot_writes_png_and_svg_with_one_legend_entry_for_all_thin_lines() {
        let p = trajectories();
        let fig = LinesFigure::new(&p).unwrap();
        let labels: Vec<&str> = fig.entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["⟨|w − w*|²⟩", "e^{2m t}", "single runs"]);
        let dir = temp_dir("lines");
        let (png, svg) = (dir.join("lines.png"), dir.join("lines.svg"));
        render_lines(&p, &png, &svg).unwrap();
        let (w, h, colours) = png_summary(&png);
        assert_eq!((w, h), FIGURE_SIZE);
        assert!(colours > 20, "only {colours} distinct colours");
        let texts = svg_texts(&svg);
        for needle in ["Fig. 6: SGD trajectories", "single runs", "step t"] {
            assert!(
                texts.iter().any(|t| t == needle),
                "SVG lacks the text {needle:?}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn non_positive_points_on_log_y_break_the_line_and_do_not_set_the_range() {
        let p = LinePlot {
            y_log: true,
            series: vec![Series {
                label: "s".into(),
                points: vec![(0.0, 1.0), (1.0, 0.0), (2.0, 10.0), (3.0, f64::NAN)],
                thin: false,
                markers: false,
                colour: None,
                errors: vec![],
            }],
            ..LinePlot::default()
        };
        let fig = LinesFigure::new(&p).unwrap();
        assert_eq!(fig.lines[0].runs.len(), 2);
        let (lo, hi) = fig.y.bounds();
        assert!(lo > 0.5 && lo < 1.0 && hi > 10.0 && hi < 20.0, "{lo}..{hi}");
    }

    #[test]
    fn error_bars_widen_the_y_range_and_bad_ones_are_skipped() {
        let series = |errors: Vec<(f64, f64)>| LinePlot {
            series: vec![Series {
                label: "mean".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)],
                errors,
                ..Series::default()
            }],
            ..LinePlot::default()
        };
        let p = series(vec![(0.5, 1.5), (0.0, 4.0), (f64::NAN, 3.5)]);
        let fig = LinesFigure::new(&p).unwrap();
        assert_eq!(fig.lines[0].errors.len(), 2, "the NaN bar is skipped");
        let (lo, hi) = fig.y.bounds();
        assert!(
            lo < 0.0 && hi > 4.0,
            "{lo}..{hi}: the bars are inside the axes"
        );
        // A length that does not match the points draws no bars.
        let p = series(vec![(0.0, 9.0)]);
        let fig = LinesFigure::new(&p).unwrap();
        assert!(fig.lines[0].errors.is_empty());
        let (_, hi) = fig.y.bounds();
        assert!(hi < 4.0, "{hi}");
        let dir = temp_dir("lines-errors");
        render_lines(
            &series(vec![(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)]),
            &dir.join("e.png"),
            &dir.join("e.svg"),
        )
        .unwrap();
        let svg = std::fs::read_to_string(dir.join("e.svg")).unwrap();
        // Three bars of three strokes each (the whisker and two caps).
        let strokes = svg.matches("stroke-width=\"2\"").count();
        assert!(strokes >= 9, "{strokes} strokes of width 2");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn empty_or_all_nan_plots_render_empty_axes() {
        let dir = temp_dir("lines-empty");
        let nan = Series {
            label: "nan".into(),
            points: vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
            thin: false,
            markers: false,
            colour: None,
            errors: vec![],
        };
        let one = Series {
            label: "one point".into(),
            points: vec![(1.0, 1.0)],
            thin: false,
            markers: false,
            colour: None,
            errors: vec![],
        };
        for series in [vec![], vec![nan], vec![one]] {
            for y_log in [false, true] {
                let p = LinePlot {
                    y_log,
                    series: series.clone(),
                    ..LinePlot::default()
                };
                render_lines(&p, &dir.join("e.png"), &dir.join("e.svg")).unwrap();
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_series_of_markers_is_a_scatter_with_a_swatch_in_the_legend() {
        let p = LinePlot {
            series: vec![Series {
                label: "cells".into(),
                points: vec![(1.0, 2.0), (3.0, 1.0), (2.0, 5.0)],
                thin: false,
                markers: true,
                colour: None,
                errors: vec![],
            }],
            ..LinePlot::default()
        };
        let fig = LinesFigure::new(&p).unwrap();
        assert!(fig.lines[0].markers);
        assert!(matches!(fig.entries[0].mark, Mark::Swatch(_)));
        let dir = temp_dir("scatter");
        render_lines(&p, &dir.join("s.png"), &dir.join("s.svg")).unwrap();
        let svg = std::fs::read_to_string(dir.join("s.svg")).unwrap();
        assert_eq!(svg.matches("<circle").count(), 3, "one dot per point");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
