//! `summary.csv`: one row per cell record, axis columns (by dotted key), then
//! metric columns, then `status` and `error` (DESIGN.md §5).

use crate::experiment::Cell;
use crate::record::{Record, json_to_csv};
use crate::store::{ResultsDir, write_atomic};
use anyhow::Result;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::PathBuf;

/// All records of a results directory as a table.
pub struct Summary {
    pub axis_columns: Vec<String>,
    pub metric_columns: Vec<String>,
    pub records: Vec<Record>,
    /// Cell directories without a record (never finished).
    pub missing: Vec<String>,
}

impl Summary {
    /// The records of the grid's `cells` (cells a run of another grid left
    /// in the same directory are not part of it), or of every cell
    /// directory when there is no grid (no experiment file).
    pub fn read(out: &ResultsDir, cells: Option<&[Cell]>) -> Result<Self> {
        let (mut records, mut missing) = out.read_all()?;
        if let Some(cells) = cells {
            let ids: HashSet<String> = cells.iter().map(|c| c.id.clone()).collect();
            records.retain(|r| ids.contains(&r.id));
            let found: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
            missing = ids
                .iter()
                .filter(|id| !found.contains(id.as_str()))
                .cloned()
                .collect();
            missing.sort();
        }
        let mut axis_columns: Vec<String> = Vec::new();
        let mut metric_columns: Vec<String> = Vec::new();
        for r in &records {
            for k in r.axes.keys() {
                if !axis_columns.contains(k) {
                    axis_columns.push(k.clone());
                }
            }
            for k in r.metrics.keys() {
                if !metric_columns.contains(k) {
                    metric_columns.push(k.clone());
                }
            }
        }
        records.sort_by(|a, b| {
            axis_columns
                .iter()
                .map(|k| {
                    compare_values(
                        &a.axes.get(k).map(json_to_csv).unwrap_or_default(),
                        &b.axes.get(k).map(json_to_csv).unwrap_or_default(),
                    )
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        Ok(Self {
            axis_columns,
            metric_columns,
            records,
            missing,
        })
    }

    /// Text of a column (axis or metric, or `status`/`error`) for a record.
    pub fn value(&self, record: &Record, column: &str) -> String {
        if let Some(v) = record.axes.get(column) {
            return json_to_csv(v);
        }
        if let Some(v) = record.metrics.get(column) {
            return json_to_csv(v);
        }
        match column {
            "status" => record.status.name().to_string(),
            "error" => record.error.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.axis_columns
            .iter()
            .chain(&self.metric_columns)
            .any(|c| c == column)
            || column == "status"
    }

    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header: Vec<&str> = self
            .axis_columns
            .iter()
            .chain(&self.metric_columns)
            .map(String::as_str)
            .chain(["status", "error"])
            .collect();
        w.write_record(&header)?;
        for r in &self.records {
            w.write_record(header.iter().map(|c| self.value(r, c)))?;
        }
        Ok(w.into_inner()?)
    }
}

/// Numbers compare numerically, anything else as text.
pub fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// Rebuild `<out>/summary.csv` from the records of the grid's `cells`.
pub fn collect(out: &ResultsDir, cells: Option<&[Cell]>) -> Result<(PathBuf, Summary)> {
    let summary = Summary::read(out, cells)?;
    let path = out.summary();
    write_atomic(&path, &summary.to_csv()?)?;
    Ok((path, summary))
}
