//! `Mlp`: a fully connected classifier on the flattened image,
//! `x ∈ ℝ^{C·H·W} → σ(W₁x + b₁) → … → σ(W_k h + b_k) → W_out h + b_out`.
//! The last hidden layer's output is the penultimate feature whose rank the
//! image experiments measure; with one hidden layer it is the two-layer net
//! of §4.4 with a softmax head.

use crate::activation::{Activation, OnTensors};
use crate::resnet::ParamSpec;
use crate::two_layer::weight_out_by_in;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

/// Builds an [`Mlp`].
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// C·H·W, the flattened image.
    pub inputs: usize,
    /// Hidden widths, input side first (at least one).
    pub hidden: Vec<usize>,
    pub classes: usize,
    pub activation: Activation,
    /// Biases on every layer.
    pub bias: bool,
}

#[derive(Module, Debug)]
pub struct Mlp {
    /// `fc1` … `fck`, stored as burn keeps `Linear` weights, [in, out].
    pub hidden: Vec<Linear>,
    /// The head, `out`.
    pub out: Linear,
    #[module(skip)]
    activation: Activation,
}

impl MlpConfig {
    /// Width of the penultimate features (the last hidden layer).
    pub fn features(&self) -> usize {
        *self.hidden.last().expect("at least one hidden layer")
    }

    /// The layer names, `fc1` … `fck` and `out`.
    pub fn layer_names(&self) -> Vec<String> {
        (1..=self.hidden.len())
            .map(|i| format!("fc{i}"))
            .chain(["out".to_string()])
            .collect()
    }

    /// Every parameter, in construction order, PyTorch's shapes: each
    /// layer's `.weight` (out × in), then its `.bias` when there are biases.
    pub fn params(&self) -> Vec<ParamSpec> {
        let mut fan_in = self.inputs;
        let widths = self.hidden.iter().copied().chain([self.classes]);
        let mut out = Vec::new();
        for (name, width) in self.layer_names().into_iter().zip(widths) {
            out.push(ParamSpec {
                name: format!("{name}.weight"),
                shape: vec![width, fan_in],
            });
            if self.bias {
                out.push(ParamSpec {
                    name: format!("{name}.bias"),
                    shape: vec![width],
                });
            }
            fan_in = width;
        }
        out
    }

    /// Build the net on `device` with the values `weight(spec)` gives for
    /// each of [`Self::params`] (weights row-major, out × in).
    pub fn init_with(
        &self,
        device: &Device,
        mut weight: impl FnMut(&ParamSpec) -> Vec<f32>,
    ) -> Mlp {
        let mut layers: Vec<Linear> = Vec::new();
        let mut specs = self.params().into_iter();
        let mut fan_in = self.inputs;
        for width in self.hidden.iter().copied().chain([self.classes]) {
            let mut layer = LinearConfig::new(fan_in, width)
                .with_bias(self.bias)
                .init(device);
            let w = specs.next().expect("a weight per layer");
            let values = weight(&w);
            assert_eq!(values.len(), w.len(), "{} values", w.name);
            layer.weight = Param::from_tensor(
                Tensor::<2>::from_data(TensorData::new(values, [width, fan_in]), device)
                    .transpose(),
            );
            if self.bias {
                let b = specs.next().expect("a bias per layer");
                let values = weight(&b);
                assert_eq!(values.len(), b.len(), "{} values", b.name);
                layer.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
                    TensorData::new(values, [width]),
                    device,
                )));
            }
            layers.push(layer);
            fan_in = width;
        }
        let out = layers.pop().expect("the head");
        Mlp {
            hidden: layers,
            out,
            activation: self.activation,
        }
    }
}

impl Mlp {
    /// Penultimate features `[N, h_k]` of images `[N, C, H, W]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let [n, c, h, w] = x.dims();
        let mut x = x.reshape([n, c * h * w]);
        for layer in &self.hidden {
            x = self.activation.apply(layer.forward(x));
        }
        x
    }

    /// Logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.out.forward(self.features(x))
    }

    /// Every layer's weight by name (`fc1` … `fck`, `out`), PyTorch layout
    /// (out × in), row-major: for per-layer sparsity.
    pub fn layers(&self) -> Vec<(String, Vec<f32>)> {
        self.hidden
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("fc{}", i + 1), weight_out_by_in(l).0))
            .chain([("out".to_string(), weight_out_by_in(&self.out).0)])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    #[test]
    fn forward_is_the_layers_by_hand() {
        let device = Device::flex();
        let config = MlpConfig {
            inputs: 4,
            hidden: vec![3, 2],
            classes: 2,
            activation: Activation::Tanh,
            bias: true,
        };
        let names: Vec<String> = config.params().iter().map(|p| p.name.clone()).collect();
        assert_eq!(
            names,
            [
                "fc1.weight",
                "fc1.bias",
                "fc2.weight",
                "fc2.bias",
                "out.weight",
                "out.bias"
            ]
        );
        let mut k = 0.0f32;
        let net = config.init_with(&device, |p| {
            (0..p.len())
                .map(|_| {
                    k += 1.0;
                    (k * 0.37).sin() * 0.5
                })
                .collect()
        });
        let x: Vec<f32> = (0..8).map(|i| i as f32 * 0.1 - 0.3).collect();
        // By hand: the same values in the same order.
        let mut k = 0.0f32;
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    k += 1.0;
                    (k * 0.37).sin() * 0.5
                })
                .collect()
        };
        let layers = [(3, 4), (2, 3), (2, 2)].map(|(o, i)| (draw(o * i), draw(o), o, i));
        let mut expected = Vec::new();
        for row in x.chunks(4) {
            let mut h: Vec<f32> = row.to_vec();
            for (l, (w, b, o, i)) in layers.iter().enumerate() {
                h = (0..*o)
                    .map(|r| {
                        let z = b[r] + (0..*i).map(|c| w[r * i + c] * h[c]).sum::<f32>();
                        if l < 2 { z.tanh() } else { z }
                    })
                    .collect();
            }
            expected.extend(h);
        }
        let input = Tensor::<4>::from_data(TensorData::new(x, [2, 1, 2, 2]), &device);
        net.forward(input)
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::new(expected, [2, 2]), Tolerance::default());
        let layers = net.layers();
        assert_eq!(layers[1].0, "fc2");
        assert_eq!(layers[1].1, {
            let mut k = 0.0f32;
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| {
                        k += 1.0;
                        (k * 0.37).sin() * 0.5
                    })
                    .collect()
            };
            draw(12);
            draw(3);
            draw(6)
        });
    }
}
