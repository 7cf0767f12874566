//! Packed `two_layer` cells (DESIGN.md §9): K cells that share d, h, σ,
//! bias, batch size, steps, loss and optimizer train as one stacked model,
//! parameters `[K, …]` in one buffer, with per-cell λ, μ, σ_ε, seed and
//! Adam's β₁, β₂, ε.
//!
//! A step of a cell is one fused pass, forward and hand-derived backward with
//! the SGD update folded in; no autodiff graph, no per-operation dispatch.
//! With Adam the backward pass writes the gradients, and burn's Adam update
//! (crate::adam) follows, element by element.
//! The cells of a pack are spread over the cores. Each cell draws the same
//! data and initial weights as the unpacked (burn) path and follows the same
//! loss and divergence rules, so the two agree to float rounding
//! (`tests/packed.rs` checks it against burn's autodiff).

use crate::config::{LossReduction, OptimizerKind, TrainTable};
use crate::data::Source;
use crate::rng::{Stream, rng};
use crate::two_layer::{TEST_POINTS, TwoLayerCell, TwoLayerRun};
use crate::watch::{StepInfo, Unwatched, Watch};
use models::Activation;
use rayon::prelude::*;
use rules::Outcome;
use std::borrow::Borrow;

mod elementwise;
mod matmul;
use elementwise::{activate, axpy, dot, dot4, times_derivative};
use matmul::{Mat, Simd, Update, matmul, transpose};

/// What cells must share to be packed together (the backend apart: the
/// caller adds it).
pub fn pack_key(cell: &TwoLayerCell) -> String {
    let (m, t) = (&cell.net, &cell.train);
    format!(
        "{}|{}|{:?}|{}|{}|{}|{:?}|{}|{:?}",
        m.dim,
        m.hidden,
        m.activation,
        m.bias,
        t.batch_size,
        t.steps,
        t.loss,
        cell.data.n,
        t.optimizer
    )
}

/// Train every cell of `cells` (which share a [`pack_key`]).
pub fn run_packed<C: Borrow<TwoLayerCell> + Sync>(cells: &[C]) -> Vec<TwoLayerRun> {
    let mut unwatched: Vec<Unwatched> = cells.iter().map(|_| Unwatched).collect();
    let watches = unwatched.iter_mut().map(|w| w as &mut dyn Watch).collect();
    run_packed_watched(cells, watches)
}

/// [`run_packed`], reporting each cell's steps to its own watch.
pub fn run_packed_watched<C: Borrow<TwoLayerCell> + Sync>(
    cells: &[C],
    mut watches: Vec<&mut dyn Watch>,
) -> Vec<TwoLayerRun> {
    assert_eq!(cells.len(), watches.len(), "one watch per cell");
    let Some(first) = cells.first() else {
        return Vec::new();
    };
    let (d, h) = (first.borrow().net.dim, first.borrow().net.hidden);
    let [mut w1, mut w2, mut b1, mut b2] = initial_params(cells, d, h);
    w1.par_chunks_mut(h * d)
        .zip(w2.par_chunks_mut(d * h))
        .zip(b1.par_chunks_mut(h))
        .zip(b2.par_chunks_mut(d))
        .zip(cells.par_iter())
        .zip(watches.par_iter_mut())
        .map(|(((((w1, w2), b1), b2), cell), watch)| {
            let cell = cell.borrow();
            let mut net = Net {
                d,
                h,
                w1,
                w2,
                b1,
                b2,
                sigma: cell.net.activation,
                bias: cell.net.bias,
                loss: cell.train.loss,
            };
            train_cell(&mut net, cell, &mut **watch)
        })
        .collect()
}

/// The stacked parameters W₁, W₂, b₁, b₂, PyTorch layout (out × in),
/// cell-major: the initial weights of the unpacked path, drawn in its order.
pub(crate) fn initial_params<C: Borrow<TwoLayerCell>>(
    cells: &[C],
    d: usize,
    h: usize,
) -> [Vec<f32>; 4] {
    let k = cells.len();
    let (mut w1, mut w2) = (Vec::with_capacity(k * h * d), Vec::with_capacity(k * d * h));
    let (mut b1, mut b2) = (Vec::with_capacity(k * h), Vec::with_capacity(k * d));
    for cell in cells {
        let cell = cell.borrow();
        let [w1_k, w2_k, b1_k, b2_k] =
            crate::two_layer::initial_weights(cell.seed, d, h, cell.init_scale);
        w1.extend(w1_k);
        w2.extend(w2_k);
        let bias = cell.net.bias;
        b1.extend(b1_k.into_iter().map(|b| if bias { b } else { 0.0 }));
        b2.extend(b2_k.into_iter().map(|b| if bias { b } else { 0.0 }));
    }
    [w1, w2, b1, b2]
}

/// One cell's parameters inside the stack.
struct Net<'a> {
    d: usize,
    h: usize,
    w1: &'a mut [f32],
    w2: &'a mut [f32],
    b1: &'a mut [f32],
    b2: &'a mut [f32],
    sigma: Activation,
    bias: bool,
    loss: LossReduction,
}

/// Train one cell of the pack: with AVX-512 or AVX2 (and FMA) where the CPU
/// has them (the loops below then run sixteen or eight lanes wide; the
/// default x86-64 target has four). The matrix products of batches of
/// [`GEMM_ROWS`] rows or more go through [`matmul`], compiled for the same.
fn train_cell(net: &mut Net, cell: &TwoLayerCell, watch: &mut dyn Watch) -> TwoLayerRun {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("fma") {
            // SAFETY: the CPU has AVX-512F and FMA, checked just above.
            return unsafe { train_cell_avx512(net, cell, watch) };
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { train_cell_avx2(net, cell, watch) };
        }
    }
    train_cell_portable::<matmul::Portable>(net, cell, watch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn train_cell_avx512(net: &mut Net, cell: &TwoLayerCell, watch: &mut dyn Watch) -> TwoLayerRun {
    train_cell_portable::<matmul::Avx512>(net, cell, watch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn train_cell_avx2(net: &mut Net, cell: &TwoLayerCell, watch: &mut dyn Watch) -> TwoLayerRun {
    train_cell_portable::<matmul::Avx2>(net, cell, watch)
}

/// Batches of this many rows or more multiply through [`matmul`]; smaller
/// ones through the fused loops (at batch 1 a product is a matrix–vector
/// one, where a row of W₂ read once can serve both δ and its own update).
pub const GEMM_ROWS: usize = 8;

#[inline(always)]
fn train_cell_portable<S: Simd>(
    net: &mut Net,
    cell: &TwoLayerCell,
    watch: &mut dyn Watch,
) -> TwoLayerRun {
    let t = &cell.train;
    let teacher = cell.teacher();
    let mut source = Source::teacher(teacher, cell.data.n, cell.seed);
    let mut outcome = Outcome::with_capacity(t.steps);
    let mut scratch = Scratch::new(net.d, net.h, t.batch_size);
    let mut adam = (t.optimizer == OptimizerKind::Adam).then(|| Adam::new(net.d, net.h, t));
    let mut probed: Vec<(usize, Vec<f64>)> = Vec::new();
    watch.start(0, t.steps);
    for step in 0..t.steps {
        if let Some(probe) = &cell.probe {
            probe.observe(step, net.w2, net.d, net.h, &mut probed);
        }
        let batch = source.next_batch(t.batch_size);
        let gemm = batch.rows >= GEMM_ROWS;
        let value = if gemm {
            net.forward_gemm::<S>(&batch.x, &batch.y, batch.rows, &mut scratch)
        } else {
            net.forward(&batch.x, &batch.y, batch.rows, &mut scratch)
        };
        watch.step(&StepInfo {
            step,
            loss: value,
            probe: probed
                .last()
                .filter(|(s, _)| *s == step)
                .map(|(_, v)| &v[..]),
            ..StepInfo::default()
        });
        if outcome.record(step, value, t.diverge_above) {
            break;
        }
        match (&mut adam, gemm) {
            (None, false) => net.sgd_step(&batch.x, batch.rows, t.lr as f32, &mut scratch),
            (None, true) => {
                let lr = t.lr as f32;
                net.backward_gemm::<S>(&batch.x, batch.rows, &mut scratch, Dest::Weights { lr });
            }
            (Some(adam), false) => net.adam_step(&batch.x, batch.rows, t.lr, &mut scratch, adam),
            (Some(adam), true) => {
                let grads = Dest::Grads(&mut adam.grads);
                net.backward_gemm::<S>(&batch.x, batch.rows, &mut scratch, grads);
                adam.step(net, t.lr);
            }
        }
    }
    watch.sync();
    let test = teacher.draw(&mut rng(cell.seed, Stream::TestData), TEST_POINTS);
    let mut big = Scratch::new(net.d, net.h, TEST_ROWS.min(TEST_POINTS));
    let scale = net.loss_scale(TEST_POINTS);
    // A loop, not a closure: a closure is compiled apart, without this
    // function's instruction set (its FMAs became calls to libm's fmaf).
    let mut squares = 0.0f64;
    for (x, y) in test
        .x
        .chunks(TEST_ROWS * net.d)
        .zip(test.y.chunks(TEST_ROWS * net.d))
    {
        squares += net.squares_gemm::<S>(x, y, x.len() / net.d, scale, &mut big);
    }
    let test_loss = (squares * scale) as f32 as f64;
    TwoLayerRun {
        w1: net.w1.to_vec(),
        w2: net.w2.to_vec(),
        dim: net.d,
        hidden: net.h,
        outcome,
        test_loss,
        probed,
    }
}

/// Activations and errors of one batch, and the transpose of X that the
/// forward products of [`Net::forward_gemm`] work in.
struct Scratch {
    z: Vec<f32>,
    a: Vec<f32>,
    e: Vec<f32>,
    delta: Vec<f32>,
    /// Xᵀ, then the outputs' transpose, `[d, rows]`.
    xt: Vec<f32>,
}

impl Scratch {
    fn new(d: usize, h: usize, rows: usize) -> Self {
        Self {
            z: vec![0.0; rows * h],
            a: vec![0.0; rows * h],
            e: vec![0.0; rows * d],
            delta: vec![0.0; rows * h],
            xt: vec![0.0; rows * d],
        }
    }
}

/// The test loss runs through [`Net::forward_gemm`] this many rows at a
/// time: its scratch is then smaller than the 1000 rows of Z and A that
/// crate::memory's estimate counts (a `[h, rows]` transpose joins them).
const TEST_ROWS: usize = 250;

/// `each(i, wᵢ·v)` for every row wᵢ of the row-major `w` (rows as long as
/// `v`), in row order: four rows at a time through [`dot4`], the rest
/// through [`dot`] (the same bits either way). `v` is not empty (d, h ≥ 1).
#[inline(always)]
fn rows_dot(w: &[f32], v: &[f32], mut each: impl FnMut(usize, f32)) {
    let n = v.len();
    debug_assert!(n > 0 && w.len() % n == 0, "whole rows of {n}");
    let rows = w.len() / n;
    let mut i = 0;
    while i + 4 <= rows {
        let row = |k: usize| &w[(i + k) * n..(i + k + 1) * n];
        let sums = dot4([row(0), row(1), row(2), row(3)], v);
        for (k, s) in sums.into_iter().enumerate() {
            each(i + k, s);
        }
        i += 4;
    }
    for i in i..rows {
        each(i, dot(&w[i * n..(i + 1) * n], v));
    }
}

impl Net<'_> {
    /// The loss of the batch; leaves z, σ(z) and ∂L/∂out in `s`.
    #[inline(always)]
    fn forward(&self, x: &[f32], y: &[f32], rows: usize, s: &mut Scratch) -> f32 {
        let (d, h) = (self.d, self.h);
        let scale = self.loss_scale(rows);
        let mut total = 0.0f64;
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            let (z, a) = (&mut s.z[r * h..(r + 1) * h], &mut s.a[r * h..(r + 1) * h]);
            rows_dot(self.w1, xr, |j, s| z[j] = self.b1[j] + s);
            activate(self.sigma, z, a);
            let e = &mut s.e[r * d..(r + 1) * d];
            let yr = &y[r * d..(r + 1) * d];
            rows_dot(self.w2, a, |i, s| {
                let diff = self.b2[i] + s - yr[i];
                total += (diff as f64) * (diff as f64);
                // ∂L/∂out: 2·diff·scale for the mean, diff/rows for ½·sum.
                e[i] = (2.0 * scale * diff as f64) as f32;
            });
        }
        (total * scale) as f32
    }

    /// The SGD update from the batch whose forward pass is in `s`: δ from
    /// the old W₂ (each row of W₂ is read for δ, then updated, in one pass),
    /// W₂ −= λ eᵀa, W₁ −= λ δᵀx, and the biases.
    #[inline(always)]
    fn sgd_step(&mut self, x: &[f32], rows: usize, lr: f32, s: &mut Scratch) {
        let (d, h) = (self.d, self.h);
        s.delta[..rows * h].fill(0.0);
        for i in 0..d {
            let row = &mut self.w2[i * h..(i + 1) * h];
            for r in 0..rows {
                axpy(s.e[r * d + i], row, &mut s.delta[r * h..(r + 1) * h]);
            }
            for r in 0..rows {
                let g = -lr * s.e[r * d + i];
                axpy(g, &s.a[r * h..(r + 1) * h], row);
                if self.bias {
                    self.b2[i] += g;
                }
            }
        }
        times_derivative(
            self.sigma,
            &s.z[..rows * h],
            &s.a[..rows * h],
            &mut s.delta[..rows * h],
        );
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            for j in 0..h {
                let g = -lr * s.delta[r * h + j];
                axpy(g, xr, &mut self.w1[j * d..(j + 1) * d]);
                if self.bias {
                    self.b1[j] += g;
                }
            }
        }
    }
}

/// The same steps with the matrix products through [`matmul`] (batches of
/// [`GEMM_ROWS`] rows or more, and the test loss): X is `[rows, d]`, Z and A
/// `[rows, h]`, E `[rows, d]`, all row-major, W₁ `[h, d]` and W₂ `[d, h]`.
impl Net<'_> {
    /// [`Net::forward`]: Z = X W₁ᵀ + b₁, A = σ(Z), out = A W₂ᵀ + b₂; the
    /// loss of the batch.
    #[inline(always)]
    fn forward_gemm<S: Simd>(&self, x: &[f32], y: &[f32], rows: usize, s: &mut Scratch) -> f32 {
        let scale = self.loss_scale(rows);
        (self.squares_gemm::<S>(x, y, rows, scale, s) * scale) as f32
    }

    /// What the loss of `rows` rows multiplies their sum of squares by.
    fn loss_scale(&self, rows: usize) -> f64 {
        match self.loss {
            LossReduction::Mean => 1.0 / (rows * self.d) as f64,
            LossReduction::HalfSum => 0.5 / rows as f64,
        }
    }

    /// The forward pass of [`Net::forward_gemm`]: returns Σ (out − y)² and
    /// leaves z, σ(z) and ∂L/∂out = 2·scale·(out − y) in `s`. The products
    /// run transposed (Zᵀ = W₁ Xᵀ, outᵀ = W₂ Aᵀ), so that [`matmul`] reads
    /// the weights a number at a time against rows of the batch instead of
    /// copying them; moving X, Zᵀ, A and outᵀ costs 2(d + h)/(2dh) of the
    /// products, a 100th at 200 wide (but 1/8 at d = 8). Zᵀ and Aᵀ pass
    /// through `s.delta`, which the backward pass then overwrites.
    #[inline(always)]
    fn squares_gemm<S: Simd>(
        &self,
        x: &[f32],
        y: &[f32],
        rows: usize,
        scale: f64,
        s: &mut Scratch,
    ) -> f64 {
        let (d, h) = (self.d, self.h);
        let (z, a, e) = (
            &mut s.z[..rows * h],
            &mut s.a[..rows * h],
            &mut s.e[..rows * d],
        );
        let (xt, ht) = (&mut s.xt[..rows * d], &mut s.delta[..rows * h]);
        transpose(x, rows, d, xt);
        matmul::<S>(
            ht,
            Mat::rows(self.w1, h, d),
            Mat::rows(xt, d, rows),
            Update::Set,
        );
        transpose(ht, h, rows, z);
        for zr in z.chunks_exact_mut(h) {
            for (zj, bj) in zr.iter_mut().zip(self.b1.iter()) {
                *zj += bj;
            }
        }
        activate(self.sigma, z, a);
        transpose(a, rows, h, ht);
        let outt = xt;
        matmul::<S>(
            outt,
            Mat::rows(self.w2, d, h),
            Mat::rows(ht, h, rows),
            Update::Set,
        );
        transpose(outt, d, rows, e);
        // The loss in eight partial sums, so that the loop vectorises (one
        // f64 sum waits on the last add, 4 cycles a number).
        let mut total = [0.0f64; 8];
        // A function inlined, not a closure: a closure is compiled apart,
        // without the caller's instruction set.
        #[inline(always)]
        fn add(total: &mut [f64; 8], e: &mut [f32], y: &[f32], b2: &[f32], scale: f64) {
            for (l, ((e, &y), &b)) in e.iter_mut().zip(y).zip(b2).enumerate() {
                let diff = *e + b - y;
                total[l] += (diff as f64) * (diff as f64);
                *e = (2.0 * scale * diff as f64) as f32;
            }
        }
        for (er, yr) in e.chunks_exact_mut(d).zip(y.chunks_exact(d)) {
            let (mut ec, mut yc, mut bc) = (
                er.chunks_exact_mut(8),
                yr.chunks_exact(8),
                self.b2.chunks_exact(8),
            );
            for ((e, y), b) in (&mut ec).zip(&mut yc).zip(&mut bc) {
                add(&mut total, e, y, b, scale);
            }
            add(
                &mut total,
                ec.into_remainder(),
                yc.remainder(),
                bc.remainder(),
                scale,
            );
        }
        total.iter().sum::<f64>()
    }

    /// The backward pass of a batch whose forward pass is in `s`, through
    /// [`matmul`]: δ = (E W₂) ⊙ σ'(Z) from the old W₂, then into `dest` either
    /// the SGD update (W₂ −= λ EᵀA, W₁ −= λ δᵀX, the biases by λ·Σ) as
    /// [`Net::sgd_step`] does, or the gradients (EᵀA, δᵀX and the biases'
    /// sums) for Adam.
    #[inline(always)]
    fn backward_gemm<S: Simd>(&mut self, x: &[f32], rows: usize, s: &mut Scratch, dest: Dest) {
        let (d, h) = (self.d, self.h);
        let (z, a, e) = (&s.z[..rows * h], &s.a[..rows * h], &s.e[..rows * d]);
        let delta = &mut s.delta[..rows * h];
        matmul::<S>(
            delta,
            Mat::rows(e, rows, d),
            Mat::rows(self.w2, d, h),
            Update::Set,
        );
        times_derivative(self.sigma, z, a, delta);
        let (w1, w2, b1, b2, update, scale, biases) = match dest {
            Dest::Weights { lr } => (
                &mut *self.w1,
                &mut *self.w2,
                &mut *self.b1,
                &mut *self.b2,
                Update::Add(-lr),
                -lr,
                self.bias,
            ),
            Dest::Grads(g) => {
                g.b1.fill(0.0);
                g.b2.fill(0.0);
                let (w1, w2, b1, b2) = (&mut g.w1[..], &mut g.w2[..], &mut g.b1[..], &mut g.b2[..]);
                (w1, w2, b1, b2, Update::Set, 1.0, true)
            }
        };
        matmul::<S>(w2, Mat::rows(e, rows, d).t(), Mat::rows(a, rows, h), update);
        matmul::<S>(
            w1,
            Mat::rows(delta, rows, h).t(),
            Mat::rows(x, rows, d),
            update,
        );
        if biases {
            for (bias, values, n) in [(b2, e, d), (b1, &*delta, h)] {
                for row in values.chunks_exact(n) {
                    for (b, &v) in bias.iter_mut().zip(row) {
                        *b += scale * v;
                    }
                }
            }
        }
    }
}

/// Where [`Net::backward_gemm`] writes.
enum Dest<'g> {
    /// Into the weights: SGD at learning rate `lr`.
    Weights { lr: f32 },
    /// Into gradient arrays (Adam updates from them).
    Grads(&'g mut Grads),
}

/// The gradients of one cell's parameters, laid out as they are.
struct Grads {
    w1: Vec<f32>,
    w2: Vec<f32>,
    b1: Vec<f32>,
    b2: Vec<f32>,
}

impl Grads {
    fn zeros(d: usize, h: usize) -> Self {
        Self {
            w1: vec![0.0; h * d],
            w2: vec![0.0; d * h],
            b1: vec![0.0; h],
            b2: vec![0.0; d],
        }
    }
}

impl Net<'_> {
    /// burn's Adam step from the batch whose forward pass is in `s`, fused:
    /// each row of W₂ gives its part of δ = (e W₂) ⊙ σ'(z) (old W₂), then its
    /// gradient Σᵣ eᵣᵢ aᵣ is formed in a row buffer and the row, its moments
    /// and b₂ are updated at once; then the rows of W₁ likewise from δᵀx.
    /// The same arithmetic as gradients then update, in one pass over the
    /// weights and moments and without a gradient array.
    #[inline(always)]
    fn adam_step(&mut self, x: &[f32], rows: usize, lr: f64, s: &mut Scratch, adam: &mut Adam) {
        let (d, h) = (self.d, self.h);
        let step = adam.coefficients.next_step(lr);
        let (m, v) = (&mut adam.m, &mut adam.v);
        let g = &mut adam.grads;
        s.delta[..rows * h].fill(0.0);
        for i in 0..d {
            let row = &mut self.w2[i * h..(i + 1) * h];
            let grad = &mut g.w2[..h];
            grad.fill(0.0);
            let mut grad_b = 0.0f32;
            for r in 0..rows {
                let e = s.e[r * d + i];
                axpy(e, row, &mut s.delta[r * h..(r + 1) * h]);
                axpy(e, &s.a[r * h..(r + 1) * h], grad);
                grad_b += e;
            }
            let span = i * h..(i + 1) * h;
            step.update(row, grad, &mut m.w2[span.clone()], &mut v.w2[span]);
            if self.bias {
                step.update(
                    &mut self.b2[i..=i],
                    &[grad_b],
                    &mut m.b2[i..=i],
                    &mut v.b2[i..=i],
                );
            }
        }
        times_derivative(
            self.sigma,
            &s.z[..rows * h],
            &s.a[..rows * h],
            &mut s.delta[..rows * h],
        );
        for j in 0..h {
            let grad = &mut g.w1[..d];
            grad.fill(0.0);
            let mut grad_b = 0.0f32;
            for r in 0..rows {
                let delta = s.delta[r * h + j];
                axpy(delta, &x[r * d..(r + 1) * d], grad);
                grad_b += delta;
            }
            let span = j * d..(j + 1) * d;
            step.update(
                &mut self.w1[span.clone()],
                grad,
                &mut m.w1[span.clone()],
                &mut v.w1[span],
            );
            if self.bias {
                step.update(
                    &mut self.b1[j..=j],
                    &[grad_b],
                    &mut m.b1[j..=j],
                    &mut v.b1[j..=j],
                );
            }
        }
    }
}

/// One cell's Adam: its coefficients, the two moments of every parameter,
/// and a gradient buffer.
struct Adam {
    coefficients: crate::adam::Adam,
    m: Grads,
    v: Grads,
    grads: Grads,
}

impl Adam {
    fn new(d: usize, h: usize, t: &TrainTable) -> Self {
        Self {
            coefficients: crate::adam::Adam::new(t),
            m: Grads::zeros(d, h),
            v: Grads::zeros(d, h),
            grads: Grads::zeros(d, h),
        }
    }

    /// burn's Adam step on every parameter; biases move only where the net
    /// has them.
    #[inline(always)]
    fn step(&mut self, net: &mut Net, lr: f64) {
        let step = self.coefficients.next_step(lr);
        let (g, m, v) = (&self.grads, &mut self.m, &mut self.v);
        step.update(net.w1, &g.w1, &mut m.w1, &mut v.w1);
        step.update(net.w2, &g.w2, &mut m.w2, &mut v.w2);
        if net.bias {
            step.update(net.b1, &g.b1, &mut m.b1, &mut v.b1);
            step.update(net.b2, &g.b2, &mut m.b2, &mut v.b2);
        }
    }
}
