//! Packed `two_layer` cells on a burn device (the GPU through wgpu): the K
//! cells of a pack as stacked tensors, W₁ `[K, h, d]`, W₂ `[K, d, h]`, biases
//! `[K, 1, ·]`, and a step as batched matrix products over all of them, with
//! per-cell λ as a `[K, 1, 1]` tensor.
//!
//! The same hand-derived gradients as the CPU pack (packed.rs), written in
//! tensor ops, so no autodiff graph: e = ∂L/∂out, ∂W₂ = eᵀa,
//! δ = (e W₂) ⊙ σ'(z), ∂W₁ = δᵀx; then SGD, or burn's Adam with per-cell
//! β₁, β₂, ε as `[K, 1, 1]` tensors. Each cell draws the same data and initial
//! weights as on the CPU, and a cell stops at the step its loss diverges, as
//! there (its parameters are kept from that step; the others go on). One
//! read-back a step brings the K losses to the host.

use crate::config::{LossReduction, OptimizerKind};
use crate::data::{Batch, Source, Teacher};
use crate::rng::{Stream, rng};
use crate::trainer::Outcome;
use crate::two_layer::{TEST_POINTS, TwoLayerCell, TwoLayerRun};
use crate::watch::{StepInfo, Unwatched, Watch};
use burn::tensor::{Device, Tensor, TensorData};
use models::Activation;
use models::activation::OnTensors;
use std::borrow::Borrow;

/// The stacked parameters of a pack (or anything shaped as them).
struct Stack {
    w1: Tensor<3>,
    w2: Tensor<3>,
    b1: Tensor<3>,
    b2: Tensor<3>,
}

impl Stack {
    fn zeros_like(&self) -> Self {
        Self {
            w1: self.w1.zeros_like(),
            w2: self.w2.zeros_like(),
            b1: self.b1.zeros_like(),
            b2: self.b2.zeros_like(),
        }
    }
}

/// Train every cell of `cells` (which share a [`crate::packed::pack_key`])
/// on `device`.
pub fn run_packed_on<C: Borrow<TwoLayerCell>>(cells: &[C], device: &Device) -> Vec<TwoLayerRun> {
    let mut unwatched: Vec<Unwatched> = cells.iter().map(|_| Unwatched).collect();
    let watches = unwatched.iter_mut().map(|w| w as &mut dyn Watch).collect();
    run_packed_on_watched(cells, device, watches)
}

/// [`run_packed_on`], reporting each cell's steps to its own watch.
pub fn run_packed_on_watched<C: Borrow<TwoLayerCell>>(
    cells: &[C],
    device: &Device,
    mut watches: Vec<&mut dyn Watch>,
) -> Vec<TwoLayerRun> {
    assert_eq!(cells.len(), watches.len(), "one watch per cell");
    let cells: Vec<&TwoLayerCell> = cells.iter().map(Borrow::borrow).collect();
    let Some(first) = cells.first() else {
        return Vec::new();
    };
    let device = device.clone().without_autodiff();
    let (m, t) = (&first.net, &first.train);
    let (d, h, k) = (m.dim, m.hidden, cells.len());
    let (sigma, bias) = (m.activation, m.bias);
    let mut stack = initial_stack(&cells, d, h, &device);
    let per_cell = |f: &dyn Fn(&TwoLayerCell) -> f64| {
        let v: Vec<f32> = cells.iter().map(|c| f(c) as f32).collect();
        Tensor::<3>::from_data(TensorData::new(v, [k, 1, 1]), &device)
    };
    let lr = per_cell(&|c| c.train.lr);
    let mut adam = (t.optimizer == OptimizerKind::Adam).then(|| Adam {
        cells: cells
            .iter()
            .map(|c| crate::adam::Adam::new(&c.train))
            .collect(),
        betas: (per_cell(&|c| c.train.beta1), per_cell(&|c| c.train.beta2)),
        moments: (stack.zeros_like(), stack.zeros_like()),
    });
    let teachers: Vec<Teacher> = cells.iter().map(|c| c.teacher()).collect();
    let mut sources: Vec<Source> = cells
        .iter()
        .zip(&teachers)
        .map(|(c, t)| Source::teacher(*t, c.data.n, c.seed))
        .collect();
    let mut outcomes: Vec<Outcome> = (0..k).map(|_| Outcome::default()).collect();
    // Parameters of the cells that diverged, as they were at that step.
    let mut stopped: Vec<Option<[Vec<f32>; 4]>> = vec![None; k];
    let mut probed: Vec<Vec<(usize, Vec<f64>)>> = vec![Vec::new(); k];
    for watch in &mut watches {
        watch.start(0, t.steps);
    }
    for step in 0..t.steps {
        if stopped.iter().all(Option::is_some) {
            break;
        }
        for (i, cell) in cells.iter().enumerate() {
            if let (Some(probe), None) = (&cell.probe, &stopped[i]) {
                if probe.steps.binary_search(&step).is_ok() {
                    let [_, w2, _, _] = cell_params(&stack, i);
                    probe.observe(step, &w2, d, h, &mut probed[i]);
                }
            }
        }
        let batches: Vec<Batch> = sources
            .iter_mut()
            .map(|s| s.next_batch(t.batch_size))
            .collect();
        let (x, y) = stacked(&batches, d, &device);
        let pass = forward(&stack, x.clone(), y, sigma, t.loss);
        let losses = host(pass.loss.clone());
        for (i, value) in losses.iter().enumerate() {
            if stopped[i].is_some() {
                continue;
            }
            watches[i].step(&StepInfo {
                step,
                loss: *value,
                probe: probed[i]
                    .last()
                    .filter(|(s, _)| *s == step)
                    .map(|(_, v)| &v[..]),
                ..StepInfo::default()
            });
            if outcomes[i].record(step, *value, cells[i].train.diverge_above) {
                stopped[i] = Some(cell_params(&stack, i));
            }
        }
        let grads = gradients(&stack, pass, x, sigma);
        match &mut adam {
            None => sgd_step(&mut stack, grads, lr.clone(), bias),
            Some(adam) => adam.step(&mut stack, grads, lr.clone(), bias, &device),
        }
    }
    for watch in &mut watches {
        watch.sync();
    }
    // The test loss on each cell's fresh points, from its final weights (a
    // diverged cell's: those it stopped with).
    let tests: Vec<Batch> = cells
        .iter()
        .zip(&teachers)
        .map(|(c, t)| t.draw(&mut rng(c.seed, Stream::TestData), TEST_POINTS))
        .collect();
    let (x, y) = stacked(&tests, d, &device);
    let test_losses = host(forward(&stack, x, y, sigma, t.loss).loss);
    let mut runs = Vec::with_capacity(k);
    for (i, (outcome, stopped)) in outcomes.into_iter().zip(stopped).enumerate() {
        let (params, test_loss) = match stopped {
            None => (cell_params(&stack, i), test_losses[i]),
            Some(params) => {
                let one = one_cell(&params, d, h, &device);
                let (x, y) = stacked(&tests[i..=i], d, &device);
                let loss = host(forward(&one, x, y, sigma, t.loss).loss)[0];
                (params, loss)
            }
        };
        let [w1, w2, ..] = params;
        runs.push(TwoLayerRun {
            w1,
            w2,
            dim: d,
            hidden: h,
            outcome,
            test_loss: test_loss as f64,
            probed: std::mem::take(&mut probed[i]),
        });
    }
    runs
}

/// The initial weights of the unpacked path (as the CPU pack draws them).
fn initial_stack(cells: &[&TwoLayerCell], d: usize, h: usize, device: &Device) -> Stack {
    let k = cells.len();
    let [w1, w2, b1, b2] = crate::packed::initial_params(cells, d, h);
    let t =
        |v: Vec<f32>, shape: [usize; 3]| Tensor::<3>::from_data(TensorData::new(v, shape), device);
    Stack {
        w1: t(w1, [k, h, d]),
        w2: t(w2, [k, d, h]),
        b1: t(b1, [k, 1, h]),
        b2: t(b2, [k, 1, d]),
    }
}

/// x and y of K batches of equal size as `[K, rows, d]`.
fn stacked(batches: &[Batch], d: usize, device: &Device) -> (Tensor<3>, Tensor<3>) {
    let (k, rows) = (batches.len(), batches[0].rows);
    let x: Vec<f32> = batches.iter().flat_map(|b| b.x.iter().copied()).collect();
    let y: Vec<f32> = batches.iter().flat_map(|b| b.y.iter().copied()).collect();
    let t = |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [k, rows, d]), device);
    (t(x), t(y))
}

/// One forward pass: what the update needs, and each cell's loss `[K]`.
struct Pass {
    z: Tensor<3>,
    a: Tensor<3>,
    /// ∂L/∂out.
    e: Tensor<3>,
    loss: Tensor<1>,
}

fn forward(s: &Stack, x: Tensor<3>, y: Tensor<3>, sigma: Activation, loss: LossReduction) -> Pass {
    let [k, rows, d] = x.dims();
    let z = x.matmul(s.w1.clone().swap_dims(1, 2)) + s.b1.clone();
    let a = sigma.apply(z.clone());
    let diff = a.clone().matmul(s.w2.clone().swap_dims(1, 2)) + s.b2.clone() - y;
    let scale = match loss {
        LossReduction::Mean => 1.0 / (rows * d) as f64,
        LossReduction::HalfSum => 0.5 / rows as f64,
    };
    let loss = (diff.clone() * diff.clone())
        .sum_dim(2)
        .sum_dim(1)
        .mul_scalar(scale)
        .reshape([k]);
    Pass {
        z,
        a,
        e: diff.mul_scalar(2.0 * scale),
        loss,
    }
}

/// ∂W₁, ∂W₂, ∂b₁, ∂b₂ of the batch of `p` (δ from the current W₂), shaped
/// as the parameters.
fn gradients(s: &Stack, p: Pass, x: Tensor<3>, sigma: Activation) -> Stack {
    let delta = p.e.clone().matmul(s.w2.clone()) * sigma.derivative(p.z, p.a.clone());
    Stack {
        w2: p.e.clone().swap_dims(1, 2).matmul(p.a),
        w1: delta.clone().swap_dims(1, 2).matmul(x),
        b2: p.e.sum_dim(1),
        b1: delta.sum_dim(1),
    }
}

/// W −= λ ∂W for every parameter (the biases only where the net has them).
fn sgd_step(s: &mut Stack, g: Stack, lr: Tensor<3>, bias: bool) {
    s.w2 = s.w2.clone() - g.w2 * lr.clone();
    s.w1 = s.w1.clone() - g.w1 * lr.clone();
    if bias {
        s.b2 = s.b2.clone() - g.b2 * lr.clone();
        s.b1 = s.b1.clone() - g.b1 * lr;
    }
}

/// Adam over a pack: per-cell β₁, β₂, ε, one step count (the cells step
/// together) and the stacked moments, zero before the first step.
struct Adam {
    /// Each cell's coefficients and step count.
    cells: Vec<crate::adam::Adam>,
    /// β₁ and β₂ as `[K, 1, 1]` tensors on the device.
    betas: (Tensor<3>, Tensor<3>),
    /// m and v, shaped as the parameters.
    moments: (Stack, Stack),
}

impl Adam {
    /// burn 0.22.1's Adam step (crate::adam) in tensor ops, with each
    /// cell's c and ε·√(1−β₂ᵗ) as `[K, 1, 1]` tensors.
    fn step(&mut self, s: &mut Stack, g: Stack, lr: Tensor<3>, bias: bool, device: &Device) {
        // λ is applied below as the `[K, 1, 1]` tensor `lr`.
        let steps: Vec<_> = self.cells.iter_mut().map(|a| a.next_step(1.0)).collect();
        let column =
            |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [steps.len(), 1, 1]), device);
        let factor = column(steps.iter().map(|s| s.factor).collect());
        let eps = column(steps.iter().map(|s| s.eps).collect());
        let (b1, b2) = &self.betas;
        let update = |w: &mut Tensor<3>, g: Tensor<3>, m: &mut Tensor<3>, v: &mut Tensor<3>| {
            *m = m.clone() * b1.clone() + g.clone() * b1.clone().neg().add_scalar(1.0);
            *v = v.clone() * b2.clone() + g.clone() * g * b2.clone().neg().add_scalar(1.0);
            *w = w.clone()
                - m.clone() * factor.clone() / (v.clone().sqrt() + eps.clone()) * lr.clone();
        };
        let (m, v) = &mut self.moments;
        update(&mut s.w1, g.w1, &mut m.w1, &mut v.w1);
        update(&mut s.w2, g.w2, &mut m.w2, &mut v.w2);
        if bias {
            update(&mut s.b1, g.b1, &mut m.b1, &mut v.b1);
            update(&mut s.b2, g.b2, &mut m.b2, &mut v.b2);
        }
    }
}

/// Cell i's W₁, W₂, b₁, b₂, row-major.
fn cell_params(s: &Stack, i: usize) -> [Vec<f32>; 4] {
    let one = |w: &Tensor<3>| host(w.clone().slice(i..i + 1).flatten::<1>(0, 2));
    [one(&s.w1), one(&s.w2), one(&s.b1), one(&s.b2)]
}

/// A stack of one cell from its parameters.
fn one_cell(params: &[Vec<f32>; 4], d: usize, h: usize, device: &Device) -> Stack {
    let t = |v: &Vec<f32>, shape: [usize; 3]| {
        Tensor::<3>::from_data(TensorData::new(v.clone(), shape), device)
    };
    Stack {
        w1: t(&params[0], [1, h, d]),
        w2: t(&params[1], [1, d, h]),
        b1: t(&params[2], [1, 1, h]),
        b2: t(&params[3], [1, 1, d]),
    }
}

fn host(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensors")
}
