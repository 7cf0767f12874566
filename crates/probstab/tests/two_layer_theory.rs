//! The network's own theory (`two_layer_theory`, `analysis::network`):
//! the linearised map against a real gradient step of a net with tiny
//! weights, each setting the theory does not apply to (status n/a) or
//! refuses (a config error naming the key), and `compare` end to end.

use analysis::network::{linearised_step, lr_factor};
use faer::Mat;
use probstab::compare::{CompareOptions, compare};
use probstab::kind::CellContext;
use probstab::record::{Metric, Status};
use probstab::{Experiment, Grid, ResultsDir};
use std::path::Path;
use train::config::{LossReduction, TrainTable};
use train::trainer::{optimizer, tensors, train_step};

fn grid(source: &str) -> Result<Grid, probstab::ConfigError> {
    Grid::new(Experiment::from_source(
        Path::new("test.toml"),
        source.to_string(),
        &[],
    )?)
}

/// The unit states z_j = (column j of W₂, row j of W₁) as a 2d × h matrix.
fn states(w1: &[f32], w2: &[f32], d: usize, h: usize) -> Mat<f64> {
    Mat::from_fn(2 * d, h, |i, j| {
        if i < d {
            w2[i * h + j] as f64
        } else {
            w1[j * d + (i - d)] as f64
        }
    })
}

#[test]
fn the_linearised_map_is_the_first_order_of_a_real_sgd_step() {
    let (d, h, rows, lr) = (5usize, 4usize, 3usize, 0.2);
    let device = train::device(train::Backend::Cpu).unwrap();
    for (activation, reduction) in [
        ("linear", "mean"),
        ("tanh", "mean"),
        ("swish", "half_sum"),
        ("linear", "half_sum"),
    ] {
        let source = format!(
            "name = \"t\"\nkind = \"two_layer\"\n[model]\nactivation = \"{activation}\"\ndim = {d}\nhidden = {h}\ninit_scale = 1e-3\n[data]\nmu = 0.4\n[train]\nlr = {lr}\nsteps = 1\nbatch_size = {rows}\nloss = \"{reduction}\"\n"
        );
        let grid = grid(&source).unwrap();
        let cell = grid.cells[0]
            .spec
            .get::<train::two_layer::TwoLayerCell>()
            .unwrap();
        let model = train::two_layer::initial_model_scaled(&cell.net, 3, 1e-3, &device);
        let (w1, _, _) = model.w1();
        let (w2, _, _) = model.w2();
        let before = states(&w1, &w2, d, h);
        let mut stream = train::data::Source::teacher(cell.teacher(), 0, 9);
        let batch = stream.next_batch(rows);
        let (bx, by) = (batch.x.clone(), batch.y.clone());
        let cfg: TrainTable = cell.train.clone();
        let mut optim = optimizer(&cfg);
        let (x, y) = tensors(batch, &device);
        let (after, _) = train_step(
            model,
            &models::TwoLayer::forward,
            &mut optim,
            x,
            y,
            &cfg,
            |_| false,
        );
        let (w1, _, _) = after.w1();
        let (w2, _, _) = after.w2();
        let real = states(&w1, &w2, d, h) - &before;
        let slope = cell.net.activation.slope_at_zero().unwrap();
        let lrc = lr * lr_factor(cfg.loss == LossReduction::Mean, d, slope);
        let mut predicted = before.clone();
        linearised_step(&mut predicted, &bx, &by, rows, d, lrc);
        let predicted = predicted - &before;
        let error = (&real - &predicted).norm_l2() / predicted.norm_l2();
        // Second-order terms are O(|W|) = 1e-3 of the first; f32 adds 1e-4.
        assert!(
            error < 1e-2,
            "{activation}, {reduction}: the real step differs from the linearised one by {error}"
        );
        // And the check can fail: the other loss reduction's c is off by d/2.
        let other = lr * lr_factor(cfg.loss != LossReduction::Mean, d, slope);
        let mut wrong = before.clone();
        linearised_step(&mut wrong, &bx, &by, rows, d, other);
        let wrong = wrong - &before;
        assert!((&real - &wrong).norm_l2() / wrong.norm_l2() > 0.1);
    }
}

fn theory_cell() -> Result<(Status, Vec<(String, Metric)>), String> {
    let source = format!(
        "name = \"t\"\nkind = \"two_layer_theory\"\n[model]\ndim = 4\nhidden = 4\n[data]\nmu = 0.5\n[train]\nlr = 0.1\nsteps = 100\n[spectrum]\nsteps = 400\nburn_in = 40\nms_batches = 50\n"
    );
    let grid = grid(&source).map_err(|e| e.to_string())?;
    let out = ResultsDir::new(
        std::env::temp_dir().join(format!("probstab-theory-{}", std::process::id())),
    );
    let dir = out.cell("c");
    std::fs::create_dir_all(dir.path()).unwrap();
    let output = grid.cells[0]
        .spec
        .run(&CellContext {
            dir: &dir,
            resume: false,
            config_text: "",
            live: None,
        })
        .map_err(|e| e.to_string())?;
    Ok((output.status, output.metrics))
}

#[test]
fn relu_and_adam_cells_are_not_applicable_and_say_why() {
    for (setting, why) in [
        ("model.activation=relu", "ReLU"),
        ("train.optimizer=adam", "Adam"),
    ] {
        let source = "name = \"t\"\nkind = \"two_layer\"\n[model]\ndim = 4\nhidden = 4\n[data]\nmu = 0.5\n[train]\nlr = 0.1\nsteps = 100\n[spectrum]\nsteps = 400\nburn_in = 40\n";
        let grid = Grid::new(
            Experiment::from_source(
                Path::new("t.toml"),
                source.into(),
                &["kind=two_layer_theory".into(), setting.into()],
            )
            .unwrap(),
        )
        .unwrap();
        let dir = ResultsDir::new(
            std::env::temp_dir().join(format!("probstab-na-{}", std::process::id())),
        )
        .cell("c");
        std::fs::create_dir_all(dir.path()).unwrap();
        let output = grid.cells[0]
            .spec
            .run(&CellContext {
                dir: &dir,
                resume: false,
                config_text: "",
                live: None,
            })
            .unwrap();
        assert_eq!(output.status, Status::NotApplicable, "{setting}");
        let reason = output
            .metrics
            .iter()
            .find(|(k, _)| k == "not_applicable")
            .map(|(_, v)| format!("{v:?}"))
            .unwrap_or_default();
        assert!(reason.contains(why), "{setting}: {reason}");
        assert!(output.spectrum.is_none());
    }
    // The same config as linear SGD applies.
    let (status, metrics) = theory_cell().unwrap();
    assert_eq!(status, Status::Ok);
    assert!(metrics.iter().any(|(k, _)| k == "positive_exponents"));
}

#[test]
fn refused_settings_name_their_key() {
    let base = "name = \"t\"\nkind = \"two_layer_theory\"\n[model]\ndim = 4\nhidden = 4\n[data]\nmu = 0.5\n[train]\nlr = 0.1\nsteps = 100\n";
    for (settings, key) in [
        (&["model.bias=true"][..], "model.bias"),
        (&["spectrum.steps=0"], "spectrum.steps"),
        (&["spectrum.every=0"], "spectrum.every"),
        (&["spectrum.blocks=0"], "spectrum.blocks"),
        (&["spectrum.blocks=1"], "spectrum.blocks"),
        (&["spectrum.ms_batches=0"], "spectrum.ms_batches"),
        (
            &["spectrum.steps=20", "spectrum.blocks=50"],
            "spectrum.blocks",
        ),
        (
            &["spectrum.steps=100", "spectrum.every=30"],
            "spectrum.blocks",
        ),
        (
            &[
                "spectrum.every=1000",
                "spectrum.steps=100000",
                "spectrum.blocks=2",
            ],
            "spectrum.every",
        ),
        (
            &["data.n=50", "model.dim=300", "model.hidden=2"],
            "spectrum.ms_batches",
        ),
        (&["spectrum.steps=-3"], "spectrum.steps"),
        (&["spectrum.steps=\"many\""], "spectrum.steps"),
        (&["spectrum.typo=1"], "spectrum"),
        (&["model.init_scale=0"], "model.init_scale"),
        (&["model.init_scale=-1"], "model.init_scale"),
        // train's checks, told with this kind's name.
        (&["model.width=0.5"], "kind `two_layer_theory`"),
    ] {
        let overrides: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let error = Experiment::from_source(Path::new("t.toml"), base.into(), &overrides)
            .and_then(Grid::new)
            .map(|_| ())
            .expect_err(&settings.join(" "))
            .to_string();
        assert!(error.contains(key), "{settings:?}: {error}");
    }
    // `backend` is ignored: stored as the CPU it computes on.
    let grid = Experiment::from_source(Path::new("t.toml"), base.into(), &["backend=wgpu".into()])
        .and_then(Grid::new)
        .unwrap();
    assert_eq!(grid.cells[0].config.backend, train::Backend::Cpu);
    // Another kind refuses the theory's table.
    let error = Experiment::from_source(
        Path::new("t.toml"),
        base.replace("two_layer_theory", "two_layer"),
        &["spectrum.steps=10".into()],
    )
    .and_then(Grid::new)
    .map(|_| ())
    .expect_err("two_layer with [spectrum]")
    .to_string();
    assert!(error.contains("spectrum"), "{error}");
}

/// The rows of a CSV file as maps from column to text.
fn rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn compare_scores_the_prediction_and_the_kappa_line_per_cell() {
    let (root, config) = scratch("compare");
    // λ = 20 diverges: those two cells are skipped, not scored.
    write(
        &config,
        "name = \"x\"\nkind = \"two_layer\"\n[model]\nactivation = \"linear\"\ndim = 6\nhidden = 6\n[data]\nmu = 0.5\n[train]\nlr = 0.1\nsteps = 2000\n[grid]\n\"train.lr\" = [0.05, 0.15, 20.0]\n\"data.mu\" = [0.0, 1.0]\n",
    );
    let measured = run_into(&root, &config, &[], "measured", true);
    let theory = run_into(
        &root,
        &config,
        &[
            "kind=two_layer_theory",
            "spectrum.steps=2000",
            "spectrum.burn_in=200",
            "spectrum.ms_batches=100",
        ],
        "theory",
        true,
    );
    let options = CompareOptions {
        metric: "rank_w2".into(),
        vs: "predicted_rank_at_steps".into(),
        margin: 1,
        theory_lr_scale: None,
        out: None,
    };
    let comparison = compare(&measured, &theory, &options).unwrap();
    assert_eq!(comparison.pairs.len(), 4);
    assert_eq!(comparison.skipped.len(), 2, "{:?}", comparison.skipped);
    // The table holds each cell's two summary values; the scores follow
    // from the table.
    let m = rows(&measured.summary());
    let t = rows(&theory.summary());
    let table = rows(
        &theory
            .path()
            .join("compare/rank_w2_vs_predicted_rank_at_steps.csv"),
    );
    assert_eq!(table.len(), 4);
    let mut abs = 0.0;
    let mut right = 0;
    for row in &table {
        let key = |r: &std::collections::HashMap<String, String>| {
            (r["train.lr"].clone(), r["data.mu"].clone())
        };
        let mr = m.iter().find(|r| key(r) == key(row)).unwrap();
        let tr = t.iter().find(|r| key(r) == key(row)).unwrap();
        assert_eq!(row["rank_w2"], mr["rank_w2"]);
        assert_eq!(
            row["predicted_rank_at_steps"],
            tr["predicted_rank_at_steps"]
        );
        let (a, b): (f64, f64) = (
            row["rank_w2"].parse().unwrap(),
            row["predicted_rank_at_steps"].parse().unwrap(),
        );
        abs += (a - b).abs();
        assert_eq!(row["measured_collapsed"], (a < 5.0).to_string());
        right += usize::from(row["measured_collapsed"] == row["predicted_collapsed"]);
    }
    assert!((comparison.mae - abs / 4.0).abs() < 1e-12);
    let chosen = comparison.scores.iter().find(|s| s.margin == 1).unwrap();
    assert_eq!(chosen.prediction_right, right as f64 / 4.0);
    assert!(
        theory
            .path()
            .join("compare/rank_w2_vs_predicted_rank_at_steps.png")
            .exists()
    );
    let report = comparison.report(&options);
    assert!(
        report.contains("κ line") && report.contains(" *"),
        "{report}"
    );
    // A column neither side has, and the grids swapped, are errors that say so.
    let bad = CompareOptions {
        metric: "rank_w3".into(),
        vs: options.vs.clone(),
        margin: 1,
        theory_lr_scale: None,
        out: None,
    };
    let error = compare(&measured, &theory, &bad).err().unwrap().to_string();
    assert!(
        error.contains("rank_w3") && error.contains("summary.csv"),
        "{error}"
    );
    let error = compare(&theory, &measured, &options)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("two_layer"), "{error}");
    // A theory of another initial scale is not this experiment's twin.
    let other = run_into(
        &root,
        &config,
        &[
            "kind=two_layer_theory",
            "model.init_scale=0.01",
            "spectrum.steps=2000",
            "spectrum.burn_in=200",
            "spectrum.ms_batches=100",
        ],
        "other",
        true,
    );
    let error = compare(&measured, &other, &options)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("model.init_scale"), "{error}");
    // The experiment compared with itself: its cells are not a theory's.
    let error = compare(&measured, &measured, &options)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("kind=two_layer_theory"), "{error}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// A fresh directory under the temp dir, and the path of its config file.
fn scratch(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = std::env::temp_dir().join(format!("probstab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let config = root.join("x.toml");
    (root, config)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Runs `config` (two_layer) with `overrides` into `root/out`.
fn run_into(root: &Path, config: &Path, overrides: &[&str], out: &str, pack: bool) -> ResultsDir {
    let args = std::iter::once(config.display().to_string())
        .chain(overrides.iter().map(|s| s.to_string()))
        .collect();
    let (grid, dir) = probstab::app::load_grid(args, Some(root.join(out)), None).unwrap();
    let options = probstab::runner::RunOptions {
        jobs: 1,
        resume: false,
        pack,
    };
    probstab::app::run(&grid, &dir, options, false).unwrap();
    dir
}

#[test]
fn the_traced_singular_values_of_w2_grow_at_the_top_lyapunov_exponent() {
    let (root, config) = scratch("sv");
    // Tiny weights: 4000 steps at γ₁ ≈ 2.5e-3 grow them e^10-fold, still
    // far inside the linear regime.
    write(
        &config,
        "name = \"x\"\nkind = \"two_layer\"\n[model]\nactivation = \"tanh\"\ndim = 4\nhidden = 4\ninit_scale = 1e-6\n[data]\nmu = 0.5\n[train]\nlr = 0.01\nsteps = 4001\ntrace_points = 3\n[measure]\ntrace_singular_values = true\n",
    );
    let packed = run_into(&root, &config, &[], "packed", true);
    let unpacked = run_into(&root, &config, &[], "unpacked", false);
    let trace = |dir: &ResultsDir| {
        rows(
            &std::fs::read_dir(dir.path().join("cells"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
                .join("trace.csv"),
        )
    };
    let (a, b) = (trace(&packed), trace(&unpacked));
    assert_eq!(a.len(), 3);
    let columns: Vec<String> = (1..=4).map(|i| format!("w2_sv_{i}")).collect();
    let value =
        |r: &std::collections::HashMap<String, String>, c: &str| -> f64 { r[c].parse().unwrap() };
    // Step 0 is the initial W₂; the packed and burn paths agree.
    let [_, w2, _, _] = train::two_layer::initial_weights(0, 4, 4, 1e-6);
    let initial = analysis::rank::rank(&w2, 4, 4, 1.0).singular_values;
    for (i, c) in columns.iter().enumerate() {
        assert!((value(&a[0], c) / initial[i] - 1.0).abs() < 1e-6, "{c}");
        for (ra, rb) in a.iter().zip(&b) {
            assert!(
                (value(ra, c) / value(rb, c) - 1.0).abs() < 1e-3,
                "{c}: {ra:?} vs {rb:?}"
            );
        }
    }
    // The top singular value's growth rate over the second half against
    // the spectrum of the same cell.
    let rate = (value(&a[2], "w2_sv_1") / value(&a[1], "w2_sv_1")).ln()
        / (value(&a[2], "step") - value(&a[1], "step"));
    let theory = run_into(
        &root,
        &config,
        &[
            "kind=two_layer_theory",
            "spectrum.steps=40000",
            "spectrum.burn_in=2000",
        ],
        "theory",
        true,
    );
    let t = rows(&theory.summary());
    let gamma: f64 = t[0]["lyapunov_max"].parse().unwrap();
    assert!(gamma > 1e-3, "{gamma}");
    assert!(
        (rate / gamma - 1.0).abs() < 0.2,
        "measured growth {rate} per step against the top exponent {gamma}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
