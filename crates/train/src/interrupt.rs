//! A request to stop training early, made once per process (probstab makes
//! it on SIGTERM, SIGINT and Slurm's time-limit signal). A loop that can
//! save its progress holds a [`Responsive`] while it runs and looks at
//! [`requested`] at every step boundary: it writes its checkpoint and returns
//! [`crate::TrainError::Interrupted`]. Loops that cannot save their progress
//! do not look: their process leaves them unfinished, and they run again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static RESPONSIVE: AtomicUsize = AtomicUsize::new(0);

/// Ask every responsive loop to stop at its next step boundary. Only an
/// atomic store: safe to call from a signal handler.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// How many responsive loops are running now: the process waits for them
/// (to write their checkpoints) before it exits.
pub fn responsive() -> usize {
    RESPONSIVE.load(Ordering::SeqCst)
}

/// Held by a loop that answers a request at its next step boundary.
pub struct Responsive(());

impl Responsive {
    pub fn enter() -> Self {
        RESPONSIVE.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for Responsive {
    fn drop(&mut self) {
        RESPONSIVE.fetch_sub(1, Ordering::SeqCst);
    }
}
