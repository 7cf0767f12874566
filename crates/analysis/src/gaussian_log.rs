//! `E ln|a + b·Z|` for `Z ~ N(0, 1)`: the inner expectation of the Gaussian
//! teacher's Lyapunov exponent (given x, the term x·ε is Gaussian).
//!
//! With `c = a/b`, `E ln|a + bZ| = ln|b| + g(c)` and `g(c) = E ln|c + Z|`.
//! `(c + Z)²` is non-central χ² with one degree of freedom, a Poisson(c²/2)
//! mixture of central χ²_{1+2j}, and `E ln χ²_ν = ln 2 + ψ(ν/2)`, so
//!
//! `g(c) = ½ [ln 2 + Σ_j Pois(j; c²/2) ψ(j + ½)]`, with `ψ(½) = −γ − 2 ln 2`
//! and `ψ(j + ½) = ψ(j − ½) + 1/(j − ½)`.
//!
//! `g` is tabulated once on `[0, C_MAX]` and interpolated (cubic, error
//! < 1e-10); beyond `C_MAX` the asymptotic series
//! `ln|c| − 1/(2c²) − 3/(4c⁴) − 5/(2c⁶) − 105/(8c⁸)` is used (error < 1e-12).

use crate::estimate::ln_abs_1p;
use std::sync::OnceLock;

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
/// Table step.
const STEP: f64 = 0.005;
/// Beyond this |c| the asymptotic series is used.
const C_MAX: f64 = 30.0;

/// `E ln|Z|` for a standard normal Z: `−(γ + ln 2)/2`.
pub const LN_ABS_STANDARD_NORMAL: f64 = -(EULER_GAMMA + std::f64::consts::LN_2) / 2.0;

/// `E ln|a + b·Z|`, `Z ~ N(0, 1)`; `−∞` only when `a = b = 0`.
pub fn expected_ln_abs_affine(a: f64, b: f64) -> f64 {
    let b = b.abs();
    let a_abs = a.abs();
    if b == 0.0 {
        return a_abs.ln();
    }
    if a_abs == 0.0 {
        return b.ln() + LN_ABS_STANDARD_NORMAL;
    }
    let r = b / a_abs; // 1/|c|
    if r * C_MAX < 1.0 {
        return a_abs.ln() - small_noise(r);
    }
    b.ln() + g(a_abs / b)
}

/// `E ln|1 + δ + b·Z|`, `Z ~ N(0, 1)`, for a tiny rate: [`expected_ln_abs_affine`]
/// at `a = 1 + δ`, except that where the noise is small the `ln|a|` of its
/// series is `ln_1p(δ)`, so a tiny δ gives `≈ δ − b²/2`, not `−b²/2` alone
/// (`1 + δ` rounds to 1 at δ ≈ 1e-17), of the wrong sign for δ > 0.
pub fn expected_ln_abs_one_plus_affine(delta: f64, b: f64) -> f64 {
    let a = 1.0 + delta;
    let r = b.abs() / a;
    if a > 0.0 && r * C_MAX < 1.0 {
        ln_abs_1p(delta) - small_noise(r)
    } else {
        expected_ln_abs_affine(a, b)
    }
}

/// `−E ln|1 + rZ|` for `r < 1/C_MAX`, expanded in the even moments of Z.
fn small_noise(r: f64) -> f64 {
    let r2 = r * r;
    r2 * (0.5 + r2 * (0.75 + r2 * (2.5 + r2 * 13.125)))
}

/// `g(c) = E ln|c + Z|` for `0 ≤ c ≤ C_MAX`, interpolated from the table.
fn g(c: f64) -> f64 {
    let table = table();
    let u = c / STEP;
    // Truncation, not floor: the same index for every f64 (u ≥ 0 here, and
    // `as usize` takes NaN and every negative number to 0), without
    // libm's floor call, which the baseline x86-64 target has no
    // instruction for.
    let k = (u as usize).min(table.len() - 3);
    let t = u - k as f64;
    // Nodes k-1, k, k+1, k+2; g is even, so g(-STEP) = g(STEP).
    let at = |i: isize| table[i.unsigned_abs()];
    let k = k as isize;
    let (y0, y1, y2, y3) = (at(k - 1), at(k), at(k + 1), at(k + 2));
    // Cubic Lagrange through t = -1, 0, 1, 2.
    -t * (t - 1.0) * (t - 2.0) / 6.0 * y0 + (t + 1.0) * (t - 1.0) * (t - 2.0) / 2.0 * y1
        - (t + 1.0) * t * (t - 2.0) / 2.0 * y2
        + (t + 1.0) * t * (t - 1.0) / 6.0 * y3
}

fn table() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = (C_MAX / STEP).ceil() as usize + 4;
        let psi = digamma_half_integers(poisson_upper(C_MAX + 4.0 * STEP) + 1);
        (0..n).map(|k| g_series(k as f64 * STEP, &psi)).collect()
    })
}

/// `ψ(j + ½)` for `j = 0..n`.
fn digamma_half_integers(n: usize) -> Vec<f64> {
    let mut psi = Vec::with_capacity(n);
    let mut value = -EULER_GAMMA - 2.0 * std::f64::consts::LN_2;
    for j in 0..n {
        psi.push(value);
        value += 1.0 / (j as f64 + 0.5);
    }
    psi
}

/// Largest Poisson index the sum needs for noncentrality `c`.
fn poisson_upper(c: f64) -> usize {
    let mean = c * c / 2.0;
    (mean + 14.0 * mean.sqrt() + 30.0).ceil() as usize
}

/// `g(c)` by the Poisson-mixture series (normalised over the summed range).
fn g_series(c: f64, psi: &[f64]) -> f64 {
    let mean = c * c / 2.0;
    if mean == 0.0 {
        return 0.5 * (std::f64::consts::LN_2 + psi[0]);
    }
    let lo = (mean - 14.0 * mean.sqrt() - 30.0).max(0.0) as usize;
    let hi = poisson_upper(c).min(psi.len() - 1);
    let (mut weight_sum, mut sum) = (0.0, 0.0);
    for j in lo..=hi {
        let jf = j as f64;
        let w = (jf * mean.ln() - mean - libm::lgamma(jf + 1.0)).exp();
        weight_sum += w;
        sum += w * psi[j];
    }
    0.5 * (std::f64::consts::LN_2 + sum / weight_sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng};
    use rand::RngExt;
    use rand_distr::StandardNormal;

    #[test]
    fn ln_abs_of_standard_normal_matches_its_closed_form() {
        assert!((expected_ln_abs_affine(0.0, 1.0) - LN_ABS_STANDARD_NORMAL).abs() < 1e-15);
        // The series at c = 0 must agree with the closed form too.
        assert!((g(0.0) - LN_ABS_STANDARD_NORMAL).abs() < 1e-12);
    }

    #[test]
    fn table_and_asymptotic_series_agree_where_they_meet() {
        let (a, b) = (C_MAX * 1.0001, 1.0);
        let series = expected_ln_abs_affine(a, b);
        let table = b.ln() + g_series(a, &digamma_half_integers(2000));
        assert!((series - table).abs() < 1e-11, "{series} vs {table}");
    }

    #[test]
    fn interpolation_matches_series_between_nodes() {
        let psi = digamma_half_integers(2000);
        for c in [0.0013, 0.4321, 1.0007, 2.71828, 7.777, 19.9991, 29.99] {
            assert!((g(c) - g_series(c, &psi)).abs() < 1e-10, "c = {c}");
        }
    }

    #[test]
    fn one_plus_tiny_delta_keeps_delta() {
        // 1 + 1e-20 is 1: E ln|1 + δ + bZ| ≈ δ − b²/2 must keep δ.
        for (delta, b) in [(1e-20, 1e-20), (-3e-18, 2e-19), (5e-17, 0.0), (0.0, 1e-18)] {
            let want = delta - b * b / 2.0;
            let got = expected_ln_abs_one_plus_affine(delta, b);
            assert!(
                (got / want - 1.0).abs() < 1e-12,
                "δ={delta} b={b}: {got} vs {want}"
            );
        }
        // Ordinary δ: the same value as at a = 1 + δ, to rounding.
        for (delta, b) in [
            (0.3, 0.2),
            (-1.7, 0.5),
            (1e-6, 1e-3),
            (2e-9, 0.5),
            (-4.0, 1e-4),
        ] {
            let old = expected_ln_abs_affine(1.0 + delta, b);
            let new = expected_ln_abs_one_plus_affine(delta, b);
            assert!(
                (new - old).abs() < 1e-15 * old.abs().max(1.0),
                "δ={delta} b={b}"
            );
        }
    }

    #[test]
    fn expectation_matches_monte_carlo() {
        let mut r = rng(7, Stream::Expectation);
        let n = 2_000_000;
        for (a, b) in [(1.0, 0.3), (0.5, 2.0), (-2.0, 0.7), (3.0, 0.05)] {
            let samples = (0..n).map(|_| {
                let z: f64 = r.sample(StandardNormal);
                (a + b * z).abs().ln()
            });
            let mc = crate::Estimate::from_samples(samples);
            let exact = expected_ln_abs_affine(a, b);
            assert!(
                (mc.value - exact).abs() < 5.0 * mc.err,
                "a={a} b={b}: {exact} vs {mc:?}"
            );
        }
    }
}
