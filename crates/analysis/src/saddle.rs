//! The rank-0 saddle of `u·w` models (§4.2, Prop. 2, App. A.6).
//!
//! Linearised at `u = w = 0` the loss is `ℓ = −χ·u·w` with `χ = xy`, and SGD
//! decouples (Eq. 67) into `w + u ← (1 + λχ_S)(w + u)` and
//! `w − u ← (1 − λχ_S)(w − u)`. So `w − u →_p 0` iff `m₋ = E ln|1 − λχ_S| < 0`
//! and `w + u →_p 0` iff `m₊ = E ln|1 + λχ_S| < 0`; the mean-square factors
//! are `E(1 ∓ λχ_S)² = 1 ∓ 2λE[χ] + λ²E[χ_S²]`.

use crate::Estimate;
use crate::batch_mean::{BatchMeanLaw, Moments};
use crate::teacher::Teacher;
use rand::{Rng, RngExt};
use serde::Serialize;
use std::fmt;

/// The distribution of the per-sample gradient noise χ.
#[derive(Clone, Debug)]
pub enum Chi {
    /// Uniform over finitely many values: Fig. 1b's `χ ∈ {1, a}`, or the
    /// χ_i = x_i y_i of a finite dataset (Fig. 4).
    Finite(Vec<f64>),
    /// The Gaussian teacher at N = ∞ (Fig. 3).
    Teacher(Teacher),
}

impl Chi {
    /// χ = 1 or a, each with probability ½ (§4.2).
    pub fn bernoulli(a: f64) -> Self {
        Chi::Finite(vec![1.0, a])
    }

    /// A dataset of `n` teacher points drawn from `seed`, or N = ∞ for `n = 0`.
    pub fn teacher(teacher: Teacher, n: usize, seed: u64) -> Self {
        if n == 0 {
            Chi::Teacher(teacher)
        } else {
            Chi::Finite(teacher.dataset_chi(n, seed))
        }
    }

    pub fn moments(&self) -> Moments {
        match self {
            Chi::Finite(values) => Moments::of(values),
            Chi::Teacher(t) => t.moments(),
        }
    }

    /// The size of |χ| against which a rate is tiny
    /// ([`crate::estimate::TINY_STEP`]): the largest |χ| of a finite law, the
    /// root mean square `√E[χ²]` of the teacher's unbounded one.
    pub fn scale(&self) -> f64 {
        match self {
            Chi::Finite(values) => values.iter().fold(0.0, |m, x| m.max(x.abs())),
            Chi::Teacher(t) => t.moments().mean_sq.sqrt(),
        }
    }

    /// One draw of χ.
    pub fn sample(&self, r: &mut impl Rng) -> f64 {
        match self {
            Chi::Finite(values) => values[r.random_range(0..values.len())],
            Chi::Teacher(t) => t.sample_chi(r),
        }
    }
}

/// The phases of §4.2 / Fig. 1b.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Correct learning (`w − u →_p 0`, `w + u` escapes) that also converges
    /// in mean square (`E(1 − λχ_S)² < 1`).
    Ia,
    /// Correct learning in probability only.
    Ib,
    /// Incorrect learning: `w + u →_p 0`, `w → −u`.
    II,
    /// Collapse to the low-rank saddle: both converge.
    III,
    /// Complete instability: neither converges.
    IV,
}

impl Phase {
    /// Phase from the two Lyapunov exponents and the excess of the
    /// mean-square factor of `w − u` over 1, `E(1 − λχ_S)² − 1` (< 0: mean
    /// square convergent). The excess, not the factor: at a tiny λ the factor
    /// `1 − 2λE[χ] + λ²E[χ_S²]` rounds to 1 while its excess keeps its sign.
    /// Note: the issue fixes Ia as the mean-square convergent part of phase
    /// I; the paper's Fig. 1 caption names it Ib.
    pub fn classify(m_minus: f64, m_plus: f64, ms_minus_excess: f64) -> Self {
        match (m_minus < 0.0, m_plus < 0.0) {
            (true, true) => Phase::III,
            (true, false) if ms_minus_excess < 0.0 => Phase::Ia,
            (true, false) => Phase::Ib,
            (false, true) => Phase::II,
            (false, false) => Phase::IV,
        }
    }

    /// All phases, in the order plots list them.
    pub const ALL: [Phase; 5] = [Phase::Ia, Phase::Ib, Phase::II, Phase::III, Phase::IV];
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Stability of the saddle at one (λ, S).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SaddleTheory {
    pub m_minus: Estimate,
    pub m_plus: Estimate,
    pub ms_minus: f64,
    pub ms_plus: f64,
    pub phase: Phase,
}

/// `E ln|1 + c·χ_S|`: exact for a small finite law, quadrature for the
/// teacher at N = ∞, seeded Monte Carlo (with its error) otherwise.
fn expected_ln_abs(chi: &Chi, law: Option<&BatchMeanLaw>, c: f64, batch_size: usize) -> Estimate {
    match (chi, law) {
        (Chi::Teacher(t), _) => t.expected_ln_abs_one_plus(c, batch_size),
        (Chi::Finite(_), Some(law)) => law.expect_ln_abs_one_plus(c),
        (Chi::Finite(_), None) => unreachable!("a finite χ always has its batch law"),
    }
}

/// Prop. 2 at one (λ, S): `m∓ = E ln|1 ∓ λχ_S|` (the finite law's
/// [`BatchMeanLaw::expect_ln_abs_one_plus`], or the teacher's quadrature,
/// both accurate in the small-λ limit `m∓ ≈ ∓λE[χ] − λ²E[χ_S²]/2`), the
/// mean-square factors `E(1 ∓ λχ_S)²`, and the phase. The phase takes the
/// factor's excess over 1 as `λ(λE[χ_S²] − 2E[χ])`, expanded rather than
/// `factor − 1`, which cancels to 0 at λ ≲ 1e-16. So a tiny λ is phase Ia for
/// E[χ] > 0 (w − u collapses, w + u escapes, slowly), II for E[χ] < 0 and III
/// for E[χ] = 0 (both exponents −λ²E[χ_S²]/2 < 0), as the limit says.
pub fn saddle_theory(chi: &Chi, lr: f64, batch_size: usize, seed: u64) -> SaddleTheory {
    let law = match chi {
        Chi::Finite(values) => Some(BatchMeanLaw::new(values, batch_size, seed)),
        Chi::Teacher(_) => None,
    };
    let m_minus = expected_ln_abs(chi, law.as_ref(), -lr, batch_size);
    let m_plus = expected_ln_abs(chi, law.as_ref(), lr, batch_size);
    let moments = chi.moments();
    let second = lr * lr * moments.batch_mean_sq(batch_size);
    let ms_minus = 1.0 - 2.0 * lr * moments.mean + second;
    let ms_plus = 1.0 + 2.0 * lr * moments.mean + second;
    let ms_minus_excess = lr * (lr * moments.batch_mean_sq(batch_size) - 2.0 * moments.mean);
    SaddleTheory {
        m_minus,
        m_plus,
        ms_minus,
        ms_plus,
        phase: Phase::classify(m_minus.value, m_plus.value, ms_minus_excess),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng};

    /// Simulate Eq. (66) itself, in (w, u), and measure the growth rates of
    /// |w − u| and |w + u| per step, and the mean-square factor of w − u.
    fn simulate_eq66(chi: &Chi, lr: f64, s: usize, seed: u64) -> (Estimate, Estimate, Estimate) {
        let mut r = rng(seed, Stream::Trajectories);
        let (trajectories, steps) = (400, 250);
        let (mut minus, mut plus, mut ms) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..trajectories {
            let (mut w, mut u) = (1.0f64, 0.25f64);
            let (mut ln_minus, mut ln_plus) = (0.0, 0.0);
            for _ in 0..steps {
                let chi_s = (0..s).map(|_| chi.sample(&mut r)).sum::<f64>() / s as f64;
                let (w_new, u_new) = (w + lr * chi_s * u, u + lr * chi_s * w);
                let d = (w_new - u_new) / (w - u);
                let h = (w_new + u_new) / (w + u);
                ms.push(d * d);
                ln_minus += d.abs().ln();
                ln_plus += h.abs().ln();
                // Rescale w − u and w + u to unit size: the dynamics is linear,
                // so the measured rates are unchanged and nothing overflows.
                let (dm, hp) = ((w_new - u_new).signum(), (w_new + u_new).signum());
                w = (hp + dm) / 2.0;
                u = (hp - dm) / 2.0;
            }
            minus.push(ln_minus / steps as f64);
            plus.push(ln_plus / steps as f64);
        }
        (
            Estimate::from_samples(minus),
            Estimate::from_samples(plus),
            Estimate::from_samples(ms),
        )
    }

    fn check_against_simulation(chi: &Chi, lr: f64, s: usize) {
        let theory = saddle_theory(chi, lr, s, 0);
        let (minus, plus, ms) = simulate_eq66(chi, lr, s, lr.to_bits());
        let tol = |e: &Estimate, t: &Estimate| 4.0 * (e.err * e.err + t.err * t.err).sqrt() + 1e-9;
        assert!(
            (theory.m_minus.value - minus.value).abs() < tol(&minus, &theory.m_minus),
            "m₋ λ={lr} S={s}: {:?} vs {minus:?}",
            theory.m_minus
        );
        assert!(
            (theory.m_plus.value - plus.value).abs() < tol(&plus, &theory.m_plus),
            "m₊ λ={lr} S={s}: {:?} vs {plus:?}",
            theory.m_plus
        );
        assert!(
            (theory.ms_minus - ms.value).abs() < 4.0 * ms.err,
            "ms₋ λ={lr} S={s}: {} vs {ms:?}",
            theory.ms_minus
        );
    }

    #[test]
    fn bernoulli_exponents_match_eq68_69_and_simulation() {
        // Eq. (68), (69) at S = 1: m± = ½ ln|(1 ± λ)(1 ± λa)|.
        let (lr, a) = (0.7, -0.6);
        let t = saddle_theory(&Chi::bernoulli(a), lr, 1, 0);
        assert!((t.m_plus.value - 0.5 * ((1.0 + lr) * (1.0 + lr * a)).abs().ln()).abs() < 1e-14);
        assert!((t.m_minus.value - 0.5 * ((1.0 - lr) * (1.0 - lr * a)).abs().ln()).abs() < 1e-14);
        for (lr, a, s) in [(0.7, -0.6, 1), (1.6, 0.3, 1), (2.3, -0.2, 4), (0.4, 3.0, 2)] {
            check_against_simulation(&Chi::bernoulli(a), lr, s);
        }
    }

    #[test]
    fn teacher_exponents_match_simulated_sgd_at_infinite_data() {
        let teacher = Teacher {
            mu: 0.06,
            noise_std: 2.0,
        };
        for (lr, s) in [(0.3, 1), (1.5, 1), (0.8, 4)] {
            check_against_simulation(&Chi::teacher(teacher, 0, 0), lr, s);
        }
    }

    #[test]
    fn finite_teacher_dataset_matches_simulation() {
        let teacher = Teacher {
            mu: 0.2,
            noise_std: 2.0,
        };
        let chi = Chi::teacher(teacher, 8, 42);
        for (lr, s) in [(0.5, 1), (1.1, 3)] {
            check_against_simulation(&chi, lr, s);
        }
    }

    #[test]
    fn phases_follow_the_signs_of_the_exponents() {
        assert_eq!(Phase::classify(-0.1, 0.2, -0.5), Phase::Ia);
        assert_eq!(Phase::classify(-0.1, 0.2, 0.5), Phase::Ib);
        assert_eq!(Phase::classify(0.1, -0.2, -0.5), Phase::II);
        assert_eq!(Phase::classify(-0.1, -0.2, 2.0), Phase::III);
        assert_eq!(Phase::classify(0.1, 0.2, 2.0), Phase::IV);
        // Fig. 1b: small λ learns correctly in mean square; large noise and
        // large λ collapse to the saddle; very large λ is unstable.
        assert_eq!(
            saddle_theory(&Chi::bernoulli(0.5), 0.1, 1, 0).phase,
            Phase::Ia
        );
        let collapse = saddle_theory(&Chi::bernoulli(-0.9), 1.2, 1, 0);
        assert_eq!(collapse.phase, Phase::III, "{collapse:?}");
        assert_eq!(
            saddle_theory(&Chi::bernoulli(0.5), 50.0, 1, 0).phase,
            Phase::IV
        );
    }

    /// `E ln|1 + cχ_S|` as it was computed before tiny rates had their own
    /// form: term by term, `ln|1 + c·x|` with exact criticality.
    fn old_m(chi: &Chi, c: f64, s: usize) -> f64 {
        match chi {
            Chi::Finite(values) => {
                BatchMeanLaw::new(values, s, 0)
                    .expect(|x| {
                        let y = 1.0 + c * x;
                        if y.abs() <= 8.0 * f64::EPSILON * (c * x).abs().max(1.0) {
                            f64::NEG_INFINITY
                        } else {
                            y.abs().ln()
                        }
                    })
                    .value
            }
            Chi::Teacher(_) => unreachable!("finite laws only"),
        }
    }

    #[test]
    fn tiny_rates_take_the_small_lambda_phase() {
        // At λ ≤ 1e-17 every 1 ± λχ rounds to 1: m± were 0 (phase IV) and the
        // mean-square factor exactly 1. The limit: m∓ ≈ ∓λE[χ] − λ²E[χ_S²]/2,
        // E(1 − λχ_S)² − 1 ≈ −2λE[χ]; so Ia for E[χ] > 0, II for E[χ] < 0 and
        // III for E[χ] = 0.
        let teacher = |mu| Chi::Teacher(Teacher { mu, noise_std: 2.0 });
        let cases = [
            (Chi::bernoulli(0.5), 1, Phase::Ia),
            (Chi::bernoulli(-0.5), 3, Phase::Ia),
            (Chi::bernoulli(-2.0), 1, Phase::II),
            (Chi::bernoulli(-1.0), 2, Phase::III),
            (
                Chi::teacher(
                    Teacher {
                        mu: 0.5,
                        noise_std: 2.0,
                    },
                    12,
                    7,
                ),
                2,
                Phase::Ia,
            ),
            (teacher(0.5), 1, Phase::Ia),
            (teacher(0.06), 4, Phase::Ia),
            (teacher(1.0), 1, Phase::Ia),
            (teacher(0.0), 1, Phase::III),
        ];
        for (chi, s, phase) in &cases {
            let m = chi.moments();
            for lr in [1e-20, 1e-17] {
                let t = saddle_theory(chi, lr, *s, 0);
                assert_eq!(t.phase, *phase, "λ={lr} S={s} {chi:?}: {t:?}");
                for (got, c) in [(t.m_minus.value, -lr), (t.m_plus.value, lr)] {
                    let want = c * m.mean - c * c * m.batch_mean_sq(*s) / 2.0;
                    assert!(
                        (got / want - 1.0).abs() < 1e-6,
                        "λ={lr} S={s} {chi:?}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn ordinary_and_large_rates_keep_the_old_values_bit_for_bit() {
        let chis = [
            Chi::bernoulli(0.5),
            Chi::bernoulli(-0.9),
            Chi::teacher(
                Teacher {
                    mu: 0.2,
                    noise_std: 2.0,
                },
                8,
                42,
            ),
        ];
        for chi in &chis {
            for lr in [0.5, 3.0, 1e6] {
                for s in [1, 3] {
                    let t = saddle_theory(chi, lr, s, 0);
                    let (minus, plus) = (old_m(chi, -lr, s), old_m(chi, lr, s));
                    assert_eq!(t.m_minus.value.to_bits(), minus.to_bits(), "λ={lr} S={s}");
                    assert_eq!(t.m_plus.value.to_bits(), plus.to_bits(), "λ={lr} S={s}");
                    let m = chi.moments();
                    let second = lr * lr * m.batch_mean_sq(s);
                    let ms_minus = 1.0 - 2.0 * lr * m.mean + second;
                    assert_eq!(t.ms_minus.to_bits(), ms_minus.to_bits());
                    let old_phase = match (minus < 0.0, plus < 0.0) {
                        (true, true) => Phase::III,
                        (true, false) if ms_minus < 1.0 => Phase::Ia,
                        (true, false) => Phase::Ib,
                        (false, true) => Phase::II,
                        (false, false) => Phase::IV,
                    };
                    assert_eq!(t.phase, old_phase, "λ={lr} S={s} {chi:?}");
                }
            }
        }
    }

    #[test]
    fn collapse_region_excludes_mean_square_convergence() {
        // §4.2: region III never overlaps Ia; scan a λ–a grid.
        for i in 1..60 {
            for j in 0..60 {
                let lr = i as f64 * 0.05;
                let a = -0.99 + j as f64 * 0.05;
                let t = saddle_theory(&Chi::bernoulli(a), lr, 1, 0);
                if t.phase == Phase::III {
                    assert!(t.ms_minus >= 1.0 || t.ms_plus >= 1.0, "λ={lr} a={a}: {t:?}");
                }
            }
        }
    }
}
