//! One-dimensional linear regression through the origin (§2, §3, Fig. 2).
//!
//! The per-sample loss is `ℓ = ½(wx − y)²`, so the per-sample curvature is
//! `x²` and SGD near the minimum follows Eq. (6), `v_{t+1} = (1 − λX_S) v_t`
//! with `X_S` the batch mean of `x²`. (The paper writes `L = (1/N)Σ(wx − y)²`
//! without the ½, whose Hessian is `2E[x²]`; Eq. (3) and Eq. (6) both assume
//! the ½, and so do we.)

use crate::Estimate;
use crate::batch_mean::{BatchMeanLaw, Moments};
use crate::rng::{Stream, rng};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::Serialize;

/// Stability of linearised SGD on a dataset at one (λ, S).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RegressionTheory {
    /// Prop. 1 / Eq. (7) for batches: `m = E ln|1 − λX_S|` (−∞ at a critical λ).
    pub m: Estimate,
    /// Convergence in probability: `m < 0`.
    pub stable: bool,
    pub lambda_gd: f64,
    pub lambda_ds: f64,
    pub lambda_ss: f64,
}

/// The dataset of Fig. 2: `n − 1` standard normal points and one point with
/// `x₁² = outlier`. The normal points depend only on the seed, so a grid over
/// `outlier` moves one point of one dataset.
pub fn outlier_dataset(n: usize, outlier: f64, seed: u64) -> Vec<f64> {
    let mut r = rng(seed, Stream::Dataset);
    std::iter::once(outlier.sqrt())
        .chain((1..n).map(|_| r.sample::<f64, _>(StandardNormal)))
        .collect()
}

/// Eq. (3): gradient descent is stable for `λ < 2/h`, `h = E[x²]`.
pub fn lambda_gd(curvature: &Moments) -> f64 {
    2.0 / curvature.mean
}

/// The second moment decreases, `E(1 − λX_S)² < 1`, for
/// `λ < 2E[x²]/E[X_S²] = 2S·E[x²] / (E[x⁴] + (S − 1)E[x²]²)`.
///
/// Deviation from the paper: Eq. (4) and Eq. (21) print
/// `2S²E[x²]/(E[x⁴] + (S − 1)²E[x²]²)`. The cross terms of Eq. (18) number
/// S(S − 1), not (S − 1)², and the diagonal ones S, not 1: with S i.i.d. draws,
/// `E X_S² = E[x⁴]/S + (S − 1)E[x²]²/S`. Both agree at S = 1; the Monte Carlo
/// test below shows the printed form is wrong for S > 1.
pub fn lambda_ds(curvature: &Moments, batch_size: usize) -> f64 {
    2.0 * curvature.mean / curvature.batch_mean_sq(batch_size)
}

/// Stationary linear stability (Ziyin et al. 2022b): `λ_SS = (2/h)/(1 + 1/S)`.
pub fn lambda_ss(curvature: &Moments, batch_size: usize) -> f64 {
    lambda_gd(curvature) / (1.0 + 1.0 / batch_size as f64)
}

/// Theory for the dataset `x` at learning rate `lr` and batch size `batch_size`.
///
/// Eq. (7): `m = E ln|1 − λX_S|` ([`BatchMeanLaw::expect_ln_abs_one_plus`]):
/// at a tiny λ (≲ 1e-17, where `1 − λx²` rounds to 1) `m ≈ −λE[x²] < 0`,
/// stable, as the small-λ limit of Prop. 1 says, not `m = 0`.
pub fn regression_theory(x: &[f64], lr: f64, batch_size: usize, seed: u64) -> RegressionTheory {
    let curvatures: Vec<f64> = x.iter().map(|x| x * x).collect();
    let moments = Moments::of(&curvatures);
    let m = BatchMeanLaw::new(&curvatures, batch_size, seed).expect_ln_abs_one_plus(-lr);
    RegressionTheory {
        m,
        stable: m.value < 0.0,
        lambda_gd: lambda_gd(&moments),
        lambda_ds: lambda_ds(&moments, batch_size),
        lambda_ss: lambda_ss(&moments, batch_size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng};

    /// `E[w_1²]/w_0²` for one SGD step of Eq. (6), sampled.
    fn second_moment_factor(x: &[f64], lr: f64, s: usize, steps: usize, seed: u64) -> Estimate {
        let mut r = rng(seed, Stream::Trajectories);
        Estimate::from_samples((0..steps).map(|_| {
            let xs: f64 = (0..s)
                .map(|_| x[r.random_range(0..x.len())].powi(2))
                .sum::<f64>()
                / s as f64;
            (1.0 - lr * xs).powi(2)
        }))
    }

    #[test]
    fn lambda_ds_is_where_sgd_second_moment_stops_decreasing() {
        let x = outlier_dataset(20, 9.0, 5);
        let curv = Moments::of(&x.iter().map(|x| x * x).collect::<Vec<_>>());
        for s in [1, 4, 16] {
            let ds = lambda_ds(&curv, s);
            let below = second_moment_factor(&x, 0.9 * ds, s, 400_000, 1);
            let above = second_moment_factor(&x, 1.1 * ds, s, 400_000, 2);
            assert!(below.value + 4.0 * below.err < 1.0, "S={s}: {below:?}");
            assert!(above.value - 4.0 * above.err > 1.0, "S={s}: {above:?}");
        }
    }

    #[test]
    fn printed_eq4_misses_the_threshold_for_batches() {
        // The paper's Eq. (4): 2S²E[x²]/(E[x⁴] + (S−1)²E[x²]²).
        let x = outlier_dataset(20, 9.0, 5);
        let curv = Moments::of(&x.iter().map(|x| x * x).collect::<Vec<_>>());
        let s = 4;
        let sf = s as f64;
        let printed =
            2.0 * sf * sf * curv.mean / (curv.mean_fourth + (sf - 1.0).powi(2) * curv.mean.powi(2));
        assert!((printed / lambda_ds(&curv, s) - 1.0).abs() > 0.2);
        // At the printed threshold the simulated second moment is far from 1.
        let at_printed = second_moment_factor(&x, printed, s, 400_000, 3);
        assert!(
            (at_printed.value - 1.0).abs() > 10.0 * at_printed.err,
            "{at_printed:?}"
        );
    }

    #[test]
    fn lambda_gd_is_where_full_batch_descent_diverges() {
        let x = outlier_dataset(10, 4.0, 1);
        let h = x.iter().map(|x| x * x).sum::<f64>() / x.len() as f64;
        let curv = Moments::of(&x.iter().map(|x| x * x).collect::<Vec<_>>());
        let gd = lambda_gd(&curv);
        // GD: v_{t+1} = (1 − λh) v_t.
        let run = |lr: f64| (0..200).fold(1.0f64, |v, _| v * (1.0 - lr * h)).abs();
        assert!(run(0.95 * gd) < 1e-6 && run(1.05 * gd) > 1e3);
        // λ_SS sits below by the factor 1 + 1/S.
        assert!((lambda_ss(&curv, 1) - gd / 2.0).abs() < 1e-15);
    }

    #[test]
    fn lyapunov_exponent_matches_simulated_trajectories() {
        // Prop. 1: m is the growth rate of ln|v_t|; an SGD simulation of Eq. (6)
        // measures it directly.
        let x = outlier_dataset(6, 25.0, 11);
        for (lr, s) in [(0.3, 1), (1.2, 1), (0.05, 2), (0.9, 3)] {
            let theory = regression_theory(&x, lr, s, 0);
            let mut r = rng(lr.to_bits() ^ s as u64, Stream::Trajectories);
            let rates = (0..400).map(|_| {
                (0..500)
                    .map(|_| {
                        let xs = (0..s)
                            .map(|_| x[r.random_range(0..x.len())].powi(2))
                            .sum::<f64>()
                            / s as f64;
                        (1.0 - lr * xs).abs().ln()
                    })
                    .sum::<f64>()
                    / 500.0
            });
            let sim = Estimate::from_samples(rates);
            assert!(theory.m.err == 0.0);
            assert!(
                (theory.m.value - sim.value).abs() < 4.0 * sim.err + 1e-12,
                "λ={lr} S={s}: {:?} vs {sim:?}",
                theory.m
            );
        }
    }

    #[test]
    fn tiny_rates_are_stable_with_m_close_to_minus_lambda_h() {
        // At λ ≤ 1e-17, 1 − λx² rounds to 1: m was 0 (unstable) or a rounding
        // error. The small-λ limit of Eq. (7) is m = −λE[x²] + O(λ²).
        let x = outlier_dataset(10, 9.0, 1);
        let h = x.iter().map(|x| x * x).sum::<f64>() / x.len() as f64;
        for lr in [1e-20, 1e-17, 1e-12] {
            for s in [1, 4] {
                let t = regression_theory(&x, lr, s, 0);
                assert!(t.m.value < 0.0 && t.stable, "λ={lr} S={s}: {t:?}");
                let want = -lr * h;
                assert!(
                    (t.m.value / want - 1.0).abs() < 1e-6,
                    "λ={lr} S={s}: m = {} vs −λh = {want}",
                    t.m.value
                );
            }
        }
    }

    #[test]
    fn ordinary_and_large_rates_keep_the_old_values_bit_for_bit() {
        let x = outlier_dataset(10, 9.0, 1);
        let curvatures: Vec<f64> = x.iter().map(|x| x * x).collect();
        for lr in [0.5, 3.0, 1e6] {
            for s in [1, 3] {
                let old =
                    BatchMeanLaw::new(&curvatures, s, 0).expect(|xs| (1.0 - lr * xs).abs().ln());
                let t = regression_theory(&x, lr, s, 0);
                assert_eq!(t.m.value.to_bits(), old.value.to_bits(), "λ={lr} S={s}");
                assert_eq!(t.stable, old.value < 0.0);
            }
        }
    }

    #[test]
    fn critical_rate_converges_in_probability_but_not_in_mean_square() {
        // Prop. 3: λ = 1/x_i² sends w to w* whenever x_i is drawn.
        // Here λ = 1/x₁² = 4 for the smallest point, far above λ_DS.
        let x = [0.5, 1.0, 4.0];
        let t = regression_theory(&x, 4.0, 1, 0);
        assert_eq!(t.m.value, f64::NEG_INFINITY);
        assert!(t.stable);
        assert!(4.0 > 10.0 * t.lambda_ds);
        // ... while a slightly different λ with an outlier is unstable.
        let x = [0.1, 0.2, 30.0];
        let t = regression_theory(&x, 0.5, 1, 0);
        assert!(t.m.value > 0.0 && !t.stable);
        assert!(0.5 > t.lambda_ds && 0.5 > t.lambda_gd);
    }
}
