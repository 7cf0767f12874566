//! GPU memory stays flat over training steps on wgpu (issue 5 item 4: a leak
//! was reported in burn's wgpu backend around 0.21). The allocator is
//! cubecl's memory pool whatever the adapter, so Mesa's software Vulkan in CI
//! exercises the same bookkeeping as a GPU; `scripts/gpu-check.sh` watches
//! nvidia-smi on a real one.
//!
//! A two_layer net trains step by step as `trainer::train` does (loss read
//! back every step), with SGD and with Adam. The pool's live allocations and
//! reserved bytes after 2·N steps must equal those after N (plus a page of
//! slack for reserved bytes). A control run that keeps every step's loss
//! tensor alive, as a leak would, must be caught by the same check.
//!
//! With Adam the pool does grow at first, by 2 small allocations a step, and
//! stops at step ~250 for good (seen up to 600 on lavapipe): a bounded cache,
//! not a leak. Hence N = 600. (Live allocations, reserved bytes) on lavapipe:
//! SGD (25, 8,649,312) at 600 and 1200 steps, Adam (525, 9,887,232) at both.
//!
//! The net is the backends Adam pack test's (swish, biases, 16 wide, batch
//! 2), so its kernels are in Mesa's shader cache by the time this runs. Its
//! buffers are small, so the live allocation count is the sharp check: a
//! leaked tensor is one more allocation whatever its size, while reserved
//! bytes move by pool pages.

mod common;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use models::{Activation, TwoLayer, TwoLayerConfig};
use train::config::{LossReduction, OptimizerKind, TrainTable};
use train::data::{Source, Teacher};
use train::trainer::{loss, optimizer, tensors};

/// N: the first measurement; the second is at 2·N.
const STEPS: usize = 600;
/// Reserved bytes may grow by this much (one small page of the pool) without
/// counting as growth: the pool may settle a size class late.
const SLACK_BYTES: u64 = 1 << 20;

/// (live allocations, reserved bytes) of the pool after `n` and after `2n`
/// steps; `keep` holds on to every loss tensor (the control).
fn usage(device: &Device, kind: OptimizerKind, n: usize, keep: bool) -> [(u64, u64); 2] {
    let config = TwoLayerConfig {
        dim: 16,
        hidden: 16,
        activation: Activation::Swish,
        bias: true,
    };
    let mut model: TwoLayer = train::two_layer::initial_model(&config, 0, device);
    let cfg: TrainTable = toml::from_str(&format!(
        "lr = 0.01\nsteps = {}\nbatch_size = 2\noptimizer = \"{}\"",
        2 * n,
        match kind {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
        }
    ))
    .unwrap();
    let teacher = Teacher {
        dim: 16,
        mu: 0.5,
        noise_std: 1.0,
    };
    let mut source = Source::teacher(teacher, 0, 0);
    let mut optim = optimizer(&cfg);
    let mut kept: Vec<Tensor<1>> = Vec::new();
    let mut seen = Vec::new();
    for step in 1..=2 * n {
        let (x, y) = tensors(source.next_batch(cfg.batch_size), device);
        let l = loss(model.forward(x), y, LossReduction::Mean);
        let value: f32 = l.clone().into_scalar();
        assert!(value.is_finite());
        if keep {
            kept.push(l.clone());
        }
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
        if step == n || step == 2 * n {
            device.sync().unwrap();
            let u = device
                .memory_pool_usage()
                .expect("wgpu reports its memory pool");
            seen.push((u.number_allocs, u.bytes_reserved));
        }
    }
    [seen[0], seen[1]]
}

fn flat([(allocs0, reserved0), (allocs1, reserved1)]: [(u64, u64); 2]) -> bool {
    allocs1 <= allocs0 && reserved1 <= reserved0 + SLACK_BYTES
}

#[test]
fn wgpu_memory_stays_flat_over_training_steps() {
    let Some(device) = common::wgpu_or_skip("wgpu memory check") else {
        return;
    };
    for kind in [OptimizerKind::Sgd, OptimizerKind::Adam] {
        let seen = usage(&device, kind, STEPS, false);
        eprintln!(
            "{kind:?}: (live allocations, reserved bytes) at {STEPS} and {} steps: {seen:?}",
            2 * STEPS
        );
        assert!(
            flat(seen),
            "{kind:?}: memory grows with the step count: {seen:?}"
        );
    }
    let leaking = usage(&device, OptimizerKind::Sgd, 30, true);
    assert!(
        !flat(leaking),
        "the check misses a leak of one loss tensor and its graph per step: {leaking:?}"
    );
}
