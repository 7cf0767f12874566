//! `probstab plot DIR --trace COLS`: one line plot per cell of its
//! `trace.csv` columns against step (Fig. 6: e^{2m(t)}, ⟨|w − w*|²⟩ and
//! single trajectories).

use crate::collect::Summary;
use crate::plot_spec::PlotSpec;
use crate::record::Record;
use crate::store::ResultsDir;
use analysis::plot::{LinePlot, Series, render_lines};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// One line plot per selected cell of its `trace.csv` columns against step.
pub fn trace_plots(
    out: &ResultsDir,
    summary: &Summary,
    rows: &[&Record],
    columns: &[String],
    spec: &PlotSpec,
    plots: &Path,
) -> Result<Vec<PathBuf>> {
    if let [column] = columns {
        if column != "samples" && (rows.len() > 1 || spec.color_by.is_some()) {
            return overlay(out, summary, rows, column, spec, plots);
        }
    }
    if rows.len() > 12 {
        bail!(
            "{} cells match; narrow the trace plot to at most 12 with --where",
            rows.len()
        );
    }
    let mut written = Vec::new();
    for record in rows {
        let path = out.cell(&record.id).trace();
        let (header, table, step) = read_trace(&path, &record.id)?;
        let column = |i: usize| table.iter().map(|r| (r[step], r[i])).collect::<Vec<_>>();
        let mut series = Vec::new();
        for wanted in columns {
            if wanted == "samples" {
                for (i, c) in header
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.starts_with("sample_"))
                {
                    series.push(Series {
                        label: if series.iter().any(|s: &Series| s.thin) {
                            c.clone()
                        } else {
                            "single runs".into()
                        },
                        points: column(i),
                        thin: true,
                        markers: false,
                        colour: None,
                        errors: vec![],
                    });
                }
                continue;
            }
            let i = header.iter().position(|c| c == wanted).with_context(|| {
                format!(
                    "{} has no column `{wanted}` (columns: {})",
                    path.display(),
                    header.join(", ")
                )
            })?;
            series.push(Series {
                label: wanted.clone(),
                points: column(i),
                thin: false,
                markers: false,
                colour: None,
                errors: vec![],
            });
        }
        let axes: Vec<String> = summary
            .axis_columns
            .iter()
            .map(|a| format!("{a}={}", summary.value(record, a)))
            .collect();
        let title = spec
            .title
            .clone()
            .unwrap_or_else(|| format!("trace: {}", axes.join(", ")));
        let stem = format!(
            "{}__{}",
            spec.file.clone().unwrap_or_else(|| "trace".into()),
            record.id
        );
        let (png, svg) = (
            plots.join(format!("{stem}.png")),
            plots.join(format!("{stem}.svg")),
        );
        render_lines(
            &LinePlot {
                title,
                x_label: "step".into(),
                y_label: columns
                    .iter()
                    .filter(|c| *c != "samples")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                y_log: true,
                series,
            },
            &png,
            &svg,
        )?;
        written.extend([png, svg]);
    }
    Ok(written)
}

/// A cell's `trace.csv`: its header, its rows as numbers, and the index of
/// its `step` column.
pub fn read_trace(path: &Path, id: &str) -> Result<(Vec<String>, Vec<Vec<f64>>, usize)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cell {id} has no trace ({})", path.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(String::from).collect();
    let mut table = Vec::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("cannot read {}", path.display()))?;
        // A live trace's last line may be cut short: it is left out.
        if row.len() != header.len() {
            continue;
        }
        table.push(
            row.iter()
                .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
                .collect(),
        );
    }
    let step = header
        .iter()
        .position(|c| c == "step")
        .with_context(|| format!("{} has no `step` column", path.display()))?;
    Ok((header, table, step))
}

/// Cells drawn on one overlay at most (evenly chosen beyond).
const OVERLAY_CELLS: usize = 200;

/// One figure of trace column `column` against step for every cell of
/// `rows`, coloured by the axis `spec.color_by` (default: the first axis
/// that varies among them), one legend entry per value of it. Cells
/// without a trace yet are left out; a running cell's trace is drawn as far
/// as it got.
fn overlay(
    out: &ResultsDir,
    summary: &Summary,
    rows: &[&Record],
    column: &str,
    spec: &PlotSpec,
    plots: &Path,
) -> Result<Vec<PathBuf>> {
    let plot = overlay_plot(out, summary, rows, column, spec, None)?;
    let stem = spec
        .file
        .clone()
        .unwrap_or_else(|| crate::plot_spec::default_stem(&format!("trace_{column}"), spec));
    let (png, svg) = (
        plots.join(format!("{stem}.png")),
        plots.join(format!("{stem}.svg")),
    );
    render_lines(&plot, &png, &svg)?;
    Ok(vec![png, svg])
}

/// The overlay of [`overlay`] as a figure; with `max_points`, each curve
/// keeps at most about that many points (evenly spaced, the last kept).
pub fn overlay_plot(
    out: &ResultsDir,
    summary: &Summary,
    rows: &[&Record],
    column: &str,
    spec: &PlotSpec,
    max_points: Option<usize>,
) -> Result<LinePlot> {
    let varying = |axis: &&String| {
        let first = rows.first().map(|r| summary.value(r, axis));
        rows.iter().any(|r| Some(summary.value(r, axis)) != first)
    };
    let by = match &spec.color_by {
        Some(axis) if summary.axis_columns.contains(axis) => Some(axis.clone()),
        Some(axis) => bail!(
            "--color-by `{axis}` is not an axis of this grid (axes: {})",
            summary.axis_columns.join(", ")
        ),
        None => summary.axis_columns.iter().find(varying).cloned(),
    };
    let mut values: Vec<String> = Vec::new();
    if let Some(by) = &by {
        for r in rows {
            let v = summary.value(r, by);
            if !values.contains(&v) {
                values.push(v);
            }
        }
        values.sort_by(|a, b| crate::collect::compare_values(a, b));
    }
    let stride = rows.len().div_ceil(OVERLAY_CELLS).max(1);
    let mut series = Vec::new();
    let mut labelled = vec![false; values.len().max(1)];
    let mut drawn = 0;
    for record in rows.iter().step_by(stride) {
        let path = out.cell(&record.id).trace();
        if !path.exists() {
            continue;
        }
        let (header, table, step) = read_trace(&path, &record.id)?;
        let i = header.iter().position(|c| c == column).with_context(|| {
            format!(
                "{} has no column `{column}` (columns: {})",
                path.display(),
                header.join(", ")
            )
        })?;
        let group = by
            .as_ref()
            .and_then(|by| values.iter().position(|v| *v == summary.value(record, by)))
            .unwrap_or(0);
        let label = match (&by, labelled[group]) {
            (Some(by), false) => format!("{by} = {}", values[group]),
            _ => String::new(),
        };
        labelled[group] = true;
        let mut points: Vec<(f64, f64)> = table.iter().map(|r| (r[step], r[i])).collect();
        if let Some(max) = max_points.filter(|m| points.len() > *m && *m > 1) {
            let every = points.len().div_ceil(max);
            let last = points[points.len() - 1];
            points = points.into_iter().step_by(every).collect();
            if points.last() != Some(&last) {
                points.push(last);
            }
        }
        series.push(Series {
            label,
            points,
            thin: false,
            markers: false,
            colour: Some((group, values.len().max(1))),
            errors: vec![],
        });
        drawn += 1;
    }
    if drawn == 0 {
        bail!("none of the {} matching cells has a trace yet", rows.len());
    }
    let sampled = if stride > 1 {
        format!(", every {stride}th cell")
    } else {
        String::new()
    };
    let title = spec.title.clone().unwrap_or_else(|| match &by {
        Some(by) => format!("{column} of {drawn} cells by {by}{sampled}"),
        None => format!("{column} of {drawn} cells{sampled}"),
    });
    let y_log = column != "log_loss"
        && series
            .iter()
            .all(|s| s.points.iter().all(|p| !(p.1 <= 0.0)));
    Ok(LinePlot {
        title,
        x_label: "step".into(),
        y_label: column.to_string(),
        y_log,
        series,
    })
}
