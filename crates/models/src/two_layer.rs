//! `TwoLayer`: x ∈ ℝ^d → W₂ σ(W₁ x) ∈ ℝ^d with h hidden units (§4.4, Fig. 7, 8).

use crate::Activation;
use crate::activation::OnTensors;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

/// Builds a [`TwoLayer`]. Initialisation is burn's default for `Linear`,
/// which is PyTorch's `nn.Linear`: weights and biases U(−1/√fan_in, 1/√fan_in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TwoLayerConfig {
    /// d, input and output width.
    pub dim: usize,
    /// h, hidden width.
    pub hidden: usize,
    pub activation: Activation,
    /// Biases on both layers (the paper's nets have none).
    pub bias: bool,
}

#[derive(Module, Debug)]
pub struct TwoLayer {
    /// W₁ stored as [d, h] (burn keeps `Linear` weights as [in, out]).
    pub layer1: Linear,
    /// W₂ stored as [h, d].
    pub layer2: Linear,
    #[module(skip)]
    activation: Activation,
}

impl TwoLayerConfig {
    pub fn init(&self, device: &Device) -> TwoLayer {
        TwoLayer {
            layer1: LinearConfig::new(self.dim, self.hidden)
                .with_bias(self.bias)
                .init(device),
            layer2: LinearConfig::new(self.hidden, self.dim)
                .with_bias(self.bias)
                .init(device),
            activation: self.activation,
        }
    }
}

impl TwoLayerConfig {
    /// A `TwoLayer` with the given weights in PyTorch's layout: `w1` is
    /// [h, d] and `w2` is [d, h], row-major (out × in); biases [h] and [d].
    pub fn init_with(
        &self,
        device: &Device,
        w1: &[f32],
        w2: &[f32],
        biases: Option<(&[f32], &[f32])>,
    ) -> TwoLayer {
        let (d, h) = (self.dim, self.hidden);
        assert_eq!(
            (w1.len(), w2.len()),
            (h * d, d * h),
            "weight sizes must match the config"
        );
        let weight = |w: &[f32], rows: usize, cols: usize| {
            // burn keeps Linear weights as [in, out]: transpose (out × in).
            Param::from_tensor(
                Tensor::<2>::from_data(TensorData::new(w.to_vec(), [rows, cols]), device)
                    .transpose(),
            )
        };
        let bias = |b: &[f32]| {
            Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(b.to_vec(), [b.len()]),
                device,
            ))
        };
        let mut model = self.init(device);
        model.layer1.weight = weight(w1, h, d);
        model.layer2.weight = weight(w2, d, h);
        match biases {
            Some((b1, b2)) if self.bias => {
                model.layer1.bias = Some(bias(b1));
                model.layer2.bias = Some(bias(b2));
            }
            _ => {}
        }
        model
    }
}

impl TwoLayer {
    /// [batch, d] → [batch, d].
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layer2
            .forward(self.activation.apply(self.layer1.forward(x)))
    }

    /// W₁ as PyTorch writes it, [h, d] row-major (out × in).
    pub fn w1(&self) -> (Vec<f32>, usize, usize) {
        weight_out_by_in(&self.layer1)
    }

    /// W₂ as [d, h] row-major (out × in): the last layer whose rank Fig. 7 shows.
    pub fn w2(&self) -> (Vec<f32>, usize, usize) {
        weight_out_by_in(&self.layer2)
    }
}

/// A `Linear` weight transposed to (out × in), row-major, with its shape.
pub fn weight_out_by_in(layer: &Linear) -> (Vec<f32>, usize, usize) {
    let w = layer.weight.val();
    let [d_in, d_out] = w.dims();
    let data = w
        .transpose()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 weights");
    (data, d_out, d_in)
}
