//! The `neuron` kind (§4.3, Fig. 1a, 5): f(x) = u·σ(w·x) trained on a 1-D
//! dataset; returns the final (w, u), the losses and the data.

use crate::config::{
    Invalid, LossReduction, MeasureTable, Net, NeuronData, OptimizerKind, Tables, TrainTable,
    required,
};
use crate::data::{Batch, Source, neuron_points, read_xy_csv};
use crate::device::{Backend, device};
use crate::rng::{Stream, rng};
use crate::trainer::{Outcome, TrainError, train_observed};
use crate::watch::{StepInfo, Unwatched, Watch};
use models::{Activation, Neuron, NeuronConfig};
use std::path::Path;

pub struct NeuronRun {
    pub w: f64,
    pub u: f64,
    pub outcome: Outcome,
    /// The training data.
    pub data: Batch,
    /// Loss on fresh data from the same generator; None for inline or CSV data.
    pub test_loss: Option<f64>,
}

/// One validated neuron cell: what training it needs, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronCell {
    pub net: NeuronConfig,
    pub data: NeuronData,
    pub train: TrainTable,
    /// The tolerances of its metrics.
    pub measure: MeasureTable,
    /// Fresh points behind `test_loss` (generated data only).
    pub test_points: usize,
    pub seed: u64,
    pub backend: Backend,
}

impl NeuronCell {
    /// Validate the tables (filling their defaults) into a cell.
    pub fn from_tables(t: Tables) -> Result<Self, Invalid> {
        let net = t.model.neuron()?;
        let data = required(t.data, Net::Neuron, "data")?.neuron()?;
        let train = required(t.train, Net::Neuron, "train")?;
        train.validate(Net::Neuron)?;
        let test_points = t.measure.neuron()?;
        Ok(Self {
            net,
            data,
            train: train.clone(),
            measure: t.measure.clone(),
            test_points,
            seed: t.seed,
            backend: t.backend,
        })
    }
}

/// The training data of a cell; a CSV path is read as given (the
/// experiment makes it absolute, from the config file's directory).
pub fn dataset(data: &NeuronData, seed: u64) -> Result<Batch, TrainError> {
    match data {
        NeuronData::Inline { x, y } => Ok(Batch {
            x: x.iter().map(|v| *v as f32).collect(),
            y: y.iter().map(|v| *v as f32).collect(),
            rows: x.len(),
            dim: 1,
        }),
        NeuronData::Csv(csv) => Ok(read_xy_csv(&Path::new(".").join(csv))?),
        NeuronData::Generated(g) => Ok(neuron_points(
            g.n,
            g.teacher,
            g.signal,
            g.noise_std,
            &mut rng(seed, Stream::TrainData),
        )),
    }
}

/// `c · mean (u σ(w x) − y)²`: c = 1 for `Mean`, ½ for `HalfSum` (one output).
pub fn host_loss(
    activation: Activation,
    w: f64,
    u: f64,
    data: &Batch,
    reduction: LossReduction,
) -> f64 {
    let scale = match reduction {
        LossReduction::Mean => 1.0,
        LossReduction::HalfSum => 0.5,
    };
    let sum: f64 = data
        .x
        .iter()
        .zip(&data.y)
        .map(|(&x, &y)| (u * activation.sigma(w * x as f64) - y as f64).powi(2))
        .sum();
    scale * sum / data.rows as f64
}

/// Train a neuron cell: on the CPU by hand ([`train_on_host`]), on wgpu
/// through burn's autodiff.
pub fn run(cell: &NeuronCell) -> Result<NeuronRun, TrainError> {
    run_watched(cell, &mut Unwatched)
}

/// [`run`], reporting each step to `watch`.
pub fn run_watched(cell: &NeuronCell, watch: &mut dyn Watch) -> Result<NeuronRun, TrainError> {
    let (config, cfg, seed) = (&cell.net, &cell.train, cell.seed);
    let train_data = dataset(&cell.data, seed)?;
    let mut source = Source::fixed(train_data.clone(), seed);
    let ((w, u), outcome) = match cell.backend {
        Backend::Cpu => train_on_host(config, &mut source, cfg, watch),
        Backend::Wgpu => train_on_burn(config, &mut source, cfg, cell.backend, watch)?,
    };
    let test_loss = match &cell.data {
        NeuronData::Generated(g) => {
            let fresh = neuron_points(
                cell.test_points,
                g.teacher,
                g.signal,
                g.noise_std,
                &mut rng(seed, Stream::TestData),
            );
            Some(host_loss(config.activation, w, u, &fresh, cfg.loss))
        }
        NeuronData::Inline { .. } | NeuronData::Csv(_) => None,
    };
    Ok(NeuronRun {
        w,
        u,
        outcome,
        data: train_data,
        test_loss,
    })
}

/// `trainer::train` on a `models::Neuron` through burn's autodiff on
/// `backend`. Returns the final (w, u).
fn train_on_burn(
    config: &NeuronConfig,
    source: &mut Source,
    cfg: &TrainTable,
    backend: Backend,
    watch: &mut dyn Watch,
) -> Result<((f64, f64), Outcome), TrainError> {
    let device = device(backend)?;
    let (net, outcome) = train_observed(
        config.init(&device),
        Neuron::forward,
        source,
        cfg,
        &device,
        |_, _| None,
        watch,
    );
    Ok((net.weights(), outcome))
}

/// The steps of `trainer::train` on a `models::Neuron`, written out for two
/// scalars in f32 (no tensors, no graph): the same batches, loss, divergence
/// rule and SGD or Adam update (crate::adam). Returns the final (w, u).
fn train_on_host(
    config: &NeuronConfig,
    source: &mut Source,
    cfg: &TrainTable,
    watch: &mut dyn Watch,
) -> ((f64, f64), Outcome) {
    let sigma = config.activation;
    // [w, u], their gradients and, for Adam, their moments.
    let mut p = [config.w0 as f32, config.u0 as f32];
    let mut adam = (cfg.optimizer == OptimizerKind::Adam)
        .then(|| (crate::adam::Adam::new(cfg), [0.0f32; 2], [0.0f32; 2]));
    let mut outcome = Outcome::with_capacity(cfg.steps);
    watch.start(0, cfg.steps);
    for step in 0..cfg.steps {
        let batch = source.next_batch(cfg.batch_size);
        // As trainer::loss: a mean over the rows (one output each).
        let scale = match cfg.loss {
            LossReduction::Mean => 1.0 / batch.rows as f64,
            LossReduction::HalfSum => 0.5 / batch.rows as f64,
        };
        let [w, u] = p;
        let (mut total, mut g) = (0.0f64, [0.0f32; 2]);
        for (&x, &y) in batch.x.iter().zip(&batch.y) {
            let z = x * w;
            let a = sigma.sigma(z);
            let diff = a * u - y;
            total += (diff as f64) * (diff as f64);
            // ∂L/∂f, then the chain rule to u and w.
            let e = (2.0 * scale * diff as f64) as f32;
            g[1] += e * a;
            g[0] += e * u * sigma.sigma_prime(z, a) * x;
        }
        let value = (total * scale) as f32;
        watch.step(&StepInfo {
            step,
            loss: value,
            ..StepInfo::default()
        });
        if outcome.record(step, value, cfg.diverge_above) {
            break;
        }
        match &mut adam {
            None => {
                let lr = cfg.lr as f32;
                p[0] -= g[0] * lr;
                p[1] -= g[1] * lr;
            }
            Some((coefficients, m, v)) => coefficients.next_step(cfg.lr).update(&mut p, &g, m, v),
        }
    }
    watch.sync();
    ((p[0] as f64, p[1] as f64), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DataTable, ModelTable};

    /// The hand-written CPU path against burn's autodiff and optimizers on
    /// the CPU, for every neuron activation, both optimizers and losses, batch
    /// sizes, and a cell that diverges.
    #[test]
    fn the_host_neuron_matches_burn_step_by_step() {
        let cases = [
            ("tanh", "lr = 0.5\nloss = \"half_sum\""),
            ("linear", "lr = 0.05\nbatch_size = 4"),
            ("linear", "lr = 0.3\nbatch_size = 2\nloss = \"half_sum\""),
            ("swish", "lr = 0.2"),
            ("tanh", "lr = 0.05\noptimizer = \"adam\"\nbatch_size = 3"),
            (
                "swish",
                "lr = 0.02\noptimizer = \"adam\"\nbeta1 = 0.5\nbeta2 = 0.99\nadam_eps = 1e-4",
            ),
            ("linear", "lr = 30.0"),
        ];
        for (activation, train) in cases {
            let mut model: ModelTable = toml::from_str(&format!(
                "activation = \"{activation}\"\nw0 = 0.6\nu0 = -0.4"
            ))
            .unwrap();
            let mut data: DataTable =
                toml::from_str("n = 30\nteacher = \"tanh\"\nsignal = 1.0\nnoise_std = 0.5")
                    .unwrap();
            let cfg: TrainTable = toml::from_str(&format!("{train}\nsteps = 300")).unwrap();
            let cell = NeuronCell::from_tables(crate::config::Tables {
                model: &mut model,
                data: Some(&mut data),
                train: Some(&cfg),
                measure: &mut MeasureTable::default(),
                seed: 3,
                backend: Backend::Cpu,
            })
            .unwrap();
            let config = cell.net;
            let points = dataset(&cell.data, 3).unwrap();
            let source = || Source::fixed(points.clone(), 3);
            let (host, burn) = (
                train_on_host(&config, &mut source(), &cfg, &mut Unwatched),
                train_on_burn(&config, &mut source(), &cfg, Backend::Cpu, &mut Unwatched).unwrap(),
            );
            let (((host_w, host_u), host), ((burn_w, burn_u), burn)) = (host, burn);
            let what = format!("{activation} / {train}");
            assert_eq!(host.diverged_at, burn.diverged_at, "{what}");
            assert_eq!(host.losses.len(), burn.losses.len(), "{what}");
            for (i, (a, b)) in host.losses.iter().zip(&burn.losses).enumerate() {
                if a.is_finite() || b.is_finite() {
                    assert!(
                        (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1e-6),
                        "{what}: loss {i}: host {a}, burn {b}"
                    );
                }
            }
            for (name, a, b) in [("w", host_w, burn_w), ("u", host_u, burn_u)] {
                assert!(
                    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-3),
                    "{what}: {name}: host {a}, burn {b}"
                );
            }
            if train.contains("30.0") {
                assert!(host.diverged_at.is_some(), "{what}: λ = 30 diverges");
            }
        }
    }
}
