//! What one cell computes, by `kind`: the theory and simulation kinds call
//! into `analysis` and report metrics (and a trace for simulations).

use crate::config::{Backend, ChiKind, Config, Kind, RegressionConfig, SaddleConfig};
use crate::record::{Metric, Metrics, Status};
use analysis::Estimate;
use analysis::landscape::{NeuronLandscape, PointKind, Sigma, StationaryPoint, nearest};
use analysis::loss_rate::loss_rate;
use analysis::rank::rank;
use analysis::regression::{outlier_dataset, regression_theory};
use analysis::saddle::{Chi, saddle_theory};
use analysis::simulate::{SimSettings, TraceRow, simulate_regression, simulate_saddle};
use analysis::sparsity::sparsity_report;
use analysis::teacher::Teacher;
use models::Activation;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use train::config::{LossReduction, MeasureTable, TrainTable};
use train::packed::PackedCell;
use train::trainer::{Outcome, TrainError};
use train::two_layer::TwoLayerRun;

pub use crate::trace::Trace;
use crate::trace::loss_trace;

/// A finished cell's results.
pub struct CellOutput {
    pub status: Status,
    pub metrics: Metrics,
    pub trace: Option<Trace>,
    pub diverged_at: Option<u64>,
}

/// Where a cell runs: its directory (for checkpoints), whether to resume
/// from one, and its config text (a checkpoint of another config is not
/// resumed).
pub struct CellContext<'a> {
    pub dir: &'a std::path::Path,
    pub resume: bool,
    pub config_text: &'a str,
}

/// Run one validated cell.
pub fn run(config: &Config, cell: &CellContext) -> anyhow::Result<CellOutput> {
    let seed = config.seed;
    let sim = config.sim.clone().unwrap_or_default();
    let settings = SimSettings {
        trajectories: sim.trajectories,
        steps: sim.steps,
        eps: sim.eps,
        trace_points: sim.trace_points,
        trace_samples: sim.trace_samples,
        seed,
    };
    let mut metrics: Metrics = Vec::new();
    let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
    let mut trace = None;
    match config.kind {
        Kind::RegressionTheory => {
            let r = config.regression.as_ref().expect("validated");
            let t = regression_theory(&regression_data(r, seed), r.lr, r.batch_size, seed);
            push_estimate(&mut push, "m", t.m);
            push("stable", Metric::Bool(t.stable));
            push("lambda_gd", Metric::Number(t.lambda_gd));
            push("lambda_ds", Metric::Number(t.lambda_ds));
            push("lambda_ss", Metric::Number(t.lambda_ss));
        }
        Kind::SaddleTheory => {
            let s = config.saddle.as_ref().expect("validated");
            let t = saddle_theory(&chi(s, seed), s.lr, s.batch_size, seed);
            push_estimate(&mut push, "m_minus", t.m_minus);
            push_estimate(&mut push, "m_plus", t.m_plus);
            push("ms_minus", Metric::Number(t.ms_minus));
            push("ms_plus", Metric::Number(t.ms_plus));
            push("phase", Metric::Text(t.phase.to_string()));
        }
        Kind::RegressionSim => {
            let r = config.regression.as_ref().expect("validated");
            let s = simulate_regression(&regression_data(r, seed), r.lr, r.batch_size, &settings);
            push("frac_converged", Metric::Number(s.frac_converged));
            push_estimate(&mut push, "m_rate", s.m_rate);
            trace = Some(trace_of(&s.trace, settings.trace_samples));
        }
        Kind::SaddleSim => {
            let c = config.saddle.as_ref().expect("validated");
            let s = simulate_saddle(&chi(c, seed), c.lr, c.batch_size, &settings);
            push("frac_converged", Metric::Number(s.frac_converged));
            push("frac_minus", Metric::Number(s.frac_minus));
            push("frac_plus", Metric::Number(s.frac_plus));
            push_estimate(&mut push, "m_rate", s.m_rate);
            push_estimate(&mut push, "m_rate_minus", s.m_rate_minus);
            push_estimate(&mut push, "m_rate_plus", s.m_rate_plus);
            push("ms_minus", Metric::Number(s.ms_minus.value));
            push("phase", Metric::Text(s.phase.to_string()));
            trace = Some(trace_of(&s.trace, settings.trace_samples));
        }
        Kind::TwoLayer | Kind::Neuron => return run_training(config),
        Kind::ImageClassifier => return crate::image_classifier::run(config, cell),
    }
    Ok(CellOutput {
        status: Status::Ok,
        metrics,
        trace,
        diverged_at: None,
    })
}

/// Run a training kind: `two_layer` or `neuron`.
pub fn run_training(config: &Config) -> anyhow::Result<CellOutput> {
    let (model, data, train, measure) = (
        config.model.as_ref().expect("validated"),
        config.data.as_ref().expect("validated"),
        config.train.as_ref().expect("validated"),
        config.measure.as_ref().expect("validated"),
    );
    let mut metrics: Metrics = Vec::new();
    let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
    let outcome = match config.kind {
        Kind::TwoLayer => {
            let run = train::two_layer::run(model, data, train, config.seed, config.backend)?;
            push_two_layer(&mut push, &run, measure);
            run.outcome
        }
        Kind::Neuron => {
            let run = train::neuron::run(
                model,
                data,
                train,
                measure.test_points.expect("validated"),
                config.seed,
                config.backend,
                std::path::Path::new("."),
            )?;
            if run.outcome.diverged_at.is_none() {
                let (x, y): (Vec<f64>, Vec<f64>) = run
                    .data
                    .x
                    .iter()
                    .zip(&run.data.y)
                    .map(|(x, y)| (*x as f64, *y as f64))
                    .unzip();
                let scale = match train.loss {
                    LossReduction::Mean => 1.0,
                    LossReduction::HalfSum => 0.5,
                };
                let landscape = NeuronLandscape {
                    sigma: sigma(model.activation),
                    x: &x,
                    y: &y,
                    scale,
                };
                push("w", Metric::Number(run.w));
                push("u", Metric::Number(run.u));
                push("final_loss", Metric::Number(landscape.loss(run.w, run.u)));
                push(
                    "test_loss",
                    Metric::Number(run.test_loss.unwrap_or(f64::NAN)),
                );
                // Which stationary point of the full-data loss it ended nearest (Fig. 5: A, B, saddle C).
                let points = stationary_points(&landscape);
                // Fig. 5's A, B and C: every stationary point with its largest Hessian eigenvalue.
                let listing: Vec<String> = points
                    .iter()
                    .map(|p| {
                        format!(
                            "{}({:.4},{:.4};h={:.4})",
                            p.kind.name(),
                            p.w,
                            p.u,
                            p.eigenvalues[1]
                        )
                    })
                    .collect();
                push("stationary_points", Metric::Text(listing.join(" ")));
                if let Some((point, distance)) = nearest(&points, run.w, run.u) {
                    push("nearest", Metric::Text(point.kind.name().to_string()));
                    push("nearest_w", Metric::Number(point.w));
                    push("nearest_u", Metric::Number(point.u));
                    push("nearest_distance", Metric::Number(distance));
                    push(
                        "at_saddle",
                        Metric::Bool(point.kind == PointKind::Saddle && distance < AT_POINT),
                    );
                }
            }
            run.outcome
        }
        _ => unreachable!("run_training is called for training kinds"),
    };
    Ok(training_output(metrics, outcome, train, measure))
}

/// Train `two_layer` cells that share a pack key as one packed model
/// (`train::packed`): one output per config, in order.
pub fn run_two_layer_pack(configs: &[&Config]) -> Result<Vec<CellOutput>, TrainError> {
    let cells: Vec<PackedCell> = configs.iter().map(|c| packed_cell(c)).collect();
    let runs = match configs.first().map(|c| c.backend) {
        Some(Backend::Wgpu) => {
            train::packed_device::run_packed_on(&cells, &train::device(Backend::Wgpu)?)
        }
        _ => train::packed::run_packed(&cells),
    };
    Ok(runs
        .into_iter()
        .zip(configs)
        .map(|(run, config)| {
            let (train, measure) = (
                config.train.as_ref().expect("validated"),
                config.measure.as_ref().expect("validated"),
            );
            let mut metrics: Metrics = Vec::new();
            push_two_layer(
                &mut |name: &str, value: Metric| metrics.push((name.to_string(), value)),
                &run,
                measure,
            );
            training_output(metrics, run.outcome, train, measure)
        })
        .collect())
}

/// The pack a cell can join (cells with equal keys train together), or None
/// where it trains alone: kinds other than two_layer. The backend is part of
/// the key: on the CPU a pack is train::packed, on wgpu train::packed_device.
pub fn pack_key(config: &Config) -> Option<String> {
    (config.kind == Kind::TwoLayer).then(|| {
        format!(
            "{:?}|{}",
            config.backend,
            train::packed::pack_key(&packed_cell(config))
        )
    })
}

fn packed_cell(config: &Config) -> PackedCell<'_> {
    PackedCell {
        model: config.model.as_ref().expect("validated"),
        data: config.data.as_ref().expect("validated"),
        train: config.train.as_ref().expect("validated"),
        seed: config.seed,
    }
}

/// Ranks, sparsity and test loss of a trained two_layer net.
fn push_two_layer(push: &mut impl FnMut(&str, Metric), run: &TwoLayerRun, measure: &MeasureTable) {
    if run.outcome.diverged_at.is_some() {
        return;
    }
    let w2 = rank(&run.w2, run.dim, run.hidden, measure.rank_rtol);
    let w1 = rank(&run.w1, run.hidden, run.dim, measure.rank_rtol);
    push("rank_w2", Metric::Integer(w2.rank as i64));
    push("rank_w1", Metric::Integer(w1.rank as i64));
    push("effective_rank_w2", Metric::Number(w2.effective_rank));
    let sparsity = sparsity_report(
        [("w1", &run.w1[..]), ("w2", &run.w2[..])],
        measure.sparsity_atol,
    );
    push("sparsity", Metric::Number(sparsity.overall));
    push("final_loss", Metric::Number(run.test_loss));
}

/// m_L, status and the loss trace of a training cell.
fn training_output(
    mut metrics: Metrics,
    outcome: Outcome,
    train: &TrainTable,
    measure: &MeasureTable,
) -> CellOutput {
    push_loss_rate(
        &mut |name: &str, value: Metric| metrics.push((name.to_string(), value)),
        &outcome,
        measure,
    );
    let status = if outcome.diverged_at.is_some() {
        Status::Diverged
    } else {
        Status::Ok
    };
    let trace = loss_trace(&outcome, train.trace_points);
    CellOutput {
        status,
        metrics,
        trace: Some(trace),
        diverged_at: outcome.diverged_at.map(|s| s as u64),
    }
}

/// A run ended "at" a stationary point when it is closer than this (in (w, u)).
pub const AT_POINT: f64 = 0.05;
/// Stationary points are searched in [−LANDSCAPE_BOUND, LANDSCAPE_BOUND]².
pub const LANDSCAPE_BOUND: f64 = 5.0;

/// The stationary points of a landscape, computed once per dataset: the
/// cells of a λ sweep share their data, and the search costs far more than
/// training a neuron.
fn stationary_points(landscape: &NeuronLandscape) -> Vec<StationaryPoint> {
    static CACHE: Mutex<Vec<(u64, Vec<StationaryPoint>)>> = Mutex::new(Vec::new());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (format!("{:?}", landscape.sigma), landscape.scale.to_bits()).hash(&mut hasher);
    landscape
        .x
        .iter()
        .chain(landscape.y)
        .for_each(|v| v.to_bits().hash(&mut hasher));
    let key = hasher.finish();
    if let Some((_, points)) = CACHE
        .lock()
        .expect("cache lock")
        .iter()
        .find(|(k, _)| *k == key)
    {
        return points.clone();
    }
    let points = landscape.stationary_points(LANDSCAPE_BOUND, 11);
    let mut cache = CACHE.lock().expect("cache lock");
    if cache.len() >= 64 {
        cache.remove(0);
    }
    cache.push((key, points.clone()));
    points
}

fn sigma(activation: Activation) -> Sigma {
    match activation {
        Activation::Linear => Sigma::Linear,
        Activation::Tanh => Sigma::Tanh,
        Activation::Swish => Sigma::Swish,
        Activation::Relu => unreachable!("validated: a neuron has no relu"),
    }
}

/// m_L, e^{m_L} and the slope of ln L over the trailing window (Eq. 10, 12).
pub fn push_loss_rate(
    push: &mut impl FnMut(&str, Metric),
    outcome: &Outcome,
    measure: &MeasureTable,
) {
    let points: Vec<(f64, f64)> = outcome
        .losses
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(t, l)| (t as f64, (*l as f64).ln()))
        .collect();
    let rate = loss_rate(&points, measure.window);
    push("m_l", Metric::Number(rate.m_l));
    push("robust_loss", Metric::Number(rate.robust_loss));
    push("lyapunov_slope", Metric::Number(rate.slope));
}

/// `name` and `name_err` (0 when exact).
fn push_estimate(push: &mut impl FnMut(&str, Metric), name: &str, e: Estimate) {
    push(name, Metric::Number(e.value));
    push(&format!("{name}_err"), Metric::Number(e.err));
}

fn regression_data(r: &RegressionConfig, seed: u64) -> Vec<f64> {
    match (&r.x, r.n, r.outlier) {
        (Some(x), _, _) => x.clone(),
        (None, Some(n), Some(outlier)) => outlier_dataset(n, outlier, seed),
        _ => unreachable!("validated: x, or n with outlier"),
    }
}

fn chi(s: &SaddleConfig, seed: u64) -> Chi {
    match s.chi {
        ChiKind::Bernoulli => Chi::bernoulli(s.a.expect("validated")),
        ChiKind::Teacher => {
            let teacher = Teacher {
                mu: s.mu.expect("validated"),
                noise_std: s.noise_std.expect("resolved by validate"),
            };
            Chi::teacher(teacher, s.n.unwrap_or(0), seed)
        }
    }
}

/// Fig. 6 columns: step, m(t), e^{2m}, ⟨|w − w*|²⟩, fraction within eps,
/// then single trajectories `sample_k` (|w_t − w*|²).
fn trace_of(rows: &[TraceRow], samples: usize) -> Trace {
    let mut columns: Vec<String> = ["step", "m", "exp_2m", "mean_sq", "frac_within_eps"]
        .map(String::from)
        .to_vec();
    let samples = samples.min(rows.first().map_or(0, |r| r.samples.len()));
    columns.extend((0..samples).map(|k| format!("sample_{k}")));
    let rows = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.step as f64, r.m, r.exp_2m, r.mean_sq, r.frac_within_eps];
            row.extend(r.samples.iter().take(samples));
            row
        })
        .collect();
    Trace { columns, rows }
}
