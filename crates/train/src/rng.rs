//! Seeded random streams (xoshiro256++: a fixed algorithm, so numbers do not
//! change with the `rand` version).

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

pub type Rng = Xoshiro256PlusPlus;

/// What a stream is used for; streams of one seed are independent.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Init = 11,
    TrainData = 12,
    Batches = 13,
    TestData = 14,
}

pub fn rng(seed: u64, stream: Stream) -> Rng {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
