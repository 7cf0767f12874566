//! `probstab traces DIR`: every cell's `trace.csv` in one long table,
//! `traces.csv`: `cell`, the axis columns, `status`, then the trace
//! columns (their union over the cells, in order of first appearance;
//! empty where a cell's trace lacks one). pandas, polars and R read it in
//! one call. Running cells are in it as far as their live trace got.

use crate::experiment::Grid;
use crate::live::{Runner, read_claim};
use crate::record::json_to_csv;
use crate::runner::toml_to_json;
use crate::store::{ResultsDir, TMP_MARK};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `traces` keeps.
#[derive(Clone, Debug, Default)]
pub struct TracesOptions {
    /// Keep cells whose axis has this value (`--where AXIS=VALUE`).
    pub filter: BTreeMap<String, toml::Value>,
    /// Keep these trace columns (`step` always); None: all.
    pub columns: Option<Vec<String>>,
    /// Where to write (default `DIR/traces.csv`).
    pub out: Option<PathBuf>,
}

/// What `traces` wrote.
#[derive(Debug)]
pub struct TracesTable {
    pub path: PathBuf,
    pub cells: usize,
    pub rows: usize,
    pub columns: Vec<String>,
}

/// Write the long table of `dir`'s traces.
pub fn traces(dir: &ResultsDir, options: &TracesOptions) -> Result<TracesTable> {
    let grid = Grid::of(dir)?;
    let axes: Vec<String> = grid
        .experiment
        .axes
        .iter()
        .map(|a| a.path.clone())
        .collect();
    for key in options.filter.keys() {
        if !axes.contains(key) {
            bail!(
                "--where names `{key}`, which is not a grid axis (axes: {})",
                axes.join(", ")
            );
        }
    }
    let runner = Runner::this_process();
    // (cell id, axis texts, status, header, rows)
    let mut tables = Vec::new();
    for cell in &grid.cells {
        let axis_text = |key: &str| {
            cell.axes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| json_to_csv(&toml_to_json(v)))
                .unwrap_or_default()
        };
        let matches = options.filter.iter().all(|(k, want)| {
            let have = axis_text(k);
            let want = json_to_csv(&toml_to_json(want));
            match (have.parse::<f64>(), want.parse::<f64>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => have == want,
            }
        });
        let cell_dir = dir.cell(&cell.id);
        let path = cell_dir.trace();
        if !matches || !path.exists() {
            continue;
        }
        let status = match cell_dir.record()? {
            Some(record) => record.status.name().to_string(),
            None => match read_claim(&cell_dir) {
                Some(claim) if !claim.is_stale(runner) => "running".into(),
                Some(_) => "stale".into(),
                None => "incomplete".into(),
            },
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let header: Vec<String> = reader.headers()?.iter().map(String::from).collect();
        let mut rows = Vec::new();
        for row in reader.records() {
            let row = row.with_context(|| format!("cannot read {}", path.display()))?;
            // A live trace's last line may be cut short.
            if row.len() == header.len() {
                rows.push(row.iter().map(String::from).collect::<Vec<_>>());
            }
        }
        let texts: Vec<String> = axes.iter().map(|a| axis_text(a)).collect();
        tables.push((cell.id.clone(), texts, status, header, rows));
    }
    if tables.is_empty() {
        bail!(
            "no cell of {} {}has a trace.csv",
            dir.path().display(),
            if options.filter.is_empty() {
                ""
            } else {
                "that matches --where "
            }
        );
    }
    let mut columns: Vec<String> = Vec::new();
    for (.., header, _) in &tables {
        for c in header {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
    }
    if let Some(wanted) = &options.columns {
        if let Some(c) = wanted.iter().find(|c| !columns.contains(c)) {
            bail!(
                "--columns `{c}` is in no trace (columns: {})",
                columns.join(", ")
            );
        }
        columns.retain(|c| c == "step" || wanted.contains(c));
    }
    let path = options.out.clone().unwrap_or_else(|| dir.traces());
    let tmp = path.with_file_name(format!(
        "{}{TMP_MARK}{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut w =
        csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut header = vec!["cell".to_string()];
    header.extend(axes.iter().cloned());
    header.push("status".into());
    header.extend(columns.iter().cloned());
    w.write_record(&header)?;
    let mut count = 0;
    for (id, texts, status, cell_header, rows) in &tables {
        let index: Vec<Option<usize>> = columns
            .iter()
            .map(|c| cell_header.iter().position(|h| h == c))
            .collect();
        for row in rows {
            let mut line: Vec<&str> = vec![id.as_str()];
            line.extend(texts.iter().map(String::as_str));
            line.push(status.as_str());
            line.extend(index.iter().map(|i| i.map_or("", |i| row[i].as_str())));
            w.write_record(&line)?;
            count += 1;
        }
    }
    w.flush()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(TracesTable {
        path,
        cells: tables.len(),
        rows: count,
        columns: header,
    })
}
