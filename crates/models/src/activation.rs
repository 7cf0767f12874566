//! The nonlinearity σ on burn tensors. The enum and the formulas on plain
//! numbers are `rules::activation` (burn-free, shared with the hand-written
//! trainers and the theory); these are their tensor forms.

use burn::tensor::{Tensor, activation};
pub use rules::Activation;

/// σ and σ′ of an [`Activation`] on tensors.
pub trait OnTensors {
    /// σ(z), elementwise.
    fn apply<const D: usize>(self, z: Tensor<D>) -> Tensor<D>;
    /// σ′(z), elementwise, given a = σ(z): the tensor form of
    /// `rules::Activation::sigma_prime`.
    fn derivative<const D: usize>(self, z: Tensor<D>, a: Tensor<D>) -> Tensor<D>;
}

impl OnTensors for Activation {
    fn apply<const D: usize>(self, z: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Linear => z,
            Activation::Tanh => activation::tanh(z),
            Activation::Relu => activation::relu(z),
            Activation::Swish => activation::silu(z),
        }
    }

    fn derivative<const D: usize>(self, z: Tensor<D>, a: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Linear => z.ones_like(),
            Activation::Tanh => (a.clone() * a).neg().add_scalar(1.0),
            Activation::Relu => z.greater_elem(0.0).float(),
            Activation::Swish => {
                // s + z s (1 − s) with s = sigmoid(z).
                let s = activation::sigmoid(z.clone());
                s.clone() + z * s.clone() * s.neg().add_scalar(1.0)
            }
        }
    }
}
