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

/// z of a two-sided 95% normal interval.
pub const Z95: f64 = 1.959963984540054;

/// The Wilson score interval of a binomial proportion: `successes` of
/// `trials` (counts, possibly pooled over cells), at normal quantile `z`
/// (1.96 for 95%). Unlike mean ± z·se it stays inside [0, 1] and is not
/// empty at 0 or 1 successes. None for no trials.
pub fn wilson_interval(successes: f64, trials: f64, z: f64) -> Option<(f64, f64)> {
    if !(trials > 0.0 && (0.0..=trials).contains(&successes)) {
        return None;
    }
    let p = successes / trials;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * trials)) / (1.0 + z2 / trials);
    let half =
        z / (1.0 + z2 / trials) * (p * (1.0 - p) / trials + z2 / (4.0 * trials * trials)).sqrt();
    // At 0 or all successes the bound is 0 or 1 exactly (not 1 − ε).
    let lo = if successes == 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if successes == trials {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some((lo, hi))
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
    fn wilson_interval_covers_the_true_proportion_95_percent_of_the_time() {
        use rand::RngExt;
        // Seeded binomial draws: at each (p, n) the interval must hold p in
        // about 95% of 4000 repetitions (Wilson's coverage is close to
        // nominal for n ≥ 20; the band allows for its known wiggle and for
        // the Monte Carlo error, ±0.7%).
        let mut rng = crate::rng::rng(7, crate::rng::Stream::Expectation);
        for (p, n) in [(0.5, 20), (0.2, 50), (0.05, 200), (0.9, 40)] {
            let reps = 4000;
            let covered = (0..reps)
                .filter(|_| {
                    let k = (0..n).filter(|_| rng.random::<f64>() < p).count() as f64;
                    let (lo, hi) = wilson_interval(k, n as f64, Z95).unwrap();
                    lo <= p && p <= hi
                })
                .count() as f64
                / reps as f64;
            assert!(
                (0.92..=0.98).contains(&covered),
                "p = {p}, n = {n}: coverage {covered}"
            );
        }
        // Closed values: 0 of 10 and 10 of 10 keep a non-empty interval
        // inside [0, 1]; 5 of 10 is symmetric about ½.
        let (lo, hi) = wilson_interval(0.0, 10.0, Z95).unwrap();
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson_interval(10.0, 10.0, Z95).unwrap();
        assert!((lo - 0.7225).abs() < 1e-3 && hi == 1.0, "{lo} {hi}");
        let (lo, hi) = wilson_interval(5.0, 10.0, Z95).unwrap();
        assert!((lo + hi - 1.0).abs() < 1e-12 && (lo - 0.2366).abs() < 1e-3);
        assert_eq!(wilson_interval(1.0, 0.0, Z95), None);
        assert_eq!(wilson_interval(3.0, 2.0, Z95), None);
    }

    #[test]
    fn standard_error_matches_the_spread_of_simulated_means() {
        use rand_distr::{Distribution, Normal};
        // The standard error of 5 seeds' mean, averaged over many seeded
        // repetitions, is the spread of those means (σ/√5 = 0.894 for σ = 2).
        let mut rng = crate::rng::rng(11, crate::rng::Stream::Expectation);
        let normal = Normal::new(3.0, 2.0).unwrap();
        let reps = 20000;
        let (mut means, mut se2) = (Vec::with_capacity(reps), 0.0);
        for _ in 0..reps {
            let e = Estimate::from_samples((0..5).map(|_| normal.sample(&mut rng)));
            means.push(e.value);
            se2 += e.err * e.err / reps as f64;
        }
        let spread = Estimate::from_samples(means.iter().copied()).err * (reps as f64).sqrt();
        assert!(
            (se2.sqrt() - spread).abs() < 0.02,
            "{} vs {spread}",
            se2.sqrt()
        );
        assert!((spread - 2.0 / 5f64.sqrt()).abs() < 0.02, "{spread}");
    }

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
