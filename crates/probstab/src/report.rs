//! `probstab report DIR`: gather a results directory into `report.html`
//! (crate::html_report): the experiment as run, counts by status with the
//! running cells' heartbeats, provenance, every plot under `plots/`, a
//! figure of the trace curves (downsampled), and the summary table.

use crate::collect::Summary;
use crate::experiment::Grid;
use crate::html_report::{ReportPage, render};
use crate::live::now;
use crate::plot_spec::PlotSpec;
use crate::provenance::{read_runs, rfc3339};
use crate::record::Record;
use crate::status::{heartbeat_text, status_of};
use crate::store::{ResultsDir, write_atomic};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Seconds between reloads of an incomplete grid's page.
pub const RELOAD_SECONDS: u32 = 15;
/// Summary rows on the page at most.
const MAX_ROWS: usize = 2000;
/// Points per trace curve at most.
const TRACE_POINTS: usize = 250;
/// Plots embedded, in bytes of SVG, at most (the rest are named).
const MAX_PLOT_BYTES: usize = 12 << 20;

/// Write `DIR/report.html` (or `path`); returns where.
pub fn write_report(dir: &ResultsDir, path: Option<PathBuf>) -> Result<PathBuf> {
    let grid = Grid::of(dir)?;
    let page = gather(dir, &grid)?;
    let path = path.unwrap_or_else(|| dir.report());
    write_atomic(&path, render(&page).as_bytes())?;
    Ok(path)
}

fn gather(dir: &ResultsDir, grid: &Grid) -> Result<ReportPage> {
    let status = status_of(dir, grid)?;
    let experiment = std::fs::read_to_string(dir.experiment_file())
        .with_context(|| format!("cannot read {}", dir.experiment_file().display()))?;
    let waiting = status.missing.len() - status.running.len() - status.stale.len();
    let mut counts = vec![
        ("ok".to_string(), status.ok),
        ("diverged".to_string(), status.diverged),
    ];
    if status.not_applicable > 0 {
        counts.push(("n/a".into(), status.not_applicable));
    }
    counts.extend([
        ("failed".to_string(), status.failed.len()),
        ("running".to_string(), status.running.len()),
        ("stale".to_string(), status.stale.len()),
        ("missing".to_string(), waiting),
    ]);
    let mut provenance = Vec::new();
    for (build, n) in &status.builds {
        provenance.push(format!("{n} cells by {build}"));
    }
    for (device, n) in &status.devices {
        provenance.push(format!("{n} cells on {device}"));
    }
    let runs = read_runs(&dir.runs());
    let mut hosts: Vec<String> = Vec::new();
    for run in runs.iter().filter(|r| r.event == "start") {
        if !hosts.contains(&run.host) {
            hosts.push(run.host.clone());
        }
    }
    let starts = runs.iter().filter(|r| r.event == "start").count();
    if starts > 0 {
        provenance.push(format!(
            "{starts} run(s) on {} (runs.jsonl); the last: `{}` at {}",
            hosts.join(", "),
            runs.iter()
                .rfind(|r| r.event == "start")
                .map(|r| r.command.join(" "))
                .unwrap_or_default(),
            runs.iter()
                .rfind(|r| r.event == "start")
                .map(|r| r.at.clone())
                .unwrap_or_default()
        ));
    }
    for (id, claim) in &status.running {
        provenance.push(format!("running {id}: {}", heartbeat_text(claim)));
    }
    let summary = Summary::read(dir, Some(&grid.cells))?;
    let header: Vec<String> = summary.columns().into_iter().map(String::from).collect();
    let rows: Vec<Vec<String>> = summary
        .records
        .iter()
        .take(MAX_ROWS)
        .map(|r| header.iter().map(|c| summary.value(r, c)).collect())
        .collect();
    Ok(ReportPage {
        title: grid
            .experiment
            .name()
            .map(String::from)
            .unwrap_or_else(|| dir.path().display().to_string()),
        dir: dir.path().display().to_string(),
        experiment,
        counts,
        total: status.total,
        complete: status.is_complete(),
        reload_seconds: RELOAD_SECONDS,
        provenance,
        generated: rfc3339(now()),
        plots: plots(dir)?,
        traces: traces(dir, &summary),
        header,
        rows,
        total_rows: summary.records.len(),
    })
}

/// The SVGs under `plots/`, by name.
fn plots(dir: &ResultsDir) -> Result<Vec<(String, String)>> {
    let mut names: Vec<PathBuf> = match std::fs::read_dir(dir.plots()) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "svg")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut plots = Vec::new();
    let mut bytes = 0;
    for path in names {
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(svg) = std::fs::read_to_string(&path) else {
            continue;
        };
        bytes += svg.len();
        if bytes > MAX_PLOT_BYTES {
            plots.push((
                format!(
                    "{name} (not embedded: the page keeps to {} MB of plots)",
                    MAX_PLOT_BYTES >> 20
                ),
                String::new(),
            ));
            continue;
        }
        plots.push((name, svg));
    }
    Ok(plots)
}

/// The trace curves of the finished cells: `log_loss` where the traces
/// have it, else their second column; none when the cells have no traces.
fn traces(dir: &ResultsDir, summary: &Summary) -> Vec<(String, String)> {
    let rows: Vec<&Record> = summary.records.iter().collect();
    let Some(first) = rows.iter().find(|r| dir.cell(&r.id).trace().exists()) else {
        return Vec::new();
    };
    let Ok((header, ..)) = crate::plot_trace::read_trace(&dir.cell(&first.id).trace(), &first.id)
    else {
        return Vec::new();
    };
    let column = if header.iter().any(|c| c == "log_loss") {
        "log_loss".to_string()
    } else {
        match header.iter().find(|c| *c != "step") {
            Some(c) => c.clone(),
            None => return Vec::new(),
        }
    };
    let with_trace: Vec<&Record> = rows
        .into_iter()
        .filter(|r| dir.cell(&r.id).trace().exists())
        .collect();
    let spec = PlotSpec {
        trace: Some(vec![column.clone()]),
        ..PlotSpec::default()
    };
    let figure = crate::plot_trace::overlay_plot(
        dir,
        summary,
        &with_trace,
        &column,
        &spec,
        Some(TRACE_POINTS),
    )
    .and_then(|plot| Ok(analysis::plot::lines_svg(&plot)?));
    match figure {
        Ok(svg) => vec![(format!("trace: {column}"), svg)],
        Err(e) => {
            tracing::warn!("report: no trace figure: {e:#}");
            Vec::new()
        }
    }
}
