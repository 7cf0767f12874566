//! `probstab status DIR`: complete (ok, diverged), failed and missing cells of
//! the grid saved in DIR/experiment.toml, with the ids of the missing ones.

mod common;

use common::{TempDir, probstab, read};

/// 3 × 10 = 30 saddle-theory cells.
const GRID: &str = r#"name = "grid"
kind = "saddle_theory"

[saddle]
chi = "teacher"
mu = 0.5
lr = 0.1

[grid]
"saddle.lr" = [0.5, 1.0, 2.0]
"saddle.mu" = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
"#;

#[test]
fn status_counts_ok_failed_and_missing_cells_and_names_the_missing_ones() {
    let t = TempDir::new("status");
    t.write("grid.toml", GRID);
    probstab(
        t.path(),
        &["run", "grid.toml", "--out", "r", "--cells", "0..6"],
    )
    .ok();

    // Make one complete cell a failed one, as a crashed cell would leave it.
    let failed = t.join("r/cells/saddle.lr=0.5__saddle.mu=0.1/metrics.json");
    let text = read(&failed).replace(
        "\"status\": \"ok\"",
        "\"status\": \"failed\",\n  \"error\": \"out of memory\"",
    );
    std::fs::write(&failed, text).unwrap();
    std::fs::create_dir_all(t.join("r/cells/saddle.lr=9__saddle.mu=9")).unwrap();

    let status = probstab(t.path(), &["status", "r"]);
    assert_eq!(
        status.code,
        Some(1),
        "incomplete grid: exit 1\n{}",
        status.stdout
    );
    let out = &status.stdout;
    assert!(out.starts_with("r: 5 of 30 cells complete\n  ok        5\n  diverged  0\n  failed    1\n  missing   24\n"), "{out}");
    assert!(out.contains("failed cells (--cells 1..2; a rerun retries them):\n  saddle.lr=0.5__saddle.mu=0.1: out of memory\n"), "{out}");
    assert!(
        out.contains("missing cells (--cells 6..30):\n  saddle.lr=0.5__saddle.mu=0.6\n"),
        "{out}"
    );
    assert!(
        out.contains("... and 4 more (--all lists every one)"),
        "{out}"
    );
    assert!(
        out.contains("1 cell directories are not in this grid"),
        "{out}"
    );
    let all = probstab(t.path(), &["status", "r", "--all"]);
    assert!(
        all.stdout.contains("  saddle.lr=2__saddle.mu=0.9\n"),
        "{}",
        all.stdout
    );

    // A rerun retries the failed cell and does the rest: status is then clean.
    probstab(t.path(), &["run", "grid.toml", "--out", "r"]).ok();
    let done = probstab(t.path(), &["status", "r"]).ok();
    assert!(
        done.stdout.starts_with("r: 30 of 30 cells complete\n"),
        "{}",
        done.stdout
    );
}

#[test]
fn status_of_a_directory_without_an_experiment_is_a_clear_error() {
    let t = TempDir::new("status-none");
    std::fs::create_dir(t.join("empty")).unwrap();
    let run = probstab(t.path(), &["status", "empty"]).failed();
    assert!(
        run.stderr
            .contains("empty is not a results directory: it has no experiment.toml"),
        "{}",
        run.stderr
    );
    let run = probstab(t.path(), &["status", "nowhere"]).failed();
    assert!(run.stderr.contains("no experiment.toml"), "{}", run.stderr);
}
