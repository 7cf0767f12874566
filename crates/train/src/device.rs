//! Where a cell trains: the CPU (burn's `flex` backend, the default) or a GPU
//! through `wgpu`.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// burn's `flex` CPU backend (DESIGN.md §7: ~50× ndarray on convolutions).
    #[default]
    Cpu,
    /// burn's `wgpu` backend: Vulkan, Metal or DX12, whichever the machine has.
    Wgpu,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "backend `wgpu`: no GPU adapter found ({0}); install a Vulkan driver (Debian: mesa-vulkan-drivers libvulkan1) or run on the CPU with --backend cpu"
    )]
    NoAdapter(String),
}

/// The autodiff device for `backend`. The wgpu adapter is probed once per
/// process (`wgpu_options().init()` returns an error where a lazily created
/// `Device::wgpu` would panic with `AdapterUnavailable`), then shared.
pub fn device(backend: Backend) -> Result<Device, DeviceError> {
    static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        Backend::Wgpu => {
            let probed =
                WGPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string()));
            probed
                .clone()
                .map(|d| d.autodiff())
                .map_err(DeviceError::NoAdapter)
        }
    }
}
