//! Which GPU a task trains on. Slurm names a task's GPUs in
//! `CUDA_VISIBLE_DEVICES` (CUDA's numbering, or GPU UUIDs); wgpu lists the
//! Vulkan adapters in an order of its own. The two meet at the PCI bus id:
//! nvidia-smi gives it for every CUDA index and UUID, Vulkan for every
//! adapter. docs/gpu.md, "Which GPU a Slurm task uses", states the rules and
//! what they assume of Slurm's device constraint.

use crate::node_gpus::NodeGpu;
use burn::tensor::PciAddress;

/// The variables that name this task's GPUs, read in this order; the first
/// one set is used. Slurm sets `CUDA_VISIBLE_DEVICES` and
/// `GPU_DEVICE_ORDINAL` to the same list, numbered as the task sees the GPUs
/// (from 0 under the device constraint); `SLURM_STEP_GPUS` and
/// `SLURM_JOB_GPUS` number them as the node does.
pub const GPU_VARS: [&str; 4] = [
    "CUDA_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
    "SLURM_STEP_GPUS",
    "SLURM_JOB_GPUS",
];

/// The task's rank on its node; it picks one of several GPUs a step shares.
pub const LOCAL_ID_VAR: &str = "SLURM_LOCALID";

/// cubecl's own adapter override (`DiscreteGpu(1)`); set, it wins over Slurm.
pub const OVERRIDE_VAR: &str = "CUBECL_WGPU_DEFAULT_DEVICE";

/// What wgpu calls an adapter (`wgpu::DeviceType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterType {
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    /// A software rasterizer (lavapipe, llvmpipe, WARP): no GPU.
    Cpu,
    Other,
}

/// A wgpu adapter, as it reports itself (`wgpu::AdapterInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterInfo {
    pub name: String,
    pub kind: AdapterType,
    /// PCI vendor id (0x10de NVIDIA).
    pub vendor: u32,
    /// PCI device id.
    pub device: u32,
    /// Vulkan's `VK_EXT_pci_bus_info`; None where the driver has none (lavapipe).
    pub bus_id: Option<PciAddress>,
}

/// The adapter this task uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// cubecl's own pick: the most powerful GPU, or `CUBECL_WGPU_DEFAULT_DEVICE`'s.
    /// `why` is None where no variable names a GPU (as before this module).
    Default {
        why: Option<String>,
    },
    Adapter(Chosen),
}

/// An adapter picked for the GPU Slurm gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// Into the adapter list given to [`choose`].
    pub index: usize,
    /// The variables that chose it: `CUDA_VISIBLE_DEVICES=2`, with
    /// `, SLURM_LOCALID=1` where that picked among several.
    pub from: String,
    /// One sentence: the GPU the variables name and how it was found.
    pub why: String,
    /// Set where the adapter was matched by CUDA's index order, not by bus id.
    pub warning: Option<String>,
}

impl Chosen {
    /// As a cell records its device: `NVIDIA H100 PCIe (0000:3b:00.0, chosen
    /// from CUDA_VISIBLE_DEVICES=2)`.
    pub fn label(&self, adapter: &AdapterInfo) -> String {
        match adapter.bus_id {
            Some(bus) => format!("{} ({bus}, chosen from {})", adapter.name, self.from),
            None => format!("{} (chosen from {})", adapter.name, self.from),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error("{var}={value:?}: {reason}")]
    Malformed {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "{var}={value:?} gives this task no GPU: ask Slurm for one (--gpus 1) or run on the CPU with --backend cpu"
    )]
    NoGpu { var: &'static str, value: String },
    #[error(
        "{var}={value}: {id} is a MIG instance, which runs CUDA only; Vulkan, and so wgpu, cannot use it: ask Slurm for a whole GPU"
    )]
    Mig {
        var: &'static str,
        value: String,
        id: String,
    },
    #[error("{var}={value}: {uuid} is {found}")]
    Uuid {
        var: &'static str,
        value: String,
        uuid: String,
        found: String,
    },
    #[error(
        "{from} names the GPU at {bus}, but no wgpu adapter is there (adapters: {adapters}); set {OVERRIDE_VAR} to pick one by hand"
    )]
    NoAdapterThere {
        from: String,
        bus: PciAddress,
        adapters: String,
    },
    #[error(
        "{from}: cannot tell which wgpu adapter that is ({reason}; adapters: {adapters}); set {OVERRIDE_VAR} to pick one by hand"
    )]
    Unmapped {
        from: String,
        reason: String,
        adapters: String,
    },
}

/// How `CUDA_VISIBLE_DEVICES` (or its peers) names one GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Index(usize),
    /// `GPU-…`, lower case; CUDA also takes a prefix.
    Uuid(String),
    Mig(String),
}

/// The GPUs the environment gives this task.
struct Assignment {
    var: &'static str,
    value: String,
    entries: Vec<Entry>,
}

/// The first of [`GPU_VARS`] that is set, parsed; None where none is.
fn assignment(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Assignment>, ChoiceError> {
    let Some((name, value)) = GPU_VARS
        .iter()
        .find_map(|name| var(name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    let trimmed = value.trim();
    // Slurm writes `NoDevFiles` for a GRES without device files; CUDA reads
    // `-1` and an empty list as no device.
    if trimmed.is_empty() || trimmed == "NoDevFiles" || trimmed == "-1" {
        return Err(ChoiceError::NoGpu { var: name, value });
    }
    let entries = trimmed
        .split(',')
        .map(|token| parse_entry(token.trim()))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|reason| ChoiceError::Malformed {
            var: name,
            value: value.clone(),
            reason,
        })?;
    Ok(Some(Assignment {
        var: name,
        value,
        entries,
    }))
}

fn parse_entry(token: &str) -> Result<Entry, String> {
    if token.starts_with("MIG-") {
        Ok(Entry::Mig(token.to_string()))
    } else if token.len() > 4
        && token
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("GPU-"))
    {
        Ok(Entry::Uuid(token.to_ascii_lowercase()))
    } else if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
        token
            .parse()
            .map(Entry::Index)
            .map_err(|_| format!("`{token}` is too large for a GPU index"))
    } else {
        Err(format!(
            "`{token}` is neither a GPU index, a GPU UUID (GPU-…) nor a MIG id (MIG-…)"
        ))
    }
}

/// Whether a variable names this task's GPUs and `CUBECL_WGPU_DEFAULT_DEVICE`
/// does not override them: only then is there anything to choose.
pub fn wanted(var: &dyn Fn(&str) -> Option<String>) -> bool {
    var(OVERRIDE_VAR).is_none() && GPU_VARS.iter().any(|name| var(name).is_some())
}

/// How many GPUs the environment gives this task: the length of the first
/// of [`GPU_VARS`] that is set. None where none is set or it does not parse.
pub fn visible_gpus(var: &dyn Fn(&str) -> Option<String>) -> Option<usize> {
    assignment(var).ok().flatten().map(|a| a.entries.len())
}

/// The adapter this task uses among `adapters` (in wgpu's order), given the
/// environment (`var`) and, where nvidia-smi answered, the node's GPUs.
///
/// 1. `CUBECL_WGPU_DEFAULT_DEVICE` set, or none of [`GPU_VARS`] set: cubecl's
///    own pick, as before.
/// 2. The task's GPU is entry `SLURM_LOCALID mod n` of the n the variable lists.
/// 3. An index or UUID that the node table puts at a PCI bus id, where an
///    adapter reports that bus id: that adapter.
/// 4. As many GPU adapters as the variable lists GPUs: the device constraint
///    hides the rest, so the GPU is the adapter at the same position, adapters
///    in bus order (CUDA's with `CUDA_DEVICE_ORDER=PCI_BUS_ID`).
/// 5. Otherwise an index is taken as a position among the GPU adapters in bus
///    order, with a warning: it is right only where CUDA and Slurm number the
///    GPUs in bus order.
pub fn choose(
    var: &dyn Fn(&str) -> Option<String>,
    table: Option<&[NodeGpu]>,
    adapters: &[AdapterInfo],
) -> Result<Choice, ChoiceError> {
    let assigned = assignment(var);
    if let Some(value) = var(OVERRIDE_VAR) {
        let why = match assigned {
            Ok(Some(a)) => Some(format!(
                "{OVERRIDE_VAR}={value} picks the adapter; {}={} is not used",
                a.var, a.value
            )),
            _ => None,
        };
        return Ok(Choice::Default { why });
    }
    let Some(assigned) = assigned? else {
        return Ok(Choice::Default { why: None });
    };
    let n = assigned.entries.len();
    let local_id = match var(LOCAL_ID_VAR) {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ChoiceError::Malformed {
                var: LOCAL_ID_VAR,
                value: v.clone(),
                reason: "not a task rank (0, 1, …)".into(),
            })?,
    };
    let position = local_id % n;
    let entry = &assigned.entries[position];
    let from = if n > 1 {
        format!(
            "{}={}, {LOCAL_ID_VAR}={local_id}",
            assigned.var, assigned.value
        )
    } else {
        format!("{}={}", assigned.var, assigned.value)
    };
    let entry_text = match entry {
        Entry::Index(i) => format!("GPU {i}"),
        Entry::Uuid(u) => u.clone(),
        Entry::Mig(id) => {
            return Err(ChoiceError::Mig {
                var: assigned.var,
                value: assigned.value.clone(),
                id: id.clone(),
            });
        }
    };

    // GPU adapters, in bus order where every one reports its bus id.
    let mut gpus: Vec<usize> = (0..adapters.len())
        .filter(|&i| adapters[i].kind != AdapterType::Cpu)
        .collect();
    if gpus.is_empty() {
        return Ok(Choice::Default {
            why: Some(format!(
                "{from} names {entry_text}, but Vulkan shows no GPU adapter, only {}: the GPU's Vulkan driver is missing",
                match adapters.len() {
                    0 => "none at all".to_string(),
                    n => list(adapters, &(0..n).collect::<Vec<_>>()),
                }
            )),
        });
    }
    let all_have_bus = gpus.iter().all(|&i| adapters[i].bus_id.is_some());
    if all_have_bus {
        gpus.sort_by_key(|&i| adapters[i].bus_id);
    }

    let bus = resolve(entry, table, &assigned)?;
    if let Some(bus) = bus {
        if let Some(&index) = gpus.iter().find(|&&i| adapters[i].bus_id == Some(bus)) {
            let found = match entry {
                Entry::Index(_) => "nvidia-smi puts",
                _ => "the NVIDIA driver puts",
            };
            return Ok(Choice::Adapter(Chosen {
                index,
                why: format!(
                    "{from} names {entry_text}, which {found} at {bus}, where Vulkan shows {}",
                    adapters[index].name
                ),
                from,
                warning: None,
            }));
        }
        if gpus.iter().any(|&i| adapters[i].bus_id.is_some()) {
            return Err(ChoiceError::NoAdapterThere {
                from,
                bus,
                adapters: list(adapters, &gpus),
            });
        }
    }
    if gpus.len() == n {
        let index = gpus[position];
        let why = if n == 1 {
            format!(
                "{from} names one GPU and Vulkan shows one, {}: Slurm's device constraint hides the others",
                adapters[index].name
            )
        } else {
            format!(
                "{from} names {n} GPUs and Vulkan shows {n}: Slurm's device constraint hides the others, and this task takes number {position} of them in bus order"
            )
        };
        return Ok(Choice::Adapter(Chosen {
            index,
            from,
            why,
            warning: None,
        }));
    }
    let reason = if table.is_none() {
        "nvidia-smi gives no bus ids"
    } else if !all_have_bus {
        "the Vulkan driver gives no bus ids"
    } else {
        "nvidia-smi does not list it"
    };
    match entry {
        Entry::Index(i) if *i < gpus.len() => {
            let index = gpus[*i];
            let order = if all_have_bus { "bus" } else { "Vulkan's" };
            Ok(Choice::Adapter(Chosen {
                index,
                why: format!(
                    "{from} names GPU {i}, taken as GPU adapter {i} in {order} order, {}",
                    adapters[index].name
                ),
                warning: Some(format!(
                    "{from}: matched by index, not by PCI bus id ({reason}): this is the GPU Slurm gave only where CUDA numbers the GPUs in bus order (CUDA_DEVICE_ORDER=PCI_BUS_ID); another job's GPU otherwise"
                )),
                from,
            }))
        }
        _ => Err(ChoiceError::Unmapped {
            from,
            reason: format!(
                "{reason}, and {} GPU adapters are visible for {n} GPUs given",
                gpus.len()
            ),
            adapters: list(adapters, &gpus),
        }),
    }
}

/// The PCI bus id the node table gives `entry`; None where it cannot say.
fn resolve(
    entry: &Entry,
    table: Option<&[NodeGpu]>,
    assigned: &Assignment,
) -> Result<Option<PciAddress>, ChoiceError> {
    let Some(table) = table else {
        return Ok(None);
    };
    match entry {
        Entry::Index(i) => Ok(table.iter().find(|g| g.index == Some(*i)).map(|g| g.bus_id)),
        Entry::Uuid(uuid) => {
            let matches: Vec<&NodeGpu> =
                table.iter().filter(|g| g.uuid.starts_with(uuid)).collect();
            match matches.as_slice() {
                [one] => Ok(Some(one.bus_id)),
                found => Err(ChoiceError::Uuid {
                    var: assigned.var,
                    value: assigned.value.clone(),
                    uuid: uuid.clone(),
                    found: if found.is_empty() {
                        format!(
                            "no GPU of this node (it has {})",
                            table
                                .iter()
                                .map(|g| g.uuid.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    } else {
                        format!("the start of {} GPUs' UUIDs", found.len())
                    },
                }),
            }
        }
        Entry::Mig(_) => Ok(None),
    }
}

fn list(adapters: &[AdapterInfo], which: &[usize]) -> String {
    which
        .iter()
        .map(|&i| match adapters[i].bus_id {
            Some(bus) => format!("{} at {bus}", adapters[i].name),
            None => adapters[i].name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The type of adapter `index` and its rank among the adapters of that type,
/// as cubecl counts them for `DiscreteGpu(N)` and its kin.
pub fn nth_of_its_type(adapters: &[AdapterInfo], index: usize) -> (AdapterType, usize) {
    let kind = adapters[index].kind;
    let nth = adapters[..index].iter().filter(|a| a.kind == kind).count();
    (kind, nth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_gpus::parse_nvidia_smi;
    use std::collections::HashMap;

    fn env(entries: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn bus(text: &str) -> PciAddress {
        text.parse().unwrap()
    }

    fn h100(at: &str) -> AdapterInfo {
        AdapterInfo {
            name: "NVIDIA H100 PCIe".into(),
            kind: AdapterType::DiscreteGpu,
            vendor: 0x10de,
            device: 0x2331,
            bus_id: Some(bus(at)),
        }
    }

    fn lavapipe() -> AdapterInfo {
        AdapterInfo {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            kind: AdapterType::Cpu,
            vendor: 0x10005,
            device: 0,
            bus_id: None,
        }
    }

    /// A 4-GPU node as nvidia-smi prints it (CUDA order = bus order).
    const SMI: &str = "\
0, 00000000:18:00.0, GPU-aaaaaaaa-0000-0000-0000-000000000000
1, 00000000:3B:00.0, GPU-bbbbbbbb-0000-0000-0000-000000000000
2, 00000000:86:00.0, GPU-cccccccc-0000-0000-0000-000000000000
3, 00000000:AF:00.0, GPU-dddddddd-0000-0000-0000-000000000000
";

    /// The same node as Vulkan lists it: another order, and lavapipe.
    fn vulkan_4() -> Vec<AdapterInfo> {
        vec![
            h100("0000:af:00.0"),
            h100("0000:3b:00.0"),
            lavapipe(),
            h100("0000:86:00.0"),
            h100("0000:18:00.0"),
        ]
    }

    fn chosen(choice: Result<Choice, ChoiceError>) -> Chosen {
        match choice {
            Ok(Choice::Adapter(c)) => c,
            other => panic!("expected an adapter, got {other:?}"),
        }
    }

    #[test]
    fn without_slurm_or_cuda_variables_cubecl_picks_as_before() {
        let table = parse_nvidia_smi(SMI).unwrap();
        let var = env(&[("SLURM_JOB_ID", "17"), ("HOME", "/root")]);
        assert!(!wanted(&var));
        assert_eq!(
            choose(&var, Some(&table), &vulkan_4()),
            Ok(Choice::Default { why: None })
        );
        assert_eq!(
            choose(&var, None, &[lavapipe()]),
            Ok(Choice::Default { why: None })
        );
        assert_eq!(visible_gpus(&var), None);
    }

    #[test]
    fn a_constrained_node_shows_only_the_gpu_slurm_gave() {
        // ConstrainDevices=yes: the task sees one GPU, numbered 0, and
        // nvidia-smi inside the cgroup lists only that one.
        let var = env(&[
            ("CUDA_VISIBLE_DEVICES", "0"),
            ("SLURM_JOB_GPUS", "5"),
            ("SLURM_LOCALID", "0"),
        ]);
        let adapters = [lavapipe(), h100("0000:ad:00.0")];
        let c = chosen(choose(&var, None, &adapters));
        assert_eq!(c.index, 1);
        assert_eq!(c.warning, None);
        assert!(c.why.contains("device constraint"), "{}", c.why);
        assert_eq!(
            c.label(&adapters[1]),
            "NVIDIA H100 PCIe (0000:ad:00.0, chosen from CUDA_VISIBLE_DEVICES=0)"
        );
        let table = parse_nvidia_smi("0, 00000000:AD:00.0, GPU-eeee\n").unwrap();
        let c = chosen(choose(&var, Some(&table), &adapters));
        assert_eq!(c.index, 1);
        assert!(c.why.contains("0000:ad:00.0"), "{}", c.why);
    }

    #[test]
    fn cuda_index_2_is_found_by_bus_id_where_vulkan_orders_the_gpus_otherwise() {
        let table = parse_nvidia_smi(SMI).unwrap();
        let var = env(&[("CUDA_VISIBLE_DEVICES", "2"), ("SLURM_STEP_GPUS", "2")]);
        let adapters = vulkan_4();
        let c = chosen(choose(&var, Some(&table), &adapters));
        assert_eq!(c.index, 3, "Vulkan's 4th adapter sits at 0000:86:00.0");
        assert_eq!(c.warning, None);
        assert_eq!(
            c.label(&adapters[c.index]),
            "NVIDIA H100 PCIe (0000:86:00.0, chosen from CUDA_VISIBLE_DEVICES=2)"
        );
        assert_eq!(
            c.why,
            "CUDA_VISIBLE_DEVICES=2 names GPU 2, which nvidia-smi puts at 0000:86:00.0, where Vulkan shows NVIDIA H100 PCIe"
        );
        assert_eq!(
            nth_of_its_type(&adapters, c.index),
            (AdapterType::DiscreteGpu, 2)
        );
    }

    #[test]
    fn a_gpu_uuid_or_its_start_is_looked_up_in_the_node_table() {
        let table = parse_nvidia_smi(SMI).unwrap();
        let adapters = vulkan_4();
        for uuid in ["GPU-dddddddd-0000-0000-0000-000000000000", "GPU-DDDDDDDD"] {
            let var = env(&[("CUDA_VISIBLE_DEVICES", uuid)]);
            let c = chosen(choose(&var, Some(&table), &adapters));
            assert_eq!(
                adapters[c.index].bus_id,
                Some(bus("0000:af:00.0")),
                "{uuid}"
            );
        }
    }

    #[test]
    fn a_uuid_the_node_does_not_have_is_an_error_naming_the_variable() {
        let table = parse_nvidia_smi(SMI).unwrap();
        let var = env(&[("CUDA_VISIBLE_DEVICES", "GPU-ffffffff")]);
        let e = choose(&var, Some(&table), &vulkan_4()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(
                "CUDA_VISIBLE_DEVICES=GPU-ffffffff: gpu-ffffffff is no GPU of this node"
            ),
            "{text}"
        );
        let var = env(&[("CUDA_VISIBLE_DEVICES", "GPU-")]);
        assert!(matches!(
            choose(&var, Some(&table), &vulkan_4()),
            Err(ChoiceError::Malformed {
                var: "CUDA_VISIBLE_DEVICES",
                ..
            })
        ));
    }

    #[test]
    fn slurm_localid_picks_one_of_the_gpus_a_step_shares() {
        let table = parse_nvidia_smi(SMI).unwrap();
        let adapters = vulkan_4();
        for (local_id, expected) in [
            ("0", "0000:3b:00.0"),
            ("1", "0000:af:00.0"),
            ("2", "0000:3b:00.0"),
        ] {
            let var = env(&[("CUDA_VISIBLE_DEVICES", "1,3"), ("SLURM_LOCALID", local_id)]);
            let c = chosen(choose(&var, Some(&table), &adapters));
            assert_eq!(
                adapters[c.index].bus_id,
                Some(bus(expected)),
                "SLURM_LOCALID={local_id}"
            );
            assert_eq!(
                c.from,
                format!("CUDA_VISIBLE_DEVICES=1,3, SLURM_LOCALID={local_id}")
            );
        }
        // Constrained, no table: two visible, the task takes its own by rank.
        let adapters = [h100("0000:86:00.0"), h100("0000:18:00.0")];
        let var = env(&[("CUDA_VISIBLE_DEVICES", "0,1"), ("SLURM_LOCALID", "1")]);
        let c = chosen(choose(&var, None, &adapters));
        assert_eq!(
            adapters[c.index].bus_id,
            Some(bus("0000:86:00.0")),
            "second in bus order"
        );
    }

    #[test]
    fn malformed_values_are_errors_naming_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("CUDA_VISIBLE_DEVICES", "gpu0")],
                "CUDA_VISIBLE_DEVICES=\"gpu0\": `gpu0` is neither",
            ),
            (
                &[("CUDA_VISIBLE_DEVICES", "0,,1")],
                "CUDA_VISIBLE_DEVICES=\"0,,1\": `` is neither",
            ),
            (
                &[("SLURM_JOB_GPUS", "0-3")],
                "SLURM_JOB_GPUS=\"0-3\": `0-3` is neither",
            ),
            (
                &[("CUDA_VISIBLE_DEVICES", "0"), ("SLURM_LOCALID", "x")],
                "SLURM_LOCALID=\"x\": not a task rank",
            ),
            (
                &[("CUDA_VISIBLE_DEVICES", "")],
                "CUDA_VISIBLE_DEVICES=\"\" gives this task no GPU",
            ),
            (
                &[("GPU_DEVICE_ORDINAL", "NoDevFiles")],
                "GPU_DEVICE_ORDINAL=\"NoDevFiles\" gives this task no GPU",
            ),
            (
                &[("CUDA_VISIBLE_DEVICES", "MIG-GPU-aaaaaaaa/1/0")],
                "CUDA_VISIBLE_DEVICES=MIG-GPU-aaaaaaaa/1/0: MIG-GPU-aaaaaaaa/1/0 is a MIG instance",
            ),
        ];
        let table = parse_nvidia_smi(SMI).unwrap();
        for (vars, start) in cases {
            let e = choose(&env(vars), Some(&table), &vulkan_4())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(start), "{vars:?}: {e}");
        }
    }

    #[test]
    fn without_bus_ids_an_index_falls_back_to_cuda_order_with_a_warning() {
        let var = env(&[("CUDA_VISIBLE_DEVICES", "2")]);
        // No nvidia-smi: the GPU adapters are taken in bus order.
        let adapters = vulkan_4();
        let c = chosen(choose(&var, None, &adapters));
        assert_eq!(adapters[c.index].bus_id, Some(bus("0000:86:00.0")));
        assert!(c.warning.unwrap().contains("CUDA_DEVICE_ORDER=PCI_BUS_ID"));
        // No bus ids from Vulkan either: Vulkan's order.
        let blind: Vec<AdapterInfo> = adapters
            .iter()
            .map(|a| AdapterInfo {
                bus_id: None,
                ..a.clone()
            })
            .collect();
        let table = parse_nvidia_smi(SMI).unwrap();
        let c = chosen(choose(&var, Some(&table), &blind));
        assert_eq!(c.index, 3, "the third GPU adapter as Vulkan lists them");
        assert!(c.warning.is_some());
        // A UUID cannot be placed without bus ids.
        let var = env(&[("CUDA_VISIBLE_DEVICES", "GPU-cccccccc")]);
        assert!(matches!(
            choose(&var, Some(&table), &blind),
            Err(ChoiceError::Unmapped { .. })
        ));
    }

    #[test]
    fn a_bus_id_no_adapter_reports_is_an_error() {
        let table = parse_nvidia_smi(SMI).unwrap();
        let var = env(&[("CUDA_VISIBLE_DEVICES", "0")]);
        let adapters = [h100("0000:3b:00.0"), h100("0000:86:00.0")];
        let e = choose(&var, Some(&table), &adapters)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "CUDA_VISIBLE_DEVICES=0 names the GPU at 0000:18:00.0, but no wgpu adapter is there"
            ),
            "{e}"
        );
    }

    #[test]
    fn cubecl_wgpu_default_device_overrides_slurm() {
        let var = env(&[
            ("CUDA_VISIBLE_DEVICES", "2"),
            ("CUBECL_WGPU_DEFAULT_DEVICE", "DiscreteGpu(0)"),
        ]);
        assert!(!wanted(&var));
        let Ok(Choice::Default { why: Some(why) }) = choose(&var, None, &vulkan_4()) else {
            panic!("the override wins");
        };
        assert_eq!(
            why,
            "CUBECL_WGPU_DEFAULT_DEVICE=DiscreteGpu(0) picks the adapter; CUDA_VISIBLE_DEVICES=2 is not used"
        );
    }

    #[test]
    fn with_only_software_vulkan_the_default_is_kept_and_the_reason_given() {
        let var = env(&[("CUDA_VISIBLE_DEVICES", "0")]);
        let Ok(Choice::Default { why: Some(why) }) = choose(&var, None, &[lavapipe()]) else {
            panic!("lavapipe is left to cubecl");
        };
        assert!(why.contains("no GPU adapter, only llvmpipe"), "{why}");
    }

    #[test]
    fn visible_gpus_counts_the_first_variable_set() {
        assert_eq!(
            visible_gpus(&env(&[("CUDA_VISIBLE_DEVICES", "0,1,2")])),
            Some(3)
        );
        assert_eq!(
            visible_gpus(&env(&[
                ("SLURM_JOB_GPUS", "4,5"),
                ("GPU_DEVICE_ORDINAL", "0")
            ])),
            Some(1)
        );
        assert_eq!(visible_gpus(&env(&[("SLURM_JOB_GPUS", "4,5")])), Some(2));
        assert_eq!(visible_gpus(&env(&[("CUDA_VISIBLE_DEVICES", "x")])), None);
    }
}
