//! The named random streams of training; the seed rule is `rules::seed`.

pub use rules::seed::Rng;

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
    /// Which images of an image folder are held out for testing.
    FolderSplit = 20,
    /// The order an image folder's images are stored in.
    FolderOrder = 21,
}

pub fn rng(seed: u64, stream: Stream) -> Rng {
    rules::seed::stream(seed, stream as u64)
}

/// The stream of `(seed, stream)` at `index` (a step or an epoch): each index
/// gets its own generator, so a run resumed at step t draws what an
/// uninterrupted run draws there, with no generator state to save.
pub fn rng_at(seed: u64, stream: Stream, index: u64) -> Rng {
    rules::seed::stream_at(seed, stream as u64, index)
}
