//! The Lyapunov spectrum of a product of random matrices M_T ⋯ M_2 M_1
//! (Appendix A.5, Theorem 2: a direction of the linearised dynamics
//! converges in probability iff its exponent is negative), by Benettin's
//! method: k orthonormal columns Q are multiplied by each M_t and
//! re-orthonormalised by QR every few steps; the exponents are the means of
//! ln|R_ii| per step. The caller supplies the step (`q ← M_t q`), so that it
//! can exploit the structure of its M_t.

use crate::Estimate;
use crate::rng::{Stream, rng};
use faer::Mat;
use rand::RngExt;
use rand_distr::StandardNormal;

/// How the spectrum is estimated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QrSettings {
    /// Steps whose growth is counted (after the burn-in).
    pub steps: usize,
    /// Steps first taken and not counted, so that Q aligns with the
    /// dynamics' own directions.
    pub burn_in: usize,
    /// Re-orthonormalise every this many steps (1: every step).
    pub every: usize,
    /// The counted steps are split into this many consecutive blocks; the
    /// spread of the block means gives the standard errors.
    pub blocks: usize,
    /// Seed of the initial frame.
    pub seed: u64,
}

/// The top k exponents, largest first, per step (natural log of the norm).
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    pub exponents: Vec<Estimate>,
}

/// The top `k` Lyapunov exponents of the n × n products that `step` applies:
/// `step(t, q)` must replace the n × k matrix `q` by `M_t q` (t counts from
/// 0, burn-in included).
pub fn spectrum(
    n: usize,
    k: usize,
    settings: &QrSettings,
    mut step: impl FnMut(usize, &mut Mat<f64>),
) -> Spectrum {
    assert!(k >= 1 && k <= n, "1 ≤ k ≤ n");
    let every = settings.every.max(1);
    let blocks = settings.blocks.max(1);
    let mut q = random_frame(n, k, settings.seed);
    let total = settings.burn_in + settings.steps;
    // Sums of ln|R_ii| per block (the steps of a QR go to the block of its
    // last step).
    let mut sums = vec![vec![0.0f64; k]; blocks];
    let mut counted = vec![0usize; blocks];
    let mut since = 0usize;
    let block_len = settings.steps.div_ceil(blocks).max(1);
    for t in 0..total {
        step(t, &mut q);
        since += 1;
        if since == every || t + 1 == total {
            let growth = orthonormalise(&mut q);
            if t >= settings.burn_in {
                let b = ((t - settings.burn_in) / block_len).min(blocks - 1);
                for (s, g) in sums[b].iter_mut().zip(&growth) {
                    *s += g;
                }
                counted[b] += since;
            }
            since = 0;
        }
    }
    let means: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counted)
        .filter(|(_, c)| **c > 0)
        .map(|(s, c)| s.iter().map(|v| v / *c as f64).collect())
        .collect();
    let steps_counted: usize = counted.iter().sum();
    let exponents = (0..k)
        .map(|i| {
            let total: f64 = sums.iter().map(|s| s[i]).sum();
            let value = total / steps_counted.max(1) as f64;
            let m = means.len();
            let err = if m > 1 {
                let mean = means.iter().map(|b| b[i]).sum::<f64>() / m as f64;
                let var = means.iter().map(|b| (b[i] - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
                (var / m as f64).sqrt()
            } else {
                f64::NAN
            };
            Estimate { value, err }
        })
        .collect();
    Spectrum { exponents }
}

/// k orthonormal columns of length n from the seed (a Gaussian matrix's Q).
fn random_frame(n: usize, k: usize, seed: u64) -> Mat<f64> {
    let mut r = rng(seed, Stream::Frame);
    let mut q = Mat::<f64>::from_fn(n, k, |_, _| r.sample(StandardNormal));
    orthonormalise(&mut q);
    q
}

/// Replace q by the Q of its thin QR; the ln|R_ii|.
fn orthonormalise(q: &mut Mat<f64>) -> Vec<f64> {
    let qr = q.qr();
    let r = qr.thin_R();
    let growth = (0..q.ncols()).map(|i| r[(i, i)].abs().ln()).collect();
    *q = qr.compute_thin_Q();
    growth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(steps: usize, every: usize) -> QrSettings {
        QrSettings {
            steps,
            burn_in: 150,
            every,
            blocks: 10,
            seed: 1,
        }
    }

    #[test]
    fn a_fixed_diagonal_gives_the_logs_of_its_entries_sorted() {
        let d = [0.5, 2.0, -1.5, 1.0];
        for every in [1, 3] {
            let s = spectrum(4, 4, &settings(300, every), |_, q| {
                for i in 0..4 {
                    for j in 0..q.ncols() {
                        q[(i, j)] *= d[i];
                    }
                }
            });
            let got: Vec<f64> = s.exponents.iter().map(|e| e.value).collect();
            let want = [2.0f64.ln(), 1.5f64.ln(), 0.0, 0.5f64.ln()];
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
            }
        }
        // The top two only.
        let s = spectrum(4, 2, &settings(300, 1), |_, q| {
            for i in 0..4 {
                for j in 0..q.ncols() {
                    q[(i, j)] *= d[i];
                }
            }
        });
        assert_eq!(s.exponents.len(), 2);
        assert!((s.exponents[1].value - 1.5f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn a_scaled_rotation_has_a_double_exponent() {
        let (r, theta) = (1.1f64, 0.7f64);
        let s = spectrum(2, 2, &settings(500, 2), |_, q| {
            for j in 0..2 {
                let (a, b) = (q[(0, j)], q[(1, j)]);
                q[(0, j)] = r * (theta.cos() * a - theta.sin() * b);
                q[(1, j)] = r * (theta.sin() * a + theta.cos() * b);
            }
        });
        for e in &s.exponents {
            assert!((e.value - r.ln()).abs() < 1e-9, "{s:?}");
        }
    }

    #[test]
    fn random_diagonals_give_the_mean_log_with_an_honest_error() {
        // M_t = diag(g₁, g₂) with g ~ N(0, 1), N(0, 4): exponents
        // E ln|g| = −(γ + ln 2)/2 and that + ln 2.
        let base = -(0.577_215_664_901_532_9 + 2f64.ln()) / 2.0;
        let mut r = rng(5, Stream::Trajectories);
        let s = spectrum(2, 2, &settings(200_000, 1), |_, q| {
            let g: [f64; 2] = [
                r.sample(StandardNormal),
                2.0 * r.sample::<f64, _>(StandardNormal),
            ];
            for i in 0..2 {
                for j in 0..2 {
                    q[(i, j)] *= g[i];
                }
            }
        });
        let want = [base + 2f64.ln(), base];
        for (e, w) in s.exponents.iter().zip(want) {
            assert!(e.err > 0.0 && e.err < 0.01, "{e:?}");
            assert!((e.value - w).abs() < 4.0 * e.err, "{e:?} vs {w}");
        }
    }
}
