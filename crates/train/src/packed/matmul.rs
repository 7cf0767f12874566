//! The matrix products of crate::packed's batches, on one thread (the cells
//! of a pack are already spread over the cores).
//!
//! Every product here has one operand that is read along its rows: out[p, :]
//! gets Σₖ a(p, k)·b[k, :], where `b`'s rows are contiguous and `a` is read
//! one number at a time through any strides. The kernel keeps a block of up
//! to [`BLOCK`] output rows × 32 columns in registers (fewer without
//! AVX-512), and for each k loads that stretch of b's row once and
//! multiplies it by the block's numbers of `a`. Nothing is packed: at the packed cells' sizes (a 200 × 200
//! weight against a batch of 8–64 rows) the `gemm` crate spent as long
//! copying the weight into its panels as multiplying (a third of a batch-8
//! step), because 200 is not a multiple of its 16-row tiles.

/// A matrix read through strides: element (i, j) is `data[i·row + j·col]`.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row: usize,
    col: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub(super) fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows} × {cols} matrix");
        Self {
            data,
            rows,
            cols,
            row: cols,
            col: 1,
        }
    }

    /// The transpose, without moving anything.
    pub(super) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
            ..self
        }
    }
}

/// What [`matmul`] does with the product P: `out = P`, or `out += β·P`.
#[derive(Clone, Copy)]
pub(super) enum Update {
    Set,
    Add(f32),
}

/// The instruction set a product is compiled for: how many output rows and
/// how wide a stretch of them the registers hold, and whether a·b + c is one
/// fused instruction.
pub(super) trait Simd {
    /// The widest stretch of columns a block keeps in registers.
    const WIDE: usize = 16;
    /// The rows of a block: [`BLOCK`] or 4.
    const ROWS: usize = 4;
    /// Whether [`block_avx512`] can run the blocks.
    const AVX512: bool = false;
    /// a·b + c: one FMA instruction where the target has it.
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// AVX-512F with FMA: a block is 8 rows × 32 columns, sixteen of the 32
/// registers, and a stretch of b's row (two registers) serves eight
/// multiplies. Its b panel, k × 32 numbers, stays in L1 for k up to ~300;
/// 64 columns × 4 rows read the same weights from L2 and ran 30% slower.
pub(super) struct Avx512;
/// AVX2 with FMA: 4 rows × 16 columns, eight of the 16 registers.
pub(super) struct Avx2;
/// Whatever the target has, without assuming a fused multiply–add.
pub(super) struct Portable;

impl Simd for Avx512 {
    const WIDE: usize = 32;
    const ROWS: usize = BLOCK;
    const AVX512: bool = true;
}

impl Simd for Avx2 {}

impl Simd for Portable {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// The most output rows a block keeps in registers.
const BLOCK: usize = 8;

/// `out` (row-major, `a.rows × b.cols`) ← a·b or += β·a·b, where `b`'s
/// rows are contiguous (`b.col == 1`).
#[inline(always)]
pub(super) fn matmul<S: Simd>(out: &mut [f32], a: Mat, b: Mat, update: Update) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(k, b.rows, "inner dimensions");
    assert_eq!(out.len(), m * n, "output shape");
    assert_eq!(b.col, 1, "b is read along its rows");
    for x in [a, b] {
        // The last element the strides address lies inside the slice.
        assert!(
            x.rows == 0
                || x.cols == 0
                || (x.rows - 1) * x.row + (x.cols - 1) * x.col < x.data.len()
        );
    }
    #[cfg(target_arch = "x86_64")]
    let fast = S::AVX512 && avx512();
    #[cfg(not(target_arch = "x86_64"))]
    let fast = false;
    let mut n0 = 0;
    while n0 < n {
        let left = n - n0;
        n0 += if left >= 32 && S::WIDE >= 32 {
            columns::<S, 32>(out, a, b, n0, update, fast)
        } else if left >= 16 {
            columns::<S, 16>(out, a, b, n0, update, fast)
        } else if left >= 8 {
            columns::<S, 8>(out, a, b, n0, update, fast)
        } else {
            columns::<S, 1>(out, a, b, n0, update, fast)
        };
    }
}

/// Columns `n0..n0 + W` of every output row; returns W.
#[inline(always)]
fn columns<S: Simd, const W: usize>(
    out: &mut [f32],
    a: Mat,
    b: Mat,
    n0: usize,
    update: Update,
    fast: bool,
) -> usize {
    let mut p0 = 0;
    while p0 + S::ROWS <= a.rows {
        if S::ROWS == BLOCK {
            block::<S, BLOCK, W>(out, a, b, p0, n0, update, fast);
        } else {
            block::<S, 4, W>(out, a, b, p0, n0, update, fast);
        }
        p0 += S::ROWS;
    }
    while p0 < a.rows {
        block::<S, 1, W>(out, a, b, p0, n0, update, fast);
        p0 += 1;
    }
    W
}

/// Whether the CPU has AVX-512F and FMA: [`matmul`] asks again at every
/// product (the standard library's cached answer), so that
/// `matmul::<Avx512>` stays safe to call anywhere; where it is false the
/// portable blocks run.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
}

/// [`block`] in AVX-512 registers, V of them a row: written out because
/// LLVM, given [`block`]'s arrays 32 wide, shuffled b's row between
/// registers at every k (half the kernel's time).
///
/// # Safety
/// The CPU has AVX-512F and FMA, and [`block`]'s bounds hold for W = 16·V.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn block_avx512<const P: usize, const V: usize>(
    out: &mut [f32],
    a: Mat,
    b: Mat,
    p0: usize,
    n0: usize,
    update: Update,
) {
    use std::arch::x86_64::*;
    let n = b.cols;
    let mut acc = [[_mm512_setzero_ps(); V]; P];
    let (ad, bd) = (a.data.as_ptr(), b.data.as_ptr());
    for k in 0..a.cols {
        // SAFETY: as in `block`: every address is inside the slices.
        let row = unsafe { bd.add(k * b.row + n0) };
        let mut bv = [_mm512_setzero_ps(); V];
        for (v, bv) in bv.iter_mut().enumerate() {
            *bv = unsafe { _mm512_loadu_ps(row.add(16 * v)) };
        }
        for (p, acc) in acc.iter_mut().enumerate() {
            let s = _mm512_set1_ps(unsafe { *ad.add((p0 + p) * a.row + k * a.col) });
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm512_fmadd_ps(s, bv, *acc);
            }
        }
    }
    for (p, acc) in acc.iter().enumerate() {
        let o = &mut out[(p0 + p) * n + n0..(p0 + p) * n + n0 + 16 * V];
        for (v, &acc) in acc.iter().enumerate() {
            let o = o[16 * v..16 * v + 16].as_mut_ptr();
            // SAFETY: `o` is a stretch of 16 numbers of `out`.
            unsafe {
                match update {
                    Update::Set => _mm512_storeu_ps(o, acc),
                    Update::Add(beta) => {
                        let old = _mm512_loadu_ps(o);
                        _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_set1_ps(beta), acc, old));
                    }
                }
            }
        }
    }
}

/// out[p0..p0 + P, n0..n0 + W] from registers: Σₖ a(p, k)·b[k, n0..n0 + W];
/// through [`block_avx512`] where `fast` (the CPU has AVX-512F and FMA).
#[inline(always)]
fn block<S: Simd, const P: usize, const W: usize>(
    out: &mut [f32],
    a: Mat,
    b: Mat,
    p0: usize,
    n0: usize,
    update: Update,
    fast: bool,
) {
    let n = b.cols;
    debug_assert!(p0 + P <= a.rows && n0 + W <= n);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = fast;
    #[cfg(target_arch = "x86_64")]
    if fast && (W == 32 || W == 16) {
        // SAFETY: `fast` says the CPU has AVX-512F and FMA; the bounds are
        // this function's.
        unsafe {
            match (P, W) {
                (BLOCK, 32) => block_avx512::<BLOCK, 2>(out, a, b, p0, n0, update),
                (BLOCK, 16) => block_avx512::<BLOCK, 1>(out, a, b, p0, n0, update),
                (1, 32) => block_avx512::<1, 2>(out, a, b, p0, n0, update),
                (1, 16) => block_avx512::<1, 1>(out, a, b, p0, n0, update),
                _ => unreachable!("Avx512 blocks are {BLOCK} or 1 rows"),
            }
        }
        return;
    }
    let mut acc = [[0.0f32; W]; P];
    for k in 0..a.cols {
        // SAFETY: p0 + P ≤ a.rows, k < a.cols = b.rows and n0 + W ≤ b.cols,
        // and matmul checked that every such element lies in the slices.
        let row = unsafe { b.data.get_unchecked(k * b.row + n0..k * b.row + n0 + W) };
        for (p, acc) in acc.iter_mut().enumerate() {
            let s = unsafe { *a.data.get_unchecked((p0 + p) * a.row + k * a.col) };
            for (acc, &bv) in acc.iter_mut().zip(row) {
                *acc = S::madd(s, bv, *acc);
            }
        }
    }
    for (p, acc) in acc.iter().enumerate() {
        let o = &mut out[(p0 + p) * n + n0..(p0 + p) * n + n0 + W];
        match update {
            Update::Set => o.copy_from_slice(acc),
            Update::Add(beta) => {
                for (o, &v) in o.iter_mut().zip(acc) {
                    *o = S::madd(beta, v, *o);
                }
            }
        }
    }
}

/// `out` (`cols × rows`, row-major) ← the transpose of `x` (`rows × cols`),
/// in 8 × 8 tiles so that both sides stay in a few cache lines.
#[inline(always)]
pub(super) fn transpose(x: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    assert_eq!(x.len(), rows * cols);
    assert_eq!(out.len(), rows * cols);
    const T: usize = 8;
    let tile = |r0: usize, c0: usize, nr: usize, nc: usize, out: &mut [f32]| {
        for r in r0..r0 + nr {
            for c in c0..c0 + nc {
                // SAFETY: r < rows and c < cols, and both slices hold
                // rows × cols numbers (checked above).
                unsafe { *out.get_unchecked_mut(c * rows + r) = *x.get_unchecked(r * cols + c) };
            }
        }
    };
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            if r0 + T <= rows && c0 + T <= cols {
                tile(r0, c0, T, T, out);
            } else {
                tile(r0, c0, T.min(rows - r0), T.min(cols - c0), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column width and row remainder the blocks take, strided and
    /// transposed `a`, set and add, against a plain triple loop in f64.
    #[test]
    fn matmul_matches_a_plain_product() {
        let value = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5;
        for (m, n, k) in [
            (1, 1, 1),
            (5, 7, 3),
            (13, 200, 9),
            (200, 8, 200),
            (64, 131, 64),
            (3, 97, 200),
            // 32 + 16 + 8 + 1 columns, and 16 + 8 + 1: every width of
            // every kind, AVX-512's 16 included.
            (17, 57, 11),
            (9, 25, 40),
        ] {
            let a: Vec<f32> = (0..m * k).map(value).collect();
            let at: Vec<f32> = (0..m * k).map(|i| a[(i % m) * k + i / m]).collect();
            let b: Vec<f32> = (0..k * n).map(|i| value(i + 17)).collect();
            let start: Vec<f32> = (0..m * n).map(|i| value(i + 5)).collect();
            let want = |beta: Option<f64>| -> Vec<f64> {
                (0..m * n)
                    .map(|o| {
                        let (p, j) = (o / n, o % n);
                        let s: f64 = (0..k)
                            .map(|q| a[p * k + q] as f64 * b[q * n + j] as f64)
                            .sum();
                        match beta {
                            None => s,
                            Some(beta) => start[o] as f64 + beta * s,
                        }
                    })
                    .collect()
            };
            let check = |got: &[f32], want: &[f64], what: &str| {
                for (o, (&g, &w)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "{what} {m}×{n}×{k} at {o}: {g} against {w}"
                    );
                }
            };
            let mats = [
                ("a", Mat::rows(&a, m, k)),
                ("aᵀᵀ", Mat::rows(&at, k, m).t()),
            ];
            for (name, am) in mats {
                let mut out = vec![f32::NAN; m * n];
                matmul::<Portable>(&mut out, am, Mat::rows(&b, k, n), Update::Set);
                check(&out, &want(None), name);
                let mut out = start.clone();
                matmul::<Portable>(&mut out, am, Mat::rows(&b, k, n), Update::Add(-0.25));
                check(&out, &want(Some(-0.25)), name);
                #[cfg(target_arch = "x86_64")]
                if avx512() {
                    let mut out = start.clone();
                    matmul::<Avx512>(&mut out, am, Mat::rows(&b, k, n), Update::Add(0.5));
                    check(&out, &want(Some(0.5)), name);
                    let mut out = vec![f32::NAN; m * n];
                    matmul::<Avx512>(&mut out, am, Mat::rows(&b, k, n), Update::Set);
                    check(&out, &want(None), name);
                }
                let mut out = start.clone();
                matmul::<Avx2>(&mut out, am, Mat::rows(&b, k, n), Update::Add(0.5));
                check(&out, &want(Some(0.5)), name);
            }
        }
    }

    #[test]
    fn transpose_moves_each_element() {
        let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let mut t = vec![0.0; 12];
        transpose(&x, 3, 4, &mut t);
        assert_eq!(t, [0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
    }
}
