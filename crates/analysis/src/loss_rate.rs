//! `m_L = E[ln L]` (Eq. 10) from a training trace: the mean of ln L over a
//! trailing window, `e^{m_L}` as a robust loss, and the Lyapunov-rate estimate,
//! the least-squares slope of ln L against the step (Eq. 12: |w_t − w*| ∝ e^m).

use serde::Serialize;

/// Default trailing window: the last 20 % of the recorded steps.
pub const DEFAULT_WINDOW: f64 = 0.2;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LossRate {
    /// Mean of ln L over the window (−∞ if L reached 0 there).
    pub m_l: f64,
    /// `e^{m_L}`: a loss estimate that outlier steps cannot dominate.
    pub robust_loss: f64,
    /// d ln L / d step by least squares over the window (NaN with < 2 points
    /// or a non-finite ln L in the window).
    pub slope: f64,
}

/// From `(step, ln L)` pairs in step order, over the last `window` fraction
/// of them (at least 1 point).
pub fn loss_rate(trace: &[(f64, f64)], window: f64) -> LossRate {
    if trace.is_empty() {
        return LossRate {
            m_l: f64::NAN,
            robust_loss: f64::NAN,
            slope: f64::NAN,
        };
    }
    let keep = ((trace.len() as f64 * window).ceil() as usize).clamp(1, trace.len());
    let tail = &trace[trace.len() - keep..];
    let n = tail.len() as f64;
    let m_l = tail.iter().map(|p| p.1).sum::<f64>() / n;
    LossRate {
        m_l,
        robust_loss: m_l.exp(),
        slope: least_squares_slope(tail),
    }
}

fn least_squares_slope(points: &[(f64, f64)]) -> f64 {
    if points.len() < 2 || points.iter().any(|p| !p.1.is_finite()) {
        return f64::NAN;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 { f64::NAN } else { sxy / sxx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_decay_gives_its_rate_and_mean_log() {
        // L_t = 3·e^{−0.02 t}: ln L = ln 3 − 0.02 t.
        let trace: Vec<(f64, f64)> = (0..=100)
            .map(|t| (t as f64, 3f64.ln() - 0.02 * t as f64))
            .collect();
        let r = loss_rate(&trace, 0.2);
        assert!((r.slope + 0.02).abs() < 1e-12);
        // Window: the last 21 points, t = 80..100, mean t = 90.
        assert!((r.m_l - (3f64.ln() - 0.02 * 90.0)).abs() < 1e-12);
        assert!((r.robust_loss - 3.0 * (-1.8f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn robust_loss_ignores_a_rare_spike() {
        // ln L = 0 except one spike of L = e^{20} in 100 steps.
        let trace: Vec<(f64, f64)> = (0..100)
            .map(|t| (t as f64, if t == 95 { 20.0 } else { 0.0 }))
            .collect();
        let r = loss_rate(&trace, 1.0);
        let mean_loss = trace.iter().map(|p| p.1.exp()).sum::<f64>() / 100.0;
        assert!(r.robust_loss < 1.25 && mean_loss > 1e6);
    }

    #[test]
    fn degenerate_traces_give_nan_slope() {
        assert!(loss_rate(&[(0.0, 1.0)], 0.2).slope.is_nan());
        assert!(loss_rate(&[], 0.2).m_l.is_nan());
    }
}
