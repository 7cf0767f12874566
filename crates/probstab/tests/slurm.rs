//! A grid as a Slurm job array without a cluster: `probstab slurm` writes the
//! sbatch script, its tasks are run here with bash (SLURM_ARRAY_TASK_ID set,
//! as Slurm would), and the merged summary equals a local run's byte for
//! byte. `--submit` is checked against a stand-in `sbatch`; `--cells` slices,
//! and a slice stopped by a real SIGTERM (what Slurm sends at a time limit).
//! `scripts/slurm-test.sh` does the same on a real one-node Slurm cluster.

mod common;

use common::{Json, TempDir, command, list, probstab, read};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// 4 × 5 = 20 saddle-theory cells, milliseconds each.
const THEORY: &str = r#"name = "theory"
kind = "saddle_theory"

[saddle]
chi = "teacher"
noise_std = 2.0
mu = 0.5
lr = 0.1

[grid]
"saddle.lr" = [0.5, 1.0, 2.0, 3.0]
"saddle.mu" = { linspace = [0.0, 1.0, 5] }
"#;

/// 6 × 4 = 24 Monte Carlo cells of roughly 0.1 s each.
fn slow() -> String {
    common::slow_grid("[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]", "[0.1, 0.3, 0.5, 0.7]")
}

fn complete(out: &Path) -> usize {
    std::fs::read_dir(out.join("cells"))
        .map(|e| {
            e.flatten()
                .filter(|e| e.path().join("metrics.json").is_file())
                .count()
        })
        .unwrap_or(0)
}

/// Run task `k` of a written sbatch script the way Slurm would.
fn run_task(t: &TempDir, script: &Path, k: usize) -> String {
    let output = std::process::Command::new("bash")
        .arg(script)
        .env("SLURM_ARRAY_TASK_ID", k.to_string())
        .current_dir(t.path())
        .output()
        .expect("start bash");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "task {k} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn array_tasks_into_one_directory_merge_to_the_summary_of_a_local_run() {
    let t = TempDir::new("slurm-array");
    t.write("theory.toml", THEORY);
    let written = probstab(
        t.path(),
        &[
            "slurm",
            "theory.toml",
            "saddle.noise_std=1.5",
            "--out",
            "array",
            "--cells-per-task",
            "6",
            "--max-parallel",
            "2",
        ],
    )
    .ok();
    assert!(
        written
            .stdout
            .contains("20 cells (0 already complete), 4 tasks of up to 6 cells"),
        "{}",
        written.stdout
    );
    let script = t.join("array/slurm/theory.sbatch");
    let text = read(&script);
    assert!(text.contains("#SBATCH --array=0-3%2\n"), "{text}");
    assert!(
        written
            .stdout
            .contains(&format!("submit it with: sbatch {}", script.display())),
        "{}",
        written.stdout
    );

    // The tasks read the experiment as resolved at submission: editing the
    // config afterwards changes nothing.
    t.write(
        "theory.toml",
        &THEORY.replace("[0.5, 1.0, 2.0, 3.0]", "[0.7]"),
    );
    let tasks: Vec<String> = (0..4).map(|k| run_task(&t, &script, k)).collect();
    assert!(
        tasks[3]
            .contains("cells 18..20 of 20: 2 run (2 ok, 0 diverged, 0 failed), 0 already complete"),
        "{}",
        tasks[3]
    );
    assert!(
        !t.join("array/summary.csv").exists(),
        "a sliced run wrote summary.csv"
    );
    assert!(!t.join("array/plots").exists(), "a sliced run drew plots");

    // A requeued task skips its complete cells.
    assert!(
        run_task(&t, &script, 1)
            .contains("cells 6..12 of 20: 0 run (0 ok, 0 diverged, 0 failed), 6 already complete")
    );

    let status = probstab(t.path(), &["status", "array"]).ok();
    assert!(
        status
            .stdout
            .starts_with("array: 20 of 20 cells complete\n"),
        "{}",
        status.stdout
    );
    probstab(t.path(), &["collect", "array"]).ok();
    t.write("theory.toml", THEORY);
    probstab(
        t.path(),
        &[
            "run",
            "theory.toml",
            "saddle.noise_std=1.5",
            "--out",
            "local",
        ],
    )
    .ok();
    assert_eq!(
        read(t.join("array/summary.csv")),
        read(t.join("local/summary.csv"))
    );
}

#[test]
fn submit_passes_the_script_to_sbatch_and_prints_the_job_id() {
    let t = TempDir::new("slurm-submit");
    t.write("theory.toml", THEORY);
    let bin = t.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("sbatch"),
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"${0%/*}/args\"\necho '4242;cluster'\n",
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("sbatch"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let args = [
        "slurm",
        "theory.toml",
        "--out",
        "r",
        "--partition",
        "gpu",
        "--time",
        "1:00:00",
        "--gpus",
        "1",
        "--sbatch",
        "--account=foo",
        "--sbatch=--mem=4G",
        "--submit",
    ];
    let run = command(t.path(), &args).env("PATH", &bin).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("submitted job array 4242; follow it with: probstab status r"),
        "{stdout}"
    );
    let script = t.join("r/slurm/theory.sbatch");
    assert_eq!(
        read(bin.join("args")),
        format!("--parsable\n{}\n", script.display())
    );
    let text = read(&script);
    for line in [
        "--array=0-0",
        "--partition=gpu",
        "--time=1:00:00",
        "--gpus=1",
        "--account=foo",
        "--mem=4G",
    ] {
        assert!(
            text.contains(&format!("#SBATCH {line}\n")),
            "{line} missing:\n{text}"
        );
    }

    // sbatch refusing the job is an error with its message.
    std::fs::write(
        bin.join("sbatch"),
        "#!/bin/sh\necho 'sbatch: error: invalid partition specified: gpu' >&2\nexit 1\n",
    )
    .unwrap();
    let refused = command(t.path(), &args).env("PATH", &bin).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid partition specified: gpu"),
        "{stderr}"
    );

    // No sbatch at all: say so, and where the script is.
    std::fs::remove_file(bin.join("sbatch")).unwrap();
    let missing = command(t.path(), &args).env("PATH", &bin).output().unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sbatch not found") && stderr.contains("theory.sbatch"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_slurm_options_and_slices_are_clear_errors() {
    let t = TempDir::new("slurm-errors");
    t.write("theory.toml", THEORY);
    for (args, needle) in [
        (
            &["slurm", "theory.toml", "--cells-per-task", "0"][..],
            "--cells-per-task must be at least 1",
        ),
        (
            &["slurm", "theory.toml", "--sbatch", "account=foo"][..],
            "expected one sbatch option",
        ),
        (
            &["slurm", "theory.toml", "--out", "my results"][..],
            "without spaces",
        ),
        (
            &["run", "theory.toml", "--cells", "15..25"][..],
            "--cells 15..25: the grid has only 20 cells (0..20)",
        ),
        (
            &["run", "theory.toml", "--cells", "3..1"][..],
            "the slice is empty",
        ),
        (
            &["run", "theory.toml", "--cells", "1-3"][..],
            "expected i..j",
        ),
    ] {
        let run = probstab(t.path(), args).failed();
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn inclusive_and_open_slices_cover_the_named_cells() {
    let t = TempDir::new("slurm-slices");
    t.write("theory.toml", THEORY);
    let run = probstab(
        t.path(),
        &["run", "theory.toml", "--out", "r", "--cells", "2..=4"],
    )
    .ok();
    assert!(
        run.stdout.starts_with("cells 2..5 of 20: 3 run"),
        "{}",
        run.stdout
    );
    let run = probstab(
        t.path(),
        &["run", "theory.toml", "--out", "r", "--cells", "17.."],
    )
    .ok();
    assert!(
        run.stdout.starts_with("cells 17..20 of 20: 3 run"),
        "{}",
        run.stdout
    );
    // Cells are in grid order, the last axis fastest: cell 2 is lr = 0.5, μ = 0.5.
    assert!(list(t.join("r/cells")).contains(&"saddle.lr=0.5__saddle.mu=0.5".to_string()));
    // Another slice with another config into the same directory is refused,
    // though none of its own cells is complete: results never mix.
    let run = probstab(
        t.path(),
        &[
            "run",
            "theory.toml",
            "saddle.noise_std=1.0",
            "--out",
            "r",
            "--cells",
            "8..10",
        ],
    )
    .failed();
    assert!(run.stderr.contains("different config"), "{}", run.stderr);
    assert!(!t.join("r/cells/saddle.lr=1.0__saddle.mu=0.75").exists());
}

#[test]
fn sigterm_stops_a_slice_promptly_and_a_rerun_finishes_it() {
    let t = TempDir::new("slurm-sigterm");
    t.write("slow.toml", &slow());
    let out = t.join("out");
    let slice = [
        "run",
        "slow.toml",
        "--out",
        "out",
        "--jobs",
        "2",
        "--cells",
        "2..22",
    ];
    let mut child = command(t.path(), &slice)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while complete(&out) < 3 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the slice ended ({status}) before SIGTERM; {} cells complete",
                complete(&out)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no cell finished within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "the run ignored SIGTERM for 5 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // Stopped by the signal (crate::stop): the saddle_sim cells running
    // are left to rerun, and the run says so with status 75.
    assert_eq!(status.code(), Some(75), "{status}");
    let done = complete(&out);
    assert!(done < 20, "SIGTERM came too late: the slice had finished");

    // No half-written cell: every metrics.json there is whole.
    for id in list(out.join("cells")) {
        if let Ok(text) = std::fs::read_to_string(out.join("cells").join(&id).join("metrics.json"))
        {
            Json::parse(&text).unwrap_or_else(|e| {
                panic!("{id}: metrics.json left by SIGTERM does not parse ({e})")
            });
        }
    }
    let rerun = probstab(t.path(), &slice).ok();
    assert!(
        rerun
            .stdout
            .starts_with(&format!("cells 2..22 of 24: {} run", 20 - done)),
        "{}",
        rerun.stdout
    );

    let status = probstab(t.path(), &["status", "out"]);
    assert_eq!(status.code, Some(1), "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains("  missing   4\nmissing cells (--cells 0..2, 22..24):\n"),
        "{}",
        status.stdout
    );
    probstab(
        t.path(),
        &["run", "slow.toml", "--out", "out", "--cells", "0..2"],
    )
    .ok();
    probstab(
        t.path(),
        &["run", "slow.toml", "--out", "out", "--cells", "22.."],
    )
    .ok();
    probstab(t.path(), &["status", "out"]).ok();
    probstab(t.path(), &["collect", "out"]).ok();
    probstab(
        t.path(),
        &["run", "slow.toml", "--out", "local", "--no-plot"],
    )
    .ok();
    assert_eq!(
        read(out.join("summary.csv")),
        read(t.join("local/summary.csv"))
    );
}
