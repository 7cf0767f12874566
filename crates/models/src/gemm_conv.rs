//! The CPU convolution ResNet-18 trains with: im2col and three large GEMMs.
//!
//! burn-flex 0.22.1 convolves in tiles of 512 output pixels (one small GEMM
//! per tile, the weight repacked for each) and gets the weight gradient as a
//! convolution whose "kernel" is the whole output gradient: thousands of GEMMs
//! nine columns wide. Profiled on a ResNet-18 CIFAR step at batch 32, that is
//! most of the step (see README, Performance). Here a convolution of x
//! `[B, C, H, W]` by w `[O, C, k, k]` is
//!
//! - forward: `y[O, B·P] = w[O, C·k²] · cols[C·k², B·P]`, cols = im2col(x);
//! - backward: `dw = dy · colsᵀ` and `dx = col2im(wᵀ · dy)`,
//!
//! each one GEMM over the whole batch (the `gemm` crate, with its AVX-512
//! kernels). The column matrices live in per-thread scratch buffers. Only the CPU takes this path: [`conv2d`] hands every other
//! device, and any convolution it does not cover (bias, groups, dilation,
//! non-square kernels, other dtypes), to burn's own `Conv2d`.

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
use rayon::prelude::*;

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
    let cpu = x.device().inner() == Device::flex()
        && x.dtype() == DType::F32
        && conv.weight.val().dtype() == DType::F32;
    (plain && cpu).then_some((s, padding))
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

/// Sizes of one convolution: x `[b, c, h, w]`, weight `[o, c, k, k]`,
/// output `[b, o, ho, wo]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub b: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    fn new(x: &FlexTensor, w: &FlexTensor, stride: usize, padding: usize) -> Self {
        let (xs, ws) = (x.layout().shape(), w.layout().shape());
        Self::of(
            [xs[0], xs[1], xs[2], xs[3]],
            [ws[0], ws[1], ws[2]],
            stride,
            padding,
        )
    }

    /// x `[b, c, h, w]`, weight `[o, c, k, ·]`.
    pub fn of(x: [usize; 4], w: [usize; 3], stride: usize, padding: usize) -> Self {
        let [b, c, h, wi] = x;
        let [o, wc, k] = w;
        assert_eq!(c, wc, "conv: input has {c} channels, weight expects {wc}");
        let out = |n: usize| (n + 2 * padding - k) / stride + 1;
        Self {
            b,
            c,
            h,
            w: wi,
            o,
            k,
            stride,
            padding,
            ho: out(h),
            wo: out(wi),
        }
    }

    /// Rows of the column matrix: C·k².
    fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Output pixels per image.
    fn pixels(&self) -> usize {
        self.ho * self.wo
    }

    /// Columns of the column matrix: B·P.
    fn cols(&self) -> usize {
        self.b * self.pixels()
    }

    /// For kernel offset `kk` along an axis of `len` inputs and `out` outputs:
    /// the outputs whose input index lies inside, and where the first reads.
    fn span(&self, kk: usize, len: usize, out: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.padding);
        // Output o reads input o·s + kk − p.
        let first = p.saturating_sub(kk).div_ceil(s).min(out);
        let last = if len + p > kk {
            ((len + p - kk - 1) / s + 1).min(out)
        } else {
            0
        };
        (first, last.max(first))
    }

    /// cols `[C·k², B·P]`: row (c, kh, kw), column (b, oh, ow) holds
    /// x[b, c, oh·s − p + kh, ow·s − p + kw], zero in the padding.
    pub fn im2col(&self, x: &[f32]) -> Vec<f32> {
        let mut cols = vec![0.0f32; self.rows() * self.cols()];
        self.im2col_into(x, &mut cols);
        cols
    }

    /// [`Self::im2col`] into `cols`, every element written.
    fn im2col_into(&self, x: &[f32], cols: &mut [f32]) {
        let (n, p) = (self.cols(), self.pixels());
        cols.par_chunks_mut(n)
            .enumerate()
            .with_min_len(min_len(n))
            .for_each(|(r, row)| {
                let (c, kh, kw) = (r / (self.k * self.k), r / self.k % self.k, r % self.k);
                let (oh0, oh1) = self.span(kh, self.h, self.ho);
                let (ow0, ow1) = self.span(kw, self.w, self.wo);
                for b in 0..self.b {
                    let plane = &x[(b * self.c + c) * self.h * self.w..][..self.h * self.w];
                    let image = &mut row[b * p..][..p];
                    image[..oh0 * self.wo].fill(0.0);
                    image[oh1 * self.wo..].fill(0.0);
                    for oh in oh0..oh1 {
                        let ih = oh * self.stride + kh - self.padding;
                        let src = &plane[ih * self.w..][..self.w];
                        let dst = &mut image[oh * self.wo..][..self.wo];
                        dst[..ow0].fill(0.0);
                        dst[ow1..].fill(0.0);
                        if ow0 == ow1 {
                            continue;
                        }
                        let iw0 = ow0 * self.stride + kw - self.padding;
                        if self.stride == 1 {
                            dst[ow0..ow1].copy_from_slice(&src[iw0..iw0 + (ow1 - ow0)]);
                        } else {
                            for (d, ow) in dst[ow0..ow1].iter_mut().zip(0..) {
                                *d = src[iw0 + ow * self.stride];
                            }
                        }
                    }
                }
            });
    }

    /// dx `[B, C, H, W]` from dcols `[C·k², B·P]`: the adjoint of [`Self::im2col`].
    pub fn col2im(&self, dcols: &[f32]) -> Vec<f32> {
        let (n, p, hw) = (self.cols(), self.pixels(), self.h * self.w);
        let mut dx = vec![0.0f32; self.b * self.c * hw];
        dx.par_chunks_mut(hw)
            .enumerate()
            .with_min_len(min_len(hw * self.k * self.k))
            .for_each(|(i, plane)| {
                let (b, c) = (i / self.c, i % self.c);
                for kh in 0..self.k {
                    let (oh0, oh1) = self.span(kh, self.h, self.ho);
                    for kw in 0..self.k {
                        let (ow0, ow1) = self.span(kw, self.w, self.wo);
                        if ow0 == ow1 {
                            continue;
                        }
                        let r = (c * self.k + kh) * self.k + kw;
                        let row = &dcols[r * n + b * p..][..p];
                        for oh in oh0..oh1 {
                            let ih = oh * self.stride + kh - self.padding;
                            let dst = &mut plane[ih * self.w..][..self.w];
                            let src = &row[oh * self.wo..][ow0..ow1];
                            let iw0 = ow0 * self.stride + kw - self.padding;
                            if self.stride == 1 {
                                let dst = &mut dst[iw0..iw0 + src.len()];
                                dst.iter_mut().zip(src).for_each(|(d, v)| *d += v);
                            } else {
                                for (ow, v) in src.iter().enumerate() {
                                    dst[iw0 + ow * self.stride] += v;
                                }
                            }
                        }
                    }
                }
            });
        dx
    }

    /// y `[B, O, Ho, Wo]`.
    pub fn forward(&self, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (n, o, kr, p) = (self.cols(), self.o, self.rows(), self.pixels());
        let mut cols = scratch(kr * n);
        self.im2col_into(x, &mut cols);
        let mut yt = scratch(o * n);
        gemm(
            Out::row_major(&mut yt, o, n),
            In::row_major(w, o, kr),
            In::row_major(&cols, kr, n),
        );
        // yt [O, B·P] → y [B, O, P].
        let mut y = vec![0.0f32; n * o];
        y.par_chunks_mut(p)
            .enumerate()
            .with_min_len(min_len(p))
            .for_each(|(i, dst)| {
                let (b, oc) = (i / o, i % o);
                dst.copy_from_slice(&yt[oc * n + b * p..][..p]);
            });
        give_back([cols, yt]);
        y
    }

    /// (dx, dw) for dy `[B, O, Ho, Wo]`; each only when asked for. The
    /// column matrix is built again rather than kept from the forward pass:
    /// kept, it would hold nine times each input until the backward pass.
    pub fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        want_dx: bool,
        want_dw: bool,
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let (n, o, kr, p) = (self.cols(), self.o, self.rows(), self.pixels());
        // dy [B, O, P] → dyt [O, B·P].
        let mut dyt = scratch(o * n);
        dyt.par_chunks_mut(n)
            .enumerate()
            .with_min_len(min_len(n))
            .for_each(|(oc, row)| {
                for b in 0..self.b {
                    row[b * p..][..p].copy_from_slice(&dy[(b * o + oc) * p..][..p]);
                }
            });
        let dw = want_dw.then(|| {
            let mut cols = scratch(kr * n);
            self.im2col_into(x, &mut cols);
            // dwᵀ [C·k², O] = cols · dytᵀ: the layout the gemm crate is
            // fastest at for this shape; then transposed to [O, C·k²].
            let mut dwt = scratch(kr * o);
            gemm(
                Out::row_major(&mut dwt, kr, o),
                In::row_major(&cols, kr, n),
                In::transposed(&dyt, n, o),
            );
            let mut dw = vec![0.0f32; o * kr];
            dw.par_chunks_mut(kr)
                .enumerate()
                .with_min_len(min_len(kr))
                .for_each(|(oc, row)| {
                    for (r, v) in row.iter_mut().enumerate() {
                        *v = dwt[r * o + oc];
                    }
                });
            give_back([cols, dwt]);
            dw
        });
        let dx = want_dx.then(|| {
            let mut dcols = scratch(kr * n);
            gemm(
                Out::row_major(&mut dcols, kr, n),
                In::transposed(w, kr, o),
                In::row_major(&dyt, o, n),
            );
            let dx = self.col2im(&dcols);
            give_back([dcols]);
            dx
        });
        give_back([dyt]);
        (dx, dw)
    }
}

thread_local! {
    /// Buffers for the column matrices and transposes, kept between calls:
    /// fresh ones of this size cost more in page faults than the copies
    /// into them (tens of MB per layer at batch 32).
    static SCRATCH: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` floats with unspecified contents, from [`SCRATCH`].
fn scratch(len: usize) -> Vec<f32> {
    let mut buf = SCRATCH.with_borrow_mut(|pool| {
        // The smallest kept buffer that is big enough, else the biggest.
        let pick = (0..pool.len())
            .filter(|&i| pool[i].capacity() >= len)
            .min_by_key(|&i| pool[i].capacity())
            .or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
        pick.map(|i| pool.swap_remove(i)).unwrap_or_default()
    });
    buf.resize(len, 0.0);
    buf
}

/// Items of `floats` each that one parallel task takes at least: splitting
/// finer costs more in scheduling than the copies it spreads.
pub(crate) fn min_len(floats: usize) -> usize {
    (1usize << 14).div_ceil(floats.max(1))
}

/// Frees this thread's scratch buffers (they are kept between calls).
pub fn release_scratch() {
    SCRATCH.with_borrow_mut(Vec::clear);
}

/// Returns buffers to [`SCRATCH`].
fn give_back(bufs: impl IntoIterator<Item = Vec<f32>>) {
    SCRATCH.with_borrow_mut(|pool| pool.extend(bufs));
}

/// A `rows × cols` matrix read from `data` at `data[i·row_stride + j·col_stride]`.
struct In<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> In<'a> {
    fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::check(data.len(), rows, cols, cols, 1);
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The `rows × cols` transpose of a row-major `cols × rows` matrix.
    fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::check(data.len(), rows, cols, 1, rows);
        Self {
            data,
            rows,
            cols,
            row_stride: 1,
            col_stride: rows,
        }
    }

    /// Every element `(i, j)` lies inside the slice.
    fn check(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) {
        if rows > 0 && cols > 0 {
            assert!((rows - 1) * row_stride + (cols - 1) * col_stride < len);
        }
    }
}

/// A row-major `rows × cols` matrix to write.
struct Out<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
}

impl<'a> Out<'a> {
    fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols);
        Self { data, rows, cols }
    }
}

/// `out = lhs · rhs` on every core.
fn gemm(out: Out, lhs: In, rhs: In) {
    assert_eq!((out.rows, out.cols), (lhs.rows, rhs.cols));
    assert_eq!(lhs.cols, rhs.rows);
    if out.data.is_empty() {
        return;
    }
    let s = |n: usize| n as isize;
    // SAFETY: `In` and `Out` checked above that every element the strides
    // address lies inside its slice; `out` is borrowed mutably, so it aliases
    // neither input.
    unsafe {
        gemm::gemm(
            out.rows,
            out.cols,
            lhs.cols,
            out.data.as_mut_ptr(),
            1,
            s(out.cols),
            false,
            lhs.data.as_ptr(),
            s(lhs.col_stride),
            s(lhs.row_stride),
            rhs.data.as_ptr(),
            s(rhs.col_stride),
            s(rhs.row_stride),
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

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
    /// kernels wider than the image.
    const CASES: [[usize; 8]; 9] = [
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
