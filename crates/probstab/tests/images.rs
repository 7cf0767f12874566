//! The image_classifier kind end to end: a grid on generated files in
//! CIFAR-10's exact binary format runs, writes every metric and draws its
//! heatmaps; missing or corrupt data fails the cell with the file named; a
//! cell killed mid-run and rerun with --resume ends with the numbers of an
//! uninterrupted run.

mod common;

use common::{Csv, Json, TempDir, probstab, read, spawn};
use std::path::Path;
use std::time::{Duration, Instant};
use train::synthetic_images::{synthetic, write_cifar10};

fn config(name: &str, train: &str, grid: &str) -> String {
    format!(
        r#"name = "{name}"
kind = "image_classifier"

[model]
width = 0.03125

[data]
dataset = "cifar10"
dir = "cifar"
noise_prob = 0.2

[train]
lr = 0.05
batch_size = 8
{train}

[measure]
rank_samples = 24
{grid}"#
    )
}

fn with_cifar(label: &str) -> TempDir {
    let t = TempDir::new(label);
    write_cifar10(&t.join("cifar"), &synthetic(3, 32, 100, 40, 2)).unwrap();
    t
}

#[test]
fn rank_samples_come_from_the_test_size_images_and_test_points_is_refused() {
    let t = with_cifar("cifar-test-size");
    let text = config("small", "steps = 2", "").replace("noise_prob = 0.2", "test_size = 10");
    t.write("small.toml", &text);
    probstab(
        t.path(),
        &["run", "small.toml", "--out", "out", "--no-plot"],
    )
    .ok();
    let summary = Csv::read(t.join("out/summary.csv"));
    assert_eq!(summary.get(0, "test_images"), "10");
    assert_eq!(
        summary.get(0, "rank_samples"),
        "10",
        "24 asked, 10 test images used"
    );

    // A neuron key is refused by name rather than ignored.
    t.write(
        "bad.toml",
        &text.replace("rank_samples = 24", "test_points = 100"),
    );
    let run = probstab(t.path(), &["run", "bad.toml", "--out", "bad"]).failed();
    assert!(
        run.stderr.contains("measure.test_points")
            && run.stderr.contains("not used by kind `image_classifier`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_batch_too_big_for_memory_fails_its_cell_with_the_key_instead_of_killing_the_run() {
    let t = with_cifar("cifar-huge-batch");
    // 10⁶ images of a 1/32-width net need some 290 GB.
    let grid = "[grid]\n\"train.batch_size\" = [8, 1000000]\n";
    let text = config("huge", "steps = 2", grid).replace("batch_size = 8\n", "");
    t.write("huge.toml", &text);
    let run = probstab(t.path(), &["run", "huge.toml", "--out", "out", "--no-plot"]).failed();
    common::assert_no_panic(&run);
    let summary = Csv::read(t.join("out/summary.csv"));
    let statuses = summary.values("status");
    assert_eq!(statuses.len(), 2, "both cells are in the summary");
    assert!(
        statuses.contains(&"ok") && statuses.contains(&"failed"),
        "{statuses:?}"
    );
    let errors = common::read(t.join("out/summary.csv"));
    assert!(
        errors.contains("train.batch_size = 1000000") && errors.contains("GB"),
        "{errors}"
    );
}

#[test]
fn cifar_format_grid_runs_with_every_metric_and_heatmap() {
    let t = with_cifar("cifar-grid");
    let grid = r#"
[grid]
"train.lr" = [0.01, 0.1]
"data.noise_prob" = [0.0, 0.5]

[[plot]]
metric = "rank"
x = "train.lr"

[[plot]]
metric = "test_accuracy"
x = "train.lr"
"#;
    t.write(
        "smoke.toml",
        &config("smoke", "steps = 6\neval_every = 3", grid),
    );
    let run = probstab(t.path(), &["run", "smoke.toml", "--out", "out"]).ok();
    assert!(run.stdout.contains("4 run (4 ok"), "{}", run.stdout);
    let summary = Csv::read(t.join("out/summary.csv"));
    for column in [
        "test_accuracy",
        "test_loss",
        "train_accuracy",
        "m_l",
        "rank",
        "effective_rank",
        "sparsity",
        "sparsity_conv1",
        "sparsity_layer1.1.conv2",
        "sparsity_layer2.1.conv2",
        "sparsity_layer3.1.conv2",
        "sparsity_layer4.1.conv2",
        "sparsity_layer2.0.downsample.0",
        "status",
    ] {
        summary.column(column);
    }
    for row in 0..4 {
        assert_eq!(summary.get(row, "status"), "ok");
        let accuracy: f64 = summary.get(row, "test_accuracy").parse().unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
        let rank: usize = summary.get(row, "rank").parse().unwrap();
        assert!((1..=16).contains(&rank), "rank {rank} of 24 × 16 features");
        assert_eq!(summary.get(row, "rank_samples"), "24");
    }
    // Static noise replaced nothing here (dynamic is the default).
    assert!(summary.values("labels_changed").iter().all(|v| *v == "0"));
    for plot in ["rank", "test_accuracy"] {
        let png = t.join(format!("out/plots/{plot}.png"));
        common::assert_png(&png, 2000);
    }
    let cells: Vec<_> = std::fs::read_dir(t.join("out/cells"))
        .unwrap()
        .flatten()
        .collect();
    for cell in &cells {
        let trace = Csv::read(cell.path().join("trace.csv"));
        let evals: Vec<&str> = trace
            .values("test_accuracy")
            .into_iter()
            .filter(|v| *v != "nan")
            .collect();
        assert_eq!(evals.len(), 2, "evaluations at steps 3 and 6");
        assert!(!cell.path().join("checkpoint").exists());
    }
}

#[test]
fn static_noise_changes_labels_once_from_the_seed() {
    let t = with_cifar("cifar-static");
    let text = config("static", "steps = 2", "").replace(
        "noise_prob = 0.2",
        "noise_prob = 0.5\nlabel_noise = \"static\"",
    );
    t.write("static.toml", &text);
    probstab(t.path(), &["run", "static.toml", "--out", "a"]).ok();
    probstab(t.path(), &["run", "static.toml", "--out", "b", "seed=1"]).ok();
    let a = Csv::read(t.join("a/summary.csv"));
    let b = Csv::read(t.join("b/summary.csv"));
    let changed: f64 = a.get(0, "labels_changed").parse().unwrap();
    // 100 labels, each redrawn with p = 0.5 into one of 10 classes: 45 expected.
    assert!((25.0..=65.0).contains(&changed), "{changed} labels changed");
    assert_ne!(a.get(0, "m_l"), b.get(0, "m_l"));
}

#[test]
fn missing_or_corrupt_data_fails_the_cell_naming_the_file() {
    let t = TempDir::new("cifar-bad");
    t.write("bad.toml", &config("bad", "steps = 2", ""));
    let run = probstab(t.path(), &["run", "bad.toml", "--out", "out"]).failed();
    let summary = read(t.join("out/summary.csv"));
    assert!(summary.contains("data_batch_1.bin"), "{summary}");
    assert!(summary.contains("probstab data fetch cifar10"), "{summary}");
    assert!(run.stderr.contains("failed"), "{}", run.stderr);

    write_cifar10(&t.join("cifar"), &synthetic(3, 32, 20, 10, 2)).unwrap();
    let test_batch = t.join("cifar/test_batch.bin");
    let bytes = std::fs::read(&test_batch).unwrap();
    std::fs::write(&test_batch, &bytes[..bytes.len() - 100]).unwrap();
    probstab(t.path(), &["run", "bad.toml", "--out", "out2"]).failed();
    let summary = read(t.join("out2/summary.csv"));
    assert!(summary.contains("test_batch.bin"), "{summary}");
    assert!(summary.contains("record"), "{summary}");
}

#[test]
fn bad_image_keys_are_config_errors() {
    let t = with_cifar("cifar-keys");
    t.write("k.toml", &config("k", "steps = 2", ""));
    for (key, needle) in [
        ("data.noise_prob=1.5", "data.noise_prob"),
        ("model.width=0", "model.width"),
        ("model.hidden=3", "model.hidden"),
        ("data.mu=0.5", "data.mu"),
        ("train.loss=\"half_sum\"", "train.loss"),
        ("data.dataset=\"imagenet\"", "data.dataset"),
    ] {
        let run = probstab(t.path(), &["run", "k.toml", key]).failed();
        assert_eq!(run.code, Some(2), "{key}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{key}: {}", run.stderr);
    }
}

/// Every metric of a cell but the timings and the resume marker.
fn numbers(cell: &Path) -> Vec<(String, String)> {
    let json = Json::read(cell.join("metrics.json"));
    let metrics = json.get("metrics");
    metrics
        .keys()
        .into_iter()
        .filter(|k| !["images_per_second", "resumed_at"].contains(k))
        .map(|k| (k.to_string(), format!("{:?}", metrics.get(k))))
        .collect()
}

#[test]
fn killed_cell_resumes_from_its_checkpoint_to_the_same_numbers() {
    let t = with_cifar("cifar-kill");
    let text = config(
        "kill",
        "steps = 400\ncheckpoint_every = 20\neval_every = 100",
        "",
    )
    .replace("width = 0.03125", "width = 0.015625")
    .replace("batch_size = 8", "batch_size = 4");
    t.write("kill.toml", &text);
    probstab(t.path(), &["run", "kill.toml", "--out", "whole"]).ok();

    let mut child = spawn(t.path(), &["run", "kill.toml", "--out", "cut"]);
    let cells = t.join("cut/cells");
    let started = Instant::now();
    let checkpoint = loop {
        let found = std::fs::read_dir(&cells).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("checkpoint/state.json"))
                .find(|p| p.is_file())
        });
        if let Some(path) = found {
            break path;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let cell = checkpoint.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(!cell.join("metrics.json").exists(), "killed before the end");
    let status = probstab(t.path(), &["status", "cut"]);
    assert!(
        status
            .stdout
            .contains("of which 1 have a checkpoint (run --resume"),
        "{}",
        status.stdout
    );

    probstab(t.path(), &["run", "kill.toml", "--out", "cut", "--resume"]).ok();
    let resumed = Json::read(cell.join("metrics.json"));
    let at = resumed.get("metrics").get("resumed_at").f64();
    assert!(at >= 20.0 && at < 400.0, "resumed at {at}");
    let id = cell.file_name().unwrap();
    assert_eq!(numbers(&cell), numbers(&t.join("whole/cells").join(id)));
    assert_eq!(
        read(cell.join("trace.csv")),
        read(t.join("whole/cells").join(id).join("trace.csv"))
    );
    assert!(
        !cell.join("checkpoint").exists(),
        "a complete cell drops its checkpoint"
    );
}

#[test]
fn one_channel_resnet_on_wgpu_is_refused_before_running() {
    let t = with_cifar("cifar-wgpu-width");
    t.write(
        "w.toml",
        &config("w", "steps = 2", "").replace("width = 0.03125", "width = 0.015625"),
    );
    let run = probstab(t.path(), &["run", "w.toml", "--backend", "wgpu"]).failed();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("model.width") && run.stderr.contains("1/32"),
        "{}",
        run.stderr
    );
}

/// `data fetch --dir D` unpacks to D/cifar-10-batches-bin; `data.dir = D`
/// finds it there too.
#[test]
fn data_dir_may_name_the_fetch_directory() {
    let t = TempDir::new("cifar-nested");
    write_cifar10(
        &t.join("cifar/cifar-10-batches-bin"),
        &synthetic(3, 32, 20, 10, 2),
    )
    .unwrap();
    t.write("n.toml", &config("n", "steps = 2", ""));
    probstab(t.path(), &["run", "n.toml", "--out", "out", "--no-plot"]).ok();
    let summary = Csv::read(t.join("out/summary.csv"));
    assert_eq!(summary.get(0, "status"), "ok");
    assert_eq!(summary.get(0, "train_images"), "20");
    assert_eq!(summary.get(0, "test_images"), "10");
}
