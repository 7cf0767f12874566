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

/// `MemAvailable` of /proc/meminfo in bytes; None where there is none.
pub fn available_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_available(&text)
}

fn parse_available(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
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
    fn mem_available_is_read_from_meminfo() {
        let text =
            "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_available(text), Some(20000000.0 * 1024.0));
        assert_eq!(parse_available("MemTotal: 5 kB\n"), None);
    }
}
