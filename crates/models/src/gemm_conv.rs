//! The CPU convolution ResNet-18 trains with: im2col and three large GEMMs.
//!
//! burn-flex 0.22.1 convolves in tiles of 512 output pixels (one small GEMM
//! per tile, the weight repacked for each) and gets the weight gradient as a
//! convolution whose "kernel" is the whole output gradient: thousands of GEMMs
//! nine columns wide. Profiled on a ResNet-18 CIFAR step at batch 32, that is
//! most of the step (see docs/performance.md). Here a convolution of x
//! `[B, C, H, W]` by w `[O, C, k, k]` is
//!
//! - forward: `y[O, B·P] = w[O, C·k²] · cols[C·k², B·P]`, cols = im2col(x);
//! - backward: `dw = dy · colsᵀ` and `dx = col2im(wᵀ · dy)`,
//!
//! each one GEMM over the whole batch (the `gemm` crate, with its AVX-512
//! kernels). The column matrices live in per-thread scratch buffers and are
//! built again for the backward pass. Only the CPU takes this path: `conv2d`
//! hands every other device, and any convolution it does not cover (bias,
//! groups, dilation, non-square kernels, other dtypes), to burn's `Conv2d`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Device, Tensor, TensorData};

#[backend_extension(Flex, Autodiff)]
pub trait GemmConv: Backend {
    /// Convolution without bias, square kernel, one group, no dilation.
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// `conv.forward(x)`, through [`GemmConv`] on the CPU.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match gemm_shape(conv, &x) {
        Some((stride, padding)) => Tensor::from_dispatch(<Dispatch as GemmConv>::gemm_conv2d(
            x.into_dispatch(),
            conv.weight.val().into_dispatch(),
            stride,
            padding,
        )),
        None => conv.forward(x),
    }
}

/// (stride, padding) when `conv` on `x` is one this module computes.
fn gemm_shape(conv: &Conv2d, x: &Tensor<4>) -> Option<(usize, usize)> {
    let [k, k2] = conv.kernel_size;
    let [s, s2] = conv.stride;
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(a, b, c, d) if a == b && b == c && c == d => a,
        PaddingConfig2d::Valid => 0,
        _ => return None,
    };
    let plain =
        k == k2 && s == s2 && conv.dilation == [1, 1] && conv.groups == 1 && conv.bias.is_none();
    let cpu = on_flex_f32(x) && conv.weight.val().dtype() == DType::F32;
    (plain && cpu).then_some((s, padding))
}

/// Whether `x` is an f32 tensor on the CPU (flex) device, where the ops of
/// this module and of batch_norm.rs apply.
pub(crate) fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.device().inner() == Device::flex() && x.dtype() == DType::F32
}

impl GemmConv for Flex {
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let geometry = Geometry::new(&x, &weight, stride, padding);
        let (x, w) = (x.to_contiguous(), weight.to_contiguous());
        let y = geometry.forward(f32s(&x), f32s(&w));
        tensor(y, [geometry.b, geometry.o, geometry.ho, geometry.wo])
    }
}

impl<C: CheckpointStrategy> GemmConv for Autodiff<Flex, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let y = Flex::gemm_conv2d(
            x.primitive().clone(),
            weight.primitive().clone(),
            stride,
            padding,
        );
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                prep.finish((x_state, w_state, stride, padding), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, usize, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x_state, w_state, stride, padding) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let w: FlexTensor = checkpointer.retrieve_node_output(w_state);
        let g = Geometry::new(&x, &w, stride, padding);
        let (x, w) = (x.to_contiguous(), w.to_contiguous());
        let (dx, dw) = g.backward(
            f32s(&x),
            f32s(&w),
            f32s(&dy),
            node_x.is_some(),
            node_w.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, [g.b, g.c, g.h, g.w]));
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(node.id, tensor(dw, [g.o, g.c, g.k, g.k]));
        }
    }
}

fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

mod buffers;
mod geometry;

pub(crate) use buffers::min_len;
pub use buffers::release_scratch;
pub use geometry::Geometry;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_close, host, values};
    use burn::module::Param;
    use burn::nn::conv::Conv2dConfig;

    fn burn_conv(
        device: &Device,
        o: usize,
        c: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Conv2d {
        let mut conv = Conv2dConfig::new([c, o], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device);
        conv.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(values(o * c * k * k, 7, -1.0, 2.0), [o, c, k, k]),
            device,
        ));
        conv
    }

    /// (batch, channels in, height, width, channels out, kernel, stride, padding):
    /// ResNet's three kinds (3×3 stride 1 and 2, 1×1 stride 2), odd sizes, a
    /// padding wider than the kernel reaches, an output of one pixel, and
    /// kernels wider than the image; stride 1 with the output as wide as the
    /// input (im2col's one-copy path) at 3×3, 5×5 and non-square sizes.
    const CASES: [[usize; 8]; 11] = [
        [2, 3, 5, 7, 2, 3, 1, 1],
        [1, 2, 6, 6, 2, 5, 1, 2],
        [2, 3, 8, 8, 4, 3, 1, 1],
        [2, 4, 8, 8, 5, 3, 2, 1],
        [3, 4, 7, 7, 6, 1, 2, 0],
        [1, 2, 5, 9, 3, 3, 1, 0],
        [2, 3, 7, 6, 2, 3, 2, 1],
        [1, 2, 4, 4, 3, 3, 1, 2],
        [2, 3, 3, 3, 2, 3, 1, 0],
        [2, 2, 1, 1, 3, 5, 1, 2],
        [1, 2, 2, 3, 2, 7, 2, 3],
    ];

    #[test]
    fn forward_matches_burns_conv2d() {
        let device = Device::flex();
        for [b, c, h, w, o, k, s, p] in CASES {
            let conv = burn_conv(&device, o, c, k, s, p);
            let x = Tensor::<4>::from_data(
                TensorData::new(values(b * c * h * w, 3, -1.0, 2.0), [b, c, h, w]),
                &device,
            );
            assert!(
                gemm_shape(&conv, &x).is_some(),
                "case {:?} takes the GEMM path",
                [b, c, h, w, o, k, s, p]
            );
            let ours = conv2d(&conv, x.clone());
            let theirs = conv.forward(x);
            assert_eq!(ours.dims(), theirs.dims());
            assert_close("y", &host(ours), &host(theirs), 1e-4);
        }
    }

    #[test]
    fn gradients_match_burns_conv2d() {
        let device = Device::flex().autodiff();
        for [b, c, h, w, o, k, s, p] in CASES {
            let conv = burn_conv(&device, o, c, k, s, p);
            let x = Tensor::<4>::from_data(
                TensorData::new(values(b * c * h * w, 3, -1.0, 2.0), [b, c, h, w]),
                &device,
            )
            .require_grad();
            // A loss whose gradient differs at every output: Σ y ⊙ r.
            let r = |y: &Tensor<4>| {
                Tensor::<4>::from_data(
                    TensorData::new(values(y.dims().iter().product(), 11, -1.0, 2.0), y.dims()),
                    &device,
                )
            };
            let grads_of = |y: Tensor<4>| {
                let loss = (y.clone() * r(&y)).sum();
                let grads = loss.backward();
                let dx = x.grad(&grads).expect("dx");
                let dw = conv.weight.val().grad(&grads).expect("dw");
                (host(dx), host(dw))
            };
            let (dx, dw) = grads_of(conv2d(&conv, x.clone()));
            let (dx_burn, dw_burn) = grads_of(conv.forward(x.clone()));
            assert_close("dx", &dx, &dx_burn, 1e-4);
            assert_close("dw", &dw, &dw_burn, 1e-4);
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // ⟨im2col(x), v⟩ = ⟨x, col2im(v)⟩ for any x, v.
        for [b, c, h, w, o, k, s, p] in CASES {
            let g = Geometry::of([b, c, h, w], [o, c, k], s, p);
            let x = values(b * c * h * w, 5, -1.0, 2.0);
            let v = values(g.rows() * g.cols(), 9, -1.0, 2.0);
            let lhs: f64 = g
                .im2col(&x)
                .iter()
                .zip(&v)
                .map(|(a, b)| (a * b) as f64)
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(g.col2im(&v))
                .map(|(a, b)| (a * b) as f64)
                .sum();
            assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn other_convolutions_and_devices_keep_burns_path() {
        let device = Device::flex();
        let x = Tensor::<4>::zeros([1, 2, 6, 6], &device);
        let plain = burn_conv(&device, 3, 2, 3, 1, 1);
        assert_eq!(gemm_shape(&plain, &x), Some((1, 1)));
        let biased = Conv2dConfig::new([2, 3], [3, 3]).init(&device);
        assert_eq!(gemm_shape(&biased, &x), None);
        let dilated = Conv2dConfig::new([2, 3], [3, 3])
            .with_bias(false)
            .with_dilation([2, 2])
            .init(&device);
        assert_eq!(gemm_shape(&dilated, &x), None);
    }
}
