//! Stopping a run on a signal without losing work, and requeueing a Slurm
//! task that reaches its time limit.
//!
//! On the first SIGTERM, SIGINT, SIGHUP or SIGUSR1 the run asks its
//! training loops to stop (`train::interrupt`): image_classifier cells write a checkpoint
//! at their next step boundary and return; cells that cannot checkpoint
//! (theory, simulation, two_layer and neuron cells, which are short) are
//! left unfinished and run again next time; no new cell starts. Once the
//! checkpointing cells are done (or at once, when there are none) the
//! process gives up its claims, writes a `stop` line to `runs.jsonl` and
//! exits with [`EXIT_STOPPED`]. A second SIGTERM, SIGINT or SIGHUP ends it
//! at once. A signal after the last cell was done changes nothing.
//!
//! SIGUSR1 is what `probstab slurm`'s scripts ask Slurm to send some minutes
//! before the time limit (`--signal=B:USR1@GRACE`). A task run with
//! `--requeue N` then requeues itself (`scontrol requeue`, [`SlurmTask`])
//! unless Slurm has restarted it N times already (`SLURM_RESTART_COUNT`),
//! and the requeued task continues from the checkpoints (`--resume`).
//! SIGTERM (`scancel`, or a time limit with no warning) stops without a
//! requeue: a cancelled job stays cancelled.

use crate::provenance::RunEvent;
use crate::store::ResultsDir;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The exit status of a run stopped by a signal before its cells were done
/// (EX_TEMPFAIL: run it again, with `--resume`, to continue).
pub const EXIT_STOPPED: i32 = 75;

/// How long the process waits, once its checkpointing cells are done, for
/// the run to wind up by itself before it exits from the signal thread.
const WIND_UP: Duration = Duration::from_secs(2);

/// The signal that stopped the run (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Set by whoever ends the process (the run, or the signal thread), once.
static ENDING: Mutex<bool> = Mutex::new(false);

/// What a stopped run does about Slurm.
#[derive(Clone, Debug)]
pub struct StopPolicy {
    /// The results directory (for `runs.jsonl`).
    pub out: ResultsDir,
    /// Requeue this Slurm task on SIGUSR1, at most this many times.
    pub requeue: Option<u32>,
}

/// The signal that stopped this run, if one did.
pub fn signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// A signal's name.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        SIGUSR1 => "SIGUSR1",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// A line on stderr; a closed or full stderr (a full scratch disk under
/// the Slurm log) must not stop a run from saving and requeueing.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "probstab: {message}");
}

/// Catch SIGTERM, SIGINT, SIGHUP and SIGUSR1 for this run (see the module docs).
pub fn install(policy: StopPolicy) -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if SIGNAL.load(Ordering::SeqCst) != 0 {
                    // A second time-limit warning changes nothing.
                    if signal == SIGUSR1 {
                        continue;
                    }
                    // After the stop is written (and the task requeued,
                    // which makes Slurm end it) there is nothing to add.
                    let ended = *ENDING.lock().unwrap_or_else(|e| e.into_inner());
                    if !ended {
                        say(&format!("{} again: stopping at once", signal_name(signal)));
                        crate::live::abandon_all();
                        crate::holders::release_all();
                        let mut event = RunEvent::new("stop");
                        event.outcome = Some(format!(
                            "stopped at once by a second signal, {}",
                            signal_name(signal)
                        ));
                        let _ = event.append(&policy.out.runs());
                    }
                    std::process::exit(128 + signal);
                }
                SIGNAL.store(signal, Ordering::SeqCst);
                train::interrupt::request();
                say(&format!(
                    "{}: saving the checkpoints of running image cells, then stopping; `run --resume` continues them, other unfinished cells run again (a second SIGTERM or SIGINT stops at once)",
                    signal_name(signal)
                ));
                let policy = policy.clone();
                std::thread::spawn(move || watchdog(&policy));
            }
        })?;
    Ok(())
}

/// Wait for the checkpointing cells, give the run [`WIND_UP`] to finish
/// by itself, then end the process from here.
fn watchdog(policy: &StopPolicy) {
    while train::interrupt::responsive() > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + WIND_UP;
    while Instant::now() < deadline {
        if *ENDING.lock().unwrap_or_else(|e| e.into_inner()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = end(policy, "cells still running were left unfinished", true);
    std::process::exit(code.unwrap_or(EXIT_STOPPED));
}

/// The run stopped on a signal: give up the claims and the directory left,
/// say so in `runs.jsonl`, requeue the Slurm task where the policy says,
/// and return the exit status. With nothing `unfinished` (the signal came
/// after the last cell) there is nothing to do: None, and the run ends as
/// usual. Only the first caller acts; a second one (the run and the signal
/// thread racing) waits for the process to exit.
pub fn end(policy: &StopPolicy, what: &str, unfinished: bool) -> Option<i32> {
    {
        let mut ending = ENDING.lock().unwrap_or_else(|e| e.into_inner());
        if *ending {
            drop(ending);
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        *ending = true;
    }
    if !unfinished {
        return None;
    }
    crate::live::abandon_all();
    crate::holders::release_all();
    let signal = signal().unwrap_or(SIGTERM);
    let task = SlurmTask::from_env();
    let decision = requeue_decision(signal, policy.requeue, task.as_ref());
    let mut outcome = format!("stopped by {}: {what}", signal_name(signal));
    if let Requeue::No(why) = &decision {
        outcome = format!("{outcome}; not requeued: {why}");
    }
    say(&outcome);
    let mut event = RunEvent::new("stop");
    event.outcome = Some(outcome);
    let _ = event.append(&policy.out.runs());
    if let Requeue::Yes { job, .. } = &decision {
        // Written first: Slurm signals the task again as it requeues it.
        let mut event = RunEvent::new("requeue");
        event.outcome = Some(decision.text());
        let _ = event.append(&policy.out.runs());
        say(&format!("requeueing: scontrol requeue {job}"));
        if let Err(e) = requeue(job) {
            say(&format!(
                "scontrol requeue {job} failed: {e:#}; submit the job again to go on"
            ));
            let mut event = RunEvent::new("requeue_failed");
            event.outcome = Some(format!("scontrol requeue {job}: {e:#}"));
            let _ = event.append(&policy.out.runs());
        }
    }
    Some(EXIT_STOPPED)
}

/// The Slurm task this process runs in, from the environment.
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmTask {
    /// What `scontrol requeue` takes for this task alone: `ARRAY_TASK`
    /// (`SLURM_ARRAY_JOB_ID`_`SLURM_ARRAY_TASK_ID`) in a job array, where
    /// the task's own `SLURM_JOB_ID` can be the array's id and would
    /// requeue every task; `SLURM_JOB_ID` otherwise.
    pub job: String,
    /// `SLURM_RESTART_COUNT`: how often Slurm restarted it (0 at first).
    pub restarts: u32,
}

impl SlurmTask {
    pub fn from_env() -> Option<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let job = var("SLURM_JOB_ID").filter(|j| !j.is_empty())?;
        let job = match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
            (Some(array), Some(task)) if !array.is_empty() && !task.is_empty() => {
                format!("{array}_{task}")
            }
            _ => job,
        };
        let restarts = var("SLURM_RESTART_COUNT")
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(0);
        Some(Self { job, restarts })
    }
}

/// Whether a stopped run requeues its task.
#[derive(Clone, Debug, PartialEq)]
pub enum Requeue {
    Yes { job: String, restart: u32, max: u32 },
    No(String),
}

impl Requeue {
    pub fn text(&self) -> String {
        match self {
            Requeue::Yes { job, restart, max } => {
                format!("requeued Slurm job {job} (restart {restart} of at most {max})")
            }
            Requeue::No(why) => format!("not requeued: {why}"),
        }
    }
}

/// Requeue on the time-limit warning (SIGUSR1) only, in a Slurm task, with
/// `--requeue N`, fewer than N restarts so far.
pub fn requeue_decision(signal: i32, max: Option<u32>, task: Option<&SlurmTask>) -> Requeue {
    if signal != SIGUSR1 {
        return Requeue::No(format!(
            "{} is a cancel, not the time-limit warning (SIGUSR1)",
            signal_name(signal)
        ));
    }
    let Some(max) = max else {
        return Requeue::No("run without --requeue".into());
    };
    let Some(task) = task else {
        return Requeue::No("not in a Slurm job (no SLURM_JOB_ID)".into());
    };
    if task.restarts >= max {
        return Requeue::No(format!(
            "Slurm has restarted this task {} times, the most --requeue {max} allows",
            task.restarts
        ));
    }
    Requeue::Yes {
        job: task.job.clone(),
        restart: task.restarts + 1,
        max,
    }
}

/// How long `scontrol requeue` may take before it is given up.
const SCONTROL_TIMEOUT: Duration = Duration::from_secs(20);

fn requeue(job: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut child = std::process::Command::new("scontrol")
        .args(["requeue", job])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot run scontrol (is it on PATH?)")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > SCONTROL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("no answer within {} s", SCONTROL_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        anyhow::bail!("{status}: {}", stderr.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(restarts: u32) -> SlurmTask {
        SlurmTask {
            job: "4711".into(),
            restarts,
        }
    }

    #[test]
    fn only_the_time_limit_warning_requeues_and_only_up_to_the_bound() {
        assert_eq!(
            requeue_decision(SIGUSR1, Some(3), Some(&task(0))),
            Requeue::Yes {
                job: "4711".into(),
                restart: 1,
                max: 3
            }
        );
        assert!(matches!(
            requeue_decision(SIGUSR1, Some(3), Some(&task(2))),
            Requeue::Yes { restart: 3, .. }
        ));
        let no = |r: Requeue, needle: &str| match r {
            Requeue::No(why) => assert!(why.contains(needle), "{why}"),
            yes => panic!("{yes:?}"),
        };
        no(
            requeue_decision(SIGUSR1, Some(3), Some(&task(3))),
            "3 times",
        );
        no(requeue_decision(SIGTERM, Some(3), Some(&task(0))), "cancel");
        no(requeue_decision(SIGINT, Some(3), Some(&task(0))), "cancel");
        no(requeue_decision(SIGUSR1, None, Some(&task(0))), "--requeue");
        no(requeue_decision(SIGUSR1, Some(3), None), "SLURM_JOB_ID");
    }

    #[test]
    fn the_task_comes_from_slurms_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(SlurmTask::from_vars(vars(&[])), None);
        assert_eq!(
            SlurmTask::from_vars(vars(&[
                ("SLURM_JOB_ID", "12"),
                ("SLURM_RESTART_COUNT", "2")
            ])),
            Some(SlurmTask {
                job: "12".into(),
                restarts: 2
            })
        );
        assert_eq!(
            SlurmTask::from_vars(vars(&[("SLURM_JOB_ID", "12")]))
                .unwrap()
                .restarts,
            0
        );
        // In an array, the task alone (`scontrol requeue 4` would requeue
        // every task of array 4, whose first task's job id is 4 too).
        let task = SlurmTask::from_vars(vars(&[
            ("SLURM_JOB_ID", "4"),
            ("SLURM_ARRAY_JOB_ID", "4"),
            ("SLURM_ARRAY_TASK_ID", "1"),
        ]));
        assert_eq!(task.unwrap().job, "4_1");
    }
}
