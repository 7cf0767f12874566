//! IDX files of unsigned bytes (plain or gzipped), and Fashion-MNIST and
//! MNIST, which ship as four of them under the same names.

use super::read::{format_error, read_maybe_gz, shown};
use super::{ImageData, ImageDataError, ImageSet};
use std::path::{Path, PathBuf};

/// Default location of Fashion-MNIST: Debian's package `dataset-fashion-mnist`.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FASHION_HINT: &str = "nor with `.gz`; install Debian's package \
     `dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist)";
const IDX_HINT: &str = "expected an IDX file, plain or `.gz`";
/// Default location of MNIST (relative to the working directory).
pub const MNIST_DIR: &str = "data/mnist";
const MNIST_HINT: &str = "nor with `.gz`; put MNIST's four IDX files there \
     (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, \
     t10k-labels-idx1-ubyte.gz) or set data.dir";
const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Fashion-MNIST IDX files in `dir`: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each plain or gzipped with `.gz` (the plain file
/// wins if both exist). Images must be 3-dimensional (magic 0x00000803),
/// labels 1-dimensional (0x00000801), their counts equal and positive, labels
/// at most 9. channels = 1, classes = 10.
pub fn load_fashion_mnist(dir: &Path) -> Result<ImageData, ImageDataError> {
    let names = FASHION_CLASSES.map(String::from).to_vec();
    load_idx_pair(dir, FASHION_HINT, names)
}

/// MNIST in `dir`: the same four IDX files as [`load_fashion_mnist`] (the
/// names are MNIST's), with the same checks; the classes are the digits.
pub fn load_mnist(dir: &Path) -> Result<ImageData, ImageDataError> {
    load_idx_pair(dir, MNIST_HINT, (0..10).map(|k| k.to_string()).collect())
}

fn load_idx_pair(
    dir: &Path,
    hint: &str,
    class_names: Vec<String>,
) -> Result<ImageData, ImageDataError> {
    let train = fashion_set(dir, "train", hint)?;
    let test = fashion_set(dir, "t10k", hint)?;
    if (test.height, test.width) != (train.height, train.width) {
        return Err(format_error(
            &plain_or_gz(dir, "t10k-images-idx3-ubyte"),
            format!(
                "test images are {}×{}, the training images {}×{}",
                test.height, test.width, train.height, train.width
            ),
        ));
    }
    Ok(ImageData::new(train, test, class_names))
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists, else `dir/name`.
fn plain_or_gz(dir: &Path, name: &str) -> PathBuf {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if !plain.is_file() && gz.is_file() {
        gz
    } else {
        plain
    }
}

fn fashion_set(dir: &Path, prefix: &str, hint: &str) -> Result<ImageSet, ImageDataError> {
    let images_path = plain_or_gz(dir, &format!("{prefix}-images-idx3-ubyte"));
    let labels_path = plain_or_gz(dir, &format!("{prefix}-labels-idx1-ubyte"));
    let (dims, images) = parse_idx(&images_path, read_maybe_gz(&images_path, hint)?)?;
    if dims.len() != 3 {
        return Err(format_error(
            &images_path,
            format!(
                "magic number 0x000008{:02x} ({} dimensions), expected 0x00000803 \
                 (images: count × rows × columns)",
                dims.len(),
                dims.len()
            ),
        ));
    }
    let (label_dims, labels) = parse_idx(&labels_path, read_maybe_gz(&labels_path, hint)?)?;
    if label_dims.len() != 1 {
        return Err(format_error(
            &labels_path,
            format!(
                "magic number 0x000008{:02x} ({} dimensions), expected 0x00000801 \
                 (labels: count)",
                label_dims.len(),
                label_dims.len()
            ),
        ));
    }
    if label_dims[0] != dims[0] {
        return Err(format_error(
            &labels_path,
            format!(
                "{} labels, expected one per image: {} holds {} images",
                label_dims[0],
                shown(&images_path),
                dims[0]
            ),
        ));
    }
    if dims[0] == 0 {
        return Err(format_error(&images_path, "no images (count 0)"));
    }
    if let Some((i, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(format_error(
            &labels_path,
            format!("label {i} (counting from 0) is {label}, expected 0..=9"),
        ));
    }
    Ok(ImageSet {
        channels: 1,
        height: dims[1],
        width: dims[2],
        classes: 10,
        images,
        labels,
    })
}

/// Any IDX file of unsigned bytes (plain, or gzipped when the name ends in
/// `.gz`): its dimensions and its data, which holds exactly their product of
/// bytes.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), ImageDataError> {
    parse_idx(path, read_maybe_gz(path, IDX_HINT)?)
}

/// Magic `0x00 0x00 0x08 d`, then d big-endian u32 dimensions, then the data.
fn parse_idx(path: &Path, mut bytes: Vec<u8>) -> Result<(Vec<usize>, Vec<u8>), ImageDataError> {
    if bytes.len() < 4 {
        return Err(format_error(
            path,
            format!(
                "{} bytes, too short for the 4-byte IDX magic number",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic & 0xFFFF_FF00 != 0x0000_0800 {
        return Err(format_error(
            path,
            format!(
                "magic number 0x{magic:08x}, expected 0x000008NN \
                 (IDX of unsigned bytes with NN dimensions)"
            ),
        ));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(format_error(
            path,
            format!(
                "truncated header: {ndims} dimensions need {header} bytes, the file has {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let size = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format_error(path, format!("dimensions {dims:?} overflow")))?;
    let data = bytes.len() - header;
    if data < size {
        return Err(format_error(
            path,
            format!(
                "truncated data: dimensions {dims:?} need {size} bytes after the \
                 {header}-byte header, found {data}"
            ),
        ));
    }
    if data > size {
        return Err(format_error(
            path,
            format!(
                "{} trailing bytes at byte offset {}: dimensions {dims:?} need \
                 {size} bytes after the {header}-byte header, found {data}",
                data - size,
                header + size
            ),
        ));
    }
    bytes.drain(..header);
    Ok((dims, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::testing::{TempDir, error_text};
    use std::io::Write;

    /// An IDX file of unsigned bytes with `magic` (normally 0x0000_0800 + dims).
    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// `n` images of 2×3 with pixel i·6 + j, labels i % 10.
    fn fashion_files(n: u32) -> [(String, Vec<u8>); 4] {
        let images = |n: u32| {
            let data: Vec<u8> = (0..n * 6).map(|v| v as u8).collect();
            idx(0x0803, &[n, 2, 3], &data)
        };
        let labels = |n: u32| {
            let data: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            idx(0x0801, &[n], &data)
        };
        [
            ("train-images-idx3-ubyte".into(), images(n)),
            ("train-labels-idx1-ubyte".into(), labels(n)),
            ("t10k-images-idx3-ubyte".into(), images(3)),
            ("t10k-labels-idx1-ubyte".into(), labels(3)),
        ]
    }

    fn fashion_dir(name: &str, gz: bool) -> TempDir {
        let dir = TempDir::new(name);
        for (file, bytes) in fashion_files(12) {
            if gz {
                dir.write(&format!("{file}.gz"), &gzip(&bytes));
            } else {
                dir.write(&file, &bytes);
            }
        }
        dir
    }

    #[test]
    fn fashion_plain_and_gzip_load_the_same() {
        let plain = load_fashion_mnist(&fashion_dir("fm-plain", false).0).unwrap();
        let gz = load_fashion_mnist(&fashion_dir("fm-gz", true).0).unwrap();
        assert_eq!(plain.train, gz.train);
        assert_eq!(plain.test, gz.test);
        let t = &plain.train;
        assert_eq!(
            (t.len(), t.channels, t.height, t.width, t.classes),
            (12, 1, 2, 3, 10)
        );
        assert_eq!(t.image(5), &[30, 31, 32, 33, 34, 35]);
        assert_eq!(t.labels[11], 1);
        assert_eq!(plain.test.len(), 3);
    }

    #[test]
    fn fashion_prefers_the_plain_file() {
        let dir = fashion_dir("fm-both", false);
        dir.write("train-labels-idx1-ubyte.gz", b"not gzip at all");
        assert_eq!(load_fashion_mnist(&dir.0).unwrap().train.len(), 12);
    }

    /// Replaces one file of a good plain directory and returns the error text.
    fn fashion_error(name: &str, file: &str, bytes: &[u8]) -> String {
        let dir = fashion_dir(name, false);
        if file.ends_with(".gz") {
            std::fs::remove_file(dir.0.join(file.trim_end_matches(".gz"))).unwrap();
        }
        dir.write(file, bytes);
        let e = error_text(load_fashion_mnist(&dir.0));
        assert!(e.contains(&shown(&dir.0.join(file))), "{e}");
        e
    }

    #[test]
    fn fashion_malformed_files_are_errors_naming_the_file() {
        let images = |magic, dims: &[u32], len| idx(magic, dims, &vec![0; len]);
        let e = fashion_error(
            "fm-magic",
            "train-images-idx3-ubyte",
            &images(0x0903, &[12, 2, 3], 72),
        );
        assert!(e.contains("0x00000903"), "{e}");
        let e = fashion_error(
            "fm-dims",
            "train-images-idx3-ubyte",
            &images(0x0802, &[12, 6], 72),
        );
        assert!(e.contains("expected 0x00000803"), "{e}");
        let e = fashion_error(
            "fm-ldims",
            "t10k-labels-idx1-ubyte",
            &images(0x0802, &[3, 1], 3),
        );
        assert!(e.contains("expected 0x00000801"), "{e}");
        let e = fashion_error(
            "fm-short",
            "train-images-idx3-ubyte",
            &images(0x0803, &[12, 2, 3], 71),
        );
        assert!(e.contains("truncated"), "{e}");
        let e = fashion_error("fm-header", "train-images-idx3-ubyte", &[0, 0, 8, 3, 0, 0]);
        assert!(e.contains("truncated header"), "{e}");
        let e = fashion_error(
            "fm-long",
            "t10k-images-idx3-ubyte",
            &images(0x0803, &[3, 2, 3], 20),
        );
        assert!(e.contains("2 trailing bytes"), "{e}");
        let e = fashion_error(
            "fm-count",
            "train-labels-idx1-ubyte",
            &images(0x0801, &[11], 11),
        );
        assert!(e.contains("11 labels") && e.contains("12 images"), "{e}");
        let mut labels = vec![0; 12];
        labels[7] = 10;
        let e = fashion_error(
            "fm-label",
            "train-labels-idx1-ubyte",
            &idx(0x0801, &[12], &labels),
        );
        assert!(e.contains("label 7") && e.contains("is 10"), "{e}");
    }

    #[test]
    fn fashion_corrupt_gzip_is_an_error_naming_the_file() {
        let good = gzip(&fashion_files(12)[0].1);
        let e = fashion_error(
            "fm-gz-trunc",
            "train-images-idx3-ubyte.gz",
            &good[..good.len() / 2],
        );
        assert!(e.contains("gzip"), "{e}");
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 8] ^= 0xFF; // the CRC
        let e = fashion_error("fm-gz-crc", "train-images-idx3-ubyte.gz", &flipped);
        assert!(e.contains("gzip"), "{e}");
        let e = fashion_error(
            "fm-gz-junk",
            "train-images-idx3-ubyte.gz",
            b"plain text, not gzip",
        );
        assert!(e.contains("gzip"), "{e}");
    }

    #[test]
    fn fashion_missing_file_names_the_package() {
        let dir = fashion_dir("fm-missing", true);
        std::fs::remove_file(dir.0.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let e = error_text(load_fashion_mnist(&dir.0));
        assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
        assert!(e.contains("dataset-fashion-mnist"), "{e}");
    }

    #[test]
    fn mnist_reads_the_same_files_and_names_its_own_hint() {
        let dir = fashion_dir("mnist", true);
        let mnist = load_mnist(&dir.0).unwrap();
        let fashion = load_fashion_mnist(&dir.0).unwrap();
        assert_eq!(mnist.train, fashion.train);
        assert_eq!(mnist.class_names[3], "3");
        assert_eq!(fashion.class_names[9], "Ankle boot");
        std::fs::remove_file(dir.0.join("train-images-idx3-ubyte.gz")).unwrap();
        let e = error_text(load_mnist(&dir.0));
        assert!(
            e.contains("train-images-idx3-ubyte") && e.contains("MNIST") && !e.contains("fashion"),
            "{e}"
        );
    }

    #[test]
    fn read_idx_reads_any_dimensions() {
        let dir = TempDir::new("idx");
        let path = dir.write("x.gz", &gzip(&idx(0x0804, &[1, 2, 2, 2], &[9; 8])));
        assert_eq!(read_idx(&path).unwrap(), (vec![1, 2, 2, 2], vec![9; 8]));
    }

    #[test]
    fn real_fashion_mnist_has_60000_and_10000_images() {
        let dir = Path::new(FASHION_MNIST_DIR);
        if !dir.exists() {
            eprintln!("skipped: {FASHION_MNIST_DIR} is absent");
            return;
        }
        let data = load_fashion_mnist(dir).unwrap();
        for (set, n) in [(&data.train, 60_000), (&data.test, 10_000)] {
            assert_eq!(
                (set.len(), set.height, set.width, set.channels),
                (n, 28, 28, 1)
            );
            assert_eq!(set.images.len(), n * 784);
            assert!(set.labels.iter().all(|&l| l <= 9));
        }
    }
}
