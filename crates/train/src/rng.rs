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
    /// Per-epoch permutations of an image training set.
    Shuffle = 15,
    /// Per-step random crops and flips.
    Augment = 16,
    /// Per-step dynamic label noise.
    DynamicNoise = 17,
    /// The labels that static label noise replaces, once.
    StaticNoise = 18,
    /// Which test images the penultimate-feature rank is measured on.
    RankSamples = 19,
}

pub fn rng(seed: u64, stream: Stream) -> Rng {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The stream of `(seed, stream)` at `index` (a step or an epoch): each index
/// gets its own generator, so a run resumed at step t draws what an
/// uninterrupted run draws there, with no generator state to save.
pub fn rng_at(seed: u64, stream: Stream, index: u64) -> Rng {
    let mut z = index.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Xoshiro256PlusPlus::seed_from_u64(
        seed.rotate_left(17) ^ z ^ (stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}
