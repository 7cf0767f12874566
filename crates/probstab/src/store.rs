//! The results directory (DESIGN.md §5):
//!
//! ```text
//! <out>/experiment.toml          the resolved experiment (overrides applied)
//! <out>/cells/<id>/config.toml   the cell's resolved config
//! <out>/cells/<id>/trace.csv     per-step trace, where the kind has one
//! <out>/cells/<id>/spectrum.csv  Lyapunov spectrum (two_layer_theory)
//! <out>/cells/<id>/metrics.json  written last: its presence means complete
//! <out>/cells/<id>/claim.json    a running cell's claim and heartbeat (crate::live)
//! <out>/runs.jsonl               one line per run's start, end, stop or requeue: its provenance
//! <out>/holders/<run>.json       the runs using the directory now (crate::holders)
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
const HOLDERS: &str = "holders";
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
    /// `holders/`: the runs using this directory now (crate::holders).
    pub fn holders(&self) -> PathBuf {
        self.0.join(HOLDERS)
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
            Err(e) => {
                return Ok(RecordFile::Invalid(format!(
                    "metrics.json is not a valid record ({e})"
                )));
            }
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

/// Write `bytes` to `path` atomically and durably: a temporary file, synced
/// to disk, renamed into place, then the directory synced, so that neither
/// a kill nor a crash of the machine leaves an empty or partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temporary(path, bytes)?;
    let file =
        std::fs::File::open(&tmp).with_context(|| format!("cannot open {}", tmp.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    sync_dir(parent(path)?)
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> Result<&Path> {
    let dir = path.parent().context("a file path has a parent")?;
    Ok(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
}

/// Write `bytes` to `path` atomically (temporary file + rename), without
/// syncing: for files rewritten every few seconds that a crash may lose
/// (claims and their heartbeats).
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temporary(path, bytes)?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// `bytes` in a temporary file beside `path` (created with its directory).
fn write_temporary(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let dir = parent(path)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .context("a file path has a name")?
        .to_string_lossy();
    // Unique in this process: a batch may stage one path twice.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{name}{TMP_MARK}{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok(tmp)
}

/// Sync a directory: the renames into it reach the disk.
fn sync_dir(dir: &Path) -> Result<()> {
    let handle =
        std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    handle
        .sync_all()
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Files staged to be written durably together (group commit): each is
/// written to its temporary file at once, and [`Batch::commit`] syncs them
/// all with one `syncfs` of the filesystem, renames them into place in the
/// order they were staged, and syncs again for the renames. So a cell's
/// `metrics.json` is never in place before its data is on disk, and never
/// before the files staged ahead of it, while thousands of millisecond
/// cells cost two syncs a batch instead of two per file (`write_atomic`).
/// Files not yet committed are lost by a kill, and their cells rerun.
#[derive(Default)]
pub struct Batch {
    staged: std::sync::Mutex<Staged>,
    /// Held while committing: commits happen one at a time, in order.
    committing: std::sync::Mutex<()>,
}

#[derive(Default)]
struct Staged {
    files: Vec<(PathBuf, PathBuf)>,
    since: Option<std::time::Instant>,
}

/// A batch is committed by [`Batch::stage_and_maybe_commit`] once it holds
/// this many files, or once its oldest file waited [`BATCH_AGE`].
pub const BATCH_FILES: usize = 2048;
pub const BATCH_AGE: std::time::Duration = std::time::Duration::from_millis(500);

impl Batch {
    /// Stage `bytes` for `path`.
    pub fn stage(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = write_temporary(path, bytes)?;
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        staged.since.get_or_insert_with(std::time::Instant::now);
        staged.files.push((tmp, path.to_path_buf()));
        Ok(())
    }

    /// Commit when the batch is full or old enough.
    pub fn maybe_commit(&self) -> Result<()> {
        let due = {
            let staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            staged.files.len() >= BATCH_FILES
                || staged.since.is_some_and(|t| t.elapsed() >= BATCH_AGE)
        };
        if due { self.commit() } else { Ok(()) }
    }

    /// Sync, rename into place and sync again every file staged so far.
    pub fn commit(&self) -> Result<()> {
        let _one_at_a_time = self.committing.lock().unwrap_or_else(|e| e.into_inner());
        let files = {
            let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            staged.since = None;
            std::mem::take(&mut staged.files)
        };
        let Some((first, _)) = files.first() else {
            return Ok(());
        };
        let anchor = parent(first)?.to_path_buf();
        sync_filesystem(&anchor, files.iter().map(|(tmp, _)| tmp.as_path()))?;
        for (tmp, path) in &files {
            match std::fs::rename(tmp, path) {
                Ok(()) => {}
                // Another process computing the same cell (a quick kind's
                // cells are not claimed) cleared its temporaries: it writes
                // the same file itself.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::debug!("{} vanished before its commit", tmp.display());
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot move {} into place", path.display()));
                }
            }
        }
        sync_filesystem(&anchor, files.iter().filter_map(|(_, p)| parent(p).ok()))
    }
}

/// Bring everything written to the filesystem of `anchor` to disk: one
/// `syncfs` on Linux; elsewhere a sync of each of `paths`.
#[cfg(target_os = "linux")]
fn sync_filesystem<'a>(anchor: &Path, _paths: impl Iterator<Item = &'a Path>) -> Result<()> {
    use std::os::fd::AsRawFd;
    let dir =
        std::fs::File::open(anchor).with_context(|| format!("cannot open {}", anchor.display()))?;
    // SAFETY: syncfs only reads the descriptor, which `dir` keeps open.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot sync the filesystem of {}", anchor.display()));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem<'a>(_anchor: &Path, paths: impl Iterator<Item = &'a Path>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for path in paths.filter(|p| seen.insert(p.to_path_buf())) {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_puts_nothing_in_place_before_its_commit_and_keeps_the_order() {
        let dir = std::env::temp_dir().join(format!("probstab-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let batch = Batch::default();
        let (a, b) = (dir.join("x/config.toml"), dir.join("x/metrics.json"));
        batch.stage(&a, b"config").unwrap();
        batch.stage(&b, b"record 1").unwrap();
        batch.stage(&b, b"record 2").unwrap();
        assert!(!a.exists() && !b.exists(), "staged files are not in place");
        batch.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "config");
        // Staged later, renamed later: the last write wins.
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "record 2");
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("x"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(TMP_MARK))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        batch.commit().unwrap();
        write_atomic(&dir.join("y/z.txt"), b"durable").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("y/z.txt")).unwrap(),
            "durable"
        );
        // A bare file name is in the working directory.
        assert_eq!(parent(Path::new("partial.html")).unwrap(), Path::new("."));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
