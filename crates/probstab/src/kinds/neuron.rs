//! `neuron`: a single neuron f(x) = u·σ(w·x) on 1-D data (§4.3, Fig. 1a,
//! 5): where SGD ends, and which stationary point of the full-data loss
//! (minima A, B, the saddle C at the origin) it ends nearest.

use super::report::{live_loss_trace, loss_rate_docs, tables, training_output};
use crate::config::{Config, Invalid};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::{Metric, Metrics};
use analysis::landscape::{NeuronLandscape, PointKind, StationaryPoint, nearest};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use train::config::{LossReduction, Net};
use train::neuron::NeuronCell;

pub struct Neuron;

/// A run ended "at" a stationary point when it is closer than this (in (w, u)).
pub const AT_POINT: f64 = 0.05;
/// Stationary points are searched in [−LANDSCAPE_BOUND, LANDSCAPE_BOUND]².
pub const LANDSCAPE_BOUND: f64 = 5.0;

impl Kind for Neuron {
    type Spec = NeuronCell;
    const NAME: &'static str = Net::Neuron.kind();
    const ABOUT: &'static str = "Fig. 1a, 5: a single neuron u·σ(w·x) (linear, tanh, swish) on generated, inline or CSV 1-D data; where SGD ends and the stationary point it ends nearest.";
    const TABLES: &'static [&'static str] = &["model", "data", "train", "measure"];
    const TRAINS: bool = true;
    const EXAMPLE: &'static str = "[model]\nactivation = \"tanh\"\nw0 = 0.5\nu0 = 0.5\n\n[data]\nn = 50\n\n[train]\nlr = 0.1\nsteps = 100\n";
    const TRACE: &'static str = "`step`, `loss` (the minibatch loss before that step's update), `log_loss`; at most `train.trace_points` rows.";

    fn spec(config: &mut Config) -> Result<NeuronCell, Invalid> {
        NeuronCell::from_tables(tables(config, false))
    }

    fn metrics(_: &NeuronCell) -> Vec<MetricDoc> {
        let mut m = vec![
            MetricDoc::new("w", "final w"),
            MetricDoc::new("u", "final u"),
            MetricDoc::new("final_loss", "full-data loss at the final (w, u)"),
            MetricDoc::new(
                "test_loss",
                "loss on `measure.test_points` fresh points (generated data; NaN otherwise)",
            ),
            MetricDoc::new(
                "stationary_points",
                "every stationary point of the full-data loss, with its largest Hessian eigenvalue h",
            ),
            MetricDoc::new(
                "nearest",
                "the kind of stationary point the run ended nearest",
            ),
            MetricDoc::new("nearest_w", "its w"),
            MetricDoc::new("nearest_u", "its u"),
            MetricDoc::new(
                "nearest_distance",
                "distance in (w, u) from the run's end to it",
            ),
            MetricDoc::new("at_saddle", "the run ended within 0.05 of a saddle"),
        ];
        m.extend(loss_rate_docs());
        m
    }

    fn run(spec: &NeuronCell, context: &CellContext) -> anyhow::Result<CellOutput> {
        let cell = spec;
        let mut live = live_loss_trace(context, &cell.train, Vec::new(), |_, _| {});
        let run = train::neuron::run_watched(cell, &mut live)?;
        let mut metrics: Metrics = Vec::new();
        if run.outcome.diverged_at.is_none() {
            let (x, y): (Vec<f64>, Vec<f64>) = run
                .data
                .x
                .iter()
                .zip(&run.data.y)
                .map(|(x, y)| (*x as f64, *y as f64))
                .unzip();
            let scale = match cell.train.loss {
                LossReduction::Mean => 1.0,
                LossReduction::HalfSum => 0.5,
            };
            let landscape = NeuronLandscape {
                sigma: cell.net.activation,
                x: &x,
                y: &y,
                scale,
            };
            let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
            push("w", Metric::Number(run.w));
            push("u", Metric::Number(run.u));
            push("final_loss", Metric::Number(landscape.loss(run.w, run.u)));
            push(
                "test_loss",
                Metric::Number(run.test_loss.unwrap_or(f64::NAN)),
            );
            // Fig. 5's A, B and C: every stationary point with its largest Hessian eigenvalue.
            let points = stationary_points(&landscape);
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
        Ok(training_output(
            metrics,
            run.outcome,
            &cell.train,
            &spec.measure,
        ))
    }
}

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
