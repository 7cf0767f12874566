//! A computed expectation together with its uncertainty.

use serde::Serialize;

/// A number with its standard error: 0 when computed exactly, a quadrature
/// error bound for numerical integration, the Monte Carlo standard error
/// (σ/√n) for a sampled estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub err: f64,
}

impl Estimate {
    pub fn exact(value: f64) -> Self {
        Self { value, err: 0.0 }
    }

    /// Mean and standard error of the mean of `samples` (non-finite samples
    /// propagate: a −∞ sample makes the mean −∞ and the error NaN).
    pub fn from_samples(samples: impl IntoIterator<Item = f64>) -> Self {
        let mut running = Running::default();
        samples.into_iter().for_each(|x| running.push(x));
        running.estimate()
    }
}

/// A running mean and variance (Welford's update: stable for long runs),
/// for samples too many to keep.
#[derive(Clone, Copy, Debug, Default)]
pub struct Running {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Running {
    pub fn push(&mut self, x: f64) {
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
    }

    /// Mean and standard error of the mean.
    pub fn estimate(&self) -> Estimate {
        if self.n == 0.0 {
            return Estimate {
                value: f64::NAN,
                err: f64::NAN,
            };
        }
        let var = if self.n > 1.0 {
            self.m2 / (self.n - 1.0)
        } else {
            f64::NAN
        };
        Estimate {
            value: self.mean,
            err: (var / self.n).sqrt(),
        }
    }
}

/// A learning rate is tiny for a law when every step `|c·x|` it takes (λ
/// times a curvature x², or times χ) is below this. Then `1 + c·x` keeps
/// few of the digits of `c·x`, and none once |c·x| ≤ ε/2 ≈ 1.1e-16: at
/// λ ≲ 1e-17 every `1 ± λx` of Eq. (7) and Prop. 2 rounds to 1, and m to 0
/// or to the sign of a rounding error. Tiny rates take the small-step forms
/// ([`ln_abs_1p`], the series of `BatchMeanLaw::expect_ln_abs_one_plus`).
/// Other rates keep the term-by-term `ln|1 + c·x|`, accurate enough there
/// (its error per term, ≈ ε absolute, is ≲ 1e-12 of a step ≥ 1e-4) and what
/// every earlier result was computed with: every rate of the shipped grids
/// gives the same bits as before.
pub const TINY_STEP: f64 = 1e-4;

/// `ln|1 + z|`, accurate at both ends: `ln_1p(z)` where `1 + z > 0` (≈ z
/// for a tiny z, which `1 + z` would round away), `ln|1 + z|` beyond.
pub fn ln_abs_1p(z: f64) -> f64 {
    if z > -1.0 {
        z.ln_1p()
    } else {
        (1.0 + z).abs().ln()
    }
}

/// `ln|y|` of `y = 1 + c·x`, with `−∞` where `y` vanishes up to rounding
/// (|y| ≤ 8 ulp of the larger term). This is how an exactly critical learning
/// rate, λ = 1/x_i² (Prop. 3), is recognised although `1 − (1/x²)·x²` need not
/// be exactly 0 in floating point. For rates that are not tiny
/// ([`TINY_STEP`]).
pub fn log_abs_one_plus(c: f64, x: f64) -> f64 {
    let cx = c * x;
    let y = 1.0 + cx;
    if y.abs() <= 8.0 * f64::EPSILON * cx.abs().max(1.0) {
        f64::NEG_INFINITY
    } else {
        y.abs().ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_samples_gives_mean_and_standard_error() {
        let e = Estimate::from_samples([1.0, 2.0, 3.0, 4.0]);
        assert!((e.value - 2.5).abs() < 1e-15);
        // sample variance 5/3, n = 4
        assert!((e.err - (5.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn exactly_critical_rate_gives_minus_infinity() {
        assert_eq!(log_abs_one_plus(-1.0 / 3.0, 3.0), f64::NEG_INFINITY);
        assert_eq!(log_abs_one_plus(-0.25, 4.0), f64::NEG_INFINITY);
        assert!(log_abs_one_plus(-0.25, 4.001).is_finite());
    }

    #[test]
    fn ln_abs_1p_keeps_tiny_terms_and_the_sign_of_one_plus_z() {
        // 1 − 1e-20 rounds to 1: ln(1 − 1e-20) computed as ln(1 + z) is 0.
        for z in [-1e-20, 1e-17, -3e-17, 1e-300, 2e-9] {
            assert!((ln_abs_1p(z) / z - 1.0).abs() < 1e-8, "z={z}");
        }
        assert_eq!((1.0 - 1e-20f64).ln(), 0.0);
        // Ordinary z: ln(1 + z) to rounding; z ≤ −1: ln|1 + z|.
        for z in [0.3f64, -0.7, 5.0, 1e6] {
            assert!((ln_abs_1p(z) / (1.0 + z).ln() - 1.0).abs() < 1e-14, "z={z}");
        }
        assert!((ln_abs_1p(-3.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(ln_abs_1p(-1.0), f64::NEG_INFINITY);
    }
}
