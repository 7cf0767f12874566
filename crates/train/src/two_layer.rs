//! The `two_layer` kind (§4.4, Fig. 7, 8): a d → h → d net trained on the
//! teacher stream; returns its weights and losses as plain arrays.

use crate::config::{Invalid, MeasureTable, Net, Tables, TeacherData, TrainTable, required};
use crate::data::{Source, Teacher};
use crate::device::{Backend, device};
use crate::init::{linear_bias, linear_weight};
use crate::rng::{Stream, rng};
use crate::trainer::{Outcome, TrainError, loss, tensors, train_observed};
use crate::watch::{Unwatched, Watch};
use models::{TwoLayer, TwoLayerConfig};

/// Points of the fresh test batch behind `test_loss`.
pub const TEST_POINTS: usize = crate::memory::TWO_LAYER_TEST_POINTS;

pub struct TwoLayerRun {
    /// W₁ (out × in = h × d) and W₂ (d × h), row-major, after training.
    pub w1: Vec<f32>,
    pub w2: Vec<f32>,
    pub dim: usize,
    pub hidden: usize,
    pub outcome: Outcome,
    /// Loss on a fresh teacher batch of [`TEST_POINTS`] points (same reduction).
    pub test_loss: f64,
    /// What the cell's [`W2Probe`] measured: (step, values), at the probe's
    /// steps the run reached, W₂ as it was before that step's update.
    pub probed: Vec<(usize, Vec<f64>)>,
}

/// A measurement of W₂ (d × h, row-major) during training, at `steps`
/// (ascending): the caller supplies it (probstab: its singular values), so
/// that training keeps no copies of the weights.
#[derive(Clone, Debug)]
pub struct W2Probe {
    pub steps: Vec<usize>,
    pub measure: fn(&[f32], usize, usize) -> Vec<f64>,
}

impl PartialEq for W2Probe {
    /// Probes with the same steps (the function is the caller's one).
    fn eq(&self, other: &Self) -> bool {
        self.steps == other.steps
    }
}

impl W2Probe {
    /// Measure `w2` when `step` is one of the probe's steps.
    pub fn observe(
        &self,
        step: usize,
        w2: &[f32],
        d: usize,
        h: usize,
        out: &mut Vec<(usize, Vec<f64>)>,
    ) {
        if self.steps.binary_search(&step).is_ok() {
            out.push((step, (self.measure)(w2, d, h)));
        }
    }
}

/// One validated two_layer cell: what training it needs, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoLayerCell {
    pub net: TwoLayerConfig,
    pub data: TeacherData,
    pub train: TrainTable,
    /// The tolerances of its metrics.
    pub measure: MeasureTable,
    /// The initial weights are PyTorch's times this (`model.init_scale`).
    pub init_scale: f64,
    /// A measurement of W₂ during training (none from the tables).
    pub probe: Option<W2Probe>,
    pub seed: u64,
    pub backend: Backend,
}

impl TwoLayerCell {
    /// Validate the tables (filling their defaults) into a cell.
    pub fn from_tables(t: Tables) -> Result<Self, Invalid> {
        let net = t.model.two_layer()?;
        let init_scale = t.model.init_scale()?;
        let data = required(t.data, Net::TwoLayer, "data")?.two_layer()?;
        let train = required(t.train, Net::TwoLayer, "train")?;
        train.validate(Net::TwoLayer)?;
        t.measure.two_layer()?;
        Ok(Self {
            net,
            data,
            train: train.clone(),
            measure: t.measure.clone(),
            init_scale,
            probe: None,
            seed: t.seed,
            backend: t.backend,
        })
    }

    /// The teacher stream of this cell's width.
    pub fn teacher(&self) -> Teacher {
        Teacher {
            dim: self.net.dim,
            mu: self.data.mu,
            noise_std: self.data.noise_std,
        }
    }
}

/// The initial model of a cell: PyTorch's initialisation from the seed.
pub fn initial_model(
    config: &TwoLayerConfig,
    seed: u64,
    device: &burn::tensor::Device,
) -> TwoLayer {
    initial_model_scaled(config, seed, 1.0, device)
}

/// [`initial_model`] with the weights and biases times `scale`.
pub fn initial_model_scaled(
    config: &TwoLayerConfig,
    seed: u64,
    scale: f64,
    device: &burn::tensor::Device,
) -> TwoLayer {
    let [w1, w2, b1, b2] = initial_weights(seed, config.dim, config.hidden, scale);
    config.init_with(device, &w1, &w2, Some((&b1, &b2)))
}

/// W₁ (h × d), W₂ (d × h), b₁, b₂ of a cell, drawn from its seed in this
/// order and times `scale` (× 1 leaves every weight as drawn).
pub fn initial_weights(seed: u64, d: usize, h: usize, scale: f64) -> [Vec<f32>; 4] {
    let mut r = rng(seed, Stream::Init);
    let w1 = linear_weight(&mut r, h, d);
    let w2 = linear_weight(&mut r, d, h);
    let (b1, b2) = (linear_bias(&mut r, h, d), linear_bias(&mut r, d, h));
    let mut all = [w1, w2, b1, b2];
    if scale != 1.0 {
        for w in all.iter_mut().flatten() {
            *w = (*w as f64 * scale) as f32;
        }
    }
    all
}

/// Train one cell through burn's autodiff.
pub fn run(cell: &TwoLayerCell) -> Result<TwoLayerRun, TrainError> {
    run_watched(cell, &mut Unwatched)
}

/// [`run`], reporting each step to `watch`.
pub fn run_watched(cell: &TwoLayerCell, watch: &mut dyn Watch) -> Result<TwoLayerRun, TrainError> {
    let (config, cfg, seed) = (&cell.net, &cell.train, cell.seed);
    let device = device(cell.backend)?;
    let teacher = cell.teacher();
    let mut source = Source::teacher(teacher, cell.data.n, seed);
    let mut probed = Vec::new();
    let (net, outcome) = train_observed(
        initial_model_scaled(config, seed, cell.init_scale, &device),
        TwoLayer::forward,
        &mut source,
        cfg,
        &device,
        |step, net: &TwoLayer| {
            let probe = cell.probe.as_ref()?;
            if probe.steps.binary_search(&step).is_err() {
                return None;
            }
            probe.observe(step, &net.w2().0, config.dim, config.hidden, &mut probed);
            probed.last().map(|(_, values)| values.clone())
        },
        watch,
    );
    let (x, y) = tensors(
        teacher.draw(&mut rng(seed, Stream::TestData), TEST_POINTS),
        &device,
    );
    let test_loss = loss(net.forward(x), y, cfg.loss).into_scalar::<f32>() as f64;
    Ok(TwoLayerRun {
        w1: net.w1().0,
        w2: net.w2().0,
        dim: config.dim,
        hidden: config.hidden,
        outcome,
        test_loss,
        probed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DataTable, LossReduction, ModelTable, OptimizerKind};
    use models::Activation;

    fn tables(
        activation: Activation,
        optimizer: OptimizerKind,
        lr: f64,
        steps: usize,
    ) -> TwoLayerCell {
        let mut model = ModelTable {
            activation,
            dim: Some(8),
            hidden: Some(8),
            ..ModelTable::default()
        };
        let mut data = DataTable {
            mu: Some(1.0),
            ..DataTable::default()
        };
        let train: TrainTable = toml::from_str(&format!(
            "lr = {lr}\nsteps = {steps}\nbatch_size = 16\noptimizer = \"{}\"",
            match optimizer {
                OptimizerKind::Sgd => "sgd",
                OptimizerKind::Adam => "adam",
            }
        ))
        .unwrap();
        assert_eq!(train.loss, LossReduction::Mean);
        TwoLayerCell::from_tables(crate::config::Tables {
            model: &mut model,
            data: Some(&mut data),
            train: Some(&train),
            measure: &mut MeasureTable::default(),
            seed: 0,
            backend: Backend::Cpu,
        })
        .unwrap()
    }

    #[test]
    fn sgd_and_adam_learn_the_noiseless_teacher() {
        for (optimizer, lr) in [(OptimizerKind::Sgd, 0.5), (OptimizerKind::Adam, 0.01)] {
            let cell = tables(Activation::Linear, optimizer, lr, 400);
            let run = run(&TwoLayerCell { seed: 3, ..cell }).unwrap();
            assert_eq!(run.outcome.diverged_at, None);
            let first: f32 = run.outcome.losses[..20].iter().sum::<f32>() / 20.0;
            assert!(
                run.test_loss < 0.1 * first as f64,
                "{optimizer:?}: {first} → {}",
                run.test_loss
            );
            assert_eq!((run.w1.len(), run.w2.len()), (64, 64));
        }
    }

    #[test]
    fn same_seed_same_numbers_and_divergence_is_a_result() {
        let cell = TwoLayerCell {
            seed: 9,
            ..tables(Activation::Tanh, OptimizerKind::Sgd, 0.1, 30)
        };
        let a = run(&cell).unwrap();
        let b = run(&cell).unwrap();
        assert_eq!(a.outcome, b.outcome);
        assert_eq!(a.w2, b.w2);
        let cell = TwoLayerCell {
            seed: 9,
            ..tables(Activation::Linear, OptimizerKind::Sgd, 50.0, 100)
        };
        let blown = run(&cell).unwrap();
        let at = blown.outcome.diverged_at.expect("λ = 50 diverges");
        assert_eq!(blown.outcome.losses.len(), at + 1);
    }
}
