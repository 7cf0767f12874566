//! CIFAR-10's and CIFAR-100's binary releases, checked record by record:
//! CIFAR-10 has five training files and a test file of 3073-byte records
//! (a label and 3072 pixels), CIFAR-100 `train.bin` and `test.bin` of
//! 3074-byte records (the coarse label, the fine label, 3072 pixels).

use super::read::{format_error, read_file};
use super::{ImageData, ImageDataError, ImageSet};
use std::path::Path;

/// One CIFAR-10 record: a label byte and 3 planes of 32×32 pixels.
/// Bytes per CIFAR-10 record: a label and 32×32 pixels in three channels.
pub const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
const CIFAR_HINT: &str = "run `probstab data fetch cifar10` to download CIFAR-10";
const CIFAR100_HINT: &str = "run `probstab data fetch cifar100` to download CIFAR-100";
/// Bytes per CIFAR-100 record: the coarse label, the fine label, 3072 pixels.
pub const CIFAR100_RECORD: usize = 2 + 3 * 32 * 32;
/// The files of CIFAR-100's binary release that hold images.
pub const CIFAR100_FILES: [&str; 2] = ["train.bin", "test.bin"];
/// CIFAR-10's class names, in label order (`batches.meta.txt`).
const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The label bytes of one format: how many lead a record, which one is the
/// label, and how many classes there are.
#[derive(Clone, Copy)]
struct Labels {
    bytes: usize,
    index: usize,
    classes: usize,
    hint: &'static str,
}

impl Labels {
    fn record(&self) -> usize {
        self.bytes + 3 * 32 * 32
    }
}

const CIFAR10_LABELS: Labels = Labels {
    bytes: 1,
    index: 0,
    classes: 10,
    hint: CIFAR_HINT,
};

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
    let mut train = cifar_set(10);
    for file in batches {
        read_cifar_batch(&dir.join(file), &mut train, CIFAR10_LABELS)?;
    }
    let mut test = cifar_set(10);
    read_cifar_batch(&dir.join(test_file), &mut test, CIFAR10_LABELS)?;
    Ok(ImageData::new(
        train,
        test,
        CIFAR10_CLASSES.map(String::from).to_vec(),
    ))
}

/// CIFAR-100 binary release: `dir/train.bin` and `dir/test.bin`
/// ([`CIFAR100_FILES`]), or the same in `dir/cifar-100-binary/`, with the
/// `fine` (0..100) or `coarse` (0..20) label of each record. Class names
/// come from `fine_label_names.txt` / `coarse_label_names.txt` when they are
/// there (one per line, as the release ships them), else are the numbers.
pub fn load_cifar100(dir: &Path, coarse: bool) -> Result<ImageData, ImageDataError> {
    let nested = dir.join("cifar-100-binary");
    let dir = if !dir.join(CIFAR100_FILES[0]).exists() && nested.join(CIFAR100_FILES[0]).exists() {
        nested.as_path()
    } else {
        dir
    };
    let labels = Labels {
        bytes: 2,
        index: if coarse { 0 } else { 1 },
        classes: if coarse { 20 } else { 100 },
        hint: CIFAR100_HINT,
    };
    let mut train = cifar_set(labels.classes);
    read_cifar_batch(&dir.join(CIFAR100_FILES[0]), &mut train, labels)?;
    let mut test = cifar_set(labels.classes);
    read_cifar_batch(&dir.join(CIFAR100_FILES[1]), &mut test, labels)?;
    let names_file = dir.join(if coarse {
        "coarse_label_names.txt"
    } else {
        "fine_label_names.txt"
    });
    let names = match std::fs::read_to_string(&names_file) {
        Ok(text) => {
            let names: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if names.len() != labels.classes {
                return Err(format_error(
                    &names_file,
                    format!(
                        "{} class names, expected {} (one per line)",
                        names.len(),
                        labels.classes
                    ),
                ));
            }
            names
        }
        Err(_) => (0..labels.classes).map(|k| k.to_string()).collect(),
    };
    Ok(ImageData::new(train, test, names))
}

fn cifar_set(classes: usize) -> ImageSet {
    ImageSet {
        channels: 3,
        height: 32,
        width: 32,
        classes,
        images: Vec::new(),
        labels: Vec::new(),
    }
}

/// Appends the records of one CIFAR file to `set`. Records count from 0.
fn read_cifar_batch(path: &Path, set: &mut ImageSet, labels: Labels) -> Result<(), ImageDataError> {
    let bytes = read_file(path, labels.hint)?;
    let size = labels.record();
    let layout = if labels.bytes == 1 {
        "1 label + 3072 pixels"
    } else {
        "coarse label + fine label + 3072 pixels"
    };
    let (records, rest) = (bytes.len() / size, bytes.len() % size);
    if bytes.is_empty() {
        return Err(format_error(
            path,
            format!("empty file, expected records of {size} bytes ({layout})"),
        ));
    }
    if rest != 0 {
        return Err(format_error(
            path,
            format!(
                "{} bytes is not a multiple of {size} ({layout}): \
                 {records} complete records, then {rest} trailing bytes \
                 at byte offset {}: cut short in record {records} (counting from 0)",
                bytes.len(),
                records * size
            ),
        ));
    }
    set.images.reserve(records * (size - labels.bytes));
    set.labels.reserve(records);
    for (i, record) in bytes.chunks_exact(size).enumerate() {
        let label = record[labels.index];
        if label as usize >= labels.classes {
            let which = match (labels.bytes, labels.index) {
                (1, _) => "label",
                (_, 0) => "coarse label",
                _ => "fine label",
            };
            return Err(format_error(
                path,
                format!(
                    "record {i} (counting from 0, byte offset {}): {which} {label}, \
                     expected 0..={}",
                    i * size + labels.index,
                    labels.classes - 1
                ),
            ));
        }
        set.labels.push(label);
        set.images.extend_from_slice(&record[labels.bytes..]);
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

    /// CIFAR-100 records `first..first + count`: coarse k % 20, fine k % 100.
    fn cifar100_file(first: usize, count: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for k in first..first + count {
            bytes.push((k % 20) as u8);
            bytes.push((k % 100) as u8);
            bytes.extend((0..3072).map(|p| (k + p) as u8));
        }
        bytes
    }

    #[test]
    fn cifar100_reads_fine_or_coarse_labels_and_the_names() {
        let dir = TempDir::new("cifar100-ok");
        std::fs::create_dir_all(dir.0.join("cifar-100-binary")).unwrap();
        dir.write("cifar-100-binary/train.bin", &cifar100_file(95, 10));
        dir.write("cifar-100-binary/test.bin", &cifar100_file(0, 3));
        let fine = load_cifar100(&dir.0, false).unwrap();
        assert_eq!(fine.train.classes, 100);
        assert_eq!(fine.train.labels, vec![95, 96, 97, 98, 99, 0, 1, 2, 3, 4]);
        assert_eq!(fine.train.image(1)[..3], [96, 97, 98]);
        assert_eq!(fine.test.len(), 3);
        assert_eq!(fine.class_names[7], "7");
        let coarse = load_cifar100(&dir.0, true).unwrap();
        assert_eq!(coarse.train.classes, 20);
        assert_eq!(coarse.train.labels, vec![15, 16, 17, 18, 19, 0, 1, 2, 3, 4]);
        assert_eq!(coarse.train.images, fine.train.images);
        let names: String = (0..20).map(|k| format!("super{k}\n")).collect();
        dir.write("cifar-100-binary/coarse_label_names.txt", names.as_bytes());
        assert_eq!(
            load_cifar100(&dir.0, true).unwrap().class_names[3],
            "super3"
        );
        // The fine names file is missing: numbers, as before.
        dir.write("cifar-100-binary/fine_label_names.txt", b"apple\npear\n");
        let e = error_text(load_cifar100(&dir.0, false));
        assert!(
            e.contains("fine_label_names.txt") && e.contains("2 class names, expected 100"),
            "{e}"
        );
    }

    #[test]
    fn cifar100_bad_records_name_the_file_record_and_label() {
        let dir = TempDir::new("cifar100-bad");
        dir.write("train.bin", &cifar100_file(0, 4));
        let mut test = cifar100_file(0, 3);
        test[2 * 3074 + 1] = 100;
        dir.write("test.bin", &test);
        let e = error_text(load_cifar100(&dir.0, false));
        assert!(
            e.contains("test.bin") && e.contains("record 2") && e.contains("fine label 100"),
            "{e}"
        );
        // The coarse label of the same record is fine.
        load_cifar100(&dir.0, true).unwrap();
        let mut train = cifar100_file(0, 2);
        train.truncate(3074 + 10);
        dir.write("train.bin", &train);
        let e = error_text(load_cifar100(&dir.0, true));
        assert!(
            e.contains("train.bin")
                && e.contains("not a multiple of 3074")
                && e.contains("record 1"),
            "{e}"
        );
        std::fs::remove_file(dir.0.join("train.bin")).unwrap();
        let e = error_text(load_cifar100(&dir.0, true));
        assert!(e.contains("probstab data fetch cifar100"), "{e}");
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
