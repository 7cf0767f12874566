//! The `neuron` kind (§4.3, Fig. 1a, 5): f(x) = u·σ(w·x) trained on a 1-D
//! dataset; returns the final (w, u), the losses and the data.

use crate::config::{DataTable, LossReduction, ModelTable, OptimizerKind, TrainTable};
use crate::data::{Batch, Source, neuron_points, read_xy_csv};
use crate::device::{Backend, device};
use crate::packed;
use crate::rng::{Stream, rng};
use crate::trainer::{Outcome, TrainError, train};
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

/// The training data of a validated `[data]` table; a relative CSV path is
/// taken from `base` (the config file's directory).
pub fn dataset(data: &DataTable, seed: u64, base: &Path) -> Result<Batch, TrainError> {
    if let (Some(x), Some(y)) = (&data.x, &data.y) {
        return Ok(Batch {
            x: x.iter().map(|v| *v as f32).collect(),
            y: y.iter().map(|v| *v as f32).collect(),
            rows: x.len(),
            dim: 1,
        });
    }
    if let Some(csv) = &data.csv {
        return Ok(read_xy_csv(&base.join(csv))?);
    }
    let (teacher, signal, noise) = generator(data);
    Ok(neuron_points(
        data.n.expect("validated"),
        teacher,
        signal,
        noise,
        &mut rng(seed, Stream::TrainData),
    ))
}

fn generator(data: &DataTable) -> (Activation, f64, f64) {
    (
        data.teacher.expect("validated"),
        data.signal.expect("validated"),
        data.noise_std.expect("validated"),
    )
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
        .map(|(&x, &y)| (u * activation.eval(w * x as f64) - y as f64).powi(2))
        .sum();
    scale * sum / data.rows as f64
}

/// Train a neuron cell: on the CPU by hand ([`train_on_host`]), on wgpu
/// through burn's autodiff.
pub fn run(
    model: &ModelTable,
    data: &DataTable,
    cfg: &TrainTable,
    test_points: usize,
    seed: u64,
    backend: Backend,
    base: &Path,
) -> Result<NeuronRun, TrainError> {
    let train_data = dataset(data, seed, base)?;
    let config = NeuronConfig {
        activation: model.activation,
        w0: model.w0.expect("validated"),
        u0: model.u0.expect("validated"),
    };
    let mut source = Source::fixed(train_data.clone(), seed);
    let ((w, u), outcome) = match backend {
        Backend::Cpu => train_on_host(&config, &mut source, cfg),
        Backend::Wgpu => train_on_burn(&config, &mut source, cfg, backend)?,
    };
    let test_loss = (data.x.is_none() && data.csv.is_none()).then(|| {
        let (teacher, signal, noise) = generator(data);
        let fresh = neuron_points(
            test_points,
            teacher,
            signal,
            noise,
            &mut rng(seed, Stream::TestData),
        );
        host_loss(model.activation, w, u, &fresh, cfg.loss)
    });
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
) -> Result<((f64, f64), Outcome), TrainError> {
    let device = device(backend)?;
    let (net, outcome) = train(config.init(&device), Neuron::forward, source, cfg, &device);
    Ok((net.weights(), outcome))
}

/// The steps of `trainer::train` on a `models::Neuron`, written out for two
/// scalars in f32 (no tensors, no graph): the same batches, loss, divergence
/// rule and SGD or Adam update (crate::adam). Returns the final (w, u).
fn train_on_host(
    config: &NeuronConfig,
    source: &mut Source,
    cfg: &TrainTable,
) -> ((f64, f64), Outcome) {
    let sigma = config.activation;
    // [w, u], their gradients and, for Adam, their moments.
    let mut p = [config.w0 as f32, config.u0 as f32];
    let mut adam = (cfg.optimizer == OptimizerKind::Adam)
        .then(|| (crate::adam::Adam::new(cfg), [0.0f32; 2], [0.0f32; 2]));
    let mut outcome = Outcome {
        losses: Vec::with_capacity(cfg.steps.min(1 << 20)),
        diverged_at: None,
    };
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
            let a = packed::sigma(sigma, z);
            let diff = a * u - y;
            total += (diff as f64) * (diff as f64);
            // ∂L/∂f, then the chain rule to u and w.
            let e = (2.0 * scale * diff as f64) as f32;
            g[1] += e * a;
            g[0] += e * u * packed::sigma_prime(sigma, z, a) * x;
        }
        let value = (total * scale) as f32;
        outcome.losses.push(value);
        if !value.is_finite() || value as f64 > cfg.diverge_above {
            outcome.diverged_at = Some(step);
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
    ((p[0] as f64, p[1] as f64), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Net;

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
            model.validate(Net::Neuron).unwrap();
            let mut data: DataTable =
                toml::from_str("n = 30\nteacher = \"tanh\"\nsignal = 1.0\nnoise_std = 0.5")
                    .unwrap();
            data.validate(Net::Neuron).unwrap();
            let cfg: TrainTable = toml::from_str(&format!("{train}\nsteps = 300")).unwrap();
            cfg.validate(Net::Neuron).unwrap();
            let config = NeuronConfig {
                activation: model.activation,
                w0: model.w0.unwrap(),
                u0: model.u0.unwrap(),
            };
            let points = dataset(&data, 3, Path::new(".")).unwrap();
            let source = || Source::fixed(points.clone(), 3);
            let (host, burn) = (
                train_on_host(&config, &mut source(), &cfg),
                train_on_burn(&config, &mut source(), &cfg, Backend::Cpu).unwrap(),
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
