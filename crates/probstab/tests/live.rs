//! Watching a grid while it runs (issue: live traces and provenance): a
//! training cell's trace.csv grows as it trains, `status` shows the running
//! cell's heartbeat and, once its process is killed, calls it stale; the
//! killed cell's partial trace never makes it complete, and `--resume`
//! continues the trace without repeated or missing steps, ending with the
//! numbers of an uninterrupted run. Every record says which build, command
//! and host made it.

mod common;

use common::{Csv, TempDir, image_cell, list, only_cell, probstab, read, spawn, wait_for};
use std::path::Path;
use std::time::{Duration, Instant};

/// The watched cell, checkpointed every 40 steps: 1,500 steps, so that
/// the kills land mid-run (the first heartbeat comes after 2 s).
fn with_cell(label: &str) -> TempDir {
    image_cell(label, "live", 1500, "checkpoint_every = 40\n")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Every line of the live trace is the line of the finished trace at the
/// same place: no step twice, none missing, the same numbers.
fn assert_prefix(live: &[String], full: &[String], when: &str) {
    assert!(live.len() >= 2, "{when}: the live trace has no rows");
    assert!(
        live.len() <= full.len(),
        "{when}: longer than the whole trace"
    );
    for (i, (a, b)) in live.iter().zip(full).enumerate() {
        // A line being written when the process died may be cut short.
        if i == live.len() - 1 && b.starts_with(a.as_str()) {
            continue;
        }
        assert_eq!(a, b, "{when}: line {} of the live trace", i + 1);
    }
}

#[test]
fn a_killed_cell_keeps_its_live_trace_shows_stale_and_resumes_it_without_gaps() {
    let t = with_cell("live-kill");
    // The uninterrupted run, for reference.
    probstab(t.path(), &["run", "cell.toml", "--out", "ref", "--no-plot"]).ok();
    let reference = lines(&only_cell(&t.join("ref")).join("trace.csv"));
    assert!(reference.len() > 250, "{} trace lines", reference.len());

    let run = [
        "run",
        "cell.toml",
        "--out",
        "out",
        "--no-plot",
        "--jobs",
        "1",
    ];
    let out = t.join("out");
    let mut child = spawn(t.path(), &run);
    let trace = || {
        list(out.join("cells"))
            .first()
            .map(|id| out.join("cells").join(id).join("trace.csv"))
    };
    // The trace grows while the cell runs, and status shows its heartbeat.
    wait_for(&mut child, "30 live trace rows", || {
        out.join("cells").is_dir() && trace().is_some_and(|p| lines(&p).len() > 30)
    });
    // The heartbeat is rewritten every 2 s: within a few, it has the step.
    let mut status = probstab(t.path(), &["status", "out"]);
    let asked = Instant::now();
    while !status.stdout.contains(" of 1500, loss ") && asked.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        status = probstab(t.path(), &["status", "out"]);
    }
    assert_eq!(status.code, Some(1), "{}", status.stdout);
    assert!(
        status.stdout.contains("running cells:\n") && status.stdout.contains(" of 1500, loss "),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("steps/s, ETA "), "{}", status.stdout);
    let dir = only_cell(&out);
    wait_for(&mut child, "a checkpoint and 120 rows", || {
        dir.join("checkpoint").is_dir() && lines(&dir.join("trace.csv")).len() > 120
    });
    child.kill().unwrap();
    child.wait().unwrap();

    let killed = lines(&dir.join("trace.csv"));
    assert!(
        !dir.join("metrics.json").exists(),
        "a killed cell has no record"
    );
    assert_prefix(&killed, &reference, "after the kill");
    let status = probstab(t.path(), &["status", "out"]);
    assert_eq!(status.code, Some(1), "incomplete: {}", status.stdout);
    assert!(
        status.stdout.contains("0 of 1 cells complete")
            && status.stdout.contains("    stale   1\n")
            && status.stdout.contains("stale cells (their process is gone"),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains("running cells:"),
        "{}",
        status.stdout
    );

    // Resumed from its checkpoint, the trace keeps the rows before it and
    // grows from there; killed again, it is still the reference's prefix.
    let resume = ["run", "cell.toml", "--out", "out", "--no-plot", "--resume"];
    let mut child = spawn(t.path(), &resume);
    let past = killed.len() + 40;
    wait_for(
        &mut child,
        "the resumed trace to pass the killed one",
        || lines(&dir.join("trace.csv")).len() > past,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_prefix(
        &lines(&dir.join("trace.csv")),
        &reference,
        "after the resume",
    );

    probstab(t.path(), &resume).ok();
    assert_eq!(
        read(dir.join("trace.csv")),
        read(only_cell(&t.join("ref")).join("trace.csv")),
        "the finished trace is the uninterrupted one"
    );
    let (a, b) = (
        Csv::read(t.join("ref/summary.csv")),
        Csv::read(out.join("summary.csv")),
    );
    for column in ["test_accuracy", "test_loss", "rank", "m_l", "sparsity"] {
        assert_eq!(a.get(0, column), b.get(0, column), "{column}");
    }
    assert!(!b.get(0, "resumed_at").is_empty(), "it did resume");
    let status = probstab(t.path(), &["status", "out"]).ok();
    assert!(
        status.stdout.contains("1 of 1 cells complete") && !status.stdout.contains("running"),
        "{}",
        status.stdout
    );

    // Provenance: in the record, in runs.jsonl, and not in summary.csv.
    let record: serde_json::Value = serde_json::from_str(&read(dir.join("metrics.json"))).unwrap();
    let p = &record["provenance"];
    assert_eq!(p["build"]["version"], env!("CARGO_PKG_VERSION"));
    // The commit the binary was built from: HEAD of this checkout (cargo
    // rebuilds probstab when HEAD moves), or "unknown" outside git. A build
    // directory kept from another checkout once made it "unknown" here.
    let commit = p["build"]["commit"].as_str().unwrap();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(
        commit,
        head.as_deref().unwrap_or("unknown"),
        "the build's commit"
    );
    let command: Vec<&str> = p["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(command.ends_with(&resume), "{command:?}");
    assert_eq!(p["backend"], "cpu");
    assert!(!p["host"].as_str().unwrap().is_empty());
    assert!(p["started"].as_str().unwrap() <= p["finished"].as_str().unwrap());
    assert!(record["started_at"].as_f64().unwrap() <= record["finished_at"].as_f64().unwrap());
    let runs = read(out.join("runs.jsonl"));
    let events: Vec<serde_json::Value> = runs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| e["event"] == "start").count(),
        3,
        "{runs}"
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "end").count(),
        1,
        "two were killed: {runs}"
    );
    let summary = read(out.join("summary.csv"));
    assert!(
        !summary.contains(commit) && !summary.contains("provenance"),
        "{summary}"
    );
}

#[test]
fn status_counts_the_builds_behind_the_cells() {
    let t = TempDir::new("live-builds");
    t.write("g.toml", common::SADDLE_GRID);
    probstab(t.path(), &["run", "g.toml", "--out", "out", "--no-plot"]).ok();
    let status = probstab(t.path(), &["status", "out"]).ok();
    assert!(
        status.stdout.contains("\nbuilt by probstab "),
        "{}",
        status.stdout
    );
    let before = read(t.join("out/summary.csv"));
    // One cell as if an older build had computed it.
    let cells = list(t.join("out/cells"));
    let path = t.join("out/cells").join(&cells[0]).join("metrics.json");
    let mut record: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    record["provenance"]["build"]["commit"] = "0123456789abcdef0123456789abcdef01234567".into();
    std::fs::write(&path, serde_json::to_string(&record).unwrap()).unwrap();
    let status = probstab(t.path(), &["status", "out"]).ok();
    assert!(
        status.stdout.contains("\ncells from 2 builds:\n")
            && status.stdout.contains("\n       1  probstab ")
            && status.stdout.contains("(0123456789ab"),
        "{}",
        status.stdout
    );
    probstab(t.path(), &["collect", "out"]).ok();
    assert_eq!(
        read(t.join("out/summary.csv")),
        before,
        "provenance stays out of summary.csv"
    );
}
