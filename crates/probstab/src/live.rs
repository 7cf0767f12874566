//! A running cell, seen from outside: its claim with heartbeat
//! (`cells/<id>/claim.json`).
//!
//! **Claims.** A process claims a cell before computing it, by linking a
//! complete claim file into place (`link` fails when one exists, and is
//! atomic on NFS too, unlike `flock`), and removes the claim when the cell's
//! record is written. So two processes of one experiment (the tasks of a
//! job array) never compute the same cell at once. The claim names the host,
//! the process and the run, and carries the heartbeat: the cell's step, last
//! loss, steps/s and ETA, rewritten every [`BEAT`] by a thread of the run
//! until the cell's record is written (then the claim is left as it was:
//! a cell with a record is not claimed again).
//! A claim is stale when its process is gone (same host and PID namespace:
//! the PID is dead or a zombie) or its heartbeat is older than
//! [`STALE_AFTER`]; a stale claim is taken over.
//!
//! **Live traces** are in [`crate::live_trace`]: they feed the heartbeat
//! of the cell they write for.

pub use crate::provenance::{Runner, now, pid_alive};
use crate::store::{CellDir, TMP_MARK, write_replace};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the heartbeat of a running cell is rewritten.
pub const BEAT: Duration = Duration::from_secs(2);
/// A heartbeat older than this is stale (its process is presumed gone).
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// `claim.json`: who computes a cell, and how far it got.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Claim {
    pub cell: String,
    pub host: String,
    pub pid: u32,
    #[serde(default)]
    pub pid_namespace: String,
    pub run: String,
    /// Unix seconds.
    pub started_at: f64,
    pub updated_at: f64,
    /// The step last reported, of `steps`, and its loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
}

impl Claim {
    /// A fresh claim of `cell` by this run.
    pub fn of_this_run(cell: &str) -> Self {
        Self::new(cell, Runner::this_process())
    }

    fn new(cell: &str, runner: &Runner) -> Self {
        let t = now();
        Self {
            cell: cell.to_string(),
            host: runner.host.clone(),
            pid: runner.pid,
            pid_namespace: runner.pid_namespace.clone(),
            run: runner.run.clone(),
            started_at: t,
            updated_at: t,
            step: None,
            steps: None,
            loss: None,
            steps_per_second: None,
            eta_seconds: None,
        }
    }

    /// Seconds since its last heartbeat.
    pub fn age(&self) -> f64 {
        (now() - self.updated_at).max(0.0)
    }

    /// Its process is gone (see the module docs), as far as `runner` can tell.
    pub fn is_stale(&self, runner: &Runner) -> bool {
        if self.age() > STALE_AFTER.as_secs_f64() {
            return true;
        }
        let local = self.host == runner.host && self.pid_namespace == runner.pid_namespace;
        local && self.run != runner.run && pid_alive(self.pid) == Some(false)
    }

    /// `host pid N`, for messages.
    pub fn holder(&self) -> String {
        format!("{} pid {}", self.host, self.pid)
    }
}

/// A cell's claim file, if there is one that parses (None: unclaimed, or a
/// file no process could have written whole, which counts as no claim).
pub fn read_claim(dir: &CellDir) -> Option<Claim> {
    let text = std::fs::read_to_string(dir.claim()).ok()?;
    serde_json::from_str(&text).ok()
}

/// The outcome of claiming a cell.
pub enum Claimed {
    /// It is this process's to compute until the guard drops.
    Mine(ClaimGuard),
    /// A live process holds it.
    Busy(Claim),
}

/// A thread that calls `tick` every [`BEAT`] until dropped (the heartbeats
/// of claims here, and of a run's hold on its directory, crate::holders).
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn every_beat(name: &str, mut tick: impl FnMut() + Send + 'static) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let (stopped, wake) = &*flag;
                let mut stopped = stopped.lock().unwrap_or_else(|e| e.into_inner());
                // Stopped before this thread got here: no wait.
                while !*stopped {
                    stopped = wake
                        .wait_timeout(stopped, BEAT)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    if *stopped {
                        break;
                    }
                    tick();
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The heartbeats of this run's cells: a thread rewrites the claim of every
/// running cell every [`BEAT`]. Dropping it stops the thread.
pub struct Heartbeats {
    shared: Arc<Shared>,
    _ticker: Ticker,
}

#[derive(Default)]
struct Shared {
    cells: Mutex<Vec<Arc<LiveCell>>>,
}

impl Heartbeats {
    pub fn start() -> Self {
        let shared = Arc::new(Shared::default());
        {
            let mut registries = REGISTRIES.lock().unwrap_or_else(|e| e.into_inner());
            registries.retain(|w| w.strong_count() > 0);
            registries.push(Arc::downgrade(&shared));
        }
        let beats = shared.clone();
        let ticker = Ticker::every_beat("heartbeat", move || {
            let cells = beats
                .cells
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for cell in cells {
                cell.beat();
            }
        });
        Self {
            shared,
            _ticker: ticker,
        }
    }

    /// Claim cell `id` in `dir` for this process: create the claim, or take
    /// over a stale one.
    pub fn claim(&self, dir: &CellDir, id: &str) -> Result<Claimed> {
        let runner = Runner::this_process();
        std::fs::create_dir_all(dir.path())
            .with_context(|| format!("cannot create {}", dir.path().display()))?;
        let claim = Claim::new(id, runner);
        // Two tries: the second after taking over a stale claim.
        for _ in 0..2 {
            if link_new(&dir.claim(), &claim)? {
                let cell = Arc::new(LiveCell {
                    dir: dir.clone(),
                    state: Mutex::new(CellState {
                        claim: claim.clone(),
                        released: false,
                        first: 0,
                        since: Instant::now(),
                    }),
                });
                self.shared
                    .cells
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(cell.clone());
                return Ok(Claimed::Mine(ClaimGuard {
                    cell,
                    shared: self.shared.clone(),
                }));
            }
            match read_claim(dir) {
                Some(held) if !held.is_stale(runner) => return Ok(Claimed::Busy(held)),
                held => {
                    tracing::info!(cell = id, holder = ?held.as_ref().map(Claim::holder), "taking over a stale claim");
                    take_over(&dir.claim(), held.as_ref());
                }
            }
        }
        match read_claim(dir) {
            Some(held) => Ok(Claimed::Busy(held)),
            None => anyhow::bail!("cannot claim {}", dir.claim().display()),
        }
    }
}

/// Write `claim` to a temporary file and link it into `path`: false when a
/// claim is there already. The claim appears whole or not at all.
fn link_new(path: &Path, claim: &Claim) -> Result<bool> {
    let tmp = temporary(path, "new");
    std::fs::write(&tmp, serde_json::to_vec_pretty(claim)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Move the stale claim `seen` out of the way. Where another process has
/// replaced it in the meantime, its claim is put back.
fn take_over(path: &Path, seen: Option<&Claim>) {
    let aside = temporary(path, "stale");
    if std::fs::rename(path, &aside).is_err() {
        return;
    }
    let moved: Option<Claim> = std::fs::read_to_string(&aside)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if moved.as_ref() != seen {
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
}

/// A temporary name beside `path` that a killed run's cleanup removes.
fn temporary(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(
        format!(
            "{}{TMP_MARK}{what}-{}-{:?}",
            name.unwrap_or_default(),
            std::process::id(),
            std::thread::current().id()
        )
        .replace(['(', ')'], ""),
    )
}

/// A cell this process computes: its claim and progress.
pub struct LiveCell {
    dir: CellDir,
    state: Mutex<CellState>,
}

struct CellState {
    claim: Claim,
    /// The claim is gone: no heartbeat may bring it back.
    released: bool,
    /// The step training started from, and when, for the rate.
    first: usize,
    since: Instant,
}

impl LiveCell {
    pub fn dir(&self) -> &CellDir {
        &self.dir
    }

    /// Training starts at step `first` of `steps`.
    pub fn started(&self, first: usize, steps: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.first = first;
        s.since = Instant::now();
        s.claim.steps = Some(steps as u64);
        s.claim.step = Some(first as u64);
    }

    /// Step `step` had loss `loss`: the heartbeat's numbers.
    pub fn progress(&self, step: usize, loss: f32) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let done = (step + 1).saturating_sub(s.first) as f64;
        let seconds = s.since.elapsed().as_secs_f64();
        let rate = (seconds > 0.0).then(|| done / seconds);
        let c = &mut s.claim;
        c.step = Some(step as u64);
        c.loss = Some(loss as f64).filter(|l| l.is_finite());
        c.steps_per_second = rate;
        c.eta_seconds = match (rate, c.steps) {
            (Some(r), Some(n)) if r > 0.0 => Some((n as f64 - step as f64 - 1.0).max(0.0) / r),
            _ => None,
        };
    }

    /// Whether this run still holds the cell: its claim is still there and
    /// this run's, and no complete record has appeared. A process stopped for longer
    /// than [`STALE_AFTER`] (SIGSTOP, a suspended job, a hung filesystem)
    /// may have lost the cell to another; its result is then dropped.
    pub fn still_mine(&self) -> bool {
        let run = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .claim
            .run
            .clone();
        read_claim(&self.dir).is_some_and(|c| c.run == run)
            && !matches!(self.dir.read_record(), Ok(crate::store::RecordFile::Found(r)) if r.status.is_complete())
    }

    /// Rewrite the claim with a fresh heartbeat, unless another process
    /// has taken the cell over meanwhile (then it stays theirs).
    fn beat(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.released {
            return;
        }
        if read_claim(&self.dir).is_some_and(|c| c.run != s.claim.run) {
            tracing::warn!(cell = %s.claim.cell, "another process took this cell over (this one was stopped for over {} s)", STALE_AFTER.as_secs());
            s.released = true;
            return;
        }
        s.claim.updated_at = now();
        if let Ok(bytes) = serde_json::to_vec_pretty(&s.claim) {
            if let Err(e) = write_replace(&self.dir.claim(), &bytes) {
                tracing::warn!("heartbeat: {e:#}");
            }
        }
    }

    /// Stop the heartbeat. The claim file stays: the cell's record, written
    /// before, is what says it is done, and its process ends eventually, so
    /// the claim becomes stale. (Removing it would free an inode per cell,
    /// and ext4 then slows down every later file creation: the main job of
    /// 10,100 cells took 19 s instead of 2.2 s.)
    fn release(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .released = true;
    }
}

/// A claimed cell; dropping it (after the record is written) stops its heartbeat.
pub struct ClaimGuard {
    cell: Arc<LiveCell>,
    shared: Arc<Shared>,
}

impl ClaimGuard {
    pub fn cell(&self) -> &Arc<LiveCell> {
        &self.cell
    }

    /// Give the cell up unfinished (its run was interrupted): stop the
    /// heartbeat and remove the claim if it is still this run's, so that
    /// the next process (a requeued task, on any node) takes the cell at
    /// once instead of waiting [`STALE_AFTER`] for the claim to go stale.
    pub fn abandon(self) {
        abandon_claim(&self.cell);
    }
}

/// Stop `cell`'s heartbeat and remove its claim if this run holds it.
fn abandon_claim(cell: &LiveCell) {
    let run = {
        let mut s = cell.state.lock().unwrap_or_else(|e| e.into_inner());
        s.released = true;
        s.claim.run.clone()
    };
    if read_claim(&cell.dir).is_some_and(|c| c.run == run) {
        let _ = std::fs::remove_file(cell.dir.claim());
    }
}

/// Give up every cell this process still holds (it is about to exit on a
/// signal, leaving them unfinished): see [`ClaimGuard::abandon`].
pub fn abandon_all() {
    let registries = REGISTRIES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for shared in registries.iter().filter_map(std::sync::Weak::upgrade) {
        let cells = shared
            .cells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for cell in cells {
            abandon_claim(&cell);
        }
    }
}

/// The heartbeat registries of this process, for [`abandon_all`].
static REGISTRIES: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.shared
            .cells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| !Arc::ptr_eq(c, &self.cell));
        self.cell.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live_trace::LiveTrace;
    use train::watch::{StepInfo, Watch};

    fn temp(label: &str) -> CellDir {
        let dir = std::env::temp_dir().join(format!(
            "probstab-live-{label}-{}-{}",
            std::process::id(),
            (now() * 1e6) as u64
        ));
        crate::store::ResultsDir::new(dir).cell("c")
    }

    fn other(claim: &Claim, host: &str, pid: u32, age: f64) -> Claim {
        Claim {
            host: host.into(),
            pid,
            run: format!("{host}:{pid}:0"),
            updated_at: now() - age,
            ..claim.clone()
        }
    }

    #[test]
    fn a_cell_is_claimed_once_and_released_with_its_guard() {
        let dir = temp("once");
        let beats = Heartbeats::start();
        let Claimed::Mine(guard) = beats.claim(&dir, "c").unwrap() else {
            panic!("a fresh cell is free");
        };
        let held = read_claim(&dir).expect("the claim is on disk");
        assert_eq!((held.cell.as_str(), held.pid), ("c", std::process::id()));
        // A second claim from this process finds it held by a live run.
        match beats.claim(&dir, "c").unwrap() {
            Claimed::Busy(claim) => assert_eq!(claim.run, held.run),
            Claimed::Mine(_) => panic!("claimed twice"),
        }
        drop(guard);
        // Released, the claim stays, this (live) run's: a record is what
        // keeps a finished cell from being claimed again.
        assert!(matches!(beats.claim(&dir, "c").unwrap(), Claimed::Busy(_)));
        let _ = std::fs::remove_dir_all(dir.path().parent().unwrap().parent().unwrap());
    }

    #[test]
    fn stale_claims_are_those_of_dead_processes_or_silent_ones_and_are_taken_over() {
        let runner = Runner::this_process();
        let mine = Claim::new("c", runner);
        // A dead PID on this host (PIDs stay below 2^22 on Linux).
        let dead = other(&mine, &runner.host, 4_194_303 + 1, 0.0);
        assert!(dead.is_stale(runner));
        // A live process of this host (PID 1) with a fresh heartbeat is not.
        assert!(!other(&mine, &runner.host, 1, 0.0).is_stale(runner));
        // Another host: only the age of its heartbeat counts.
        assert!(!other(&mine, "elsewhere", 4_194_304, 5.0).is_stale(runner));
        let silent = STALE_AFTER.as_secs_f64() + 1.0;
        assert!(other(&mine, "elsewhere", 1, silent).is_stale(runner));

        let dir = temp("stale");
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::write(dir.claim(), serde_json::to_vec(&dead).unwrap()).unwrap();
        let beats = Heartbeats::start();
        assert!(
            matches!(beats.claim(&dir, "c").unwrap(), Claimed::Mine(_)),
            "taken over"
        );
        // A fresh claim of another host is left alone.
        let dir2 = temp("busy");
        std::fs::create_dir_all(dir2.path()).unwrap();
        let busy = other(&mine, "elsewhere", 7, 1.0);
        std::fs::write(dir2.claim(), serde_json::to_vec(&busy).unwrap()).unwrap();
        match beats.claim(&dir2, "c").unwrap() {
            Claimed::Busy(claim) => assert_eq!(claim.host, "elsewhere"),
            Claimed::Mine(_) => panic!("took a live claim"),
        }
        // An unreadable claim (no process writes one: claims are linked in
        // whole) is no claim.
        std::fs::write(dir2.claim(), b"").unwrap();
        assert!(matches!(beats.claim(&dir2, "c").unwrap(), Claimed::Mine(_)));
        for d in [dir, dir2] {
            let _ = std::fs::remove_dir_all(d.path().parent().unwrap().parent().unwrap());
        }
    }

    #[test]
    fn a_live_trace_keeps_the_rows_before_a_resumed_step() {
        let dir = temp("trace");
        let beats = Heartbeats::start();
        let Claimed::Mine(guard) = beats.claim(&dir, "c").unwrap() else {
            panic!("free");
        };
        let columns = vec!["step".to_string(), "loss".to_string()];
        let row: fn(&StepInfo) -> Vec<f64> = |i| vec![i.step as f64, i.loss as f64];
        let mut live = LiveTrace::new(
            Some(guard.cell().clone()),
            columns.clone(),
            vec![0, 2, 4, 6, 8],
            Box::new(row),
        );
        live.start(0, 10);
        for step in 0..7 {
            live.step(&StepInfo {
                step,
                loss: step as f32,
                ..StepInfo::default()
            });
        }
        live.sync();
        assert_eq!(
            std::fs::read_to_string(dir.trace()).unwrap(),
            "step,loss\n0,0\n2,2\n4,4\n6,6\n"
        );
        // Resumed at step 5: rows 0, 2, 4 stay, 6 comes again, once.
        let mut live = LiveTrace::new(
            Some(guard.cell().clone()),
            columns,
            vec![0, 2, 4, 6, 8],
            Box::new(row),
        );
        live.start(5, 10);
        for step in 5..10 {
            live.step(&StepInfo {
                step,
                loss: step as f32,
                ..StepInfo::default()
            });
        }
        live.sync();
        assert_eq!(
            std::fs::read_to_string(dir.trace()).unwrap(),
            "step,loss\n0,0\n2,2\n4,4\n6,6\n8,8\n"
        );
        drop(guard);
        let _ = std::fs::remove_dir_all(dir.path().parent().unwrap().parent().unwrap());
    }
}
