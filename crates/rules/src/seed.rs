//! Seeded random streams: a seed and the number of a stream (what the draws
//! are for) give a fixed-algorithm generator (xoshiro256++), so numbers do
//! not change with the `rand` version, and streams of one seed are
//! independent. `analysis::rng` and `train::rng` name their streams and call
//! these.

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

pub type Rng = Xoshiro256PlusPlus;

/// The generator of stream `stream` of `seed`.
pub fn stream(seed: u64, stream: u64) -> Rng {
    Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The generator of stream `stream` of `seed` at `index` (a step or an
/// epoch): each index gets its own generator, so a run resumed at step t
/// draws what an uninterrupted run draws there, with no state to save.
pub fn stream_at(seed: u64, stream: u64, index: u64) -> Rng {
    let mut z = index.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Rng::seed_from_u64(seed.rotate_left(17) ^ z ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_of_one_seed_differ_and_repeat() {
        let draw = |mut r: Rng| -> u64 { r.random() };
        assert_eq!(draw(stream(3, 11)), draw(stream(3, 11)));
        assert_ne!(draw(stream(3, 11)), draw(stream(3, 12)));
        assert_ne!(draw(stream(3, 11)), draw(stream(4, 11)));
        assert_eq!(draw(stream_at(3, 16, 7)), draw(stream_at(3, 16, 7)));
        assert_ne!(draw(stream_at(3, 16, 7)), draw(stream_at(3, 16, 8)));
    }
}
