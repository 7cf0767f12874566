//! The Gaussian teacher of §4.2 and Fig. 3: `x ~ N(0, 1)`, `ε ~ N(0, σ²)`,
//! `y = μx + (1 − μ)ε`, and the saddle's gradient noise `χ = x·y`.
//!
//! At N = ∞ the minibatch mean has a one-dimensional representation:
//! `χ_S = (1/S) Σ (μ x_j² + b x_j z_j)` with `b = (1 − μ)σ`, `z ~ N(0, 1)`;
//! given x, `Σ x_j z_j ~ N(0, R)` with `R = Σ x_j² ~ χ²_S`, so
//! `χ_S = μR/S + (b/S)√R·Z`. Hence, with `t = √R` (chi-distributed, S
//! degrees of freedom),
//!
//! `E ln|1 + cχ_S| = ∫ p_S(t) · E_Z ln|1 + cμt²/S + (cb t/S) Z| dt`,
//!
//! the inner expectation in closed form ([`expected_ln_abs_affine`]; at a tiny
//! rate [`expected_ln_abs_one_plus_affine`], which keeps the `cμt²/S` that
//! `1 + cμt²/S` rounds away) and the outer one by adaptive quadrature, split
//! where `1 + cμt²/S` vanishes.

use crate::estimate::TINY_STEP;
use crate::gaussian_log::{expected_ln_abs_affine, expected_ln_abs_one_plus_affine};
use crate::quadrature::integrate;
use crate::rng::{Stream, rng};
use crate::{Estimate, Moments};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// Absolute tolerance of the outer quadrature (the paper's figures need 1e-3).
const QUADRATURE_TOL: f64 = 1e-10;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Teacher {
    /// μ: signal weight of the label, `y = μx + (1 − μ)ε`.
    pub mu: f64,
    /// σ: standard deviation of the label noise ε (the paper: 2, ε ~ N(0, 4)).
    pub noise_std: f64,
}

impl Teacher {
    /// `b = (1 − μ)σ`, the weight of the Gaussian part of χ.
    pub fn noise_weight(&self) -> f64 {
        (1.0 - self.mu) * self.noise_std
    }

    /// Exact moments of χ = x·y: `E χ = μ`, `E χ² = 3μ² + b²`,
    /// `E χ⁴ = 105μ⁴ + 90μ²b² + 9b⁴`.
    pub fn moments(&self) -> Moments {
        let (mu, b) = (self.mu, self.noise_weight());
        Moments {
            mean: mu,
            mean_sq: 3.0 * mu * mu + b * b,
            mean_fourth: 105.0 * mu.powi(4) + 90.0 * mu * mu * b * b + 9.0 * b.powi(4),
        }
    }

    /// One draw of χ = x·y from the data distribution.
    pub fn sample_chi(&self, r: &mut impl Rng) -> f64 {
        let x: f64 = r.sample(StandardNormal);
        let eps: f64 = self.noise_std * r.sample::<f64, _>(StandardNormal);
        x * (self.mu * x + (1.0 - self.mu) * eps)
    }

    /// χ_i = x_i·y_i of a dataset of `n` points drawn from `seed`. The draws
    /// of x and ε do not depend on μ, so a λ–μ grid with one seed sees one
    /// dataset (Fig. 4).
    pub fn dataset_chi(&self, n: usize, seed: u64) -> Vec<f64> {
        let mut r = rng(seed, Stream::Dataset);
        (0..n)
            .map(|_| {
                let x: f64 = r.sample(StandardNormal);
                let z: f64 = r.sample(StandardNormal);
                x * (self.mu * x + (1.0 - self.mu) * self.noise_std * z)
            })
            .collect()
    }

    /// `E ln|1 + c·χ_S|` at N = ∞ for the mean of `batch_size` draws; the
    /// error is the quadrature's estimate (≤ 1e-9 in practice).
    pub fn expected_ln_abs_one_plus(&self, c: f64, batch_size: usize) -> Estimate {
        if c == 0.0 {
            return Estimate::exact(0.0);
        }
        let s = batch_size as f64;
        let (mu, b) = (self.mu, self.noise_weight());
        let log_norm = (s / 2.0 - 1.0) * std::f64::consts::LN_2 + libm::lgamma(s / 2.0);
        let density = |t: f64| {
            if t == 0.0 {
                return if batch_size == 1 {
                    (-log_norm).exp()
                } else {
                    0.0
                };
            }
            // At S = 1 the power of t is t⁰: no logarithm (0·ln t is ±0,
            // and ±0 − t²/2 − log_norm is the same number either way).
            let power = if batch_size == 1 {
                0.0
            } else {
                (s - 1.0) * t.ln()
            };
            (power - t * t / 2.0 - log_norm).exp()
        };
        let moments = self.moments();
        // A tiny rate: the typical step |cχ| below TINY_STEP.
        let tiny = (c * moments.mean_sq.sqrt()).abs() < TINY_STEP;
        let integrand = |t: f64| {
            let p = density(t);
            if p == 0.0 {
                return 0.0;
            }
            if tiny {
                p * expected_ln_abs_one_plus_affine(c * mu * t * t / s, c * b * t / s)
            } else {
                p * expected_ln_abs_affine(1.0 + c * mu * t * t / s, c * b * t / s)
            }
        };
        let centre = s.sqrt();
        let (lo, hi) = ((centre - 12.0).max(0.0), centre + 12.0);
        let mut breakpoints = vec![(s - 1.0).sqrt()];
        if c * mu < 0.0 {
            breakpoints.push((-s / (c * mu)).sqrt());
        }
        // At a tiny rate the exponent is tiny too (≈ 1e-20 at λ = 1e-20),
        // and an absolute 1e-10 would accept one Kronrod panel, right in
        // sign only: the tolerance is then a millionth of its size, the
        // first two terms `|cE[χ]| + c²E[χ_S²]/2` of its expansion in c.
        let tol = if tiny {
            let size = (c * moments.mean).abs() + c * c * moments.batch_mean_sq(batch_size) / 2.0;
            QUADRATURE_TOL.min(1e-6 * size)
        } else {
            QUADRATURE_TOL
        };
        integrate(integrand, lo, hi, &breakpoints, tol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monte_carlo(teacher: &Teacher, c: f64, s: usize, batches: usize, seed: u64) -> Estimate {
        let mut r = rng(seed, Stream::Expectation);
        Estimate::from_samples((0..batches).map(|_| {
            let chi: f64 = (0..s).map(|_| teacher.sample_chi(&mut r)).sum::<f64>() / s as f64;
            (1.0 + c * chi).abs().ln()
        }))
    }

    #[test]
    fn moments_match_sampled_data() {
        let t = Teacher {
            mu: 0.3,
            noise_std: 2.0,
        };
        let mut r = rng(1, Stream::Expectation);
        let draws: Vec<f64> = (0..2_000_000).map(|_| t.sample_chi(&mut r)).collect();
        let mean = Estimate::from_samples(draws.iter().copied());
        let sq = Estimate::from_samples(draws.iter().map(|x| x * x));
        let m = t.moments();
        assert!((mean.value - m.mean).abs() < 5.0 * mean.err);
        assert!((sq.value - m.mean_sq).abs() < 5.0 * sq.err);
    }

    #[test]
    fn tiny_rates_give_the_first_terms_of_the_expansion() {
        // E ln|1 + cχ_S| = cE[χ] − c²E[χ_S²]/2 + O(c³): at c = ±1e-20 the
        // first term for μ > 0, the second alone for μ = 0.
        for (mu, s) in [(0.5, 1), (0.06, 4), (1.0, 1), (0.0, 1), (0.0, 8)] {
            let t = Teacher { mu, noise_std: 2.0 };
            let m = t.moments();
            for c in [1e-20, -1e-20, 1e-17, -1e-17] {
                let want = c * m.mean - c * c * m.batch_mean_sq(s) / 2.0;
                let got = t.expected_ln_abs_one_plus(c, s);
                assert!(
                    (got.value / want - 1.0).abs() < 1e-6,
                    "μ={mu} S={s} c={c}: {got:?} vs {want}"
                );
            }
        }
    }

    #[test]
    fn lyapunov_integral_matches_monte_carlo_to_a_thousandth() {
        // Includes μ = 1 (no noise: a log singularity at t²= S/λ), μ = 0
        // (symmetric χ) and batches S > 1.
        let cases = [
            (0.06, 2.0, -1.5, 1),
            (0.06, 2.0, 1.5, 1),
            (0.5, 2.0, -0.8, 1),
            (1.0, 2.0, -0.7, 1),
            (0.0, 2.0, 0.9, 3),
            (0.3, 2.0, -2.5, 8),
            (0.8, 1.0, 3.0, 32),
        ];
        for (i, &(mu, noise_std, c, s)) in cases.iter().enumerate() {
            let t = Teacher { mu, noise_std };
            let q = t.expected_ln_abs_one_plus(c, s);
            assert!(q.err < 1e-8, "quadrature error {q:?}");
            let mc = monte_carlo(&t, c, s, 1_000_000, i as u64);
            assert!(mc.err < 2.5e-3, "{mc:?}");
            assert!(
                (q.value - mc.value).abs() < 4.0 * mc.err,
                "μ={mu} c={c} S={s}: quadrature {} vs MC {mc:?}",
                q.value
            );
        }
    }
}
