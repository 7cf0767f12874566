//! The training loop (STYLE.md: forward, loss, backward, optimizer step, and
//! nothing hidden), shared by every kind that trains.
//!
//! The loss recorded at step t is the minibatch loss before step t's update.
//! A non-finite loss, or one above `diverge_above`, stops the run before the
//! update: divergence is a result (`diverged_at`), not a crash.

use crate::config::{LossReduction, OptimizerKind, TrainTable};
use crate::data::{Batch, Source};
use crate::watch::{StepInfo, Unwatched, Watch};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Images(#[from] crate::images::ImageDataError),
    #[error(transparent)]
    Memory(#[from] crate::memory::TooBig),
    #[error(transparent)]
    NetMemory(#[from] crate::memory::NetTooBig),
    #[error(transparent)]
    MlpMemory(#[from] crate::memory::MlpTooBig),
    /// A stop was requested (`crate::interrupt`): the run saved what it
    /// could (a checkpoint after `step` steps, where it checkpoints) and
    /// ended unfinished.
    #[error("interrupted after {step} steps (checkpoint saved: {saved})")]
    Interrupted { step: usize, saved: bool },
}

pub use rules::Outcome;
use rules::diverged;

/// The optimizer of `[train]`: plain SGD, or Adam with its β₁, β₂, ε.
pub fn optimizer(cfg: &TrainTable) -> ModuleOptimizer {
    match cfg.optimizer {
        OptimizerKind::Sgd => SgdConfig::new().init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_beta_2(cfg.beta2 as f32)
            .with_epsilon(cfg.adam_eps as f32)
            .init(),
    }
}

/// The scale c of the loss `c · Σ (f − y)²` per sample and output element:
/// `Mean` averages over outputs, `HalfSum` sums them with ½.
pub fn loss(pred: Tensor<2>, y: Tensor<2>, reduction: LossReduction) -> Tensor<1> {
    let [rows, _] = pred.dims();
    let squared = (pred - y).powi_scalar(2);
    match reduction {
        LossReduction::Mean => squared.mean(),
        LossReduction::HalfSum => squared.sum().div_scalar(2.0 * rows as f64),
    }
}

/// A batch as (x, y) tensors on `device`.
pub fn tensors(batch: Batch, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let shape = [batch.rows, batch.dim];
    (
        Tensor::from_data(TensorData::new(batch.x, shape), device),
        Tensor::from_data(TensorData::new(batch.y, shape), device),
    )
}

/// Train `model` for `cfg.steps` steps on minibatches from `source`.
pub fn train<M: Module>(
    model: M,
    forward: impl Fn(&M, Tensor<2>) -> Tensor<2>,
    source: &mut Source,
    cfg: &TrainTable,
    device: &Device,
) -> (M, Outcome) {
    train_observed(
        model,
        forward,
        source,
        cfg,
        device,
        |_, _| None,
        &mut Unwatched,
    )
}

/// [`train`], showing `observe` the model at each step before its update
/// (what it returns goes to `watch` as that step's probe), and reporting
/// every step to `watch`.
pub fn train_observed<M: Module>(
    mut model: M,
    forward: impl Fn(&M, Tensor<2>) -> Tensor<2>,
    source: &mut Source,
    cfg: &TrainTable,
    device: &Device,
    mut observe: impl FnMut(usize, &M) -> Option<Vec<f64>>,
    watch: &mut dyn Watch,
) -> (M, Outcome) {
    let mut optim = optimizer(cfg);
    let mut outcome = Outcome::with_capacity(cfg.steps);
    watch.start(0, cfg.steps);
    for step in 0..cfg.steps {
        let probe = observe(step, &model);
        let (x, y) = tensors(source.next_batch(cfg.batch_size), device);
        let (next, value) = train_step(model, &forward, &mut optim, x, y, cfg, |v| {
            diverged(v, cfg.diverge_above)
        });
        model = next;
        watch.step(&StepInfo {
            step,
            loss: value,
            probe: probe.as_deref(),
            ..StepInfo::default()
        });
        if outcome.record(step, value, cfg.diverge_above) {
            break;
        }
    }
    watch.sync();
    (model, outcome)
}

/// One step on the minibatch (x, y): the loss before the update, and the
/// model after it (unchanged when `stop(loss)` says the run has diverged).
pub fn train_step<M: Module>(
    model: M,
    forward: &impl Fn(&M, Tensor<2>) -> Tensor<2>,
    optim: &mut ModuleOptimizer,
    x: Tensor<2>,
    y: Tensor<2>,
    cfg: &TrainTable,
    stop: impl Fn(f32) -> bool,
) -> (M, f32) {
    let loss = loss(forward(&model, x), y, cfg.loss);
    let value: f32 = loss.clone().into_scalar();
    if stop(value) {
        return (model, value);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optim.step(cfg.lr, model, grads), value)
}
