//! `reduce = "mean"`: a metric over the grid axes a plot does not show (a
//! `seed` axis, typically) as one value per plotted point, with its error:
//! mean ± standard error and n for a number, a Wilson 95% interval on the
//! pooled counts for a fraction (`true`/`false` cells such as `at_saddle`,
//! or a metric its kind declares a fraction of trajectories, such as
//! `frac_converged`). The reduced table is written beside the figure;
//! summary.csv keeps one row per cell.

use crate::collect::{Summary, compare_values};
use crate::experiment::Grid;
use crate::record::{Metric, Record, Status};
use analysis::Estimate;
use analysis::estimate::{Z95, wilson_interval};
use analysis::plot::superscript;
use anyhow::Result;
use std::collections::HashMap;
use std::path::Path;

/// One plotted point of a reduced metric.
pub struct Point {
    /// A record of the point's cells with the mean as the metric's value
    /// (status ok where any of its cells is).
    pub record: Record,
    /// The point's x and y values, as summary.csv writes them.
    pub x: String,
    pub y: String,
    /// Cells at this point, and how many of them gave a finite value.
    pub cells: usize,
    pub n: usize,
    pub mean: f64,
    /// Standard error of the mean (NaN below two values).
    pub se: f64,
    /// A fraction's pooled counts and their Wilson 95% interval.
    pub fraction: Option<Fraction>,
}

pub struct Fraction {
    pub successes: f64,
    pub trials: f64,
    pub low: f64,
    pub high: f64,
}

impl Point {
    /// The error bar: the Wilson interval of a fraction, else mean ± se
    /// (None where there is no spread to show).
    pub fn interval(&self) -> Option<(f64, f64)> {
        match &self.fraction {
            Some(f) => Some((f.low, f.high)),
            None if self.se.is_finite() => Some((self.mean - self.se, self.mean + self.se)),
            None => None,
        }
    }

    /// The text written in a heatmap cell: the mean over its error, e.g.
    /// "126\n± 3" or "0.45\n[0.31, 0.6]", or "n = 1" under a lone value.
    pub fn label(&self) -> String {
        if !self.mean.is_finite() {
            return String::new();
        }
        match &self.fraction {
            Some(f) => format!(
                "{}\n[{}, {}]",
                rounded(self.mean, 0.01),
                rounded(f.low, 0.01),
                rounded(f.high, 0.01)
            ),
            None if self.se.is_finite() && self.se > 0.0 => {
                let unit = error_unit(self.se);
                format!("{}\n± {}", rounded(self.mean, unit), rounded(self.se, unit))
            }
            None if self.n == 1 => format!("{}\nn = 1", significant(self.mean)),
            None => format!("{}\n± 0", significant(self.mean)),
        }
    }
}

/// How many trials each row's value is a fraction of, where the metric is
/// a fraction: 1 for a `true`/`false` metric, the kind's declared count
/// (MetricDoc::of_trials) otherwise. None: not a fraction.
fn trials_per_row(
    summary: &Summary,
    rows: &[&Record],
    metric: &str,
    grid: Option<&Grid>,
) -> Option<Vec<f64>> {
    let values: Vec<String> = rows.iter().map(|r| summary.value(r, metric)).collect();
    let is_bool = |v: &String| v == "true" || v == "false";
    if values.iter().any(is_bool) && values.iter().all(|v| is_bool(v) || v.is_empty()) {
        return Some(vec![1.0; rows.len()]);
    }
    let grid = grid?;
    let by_id: HashMap<&str, &crate::experiment::Cell> =
        grid.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    rows.iter()
        .map(|r| {
            let cell = by_id.get(r.id.as_str())?;
            let doc = cell.spec.metrics().into_iter().find(|d| d.name == metric)?;
            doc.trials.map(|t| t as f64)
        })
        .collect()
}

/// The rows grouped by their (x, y) values, each group reduced.
pub fn reduce(
    summary: &Summary,
    rows: &[&Record],
    metric: &str,
    x: &str,
    y: Option<&str>,
    grid: Option<&Grid>,
) -> Result<Vec<Point>> {
    if summary.axis_columns.iter().any(|a| a == metric) {
        anyhow::bail!(
            "reduce = \"mean\": `{metric}` is a grid axis; reduce averages a metric over the axes"
        );
    }
    if let Some(text) = rows
        .iter()
        .map(|r| summary.value(r, metric))
        .find(|v| !v.is_empty() && number(v).is_none() && !v.eq_ignore_ascii_case("nan"))
    {
        anyhow::bail!(
            "reduce = \"mean\": `{metric}` has text values (`{text}`); a mean needs numbers or true/false"
        );
    }
    let trials = trials_per_row(summary, rows, metric, grid);
    let mut groups: Vec<((String, String), Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let key = (
            summary.value(r, x),
            y.map(|y| summary.value(r, y)).unwrap_or_default(),
        );
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let points = groups
        .into_iter()
        .map(|((xv, yv), members)| {
            let value =
                |i: usize| number(&summary.value(rows[i], metric)).filter(|v| v.is_finite());
            let finite: Vec<(usize, f64)> = members
                .iter()
                .filter_map(|&i| value(i).map(|v| (i, v)))
                .collect();
            let estimate = if finite.is_empty() {
                Estimate {
                    value: f64::NAN,
                    err: f64::NAN,
                }
            } else {
                Estimate::from_samples(finite.iter().map(|(_, v)| *v))
            };
            let fraction = trials.as_ref().and_then(|t| {
                let trials: f64 = finite.iter().map(|(i, _)| t[*i]).sum();
                let successes: f64 = finite.iter().map(|(i, v)| (v * t[*i]).round()).sum();
                let (low, high) = wilson_interval(successes, trials, Z95)?;
                Some(Fraction {
                    successes,
                    trials,
                    low,
                    high,
                })
            });
            let mut record = mean_record(summary, rows, &members);
            record
                .metrics
                .insert(metric.to_string(), Metric::Number(estimate.value).to_json());
            if members.iter().any(|&i| rows[i].status == Status::Ok) {
                record.status = Status::Ok;
            }
            Point {
                record,
                x: xv,
                y: yv,
                cells: members.len(),
                n: finite.len(),
                mean: estimate.value,
                se: estimate.err,
                fraction,
            }
        })
        .collect();
    Ok(points)
}

/// A number, or `true`/`false` as 1/0.
fn number(text: &str) -> Option<f64> {
    match text {
        "true" => Some(1.0),
        "false" => Some(0.0),
        text => text.parse::<f64>().ok(),
    }
}

/// The first member's record with every metric replaced by the group's:
/// the mean of its finite values for a number (so that contours and curves
/// drawn over a reduced map use means too), the common value for text
/// (none where the members differ).
fn mean_record(summary: &Summary, rows: &[&Record], members: &[usize]) -> Record {
    let mut record = rows[members[0]].clone();
    for column in &summary.metric_columns {
        let texts: Vec<String> = members
            .iter()
            .map(|&i| summary.value(rows[i], column))
            .filter(|t| !t.is_empty())
            .collect();
        let numbers: Option<Vec<f64>> = texts.iter().map(|t| number(t)).collect();
        match numbers {
            Some(values) if !values.is_empty() => {
                let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
                let mean = if finite.is_empty() {
                    f64::NAN
                } else {
                    finite.iter().sum::<f64>() / finite.len() as f64
                };
                record
                    .metrics
                    .insert(column.clone(), Metric::Number(mean).to_json());
            }
            _ if texts.windows(2).all(|w| w[0] == w[1]) => {}
            _ => {
                record.metrics.remove(column);
            }
        }
    }
    record
}

/// "n = 3" or "n = 2–3": how many values each point's mean is over.
pub fn n_text(points: &[Point]) -> String {
    let lo = points.iter().map(|p| p.n).min().unwrap_or(0);
    let hi = points.iter().map(|p| p.n).max().unwrap_or(0);
    if lo == hi {
        format!("n = {lo}")
    } else {
        format!("n = {lo}–{hi}")
    }
}

/// What the error bars of `points` are, for a title, and the points with
/// no value at all (every cell diverged or failed), which a line skips.
pub fn error_text(points: &[Point], x: &str) -> String {
    let what = if points.iter().any(|p| p.fraction.is_some()) {
        "mean [Wilson 95% interval]"
    } else {
        "mean ± standard error"
    };
    let mut empty: Vec<&Point> = points.iter().filter(|p| p.n == 0).collect();
    empty.sort_by(|a, b| compare_values(&a.x, &b.x).then(compare_values(&a.y, &b.y)));
    let mut text = format!("{what}, {}", n_text(points));
    if !empty.is_empty() {
        let at: Vec<String> = empty
            .iter()
            .map(|p| {
                if p.y.is_empty() {
                    p.x.clone()
                } else {
                    format!("{} ({})", p.x, p.y)
                }
            })
            .collect();
        text += &format!("; no value at {x} = {}", at.join(", "));
    }
    text
}

/// The reduced table's columns after the axes.
pub const COLUMNS: [&str; 9] = [
    "metric",
    "cells",
    "n",
    "mean",
    "se",
    "successes",
    "trials",
    "low",
    "high",
];

/// The reduced table: one row per point with its axes, `cells`, `n`,
/// `mean`, `se`, and for a fraction `successes`, `trials`, `low`, `high`.
pub fn write_table(
    path: &Path,
    points: &[Point],
    metric: &str,
    x: &str,
    y: Option<&str>,
) -> Result<()> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by(|a, b| compare_values(&a.y, &b.y).then(compare_values(&a.x, &b.x)));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = std::iter::once(x).chain(y).map(String::from).collect();
    header.extend(COLUMNS.map(String::from));
    w.write_record(&header)?;
    // As summary.csv writes numbers: shortest form, exponent for extremes.
    let cell = |v: f64| {
        serde_json::Number::from_f64(v)
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    for p in sorted {
        let mut row = vec![p.x.clone()];
        if y.is_some() {
            row.push(p.y.clone());
        }
        row.extend([
            metric.to_string(),
            p.cells.to_string(),
            p.n.to_string(),
            cell(p.mean),
            cell(p.se),
        ]);
        match &p.fraction {
            Some(f) => row.extend([
                format!("{:.0}", f.successes),
                format!("{:.0}", f.trials),
                cell(f.low),
                cell(f.high),
            ]),
            None => row.extend(std::iter::repeat_n(String::new(), 4)),
        }
        w.write_record(&row)?;
    }
    crate::store::write_atomic(path, &w.into_inner()?)
}

/// The decimal unit an error is quoted to: one significant digit, two
/// where the first is 1 (± 0.12, ± 3, ± 20).
fn error_unit(err: f64) -> f64 {
    let magnitude = 10f64.powf(err.log10().floor());
    if err / magnitude < 2.0 {
        magnitude / 10.0
    } else {
        magnitude
    }
}

/// `v` rounded to a multiple of `unit`, with just the decimals that needs;
/// in ×10ᵏ form where that would take more than 8 digits (a mean of
/// 2·10⁻²⁴ or 10³⁰⁰), and with a true minus sign.
fn rounded(v: f64, unit: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if unit < 1e-4 || v.abs() >= 1e8 {
        let k = if v == 0.0 {
            0
        } else {
            v.abs().log10().floor() as i32
        };
        let digits = (k as f64 - unit.log10().round()).clamp(0.0, 3.0) as usize;
        let mantissa = v / 10f64.powi(k);
        let sign = if mantissa < 0.0 { "−" } else { "" };
        return format!("{sign}{:.*}×10{}", digits, mantissa.abs(), superscript(k));
    }
    let decimals = (-unit.log10().round()).max(0.0) as usize;
    let text = format!("{:.*}", decimals, (v / unit).round() * unit);
    if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).is_empty() {
        text[1..].to_string()
    } else {
        text.replace('-', "−")
    }
}

/// `v` to three significant digits (a whole number in full).
fn significant(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v == v.round() && v.abs() < 1e8 {
        return format!("{v:.0}").replace('-', "−");
    }
    let unit = 10f64.powf(v.abs().log10().floor() - 2.0);
    if v.abs() >= 1e8 || unit < 1e-4 {
        rounded(v, unit)
    } else {
        rounded(v, unit.min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_quoted_to_their_first_digits_and_means_to_match() {
        assert_eq!(error_unit(3.2), 1.0);
        assert_eq!(error_unit(0.012), 0.001);
        assert_eq!(error_unit(27.0), 10.0);
        assert_eq!(rounded(126.33, 1.0), "126");
        assert_eq!(rounded(0.8555, 0.001), "0.856");
        assert_eq!(rounded(-0.0001, 0.01), "0.00");
        assert_eq!(significant(0.012345), "0.0123");
        assert_eq!(significant(12345.0), "12345");
        let point = |mean: f64, se: f64, n: usize| Point {
            record: serde_json::from_str(
                r#"{"id":"c","axes":{},"status":"ok","metrics":{},"seconds":0,"finished_at":0}"#,
            )
            .unwrap(),
            x: String::new(),
            y: String::new(),
            cells: n,
            n,
            mean,
            se,
            fraction: None,
        };
        assert_eq!(point(126.33, 3.2, 3).label(), "126\n± 3");
        assert_eq!(point(0.8555, 0.0123, 3).label(), "0.856\n± 0.012");
        assert_eq!(point(42.0, f64::NAN, 1).label(), "42\nn = 1");
        assert_eq!(point(f64::NAN, f64::NAN, 0).label(), "");
        // Extremes in ×10ᵏ form, negatives with a true minus.
        assert_eq!(point(-2e-24, f64::NAN, 1).label(), "−2.00×10⁻²⁴\nn = 1");
        assert_eq!(point(2e-12, 6e-13, 3).label(), "2.0×10⁻¹²\n± 6×10⁻¹³");
        assert_eq!(point(1e300, 0.0, 2).label(), "1.00×10³⁰⁰\n± 0");
        assert_eq!(point(-0.25, 0.012, 3).label(), "−0.250\n± 0.012");
    }
}
