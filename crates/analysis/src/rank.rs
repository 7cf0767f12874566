//! Rank of a weight matrix or of a feature matrix (DESIGN.md §6; the paper's
//! Fig. 7, 8 measure the rank of the last layer, Fig. 1c of the penultimate
//! features of 1000 test images).

use faer::Mat;
use serde::Serialize;

/// Default relative tolerance: singular values at most `RANK_RTOL · σ_max`
/// count as zero. Fixed, not scaled with the matrix size (numpy's
/// `matrix_rank` uses `σ_max · max(m, n) · ε`, which grows with the number of
/// samples and so would make ranks of 1000 features incomparable with 100).
/// 1e-3 separates the collapsed directions of the paper's nets, which decay
/// exponentially in training, from the O(1)-spread spectrum of a trained layer.
pub const RANK_RTOL: f64 = 1e-3;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankReport {
    /// Singular values, largest first.
    pub singular_values: Vec<f64>,
    /// Count of σ_i > rtol · σ_max (0 for the zero matrix).
    pub rank: usize,
    /// exp(H(p)) with p_i = σ_i / Σσ: between 1 and min(m, n), smooth in the
    /// weights (Roy & Vetterli 2007).
    pub effective_rank: f64,
}

/// Rank of the `rows × cols` matrix stored row-major in `data`.
pub fn rank(data: &[f32], rows: usize, cols: usize, rtol: f64) -> RankReport {
    assert_eq!(
        data.len(),
        rows * cols,
        "matrix data does not match its shape"
    );
    let m = Mat::<f64>::from_fn(rows, cols, |i, j| data[i * cols + j] as f64);
    let singular_values = if rows == 0 || cols == 0 {
        Vec::new()
    } else {
        m.singular_values().unwrap_or_default()
    };
    from_singular_values(singular_values, rtol)
}

/// Rank and effective rank from singular values (sorted or not).
pub fn from_singular_values(mut singular_values: Vec<f64>, rtol: f64) -> RankReport {
    singular_values.sort_by(|a, b| b.total_cmp(a));
    let max = singular_values.first().copied().unwrap_or(0.0);
    let rank = if max > 0.0 {
        singular_values.iter().filter(|&&s| s > rtol * max).count()
    } else {
        0
    };
    let total: f64 = singular_values.iter().sum();
    let effective_rank = if total > 0.0 {
        let entropy: f64 = singular_values
            .iter()
            .map(|s| s / total)
            .filter(|&p| p > 0.0)
            .map(|p| -p * p.ln())
            .sum();
        entropy.exp()
    } else {
        0.0
    };
    RankReport {
        singular_values,
        rank,
        effective_rank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng};
    use rand::RngExt;
    use rand_distr::StandardNormal;

    /// A random rows × cols matrix of rank k: (rows × k)(k × cols).
    fn low_rank(rows: usize, cols: usize, k: usize, seed: u64) -> Vec<f32> {
        let mut r = rng(seed, Stream::Dataset);
        let a: Vec<f64> = (0..rows * k).map(|_| r.sample(StandardNormal)).collect();
        let b: Vec<f64> = (0..k * cols).map(|_| r.sample(StandardNormal)).collect();
        (0..rows * cols)
            .map(|ij| {
                (0..k)
                    .map(|l| a[(ij / cols) * k + l] * b[l * cols + ij % cols])
                    .sum::<f64>() as f32
            })
            .collect()
    }

    #[test]
    fn rank_of_matrices_of_known_rank() {
        for (rows, cols, k) in [(50, 40, 1), (50, 40, 7), (30, 60, 30), (200, 200, 13)] {
            let report = rank(&low_rank(rows, cols, k, k as u64), rows, cols, RANK_RTOL);
            assert_eq!(report.rank, k, "{rows}x{cols} of rank {k}");
            assert_eq!(report.singular_values.len(), rows.min(cols));
        }
    }

    #[test]
    fn rank_does_not_grow_with_the_sample_count() {
        // Features of rank 5 seen on 100 or 2000 samples have the same rank.
        assert_eq!(rank(&low_rank(100, 64, 5, 1), 100, 64, RANK_RTOL).rank, 5);
        assert_eq!(rank(&low_rank(2000, 64, 5, 1), 2000, 64, RANK_RTOL).rank, 5);
    }

    #[test]
    fn effective_rank_of_equal_and_skewed_spectra() {
        let flat = from_singular_values(vec![2.0; 8], RANK_RTOL);
        assert!((flat.effective_rank - 8.0).abs() < 1e-12);
        let one = from_singular_values(vec![3.0, 0.0, 0.0], RANK_RTOL);
        assert_eq!((one.rank, one.effective_rank), (1, 1.0));
        let zero = rank(&[0.0; 6], 2, 3, RANK_RTOL);
        assert_eq!((zero.rank, zero.effective_rank), (0, 0.0));
        // A tiny direction below rtol·σ_max does not count.
        assert_eq!(
            from_singular_values(vec![1.0, 0.5, 1e-4], RANK_RTOL).rank,
            2
        );
    }
}
