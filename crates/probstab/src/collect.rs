//! `summary.csv`: one row per cell record, axis columns (by dotted key), then
//! metric columns, then `status`, `diverged_at` (kinds that train only) and
//! `error` (DESIGN.md §5).

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
    /// Whether the table has a `diverged_at` column: the grid's kind trains
    /// (only training cells can diverge), or, without a grid, some record
    /// diverged. The theory and simulation kinds never do, and their
    /// `summary.csv` keeps its columns.
    pub diverged_column: bool,
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
        let diverged_column = match cells {
            Some(cells) => cells.iter().any(|c| c.spec.kind().trains()),
            None => records.iter().any(|r| r.diverged_at.is_some()),
        };
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
            diverged_column,
        })
    }

    /// The columns of `summary.csv`: axes, metrics, `status`, `diverged_at`
    /// where the kind can diverge, `error`.
    pub fn columns(&self) -> Vec<&str> {
        let after = if self.diverged_column {
            &["status", "diverged_at", "error"][..]
        } else {
            &["status", "error"][..]
        };
        self.axis_columns
            .iter()
            .chain(&self.metric_columns)
            .map(String::as_str)
            .chain(after.iter().copied())
            .collect()
    }

    /// Text of a column (axis or metric, or `status`/`diverged_at`/`error`)
    /// for a record; `diverged_at` is the step at which a diverged cell
    /// stopped, empty for one that did not.
    pub fn value(&self, record: &Record, column: &str) -> String {
        if let Some(v) = record.axes.get(column) {
            return json_to_csv(v);
        }
        if let Some(v) = record.metrics.get(column) {
            return json_to_csv(v);
        }
        match column {
            "status" => record.status.name().to_string(),
            "diverged_at" => record
                .diverged_at
                .map(|step| step.to_string())
                .unwrap_or_default(),
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
            || (column == "diverged_at" && self.diverged_column)
    }

    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = self.columns();
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
