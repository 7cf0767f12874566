//! Whether a ResNet-18 training step fits in this machine's memory, asked
//! before the step is tried: a step that does not fit is killed by the
//! operating system, with no error to record.

/// Host memory one training step takes per image on the CPU at width 1 on
/// 32×32 images. Measured as the slope of peak RSS against batch size with
/// `/usr/bin/time -f %M cargo bench --workspace --bench speed -- resnet18 B
/// quick`: 263, 414 and 711 MB at B = 16, 32 and 64. Activations, the
/// convolutions' column matrices and the gradients all scale with the
/// channel width and the number of pixels.
const BYTES_PER_IMAGE: f64 = 9.33e6;

/// Estimated bytes for a training step of `batch` images of `pixels` pixels
/// through a ResNet-18 of channel multiplier `width`.
pub fn resnet_step_bytes(width: f64, pixels: usize, batch: usize) -> f64 {
    // Below 1/64 every stage is a channel or two wide: count it as 1/64.
    BYTES_PER_IMAGE * width.max(1.0 / 64.0) * (pixels as f64 / 1024.0) * batch as f64
}

/// The memory this process may still use, in bytes: the smallest of
/// `MemAvailable` (/proc/meminfo) and what the cgroup limit leaves (the
/// limit that Slurm's `--mem` or a container sets, minus current use); None
/// where neither can be read.
pub fn available_bytes() -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok();
    let read = |path: &str| std::fs::read_to_string(path).ok();
    available_from(
        meminfo.as_deref(),
        cgroup.as_deref(),
        "/sys/fs/cgroup",
        &read,
    )
}

/// [`available_bytes`] from the texts of /proc/meminfo and /proc/self/cgroup,
/// reading cgroup files under `root` with `read` (tests hand in prepared ones).
pub fn available_from(
    meminfo: Option<&str>,
    cgroup: Option<&str>,
    root: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Option<f64> {
    let host = meminfo.and_then(parse_available);
    let limit = cgroup.and_then(|c| cgroup_room(c, root, read));
    match (host, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The room left under this process's cgroup memory limit: v2
/// `memory.max − memory.current`, v1 `memory.limit_in_bytes −
/// memory.usage_in_bytes`, the tightest over the cgroup and its parents.
/// None without a limit (`max`, or v1's huge "unlimited").
fn cgroup_room(cgroup: &str, root: &str, read: &dyn Fn(&str) -> Option<String>) -> Option<f64> {
    let number = |path: String| -> Option<f64> { read(&path)?.trim().parse::<f64>().ok() };
    let mut room: Option<f64> = None;
    let mut tighter = |r: f64| room = Some(room.map_or(r, |x: f64| x.min(r)));
    for line in cgroup.lines() {
        // hierarchy-id:controllers:path
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let v2 = controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == "memory") {
            continue;
        }
        // The cgroup and each parent up to the root (a limit can sit above).
        let mut dir = path.trim_end_matches('/').to_string();
        loop {
            let base = if v2 {
                format!("{root}{dir}")
            } else {
                format!("{root}/memory{dir}")
            };
            let (max, current) = if v2 {
                ("memory.max", "memory.current")
            } else {
                ("memory.limit_in_bytes", "memory.usage_in_bytes")
            };
            if let Some(limit) = number(format!("{base}/{max}")).filter(|l| *l < 1e18) {
                let used = number(format!("{base}/{current}")).unwrap_or(0.0);
                tighter((limit - used).max(0.0));
            }
            match dir.rfind('/') {
                Some(i) if !dir.is_empty() => dir.truncate(i),
                _ => break,
            }
        }
    }
    room
}

fn parse_available(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The points of a two_layer cell's test loss (`two_layer::TEST_POINTS`,
/// which is this: memory comes before the trainers in the import order).
pub const TWO_LAYER_TEST_POINTS: usize = 1000;

/// Host memory of a two_layer cell at its peak on the CPU, estimated:
/// the activations of the test loss and of a step (`TEST_POINTS + batch`
/// rows of `hidden`, forward and backward, f32), which dominate wide nets;
/// weights, gradients, optimizer moments and the SVDs of the ranks, about
/// 40 bytes a weight; and a fixed dataset's `n` points. Measured with
/// `/usr/bin/time -f %M probstab run` on a 20-step cell at dim 8: peak RSS
/// 812 MB at hidden 10⁵ and 7.97 GB at 10⁶ (estimated 0.83 and 8.3 GB),
/// packed or not.
pub fn two_layer_bytes(dim: usize, hidden: usize, batch: usize, n: usize) -> f64 {
    let (d, h) = (dim as f64, hidden as f64);
    let rows = (TWO_LAYER_TEST_POINTS + batch) as f64;
    8.0 * h * rows + 40.0 * d * h + 8.0 * d * n as f64
}

/// A two_layer cell that does not fit.
#[derive(Debug, thiserror::Error)]
#[error(
    "model.dim = {dim}, model.hidden = {hidden} needs about {need_gb:.1} GB for a two_layer cell on the CPU \
     ({cells} cell(s) at once), but {available_gb:.1} GB of memory are available: use a smaller model.hidden \
     (or model.dim, train.batch_size, data.n)"
)]
pub struct NetTooBig {
    pub dim: usize,
    pub hidden: usize,
    pub cells: usize,
    pub need_gb: f64,
    pub available_gb: f64,
}

/// Err when `cells` two_layer cells of this shape, trained at once, need
/// more than `available` bytes.
pub fn check_two_layer(
    dim: usize,
    hidden: usize,
    batch: usize,
    n: usize,
    cells: usize,
    available: f64,
) -> Result<(), NetTooBig> {
    let need = two_layer_bytes(dim, hidden, batch, n) * cells.max(1) as f64;
    if need <= available {
        return Ok(());
    }
    Err(NetTooBig {
        dim,
        hidden,
        cells,
        need_gb: need / 1e9,
        available_gb: available / 1e9,
    })
}

/// Host memory of an MLP cell, estimated: weights with their gradient,
/// Adam's two moments and autodiff's copies, about 24 bytes a weight; and
/// the activations of a batch (and of an evaluation batch of 250), forward
/// and backward.
pub fn mlp_bytes(inputs: usize, hidden: &[usize], classes: usize, batch: usize) -> f64 {
    let mut weights = 0.0;
    let mut fan_in = inputs as f64;
    for &w in hidden.iter().chain([&classes]) {
        weights += fan_in * w as f64;
        fan_in = w as f64;
    }
    let units: f64 = (inputs + classes) as f64 + hidden.iter().map(|&h| h as f64).sum::<f64>();
    24.0 * weights + 12.0 * (batch + 250) as f64 * units
}

/// An MLP that does not fit.
#[derive(Debug, thiserror::Error)]
#[error(
    "model.hidden_widths = {hidden:?} on {inputs} inputs needs about {need_gb:.1} GB for an mlp cell \
     on the CPU, but {available_gb:.1} GB of memory are available: use smaller model.hidden_widths \
     (or data.image_size, train.batch_size)"
)]
pub struct MlpTooBig {
    pub inputs: usize,
    pub hidden: Vec<usize>,
    pub need_gb: f64,
    pub available_gb: f64,
}

/// Err when an MLP cell of this shape needs more than `available` bytes.
pub fn check_mlp(
    inputs: usize,
    hidden: &[usize],
    classes: usize,
    batch: usize,
    available: f64,
) -> Result<(), MlpTooBig> {
    let need = mlp_bytes(inputs, hidden, classes, batch);
    if need <= available {
        return Ok(());
    }
    Err(MlpTooBig {
        inputs,
        hidden: hidden.to_vec(),
        need_gb: need / 1e9,
        available_gb: available / 1e9,
    })
}

/// A step needing `need` bytes where `available` are free.
#[derive(Debug, thiserror::Error)]
#[error(
    "train.batch_size = {batch} needs about {need_gb:.1} GB for a training step on the CPU \
     ({per_image_mb:.1} MB an image at this model.width and image size), but {available_gb:.1} GB \
     of memory are available: use a smaller train.batch_size (or model.width)"
)]
pub struct TooBig {
    pub batch: usize,
    pub need_gb: f64,
    pub per_image_mb: f64,
    pub available_gb: f64,
}

/// Err when `batch` images need more than `available` bytes.
pub fn check(width: f64, pixels: usize, batch: usize, available: f64) -> Result<(), TooBig> {
    let need = resnet_step_bytes(width, pixels, batch);
    if need <= available {
        return Ok(());
    }
    Err(TooBig {
        batch,
        need_gb: need / 1e9,
        per_image_mb: need / batch as f64 / 1e6,
        available_gb: available / 1e9,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn files(entries: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |path: &str| map.get(path).cloned()
    }

    const MEMINFO: &str = "MemTotal: 24000000 kB\nMemAvailable: 20000000 kB\n";

    #[test]
    fn the_cgroup_v2_limit_less_its_use_caps_what_meminfo_says() {
        let read = files(&[
            ("/cg/slurm/job_7/memory.max", "4294967296\n"),
            ("/cg/slurm/job_7/memory.current", "1073741824\n"),
            ("/cg/slurm/memory.max", "max\n"),
        ]);
        let got = available_from(Some(MEMINFO), Some("0::/slurm/job_7\n"), "/cg", &read);
        assert_eq!(got, Some(3.0 * 1073741824.0));
        // No limit anywhere: MemAvailable.
        let none = files(&[("/cg/slurm/job_7/memory.max", "max\n")]);
        let got = available_from(Some(MEMINFO), Some("0::/slurm/job_7\n"), "/cg", &none);
        assert_eq!(got, Some(20000000.0 * 1024.0));
    }

    #[test]
    fn a_parent_limit_and_cgroup_v1_count_too() {
        let read = files(&[
            ("/cg/slurm/memory.max", "2147483648"),
            ("/cg/slurm/memory.current", "0"),
            ("/cg/slurm/job_7/memory.max", "max"),
        ]);
        let got = available_from(Some(MEMINFO), Some("0::/slurm/job_7"), "/cg", &read);
        assert_eq!(got, Some(2147483648.0));
        let v1 = files(&[
            (
                "/cg/memory/slurm/uid_0/job_7/memory.limit_in_bytes",
                "1000000000",
            ),
            (
                "/cg/memory/slurm/uid_0/job_7/memory.usage_in_bytes",
                "250000000",
            ),
            ("/cg/memory/memory.limit_in_bytes", "9223372036854771712"),
        ]);
        let cgroup = "12:cpuset:/slurm/uid_0/job_7\n4:memory:/slurm/uid_0/job_7\n";
        assert_eq!(
            available_from(Some(MEMINFO), Some(cgroup), "/cg", &v1),
            Some(750000000.0)
        );
        // Only the cgroup can be read.
        assert_eq!(
            available_from(None, Some(cgroup), "/cg", &v1),
            Some(750000000.0)
        );
    }

    #[test]
    fn the_measured_batches_fit_their_peak_memory_and_scale_with_width_and_pixels() {
        // Peak RSS at batch 32 was 414 MB, of which ~115 MB is not per image.
        let b32 = resnet_step_bytes(1.0, 1024, 32);
        assert!((250e6..414e6).contains(&b32), "{b32}");
        let quarter = resnet_step_bytes(0.25, 1024, 32);
        assert!((quarter - b32 / 4.0).abs() < 1.0);
        let fmnist = resnet_step_bytes(1.0, 784, 32);
        assert!((fmnist - b32 * 784.0 / 1024.0).abs() < 1.0);
    }

    #[test]
    fn a_batch_that_does_not_fit_names_the_key_and_both_sizes() {
        assert!(check(1.0, 1024, 32, 8e9).is_ok());
        let e = check(1.0, 1024, 4096, 8e9).unwrap_err().to_string();
        assert!(e.contains("train.batch_size = 4096"), "{e}");
        assert!(e.contains("38.2 GB") && e.contains("8.0 GB"), "{e}");
    }

    #[test]
    fn a_two_layer_cell_is_estimated_from_its_measured_peaks_and_refused_by_name() {
        // Measured peak RSS at dim 8 (see two_layer_bytes): within 10%.
        for (hidden, peak) in [(100_000, 812e6), (1_000_000, 7.97e9)] {
            let est = two_layer_bytes(8, hidden, 1, 0);
            assert!((est / peak - 1.0).abs() < 0.1, "{hidden}: {est} vs {peak}");
        }
        assert!(check_two_layer(200, 200, 1, 0, 64, 1e9).is_ok());
        let e = check_two_layer(8, 10_000_000, 1, 0, 1, 20e9)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.hidden = 10000000") && e.contains("83.") && e.contains("20.0 GB"),
            "{e}"
        );
        // Several cells trained at once count together.
        assert!(check_two_layer(8, 100_000, 1, 0, 1, 1e9).is_ok());
        assert!(check_two_layer(8, 100_000, 1, 0, 2, 1e9).is_err());
    }

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let text =
            "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_available(text), Some(20000000.0 * 1024.0));
        assert_eq!(parse_available("MemTotal: 5 kB\n"), None);
    }
}
