//! The results directory (DESIGN.md §5):
//!
//! ```text
//! <out>/experiment.toml          the resolved experiment (overrides applied)
//! <out>/cells/<id>/config.toml   the cell's resolved config
//! <out>/cells/<id>/trace.csv     per-step trace, where the kind has one
//! <out>/cells/<id>/metrics.json  written last: its presence means complete
//! <out>/summary.csv              one row per cell
//! <out>/plots/                   heatmaps and trace plots
//! ```
//!
//! Every file is written to a temporary name in the same directory and
//! renamed into place, so a process killed at any moment (SIGKILL included)
//! leaves either the old file or the new one, never half of one.

use crate::record::Record;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub const METRICS: &str = "metrics.json";
pub const CONFIG: &str = "config.toml";
pub const TRACE: &str = "trace.csv";
const TMP_MARK: &str = ".tmp-";

pub fn cells_dir(out: &Path) -> PathBuf {
    out.join("cells")
}

pub fn cell_dir(out: &Path, id: &str) -> PathBuf {
    cells_dir(out).join(id)
}

/// Write `bytes` to `path` atomically (temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .context("a file path has a name")?
        .to_string_lossy();
    let tmp = dir.join(
        format!(
            "{name}{TMP_MARK}{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        )
        .replace(['(', ')'], ""),
    );
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// Remove temporary files a killed run left in a cell directory.
pub fn remove_stale_temporaries(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().contains(TMP_MARK) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The record of a cell, if its `metrics.json` exists and parses.
pub fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(METRICS);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a valid cell record", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Every cell record under `out`, sorted by cell id; directories without a
/// record (never finished) are reported as missing ids.
pub fn read_all(out: &Path) -> Result<(Vec<Record>, Vec<String>)> {
    let dir = cells_dir(out);
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "no results in {} (expected the directory {})",
            out.display(),
            dir.display()
        )
    })?;
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        match read_record(&entry.path())? {
            Some(record) => records.push(record),
            None => missing.push(entry.file_name().to_string_lossy().into_owned()),
        }
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    missing.sort();
    Ok((records, missing))
}
