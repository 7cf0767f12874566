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
    if rows.len() > 12 {
        bail!(
            "{} cells match; narrow the trace plot to at most 12 with --where",
            rows.len()
        );
    }
    let mut written = Vec::new();
    for record in rows {
        let path = out.cell(&record.id).trace();
        let mut reader = csv::Reader::from_path(&path)
            .with_context(|| format!("cell {} has no trace ({})", record.id, path.display()))?;
        let header: Vec<String> = reader.headers()?.iter().map(String::from).collect();
        let table: Vec<Vec<f64>> = reader
            .records()
            .map(|row| {
                row.map(|r| {
                    r.iter()
                        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
                        .collect()
                })
            })
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let step = header
            .iter()
            .position(|c| c == "step")
            .with_context(|| format!("{} has no `step` column", path.display()))?;
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
