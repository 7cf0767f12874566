//! burn modules for probstab: TwoLayer, Neuron, ResNet18 and Mlp. Each module has
//! a `...Config` that builds it
//! with `init(&device)`; weights come back as plain row-major `Vec<f32>` for
//! the analysis crate.

/// σ ∈ {linear, tanh, relu, swish}, shared by both models.
pub mod activation;
/// Training-mode batch norm on the CPU, fused into two passes each way.
pub mod batch_norm;
/// The CPU convolution: im2col and three large GEMMs, with its own backward.
pub mod gemm_conv;
/// A fully connected classifier on flattened images.
pub mod mlp;
/// f(x) = u·σ(w·x) with scalar w, u (Fig. 1a, 5).
pub mod neuron;
/// ResNet-18, CIFAR stem, with a width multiplier (Fig. 1c, 9–12).
pub mod resnet;
/// d → h → d networks (Fig. 7, 8).
pub mod two_layer;

#[cfg(test)]
mod test_support;

pub use activation::Activation;
pub use mlp::{Mlp, MlpConfig};
pub use neuron::{Neuron, NeuronConfig};
pub use resnet::{ResNet18, ResNet18Config};
pub use two_layer::{TwoLayer, TwoLayerConfig};
