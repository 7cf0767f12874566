//! The node's NVIDIA GPUs, each with its index, PCI bus id and UUID: what
//! ties CUDA's numbering (and Slurm's) to the bus ids Vulkan reports
//! (`gpu_choice`).

use burn::tensor::PciAddress;

/// One NVIDIA GPU of the node, as the driver lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeGpu {
    /// nvidia-smi's index (PCI bus order, CUDA's with
    /// `CUDA_DEVICE_ORDER=PCI_BUS_ID`); None when read from /proc.
    pub index: Option<usize>,
    pub bus_id: PciAddress,
    /// `GPU-1b2c…`, lower case.
    pub uuid: String,
}

/// The node's GPUs from the output of `nvidia-smi
/// --query-gpu=index,pci.bus_id,uuid --format=csv,noheader`.
pub fn parse_nvidia_smi(csv: &str) -> Result<Vec<NodeGpu>, String> {
    csv.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [index, bus, uuid] = fields.as_slice() else {
                return Err(format!("not `index, pci.bus_id, uuid`: {line}"));
            };
            Ok(NodeGpu {
                index: Some(index.parse().map_err(|_| format!("bad index: {line}"))?),
                bus_id: bus.parse().map_err(|e| format!("{e}: {line}"))?,
                uuid: uuid.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// One GPU from the driver's `/proc/driver/nvidia/gpus/<bus id>/information`
/// (`GPU UUID:` and `Bus Location:` lines). It has no CUDA index.
pub fn parse_proc_information(text: &str) -> Option<NodeGpu> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().strip_prefix(':'))
            .map(str::trim)
    };
    Some(NodeGpu {
        index: None,
        bus_id: field("Bus Location")?.parse().ok()?,
        uuid: field("GPU UUID")?.to_ascii_lowercase(),
    })
}

/// The node's NVIDIA GPUs: from nvidia-smi, else (UUIDs and bus ids only)
/// from /proc/driver/nvidia; None where neither answers.
pub fn node_gpus() -> Option<Vec<NodeGpu>> {
    let smi = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=index,pci.bus_id,uuid", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)).ok())
        .filter(|gpus| !gpus.is_empty());
    if smi.is_some() {
        return smi;
    }
    let proc: Vec<NodeGpu> = std::fs::read_dir("/proc/driver/nvidia/gpus")
        .ok()?
        .filter_map(|dir| {
            let text = std::fs::read_to_string(dir.ok()?.path().join("information")).ok()?;
            parse_proc_information(&text)
        })
        .collect();
    (!proc.is_empty()).then_some(proc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus(text: &str) -> PciAddress {
        text.parse().unwrap()
    }

    const SMI: &str = "\
0, 00000000:18:00.0, GPU-aaaaaaaa-0000-0000-0000-000000000000
1, 00000000:3B:00.0, GPU-bbbbbbbb-0000-0000-0000-000000000000
";

    #[test]
    fn nvidia_smi_and_proc_give_index_bus_id_and_uuid() {
        let table = parse_nvidia_smi(SMI).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table[1].index, Some(1));
        assert_eq!(table[1].bus_id.to_string(), "0000:3b:00.0");
        assert_eq!(table[1].uuid, "gpu-bbbbbbbb-0000-0000-0000-000000000000");
        let info = "Model: \t\t NVIDIA H100 PCIe\nIRQ:   \t\t 95\nGPU UUID: \t GPU-CCCCCCCC-0000\nVideo BIOS: \t 96.00.30.00.01\nBus Type: \t PCIe\nBus Location: \t 0000:86:00.0\nDevice Minor: \t 2\n";
        assert_eq!(
            parse_proc_information(info),
            Some(NodeGpu {
                index: None,
                bus_id: bus("0000:86:00.0"),
                uuid: "gpu-cccccccc-0000".into()
            })
        );
        assert_eq!(parse_proc_information("Model: x\n"), None);
        assert!(parse_nvidia_smi("0, 00000000:18:00.0\n").is_err());
        assert!(parse_nvidia_smi("x, 00000000:18:00.0, GPU-a\n").is_err());
    }
}
