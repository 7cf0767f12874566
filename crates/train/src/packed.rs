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

/// Train one cell of the pack: with AVX2 where the CPU has it (the loops
/// below then run eight lanes wide; the default x86-64 target has four).
fn train_cell(net: &mut Net, cell: &TwoLayerCell, watch: &mut dyn Watch) -> TwoLayerRun {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { train_cell_avx2(net, cell, watch) };
    }
    train_cell_portable(net, cell, watch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn train_cell_avx2(net: &mut Net, cell: &TwoLayerCell, watch: &mut dyn Watch) -> TwoLayerRun {
    train_cell_portable(net, cell, watch)
}

#[inline(always)]
fn train_cell_portable(net: &mut Net, cell: &TwoLayerCell, watch: &mut dyn Watch) -> TwoLayerRun {
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
        let value = net.forward(&batch.x, &batch.y, batch.rows, &mut scratch);
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
        match &mut adam {
            None => net.sgd_step(&batch.x, batch.rows, t.lr as f32, &mut scratch),
            Some(adam) => {
                net.gradients(&batch.x, batch.rows, &mut scratch, &mut adam.grads);
                adam.step(net, t.lr);
            }
        }
    }
    watch.sync();
    let test = teacher.draw(&mut rng(cell.seed, Stream::TestData), TEST_POINTS);
    let mut big = Scratch::new(net.d, net.h, TEST_POINTS);
    let test_loss = net.forward(&test.x, &test.y, TEST_POINTS, &mut big) as f64;
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

/// Activations and errors of one batch.
struct Scratch {
    z: Vec<f32>,
    a: Vec<f32>,
    e: Vec<f32>,
    delta: Vec<f32>,
}

impl Scratch {
    fn new(d: usize, h: usize, rows: usize) -> Self {
        Self {
            z: vec![0.0; rows * h],
            a: vec![0.0; rows * h],
            e: vec![0.0; rows * d],
            delta: vec![0.0; rows * h],
        }
    }
}

impl Net<'_> {
    /// The loss of the batch; leaves z, σ(z) and ∂L/∂out in `s`.
    #[inline(always)]
    fn forward(&self, x: &[f32], y: &[f32], rows: usize, s: &mut Scratch) -> f32 {
        let (d, h) = (self.d, self.h);
        let scale = match self.loss {
            LossReduction::Mean => 1.0 / (rows * d) as f64,
            LossReduction::HalfSum => 0.5 / rows as f64,
        };
        let mut total = 0.0f64;
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            let (z, a) = (&mut s.z[r * h..(r + 1) * h], &mut s.a[r * h..(r + 1) * h]);
            for j in 0..h {
                z[j] = self.b1[j] + dot(&self.w1[j * d..(j + 1) * d], xr);
                a[j] = self.sigma.sigma(z[j]);
            }
            let e = &mut s.e[r * d..(r + 1) * d];
            for i in 0..d {
                let diff = self.b2[i] + dot(&self.w2[i * h..(i + 1) * h], a) - y[r * d + i];
                total += (diff as f64) * (diff as f64);
                // ∂L/∂out: 2·diff·scale for the mean, diff/rows for ½·sum.
                e[i] = (2.0 * scale * diff as f64) as f32;
            }
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
        for (j, delta) in s.delta[..rows * h].iter_mut().enumerate() {
            *delta *= self.sigma.sigma_prime(s.z[j], s.a[j]);
        }
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
    /// The gradients of the batch whose forward pass is in `s`: ∂W₂ = eᵀa,
    /// δ = (e W₂) ⊙ σ'(z), ∂W₁ = δᵀx, and the biases' sums of e and δ.
    #[inline(always)]
    fn gradients(&self, x: &[f32], rows: usize, s: &mut Scratch, g: &mut Grads) {
        let (d, h) = (self.d, self.h);
        s.delta[..rows * h].fill(0.0);
        g.w1.fill(0.0);
        g.w2.fill(0.0);
        g.b1.fill(0.0);
        g.b2.fill(0.0);
        for i in 0..d {
            let (row, grad_row) = (&self.w2[i * h..(i + 1) * h], &mut g.w2[i * h..(i + 1) * h]);
            for r in 0..rows {
                let e = s.e[r * d + i];
                axpy(e, row, &mut s.delta[r * h..(r + 1) * h]);
                axpy(e, &s.a[r * h..(r + 1) * h], grad_row);
                g.b2[i] += e;
            }
        }
        for (j, delta) in s.delta[..rows * h].iter_mut().enumerate() {
            *delta *= self.sigma.sigma_prime(s.z[j], s.a[j]);
        }
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            for j in 0..h {
                let delta = s.delta[r * h + j];
                axpy(delta, xr, &mut g.w1[j * d..(j + 1) * d]);
                g.b1[j] += delta;
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

/// Σ aᵢbᵢ with eight partial sums, so that it vectorises.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// y += α x.
#[inline(always)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}
