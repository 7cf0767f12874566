//! What a training loop tells the outside while it runs: where it starts,
//! each step's loss (with what else that step measured), and when what it
//! reported must be on disk. probstab's live trace and heartbeat listen;
//! [`Unwatched`] ignores it all.

use crate::checkpoint::Eval;

/// One step, as its loop reports it, after the loss and before the update.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepInfo<'a> {
    /// The step (0-based) whose minibatch loss this is.
    pub step: usize,
    /// The minibatch loss before the step's update.
    pub loss: f32,
    /// image_classifier: the fraction of the minibatch classified right.
    pub batch_accuracy: Option<f64>,
    /// image_classifier: the evaluation taken after `step` updates, if any.
    pub eval: Option<&'a Eval>,
    /// two_layer with a [`crate::two_layer::W2Probe`]: what it measured at
    /// this step.
    pub probe: Option<&'a [f64]>,
}

/// A listener to a training loop. Every method is called from the thread
/// that trains.
pub trait Watch: Send {
    /// Training starts at step `first` (0, or the step a checkpoint resumed
    /// from) of `steps`.
    fn start(&mut self, first: usize, steps: usize);
    /// A step computed its loss.
    fn step(&mut self, info: &StepInfo);
    /// What was reported so far must be on disk now (a checkpoint follows).
    fn sync(&mut self);
}

/// A [`Watch`] that ignores everything.
pub struct Unwatched;

impl Watch for Unwatched {
    fn start(&mut self, _: usize, _: usize) {}
    fn step(&mut self, _: &StepInfo) {}
    fn sync(&mut self) {}
}
