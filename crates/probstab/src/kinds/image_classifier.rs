//! `image_classifier`: ResNet-18 or an MLP on CIFAR-10, CIFAR-100,
//! Fashion-MNIST, MNIST or a folder of images, with label noise (Fig. 1c,
//! 9–12): test accuracy, the rank of the penultimate features, per-layer
//! sparsity, m_L.

use super::report::{loss_rate_docs, loss_row, push_loss_rate, status_of, tables};
use crate::config::{Backend, Config, Invalid};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::{Metric, Metrics};
use crate::trace::Trace;
use analysis::rank::rank;
use analysis::sparsity::sparsity_report;
use models::{MlpConfig, ResNet18Config};
use train::checkpoint::Checkpointing;
use train::classifier::{ClassifierCell, ClassifierRun};
use train::config::{Dataset, ImageNetSpec, Net, invalid};

pub struct ImageClassifier;

impl Kind for ImageClassifier {
    type Spec = ClassifierCell;
    const NAME: &'static str = Net::ImageClassifier.kind();
    const ABOUT: &'static str = "Fig. 1c, 9–12: ResNet-18 (CIFAR stem, width multiplier) or an MLP on CIFAR-10, CIFAR-100, Fashion-MNIST, MNIST or a folder of images, with dynamic or static label noise; test accuracy, penultimate rank, per-layer sparsity.";
    const TABLES: &'static [&'static str] = &["model", "data", "train", "measure"];
    const TRAINS: bool = true;
    const EXAMPLE: &'static str = "[model]\nwidth = 0.0625\n\n[data]\ndataset = \"fashion_mnist\"\nnoise_prob = 0.2\ntrain_size = 256\ntest_size = 64\n\n[train]\nlr = 0.05\nbatch_size = 32\nsteps = 10\n\n[measure]\nrank_samples = 64\n";
    const TRACE: &'static str = "`step`, `loss`, `log_loss`, `batch_accuracy`, `test_accuracy`, `test_loss` (at most `train.trace_points` steps, plus every evaluation; NaN where a step had none).";

    fn spec(config: &mut Config) -> Result<ClassifierCell, Invalid> {
        let cell = ClassifierCell::from_tables(tables(config, true))?;
        if let ImageNetSpec::Resnet18 { width } = cell.net
            && cell.backend == Backend::Wgpu
            && models::resnet::channels(width, 0) < 2
        {
            return Err(invalid(
                "model.width",
                format!(
                    "{width} leaves the stem and layer1 one channel wide, where burn 0.22.1's wgpu backend computes wrong gradients (a kernel-fusion bug, see crates/train/tests/wgpu_layers.rs): use width ≥ 1/32 on wgpu, or the CPU"
                ),
            ));
        }
        Ok(cell)
    }

    fn metrics(spec: &ClassifierCell) -> Vec<MetricDoc> {
        let mut m = vec![
            MetricDoc::new("test_accuracy", "accuracy on the `test_size` test images"),
            MetricDoc::new("test_loss", "cross-entropy on them"),
            MetricDoc::new(
                "train_accuracy",
                "accuracy on the training batches of the trailing `measure.window` (their noisy labels)",
            ),
        ];
        m.extend(loss_rate_docs());
        m.extend([
            MetricDoc::new(
                "rank",
                "rank of the penultimate features of `rank_samples` random test images (drawn from the `test_size` used)",
            ),
            MetricDoc::new("effective_rank", "their effective rank"),
            MetricDoc::new("rank_samples", "images behind `rank`"),
            MetricDoc::new("train_images", "training images used (`train_size` capped by the data set)"),
            MetricDoc::new("test_images", "test images used"),
            MetricDoc::new("feature_dim", "width of the penultimate features"),
        ]);
        match &spec.net {
            ImageNetSpec::Resnet18 { width } => {
                m.push(MetricDoc::new(
                    "sparsity",
                    "fraction of conv weights with |w| ≤ `measure.sparsity_atol`",
                ));
                let net = ResNet18Config {
                    in_channels: 1,
                    num_classes: 2,
                    width: *width,
                };
                m.extend(
                    net.params()
                        .into_iter()
                        .filter(|p| !p.name.starts_with("fc."))
                        .map(|p| {
                            MetricDoc::new(
                                format!("sparsity_{}", p.name),
                                "that conv's sparsity (torchvision names)",
                            )
                        }),
                );
            }
            ImageNetSpec::Mlp(mlp) => {
                m.push(MetricDoc::new(
                    "sparsity",
                    "fraction of the hidden layers' weights (`fc1` … `fck`, not the head) with |w| ≤ `measure.sparsity_atol`",
                ));
                m.extend(mlp_layer_names(mlp).into_iter().map(|name| {
                    MetricDoc::new(
                        format!("sparsity_{name}"),
                        "that layer's weight sparsity (`fc1` … `fck` hidden, `out` the head)",
                    )
                }));
            }
        }
        if spec.data.dataset == Dataset::ImageFolder {
            m.extend([
                MetricDoc::new("classes", "the folder's classes"),
                MetricDoc::new(
                    "class_names",
                    "their names (the class folders) in label order, as a JSON list (a name may hold a comma)",
                ),
                MetricDoc::new(
                    "train_class_counts",
                    "training images of each class used, comma-separated in label order",
                ),
                MetricDoc::new("test_class_counts", "test images of each class used"),
                MetricDoc::new(
                    "images_converted",
                    "images of the folder converted to `data.channels` (grey to RGB or RGB to grey)",
                ),
            ]);
        }
        m.extend([
            MetricDoc::new("labels_changed", "training labels static noise replaced"),
            MetricDoc::new(
                "images_per_second",
                "training images per second of wall time",
            ),
            MetricDoc::new("resumed_at", "the step a resumed cell continued from"),
        ]);
        m
    }

    fn run(spec: &ClassifierCell, cell: &CellContext) -> anyhow::Result<CellOutput> {
        let measure = &spec.measure;
        let checkpointing = Checkpointing {
            dir: cell.dir.path().to_path_buf(),
            resume: cell.resume,
            fingerprint: cell.config_text.to_string(),
        };
        let columns = TRACE_COLUMNS.map(String::from).to_vec();
        let steps = crate::trace::trace_steps(spec.train.steps, spec.train.trace_points);
        let mut live = cell.trace(
            columns,
            steps,
            Box::new(|info| {
                let mut row = loss_row(info);
                row.push(info.batch_accuracy.unwrap_or(f64::NAN));
                row.push(info.eval.map_or(f64::NAN, |e| e.test_accuracy));
                row.push(info.eval.map_or(f64::NAN, |e| e.test_loss));
                row
            }),
        );
        let run = train::classifier::run_watched(spec, Some(&checkpointing), &mut live)?;
        let mut metrics: Metrics = Vec::new();
        let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
        let last = run.evals.last().expect("a final evaluation");
        push("test_accuracy", Metric::Number(last.test_accuracy));
        push("test_loss", Metric::Number(last.test_loss));
        push(
            "train_accuracy",
            Metric::Number(train_accuracy(&run, measure.window)),
        );
        push_loss_rate(&mut metrics, &run.outcome, measure);
        let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
        let finite = run.features.iter().all(|v| v.is_finite());
        let features = finite.then(|| {
            rank(
                &run.features,
                run.samples,
                run.feature_dim,
                measure.rank_rtol,
            )
        });
        push(
            "rank",
            features
                .as_ref()
                .map_or(Metric::Number(f64::NAN), |r| Metric::Integer(r.rank as i64)),
        );
        push(
            "effective_rank",
            Metric::Number(features.as_ref().map_or(f64::NAN, |r| r.effective_rank)),
        );
        push("rank_samples", Metric::Integer(run.samples as i64));
        push("train_images", Metric::Integer(run.train_images as i64));
        push("test_images", Metric::Integer(run.test_images as i64));
        push("feature_dim", Metric::Integer(run.feature_dim as i64));
        // ResNet-18: its convs (the head `fc` left out). MLP: the hidden
        // layers make the overall figure, the head has its own.
        let head = |name: &str| name == "fc" || name == "out";
        let body: Vec<(&str, &[f32])> = run
            .layers
            .iter()
            .filter(|(name, _)| !head(name))
            .map(|(name, w)| (name.as_str(), &w[..]))
            .collect();
        let sparsity = sparsity_report(body, measure.sparsity_atol);
        push("sparsity", Metric::Number(sparsity.overall));
        for (name, value) in &sparsity.per_layer {
            push(&format!("sparsity_{name}"), Metric::Number(*value));
        }
        if let Some((_, out)) = run.layers.iter().find(|(name, _)| name == "out") {
            let head = sparsity_report(vec![("out", &out[..])], measure.sparsity_atol);
            push("sparsity_out", Metric::Number(head.overall));
        }
        if spec.data.dataset == Dataset::ImageFolder {
            let joined = |v: &[usize]| {
                v.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            push("classes", Metric::Integer(run.class_names.len() as i64));
            push(
                "class_names",
                Metric::Text(serde_json::to_string(&run.class_names)?),
            );
            push(
                "train_class_counts",
                Metric::Text(joined(&run.train_counts)),
            );
            push("test_class_counts", Metric::Text(joined(&run.test_counts)));
            push("images_converted", Metric::Integer(run.converted as i64));
        }
        push("labels_changed", Metric::Integer(run.labels_changed as i64));
        push("images_per_second", Metric::Number(run.images_per_second));
        if let Some(step) = run.resumed_at {
            push("resumed_at", Metric::Integer(step as i64));
        }
        Ok(CellOutput {
            status: status_of(&run.outcome),
            metrics,
            trace: Some(trace(&run, spec.train.trace_points)),
            spectrum: None,
            diverged_at: run.outcome.diverged_at.map(|s| s as u64),
        })
    }
}

/// An MLP's layer names, `fc1` … `fck` and `out`.
fn mlp_layer_names(mlp: &train::config::MlpSpec) -> Vec<String> {
    MlpConfig {
        inputs: 1,
        hidden: mlp.hidden.clone(),
        classes: 2,
        activation: mlp.activation,
        bias: mlp.bias,
    }
    .layer_names()
}

/// Accuracy on the training minibatches of the trailing `window` of steps.
fn train_accuracy(run: &ClassifierRun, window: f64) -> f64 {
    let n = run.correct.len();
    let from = n - ((n as f64 * window).ceil() as usize).clamp(1, n.max(1));
    let correct: u64 = run.correct[from..].iter().map(|&c| c as u64).sum();
    correct as f64 / ((n - from) * run.batch_size).max(1) as f64
}

/// `step, loss, log_loss, batch_accuracy, test_accuracy, test_loss`: at most
/// `points` evenly spaced steps plus every evaluation (NaN where a step had
/// none). An evaluation at step s follows s updates, the loss of step s
/// precedes its update.
fn trace(run: &ClassifierRun, points: usize) -> Trace {
    let n = run.outcome.losses.len();
    let mut steps = crate::trace::trace_steps(n, points);
    steps.extend(run.evals.iter().map(|e| e.step).filter(|s| *s < n));
    steps.sort_unstable();
    steps.dedup();
    let mut rows: Vec<Vec<f64>> = steps
        .iter()
        .map(|&t| {
            let loss = run.outcome.losses[t] as f64;
            let eval = run.evals.iter().find(|e| e.step == t);
            vec![
                t as f64,
                loss,
                loss.ln(),
                run.correct[t] as f64 / run.batch_size as f64,
                eval.map_or(f64::NAN, |e| e.test_accuracy),
                eval.map_or(f64::NAN, |e| e.test_loss),
            ]
        })
        .collect();
    // The final evaluation comes after the last update: a row of its own.
    if let Some(e) = run.evals.last().filter(|e| e.step >= n) {
        rows.push(vec![
            e.step as f64,
            f64::NAN,
            f64::NAN,
            f64::NAN,
            e.test_accuracy,
            e.test_loss,
        ]);
    }
    Trace {
        columns: TRACE_COLUMNS.map(String::from).to_vec(),
        rows,
    }
}

/// The columns of a cell's `trace.csv`.
const TRACE_COLUMNS: [&str; 6] = [
    "step",
    "loss",
    "log_loss",
    "batch_accuracy",
    "test_accuracy",
    "test_loss",
];
