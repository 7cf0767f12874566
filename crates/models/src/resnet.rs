//! ResNet-18 with the CIFAR stem (He et al. 2016; the paper's Appendix B.4):
//! a 3×3 stride-1 stem with no max-pool, BasicBlocks [2, 2, 2, 2] of 64, 128,
//! 256 and 512 channels (times `width`), BatchNorm, global average pooling to
//! the penultimate features, and a linear head.
//!
//! Weights come from the caller, by torchvision name (`layer1.1.conv2`,
//! `layer2.0.downsample.0`, `fc`), so a cell starts from the same weights on
//! every backend; [`ResNet18::layers`] hands them back under the same names.

use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use crate::batch_norm::batch_norm;
use crate::gemm_conv::conv2d;

/// A parameter the caller fills: its torchvision name and PyTorch shape
/// (conv `[out, in, k, k]`, fc weight `[out, in]`, fc bias `[out]`), and the
/// fan-out that Kaiming initialisation in `mode="fan_out"` uses.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResNet18Config {
    /// Image channels: 3 (CIFAR-10) or 1 (Fashion-MNIST).
    pub in_channels: usize,
    pub num_classes: usize,
    /// Channel multiplier: 1.0 is the full net (64…512 channels); 0.125 has
    /// 8…64. Every stage keeps at least one channel.
    pub width: f64,
}

/// Stage s (0..4) has `channels(width, s)` channels: round(64·2ˢ·width), ≥ 1.
pub fn channels(width: f64, stage: usize) -> usize {
    ((64.0 * (1 << stage) as f64 * width).round() as usize).max(1)
}

#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

#[derive(Module, Debug)]
pub struct ResNet18 {
    conv1: Conv2d,
    bn1: BatchNorm,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet18Config {
    /// Width of the penultimate features.
    pub fn features(&self) -> usize {
        channels(self.width, 3)
    }

    /// Every parameter the caller fills, in construction order: the convs
    /// (no biases) and the head.
    pub fn params(&self) -> Vec<ParamSpec> {
        let spec = |name: String, shape: Vec<usize>| ParamSpec { name, shape };
        let mut out = vec![spec(
            "conv1".into(),
            vec![channels(self.width, 0), self.in_channels, 3, 3],
        )];
        let mut in_ch = channels(self.width, 0);
        for stage in 0..4 {
            let ch = channels(self.width, stage);
            for block in 0..2 {
                let name = format!("layer{}.{block}", stage + 1);
                let block_in = if block == 0 { in_ch } else { ch };
                out.push(spec(format!("{name}.conv1"), vec![ch, block_in, 3, 3]));
                out.push(spec(format!("{name}.conv2"), vec![ch, ch, 3, 3]));
                if block == 0 && (stage > 0 || block_in != ch) {
                    out.push(spec(
                        format!("{name}.downsample.0"),
                        vec![ch, block_in, 1, 1],
                    ));
                }
            }
            in_ch = ch;
        }
        out.push(spec("fc.weight".into(), vec![self.num_classes, in_ch]));
        out.push(spec("fc.bias".into(), vec![self.num_classes]));
        out
    }

    /// Build the net on `device` with the values `weight(spec)` gives for
    /// each of [`Self::params`]; BatchNorm starts at γ = 1, β = 0.
    pub fn init_with(
        &self,
        device: &Device,
        mut weight: impl FnMut(&ParamSpec) -> Vec<f32>,
    ) -> ResNet18 {
        let specs = self.params();
        let mut specs = specs.iter();
        let mut next_conv = |stride: usize| {
            let spec = specs.next().expect("one spec per conv");
            conv(device, spec, weight(spec), stride)
        };
        let conv1 = next_conv(1);
        let mut stages: Vec<Vec<BasicBlock>> = Vec::with_capacity(4);
        for stage in 0..4 {
            let ch = channels(self.width, stage);
            let stride = if stage == 0 { 1 } else { 2 };
            let mut blocks = Vec::with_capacity(2);
            for block in 0..2 {
                let s = if block == 0 { stride } else { 1 };
                let conv1 = next_conv(s);
                let conv2 = next_conv(1);
                let in_ch = conv1.weight.val().dims()[1];
                let downsample = (block == 0 && (stage > 0 || in_ch != ch)).then(|| Downsample {
                    conv: next_conv(s),
                    bn: BatchNormConfig::new(ch).init(device),
                });
                blocks.push(BasicBlock {
                    conv1,
                    bn1: BatchNormConfig::new(ch).init(device),
                    conv2,
                    bn2: BatchNormConfig::new(ch).init(device),
                    downsample,
                });
            }
            stages.push(blocks);
        }
        let fc_w = specs.next().expect("fc.weight");
        let fc_b = specs.next().expect("fc.bias");
        let [classes, features] = [fc_w.shape[0], fc_w.shape[1]];
        let mut fc = LinearConfig::new(features, classes)
            .with_initializer(Initializer::Zeros)
            .init(device);
        // burn's Linear weight is [in, out]: the transpose of PyTorch's.
        let w = weight(fc_w);
        let mut transposed = vec![0.0f32; w.len()];
        for o in 0..classes {
            for i in 0..features {
                transposed[i * classes + o] = w[o * features + i];
            }
        }
        fc.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(transposed, [features, classes]),
            device,
        ));
        fc.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(weight(fc_b), [classes]),
            device,
        )));
        let mut stages = stages.into_iter();
        let mut stage = || stages.next().expect("four stages");
        ResNet18 {
            conv1,
            bn1: BatchNormConfig::new(channels(self.width, 0)).init(device),
            layer1: stage(),
            layer2: stage(),
            layer3: stage(),
            layer4: stage(),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc,
        }
    }
}

fn conv(device: &Device, spec: &ParamSpec, values: Vec<f32>, stride: usize) -> Conv2d {
    let [out, input, k, _] = [spec.shape[0], spec.shape[1], spec.shape[2], spec.shape[3]];
    let pad = k / 2;
    let mut conv = Conv2dConfig::new([input, out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::Zeros)
        .init(device);
    assert_eq!(
        values.len(),
        spec.len(),
        "{}: wrong number of values",
        spec.name
    );
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [out, input, k, k]),
        device,
    ));
    conv
}

impl BasicBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(batch_norm(&self.bn1, conv2d(&self.conv1, x.clone())));
        let out = batch_norm(&self.bn2, conv2d(&self.conv2, out));
        let identity = match &self.downsample {
            Some(d) => batch_norm(&d.bn, conv2d(&d.conv, x)),
            None => x,
        };
        relu(out + identity)
    }
}

impl ResNet18 {
    /// Penultimate features `[N, features]` of images `[N, C, H, W]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(batch_norm(&self.bn1, conv2d(&self.conv1, x)));
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x);
        }
        let [n, c, _, _] = x.dims();
        self.pool.forward(x).reshape([n, c])
    }

    /// Logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.features(x))
    }

    /// Logits and the features they come from.
    pub fn forward_with_features(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let features = self.features(x);
        (self.fc.forward(features.clone()), features)
    }

    /// Every conv weight and the head's weight, by torchvision name, in
    /// PyTorch layout, row-major: for per-layer sparsity.
    pub fn layers(&self) -> Vec<(String, Vec<f32>)> {
        let host = |t: Tensor<4>| -> Vec<f32> {
            t.into_data().try_into_vec::<f32>().expect("f32 weights")
        };
        let mut out = vec![("conv1".to_string(), host(self.conv1.weight.val()))];
        for (stage, blocks) in [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .enumerate()
        {
            for (b, block) in blocks.iter().enumerate() {
                let name = format!("layer{}.{b}", stage + 1);
                out.push((format!("{name}.conv1"), host(block.conv1.weight.val())));
                out.push((format!("{name}.conv2"), host(block.conv2.weight.val())));
                if let Some(d) = &block.downsample {
                    out.push((format!("{name}.downsample.0"), host(d.conv.weight.val())));
                }
            }
        }
        let w = self.fc.weight.val();
        let [features, classes] = w.dims();
        let rows = w.into_data().try_into_vec::<f32>().expect("f32 weights");
        let mut pytorch = vec![0.0f32; rows.len()];
        for i in 0..features {
            for o in 0..classes {
                pytorch[o * features + i] = rows[i * classes + o];
            }
        }
        out.push(("fc".to_string(), pytorch));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ResNet18Config {
        ResNet18Config {
            in_channels: 3,
            num_classes: 10,
            width: 1.0 / 16.0,
        }
    }

    #[test]
    fn torchvision_names_and_shapes() {
        let specs = ResNet18Config {
            in_channels: 3,
            num_classes: 10,
            width: 1.0,
        }
        .params();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 20 + 2);
        assert_eq!(names[0], "conv1");
        assert!(names.contains(&"layer1.1.conv2"));
        assert!(names.contains(&"layer4.1.conv2"));
        assert!(!names.contains(&"layer1.0.downsample.0"));
        let down = specs
            .iter()
            .find(|s| s.name == "layer3.0.downsample.0")
            .unwrap();
        assert_eq!(down.shape, vec![256, 128, 1, 1]);
        // 11,173,962 parameters in torchvision's CIFAR ResNet-18, of which
        // 9,600 are BatchNorm γ, β: the rest are the convs and the head.
        let total: usize = specs.iter().map(ParamSpec::len).sum();
        assert_eq!(total, 11_173_962 - 9_600);
    }

    #[test]
    fn forward_shapes_and_names_round_trip() {
        let device = Device::flex();
        let config = tiny();
        let specs = config.params();
        let mut k = 0.0f32;
        let net = config.init_with(&device, |spec| {
            k += 1.0;
            vec![k; spec.len()]
        });
        let x = Tensor::<4>::zeros([2, 3, 16, 16], &device);
        let (logits, features) = net.forward_with_features(x);
        assert_eq!(logits.dims(), [2, 10]);
        assert_eq!(features.dims(), [2, config.features()]);
        let layers = net.layers();
        // Each conv came back under its name with the value it was given.
        for (i, (name, values)) in layers.iter().enumerate() {
            assert_eq!(
                name.trim_end_matches(".weight"),
                specs[i].name.trim_end_matches(".weight")
            );
            assert_eq!(values.len(), specs[i].len());
            assert!(values.iter().all(|v| *v == (i + 1) as f32), "{name}");
        }
    }

    #[test]
    fn fc_layout_is_pytorch() {
        let device = Device::flex();
        let config = ResNet18Config {
            in_channels: 1,
            num_classes: 3,
            width: 1.0 / 64.0,
        };
        let features = config.features();
        let net = config.init_with(&device, |spec| match spec.name.as_str() {
            "fc.weight" => (0..spec.len()).map(|i| i as f32).collect(),
            "fc.bias" => vec![0.5, -0.5, 1.0],
            _ => vec![0.1; spec.len()],
        });
        let fc = net.layers().pop().unwrap().1;
        assert_eq!(fc, (0..3 * features).map(|i| i as f32).collect::<Vec<_>>());
        // Row o of the PyTorch weight dots the features into logit o.
        let f = Tensor::<2>::ones([1, features], &device);
        let logits: Vec<f32> = net.fc.forward(f).into_data().try_into_vec().unwrap();
        for (o, l) in logits.iter().enumerate() {
            let row: f32 = (0..features).map(|i| (o * features + i) as f32).sum();
            assert!((l - row - [0.5, -0.5, 1.0][o]).abs() < 1e-4);
        }
    }
}
