//! Training-mode batch norm on the CPU in two passes forward and two back.
//!
//! burn 0.22.1 computes it on the CPU from generic tensor ops: the channel
//! axis swapped to the front and copied for each statistic, then a dozen
//! elementwise passes over the activation forward and back. ResNet-18 has 20
//! of them, and at batch 32 they took about a third of a training step. Here,
//! for x `[B, C, H, W]` and M = B·H·W values per channel:
//!
//! - forward: mean and (biased) variance per channel, then
//!   y = γ (x − mean) / √(var + ε) + β;
//! - backward, with x̂ = (x − mean) / √(var + ε): dβ = Σ dy, dγ = Σ dy x̂,
//!   dx = γ / √(var + ε) · (dy − dβ/M − x̂ dγ/M).
//!
//! Sums are in f64. [`batch_norm`] takes this path for a training BatchNorm on
//! the CPU and updates the running statistics as burn's does; everything else
//! (inference, other devices) is burn's `BatchNorm::forward`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use crate::gemm_conv::{min_len, on_flex_f32};

#[backend_extension(Flex, Autodiff)]
pub trait FusedBatchNorm: Backend {
    /// (y, batch mean `[C]`, biased batch variance `[C]`) of x `[B, C, H, W]`.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// `bn.forward(x)`, through [`FusedBatchNorm`] when training on the CPU.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    let cpu = on_flex_f32(&x);
    // burn's forward reports a channel mismatch.
    let fits = x.dims()[1] == bn.gamma.dims()[0];
    if !(training && cpu && fits) {
        return bn.forward(x);
    }
    let (y, mean, var) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    // As burn's BatchNorm::forward_train.
    let m = bn.momentum;
    let update = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(batch.detach().mul_scalar(m))
            .detach()
    };
    let (mean, var) = (Tensor::from_dispatch(mean), Tensor::from_dispatch(var));
    bn.running_mean
        .update(update(bn.running_mean.value_sync(), mean));
    bn.running_var
        .update(update(bn.running_var.value_sync(), var));
    Tensor::from_dispatch(y)
}

impl FusedBatchNorm for Flex {
    fn fused_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (y, stats) = forward(&x, &gamma, &beta, epsilon);
        let (mean, var) = stats.tensors();
        (y, mean, var)
    }
}

impl<C: CheckpointStrategy> FusedBatchNorm for Autodiff<Flex, C> {
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, stats) = forward(x.primitive(), gamma.primitive(), beta.primitive(), epsilon);
        let (mean, var) = stats.tensors();
        let untracked = <FloatTensor<Self>>::new;
        let y = match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                prep.finish((x_state, gamma_state, stats), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, untracked(mean), untracked(var))
    }
}

/// Per-channel batch statistics.
#[derive(Clone, Debug)]
struct Stats {
    mean: Vec<f32>,
    var: Vec<f32>,
    /// 1 / √(var + ε).
    inv_std: Vec<f32>,
}

impl Stats {
    fn tensors(&self) -> (FlexTensor, FlexTensor) {
        let c = self.mean.len();
        let t = |v: &Vec<f32>| FlexTensor::from_data(TensorData::new(v.clone(), [c]));
        (t(&self.mean), t(&self.var))
    }
}

/// `[B, C, H·W]` sizes of a contiguous f32 activation.
fn dims(x: &FlexTensor) -> (usize, usize, usize) {
    let s = x.layout().shape();
    (s[0], s[1], s[2..].iter().product())
}

fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// Σ over the batch of f(plane of image b, channel c), in f64.
fn per_channel(
    x: &[f32],
    (b, c, hw): (usize, usize, usize),
    f: impl Fn(usize, &[f32]) -> f64 + Sync,
) -> Vec<f64> {
    (0..c)
        .into_par_iter()
        .map(|ch| (0..b).map(|i| f(i, &x[(i * c + ch) * hw..][..hw])).sum())
        .collect()
}

/// Σᵢ f(aᵢ, bᵢ) in f64, in eight running sums (lane l takes i ≡ l mod 8),
/// then the lanes in order and the tail: one fixed order, so the same bits
/// on every machine, and it vectorises (one sum in order is a chain of
/// dependent f64 additions, four cycles an element: a quarter of a 1/16-width
/// ResNet-18 step was these sums).
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    assert_eq!(a.len(), b.len(), "lane_sum pairs two slices of one length");
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (x, y) in ca.zip(cb) {
        let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().unwrap(), y.try_into().unwrap());
        for l in 0..8 {
            acc[l] += f(x[l], y[l]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, eps: f64) -> (FlexTensor, Stats) {
    let x = x.to_contiguous();
    let (gamma, beta) = (gamma.to_contiguous(), beta.to_contiguous());
    let (b, c, hw) = dims(&x);
    let (xs, g, be) = (f32s(&x), f32s(&gamma), f32s(&beta));
    let m = (b * hw) as f64;
    let mean = per_channel(xs, (b, c, hw), |_, v| lane_sum(v, v, |a, _| a as f64));
    let mean: Vec<f64> = mean.iter().map(|s| s / m).collect();
    // Each channel's values are read a second time right after the first, so
    // mostly from cache; two passes keep the variance accurate.
    let var: Vec<f64> = (0..c)
        .into_par_iter()
        .with_min_len(min_len(b * hw))
        .map(|ch| {
            let mu = mean[ch];
            (0..b)
                .map(|i| {
                    let v = &xs[(i * c + ch) * hw..][..hw];
                    lane_sum(v, v, |a, _| (a as f64 - mu).powi(2))
                })
                .sum::<f64>()
                / m
        })
        .collect();
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| (1.0 / (v + eps).sqrt()) as f32)
        .collect();
    let mut y = vec![0.0f32; xs.len()];
    y.par_chunks_mut(hw)
        .enumerate()
        .with_min_len(min_len(hw))
        .for_each(|(i, plane)| {
            let ch = i % c;
            let scale = g[ch] * inv_std[ch];
            let shift = be[ch] - mean[ch] as f32 * scale;
            let src = &xs[i * hw..][..hw];
            plane
                .iter_mut()
                .zip(src)
                .for_each(|(o, &a)| *o = a * scale + shift);
        });
    let stats = Stats {
        mean: mean.iter().map(|&v| v as f32).collect(),
        var: var.iter().map(|&v| v as f32).collect(),
        inv_std,
    };
    let shape = x.layout().shape().to_vec();
    (FlexTensor::from_data(TensorData::new(y, shape)), stats)
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = (NodeId, NodeId, Stats);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x_state, gamma_state, stats) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let gamma: FlexTensor = checkpointer.retrieve_node_output(gamma_state);
        let (x, gamma) = (x.to_contiguous(), gamma.to_contiguous());
        let (b, c, hw) = dims(&x);
        let (xs, dys, g) = (f32s(&x), f32s(&dy), f32s(&gamma));
        // x̂ = (x − μ)·inv_std, in f32, with μ and inv_std the channel's.
        // dβ = Σ dy, dγ = Σ dy x̂.
        let dbeta = per_channel(dys, (b, c, hw), |_, v| lane_sum(v, v, |a, _| a as f64));
        let dgamma: Vec<f64> = (0..c)
            .into_par_iter()
            .with_min_len(min_len(b * hw))
            .map(|ch| {
                (0..b)
                    .map(|i| {
                        let at = (i * c + ch) * hw;
                        let (xv, dv) = (&xs[at..][..hw], &dys[at..][..hw]);
                        let (mu, is) = (stats.mean[ch], stats.inv_std[ch]);
                        lane_sum(xv, dv, |a, d| (d * ((a - mu) * is)) as f64)
                    })
                    .sum()
            })
            .collect();
        let channel = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&a| a as f32).collect();
            FlexTensor::from_data(TensorData::new(v, [c]))
        };
        if let Some(node) = node_x {
            let m = (b * hw) as f64;
            let mut dx = vec![0.0f32; xs.len()];
            dx.par_chunks_mut(hw)
                .enumerate()
                .with_min_len(min_len(hw))
                .for_each(|(i, plane)| {
                    let ch = i % c;
                    let scale = g[ch] * stats.inv_std[ch];
                    let (mb, mg) = ((dbeta[ch] / m) as f32, (dgamma[ch] / m) as f32);
                    let at = i * hw;
                    let (xv, dv) = (&xs[at..][..hw], &dys[at..][..hw]);
                    // x̂ with the channel's numbers read once, out of the
                    // loop: indexed inside it (a bounds check an element),
                    // the loop ran one number at a time.
                    let (mu, is) = (stats.mean[ch], stats.inv_std[ch]);
                    for ((o, &a), &d) in plane.iter_mut().zip(xv).zip(dv) {
                        *o = scale * (d - mb - (a - mu) * is * mg);
                    }
                });
            let shape = x.layout().shape().to_vec();
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, channel(&dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, channel(&dbeta));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_close, host, values};
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Device;

    fn layer(device: &Device, c: usize) -> BatchNorm {
        let mut bn = BatchNormConfig::new(c).init(device);
        bn.gamma = Param::from_tensor(Tensor::from_data(
            TensorData::new(values(c, 1, -1.0, 4.0), [c]),
            device,
        ));
        bn.beta = Param::from_tensor(Tensor::from_data(
            TensorData::new(values(c, 2, -1.0, 4.0), [c]),
            device,
        ));
        bn
    }

    #[test]
    fn output_gradients_and_running_statistics_match_burns_batch_norm() {
        let device = Device::flex().autodiff();
        for [b, c, h, w] in [[4, 3, 5, 5], [2, 8, 4, 4], [8, 2, 1, 1], [3, 5, 2, 7]] {
            let x = || {
                Tensor::<4>::from_data(
                    TensorData::new(values(b * c * h * w, 3, -1.0, 4.0), [b, c, h, w]),
                    &device,
                )
                .require_grad()
            };
            let r = Tensor::<4>::from_data(
                TensorData::new(values(b * c * h * w, 4, -1.0, 4.0), [b, c, h, w]),
                &device,
            );
            let run = |fused: bool| {
                let bn = layer(&device, c);
                let x = x();
                let y = if fused {
                    batch_norm(&bn, x.clone())
                } else {
                    bn.forward(x.clone())
                };
                let grads = (y.clone() * r.clone()).sum().backward();
                (
                    [
                        host(y),
                        host(x.grad(&grads).unwrap()),
                        host(bn.gamma.val().grad(&grads).unwrap()),
                        host(bn.beta.val().grad(&grads).unwrap()),
                        host(bn.running_mean.value()),
                        host(bn.running_var.value()),
                    ],
                    bn,
                )
            };
            let (ours, _) = run(true);
            let (theirs, _) = run(false);
            for (name, (o, t)) in ["y", "dx", "dγ", "dβ", "running mean", "running var"]
                .iter()
                .zip(ours.iter().zip(&theirs))
            {
                assert_close(name, o, t, 2e-5);
            }
        }
    }

    #[test]
    fn inference_and_non_autodiff_devices_keep_burns_path() {
        // Without autodiff the layer normalises with its running statistics,
        // which are still the initial (0, 1): y = γ x / √(1 + ε) + β.
        let device = Device::flex();
        let bn = layer(&device, 2);
        let x = Tensor::<4>::from_data(
            TensorData::new(values(8, 5, -1.0, 4.0), [2, 2, 1, 2]),
            &device,
        );
        assert_close(
            "y",
            &host(batch_norm(&bn, x.clone())),
            &host(bn.forward(x)),
            2e-5,
        );
        assert_eq!(host(bn.running_mean.value()), vec![0.0, 0.0]);
    }
}
