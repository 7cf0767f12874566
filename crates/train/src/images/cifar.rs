//! CIFAR-10's binary release: five training files and a test file of
//! 3073-byte records, checked record by record.

use super::read::{format_error, read_file};
use super::{ImageData, ImageDataError, ImageSet};
use std::path::Path;

/// One CIFAR-10 record: a label byte and 3 planes of 32×32 pixels.
/// Bytes per CIFAR-10 record: a label and 32×32 pixels in three channels.
pub const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
const CIFAR_HINT: &str = "run `probstab data fetch cifar10` to download CIFAR-10";

/// The files of CIFAR-10's binary release: five training batches, then the
/// test batch.
pub const CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// CIFAR-10 binary release: `dir/data_batch_1.bin` … `data_batch_5.bin` and
/// `dir/test_batch.bin` ([`CIFAR10_FILES`]), or the same in
/// `dir/cifar-10-batches-bin/`. Each record is 1 label byte (0..=9) + 3072 pixel
/// bytes (1024 R, 1024 G, 1024 B, row-major 32×32). Real files have 10000
/// records each; any positive count is accepted.
pub fn load_cifar10(dir: &Path) -> Result<ImageData, ImageDataError> {
    let [batches @ .., test_file] = CIFAR10_FILES;
    // `probstab data fetch cifar10 --dir D` unpacks to D/cifar-10-batches-bin:
    // D itself is accepted too.
    let nested = dir.join("cifar-10-batches-bin");
    let dir = if !dir.join(batches[0]).exists() && nested.join(batches[0]).exists() {
        nested.as_path()
    } else {
        dir
    };
    let mut train = cifar_set();
    for file in batches {
        read_cifar_batch(&dir.join(file), &mut train)?;
    }
    let mut test = cifar_set();
    read_cifar_batch(&dir.join(test_file), &mut test)?;
    Ok(ImageData { train, test })
}

fn cifar_set() -> ImageSet {
    ImageSet {
        channels: 3,
        height: 32,
        width: 32,
        classes: 10,
        images: Vec::new(),
        labels: Vec::new(),
    }
}

/// Appends the records of one CIFAR-10 file to `set`. Records count from 0.
fn read_cifar_batch(path: &Path, set: &mut ImageSet) -> Result<(), ImageDataError> {
    let bytes = read_file(path, CIFAR_HINT)?;
    let (records, rest) = (bytes.len() / CIFAR_RECORD, bytes.len() % CIFAR_RECORD);
    if bytes.is_empty() {
        return Err(format_error(
            path,
            "empty file, expected records of 3073 bytes (1 label + 3072 pixels)",
        ));
    }
    if rest != 0 {
        return Err(format_error(
            path,
            format!(
                "{} bytes is not a multiple of 3073 (1 label + 3072 pixels): \
                 {records} complete records, then {rest} trailing bytes \
                 at byte offset {}: cut short in record {records} (counting from 0)",
                bytes.len(),
                records * CIFAR_RECORD
            ),
        ));
    }
    set.images.reserve(records * (CIFAR_RECORD - 1));
    set.labels.reserve(records);
    for (i, record) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
        let label = record[0];
        if label > 9 {
            return Err(format_error(
                path,
                format!(
                    "record {i} (counting from 0, byte offset {}): label {label}, \
                     expected 0..=9",
                    i * CIFAR_RECORD
                ),
            ));
        }
        set.labels.push(label);
        set.images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::read::shown;
    use crate::images::testing::{TempDir, error_text};

    /// Pixel (c, y, x) of CIFAR record `k` in the generated files.
    fn cifar_pixel(k: usize, c: usize, y: usize, x: usize) -> u8 {
        (k * 7 + c * 80 + y * 3 + x) as u8
    }

    /// Records `first..first + count` with label k % 10.
    fn cifar_file(first: usize, count: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for k in first..first + count {
            bytes.push((k % 10) as u8);
            for c in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        bytes.push(cifar_pixel(k, c, y, x));
                    }
                }
            }
        }
        bytes
    }

    /// Five training files of 2 records (0..10) and a test file of 3 (10..13).
    fn cifar_dir(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        for b in 1..=5 {
            dir.write(&format!("data_batch_{b}.bin"), &cifar_file(2 * (b - 1), 2));
        }
        dir.write("test_batch.bin", &cifar_file(10, 3));
        dir
    }

    #[test]
    fn cifar_loads_labels_and_rgb_planes_in_order() {
        let dir = cifar_dir("cifar-ok");
        let data = load_cifar10(&dir.0).unwrap();
        assert_eq!(data.train.len(), 10);
        assert_eq!(data.test.len(), 3);
        assert_eq!(
            (data.train.channels, data.train.height, data.train.width),
            (3, 32, 32)
        );
        assert_eq!(data.train.pixels(), 3072);
        assert_eq!(
            data.train.labels,
            (0..10).map(|k| k as u8).collect::<Vec<_>>()
        );
        assert_eq!(data.test.labels, vec![0, 1, 2]);
        for (set, first) in [(&data.train, 0), (&data.test, 10)] {
            for i in 0..set.len() {
                let image = set.image(i);
                for (c, y, x) in [(0, 0, 0), (0, 5, 31), (1, 0, 0), (1, 17, 2), (2, 31, 31)] {
                    assert_eq!(
                        image[c * 1024 + y * 32 + x],
                        cifar_pixel(first + i, c, y, x)
                    );
                }
            }
        }
    }

    #[test]
    fn cifar_truncated_file_names_file_and_record() {
        let dir = cifar_dir("cifar-short");
        let mut bytes = cifar_file(0, 2);
        bytes.truncate(3073 + 100);
        dir.write("data_batch_3.bin", &bytes);
        let e = error_text(load_cifar10(&dir.0));
        assert!(e.contains("data_batch_3.bin"), "{e}");
        assert!(
            e.contains("cut short in record 1 (counting from 0)")
                && e.contains("100 trailing bytes"),
            "{e}"
        );
    }

    #[test]
    fn cifar_bad_label_names_file_and_record() {
        let dir = cifar_dir("cifar-label");
        let mut bytes = cifar_file(0, 3);
        bytes[2 * 3073] = 10;
        dir.write("test_batch.bin", &bytes);
        let e = error_text(load_cifar10(&dir.0));
        assert!(
            e.contains("test_batch.bin") && e.contains("record 2"),
            "{e}"
        );
        assert!(e.contains("label 10"), "{e}");
    }

    #[test]
    fn cifar_missing_file_suggests_fetch() {
        let dir = cifar_dir("cifar-missing");
        std::fs::remove_file(dir.0.join("data_batch_4.bin")).unwrap();
        let e = error_text(load_cifar10(&dir.0));
        assert!(e.contains(&shown(&dir.0.join("data_batch_4.bin"))), "{e}");
        assert!(e.contains("probstab data fetch cifar10"), "{e}");
    }
}
