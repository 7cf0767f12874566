//! What produced a result: the build (probstab's version, the git commit
//! and whether the tree was dirty, from build.rs), the command line, the
//! host and process, the backend and device, and when. Every cell record
//! carries it, and `runs.jsonl` has a line at each run's start and end. It
//! stays out of `summary.csv`: two identical runs still give identical
//! summaries.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// This machine's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The PID namespace of this process: PIDs compare only within one.
fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether process `pid` of this namespace is alive (None: cannot tell).
pub fn pid_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => Some(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_none_or(|state| !matches!(state, 'Z' | 'X')),
        ),
        Err(_) => Some(false),
    }
}

/// Who runs: this process, as its claims name it.
#[derive(Clone, Debug)]
pub struct Runner {
    pub host: String,
    pub pid: u32,
    /// PIDs compare only within one namespace.
    pub pid_namespace: String,
    /// `host:pid:start` (milliseconds): unique to this run.
    pub run: String,
}

impl Runner {
    pub fn this_process() -> &'static Runner {
        static RUNNER: std::sync::OnceLock<Runner> = std::sync::OnceLock::new();
        RUNNER.get_or_init(|| {
            let (host, pid) = (host_name(), std::process::id());
            Runner {
                run: format!("{host}:{pid}:{}", (now() * 1000.0) as u64),
                host,
                pid,
                pid_namespace: pid_namespace(),
            }
        })
    }
}

/// The binary that computed a result.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Build {
    pub version: String,
    /// The git commit, or `unknown` (built outside a checkout).
    pub commit: String,
    /// Uncommitted changes to tracked files when it was built (None: unknown).
    pub dirty: Option<bool>,
}

impl Build {
    /// This binary's build.
    pub fn this() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: env!("PROBSTAB_GIT_COMMIT").to_string(),
            dirty: env!("PROBSTAB_GIT_DIRTY").parse().ok(),
        }
    }
}

impl std::fmt::Display for Build {
    /// `probstab 0.1.0 (888813a, dirty)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let commit = &self.commit[..self.commit.len().min(12)];
        let dirty = match self.dirty {
            Some(true) => ", dirty",
            Some(false) => "",
            None => ", dirty?",
        };
        write!(f, "probstab {} ({commit}{dirty})", self.version)
    }
}

/// Who computed a cell, with what, and when.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Provenance {
    pub build: Build,
    /// The command line of the process.
    pub command: Vec<String>,
    pub host: String,
    pub pid: u32,
    /// The run (`host:pid:start`), shared by the cells one process computed.
    pub run: String,
    /// `cpu` or `wgpu`, and the adapter on wgpu.
    pub backend: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
}

impl Provenance {
    /// The provenance of a cell of this process that ran from `started` to
    /// now (Unix seconds).
    pub fn of_cell(backend: &str, device: Option<String>, started: f64) -> Self {
        let runner = Runner::this_process();
        Self {
            build: Build::this(),
            command: std::env::args().collect(),
            host: runner.host.clone(),
            pid: runner.pid,
            run: runner.run.clone(),
            backend: backend.to_string(),
            device,
            started: rfc3339(started),
            finished: rfc3339(now()),
        }
    }
}

/// Unix seconds as RFC 3339 UTC, to the millisecond.
pub fn rfc3339(unix: f64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs_f64(unix.max(0.0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// A line of `runs.jsonl`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RunEvent {
    /// `start` or `end`.
    pub event: String,
    pub run: String,
    pub build: Build,
    pub command: Vec<String>,
    pub host: String,
    pub pid: u32,
    pub at: String,
    /// At the start: the cells this run was given and how many it found complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<usize>,
    /// At the end: what it did, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl RunEvent {
    pub fn new(event: &str) -> Self {
        let runner = Runner::this_process();
        Self {
            event: event.into(),
            run: runner.run.clone(),
            build: Build::this(),
            command: std::env::args().collect(),
            host: runner.host.clone(),
            pid: runner.pid,
            at: rfc3339(now()),
            cells: None,
            complete: None,
            outcome: None,
        }
    }

    /// Append it to `path` (a results directory's `runs.jsonl`) in one write
    /// of one line: lines of the tasks of a job array do not interleave.
    pub fn append(&self, path: &Path) -> Result<()> {
        let mut line = serde_json::to_string(self)?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        file.write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The lines of a `runs.jsonl` that parse (none without the file).
pub fn read_runs(path: &Path) -> Vec<RunEvent> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}
