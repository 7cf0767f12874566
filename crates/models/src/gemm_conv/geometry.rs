//! The column matrix of a convolution and the three products over it.

use burn::backend::flex::FlexTensor;

use super::buffers::{In, Out, gemm, give_back, min_len, scratch};
use rayon::prelude::*;

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
    pub(super) fn new(x: &FlexTensor, w: &FlexTensor, stride: usize, padding: usize) -> Self {
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
    pub fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Output pixels per image.
    fn pixels(&self) -> usize {
        self.ho * self.wo
    }

    /// Columns of the column matrix: B·P.
    pub fn cols(&self) -> usize {
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

    /// At stride 1 with output rows as wide as the input's, where kernel
    /// offset (kh, kw) reads the plane shifted by one amount: the output
    /// positions lo..hi of rows oh0..oh1 whose input lies in the plane, and
    /// the input position of lo (empty, lo = hi, where none does).
    fn shifted_run(&self, kh: usize, kw: usize, oh0: usize, oh1: usize) -> (usize, usize, usize) {
        let shift = (kh * self.w + kw) as isize - (self.padding * self.w + self.padding) as isize;
        let lo = ((oh0 * self.wo) as isize).max(-shift);
        let hi = ((oh1 * self.wo) as isize).min((self.h * self.w) as isize - shift);
        if lo >= hi {
            return (0, 0, 0);
        }
        (lo as usize, hi as usize, (lo + shift) as usize)
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
                // Stride 1 with rows as wide as the input's: the image's
                // rows oh0..oh1 are the plane shifted by one offset, so one
                // copy serves them all, and the columns that wrapped round
                // into the padding are zeroed after. (A copy per row costs a
                // memmove call per 4 to 28 numbers at the twins' widths:
                // 10% of their step.)
                let shifted = self.stride == 1 && self.wo == self.w;
                for b in 0..self.b {
                    let plane = &x[(b * self.c + c) * self.h * self.w..][..self.h * self.w];
                    let image = &mut row[b * p..][..p];
                    image[..oh0 * self.wo].fill(0.0);
                    image[oh1 * self.wo..].fill(0.0);
                    if shifted {
                        // image[i] = plane[i + shift] for i in rows oh0..oh1.
                        let (lo, hi, from) = self.shifted_run(kh, kw, oh0, oh1);
                        image[lo..hi].copy_from_slice(&plane[from..from + (hi - lo)]);
                        for oh in oh0..oh1 {
                            let dst = &mut image[oh * self.wo..][..self.wo];
                            dst[..ow0].fill(0.0);
                            dst[ow1..].fill(0.0);
                        }
                        continue;
                    }
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
        self.col2im_from(&mut dcols.to_vec(), true)
    }

    /// [`Self::col2im`], free to overwrite the entries of `dcols` that fall
    /// in the padding (with −0.0); `shift` false keeps to the add per row
    /// (the tests compare the two bit for bit).
    fn col2im_from(&self, dcols: &mut [f32], shift: bool) -> Vec<f32> {
        let (n, p, hw) = (self.cols(), self.pixels(), self.h * self.w);
        // Stride 1 with rows as wide as the input's (as in im2col_into): an
        // offset's rows are the plane shifted, so one add over the whole
        // stretch serves them all once the columns that would wrap round
        // are −0.0 (x + −0.0 is x, bit for bit). Per row, the adds ran 4 to
        // 28 numbers long at the twins' widths.
        let shifted = shift && self.stride == 1 && self.wo == self.w;
        if shifted {
            let k = self.k;
            dcols
                .par_chunks_mut(n)
                .enumerate()
                .with_min_len(min_len(n))
                .for_each(|(r, row)| {
                    let (kh, kw) = (r / k % k, r % k);
                    let (oh0, oh1) = self.span(kh, self.h, self.ho);
                    let (ow0, ow1) = self.span(kw, self.w, self.wo);
                    for image in row.chunks_mut(p) {
                        for oh in oh0..oh1 {
                            // At most `padding` numbers a row (k is
                            // 2·padding + 1 here): a loop, not `fill`'s call
                            // to memset.
                            for ow in (0..ow0).chain(ow1..self.wo) {
                                image[oh * self.wo + ow] = -0.0;
                            }
                        }
                    }
                });
        }
        let dcols = &*dcols;
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
                        if shifted {
                            // plane[i + shift] += row[i] for i in rows oh0..oh1.
                            let (lo, hi, from) = self.shifted_run(kh, kw, oh0, oh1);
                            let dst = &mut plane[from..from + (hi - lo)];
                            dst.iter_mut().zip(&row[lo..hi]).for_each(|(d, v)| *d += v);
                            continue;
                        }
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
            let dx = self.col2im_from(&mut dcols, true);
            give_back([dcols]);
            dx
        });
        give_back([dyt]);
        (dx, dw)
    }
}

#[cfg(test)]
mod tests {
    use super::Geometry;

    /// The shifted col2im (one add per kernel offset) against the add per
    /// row, bit for bit, on every stride-1 geometry whose output rows are as
    /// wide as its input's, with signed zeros among the values.
    #[test]
    fn shifted_col2im_is_the_add_per_row_bit_for_bit() {
        let mut taken = 0;
        for (h, w) in [(1, 1), (1, 5), (4, 1), (3, 3), (5, 7), (7, 4), (28, 28)] {
            for k in [1, 3, 5] {
                let g = Geometry::of([2, 3, h, w], [2, 3, k], 1, (k - 1) / 2);
                assert_eq!((g.ho, g.wo), (h, w));
                let dcols: Vec<f32> = (0..g.rows() * g.cols())
                    .map(|i| match i % 7 {
                        0 => -0.0,
                        1 => 0.0,
                        _ => ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 3.0,
                    })
                    .collect();
                let shifted = g.col2im_from(&mut dcols.clone(), true);
                let per_row = g.col2im_from(&mut dcols.clone(), false);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&shifted), bits(&per_row), "{h}×{w}, k = {k}");
                taken += 1;
            }
        }
        assert_eq!(taken, 21);
    }
}
