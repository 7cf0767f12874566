//! The rules every probstab trainer and theory follows, each in one named
//! function: no burn here, so `train` (its burn loops and its hand-written
//! packs) and `analysis` (the landscape, the theory) share them exactly.

/// σ, σ′ and σ″ of the activations, generic over f32 and f64.
pub mod activation;
/// When a run has diverged, and what a run did (losses, the step it stopped).
pub mod outcome;
/// How a seed and a stream name become a random generator.
pub mod seed;

pub use activation::{Activation, Real};
pub use outcome::{Outcome, diverged};
