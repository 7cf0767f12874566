//! Helpers for the tests that compare probstab's CPU ops with burn's.

use burn::tensor::Tensor;

/// `n` deterministic values in [lo, lo + span) from `seed`.
pub fn values(n: usize, seed: u64, lo: f32, span: f32) -> Vec<f32> {
    let step = |s: u64| {
        s.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut s = step(seed);
    (0..n)
        .map(|_| {
            s = step(s);
            lo + span * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Every element within `rtol` of the largest magnitude in `theirs` (burn's).
pub fn assert_close(what: &str, ours: &[f32], theirs: &[f32], rtol: f32) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let scale = theirs.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= rtol * scale,
            "{what}[{i}]: {a} vs burn's {b}"
        );
    }
}
