//! The `neuron` kind (§4.3, Fig. 1a, 5): f(x) = u·σ(w·x) trained on a 1-D
//! dataset; returns the final (w, u), the losses and the data.

use crate::config::{DataTable, LossReduction, ModelTable, TrainTable};
use crate::data::{Batch, Source, neuron_points, read_xy_csv};
use crate::device::{Backend, device};
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

pub fn run(
    model: &ModelTable,
    data: &DataTable,
    cfg: &TrainTable,
    test_points: usize,
    seed: u64,
    backend: Backend,
    base: &Path,
) -> Result<NeuronRun, TrainError> {
    let device = device(backend)?;
    let train_data = dataset(data, seed, base)?;
    let config = NeuronConfig {
        activation: model.activation,
        w0: model.w0.expect("validated"),
        u0: model.u0.expect("validated"),
    };
    let mut source = Source::fixed(train_data.clone(), seed);
    let (net, outcome) = train(
        config.init(&device),
        Neuron::forward,
        &mut source,
        cfg,
        &device,
    );
    let (w, u) = net.weights();
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
