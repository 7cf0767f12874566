//! The training kinds end to end: `two_layer` and `neuron` cells run through
//! the binary, write their metrics and traces, report divergence as a result,
//! and reject keys their kind does not use.

mod common;

use common::{Csv, Json, TempDir, probstab};

const TWO_LAYER: &str = r#"name = "tiny_two_layer"
kind = "two_layer"

[model]
activation = "tanh"
dim = 6
hidden = 6

[data]
mu = 0.8

[train]
lr = 0.05
steps = 300
batch_size = 4
trace_points = 50

[grid]
"train.lr" = [0.05, 40.0]
"#;

#[test]
fn two_layer_cells_report_ranks_losses_and_divergence() {
    let t = TempDir::new("two_layer");
    t.write("net.toml", TWO_LAYER);
    let run = probstab(t.path(), &["run", "net.toml", "--out", "out", "--no-plot"]).ok();
    assert!(
        run.stdout
            .contains("2 cells: 2 run (1 ok, 1 diverged, 0 failed)"),
        "{}",
        run.stdout
    );
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(csv.get(0, "status"), "ok");
    let rank: i64 = csv.get(0, "rank_w2").parse().expect("an integer rank");
    assert!((1..=6).contains(&rank));
    for column in [
        "rank_w1",
        "effective_rank_w2",
        "sparsity",
        "final_loss",
        "m_l",
        "robust_loss",
        "lyapunov_slope",
    ] {
        assert!(
            csv.get(0, column).parse::<f64>().is_ok(),
            "{column} = {:?}",
            csv.get(0, column)
        );
    }
    // λ = 40 blows up: a diverged cell, still with its trace.
    assert_eq!(csv.get(1, "status"), "diverged");
    let trace = Csv::read(t.join("out/cells/train.lr=40/trace.csv"));
    assert_eq!(trace.header, ["step", "loss", "log_loss"]);
    let ok_trace = Csv::read(t.join("out/cells/train.lr=0.05/trace.csv"));
    assert!(ok_trace.rows.len() == 50, "{}", ok_trace.rows.len());
    assert_eq!(ok_trace.get(ok_trace.rows.len() - 1, "step"), "299");
}

#[test]
fn a_diverged_cells_summary_row_has_the_step_it_stopped_at() {
    let t = TempDir::new("two_layer_diverged_at");
    t.write("net.toml", TWO_LAYER);
    probstab(t.path(), &["run", "net.toml", "--out", "out", "--no-plot"]).ok();
    let csv = Csv::read(t.join("out/summary.csv"));
    // Right after `status`, before `error`.
    let n = csv.header.len();
    assert_eq!(
        csv.header[n - 3..],
        ["status", "diverged_at", "error"],
        "{:?}",
        csv.header
    );
    assert_eq!(csv.get(0, "status"), "ok");
    assert_eq!(csv.get(0, "diverged_at"), "");
    assert_eq!(csv.get(1, "status"), "diverged");
    let record = Json::read(t.join("out/cells/train.lr=40/metrics.json"));
    let step = record.get("diverged_at").f64();
    assert!(step >= 0.0 && step < 300.0, "{step}");
    assert_eq!(csv.get(1, "diverged_at"), format!("{step}"));
    // `collect` rebuilds the same table.
    let before = common::read(t.join("out/summary.csv"));
    probstab(t.path(), &["collect", "out"]).ok();
    assert_eq!(common::read(t.join("out/summary.csv")), before);
}

#[test]
fn two_layer_runs_are_deterministic_for_a_seed() {
    let t = TempDir::new("two_layer_seed");
    t.write("net.toml", TWO_LAYER);
    probstab(
        t.path(),
        &["run", "net.toml", "--out", "a", "--no-plot", "--jobs", "1"],
    )
    .ok();
    probstab(
        t.path(),
        &["run", "net.toml", "--out", "b", "--no-plot", "--jobs", "2"],
    )
    .ok();
    assert_eq!(
        common::read(t.join("a/summary.csv")),
        common::read(t.join("b/summary.csv"))
    );
    probstab(
        t.path(),
        &["run", "net.toml", "seed=1", "--out", "c", "--no-plot"],
    )
    .ok();
    assert_ne!(
        common::read(t.join("a/summary.csv")),
        common::read(t.join("c/summary.csv"))
    );
}

#[test]
fn neuron_cells_report_their_end_point_and_the_landscape() {
    let t = TempDir::new("neuron");
    t.write(
        "neuron.toml",
        "name = \"n\"\nkind = \"neuron\"\n\n[model]\nactivation = \"tanh\"\nw0 = 0.5\nu0 = 0.5\n\n[data]\nx = [-1.0, -0.5, 0.5, 1.0, 2.0]\ny = [-0.8, -0.45, 0.45, 0.8, 1.0]\n\n[train]\nlr = 0.2\nsteps = 3000\nloss = \"half_sum\"\n",
    );
    probstab(
        t.path(),
        &["run", "neuron.toml", "--out", "out", "--no-plot"],
    )
    .ok();
    let csv = Csv::read(t.join("out/summary.csv"));
    // y ≈ tanh-shaped and noiseless: SGD ends at a minimum, not the saddle.
    assert_eq!(csv.get(0, "nearest"), "minimum");
    assert_eq!(csv.get(0, "at_saddle"), "false");
    let distance: f64 = csv.get(0, "nearest_distance").parse().unwrap();
    assert!(distance < 0.05, "{distance}");
    assert!(
        csv.get(0, "stationary_points")
            .contains("saddle(0.0000,0.0000"),
        "{}",
        csv.get(0, "stationary_points")
    );
    // Inline data has no generator: no test loss.
    assert_eq!(csv.get(0, "test_loss"), "nan");
}

#[test]
fn neuron_data_from_csv_and_bad_keys_are_named() {
    let t = TempDir::new("neuron_csv");
    t.write("data.csv", "x,y\n-1,-0.7\n0.5,0.4\n1,0.7\n");
    t.write("n.toml", "name = \"n\"\nkind = \"neuron\"\n[model]\nw0 = 0.3\nu0 = 0.3\n[data]\ncsv = \"data.csv\"\n[train]\nlr = 0.1\nsteps = 50\n");
    probstab(t.path(), &["run", "n.toml", "--out", "out", "--no-plot"]).ok();
    t.write("bad.toml", "name = \"n\"\nkind = \"neuron\"\n[model]\nw0 = 0.3\nu0 = 0.3\ndim = 4\n[data]\nn = 10\n[train]\nlr = 0.1\n");
    let run = probstab(t.path(), &["run", "bad.toml", "--out", "bad"]).failed();
    assert!(
        run.stderr.contains("model.dim") && run.stderr.contains("not used by kind `neuron`"),
        "{}",
        run.stderr
    );
    t.write("broken.csv", "x,y\n1,2\n3,nope\n");
    t.write("b.toml", "name = \"n\"\nkind = \"neuron\"\n[model]\nw0 = 0.3\nu0 = 0.3\n[data]\ncsv = \"broken.csv\"\n[train]\nlr = 0.1\nsteps = 5\n");
    let run = probstab(t.path(), &["run", "b.toml", "--out", "b", "--no-plot"]).failed();
    let csv = Csv::read(t.join("b/summary.csv"));
    assert_eq!(csv.get(0, "status"), "failed");
    assert!(
        csv.get(0, "error").contains("broken.csv") && csv.get(0, "error").contains("line 3"),
        "{}",
        csv.get(0, "error")
    );
    assert!(run.stderr.contains("1 cell(s) failed"));
}

/// The runner packs two_layer cells that share shapes and plain SGD into one
/// stacked model; `--no-pack` trains each through burn's autodiff. Both give
/// the same metrics for the same seeds (to float rounding), divergence
/// included.
#[test]
fn packed_and_unpacked_two_layer_grids_agree() {
    let t = TempDir::new("packed");
    let grid = TWO_LAYER.replace(
        "\"train.lr\" = [0.05, 40.0]",
        "\"train.lr\" = [0.02, 0.05, 40.0]\n\"data.mu\" = [0.2, 0.8]",
    );
    t.write("net.toml", &grid);
    probstab(
        t.path(),
        &["run", "net.toml", "--out", "packed", "--no-plot"],
    )
    .ok();
    probstab(
        t.path(),
        &["run", "net.toml", "--out", "burn", "--no-plot", "--no-pack"],
    )
    .ok();
    let packed = Csv::read(t.join("packed/summary.csv"));
    let burn = Csv::read(t.join("burn/summary.csv"));
    assert_eq!(packed.rows.len(), 6);
    for column in ["status", "rank_w2", "rank_w1"] {
        assert_eq!(packed.values(column), burn.values(column), "{column}");
    }
    for column in ["final_loss", "m_l", "effective_rank_w2"] {
        for (p, b) in packed.values(column).iter().zip(burn.values(column)) {
            if p.is_empty() && b.is_empty() {
                continue;
            }
            let (p, b): (f64, f64) = (p.parse().unwrap(), b.parse().unwrap());
            assert!(
                (p - b).abs() <= 1e-4 * p.abs().max(b.abs()),
                "{column}: packed {p}, burn {b}"
            );
        }
    }
}

/// A cell's numbers do not depend on which cells share its pack: a slice of
/// one cell gives what the whole grid gave it.
#[test]
fn a_cell_alone_gives_what_its_pack_gave_it() {
    let t = TempDir::new("pack_of_one");
    let grid = TWO_LAYER.replace(
        "\"train.lr\" = [0.05, 40.0]",
        "\"train.lr\" = [0.02, 0.05, 0.08]",
    );
    t.write("net.toml", &grid);
    probstab(t.path(), &["run", "net.toml", "--out", "all", "--no-plot"]).ok();
    probstab(
        t.path(),
        &[
            "run",
            "net.toml",
            "--out",
            "one",
            "--no-plot",
            "--cells",
            "1..2",
        ],
    )
    .ok();
    let all = Csv::read(t.join("all/summary.csv"));
    let cells = t.join("one/cells");
    let id = std::fs::read_dir(&cells)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name();
    let one = common::read(cells.join(&id).join("metrics.json"));
    let whole = common::read(t.join("all/cells").join(&id).join("metrics.json"));
    let metrics = |text: &str| {
        text[text.find("\"metrics\"").unwrap()..text.find("\"seconds\"").unwrap()].to_string()
    };
    assert_eq!(metrics(&one), metrics(&whole));
    assert_eq!(all.rows.len(), 3);
}
