//! Monte Carlo trajectories of linearised SGD (Eq. 6 for regression, Eq. 67
//! for the saddle) and the Fig. 6 comparison of the typical trajectory,
//! `e^{2m(t)}` with `m(t) = E ln|w_t − w*|`, against the mean square
//! `⟨|w_t − w*|²⟩`, which rare escaping trajectories dominate.
//!
//! (Eq. 9 writes `m_w = E ln|w − w*|²`; Fig. 6 and Eq. 12 use `m = E ln|w − w*|`
//! with `e^{2m}` on the squared scale. We follow Fig. 6.)
//!
//! Trajectories are tracked as log-magnitudes, so nothing overflows however
//! unstable the dynamics; `w_0 − w* = 1` for regression and
//! `(w_0, u_0) = (1, 0)` for the saddle (so `w ± u` both start at 1).

use crate::Estimate;
use crate::estimate::{TINY_STEP, ln_abs_1p};
use crate::rng::{Stream, rng};
use crate::saddle::{Chi, Phase};
use rand::{Rng, RngExt};
use serde::Serialize;

/// How many trajectories, how long, and what to record.
#[derive(Clone, Copy, Debug)]
pub struct SimSettings {
    pub trajectories: usize,
    pub steps: usize,
    /// A trajectory has converged when `|w_T − w*| < eps`.
    pub eps: f64,
    /// Trace rows besides step 0 (evenly spaced).
    pub trace_points: usize,
    /// Individual trajectories written to the trace (`|w_t − w*|²`).
    pub trace_samples: usize,
    pub seed: u64,
}

/// One trace row (Fig. 6).
#[derive(Clone, Debug, Serialize)]
pub struct TraceRow {
    pub step: usize,
    /// `m(t) = mean ln|w_t − w*|` over trajectories.
    pub m: f64,
    /// `e^{2m(t)}`: the typical squared distance.
    pub exp_2m: f64,
    /// `⟨|w_t − w*|²⟩` (may be +∞ once it overflows f64).
    pub mean_sq: f64,
    /// Fraction of trajectories within `eps` of `w*`.
    pub frac_within_eps: f64,
    /// `|w_t − w*|²` of the first `trace_samples` trajectories.
    pub samples: Vec<f64>,
}

/// Outcome of a regression simulation.
#[derive(Clone, Debug, Serialize)]
pub struct RegressionSim {
    /// Fraction of trajectories within eps of w* at the end.
    pub frac_converged: f64,
    /// Measured `m(T)/T`: the Lyapunov exponent per step.
    pub m_rate: Estimate,
    pub trace: Vec<TraceRow>,
}

/// Outcome of a saddle simulation; the fixed point is the saddle `w = u = 0`.
#[derive(Clone, Debug, Serialize)]
pub struct SaddleSim {
    /// Fraction within eps of the saddle (both `w` and `u` collapsed).
    pub frac_converged: f64,
    /// Fraction with `|w − u| < eps` (the direction m₋ governs).
    pub frac_minus: f64,
    /// Fraction with `|w + u| < eps` (the direction m₊ governs).
    pub frac_plus: f64,
    /// Measured `ln|w_T − w*|/T` (distance to the saddle).
    pub m_rate: Estimate,
    pub m_rate_minus: Estimate,
    pub m_rate_plus: Estimate,
    /// Sample mean of `(1 − λχ_S)²` over all simulated steps.
    pub ms_minus: Estimate,
    /// The phase the measured rates and `ms_minus` imply (same rule as theory).
    pub phase: Phase,
    pub trace: Vec<TraceRow>,
}

/// Eq. (6) on the dataset `x`: `v ← (1 − λX_S) v`.
pub fn simulate_regression(
    x: &[f64],
    lr: f64,
    batch_size: usize,
    settings: &SimSettings,
) -> RegressionSim {
    let curvatures: Vec<f64> = x.iter().map(|x| x * x).collect();
    let largest = curvatures.iter().fold(0.0f64, |m, &c| m.max(c));
    let tiny = (lr * largest).abs() < TINY_STEP;
    let run = run_trajectories(settings, 1, tiny, |r, z| {
        let xs = batch_mean(batch_size, || {
            curvatures[r.random_range(0..curvatures.len())]
        });
        z[0] = -lr * xs;
    });
    let ln_dist: Vec<f64> = run.final_ln.iter().map(|c| c[0]).collect();
    RegressionSim {
        frac_converged: fraction(&ln_dist, settings.eps),
        m_rate: rate(&ln_dist, settings.steps),
        trace: run.trace,
    }
}

/// Eq. (67): `w + u ← (1 + λχ_S)(w + u)`, `w − u ← (1 − λχ_S)(w − u)`, one
/// χ_S per step for both.
///
/// The phase takes the mean-square factor's excess over 1, the sample mean of
/// `(1 − λχ_S)² − 1 = z(2 + z)` with `z = −λχ_S`, which keeps its sign where
/// the factor itself rounds to 1 (λ ≲ 1e-16).
pub fn simulate_saddle(chi: &Chi, lr: f64, batch_size: usize, settings: &SimSettings) -> SaddleSim {
    let mut ms = crate::estimate::Running::default();
    let mut ms_excess = crate::estimate::Running::default();
    let tiny = (lr * chi.scale()).abs() < TINY_STEP;
    let run = run_trajectories(settings, 2, tiny, |r, z| {
        let chi_s = batch_mean(batch_size, || chi.sample(r));
        z[0] = -lr * chi_s;
        z[1] = lr * chi_s;
        let factor = 1.0 + z[0];
        ms.push(factor * factor);
        ms_excess.push(z[0] * (2.0 + z[0]));
    });
    let minus: Vec<f64> = run.final_ln.iter().map(|c| c[0]).collect();
    let plus: Vec<f64> = run.final_ln.iter().map(|c| c[1]).collect();
    let dist: Vec<f64> = run.final_ln.iter().map(|c| saddle_distance_ln(c)).collect();
    let (m_rate_minus, m_rate_plus) = (rate(&minus, settings.steps), rate(&plus, settings.steps));
    let ms_minus = ms.estimate();
    SaddleSim {
        frac_converged: fraction(&dist, settings.eps),
        frac_minus: fraction(&minus, settings.eps),
        frac_plus: fraction(&plus, settings.eps),
        m_rate: rate(&dist, settings.steps),
        m_rate_minus,
        m_rate_plus,
        ms_minus,
        phase: Phase::classify(
            m_rate_minus.value,
            m_rate_plus.value,
            ms_excess.estimate().value,
        ),
        trace: run.trace,
    }
}

/// `ln|(w, u)|` from `ln|w − u|`, `ln|w + u|`: `|(w, u)|² = (d² + h²)/2`.
fn saddle_distance_ln(components: &[f64]) -> f64 {
    0.5 * (log_add_exp(2.0 * components[0], 2.0 * components[1]) - std::f64::consts::LN_2)
}

fn batch_mean(batch_size: usize, mut draw: impl FnMut() -> f64) -> f64 {
    (0..batch_size).map(|_| draw()).sum::<f64>() / batch_size as f64
}

struct Run {
    /// `ln|component|` of each trajectory at the end.
    final_ln: Vec<Vec<f64>>,
    trace: Vec<TraceRow>,
}

/// Run `settings.trajectories` trajectories of `components` independent
/// multiplicative coordinates, each starting at 1; `step` fills this step's
/// factors `1 + z` as their `z`. At a `tiny` rate ([`TINY_STEP`]) `ln|1 + z|`
/// is [`ln_abs_1p`], which keeps the z that `1 + z` rounds away (at λ ≈ 1e-17
/// every factor is 1 and every measured rate 0). The distance to the fixed
/// point is the single coordinate, or for two the saddle distance.
fn run_trajectories(
    settings: &SimSettings,
    components: usize,
    tiny: bool,
    mut step: impl FnMut(&mut rand::rngs::Xoshiro256PlusPlus, &mut [f64]),
) -> Run {
    let trace_steps = trace_steps(settings.steps, settings.trace_points);
    let distance = |c: &[f64]| {
        if components == 1 {
            c[0]
        } else {
            saddle_distance_ln(c)
        }
    };
    let mut r = rng(settings.seed, Stream::Trajectories);
    let mut recorded = vec![Vec::with_capacity(settings.trajectories); trace_steps.len()];
    let mut final_ln = Vec::with_capacity(settings.trajectories);
    let mut z = vec![0.0; components];
    for _ in 0..settings.trajectories {
        let mut ln = vec![0.0; components];
        let mut next = 0;
        for t in 0..=settings.steps {
            if next < trace_steps.len() && trace_steps[next] == t {
                recorded[next].push(distance(&ln));
                next += 1;
            }
            if t == settings.steps {
                break;
            }
            step(&mut r, &mut z);
            for (l, &zi) in ln.iter_mut().zip(&z) {
                *l += if tiny {
                    ln_abs_1p(zi)
                } else {
                    (1.0 + zi).abs().ln()
                };
            }
        }
        final_ln.push(ln);
    }
    let trace = trace_steps
        .iter()
        .zip(&recorded)
        .map(|(&step, ln_dist)| trace_row(step, ln_dist, settings))
        .collect();
    Run { final_ln, trace }
}

fn trace_row(step: usize, ln_dist: &[f64], settings: &SimSettings) -> TraceRow {
    let n = ln_dist.len() as f64;
    let m = ln_dist.iter().sum::<f64>() / n;
    let ln_mean_sq = ln_dist
        .iter()
        .fold(f64::NEG_INFINITY, |acc, &l| log_add_exp(acc, 2.0 * l))
        - n.ln();
    TraceRow {
        step,
        m,
        exp_2m: (2.0 * m).exp(),
        mean_sq: ln_mean_sq.exp(),
        frac_within_eps: fraction(ln_dist, settings.eps),
        samples: ln_dist
            .iter()
            .take(settings.trace_samples)
            .map(|l| (2.0 * l).exp())
            .collect(),
    }
}

/// Step 0 and `points` evenly spaced steps up to `steps`.
fn trace_steps(steps: usize, points: usize) -> Vec<usize> {
    let points = points.max(1).min(steps.max(1));
    let mut out: Vec<usize> = (0..=points)
        .map(|j| (j * steps + points / 2) / points)
        .collect();
    out.dedup();
    out
}

fn fraction(ln_dist: &[f64], eps: f64) -> f64 {
    let ln_eps = eps.ln();
    ln_dist.iter().filter(|&&l| l < ln_eps).count() as f64 / ln_dist.len() as f64
}

fn rate(ln_dist: &[f64], steps: usize) -> Estimate {
    let e = Estimate::from_samples(ln_dist.iter().copied());
    Estimate {
        value: e.value / steps as f64,
        err: e.err / steps as f64,
    }
}

fn log_add_exp(a: f64, b: f64) -> f64 {
    let hi = a.max(b);
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    if hi == f64::INFINITY {
        return hi;
    }
    hi + ((a - hi).exp() + (b - hi).exp()).ln()
}

/// Keep the generic bound readable in signatures above.
#[allow(dead_code)]
fn _assert_rng(r: &mut impl Rng) -> u64 {
    r.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regression::{outlier_dataset, regression_theory};
    use crate::saddle::saddle_theory;
    use crate::teacher::Teacher;

    fn settings(seed: u64) -> SimSettings {
        SimSettings {
            trajectories: 300,
            steps: 400,
            eps: 1e-3,
            trace_points: 50,
            trace_samples: 5,
            seed,
        }
    }

    #[test]
    fn regression_verdicts_agree_with_theory_away_from_boundaries() {
        let x = outlier_dataset(10, 20.0, 3);
        let mut checked = 0;
        for i in 1..40 {
            let lr = i as f64 * 0.05;
            let theory = regression_theory(&x, lr, 1, 0);
            if theory.m.value.abs() < 0.05 {
                continue;
            }
            checked += 1;
            let sim = simulate_regression(&x, lr, 1, &settings(i));
            assert_eq!(
                sim.m_rate.value < 0.0,
                theory.stable,
                "λ={lr}: {:?} vs {:?}",
                sim.m_rate,
                theory.m
            );
            // m < −0.05 over 400 steps: e^{-20}, far below eps; m > 0.05: far above.
            assert_eq!(sim.frac_converged > 0.5, theory.stable, "λ={lr}");
        }
        assert!(checked > 20);
    }

    #[test]
    fn saddle_verdicts_agree_with_theory_away_from_boundaries() {
        let chis = [
            Chi::bernoulli(-0.5),
            Chi::bernoulli(0.4),
            Chi::teacher(
                Teacher {
                    mu: 0.1,
                    noise_std: 2.0,
                },
                0,
                0,
            ),
        ];
        let mut checked = 0;
        for chi in &chis {
            for i in 1..25 {
                let lr = i as f64 * 0.12;
                let t = saddle_theory(chi, lr, 1, 0);
                let margin = t
                    .m_minus
                    .value
                    .abs()
                    .min(t.m_plus.value.abs())
                    .min((t.ms_minus - 1.0).abs());
                if margin < 0.05 {
                    continue;
                }
                checked += 1;
                let sim = simulate_saddle(chi, lr, 1, &settings(i));
                assert_eq!(sim.phase, t.phase, "λ={lr} {chi:?}: {sim:?} vs {t:?}");
                assert_eq!(sim.frac_converged > 0.5, t.phase == Phase::III, "λ={lr}");
            }
        }
        assert!(checked > 30);
    }

    #[test]
    fn tiny_rates_are_measured_not_rounded_away() {
        // At λ = 1e-20 every factor 1 ± λχ rounds to 1: the measured rates
        // were 0 and the saddle phase IV. With χ ∈ {1, ½} > 0 the small-λ
        // limit is exact in sign: m₋ < 0 < m₊ and E(1 − λχ)² < 1, phase Ia.
        let chi = Chi::bernoulli(0.5);
        let sim = simulate_saddle(&chi, 1e-20, 1, &settings(3));
        assert_eq!(sim.phase, Phase::Ia, "{sim:?}");
        assert!(sim.m_rate_minus.value < 0.0 && sim.m_rate_plus.value > 0.0);
        // Regression: m ≈ −λ·(mean x² drawn), within its sampling error.
        let x = outlier_dataset(10, 20.0, 3);
        let h = x.iter().map(|x| x * x).sum::<f64>() / x.len() as f64;
        let sim = simulate_regression(&x, 1e-20, 1, &settings(4));
        assert!(sim.m_rate.value < 0.0, "{:?}", sim.m_rate);
        assert!((sim.m_rate.value + 1e-20 * h).abs() < 5.0 * sim.m_rate.err + 1e-26);
    }

    #[test]
    fn typical_trajectory_beats_mean_square_at_large_rate() {
        // Fig. 6, middle panel: stable in probability, unstable in mean square;
        // e^{2m} falls while ⟨|w − w*|²⟩ grows.
        let x = outlier_dataset(10, 20.0, 3);
        let lr = (1..200)
            .map(|i| i as f64 * 0.01)
            .find(|&lr| {
                let t = regression_theory(&x, lr, 1, 0);
                t.m.value < -0.05 && lr > 2.0 * t.lambda_ds
            })
            .expect("a rate stable in probability only");
        let sim = simulate_regression(&x, lr, 1, &settings(9));
        let last = sim.trace.last().unwrap();
        assert!(last.exp_2m < 1e-6, "{last:?}");
        assert!(last.mean_sq > last.exp_2m * 1e6, "{last:?}");
        assert_eq!(sim.trace.first().unwrap().step, 0);
        assert_eq!(last.step, 400);
        assert_eq!(last.samples.len(), 5);
    }

    #[test]
    fn same_seed_gives_same_trajectories() {
        let x = outlier_dataset(5, 3.0, 1);
        let a = simulate_regression(&x, 0.4, 2, &settings(5));
        let b = simulate_regression(&x, 0.4, 2, &settings(5));
        assert_eq!(a.m_rate, b.m_rate);
        assert_eq!(
            a.trace.last().unwrap().samples,
            b.trace.last().unwrap().samples
        );
    }
}
