//! The nonlinearity σ of a layer.

use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// σ(z) = z: a deep linear network.
    Linear,
    #[default]
    Tanh,
    Relu,
    /// σ(z) = z·sigmoid(z) (Ramachandran et al. 2017; `silu` in burn).
    Swish,
}

impl Activation {
    pub fn apply<const D: usize>(self, z: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Linear => z,
            Activation::Tanh => activation::tanh(z),
            Activation::Relu => activation::relu(z),
            Activation::Swish => activation::silu(z),
        }
    }

    /// σ(z) on a plain number (data generation, tests).
    pub fn eval(self, z: f64) -> f64 {
        match self {
            Activation::Linear => z,
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
            Activation::Swish => z / (1.0 + (-z).exp()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Swish => "swish",
        }
    }
}
