//! The law of a minibatch mean `X_S = (1/S) Σ_{j≤S} x_{i_j}` over a finite
//! dataset, the S indices drawn i.i.d. and uniformly (DESIGN.md: minibatches
//! are S i.i.d. draws from the data distribution).
//!
//! Exact where the number of distinct batches (multisets, C(n+S−1, S) over
//! the n distinct values) is at most [`EXACT_LIMIT`]: the atoms carry their
//! multinomial weights. Otherwise a seeded Monte Carlo sample of batches, and
//! expectations come with their standard error.

use crate::Estimate;
use crate::estimate::{TINY_STEP, log_abs_one_plus};
use crate::rng::{Stream, rng};
use rand::RngExt;

/// Largest number of distinct batches enumerated exactly.
pub const EXACT_LIMIT: f64 = 200_000.0;
/// Batches drawn when the law is sampled instead of enumerated (fewer, down
/// to 1,000, when S is so large that batches × S would pass MONTE_CARLO_DRAWS).
pub const MONTE_CARLO_BATCHES: usize = 400_000;
/// Bound on the single draws behind a sampled law.
pub const MONTE_CARLO_DRAWS: usize = 40_000_000;

/// Atoms `(value of X_S, probability)`; `exact` is false for a sampled law
/// (then every atom has weight 1/len and expectations report an error).
#[derive(Clone, Debug)]
pub struct BatchMeanLaw {
    pub atoms: Vec<(f64, f64)>,
    pub exact: bool,
}

impl BatchMeanLaw {
    /// The law of the mean of `batch_size` i.i.d. uniform draws from `values`
    /// (`values` non-empty, `batch_size ≥ 1`); `seed` only matters when the
    /// law has to be sampled.
    pub fn new(values: &[f64], batch_size: usize, seed: u64) -> Self {
        assert!(
            !values.is_empty() && batch_size >= 1,
            "validated by the caller"
        );
        let distinct = distinct_with_probabilities(values);
        let n = distinct.len() as f64;
        let s = batch_size as f64;
        let batches = (libm::lgamma(n + s) - libm::lgamma(s + 1.0) - libm::lgamma(n)).exp();
        if batches <= EXACT_LIMIT {
            let mut atoms = Vec::with_capacity(batches.round() as usize);
            enumerate(
                &distinct,
                batch_size,
                0,
                0.0,
                libm::lgamma(s + 1.0),
                &mut atoms,
                s,
            );
            Self { atoms, exact: true }
        } else {
            let mut r = rng(seed, Stream::Expectation);
            // Keep the draws (batches × S) bounded for very large batches.
            let batches = (MONTE_CARLO_DRAWS / batch_size).clamp(1_000, MONTE_CARLO_BATCHES);
            let atoms = (0..batches)
                .map(|_| {
                    let sum: f64 = (0..batch_size)
                        .map(|_| values[r.random_range(0..values.len())])
                        .sum();
                    (sum / s, 1.0 / batches as f64)
                })
                .collect();
            Self {
                atoms,
                exact: false,
            }
        }
    }

    /// `E f(X_S)`: exact, or the sample mean with its standard error.
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> Estimate {
        if self.exact {
            let value = self
                .atoms
                .iter()
                .filter(|(_, w)| *w > 0.0)
                .map(|&(x, w)| w * f(x))
                .sum();
            Estimate::exact(value)
        } else {
            Estimate::from_samples(self.atoms.iter().map(|&(x, _)| f(x)))
        }
    }
}

impl BatchMeanLaw {
    /// `E ln|1 + c·X_S|` (Eq. 7, Prop. 2), each term through
    /// [`log_abs_one_plus`] (exact criticality, Prop. 3). Where c is tiny
    /// (every `|c·x| <` [`TINY_STEP`]) it is instead `c·E[X_S] + E[ρ(cX_S)]`
    /// with the remainder `ρ(z) = ln(1 + z) − z = −z²/2 + z³/3 − z⁴/4 + z⁵/5`
    /// (truncation < 1e-16 relative there): term by term, `1 + c·x` rounds to
    /// 1 at c ≈ 1e-17, and even through `ln_1p` the first-order terms of
    /// opposite signs cancel and take the second-order `−c²E[X_S²]/2`, 1e-20
    /// of them at c ≈ 1e-20, with them. Where E[X_S] = 0 (χ = ±1) that term
    /// is the whole exponent, and its sign the phase.
    pub fn expect_ln_abs_one_plus(&self, c: f64) -> Estimate {
        let largest = self.atoms.iter().fold(0.0f64, |m, &(x, _)| m.max(x.abs()));
        if (c * largest).abs() >= TINY_STEP {
            return self.expect(|x| log_abs_one_plus(c, x));
        }
        let first = self.expect(|x| x);
        let rest = self.expect(|x| {
            let z = c * x;
            z * z * (-0.5 + z * (1.0 / 3.0 + z * (-0.25 + z * 0.2)))
        });
        Estimate {
            value: c * first.value + rest.value,
            err: (c * first.err).abs() + rest.err,
        }
    }
}

/// First and second moments of the data, from which the moments of any
/// batch mean follow exactly: `E X_S = E x`, `E X_S² = E x²/S + (S−1)/S (E x)²`.
#[derive(Clone, Copy, Debug)]
pub struct Moments {
    pub mean: f64,
    pub mean_sq: f64,
    pub mean_fourth: f64,
}

impl Moments {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        Self {
            mean: values.iter().sum::<f64>() / n,
            mean_sq: values.iter().map(|x| x * x).sum::<f64>() / n,
            mean_fourth: values.iter().map(|x| x.powi(4)).sum::<f64>() / n,
        }
    }

    /// `E X_S²` for the mean of `batch_size` i.i.d. draws.
    pub fn batch_mean_sq(&self, batch_size: usize) -> f64 {
        let s = batch_size as f64;
        self.mean_sq / s + (s - 1.0) / s * self.mean * self.mean
    }
}

/// Distinct values with their probabilities under uniform sampling of `values`.
fn distinct_with_probabilities(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let p = 1.0 / values.len() as f64;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for v in sorted {
        match out.last_mut() {
            Some((last, w)) if *last == v => *w += p,
            _ => out.push((v, p)),
        }
    }
    out
}

/// Every composition `k_i ≥ 0, Σ k_i = remaining` of the distinct values from
/// `index` on, pushing `(Σ k_i v_i / S, multinomial probability)`.
fn enumerate(
    distinct: &[(f64, f64)],
    remaining: usize,
    index: usize,
    partial_sum: f64,
    log_weight: f64,
    out: &mut Vec<(f64, f64)>,
    s: f64,
) {
    if remaining == 0 {
        // Every later value is drawn 0 times: a factor p⁰/0! = 1 each.
        out.push((partial_sum / s, log_weight.exp()));
        return;
    }
    let (v, p) = distinct[index];
    if index + 1 == distinct.len() {
        let k = remaining as f64;
        let lw = log_weight + k * p.ln() - libm::lgamma(k + 1.0);
        out.push(((partial_sum + k * v) / s, lw.exp()));
        return;
    }
    for k in 0..=remaining {
        let kf = k as f64;
        let lw = log_weight + kf * p.ln() - libm::lgamma(kf + 1.0);
        enumerate(
            distinct,
            remaining - k,
            index + 1,
            partial_sum + kf * v,
            lw,
            out,
            s,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_law_sums_to_one_and_has_the_right_moments() {
        let values = [0.3, -1.2, 2.0, 2.0, 0.7];
        let m = Moments::of(&values);
        for s in [1, 2, 3, 7] {
            let law = BatchMeanLaw::new(&values, s, 0);
            assert!(law.exact);
            assert!((law.expect(|_| 1.0).value - 1.0).abs() < 1e-12);
            assert!((law.expect(|x| x).value - m.mean).abs() < 1e-12);
            assert!((law.expect(|x| x * x).value - m.batch_mean_sq(s)).abs() < 1e-12);
        }
    }

    #[test]
    fn two_point_law_is_binomial() {
        // χ = 1 or a with probability ½ each: X_S = (k + (S−k)a)/S, k ~ Bin(S, ½).
        let law = BatchMeanLaw::new(&[1.0, -0.5], 4, 0);
        assert_eq!(law.atoms.len(), 5);
        let p_all_ones: f64 = law
            .atoms
            .iter()
            .filter(|(x, _)| *x == 1.0)
            .map(|(_, w)| w)
            .sum();
        assert!((p_all_ones - 1.0 / 16.0).abs() < 1e-14);
    }

    #[test]
    fn tiny_c_keeps_the_second_order_term_where_the_first_cancels() {
        // χ = ±1: E ln|1 + cχ| = ½ ln(1 − c²) ≈ −c²/2, which term-by-term
        // sums of ln_1p(±c) lose below c ≈ 1e-8.
        let law = BatchMeanLaw::new(&[1.0, -1.0], 1, 0);
        for c in [1e-20, -1e-17, 1e-10, 5e-5] {
            let got = law.expect_ln_abs_one_plus(c).value;
            let want = 0.5 * (-c * c).ln_1p();
            assert!((got / want - 1.0).abs() < 1e-12, "c={c}: {got} vs {want}");
        }
        // The sampled law too, and a nonzero mean: c·E[X_S] − c²E[X_S²]/2.
        let values: Vec<f64> = (0..200).map(|i| (i as f64 * 0.37).sin() + 0.1).collect();
        let law = BatchMeanLaw::new(&values, 5, 3);
        assert!(!law.exact);
        let c = 1e-19;
        let (mean, sq) = (law.expect(|x| x).value, law.expect(|x| x * x).value);
        let got = law.expect_ln_abs_one_plus(c);
        assert!((got.value / (c * mean - c * c * sq / 2.0) - 1.0).abs() < 1e-12);
        // Its error is the sampling error of c·X_S (the rest is c² smaller).
        let mean_err = law.expect(|x| x).err;
        assert!((got.err / (c * mean_err) - 1.0).abs() < 1e-6, "{got:?}");
        // Ordinary c: the term-by-term sum, to the bit.
        let law = BatchMeanLaw::new(&[0.3, -1.2, 2.0], 3, 0);
        for c in [0.5, -3.0, 1e6] {
            let old = law.expect(|x| log_abs_one_plus(c, x)).value;
            assert_eq!(law.expect_ln_abs_one_plus(c).value.to_bits(), old.to_bits());
        }
    }

    #[test]
    fn large_law_is_sampled_with_an_error_that_covers_the_truth() {
        let values: Vec<f64> = (0..200).map(|i| (i as f64 * 0.37).sin()).collect();
        let law = BatchMeanLaw::new(&values, 5, 3);
        assert!(!law.exact);
        let m = Moments::of(&values);
        let e = law.expect(|x| x * x);
        assert!(e.err > 0.0);
        assert!((e.value - m.batch_mean_sq(5)).abs() < 5.0 * e.err, "{e:?}");
    }
}
