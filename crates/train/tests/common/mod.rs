//! Shared by the train crate's integration tests.

use burn::tensor::Device;
use train::{Backend, device};

/// The wgpu autodiff device, or None (with a note naming `what` was skipped)
/// where this machine has no adapter, unless `PROBSTAB_REQUIRE_WGPU` (set by
/// `.ci/run`) makes that a failure.
pub fn wgpu_or_skip(what: &str) -> Option<Device> {
    match device(Backend::Wgpu) {
        Ok(device) => Some(device),
        Err(e) => {
            assert!(
                std::env::var("PROBSTAB_REQUIRE_WGPU").is_err(),
                "PROBSTAB_REQUIRE_WGPU is set but wgpu has no adapter: {e}"
            );
            eprintln!("note: {e}; {what} skipped");
            None
        }
    }
}
