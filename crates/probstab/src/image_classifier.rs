//! Metrics of the `image_classifier` kind (Fig. 1c, 9–12): test accuracy,
//! the rank of the penultimate features, per-layer sparsity, m_L.

use crate::config::Config;
use crate::kinds::{CellContext, CellOutput, Trace, push_loss_rate};
use crate::record::{Metric, Metrics, Status};
use analysis::rank::rank;
use analysis::sparsity::sparsity_report;
use train::checkpoint::Checkpointing;
use train::classifier::ClassifierRun;

pub fn run(config: &Config, cell: &CellContext) -> anyhow::Result<CellOutput> {
    let (model, data, train, measure) = (
        config.model.as_ref().expect("validated"),
        config.data.as_ref().expect("validated"),
        config.train.as_ref().expect("validated"),
        config.measure.as_ref().expect("validated"),
    );
    let checkpointing = Checkpointing {
        dir: cell.dir.to_path_buf(),
        resume: cell.resume,
        fingerprint: cell.config_text.to_string(),
    };
    let run = train::classifier::run(
        model,
        data,
        train,
        measure,
        config.seed,
        config.backend,
        Some(&checkpointing),
    )?;
    let mut metrics: Metrics = Vec::new();
    let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
    let last = run.evals.last().expect("a final evaluation");
    push("test_accuracy", Metric::Number(last.test_accuracy));
    push("test_loss", Metric::Number(last.test_loss));
    push(
        "train_accuracy",
        Metric::Number(train_accuracy(&run, measure.window)),
    );
    push_loss_rate(&mut push, &run.outcome, measure);
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
    let convs: Vec<(&str, &[f32])> = run
        .layers
        .iter()
        .filter(|(name, _)| name != "fc")
        .map(|(name, w)| (name.as_str(), &w[..]))
        .collect();
    let sparsity = sparsity_report(convs, measure.sparsity_atol);
    push("sparsity", Metric::Number(sparsity.overall));
    for (name, value) in &sparsity.per_layer {
        push(&format!("sparsity_{name}"), Metric::Number(*value));
    }
    push("labels_changed", Metric::Integer(run.labels_changed as i64));
    push("images_per_second", Metric::Number(run.images_per_second));
    if let Some(step) = run.resumed_at {
        push("resumed_at", Metric::Integer(step as i64));
    }
    let status = if run.outcome.diverged_at.is_some() {
        Status::Diverged
    } else {
        Status::Ok
    };
    Ok(CellOutput {
        status,
        metrics,
        trace: Some(trace(&run, train.trace_points)),
        diverged_at: run.outcome.diverged_at.map(|s| s as u64),
    })
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
        columns: [
            "step",
            "loss",
            "log_loss",
            "batch_accuracy",
            "test_accuracy",
            "test_loss",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}
