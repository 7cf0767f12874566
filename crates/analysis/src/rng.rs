//! Seeded random streams. Every random draw in probstab's theory and
//! simulations comes from here, so the same seed gives the same numbers.

use rand::rngs::Xoshiro256PlusPlus;

/// What a stream is used for; distinct streams of one seed are independent.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Synthetic datasets (the regression outlier set, the teacher's points).
    Dataset = 1,
    /// Monte Carlo estimates of expectations.
    Expectation = 2,
    /// Simulated SGD trajectories.
    Trajectories = 3,
    /// The initial frame of a Lyapunov-spectrum estimate.
    Frame = 4,
}

/// A fixed-algorithm generator (xoshiro256++), so results do not change with
/// the `rand` version.
pub fn rng(seed: u64, stream: Stream) -> Xoshiro256PlusPlus {
    rules::seed::stream(seed, stream as u64)
}
