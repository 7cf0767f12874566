//! `Neuron`: f(x) = u·σ(w·x) with scalar w and u (§4.3, Fig. 1a, 5).

use crate::Activation;
use crate::activation::OnTensors;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// Builds a [`Neuron`] at an explicit initial point (w₀, u₀).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NeuronConfig {
    pub activation: Activation,
    pub w0: f64,
    pub u0: f64,
}

#[derive(Module, Debug)]
pub struct Neuron {
    pub w: Param<Tensor<1>>,
    pub u: Param<Tensor<1>>,
    #[module(skip)]
    activation: Activation,
}

impl NeuronConfig {
    pub fn init(&self, device: &Device) -> Neuron {
        let scalar = |v: f64| Param::from_tensor(Tensor::<1>::from_floats([v as f32], device));
        Neuron {
            w: scalar(self.w0),
            u: scalar(self.u0),
            activation: self.activation,
        }
    }
}

impl Neuron {
    /// [batch, 1] → [batch, 1].
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let w = self.w.val().unsqueeze::<2>();
        let u = self.u.val().unsqueeze::<2>();
        self.activation.apply(x * w) * u
    }

    /// The current (w, u).
    pub fn weights(&self) -> (f64, f64) {
        let get =
            |p: &Param<Tensor<1>>| p.val().into_data().try_to_vec::<f32>().expect("f32")[0] as f64;
        (get(&self.w), get(&self.u))
    }
}
