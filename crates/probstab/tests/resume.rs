//! A grid killed with SIGKILL and rerun does the rest and nothing twice
//! (DESIGN.md §5); a finished grid rerun does nothing; a rerun with a changed
//! config into the same directory is refused instead of mixing results.

mod common;

use common::{Csv, Json, SADDLE_GRID, TempDir, list, probstab, read, spawn, walk};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// 8 × 5 = 40 Monte Carlo cells of roughly 0.1 s each.
fn slow_grid() -> String {
    common::slow_grid(
        "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]",
        "[0.1, 0.3, 0.5, 0.7, 0.9]",
    )
}
const SLOW_CELLS: usize = 40;

/// metrics.json bytes of every complete cell, by cell id.
fn complete_cells(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let cells = out.join("cells");
    if !cells.is_dir() {
        return BTreeMap::new();
    }
    list(&cells)
        .into_iter()
        .filter_map(|id| {
            std::fs::read(cells.join(&id).join("metrics.json"))
                .ok()
                .map(|bytes| (id, bytes))
        })
        .collect()
}

fn count_complete(out: &Path) -> usize {
    let cells = out.join("cells");
    std::fs::read_dir(cells)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join("metrics.json").is_file())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn grid_killed_with_sigkill_resumes_without_rerunning_complete_cells() {
    let t = TempDir::new("sigkill");
    t.write("slow.toml", &slow_grid());
    let out = t.join("out");
    let args = [
        "run",
        "slow.toml",
        "--out",
        "out",
        "--jobs",
        "2",
        "--no-plot",
    ];

    // Kill as soon as a few cells are complete.
    let mut child = spawn(t.path(), &args);
    let started = Instant::now();
    loop {
        let done = count_complete(&out);
        if done >= 3 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the grid ended ({status}) before a kill; {done} cells complete");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no cell finished within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL the run");
    child.wait().unwrap();

    let before = complete_cells(&out);
    let started_cells = list(out.join("cells")).len();
    eprintln!(
        "killed after {:?}: {} cells complete, {started_cells} started",
        started.elapsed(),
        before.len()
    );
    assert!(
        !before.is_empty() && before.len() < SLOW_CELLS,
        "kill came too late: {} of {SLOW_CELLS} cells complete; make the cells slower",
        before.len()
    );
    for (id, bytes) in &before {
        let text = String::from_utf8(bytes.clone()).unwrap();
        Json::parse(&text).unwrap_or_else(|e| {
            panic!("{id}: metrics.json left by the killed run does not parse ({e}):\n{text}")
        });
    }

    let rerun = probstab(t.path(), &args).ok();
    let (k, n) = (before.len(), SLOW_CELLS);
    let expected = format!(
        "{n} cells: {} run ({} ok, 0 diverged, 0 failed), {k} already complete",
        n - k,
        n - k
    );
    assert!(
        rerun.stdout.contains(&expected),
        "rerun stdout should say `{expected}`:\n{}",
        rerun.stdout
    );

    let after = complete_cells(&out);
    assert_eq!(after.len(), n, "every cell is complete after the rerun");
    assert_eq!(
        list(out.join("cells")).len(),
        n,
        "no extra cell directories"
    );
    for (id, bytes) in &before {
        assert_eq!(
            &after[id], bytes,
            "{id} was complete before the kill but was run again"
        );
    }
    for (id, bytes) in &after {
        let record = Json::parse(std::str::from_utf8(bytes).unwrap())
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(record.get("id").str(), id);
        assert_eq!(record.get("status").str(), "ok");
        assert_eq!(
            list(out.join("cells").join(id))
                .iter()
                .filter(|f| f.starts_with("metrics"))
                .count(),
            1,
            "{id}: exactly one metrics file"
        );
    }
    let leftovers: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
    assert_eq!(Csv::read(out.join("summary.csv")).rows.len(), n);
}

#[test]
fn rerunning_a_finished_grid_runs_nothing() {
    let t = TempDir::new("rerun-done");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let before = complete_cells(&t.join("out"));
    let summary = read(t.join("out/summary.csv"));
    let rerun = probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    assert!(
        rerun
            .stdout
            .contains("6 cells: 0 run (0 ok, 0 diverged, 0 failed), 6 already complete"),
        "{}",
        rerun.stdout
    );
    assert_eq!(
        complete_cells(&t.join("out")),
        before,
        "a finished cell was rewritten"
    );
    assert_eq!(read(t.join("out/summary.csv")), summary);
}

#[test]
fn a_cell_whose_metrics_json_was_deleted_is_recomputed_alone() {
    let t = TempDir::new("rerun-missing");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let out = t.join("out");
    let victim = "saddle.lr=1__saddle.mu=0.3";
    let original = Json::read(out.join("cells").join(victim).join("metrics.json"));
    std::fs::remove_file(out.join("cells").join(victim).join("metrics.json")).unwrap();
    let rerun = probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    assert!(
        rerun
            .stdout
            .contains("6 cells: 1 run (1 ok, 0 diverged, 0 failed), 5 already complete"),
        "{}",
        rerun.stdout
    );
    let again = Json::read(out.join("cells").join(victim).join("metrics.json"));
    assert_eq!(
        again.get("metrics"),
        original.get("metrics"),
        "the recomputed cell has the same metrics"
    );
}

const SIM_GRID: &str = r#"name = "sim_small"
kind = "saddle_sim"

[saddle]
mu = 0.5
lr = 0.1

[sim]
trajectories = 20
steps = 100
trace_points = 5
trace_samples = 1

[grid]
"saddle.lr" = [0.2, 0.9]
"#;

#[test]
fn rerun_with_a_changed_non_axis_key_into_the_same_out_is_refused() {
    let t = TempDir::new("conflict");
    t.write("sim.toml", SIM_GRID);
    probstab(t.path(), &["run", "sim.toml", "--out", "out", "--no-plot"]).ok();
    let before = complete_cells(&t.join("out"));
    let summary = read(t.join("out/summary.csv"));
    let refused = probstab(
        t.path(),
        &[
            "run",
            "sim.toml",
            "sim.steps=200",
            "--out",
            "out",
            "--no-plot",
        ],
    )
    .failed();
    assert!(
        refused.stderr.contains("saddle.lr=0.2") || refused.stderr.contains("saddle.lr=0.9"),
        "the refusal names a cell:\n{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("steps"),
        "the refusal says what differs:\n{}",
        refused.stderr
    );
    assert_eq!(
        complete_cells(&t.join("out")),
        before,
        "no cell was rewritten"
    );
    assert_eq!(read(t.join("out/summary.csv")), summary);
}

#[test]
fn a_refused_rerun_leaves_the_saved_experiment_untouched() {
    let t = TempDir::new("conflict-experiment");
    t.write("sim.toml", SIM_GRID);
    probstab(t.path(), &["run", "sim.toml", "--out", "out", "--no-plot"]).ok();
    let experiment = read(t.join("out/experiment.toml"));
    probstab(
        t.path(),
        &[
            "run",
            "sim.toml",
            "sim.steps=200",
            "--out",
            "out",
            "--no-plot",
        ],
    )
    .failed();
    assert_eq!(
        read(t.join("out/experiment.toml")),
        experiment,
        "experiment.toml now describes a run that was refused"
    );
}

#[test]
fn extending_an_axis_by_override_reuses_the_complete_cells() {
    let t = TempDir::new("extend");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let before = complete_cells(&t.join("out"));
    let rerun = probstab(
        t.path(),
        &[
            "run",
            "grid.toml",
            "grid.saddle.lr=[0.5, 1.0, 2.0, 3.0]",
            "--out",
            "out",
            "--no-plot",
        ],
    )
    .ok();
    assert!(
        rerun
            .stdout
            .contains("8 cells: 2 run (2 ok, 0 diverged, 0 failed), 6 already complete"),
        "{}",
        rerun.stdout
    );
    let after = complete_cells(&t.join("out"));
    assert_eq!(
        after.len(),
        8,
        "cells: {:?}",
        after.keys().collect::<Vec<_>>()
    );
    for (id, bytes) in &before {
        assert_eq!(after.get(id), Some(bytes), "{id} was recomputed or lost");
    }
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(
        &csv.header[..2],
        ["saddle.lr", "saddle.mu"],
        "the overridden axis keeps its place"
    );
    assert_eq!(csv.rows.len(), 8);
}

#[test]
fn rerun_with_a_pinned_axis_into_the_same_out_does_not_mix_grids_in_the_summary() {
    let t = TempDir::new("pin-mix");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let summary = read(t.join("out/summary.csv"));
    // The same directory, now a 1-D grid over μ at λ = 0.7: its cells are not
    // those of the 3 × 2 grid already there.
    let rerun = probstab(
        t.path(),
        &[
            "run",
            "grid.toml",
            "saddle.lr=0.7",
            "--out",
            "out",
            "--no-plot",
        ],
    );
    common::assert_no_panic(&rerun);
    if rerun.code == Some(0) {
        let csv = Csv::read(t.join("out/summary.csv"));
        assert_eq!(
            csv.rows.len(),
            2,
            "summary.csv mixes the old 3 × 2 grid with the new 2 cells:\n{}",
            read(t.join("out/summary.csv"))
        );
    } else {
        assert_eq!(
            read(t.join("out/summary.csv")),
            summary,
            "a refused run changed summary.csv"
        );
    }
}
