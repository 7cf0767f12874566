//! The panel right of a figure's plotting area: a colorbar and/or a legend,
//! so that neither covers data. Long labels are wrapped to the panel width.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{Axis, format_number};
use super::font;
use super::palette::{OUTLINE, viridis};

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    /// A filled rectangle (a category or a special cell).
    Swatch(RGBColor),
    /// A line sample, `dashed` or solid, over an optional wider halo.
    Line {
        colour: RGBAColor,
        halo: Option<RGBColor>,
        width: u32,
        dashed: bool,
    },
}

/// One legend row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub label: String,
    pub mark: Mark,
}

/// A vertical viridis colorbar from `min` (bottom) to `max` (top).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Colorbar {
    title: String,
    /// Ticks as (fraction of the bar height from the bottom, label).
    ticks: Vec<(f64, String)>,
    /// min == max: the bar is one colour, that of the middle of viridis.
    flat: bool,
}

impl Colorbar {
    /// A colorbar for finite `min <= max`.
    pub fn new(title: &str, min: f64, max: f64) -> Self {
        let flat = !(max > min);
        let ticks = match Axis::new(min, max, false) {
            Ok(axis) if !flat => {
                let ticks = axis.major_ticks(6);
                ticks
                    .iter()
                    .map(|&v| ((v - min) / (max - min), axis.label_among(v, 6)))
                    .collect()
            }
            _ => vec![(0.5, format_number(min, min.abs()))],
        };
        Self {
            title: title.to_string(),
            ticks,
            flat,
        }
    }
}

const TITLE_SIZE: f64 = 23.0;
const LABEL_SIZE: f64 = 21.0;
const LINE_HEIGHT: i32 = 26;
const MARK_WIDTH: i32 = 40;
const MARK_HEIGHT: i32 = 20;
const ROW_GAP: i32 = 8;
const BAR_WIDTH: i32 = 28;

/// Draws `colorbar` (if any) then `legend_title` and `entries` (if any) in
/// the pixel rectangle `x0..x1, y0..y1` of `root`, top-aligned.
pub(crate) fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x0, y0, x1, y1): (i32, i32, i32, i32),
    colorbar: Option<&Colorbar>,
    legend_title: Option<&str>,
    entries: &[Entry],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let width = (x1 - x0).max(1) as u32;
    let title_style = font(TITLE_SIZE);
    let label_style = font(LABEL_SIZE);
    let label_width = width.saturating_sub((MARK_WIDTH + 10) as u32);

    let legend_title = match legend_title.filter(|t| !t.is_empty()) {
        Some(t) => wrap(root, t, &title_style, width)?,
        None => vec![],
    };
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        rows.push(wrap(root, &e.label, &label_style, label_width)?);
    }
    let legend_height = legend_title.len() as i32 * LINE_HEIGHT
        + rows
            .iter()
            .map(|r| r.len().max(1) as i32 * LINE_HEIGHT + ROW_GAP)
            .sum::<i32>();

    let mut y = y0;
    if let Some(bar) = colorbar {
        let title = wrap(root, &bar.title, &title_style, width)?;
        y = draw_lines(root, &title, &title_style, x0, y)? + 12;
        let spare = if entries.is_empty() {
            0
        } else {
            legend_height + 40
        };
        let bar_height = (y1 - y - spare).min((y1 - y0) * 7 / 10).max(120);
        draw_colorbar(root, bar, (x0 + 4, y, bar_height), &label_style)?;
        y += bar_height + 40;
    }
    y = draw_lines(root, &legend_title, &title_style, x0, y)?;
    if !legend_title.is_empty() {
        y += ROW_GAP;
    }
    for (entry, lines) in entries.iter().zip(&rows) {
        let mid = y + LINE_HEIGHT / 2;
        draw_mark(root, entry.mark, (x0 + 2, mid))?;
        y = draw_lines(root, lines, &label_style, x0 + MARK_WIDTH + 10, y)? + ROW_GAP;
    }
    Ok(())
}

/// The bar with its outline, tick marks and labels; `(x, top, height)`.
fn draw_colorbar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bar: &Colorbar,
    (x, top, height): (i32, i32, i32),
    style: &TextStyle,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let bottom = top + height;
    for row in 0..height {
        let t = if bar.flat {
            0.5
        } else {
            (f64::from(height - row) - 0.5) / f64::from(height)
        };
        // Rows overlap by a pixel so that no seam shows in SVG viewers.
        let rect = [(x, top + row), (x + BAR_WIDTH, (top + row + 2).min(bottom))];
        root.draw(&Rectangle::new(rect, viridis(t).filled()))?;
    }
    root.draw(&Rectangle::new(
        [(x, top), (x + BAR_WIDTH, bottom)],
        OUTLINE.stroke_width(1),
    ))?;
    let anchored = style.pos(Pos::new(HPos::Left, VPos::Center));
    for (frac, label) in &bar.ticks {
        let ty = bottom - (frac * f64::from(height)).round() as i32;
        root.draw(&PathElement::new(
            vec![(x + BAR_WIDTH, ty), (x + BAR_WIDTH + 6, ty)],
            OUTLINE,
        ))?;
        root.draw(&Text::new(
            label.clone(),
            (x + BAR_WIDTH + 10, ty),
            anchored.clone(),
        ))?;
    }
    Ok(())
}

/// A legend mark centred vertically on `mid`, starting at `x`.
fn draw_mark<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    mark: Mark,
    (x, mid): (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    match mark {
        Mark::Swatch(colour) => {
            let rect = [
                (x, mid - MARK_HEIGHT / 2),
                (x + MARK_WIDTH, mid + MARK_HEIGHT / 2),
            ];
            root.draw(&Rectangle::new(rect, colour.filled()))?;
            root.draw(&Rectangle::new(rect, OUTLINE.stroke_width(1)))
        }
        Mark::Line {
            colour,
            halo,
            width,
            dashed,
        } => {
            let pts = vec![(x, mid), (x + MARK_WIDTH, mid)];
            draw_haloed(root, &pts, colour, halo, width, dashed)
        }
    }
}

/// A polyline over an optional halo three pixels wider, which keeps it
/// visible on any background.
pub(crate) fn draw_haloed<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: &[CT::From],
    colour: RGBAColor,
    halo: Option<RGBColor>,
    width: u32,
    dashed: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    CT::From: Clone,
{
    let (dash, gap) = (6 * width.max(2), 4 * width.max(2));
    let mut styles = vec![];
    if let Some(halo) = halo {
        styles.push(halo.stroke_width(width + 3));
    }
    styles.push(ShapeStyle {
        color: colour,
        filled: false,
        stroke_width: width,
    });
    for style in styles {
        if dashed {
            area.draw(&DashedPathElement::new(
                points.iter().cloned(),
                dash,
                gap,
                style,
            ))?;
        } else {
            area.draw(&PathElement::new(points.to_vec(), style))?;
        }
    }
    Ok(())
}

/// Draws `lines` one under the other from `top`; returns the y below them.
fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lines: &[String],
    style: &TextStyle,
    x: i32,
    top: i32,
) -> Result<i32, DrawingAreaErrorKind<DB::ErrorType>> {
    let anchored = style.pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = top;
    for line in lines {
        root.draw(&Text::new(
            line.clone(),
            (x, y + LINE_HEIGHT / 2),
            anchored.clone(),
        ))?;
        y += LINE_HEIGHT;
    }
    Ok(y)
}

/// Greedy word wrap of `text` to `max_width` pixels; a word wider than that
/// is broken between characters.
pub(crate) fn wrap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_width: u32,
) -> Result<Vec<String>, DrawingAreaErrorKind<DB::ErrorType>> {
    let fits = |s: &str| {
        root.estimate_text_size(s, style)
            .map(|(w, _)| w <= max_width)
    };
    let mut lines: Vec<String> = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if fits(&candidate)? {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            line.push(c);
            if line.chars().count() > 1 && !fits(&line)? {
                line.pop();
                lines.push(std::mem::replace(&mut line, c.to_string()));
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorbar_ticks_lie_on_the_bar_and_a_flat_bar_has_one_tick_in_the_middle() {
        let bar = Colorbar::new("m", -2.7, 1.7);
        assert!(bar.ticks.len() >= 3);
        assert!(bar.ticks.iter().all(|(f, _)| (0.0..=1.0).contains(f)));
        assert!(bar.ticks.iter().any(|(_, l)| l == "0"));
        // Ticks at 0.025 steps keep their third decimal.
        let bar = Colorbar::new("m", 0.0, 0.15);
        let labels: Vec<&str> = bar.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert!(
            labels.contains(&"0.025") || labels.contains(&"0.05"),
            "{labels:?}"
        );
        for (f, l) in &bar.ticks {
            let v: f64 = l.replace('−', "-").parse().unwrap();
            assert!((v - f * 0.15).abs() < 1e-9, "label {l} at {f}");
        }
        let flat = Colorbar::new("m", 3.0, 3.0);
        assert!(flat.flat);
        assert_eq!(flat.ticks, vec![(0.5, "3".to_string())]);
    }

    #[test]
    fn wrap_keeps_lines_within_the_width_and_breaks_long_words() {
        super::super::register_font().unwrap();
        let mut buf = vec![0u8; 400 * 100 * 3];
        let root = BitMapBackend::with_buffer(&mut buf, (400, 100)).into_drawing_area();
        let style = font(LABEL_SIZE);
        let text =
            "rank of the penultimate features of 1000 test images averaged_over_all_seeds_and_runs";
        let lines = wrap(&root, text, &style, 200).unwrap();
        assert!(lines.len() >= 4, "{lines:?}");
        for l in &lines {
            let (w, _) = root.estimate_text_size(l, &style).unwrap();
            assert!(w <= 200, "{l:?} is {w} px wide");
        }
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        assert!(wrap(&root, "", &style, 200).unwrap().is_empty());
    }
}
