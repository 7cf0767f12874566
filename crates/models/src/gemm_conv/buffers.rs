//! Scratch buffers kept between calls, and `gemm` on checked slices.

thread_local! {
    /// Buffers for the column matrices and transposes, kept between calls:
    /// fresh ones of this size cost more in page faults than the copies
    /// into them (tens of MB per layer at batch 32).
    static SCRATCH: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` floats with unspecified contents, from [`SCRATCH`].
pub(super) fn scratch(len: usize) -> Vec<f32> {
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
pub(super) fn give_back(bufs: impl IntoIterator<Item = Vec<f32>>) {
    SCRATCH.with_borrow_mut(|pool| pool.extend(bufs));
}

/// A `rows × cols` matrix read from `data` at `data[i·row_stride + j·col_stride]`.
pub(super) struct In<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> In<'a> {
    pub(super) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
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
    pub(super) fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
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
pub(super) struct Out<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
}

impl<'a> Out<'a> {
    pub(super) fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols);
        Self { data, rows, cols }
    }
}

/// `out = lhs · rhs` on every core.
pub(super) fn gemm(out: Out, lhs: In, rhs: In) {
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
