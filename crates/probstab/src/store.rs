//! The results directory (DESIGN.md §5):
//!
//! ```text
//! <out>/experiment.toml          the resolved experiment (overrides applied)
//! <out>/cells/<id>/config.toml   the cell's resolved config
//! <out>/cells/<id>/trace.csv     per-step trace, where the kind has one
//! <out>/cells/<id>/spectrum.csv  Lyapunov spectrum (two_layer_theory)
//! <out>/cells/<id>/metrics.json  written last: its presence means complete
//! <out>/cells/<id>/claim.json    a running cell's claim and heartbeat (crate::live)
//! <out>/runs.jsonl               one line per run's start and end: its provenance
//! <out>/report.html              the one page to share (crate::html_report)
//! <out>/summary.csv              one row per cell
//! <out>/plots/                   heatmaps and trace plots
//! <out>/slurm/                   sbatch scripts and task logs
//! <out>/cells/<id>/checkpoint/   an unfinished cell's checkpoint (train::checkpoint)
//! ```
//!
//! [`ResultsDir`] and [`CellDir`] are the only owners of these names.
//!
//! Every file is written to a temporary name in the same directory and
//! renamed into place, so a process killed at any moment (SIGKILL included)
//! leaves either the old file or the new one, never half of one.

use crate::record::Record;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

const EXPERIMENT: &str = "experiment.toml";
const CELLS: &str = "cells";
const SUMMARY: &str = "summary.csv";
const PLOTS: &str = "plots";
const SLURM: &str = "slurm";
const METRICS: &str = "metrics.json";
const CONFIG: &str = "config.toml";
const TRACE: &str = "trace.csv";
const SPECTRUM: &str = "spectrum.csv";
const CLAIM: &str = "claim.json";
const RUNS: &str = "runs.jsonl";
const REPORT: &str = "report.html";
const TRACES: &str = "traces.csv";
/// Marks a temporary file (a killed run's are removed when its cell reruns).
pub const TMP_MARK: &str = ".tmp-";

/// A results directory: every path in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsDir(PathBuf);

impl ResultsDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// `experiment.toml`: the resolved experiment every run writes.
    pub fn experiment_file(&self) -> PathBuf {
        self.0.join(EXPERIMENT)
    }
    pub fn cells(&self) -> PathBuf {
        self.0.join(CELLS)
    }
    pub fn cell(&self, id: &str) -> CellDir {
        CellDir(self.cells().join(id))
    }
    pub fn summary(&self) -> PathBuf {
        self.0.join(SUMMARY)
    }
    pub fn plots(&self) -> PathBuf {
        self.0.join(PLOTS)
    }
    /// `runs.jsonl`: the provenance of every run, a line at its start and end.
    pub fn runs(&self) -> PathBuf {
        self.0.join(RUNS)
    }
    /// `report.html`.
    pub fn report(&self) -> PathBuf {
        self.0.join(REPORT)
    }
    /// `traces.csv`: every cell's trace in one long table.
    pub fn traces(&self) -> PathBuf {
        self.0.join(TRACES)
    }
    /// Where the sbatch scripts and the task logs go.
    pub fn slurm(&self) -> PathBuf {
        self.0.join(SLURM)
    }
    /// The sbatch script of job `name`.
    pub fn slurm_script(&self, name: &str) -> PathBuf {
        self.slurm().join(format!("{name}.sbatch"))
    }

    /// Every cell record, sorted by cell id; directories without a record
    /// (never finished) are reported as missing ids.
    pub fn read_all(&self) -> Result<(Vec<Record>, Vec<String>)> {
        let dir = self.cells();
        let entries = std::fs::read_dir(&dir).with_context(|| {
            format!(
                "no results in {} (expected the directory {})",
                self.0.display(),
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
            match CellDir(entry.path()).record()? {
                Some(record) => records.push(record),
                None => missing.push(entry.file_name().to_string_lossy().into_owned()),
            }
        }
        records.sort_by(|a, b| a.id.cmp(&b.id));
        missing.sort();
        Ok((records, missing))
    }

    /// The names of the cell directories present.
    pub fn cell_ids(&self) -> Result<Vec<String>> {
        let dir = self.cells();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            ids.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(ids)
    }
}

impl From<&str> for ResultsDir {
    fn from(path: &str) -> Self {
        Self::new(path)
    }
}

/// One cell's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellDir(PathBuf);

impl CellDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// `config.toml`: the cell's resolved config.
    pub fn config(&self) -> PathBuf {
        self.0.join(CONFIG)
    }
    /// `metrics.json`: written last, its presence means complete.
    pub fn metrics(&self) -> PathBuf {
        self.0.join(METRICS)
    }
    pub fn trace(&self) -> PathBuf {
        self.0.join(TRACE)
    }
    /// `claim.json`: the claim and heartbeat of a running cell.
    pub fn claim(&self) -> PathBuf {
        self.0.join(CLAIM)
    }
    /// `spectrum.csv`: a theory cell's Lyapunov spectrum.
    pub fn spectrum(&self) -> PathBuf {
        self.0.join(SPECTRUM)
    }
    /// Whether it holds a checkpoint to resume.
    pub fn has_checkpoint(&self) -> bool {
        train::checkpoint::exists(&self.0)
    }
    /// Remove its checkpoint (the cell is done).
    pub fn remove_checkpoint(&self) {
        train::checkpoint::remove(&self.0)
    }

    /// The record, if `metrics.json` exists, parses and is this cell's
    /// (an empty, truncated or foreign record counts as none: the cell reruns).
    pub fn record(&self) -> Result<Option<Record>> {
        Ok(match self.read_record()? {
            RecordFile::Found(record) => Some(record),
            RecordFile::Missing | RecordFile::Invalid(_) => None,
        })
    }

    /// `metrics.json` as found: missing, invalid (and why), or a record.
    pub fn read_record(&self) -> Result<RecordFile> {
        let path = self.metrics();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RecordFile::Missing),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Ok(RecordFile::Invalid("not UTF-8 text".into()));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let record: Record = match serde_json::from_str(&text) {
            Ok(record) => record,
            Err(_) if text.trim().is_empty() => {
                return Ok(RecordFile::Invalid("metrics.json is empty".into()));
            }
            Err(e) => return Ok(RecordFile::Invalid(format!("metrics.json is not a valid record ({e})"))),
        };
        let name = self.0.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref() != Some(record.id.as_str()) {
            return Ok(RecordFile::Invalid(format!(
                "metrics.json is the record of cell {}, not of this one",
                record.id
            )));
        }
        Ok(RecordFile::Found(record))
    }

    /// Remove temporary files a killed run left here.
    pub fn remove_stale_temporaries(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().contains(TMP_MARK) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// A cell's `metrics.json`, as read.
#[derive(Debug)]
pub enum RecordFile {
    Missing,
    /// There, but empty, truncated, not a record, or another cell's: why.
    Invalid(String),
    Found(Record),
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
