//! The per-epoch shuffle of the training set, and which images each step
//! takes from it.

use crate::rng::{Stream, rng_at};
use rand::RngExt;

/// Epoch `epoch`'s permutation of 0..n: a Fisher–Yates shuffle drawn from
/// `rng_at(seed, Stream::Shuffle, epoch)`.
pub fn permutation(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut r = rng_at(seed, Stream::Shuffle, epoch as u64);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, r.random_range(0..=i));
    }
    perm
}

/// Which training images step t uses: the training set is shuffled once per
/// epoch ([`permutation`]), the epochs' permutations are concatenated into one
/// endless sequence, and step t takes positions t·B .. (t+1)·B of it (a batch
/// may straddle two epochs). Stateless in t, so a resumed run draws exactly
/// what an uninterrupted one does; keeps the permutations of its last call.
pub struct Sampler {
    n: usize,
    batch_size: usize,
    seed: u64,
    /// (epoch, permutation) for the epochs the last call touched.
    cache: Vec<(usize, Vec<usize>)>,
}

impl Sampler {
    /// Panics if `n` or `batch_size` is 0.
    pub fn new(n: usize, batch_size: usize, seed: u64) -> Self {
        assert!(n > 0, "Sampler over an empty training set");
        assert!(batch_size > 0, "Sampler with batch size 0");
        Sampler {
            n,
            batch_size,
            seed,
            cache: Vec::new(),
        }
    }

    /// The B training indices of step `step`.
    pub fn indices(&mut self, step: usize) -> Vec<usize> {
        let (n, b) = (self.n, self.batch_size);
        let start = step.checked_mul(b).expect("step × batch size overflows");
        let end = start + b;
        let (first, last) = (start / n, (end - 1) / n);
        let mut old = std::mem::take(&mut self.cache);
        self.cache = (first..=last)
            .map(|e| match old.iter().position(|(k, _)| *k == e) {
                Some(j) => old.swap_remove(j),
                None => (e, permutation(n, self.seed, e)),
            })
            .collect();
        (start..end)
            .map(|pos| self.cache[pos / n - first].1[pos % n])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_is_a_permutation_and_steps_straddle_epochs() {
        let (n, b) = (10, 3);
        let mut s = Sampler::new(n, b, 4);
        let stream: Vec<usize> = (0..20).flat_map(|t| s.indices(t)).collect();
        assert_eq!(stream.len(), 60);
        for (e, epoch) in stream.chunks_exact(n).enumerate() {
            let mut sorted = epoch.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            assert_eq!(epoch, permutation(n, 4, e));
        }
        assert_ne!(stream[..10], stream[10..20]);
        // Step 3 takes positions 9..12: the last of epoch 0, two of epoch 1.
        assert_eq!(s.indices(3), stream[9..12]);
        for t in [0, 3, 7, 19, 6, 13] {
            assert_eq!(
                Sampler::new(n, b, 4).indices(t),
                stream[t * b..(t + 1) * b],
                "step {t}"
            );
            assert_eq!(s.indices(t), stream[t * b..(t + 1) * b], "step {t}");
        }
        // A batch larger than an epoch spans several.
        let big: Vec<usize> = Sampler::new(4, 9, 4).indices(1);
        let all: Vec<usize> = (0..5).flat_map(|e| permutation(4, 4, e)).collect();
        assert_eq!(big, all[9..18]);
    }
}
