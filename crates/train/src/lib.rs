//! Training for probstab: the configs of the training kinds, data sources,
//! seeded initialisation, optimizers, the training loop, and one runner per
//! kind that hands back plain arrays (weights, losses) for analysis.

/// burn's Adam step for trainers that update parameters by hand.
mod adam;
/// Model, optimizer and progress saved every k steps, for `run --resume`.
pub mod checkpoint;
/// The `image_classifier` kind: ResNet-18 with label noise.
pub mod classifier;
/// `[model]`, `[data]`, `[train]`, `[measure]` tables and their validation.
pub mod config;
/// Teacher streams, fixed datasets, 1-D neuron data (generated, inline, CSV).
pub mod data;
/// CPU (flex) or wgpu device, with a probe instead of burn's panic.
pub mod device;
/// Which GPU a Slurm task uses: its variables matched to wgpu's adapters by PCI bus id.
#[cfg(feature = "gpu")]
pub mod gpu_choice;
/// CIFAR-10 and Fashion-MNIST: loading, normalisation, augmentation, shuffling, label noise.
pub mod images;
/// PyTorch-style initial weights from a seeded stream.
pub mod init;
/// A request to stop early (a signal): responsive loops checkpoint and return.
pub mod interrupt;
/// Whether a ResNet-18 training step fits in this machine's memory.
pub mod memory;
/// The `neuron` kind: u·σ(w·x) trained on a 1-D dataset.
pub mod neuron;
/// The node's NVIDIA GPUs (nvidia-smi, /proc): index, PCI bus id, UUID.
#[cfg(feature = "gpu")]
pub mod node_gpus;
/// Standard normal numbers as rand_distr draws them, with its fast path inlined.
pub mod normal;
/// Packed two_layer cells: a stacked model with a fused SGD step.
pub mod packed;
/// Packed two_layer cells as stacked tensors on a burn device (the GPU).
pub mod packed_device;
/// Seeded random streams.
pub mod rng;
/// Generated image sets, and CIFAR-10's binary format, for tests and demos.
pub mod synthetic_images;
/// The loop: forward, loss, backward, optimizer step, divergence, trace.
pub mod trainer;
/// The `two_layer` kind: d → h → d on the teacher stream.
pub mod two_layer;
/// What a training loop reports while it runs (live traces, heartbeats).
pub mod watch;

pub use device::{Backend, device};
pub use trainer::{Outcome, TrainError};
