//! Heatmap cell colours: viridis over the numbers, the shared palette for
//! categories (phases), special colours for diverged, failed and missing
//! cells, and the colorbar or legend entries that explain them.

use plotters::prelude::*;

use super::legend::{Colorbar, Entry, Mark};
use super::palette::{self, DIVERGED, FAILED, MISSING};
use super::{CellValue, Heatmap};

/// The colours of a heatmap's cells and what explains them.
pub(crate) struct CellColours {
    /// Fill colour of each cell, `[iy][ix]`.
    pub fills: Vec<Vec<RGBColor>>,
    /// On a numeric map with at least one finite number.
    pub colorbar: Option<Colorbar>,
    /// The metric label, on a categorical map.
    pub legend_title: Option<String>,
    /// Categories (if any), then "diverged", "failed", "missing" where present.
    pub entries: Vec<Entry>,
}

/// Colours `h.cells`: categorical if any cell is a category, else numeric.
pub(crate) fn colour_cells(h: &Heatmap) -> CellColours {
    let categorical = h
        .cells
        .iter()
        .flatten()
        .any(|c| matches!(c, CellValue::Category(_)));
    let mut colours = if categorical {
        let (fills, entries) = categorical_fills(h);
        CellColours {
            fills,
            colorbar: None,
            legend_title: Some(h.metric_label.clone()),
            entries,
        }
    } else {
        let (fills, colorbar) = numeric_fills(h);
        CellColours {
            fills,
            colorbar,
            legend_title: None,
            entries: vec![],
        }
    };
    let cells = || h.cells.iter().flatten();
    let is_missing = |c: &CellValue| match c {
        CellValue::Missing => true,
        CellValue::Number(v) => v.is_nan(),
        _ => false,
    };
    for (present, label, colour) in [
        (
            cells().any(|c| *c == CellValue::Diverged),
            "diverged",
            DIVERGED,
        ),
        (cells().any(|c| *c == CellValue::Failed), "failed", FAILED),
        (cells().any(is_missing), "missing", MISSING),
    ] {
        if present {
            colours.entries.push(Entry {
                label: label.into(),
                mark: Mark::Swatch(colour),
            });
        }
    }
    colours
}

/// Viridis over the finite min..max of the numbers (-inf at the low end,
/// +inf at the high end, NaN missing); the colorbar if any number is finite.
fn numeric_fills(h: &Heatmap) -> (Vec<Vec<RGBColor>>, Option<Colorbar>) {
    let finite = h.cells.iter().flatten().filter_map(|c| match c {
        CellValue::Number(v) if v.is_finite() => Some(*v),
        _ => None,
    });
    let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let colorbar = (min <= max).then(|| Colorbar::new(&h.metric_label, min, max));
    let fills = h
        .cells
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    CellValue::Number(v) if v.is_nan() => MISSING,
                    CellValue::Number(v) if max > min => palette::viridis((v - min) / (max - min)),
                    CellValue::Number(v) if v.is_infinite() => {
                        palette::viridis(if *v > 0.0 { 1.0 } else { 0.0 })
                    }
                    CellValue::Number(_) => palette::viridis(0.5),
                    other => special_fill(other),
                })
                .collect()
        })
        .collect();
    (fills, colorbar)
}

/// One colour per category (phases keep theirs); a number on a categorical
/// map becomes the category named by its value.
fn categorical_fills(h: &Heatmap) -> (Vec<Vec<RGBColor>>, Vec<Entry>) {
    let name = |c: &CellValue| match c {
        CellValue::Category(s) => Some(s.clone()),
        CellValue::Number(v) if !v.is_nan() => Some(format!("{v}")),
        _ => None,
    };
    let mut present: Vec<String> = h.cells.iter().flatten().filter_map(name).collect();
    present.sort_by(|a, b| natural_cmp(a, b));
    present.dedup();
    let mut order: Vec<String> = vec![];
    for c in h.category_order.iter().chain(&present) {
        if present.contains(c) && !order.contains(c) {
            order.push(c.clone());
        }
    }
    let colours = palette::category_colours(&order);
    let colour_of = |s: &str| order.iter().position(|o| o == s).map(|i| colours[i]);
    let fills = h
        .cells
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| {
                    name(c)
                        .and_then(|s| colour_of(&s))
                        .unwrap_or_else(|| special_fill(c))
                })
                .collect()
        })
        .collect();
    let entries = order.into_iter().zip(colours).map(|(label, c)| Entry {
        label,
        mark: Mark::Swatch(c),
    });
    (fills, entries.collect())
}

/// Orders strings with their digit runs compared as numbers ("S=2" < "S=10").
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = vec![];
        let mut start = 0;
        for (i, c) in s.char_indices().skip(1) {
            let prev = s[..i]
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_digit());
            if c.is_ascii_digit() != prev {
                out.push((prev, &s[start..i]));
                start = i;
            }
        }
        if !s.is_empty() {
            out.push((
                s[start..].starts_with(|c: char| c.is_ascii_digit()),
                &s[start..],
            ));
        }
        out
    }
    fn key((digits, text): (bool, &str)) -> (u8, usize, &str) {
        let t = text.trim_start_matches('0');
        if digits {
            (0, t.len(), t)
        } else {
            (1, 0, text)
        }
    }
    let (ca, cb) = (chunks(a), chunks(b));
    let by_chunks = ca
        .iter()
        .zip(&cb)
        .map(|(x, y)| key(*x).cmp(&key(*y)))
        .find(|o| o.is_ne());
    by_chunks
        .unwrap_or_else(|| ca.len().cmp(&cb.len()))
        .then_with(|| a.cmp(b))
}

fn special_fill(c: &CellValue) -> RGBColor {
    match c {
        CellValue::Diverged => DIVERGED,
        CellValue::Failed => FAILED,
        _ => MISSING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_numbers_take_the_end_colours_and_nan_is_missing() {
        let h = Heatmap {
            xs: vec![1.0, 2.0, 3.0, 4.0],
            ys: vec![1.0],
            cells: vec![
                [f64::NEG_INFINITY, 0.0, 1.0, f64::INFINITY]
                    .map(CellValue::Number)
                    .to_vec(),
            ],
            ..Heatmap::default()
        };
        let fills = colour_cells(&h).fills;
        assert_eq!(
            fills[0],
            [
                palette::viridis(0.0),
                palette::viridis(0.0),
                palette::viridis(1.0),
                palette::viridis(1.0)
            ]
        );
        let mut nan = h.clone();
        nan.cells[0][1] = CellValue::Number(f64::NAN);
        let fig = colour_cells(&nan);
        assert_eq!(fig.fills[0][1], MISSING);
        assert!(fig.entries.iter().any(|e| e.label == "missing"));
    }

    #[test]
    fn legend_lists_categories_in_the_given_order_then_the_rest_then_special_cells() {
        let cells = vec![
            ["other", "IV", "Ia", "II"]
                .map(|p| CellValue::Category(p.into()))
                .to_vec(),
            vec![
                CellValue::Diverged,
                CellValue::Failed,
                CellValue::Missing,
                CellValue::Number(2.0),
            ],
        ];
        let h = Heatmap {
            xs: vec![1.0, 2.0, 3.0, 4.0],
            ys: vec![1.0, 2.0],
            cells,
            category_order: ["Ia", "Ib", "II", "III", "IV"].map(String::from).to_vec(),
            ..Heatmap::default()
        };
        let colours = colour_cells(&h);
        let labels: Vec<&str> = colours.entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Ia", "II", "IV", "2", "other", "diverged", "failed", "missing"
            ]
        );
        assert_eq!(colours.fills[1][..3], [DIVERGED, FAILED, MISSING]);
    }

    #[test]
    fn categories_outside_the_given_order_sort_with_numbers_compared_as_numbers() {
        let mut v = ["S=10", "b", "S=2", "a", "S=1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["S=1", "S=2", "S=10", "a", "b"]);
    }
}
