//! Where a cell trains: the CPU (burn's `flex` backend, the default) or a GPU
//! through `wgpu`.

#[cfg(feature = "gpu")]
use crate::gpu_choice::{self, ChoiceError};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

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
/// than its default (the most powerful GPU it finds); it wins over Slurm's.
/// (Also `gpu_choice::OVERRIDE_VAR`, which is built with the `gpu` feature
/// only; a test checks the two agree.)
pub const ADAPTER_VAR: &str = "CUBECL_WGPU_DEFAULT_DEVICE";

#[derive(Clone, Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "backend `wgpu`: no GPU adapter found (looked for {looked_for}; wgpu says: {error}); install a Vulkan driver (Debian: mesa-vulkan-drivers libvulkan1) or run on the CPU with --backend cpu"
    )]
    NoAdapter { looked_for: String, error: String },
    /// Not a `#[source]`: the message already holds it, once.
    #[cfg(feature = "gpu")]
    #[error("backend `wgpu`: which GPU this task may use: {0}")]
    Gpu(ChoiceError),
    #[error(
        "backend `wgpu`: this probstab was built without the GPU backend (cargo's --no-default-features leaves out the `gpu` feature); build it with the default features, or run with --backend cpu"
    )]
    NotBuilt,
    #[error(
        "backend `wgpu`: {from} chose {name}, which wgpu reports as type `Other`; burn 0.22.1 selects no such adapter by number: set {ADAPTER_VAR}=Other(N)"
    )]
    Unselectable { from: String, name: String },
    #[error(
        "backend `wgpu`: {from} chose the adapter at {wanted}, but wgpu opened {name} at {got}; set {ADAPTER_VAR} to pick one by hand"
    )]
    Mismatch {
        from: String,
        name: String,
        wanted: String,
        got: String,
    },
}

/// The adapter the wgpu cells of this process run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// As a cell records it (`device`): the adapter as it names itself,
    /// `NVIDIA H100 PCIe`, `llvmpipe (LLVM 15.0.6, 256 bits)`; where Slurm's
    /// variables chose it, its bus id and the variable too:
    /// `NVIDIA H100 PCIe (0000:3b:00.0, chosen from CUDA_VISIBLE_DEVICES=2)`.
    pub name: String,
    /// A software rasterizer on the CPU (lavapipe, llvmpipe, WARP), not a GPU.
    pub software: bool,
}

/// The wgpu side: probing for an adapter (only in a build with the `gpu`
/// feature, the default).
#[cfg(feature = "gpu")]
mod wgpu_probe {
    use crate::device::{ADAPTER_VAR, Adapter, DeviceError};
    use crate::gpu_choice::{self, AdapterInfo, AdapterType, Choice};
    use burn::tensor::Device;
    use burn::tensor::DeviceKind;
    use burn::tensor::wgpu::{WgpuBackend, wgpu};
    use std::sync::OnceLock;

    pub(super) struct Probed {
        pub(super) device: Device,
        pub(super) adapter: Adapter,
    }

    /// The graphics APIs a wgpu cell may run on, in the order tried. Not OpenGL,
    /// which wgpu falls back to where Vulkan has no driver: on Mesa's software
    /// OpenGL, burn 0.22.1 trained a 4-wide two_layer cell ~10× slower than on
    /// Mesa's software Vulkan and, on a busy machine, crashed in 1 run of 4 and
    /// once hung for good in autotune (docs/gpu.md).
    #[cfg(target_os = "macos")]
    const GRAPHICS_APIS: &[(WgpuBackend, wgpu::Backend, &str)] =
        &[(WgpuBackend::Metal, wgpu::Backend::Metal, "Metal")];
    #[cfg(windows)]
    const GRAPHICS_APIS: &[(WgpuBackend, wgpu::Backend, &str)] = &[
        (WgpuBackend::Vulkan, wgpu::Backend::Vulkan, "Vulkan"),
        (WgpuBackend::Dx12, wgpu::Backend::Dx12, "DX12"),
    ];
    #[cfg(not(any(target_os = "macos", windows)))]
    const GRAPHICS_APIS: &[(WgpuBackend, wgpu::Backend, &str)] =
        &[(WgpuBackend::Vulkan, wgpu::Backend::Vulkan, "Vulkan")];

    /// The wgpu adapter, probed once per process (`wgpu_options().init()` returns
    /// an error where a lazily created `Device::wgpu` would panic with
    /// `AdapterUnavailable`), then shared.
    pub(super) fn probed() -> Result<&'static Probed, DeviceError> {
        static WGPU: OnceLock<Result<Probed, DeviceError>> = OnceLock::new();
        WGPU.get_or_init(probe).as_ref().map_err(Clone::clone)
    }

    fn probe() -> Result<Probed, DeviceError> {
        let env = |name: &str| std::env::var(name).ok();
        // Only a task that Slurm (or CUDA_VISIBLE_DEVICES) gives GPUs lists the
        // adapters and asks nvidia-smi; elsewhere cubecl picks, as it always did.
        let assigned = gpu_choice::wanted(&env);
        let table = if assigned {
            crate::node_gpus::node_gpus()
        } else {
            None
        };
        let apis = GRAPHICS_APIS
            .iter()
            .map(|(_, _, name)| *name)
            .collect::<Vec<_>>()
            .join(" or ");
        let looked_for = match std::env::var(ADAPTER_VAR) {
            Ok(value) => format!(
                "{ADAPTER_VAR}={value} on {apis}; it takes DiscreteGpu(N), IntegratedGpu(N), VirtualGpu(N), Other(N) or Cpu, N counted from 0 per type"
            ),
            Err(_) => {
                format!("the most powerful GPU on {apis}, not OpenGL; {ADAPTER_VAR} picks another")
            }
        };
        let mut errors = Vec::new();
        for (api, wgpu_api, name) in GRAPHICS_APIS {
            let adapters = if assigned {
                list_adapters(*wgpu_api)
            } else {
                Vec::new()
            };
            let mut options = Device::wgpu_options().graphics_api(*api);
            let chosen = match gpu_choice::choose(&env, table.as_deref(), &adapters)
                .map_err(DeviceError::Gpu)?
            {
                Choice::Default { why } => {
                    match why {
                        Some(why) if env(ADAPTER_VAR).is_some() => {
                            tracing::info!("backend wgpu: {why}")
                        }
                        Some(why) => tracing::warn!("backend wgpu: {why}"),
                        None => {}
                    }
                    None
                }
                Choice::Adapter(chosen) => {
                    let kind = match gpu_choice::nth_of_its_type(&adapters, chosen.index) {
                        (AdapterType::DiscreteGpu, n) => DeviceKind::DiscreteGpu(n),
                        (AdapterType::IntegratedGpu, n) => DeviceKind::IntegratedGpu(n),
                        (AdapterType::VirtualGpu, n) => DeviceKind::VirtualGpu(n),
                        (AdapterType::Cpu, _) => DeviceKind::Cpu,
                        (AdapterType::Other, _) => {
                            return Err(DeviceError::Unselectable {
                                from: chosen.from,
                                name: adapters[chosen.index].name.clone(),
                            });
                        }
                    };
                    options = options.device_kind(kind);
                    Some(chosen)
                }
            };
            let device = match options.init() {
                Ok(device) => device,
                Err(e) => {
                    errors.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let identity = device.identity();
            let own_name = identity
                .as_ref()
                .map_or_else(|| "an unnamed wgpu adapter".into(), |i| i.name.clone());
            let label = match &chosen {
                None => own_name,
                Some(chosen) => {
                    let wanted = &adapters[chosen.index];
                    let got = identity
                        .as_ref()
                        .and_then(|i| i.physical.as_ref())
                        .and_then(|p| p.pci_address);
                    if let (Some(wanted), Some(got)) = (wanted.bus_id, got)
                        && wanted != got
                    {
                        return Err(DeviceError::Mismatch {
                            from: chosen.from.clone(),
                            name: own_name,
                            wanted: wanted.to_string(),
                            got: got.to_string(),
                        });
                    }
                    tracing::info!("backend wgpu: {}", chosen.why);
                    if let Some(warning) = &chosen.warning {
                        tracing::warn!("{warning}");
                    }
                    chosen.label(&AdapterInfo {
                        name: own_name,
                        ..wanted.clone()
                    })
                }
            };
            let adapter = Adapter {
                name: label,
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
            return Ok(Probed { device, adapter });
        }
        Err(DeviceError::NoAdapter {
            looked_for,
            error: errors.join("; "),
        })
    }

    /// The adapters `api` lists, in the order cubecl counts them for
    /// `DiscreteGpu(N)` (`Instance::enumerate_adapters`, as in cubecl-wgpu
    /// 0.11.3's `select_from_adapter_list`). Opens no device.
    fn list_adapters(api: wgpu::Backend) -> Vec<AdapterInfo> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: api.into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        block_on(instance.enumerate_adapters(api.into()))
            .iter()
            .map(|adapter| {
                let info = adapter.get_info();
                AdapterInfo {
                    kind: match info.device_type {
                        wgpu::DeviceType::DiscreteGpu => AdapterType::DiscreteGpu,
                        wgpu::DeviceType::IntegratedGpu => AdapterType::IntegratedGpu,
                        wgpu::DeviceType::VirtualGpu => AdapterType::VirtualGpu,
                        wgpu::DeviceType::Cpu => AdapterType::Cpu,
                        wgpu::DeviceType::Other => AdapterType::Other,
                    },
                    vendor: info.vendor,
                    device: info.device,
                    // Empty where the driver lacks VK_EXT_pci_bus_info.
                    bus_id: info.device_pci_bus_id.parse().ok(),
                    name: info.name,
                }
            })
            .collect()
    }

    /// Runs a future that native wgpu hands back already complete.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
            std::thread::yield_now();
        }
    }
}

/// How many GPUs Slurm (or `CUDA_VISIBLE_DEVICES`) gives this task; None
/// where no variable says (`gpu_choice::GPU_VARS`).
pub fn visible_gpus() -> Option<usize> {
    #[cfg(feature = "gpu")]
    return gpu_choice::visible_gpus(&|name| std::env::var(name).ok());
    #[cfg(not(feature = "gpu"))]
    None
}

/// The autodiff device for `backend`.
pub fn device(backend: Backend) -> Result<Device, DeviceError> {
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        #[cfg(feature = "gpu")]
        Backend::Wgpu => wgpu_probe::probed().map(|p| p.device.clone().autodiff()),
        #[cfg(not(feature = "gpu"))]
        Backend::Wgpu => Err(DeviceError::NotBuilt),
    }
}

/// The adapter `backend` trains on: `None` for the CPU, or where wgpu has none.
pub fn adapter(backend: Backend) -> Option<Adapter> {
    match backend {
        Backend::Cpu => None,
        #[cfg(feature = "gpu")]
        Backend::Wgpu => wgpu_probe::probed().ok().map(|p| p.adapter.clone()),
        #[cfg(not(feature = "gpu"))]
        Backend::Wgpu => None,
    }
}

#[cfg(all(test, feature = "gpu"))]
mod tests {
    #[test]
    fn the_adapter_variable_is_the_one_gpu_choice_reads() {
        assert_eq!(crate::device::ADAPTER_VAR, crate::gpu_choice::OVERRIDE_VAR);
    }
}
