//! Initial weights drawn on the host from the cell's seed, so that a cell
//! starts from the same weights on every backend and every thread (burn's own
//! device RNG may be global). The distribution is PyTorch's `nn.Linear`
//! default: weights and biases U(−1/√fan_in, 1/√fan_in).

use crate::rng::Rng;
use rand::RngExt;

/// `rows × cols` row-major (out × in) weights with `fan_in = cols`.
pub fn linear_weight(r: &mut Rng, rows: usize, cols: usize) -> Vec<f32> {
    uniform(r, rows * cols, 1.0 / (cols as f64).sqrt())
}

/// A bias of `len` entries for a layer with `fan_in` inputs.
pub fn linear_bias(r: &mut Rng, len: usize, fan_in: usize) -> Vec<f32> {
    uniform(r, len, 1.0 / (fan_in as f64).sqrt())
}

fn uniform(r: &mut Rng, len: usize, bound: f64) -> Vec<f32> {
    (0..len)
        .map(|_| r.random_range(-bound..bound) as f32)
        .collect()
}
