//! `probstab run` on grids: cell directories named from axis values, what each
//! cell stores, summary.csv, overrides, --out, the embedded default, `collect`
//! and determinism across --jobs.

mod common;

use common::{Csv, Json, SADDLE_GRID, TempDir, list, probstab, read};

fn cell_names(out: &std::path::Path) -> Vec<String> {
    list(out.join("cells"))
}

#[test]
fn three_by_two_grid_gives_six_named_cells_each_with_config_and_metrics() {
    let t = TempDir::new("grid-3x2");
    t.write("grid.toml", SADDLE_GRID);
    let run = probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let mut expected: Vec<String> = ["0.5", "1", "2"]
        .iter()
        .flat_map(|lr| ["0.1", "0.3"].map(|mu| format!("saddle.lr={lr}__saddle.mu={mu}")))
        .collect();
    expected.sort();
    assert_eq!(cell_names(&t.join("out")), expected);
    for cell in &expected {
        let dir = t.join("out/cells").join(cell);
        let config = read(dir.join("config.toml"));
        let record = Json::read(dir.join("metrics.json"));
        assert_eq!(record.get("id").str(), cell);
        assert_eq!(record.get("status").str(), "ok");
        // The stored config is the cell's resolved config, axis values set.
        let lr = record.get("axes").get("saddle.lr").f64();
        let mu = record.get("axes").get("saddle.mu").f64();
        assert!(
            config.contains(&format!("lr = {lr:?}")),
            "{cell}: config.toml lacks lr = {lr:?}:\n{config}"
        );
        assert!(
            config.contains(&format!("mu = {mu:?}")),
            "{cell}: config.toml lacks mu = {mu:?}:\n{config}"
        );
        assert!(
            !config.contains("[grid]"),
            "a cell's config has no grid:\n{config}"
        );
    }
    assert!(
        run.stdout
            .contains("6 cells: 6 run (6 ok, 0 diverged, 0 failed), 0 already complete"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("summary.csv"), "{}", run.stdout);
}

#[test]
fn summary_has_axis_columns_then_metrics_then_status_and_error_one_row_per_cell() {
    let t = TempDir::new("summary");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(
        csv.header,
        [
            "saddle.lr",
            "saddle.mu",
            "m_minus",
            "m_minus_err",
            "m_plus",
            "m_plus_err",
            "ms_minus",
            "ms_plus",
            "phase",
            "status",
            "error"
        ]
    );
    assert_eq!(csv.rows.len(), 6);
    let points: Vec<(f64, f64)> = csv
        .rows
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    assert_eq!(
        points,
        [
            (0.5, 0.1),
            (0.5, 0.3),
            (1.0, 0.1),
            (1.0, 0.3),
            (2.0, 0.1),
            (2.0, 0.3)
        ],
        "rows sorted by the axes, in grid order"
    );
    assert!(csv.values("status").iter().all(|s| *s == "ok"));
    assert!(csv.values("error").iter().all(|s| s.is_empty()));
    assert!(
        csv.values("phase")
            .iter()
            .all(|p| ["Ia", "Ib", "II", "III", "IV"].contains(p)),
        "{:?}",
        csv.values("phase")
    );
}

#[test]
fn summary_csv_numbers_are_the_exact_numbers_in_metrics_json() {
    let t = TempDir::new("exact");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let csv = Csv::read(t.join("out/summary.csv"));
    for (row, cell) in csv.rows.iter().zip(0..) {
        let lr = csv.get(cell, "saddle.lr").parse::<f64>().unwrap();
        let mu = csv.get(cell, "saddle.mu").parse::<f64>().unwrap();
        let id = format!("saddle.lr={lr}__saddle.mu={mu}");
        let metrics = Json::read(t.join("out/cells").join(&id).join("metrics.json"));
        let metrics = metrics.get("metrics");
        for key in metrics.keys().into_iter().filter(|k| *k != "phase") {
            let stored = metrics.get(key).f64();
            let summary: f64 = row[csv.column(key)].parse().unwrap();
            assert_eq!(
                summary.to_bits(),
                stored.to_bits(),
                "{id}: {key} is {summary:e} in summary.csv but {stored:e} in metrics.json"
            );
        }
    }
}

#[test]
fn linspace_logspace_and_list_axes_expand_to_their_points() {
    let t = TempDir::new("spaces");
    let text = r#"name = "spaces"
kind = "saddle_theory"

[saddle]
mu = 0.5
lr = 0.1

[grid]
"saddle.lr" = { logspace = [0.1, 10.0, 3] }
"saddle.mu" = { linspace = [0.0, 1.0, 3] }
"saddle.batch_size" = { logspace = [1, 16, 5] }
"saddle.noise_std" = [1.0, 2.0]
"#;
    t.write("grid.toml", text);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let cells = cell_names(&t.join("out"));
    assert_eq!(cells.len(), 3 * 3 * 5 * 2);
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(
        &csv.header[..4],
        [
            "saddle.lr",
            "saddle.mu",
            "saddle.batch_size",
            "saddle.noise_std"
        ]
    );
    let distinct = |column: &str| {
        let mut v: Vec<f64> = csv
            .values(column)
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    assert_eq!(distinct("saddle.mu"), [0.0, 0.5, 1.0]);
    assert_eq!(distinct("saddle.batch_size"), [1.0, 2.0, 4.0, 8.0, 16.0]);
    assert_eq!(distinct("saddle.noise_std"), [1.0, 2.0]);
    let lr = distinct("saddle.lr");
    assert_eq!(lr.len(), 3);
    assert_eq!(
        (lr[0], lr[2]),
        (0.1, 10.0),
        "logspace includes both endpoints exactly: {lr:?}"
    );
    assert!((lr[1] - 1.0).abs() < 1e-12, "logspace midpoint: {lr:?}");
    // Integer endpoints give integer batch sizes in the names.
    assert!(
        cells.iter().any(|c| c.contains("saddle.batch_size=16__")),
        "{cells:?}"
    );
    assert!(
        cells.iter().any(|c| c
            .starts_with("saddle.lr=0.1__saddle.mu=0__saddle.batch_size=1__saddle.noise_std=1")),
        "{cells:?}"
    );
}

#[test]
fn override_reaches_every_cell_config() {
    let t = TempDir::new("override-all");
    t.write("grid.toml", SADDLE_GRID);
    probstab(
        t.path(),
        &[
            "run",
            "grid.toml",
            "saddle.batch_size=4",
            "--out",
            "out",
            "--no-plot",
        ],
    )
    .ok();
    let cells = cell_names(&t.join("out"));
    assert_eq!(cells.len(), 6);
    for cell in cells {
        let config = read(t.join("out/cells").join(&cell).join("config.toml"));
        assert!(config.contains("batch_size = 4"), "{cell}:\n{config}");
    }
    assert!(
        read(t.join("out/experiment.toml")).contains("batch_size = 4"),
        "the saved experiment has the override"
    );
}

#[test]
fn overriding_a_swept_key_pins_it_and_shrinks_the_grid() {
    let t = TempDir::new("override-pin");
    t.write("grid.toml", SADDLE_GRID);
    let run = probstab(
        t.path(),
        &[
            "run",
            "grid.toml",
            "saddle.lr=0.7",
            "--out",
            "out",
            "--no-plot",
        ],
    )
    .ok();
    assert_eq!(
        cell_names(&t.join("out")),
        ["saddle.mu=0.1", "saddle.mu=0.3"]
    );
    for cell in cell_names(&t.join("out")) {
        let config = read(t.join("out/cells").join(&cell).join("config.toml"));
        assert!(config.contains("lr = 0.7"), "{cell}:\n{config}");
    }
    assert!(run.stdout.contains("2 cells: 2 run"), "{}", run.stdout);
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(csv.header[0], "saddle.mu", "a pinned key is no axis column");
}

#[test]
fn overriding_a_grid_axis_replaces_it() {
    let t = TempDir::new("override-axis");
    t.write("grid.toml", SADDLE_GRID);
    probstab(
        t.path(),
        &[
            "run",
            "grid.toml",
            "grid.saddle.mu=[0.15,0.25,0.35]",
            "--out",
            "out",
            "--no-plot",
        ],
    )
    .ok();
    let cells = cell_names(&t.join("out"));
    assert_eq!(cells.len(), 3 * 3, "{cells:?}");
    for cell in &cells {
        assert_eq!(
            cell.matches("saddle.mu=").count(),
            1,
            "one saddle.mu axis: {cell}"
        );
        assert!(
            ["0.15", "0.25", "0.35"]
                .iter()
                .any(|mu| cell.ends_with(&format!("saddle.mu={mu}"))),
            "{cell}"
        );
    }
}

#[test]
fn out_flag_is_where_results_go_and_default_is_results_name() {
    let t = TempDir::new("out-flag");
    t.write("grid.toml", SADDLE_GRID);
    probstab(
        t.path(),
        &["run", "grid.toml", "--out", "elsewhere/deep", "--no-plot"],
    )
    .ok();
    assert_eq!(cell_names(&t.join("elsewhere/deep")).len(), 6);
    assert!(t.join("elsewhere/deep/summary.csv").is_file());
    assert!(t.join("elsewhere/deep/experiment.toml").is_file());
    assert!(
        !t.join("results").exists(),
        "--out is respected: nothing in results/"
    );

    probstab(t.path(), &["run", "grid.toml", "--no-plot"]).ok();
    assert_eq!(cell_names(&t.join("results/saddle_grid")).len(), 6);
}

#[test]
fn without_a_config_the_embedded_fig3_default_runs() {
    // The full default is 100 λ × 101 μ cells; three μ rows keep the test
    // quick (removing 10⁴ cell directories is slow on a busy disk) and go
    // through the same no-config path, with an override.
    let t = TempDir::new("embedded");
    let run = probstab(
        t.path(),
        &["run", "grid.saddle.mu=[0.0, 0.5, 1.0]", "--out", "out"],
    )
    .ok();
    assert!(
        run.stdout
            .contains("300 cells: 300 run (300 ok, 0 diverged, 0 failed)"),
        "{}",
        run.stdout
    );
    let experiment = read(t.join("out/experiment.toml"));
    assert!(
        experiment.contains("name = \"fig3_lambda_mu\""),
        "{experiment}"
    );
    // experiment.toml lists every axis value: the default sweeps 100 learning rates.
    let lr_axis = experiment
        .lines()
        .find(|l| l.starts_with("\"saddle.lr\" = ["))
        .unwrap_or_else(|| panic!("{experiment}"));
    assert_eq!(lr_axis.matches(',').count(), 99, "{lr_axis}");
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(csv.rows.len(), 300);
    assert_eq!(&csv.header[..3], ["saddle.lr", "saddle.mu", "m_minus"]);
    assert!(csv.values("status").iter().all(|s| *s == "ok"));
    // Fig. 3 (left) shows phases Ia, Ib, III and IV (II disappears at N = ∞).
    let phases = csv.values("phase");
    for phase in ["Ia", "Ib", "III", "IV"] {
        assert!(
            phases.contains(&phase),
            "phase {phase} missing from the default grid"
        );
    }
    // The default's [[plot]] tables were rendered.
    common::assert_png(&t.join("out/plots/phase.png"), 5000);
    common::assert_png(&t.join("out/plots/m_plus.png"), 5000);
}

#[test]
fn collect_rebuilds_summary_csv_byte_for_byte() {
    let t = TempDir::new("collect");
    t.write("grid.toml", SADDLE_GRID);
    probstab(t.path(), &["run", "grid.toml", "--out", "out", "--no-plot"]).ok();
    let summary = t.join("out/summary.csv");
    let before = std::fs::read(&summary).unwrap();
    std::fs::remove_file(&summary).unwrap();
    let run = probstab(t.path(), &["collect", "out"]).ok();
    assert!(run.stdout.contains("6 cells"), "{}", run.stdout);
    assert_eq!(std::fs::read(&summary).unwrap(), before);
}

#[test]
fn collect_on_a_directory_without_results_fails_cleanly() {
    let t = TempDir::new("collect-empty");
    std::fs::create_dir(t.join("empty")).unwrap();
    let run = probstab(t.path(), &["collect", "empty"]).failed();
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
}

const SIM_GRID: &str = r#"name = "sim_grid"
kind = "saddle_sim"
seed = 7

[saddle]
mu = 0.5
lr = 0.1

[sim]
trajectories = 40
steps = 300
trace_points = 10
trace_samples = 2

[grid]
"saddle.lr" = [0.3, 0.8, 1.5]
"saddle.mu" = [0.1, 0.6]
"#;

#[test]
fn jobs_one_and_jobs_two_give_identical_results_for_the_same_seed() {
    let t = TempDir::new("determinism");
    t.write("sim.toml", SIM_GRID);
    probstab(
        t.path(),
        &[
            "run",
            "sim.toml",
            "--out",
            "one",
            "--jobs",
            "1",
            "--no-plot",
        ],
    )
    .ok();
    probstab(
        t.path(),
        &[
            "run",
            "sim.toml",
            "--out",
            "two",
            "--jobs",
            "2",
            "--no-plot",
        ],
    )
    .ok();
    assert_eq!(
        read(t.join("one/summary.csv")),
        read(t.join("two/summary.csv"))
    );
    let cells = cell_names(&t.join("one"));
    assert_eq!(cells, cell_names(&t.join("two")));
    for cell in cells {
        let trace = |run: &str| read(t.join(run).join("cells").join(&cell).join("trace.csv"));
        assert_eq!(
            trace("one"),
            trace("two"),
            "{cell}: trace.csv differs between --jobs 1 and --jobs 2"
        );
    }
}

#[test]
fn a_different_seed_gives_different_simulations() {
    let t = TempDir::new("seed");
    t.write("sim.toml", SIM_GRID);
    probstab(t.path(), &["run", "sim.toml", "--out", "a", "--no-plot"]).ok();
    probstab(
        t.path(),
        &["run", "sim.toml", "seed=8", "--out", "b", "--no-plot"],
    )
    .ok();
    assert_ne!(read(t.join("a/summary.csv")), read(t.join("b/summary.csv")));
}
