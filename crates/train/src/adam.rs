//! burn 0.22.1's Adam step (burn-optim `AdaptiveMomentum`) in its f32
//! arithmetic, for the trainers that update parameters by hand (packs, the
//! neuron): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², and
//! w ← w − λ·m·c / (√v + ε·√(1−β₂ᵗ)) with c = √(1−β₂ᵗ)/(1−β₁ᵗ), which is
//! PyTorch's w − λ·m̂/(√v̂ + ε).

use crate::config::TrainTable;

/// One cell's β₁, β₂, ε and step count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Adam {
    beta1: f32,
    beta2: f32,
    eps: f32,
    time: i32,
}

/// The coefficients of one step, shared by every parameter of a cell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamStep {
    beta1: f32,
    beta2: f32,
    /// c = √(1−β₂ᵗ)/(1−β₁ᵗ).
    pub factor: f32,
    /// ε·√(1−β₂ᵗ).
    pub eps: f32,
    lr: f32,
}

impl Adam {
    pub fn new(t: &TrainTable) -> Self {
        Self {
            beta1: t.beta1 as f32,
            beta2: t.beta2 as f32,
            eps: t.adam_eps as f32,
            time: 0,
        }
    }

    /// Count a step and return its coefficients at learning rate `lr`.
    pub fn next_step(&mut self, lr: f64) -> AdamStep {
        self.time += 1;
        let correction2 = (1.0 - self.beta2.powi(self.time)).sqrt();
        AdamStep {
            beta1: self.beta1,
            beta2: self.beta2,
            factor: correction2 / (1.0 - self.beta1.powi(self.time)),
            eps: self.eps * correction2,
            lr: lr as f32,
        }
    }
}

impl AdamStep {
    /// Update the parameters `w` from their gradients `g` and moments `m`, `v`.
    #[inline(always)]
    pub fn update(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, b2) = (self.beta1, self.beta2);
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
            *m = *m * b1 + g * (1.0 - b1);
            *v = *v * b2 + g * g * (1.0 - b2);
            *w -= *m * self.factor / (v.sqrt() + self.eps) * self.lr;
        }
    }
}
