//! A matrix product through the `gemm` crate on one thread, for the packed
//! cells of crate::packed (their cells are already spread over the cores).
//! Operands are read through strides, so a transpose moves nothing.

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

/// `out` (row-major, `a.rows × b.cols`) ← a·b or += β·a·b, on this thread
/// (the cells of a pack are already spread over the cores).
pub(super) fn matmul(out: &mut [f32], a: Mat, b: Mat, update: Update) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    assert_eq!(out.len(), a.rows * b.cols, "output shape");
    for m in [a, b] {
        // The last element the strides address lies inside the slice.
        assert!(
            m.rows == 0
                || m.cols == 0
                || (m.rows - 1) * m.row + (m.cols - 1) * m.col < m.data.len()
        );
    }
    if out.is_empty() {
        return;
    }
    let (read, beta) = match update {
        Update::Set => (false, 1.0),
        Update::Add(beta) => (true, beta),
    };
    let s = |n: usize| n as isize;
    // SAFETY: every element the strides of `a` and `b` address lies inside
    // their slices (checked above), `out` is contiguous of the product's
    // shape, and as a unique borrow it aliases neither input.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            out.as_mut_ptr(),
            1,
            s(b.cols),
            read,
            a.data.as_ptr(),
            s(a.col),
            s(a.row),
            b.data.as_ptr(),
            s(b.col),
            s(b.row),
            1.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
