//! What a cluster does to a run (issue: long cells survive the cluster):
//! a signal makes image cells checkpoint and the run stop with status 75,
//! and `--resume` ends with the numbers of an uninterrupted run; Slurm's
//! time-limit warning (SIGUSR1) requeues the task through `scontrol`, a
//! cancel (SIGTERM) does not; a run of another experiment on a busy --out
//! is refused while runs of the same experiment share it; and a grid killed
//! with SIGKILL at 50 random moments still ends with every cell once and
//! the summary of an uninterrupted run, byte for byte.

mod common;

use common::{Csv, TempDir, command, image_cell, list, only_cell, probstab, read, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The image cell, with no periodic checkpoint: what a signal saves is
/// all there is.
fn with_cell(label: &str) -> TempDir {
    image_cell(label, "cluster", 500, "")
}

/// The names in `dir`, none where it does not exist (yet).
fn names(dir: &Path) -> Vec<String> {
    if dir.is_dir() { list(dir) } else { Vec::new() }
}

fn rows(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn start(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Child {
    let mut cmd = command(cwd, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start probstab")
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's PID.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// The exit status and stderr of `child`, which must end within 60 s.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not stop within 60 s of the signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The metric columns that do not depend on the wall clock or on the run
/// having been resumed.
const NUMBERS: [&str; 6] = [
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "rank",
    "effective_rank",
    "m_l",
];

#[test]
fn sigterm_checkpoints_the_image_cell_and_resume_ends_like_an_uninterrupted_run() {
    let t = with_cell("cluster-term");
    probstab(t.path(), &["run", "cell.toml", "--out", "ref", "--no-plot"]).ok();
    let reference = read(only_cell(&t.join("ref")).join("trace.csv"));

    let run = [
        "run",
        "cell.toml",
        "--out",
        "out",
        "--no-plot",
        "--jobs",
        "1",
    ];
    let mut child = start(t.path(), &run, &[]);
    let out = t.join("out");
    wait_for(&mut child, "60 trace rows", || {
        names(&out.join("cells"))
            .first()
            .is_some_and(|id| rows(&out.join("cells").join(id).join("trace.csv")) > 60)
    });
    let signalled = Instant::now();
    signal(&child, libc::SIGTERM);
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(75), "{stderr}");
    eprintln!("stopped {:?} after SIGTERM", signalled.elapsed());
    let dir = only_cell(&out);
    assert!(
        !dir.join("metrics.json").exists(),
        "an interrupted cell has no record"
    );
    assert!(
        !dir.join("claim.json").exists(),
        "an interrupted cell gives up its claim"
    );
    let state = read(dir.join("checkpoint/state.json"));
    assert!(
        !state.contains("\"step\":0,"),
        "the checkpoint holds the steps taken: {state}"
    );
    assert!(
        stderr.contains("SIGTERM") && stderr.contains("not requeued"),
        "{stderr}"
    );
    let runs = read(out.join("runs.jsonl"));
    assert!(
        runs.contains("\"event\":\"stop\"") && !runs.contains("\"event\":\"requeue\""),
        "{runs}"
    );
    let status = probstab(t.path(), &["status", "out"]);
    assert_eq!(status.code, Some(1));
    assert!(
        status
            .stdout
            .contains("stops by a signal: 1, requeues at the time limit: 0"),
        "{}",
        status.stdout
    );

    probstab(
        t.path(),
        &["run", "cell.toml", "--out", "out", "--no-plot", "--resume"],
    )
    .ok();
    assert_eq!(
        read(dir.join("trace.csv")),
        reference,
        "the resumed trace is the uninterrupted one"
    );
    let (a, b) = (
        Csv::read(t.join("ref/summary.csv")),
        Csv::read(out.join("summary.csv")),
    );
    for name in NUMBERS {
        assert_eq!(a.values(name), b.values(name), "{name}");
    }
    let resumed: usize = b.get(0, "resumed_at").parse().unwrap();
    assert!(resumed > 100, "resumed at step {resumed}");
}

/// A stand-in for Slurm's `scontrol` that notes its arguments.
fn fake_scontrol(t: &TempDir) -> (String, PathBuf) {
    let bin = t.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = t.join("scontrol-calls");
    let script = bin.join("scontrol");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, calls)
}

#[test]
fn the_time_limit_warning_requeues_the_task_and_a_cancel_or_the_bound_does_not() {
    let t = with_cell("cluster-usr1");
    let (path, calls) = fake_scontrol(&t);
    // (signal, restarts so far, whether the task requeues itself)
    let cases = [
        (libc::SIGUSR1, 0, true),
        (libc::SIGTERM, 0, false),
        (libc::SIGUSR1, 2, false),
    ];
    for (i, (sig, restarts, requeues)) in cases.into_iter().enumerate() {
        let out = format!("out{i}");
        let run = [
            "run",
            "cell.toml",
            "--out",
            &out,
            "--no-plot",
            "--jobs",
            "1",
            "--resume",
            "--requeue",
            "2",
        ];
        let env = [
            ("PATH", path.clone()),
            ("SLURM_JOB_ID", format!("47{i}")),
            ("SLURM_RESTART_COUNT", restarts.to_string()),
        ];
        let _ = std::fs::remove_file(&calls);
        let mut child = start(t.path(), &run, &env);
        let outp = t.join(&out);
        wait_for(&mut child, "20 trace rows", || {
            names(&outp.join("cells"))
                .first()
                .is_some_and(|id| rows(&outp.join("cells").join(id).join("trace.csv")) > 20)
        });
        signal(&child, sig);
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(75), "case {i}: {stderr}");
        assert!(
            only_cell(&outp).join("checkpoint/state.json").is_file(),
            "case {i}"
        );
        let called = std::fs::read_to_string(&calls).unwrap_or_default();
        let status = probstab(t.path(), &["status", &out]);
        if requeues {
            assert_eq!(called, format!("requeue 47{i}\n"), "case {i}: {stderr}");
            assert!(
                status.stdout.contains("requeues at the time limit: 1"),
                "{}",
                status.stdout
            );
        } else {
            assert_eq!(called, "", "case {i}: {stderr}");
            assert!(stderr.contains("not requeued"), "case {i}: {stderr}");
            assert!(
                status.stdout.contains("requeues at the time limit: 0"),
                "{}",
                status.stdout
            );
        }
    }
}

/// A two_layer grid of 120 cells (some diverge, ReLU and tanh) of some
/// 50 ms each: killed 50 times on its way, most kills land while cells
/// train or records are written.
const MIXED: &str = r#"name = "mixed"
kind = "two_layer"

[model]
activation = "tanh"
dim = 4
hidden = 4

[data]
mu = 0.5

[train]
lr = 0.1
steps = 1500
trace_points = 10

[grid]
"model.activation" = ["tanh", "relu"]
"train.lr" = [0.05, 0.2, 0.6, 3.0]
"data.mu" = { linspace = [0.05, 0.95, 15] }
"#;

#[test]
fn a_grid_killed_at_50_random_moments_ends_with_every_cell_once_and_the_same_summary() {
    let t = TempDir::new("cluster-kill50");
    t.write("mixed.toml", MIXED);
    let clock = Instant::now();
    probstab(
        t.path(),
        &[
            "run",
            "mixed.toml",
            "--out",
            "ref",
            "--no-plot",
            "--no-pack",
            "--jobs",
            "2",
        ],
    )
    .ok();
    let whole = clock.elapsed().as_millis() as u64;
    let summary = read(t.join("ref/summary.csv"));
    assert!(
        summary.contains(",diverged,") && summary.contains(",ok,"),
        "a mixed grid: {summary}"
    );

    let run = [
        "run",
        "mixed.toml",
        "--out",
        "out",
        "--no-plot",
        "--no-pack",
        "--jobs",
        "2",
    ];
    // A seeded sequence of kill moments (xorshift), from 5 ms to 1/20 of
    // the time the grid takes alone (250 ms here) into each run: at
    // startup, while cells train, while records are written.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut moments = Vec::new();
    for _ in 0..50 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        moments.push(5 + state % (whole / 20).max(50));
    }
    let mut completed_early = 0;
    for ms in &moments {
        let mut child = command(t.path(), &run)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms));
        if child.try_wait().unwrap().is_some() {
            completed_early += 1;
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let last = probstab(t.path(), &run).ok();
    eprintln!(
        "grid alone: {whole} ms; {completed_early} of 50 runs ended before their kill; then: {}",
        last.stdout
    );
    // Most kills land mid-run (all of them on an idle machine; fewer when
    // the machine is busy and the moments, scaled by the reference run,
    // come late).
    assert!(
        completed_early <= 35,
        "the kills came too late: {completed_early} of 50 runs had nothing left to do"
    );
    assert_eq!(
        read(t.join("out/summary.csv")),
        summary,
        "summary.csv after 50 kills"
    );
    // Every cell once: one directory per cell, each with its record and no
    // temporary file left behind.
    let cells = list(t.join("out/cells"));
    assert_eq!(cells.len(), 120);
    for id in &cells {
        let dir = t.join("out/cells").join(id);
        assert!(dir.join("metrics.json").is_file(), "{id}");
        let leftovers: Vec<String> = list(&dir)
            .into_iter()
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{id}: {leftovers:?}");
        assert_eq!(
            read(dir.join("trace.csv")),
            read(t.join("ref/cells").join(id).join("trace.csv")),
            "{id}"
        );
    }
}

#[test]
fn another_experiment_on_a_busy_out_is_refused_and_the_same_one_shares_it() {
    let t = TempDir::new("cluster-busy");
    t.write(
        "slow.toml",
        &common::slow_grid("[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]", "[0.1, 0.3, 0.5, 0.7]"),
    );
    let run = [
        "run",
        "slow.toml",
        "--out",
        "out",
        "--no-plot",
        "--jobs",
        "1",
    ];
    let mut first = start(t.path(), &run, &[]);
    let holders = t.join("out/holders");
    wait_for(&mut first, "the run's hold on out/", || {
        names(&holders).len() == 1
    });

    // Another experiment (an override changes the cells): refused, naming
    // the process that holds the directory.
    let other = probstab(
        t.path(),
        &[
            "run",
            "slow.toml",
            "--out",
            "out",
            "--no-plot",
            "sim.steps=5000",
        ],
    );
    assert_eq!(other.code, Some(1), "{}", other.stderr);
    assert!(
        other.stderr.contains("in use by another experiment")
            && other.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        other.stderr
    );
    // `probstab slurm` of another experiment there is refused too (its
    // experiment.toml would replace the live run's).
    let slurm = probstab(
        t.path(),
        &["slurm", "slow.toml", "--out", "out", "sim.steps=5000"],
    );
    assert_eq!(slurm.code, Some(1), "{}", slurm.stderr);
    assert!(
        slurm.stderr.contains("in use by another experiment"),
        "{}",
        slurm.stderr
    );
    // The same experiment shares it, however its file is laid out: here
    // with its tables in another order. The runs split the cells.
    let text = read(t.join("slow.toml"));
    let (head, grid) = text.split_once("[grid]").unwrap();
    let (top, tables) = head.split_once("[saddle]").unwrap();
    let (saddle, sim) = tables.split_once("[sim]").unwrap();
    t.write(
        "reordered.toml",
        &format!("{top}[sim]{sim}[saddle]{saddle}[grid]{grid}"),
    );
    let same = probstab(
        t.path(),
        &[
            "run",
            "reordered.toml",
            "--out",
            "out",
            "--no-plot",
            "--jobs",
            "1",
        ],
    )
    .ok();
    assert!(!same.stdout.contains("24 cells: 0 run"), "{}", same.stdout);
    let (code, stderr) = finish(first);
    assert_eq!(code, Some(0), "the first run's stderr: {stderr}");
    assert!(!read(t.join("out/runs.jsonl")).contains("\"event\":\"stop\""));
    let again = probstab(t.path(), &run).ok();
    assert!(again.stdout.contains("24 cells: 0 run"), "{}", again.stdout);
    assert!(
        names(&holders).is_empty(),
        "runs remove their hold: {:?}",
        names(&holders)
    );
    // Once the first is done, the other experiment may go elsewhere and
    // is still refused here only by its conflicting complete cells.
    let later = probstab(
        t.path(),
        &[
            "run",
            "slow.toml",
            "--out",
            "out",
            "--no-plot",
            "sim.steps=5000",
        ],
    );
    assert!(
        later.stderr.contains("computed with a different config"),
        "{}",
        later.stderr
    );
}

#[test]
fn a_two_layer_cell_too_wide_for_the_memory_fails_alone_naming_the_key() {
    let t = TempDir::new("cluster-memory");
    t.write(
        "wide.toml",
        "name = \"wide\"\nkind = \"two_layer\"\n\n[model]\ndim = 8\nhidden = 8\n\n[data]\nmu = 0.5\n\n[train]\nlr = 0.1\nsteps = 50\n\n[grid]\n\"model.hidden\" = [8, 10000000]\n",
    );
    // Both packed and not: the pack of one wide cell is checked too.
    for pack in [&[][..], &["--no-pack"][..]] {
        let out = format!("out{}", pack.len());
        let mut args = vec!["run", "wide.toml", "--out", &out, "--no-plot"];
        args.extend_from_slice(pack);
        let run = probstab(t.path(), &args);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        let summary = Csv::read(t.join(&out).join("summary.csv"));
        assert_eq!(summary.values("status"), ["ok", "failed"], "{pack:?}");
        let error = summary.get(1, "error");
        assert!(
            error.contains("model.hidden = 10000000") && error.contains("GB"),
            "{error}"
        );
    }
}

#[test]
fn a_stop_while_cells_that_cannot_checkpoint_run_leaves_no_hold_and_a_rerun_finishes() {
    let t = TempDir::new("cluster-pack");
    t.write("mixed.toml", MIXED);
    // Long two_layer packs: they do not answer the stop, so the process
    // leaves them after a short wind-up.
    let run = [
        "run",
        "mixed.toml",
        "--out",
        "out",
        "--no-plot",
        "train.steps=400000",
    ];
    let mut child = start(t.path(), &run, &[]);
    let out = t.join("out");
    wait_for(&mut child, "a trace row", || {
        names(&out.join("cells"))
            .iter()
            .any(|id| rows(&out.join("cells").join(id).join("trace.csv")) > 1)
    });
    let signalled = Instant::now();
    signal(&child, libc::SIGTERM);
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(75), "{stderr}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
    assert!(
        names(&out.join("holders")).is_empty(),
        "the hold is released: {:?}",
        names(&out.join("holders"))
    );
    for id in names(&out.join("cells")) {
        assert!(
            !out.join("cells").join(&id).join("claim.json").exists(),
            "{id}: claim left"
        );
    }
    assert!(read(out.join("runs.jsonl")).contains("cells still running were left unfinished"));
    // Another experiment may use the directory now.
    let other = probstab(
        t.path(),
        &[
            "run",
            "mixed.toml",
            "--out",
            "out",
            "--no-plot",
            "train.steps=100",
            "--cells",
            "0..1",
        ],
    );
    assert_eq!(other.code, Some(0), "{}", other.stderr);
}

#[test]
fn a_stop_with_stdout_and_stderr_full_still_requeues() {
    let t = with_cell("cluster-full");
    let (path, calls) = fake_scontrol(&t);
    let run = [
        "run",
        "cell.toml",
        "--out",
        "out",
        "--no-plot",
        "--resume",
        "--requeue",
        "3",
    ];
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let mut child = command(t.path(), &run)
        .env("PATH", &path)
        .env("SLURM_JOB_ID", "88")
        .stdout(full())
        .stderr(full())
        .spawn()
        .unwrap();
    let out = t.join("out");
    wait_for(&mut child, "20 trace rows", || {
        names(&out.join("cells"))
            .first()
            .is_some_and(|id| rows(&out.join("cells").join(id).join("trace.csv")) > 20)
    });
    signal(&child, libc::SIGUSR1);
    let (code, _) = finish(child);
    assert_eq!(code, Some(75));
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap_or_default(),
        "requeue 88\n"
    );
}
