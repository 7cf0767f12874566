//! DESIGN.md §5: divergence is a result, not a crash. The loss recorded at
//! step t is the minibatch loss before step t's update; a loss that is not
//! finite, or above `diverge_above`, stops the run before that update.

/// The divergence rule: `loss` is not finite, or above `bound`.
#[inline(always)]
pub fn diverged(loss: f32, bound: f64) -> bool {
    !loss.is_finite() || loss as f64 > bound
}

/// What a run did, as plain numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Minibatch loss at each step taken.
    pub losses: Vec<f32>,
    /// Step at which the loss became non-finite or exceeded the bound.
    pub diverged_at: Option<usize>,
}

impl Outcome {
    /// An empty outcome with room for `steps` losses (capped, so that a huge
    /// step count does not reserve memory up front).
    pub fn with_capacity(steps: usize) -> Self {
        Self {
            losses: Vec::with_capacity(steps.min(1 << 20)),
            diverged_at: None,
        }
    }

    /// Record the loss of `step`; true when the run stops there because it
    /// [`diverged`] (the update of that step is then not taken).
    #[inline(always)]
    pub fn record(&mut self, step: usize, loss: f32, diverge_above: f64) -> bool {
        self.losses.push(loss);
        let stop = diverged(loss, diverge_above);
        if stop {
            self.diverged_at = Some(step);
        }
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_stops_at_the_first_non_finite_or_too_large_loss() {
        assert!(!diverged(1.0, 10.0));
        assert!(!diverged(10.0, 10.0), "the bound itself is allowed");
        assert!(diverged(10.5, 10.0));
        assert!(diverged(f32::NAN, 10.0));
        assert!(diverged(f32::INFINITY, 1e300));
        let mut o = Outcome::with_capacity(4);
        assert!(!o.record(0, 1.0, 5.0));
        assert!(o.record(1, 6.0, 5.0));
        assert_eq!(o.losses, vec![1.0, 6.0]);
        assert_eq!(o.diverged_at, Some(1));
    }
}
