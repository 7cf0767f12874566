//! Where a cell trains: the CPU (burn's `flex` backend, the default) or a GPU
//! through `wgpu`.

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuBackend;
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

/// The environment variable through which cubecl picks a wgpu adapter other
/// than its default (the most powerful GPU it finds).
pub const ADAPTER_VAR: &str = "CUBECL_WGPU_DEFAULT_DEVICE";

#[derive(Clone, Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "backend `wgpu`: no GPU adapter found (looked for {looked_for}; wgpu says: {error}); install a Vulkan driver (Debian: mesa-vulkan-drivers libvulkan1) or run on the CPU with --backend cpu"
    )]
    NoAdapter { looked_for: String, error: String },
}

/// The adapter the wgpu cells of this process run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// As the adapter names itself: `NVIDIA H100 PCIe`, `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// A software rasterizer on the CPU (lavapipe, llvmpipe, WARP), not a GPU.
    pub software: bool,
}

struct Probed {
    device: Device,
    adapter: Adapter,
}

/// The graphics APIs a wgpu cell may run on, in the order tried. Not OpenGL,
/// which wgpu falls back to where Vulkan has no driver: on Mesa's software
/// OpenGL, burn 0.22.1 trained a 4-wide two_layer cell ~10× slower than on
/// Mesa's software Vulkan and, on a busy machine, crashed in 1 run of 4 and
/// once hung for good in autotune (docs/gpu.md).
#[cfg(target_os = "macos")]
const GRAPHICS_APIS: &[(WgpuBackend, &str)] = &[(WgpuBackend::Metal, "Metal")];
#[cfg(windows)]
const GRAPHICS_APIS: &[(WgpuBackend, &str)] =
    &[(WgpuBackend::Vulkan, "Vulkan"), (WgpuBackend::Dx12, "DX12")];
#[cfg(not(any(target_os = "macos", windows)))]
const GRAPHICS_APIS: &[(WgpuBackend, &str)] = &[(WgpuBackend::Vulkan, "Vulkan")];

/// The wgpu adapter, probed once per process (`wgpu_options().init()` returns
/// an error where a lazily created `Device::wgpu` would panic with
/// `AdapterUnavailable`), then shared.
fn probed() -> Result<&'static Probed, DeviceError> {
    static WGPU: OnceLock<Result<Probed, DeviceError>> = OnceLock::new();
    WGPU.get_or_init(|| {
        let apis = GRAPHICS_APIS
            .iter()
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(" or ");
        let looked_for = match std::env::var(ADAPTER_VAR) {
            Ok(value) => format!(
                "{ADAPTER_VAR}={value} on {apis}; it takes DiscreteGpu(N), IntegratedGpu(N), VirtualGpu(N), Other(N) or Cpu, N counted from 0 per type"
            ),
            Err(_) => format!(
                "the most powerful GPU on {apis}, not OpenGL; {ADAPTER_VAR} picks another"
            ),
        };
        let mut errors = Vec::new();
        let device = GRAPHICS_APIS
            .iter()
            .find_map(|(api, name)| {
                Device::wgpu_options()
                    .graphics_api(*api)
                    .init()
                    .map_err(|e| errors.push(format!("{name}: {e}")))
                    .ok()
            })
            .ok_or_else(|| DeviceError::NoAdapter {
                looked_for,
                error: errors.join("; "),
            })?;
        let identity = device.identity();
        let adapter = Adapter {
            name: identity
                .as_ref()
                .map_or_else(|| "an unnamed wgpu adapter".into(), |i| i.name.clone()),
            // cubecl reports no physical card for a CPU-type adapter.
            software: identity.is_some_and(|i| i.physical.is_none()),
        };
        tracing::info!(adapter = %adapter.name, "backend wgpu");
        if adapter.software {
            tracing::warn!(
                "backend `wgpu` runs on `{}`, a software rasterizer on the CPU, not a GPU: cells train far slower than with --backend cpu. For a GPU, install its Vulkan driver (in an NVIDIA container, NVIDIA_DRIVER_CAPABILITIES must include `graphics`)",
                adapter.name
            );
        }
        Ok(Probed { device, adapter })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The autodiff device for `backend`.
pub fn device(backend: Backend) -> Result<Device, DeviceError> {
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        Backend::Wgpu => probed().map(|p| p.device.clone().autodiff()),
    }
}

/// The adapter `backend` trains on: `None` for the CPU, or where wgpu has none.
pub fn adapter(backend: Backend) -> Option<Adapter> {
    match backend {
        Backend::Cpu => None,
        Backend::Wgpu => probed().ok().map(|p| p.adapter.clone()),
    }
}
