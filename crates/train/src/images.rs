//! Image datasets for the ResNet runs: CIFAR-10 and Fashion-MNIST read from
//! their binary releases and checked, per-channel normalisation, random crop
//! and horizontal flip, the per-epoch shuffle, and static or dynamic label
//! noise.
//!
//! Images stay bytes (`N × C × H × W`, as CIFAR stores them) until [`batch`]
//! turns the images of one step into the `f32` data of an input tensor. Every
//! draw comes from a seeded stream of [`crate::rng`], indexed by epoch or step
//! where it must be, so a resumed run draws what an uninterrupted one does.

use crate::rng::{Rng, Stream, rng, rng_at};
use flate2::read::GzDecoder;
use rand::RngExt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Images as bytes, N × C × H × W (channel-major per image, as CIFAR stores
/// them), with labels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image: C·H·W.
    pub fn pixels(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i`, C × H × W.
    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// The labels of images `indices`, in that order.
    pub fn labels_of(&self, indices: &[usize]) -> Vec<u8> {
        indices.iter().map(|&i| self.labels[i]).collect()
    }

    /// Keeps the first `n` images (`n >= len`: unchanged).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.images.truncate(n * self.pixels());
            self.labels.truncate(n);
        }
    }
}

/// A training set and its test set.
#[derive(Clone, Debug)]
pub struct ImageData {
    pub train: ImageSet,
    pub test: ImageSet,
}

/// Every message names the file (as an absolute path).
#[derive(Debug, thiserror::Error)]
pub enum ImageDataError {
    #[error("{path}: no such file ({hint})")]
    Missing { path: String, hint: String },
    #[error("{path}: cannot read: {error}")]
    Read { path: String, error: std::io::Error },
    /// The contents are not what the format says: `message` gives the record
    /// or byte offset and what was expected and found.
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}

fn shown(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn format_error(path: &Path, message: impl Into<String>) -> ImageDataError {
    ImageDataError::Format {
        path: shown(path),
        message: message.into(),
    }
}

/// The whole file, in one read.
fn read_file(path: &Path, hint: &str) -> Result<Vec<u8>, ImageDataError> {
    std::fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => ImageDataError::Missing {
            path: shown(path),
            hint: hint.into(),
        },
        _ => ImageDataError::Read {
            path: shown(path),
            error,
        },
    })
}

/// The file's bytes, decompressed when its name ends in `.gz`.
fn read_maybe_gz(path: &Path, hint: &str) -> Result<Vec<u8>, ImageDataError> {
    let bytes = read_file(path, hint)?;
    if path.extension().is_none_or(|e| e != "gz") {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4));
    GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| {
            format_error(
                path,
                format!(
                    "corrupt gzip stream ({e}) after {} decompressed bytes",
                    out.len()
                ),
            )
        })?;
    Ok(out)
}

// ---------------------------------------------------------------- CIFAR-10

/// One CIFAR-10 record: a label byte and 3 planes of 32×32 pixels.
const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
const CIFAR_HINT: &str = "run `probstab data fetch cifar10` to download CIFAR-10";

/// CIFAR-10 binary release: `dir/data_batch_1.bin` … `data_batch_5.bin` and
/// `dir/test_batch.bin`. Each record is 1 label byte (0..=9) + 3072 pixel
/// bytes (1024 R, 1024 G, 1024 B, row-major 32×32). Real files have 10000
/// records each; any positive count is accepted.
pub fn load_cifar10(dir: &Path) -> Result<ImageData, ImageDataError> {
    let mut train = cifar_set();
    for k in 1..=5 {
        read_cifar_batch(&dir.join(format!("data_batch_{k}.bin")), &mut train)?;
    }
    let mut test = cifar_set();
    read_cifar_batch(&dir.join("test_batch.bin"), &mut test)?;
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
                 at byte offset {} (truncated after record {records})",
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

// ----------------------------------------------------------- Fashion-MNIST

/// Default location of Fashion-MNIST: Debian's package `dataset-fashion-mnist`.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FASHION_HINT: &str = "nor with `.gz`; install Debian's package \
     `dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist)";
const IDX_HINT: &str = "expected an IDX file, plain or `.gz`";

/// Fashion-MNIST IDX files in `dir`: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each plain or gzipped with `.gz` (the plain file
/// wins if both exist). Images must be 3-dimensional (magic 0x00000803),
/// labels 1-dimensional (0x00000801), their counts equal and positive, labels
/// at most 9. channels = 1, classes = 10.
pub fn load_fashion_mnist(dir: &Path) -> Result<ImageData, ImageDataError> {
    Ok(ImageData {
        train: fashion_set(dir, "train")?,
        test: fashion_set(dir, "t10k")?,
    })
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

fn fashion_set(dir: &Path, prefix: &str) -> Result<ImageSet, ImageDataError> {
    let images_path = plain_or_gz(dir, &format!("{prefix}-images-idx3-ubyte"));
    let labels_path = plain_or_gz(dir, &format!("{prefix}-labels-idx1-ubyte"));
    let (dims, images) = parse_idx(&images_path, read_maybe_gz(&images_path, FASHION_HINT)?)?;
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
    let (label_dims, labels) = parse_idx(&labels_path, read_maybe_gz(&labels_path, FASHION_HINT)?)?;
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

// ---------------------------------------------------------- normalisation

/// Per-channel mean and standard deviation of a set's pixels in [0, 1] units
/// (pixel/255). The standard deviation is the population one (divide by the
/// pixel count). A constant channel has std 0, which [`batch`] would divide
/// by; an empty set gets mean 0 and std 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Exact integer sums of p and p², then mean and variance in f64.
    pub fn of(set: &ImageSet) -> Self {
        let plane = set.height * set.width;
        let mut sum = vec![0u64; set.channels];
        let mut squares = vec![0u64; set.channels];
        if plane > 0 {
            for image in set.images.chunks_exact(set.pixels()) {
                for (c, pixels) in image.chunks_exact(plane).enumerate() {
                    let (s, q) = pixels.iter().fold((0u64, 0u64), |(s, q), &p| {
                        (s + p as u64, q + p as u64 * p as u64)
                    });
                    sum[c] += s;
                    squares[c] += q;
                }
            }
        }
        let count = (set.len() * plane) as u128;
        if count == 0 {
            return Normalization {
                mean: vec![0.0; set.channels],
                std: vec![1.0; set.channels],
            };
        }
        let (n, scale) = (count as f64, 255.0 * 255.0);
        let mean = sum.iter().map(|&s| (s as f64 / n / 255.0) as f32).collect();
        let std = sum
            .iter()
            .zip(&squares)
            .map(|(&s, &q)| {
                // n·Σp² − (Σp)² ≥ 0 exactly, so no cancellation below zero.
                let spread = count * q as u128 - s as u128 * s as u128;
                (spread as f64 / (n * n * scale)).sqrt() as f32
            })
            .collect();
        Normalization { mean, std }
    }

    /// (p/255 − mean[c]) / std[c] for every byte p.
    fn table(&self, c: usize) -> [f32; 256] {
        let (mean, std) = (self.mean[c] as f64, self.std[c] as f64);
        std::array::from_fn(|p| ((p as f64 / 255.0 - mean) / std) as f32)
    }
}

// ------------------------------------------------------------ augmentation

/// Random crop with `padding` zero pixels on each side (pad in raw pixel
/// space, value 0, then crop back to H×W at a uniformly random offset in
/// 0..=2·padding per axis) and a horizontal flip with probability ½ when
/// `flip`. As torchvision's RandomCrop(padding=4) + RandomHorizontalFlip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub padding: usize,
    pub flip: bool,
}

/// Where one image lands: the crop's offset in the padded image and the flip.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Placement {
    dy: usize,
    dx: usize,
    flip: bool,
}

impl Placement {
    /// Draws, in this order: row offset, column offset (each only when
    /// padding > 0), flip (only when `augment.flip`).
    fn draw(augment: Augment, r: &mut Rng) -> Self {
        let mut offset = || match augment.padding {
            0 => 0,
            p => r.random_range(0..=2 * p),
        };
        let (dy, dx) = (offset(), offset());
        let flip = augment.flip && r.random_bool(0.5);
        Placement { dy, dx, flip }
    }
}

/// One channel of one image, padded, cropped and flipped, through `table`
/// into `out` (H×W). Padding pixels are byte 0, i.e. `table[0]`.
fn place(src: &[u8], out: &mut [f32], width: usize, pad: usize, at: Placement, table: &[f32; 256]) {
    let height = src.len() / width;
    let zero = table[0];
    let w = width as isize;
    // Source column of output column x: x + shift, or w − 1 − x + shift flipped.
    let shift = at.dx as isize - pad as isize;
    let (lo, hi) = if at.flip {
        (shift.clamp(0, w), (w + shift).clamp(0, w))
    } else {
        ((-shift).clamp(0, w), (w - shift).clamp(0, w))
    };
    for (y, row) in out.chunks_exact_mut(width).enumerate() {
        let sy = (y + at.dy).wrapping_sub(pad);
        if sy >= height || lo >= hi {
            row.fill(zero);
            continue;
        }
        let src_row = &src[sy * width..(sy + 1) * width];
        let (lo, hi) = (lo as usize, hi as usize);
        row[..lo].fill(zero);
        row[hi..].fill(zero);
        if at.flip {
            let from = (w - hi as isize + shift) as usize;
            let to = (w - lo as isize + shift) as usize;
            for (o, &p) in row[lo..hi].iter_mut().zip(src_row[from..to].iter().rev()) {
                *o = table[p as usize];
            }
        } else {
            let from = (lo as isize + shift) as usize;
            for (o, &p) in row[lo..hi].iter_mut().zip(&src_row[from..]) {
                *o = table[p as usize];
            }
        }
    }
}

/// The f32 input tensor data for images `indices` of `set`, N × C × H × W
/// row-major, each pixel (p/255 − mean[c]) / std[c]; augmented with draws
/// from `rng` when `augment` is Some (per image: row offset, column offset,
/// flip).
pub fn batch(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    augment: Option<(Augment, &mut Rng)>,
) -> Vec<f32> {
    assert!(
        norm.mean.len() == set.channels && norm.std.len() == set.channels,
        "normalisation has {} means and {} stds for {} channels",
        norm.mean.len(),
        norm.std.len(),
        set.channels
    );
    let (pixels, plane) = (set.pixels(), set.height * set.width);
    let mut out = vec![0f32; indices.len() * pixels];
    if pixels == 0 {
        return out;
    }
    let tables: Vec<[f32; 256]> = (0..set.channels).map(|c| norm.table(c)).collect();
    let mut augment = augment;
    for (dst, &i) in out.chunks_exact_mut(pixels).zip(indices) {
        let image = set.image(i);
        let channels = dst.chunks_exact_mut(plane).zip(image.chunks_exact(plane));
        match &mut augment {
            None => {
                for ((dst, src), table) in channels.zip(&tables) {
                    for (o, &p) in dst.iter_mut().zip(src) {
                        *o = table[p as usize];
                    }
                }
            }
            Some((aug, r)) => {
                let at = Placement::draw(*aug, r);
                for ((dst, src), table) in channels.zip(&tables) {
                    place(src, dst, set.width, aug.padding, at, table);
                }
            }
        }
    }
    out
}

// --------------------------------------------------------------- shuffling

/// Epoch `epoch`'s permutation of 0..n: a Fisher–Yates shuffle drawn from
/// `rng_at(seed, Stream::Shuffle, epoch)`.
pub fn permutation(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut r = rng_at(seed, Stream::Shuffle, epoch as u64);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, r.random_range(0..=i));
    }
    perm
}

/// Which training images step t uses: the training set is shuffled once per
/// epoch ([`permutation`]), the epochs' permutations are concatenated into one
/// endless sequence, and step t takes positions t·B .. (t+1)·B of it (a batch
/// may straddle two epochs). Stateless in t, so a resumed run draws exactly
/// what an uninterrupted one does; keeps the permutations of its last call.
pub struct Sampler {
    n: usize,
    batch_size: usize,
    seed: u64,
    /// (epoch, permutation) for the epochs the last call touched.
    cache: Vec<(usize, Vec<usize>)>,
}

impl Sampler {
    /// Panics if `n` or `batch_size` is 0.
    pub fn new(n: usize, batch_size: usize, seed: u64) -> Self {
        assert!(n > 0, "Sampler over an empty training set");
        assert!(batch_size > 0, "Sampler with batch size 0");
        Sampler {
            n,
            batch_size,
            seed,
            cache: Vec::new(),
        }
    }

    /// The B training indices of step `step`.
    pub fn indices(&mut self, step: usize) -> Vec<usize> {
        let (n, b) = (self.n, self.batch_size);
        let start = step.checked_mul(b).expect("step × batch size overflows");
        let end = start + b;
        let (first, last) = (start / n, (end - 1) / n);
        let mut old = std::mem::take(&mut self.cache);
        self.cache = (first..=last)
            .map(|e| match old.iter().position(|(k, _)| *k == e) {
                Some(j) => old.swap_remove(j),
                None => (e, permutation(n, self.seed, e)),
            })
            .collect();
        (start..end)
            .map(|pos| self.cache[pos / n - first].1[pos % n])
            .collect()
    }
}

// ------------------------------------------------------------- label noise

/// Static label noise: each training label is, independently with
/// probability `prob`, replaced once by a uniformly random class in
/// 0..classes (it may draw its own class, as in the paper); draws from
/// `rng(seed, Stream::StaticNoise)`. Returns how many labels changed value.
pub fn static_noise(labels: &mut [u8], classes: usize, prob: f64, seed: u64) -> usize {
    replace_labels(labels, classes, prob, &mut rng(seed, Stream::StaticNoise))
}

/// Dynamic label noise for one step: each label of the batch is replaced,
/// with probability `prob`, by a uniformly random class, drawing from `rng`.
pub fn dynamic_noise(labels: &mut [u8], classes: usize, prob: f64, rng: &mut Rng) {
    replace_labels(labels, classes, prob, rng);
}

/// Per label: a Bernoulli(prob) draw, then the class if it came up.
fn replace_labels(labels: &mut [u8], classes: usize, prob: f64, r: &mut Rng) -> usize {
    assert!(
        (1..=256).contains(&classes),
        "label noise over {classes} classes, expected 1..=256"
    );
    assert!(
        (0.0..=1.0).contains(&prob),
        "label noise probability {prob}, expected 0..=1"
    );
    let mut changed = 0;
    for label in labels {
        if r.random_bool(prob) {
            let class = r.random_range(0..classes) as u8;
            changed += usize::from(class != *label);
            *label = class;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let k = COUNT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("probstab-images-{}-{name}-{k}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

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

    fn error_text<T: std::fmt::Debug>(r: Result<T, ImageDataError>) -> String {
        r.unwrap_err().to_string()
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
            e.contains("record 1") && e.contains("100 trailing bytes"),
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

    /// 2 images, 2 channels of 1×2: channel 0 is {0, 255}, channel 1 is
    /// {0, 51, 102, 153} (0, .2, .4, .6).
    fn tiny() -> ImageSet {
        ImageSet {
            channels: 2,
            height: 1,
            width: 2,
            classes: 2,
            images: vec![0, 255, 0, 51, 255, 0, 102, 153],
            labels: vec![0, 1],
        }
    }

    #[test]
    fn normalization_of_a_tiny_set() {
        let n = Normalization::of(&tiny());
        assert!(
            (n.mean[0] - 0.5).abs() < 1e-7 && (n.std[0] - 0.5).abs() < 1e-7,
            "{n:?}"
        );
        assert!((n.mean[1] - 0.3).abs() < 1e-7, "{n:?}");
        assert!((n.std[1] - 0.05f32.sqrt()).abs() < 1e-7, "{n:?}");
        let b = batch(&tiny(), &[1, 0], &n, None);
        assert_eq!(b.len(), 8);
        assert!(
            (b[0] - 1.0).abs() < 1e-6 && (b[1] + 1.0).abs() < 1e-6,
            "{b:?}"
        );
        assert!((b[3] - (0.6 - 0.3) / 0.05f32.sqrt()).abs() < 1e-5, "{b:?}");
    }

    /// 3 images of 3 channels, 4×5, every pixel distinct within a channel and
    /// none zero.
    fn small() -> ImageSet {
        let images = (0..3 * 60).map(|v| (v % 250 + 1) as u8).collect();
        ImageSet {
            channels: 3,
            height: 4,
            width: 5,
            classes: 3,
            images,
            labels: vec![0, 1, 2],
        }
    }

    #[test]
    fn augment_without_padding_or_flip_is_the_plain_batch() {
        let (set, indices) = (small(), [2, 0, 1, 2]);
        let norm = Normalization::of(&set);
        let plain = batch(&set, &indices, &norm, None);
        let aug = Augment {
            padding: 0,
            flip: false,
        };
        let mut r = rng(3, Stream::Augment);
        assert_eq!(batch(&set, &indices, &norm, Some((aug, &mut r))), plain);
    }

    #[test]
    fn a_flip_mirrors_every_row() {
        let set = small();
        let norm = Normalization::of(&set);
        let plain = batch(&set, &[1], &norm, None);
        let table = norm.table(0);
        let mut out = vec![0.0; 20];
        let at = Placement {
            dy: 0,
            dx: 0,
            flip: true,
        };
        place(&set.image(1)[..20], &mut out, 5, 0, at, &table);
        for y in 0..4 {
            for x in 0..5 {
                assert_eq!(out[y * 5 + x], plain[y * 5 + 4 - x]);
            }
        }
        // With flip on, each image comes out plain or mirrored, both seen.
        let aug = Augment {
            padding: 0,
            flip: true,
        };
        let mut r = rng(5, Stream::Augment);
        let indices = vec![1; 64];
        let flipped = batch(&set, &indices, &norm, Some((aug, &mut r)));
        let mirrored: Vec<f32> = (0..60).map(|k| plain[k - k % 5 + 4 - k % 5]).collect();
        let mut seen = [0, 0];
        for image in flipped.chunks_exact(60) {
            match image {
                i if i == &plain[..] => seen[0] += 1,
                i if i == &mirrored[..] => seen[1] += 1,
                _ => panic!("neither plain nor mirrored: {image:?}"),
            }
        }
        assert!(seen[0] > 10 && seen[1] > 10, "{seen:?}");
    }

    #[test]
    fn extreme_crops_shift_in_zero_padding() {
        let set = small();
        let norm = Normalization::of(&set);
        let plain = batch(&set, &[0], &norm, None);
        let (pad, w) = (2, 5);
        for c in 0..3 {
            let table = norm.table(c);
            let zero = -norm.mean[c] / norm.std[c];
            assert!((table[0] - zero).abs() < 1e-6);
            let src = &set.image(0)[c * 20..(c + 1) * 20];
            let expect = |y: isize, x: isize| -> f32 {
                if (0..4).contains(&y) && (0..5).contains(&x) {
                    plain[c * 20 + y as usize * w + x as usize]
                } else {
                    table[0]
                }
            };
            for (dy, dx, flip) in [
                (0, 0, false),
                (4, 4, false),
                (0, 4, true),
                (4, 0, true),
                (1, 3, true),
            ] {
                let mut out = vec![f32::NAN; 20];
                place(src, &mut out, w, pad, Placement { dy, dx, flip }, &table);
                for y in 0..4 {
                    for x in 0..5 {
                        let sy = (y + dy) as isize - pad as isize;
                        let xx = if flip { w - 1 - x } else { x };
                        let sx = (xx + dx) as isize - pad as isize;
                        assert_eq!(
                            out[y * w + x],
                            expect(sy, sx),
                            "c{c} {dy},{dx},{flip} at {y},{x}"
                        );
                    }
                }
            }
            // Offset (0, 0): the top two rows and left two columns are padding.
            let mut out = vec![0.0; 20];
            place(
                src,
                &mut out,
                w,
                pad,
                Placement {
                    dy: 0,
                    dx: 0,
                    flip: false,
                },
                &table,
            );
            assert!(out[..10].iter().all(|&v| v == table[0]));
            assert!((0..4).all(|y| out[y * 5] == table[0] && out[y * 5 + 1] == table[0]));
        }
        let aug = Augment {
            padding: 4,
            flip: true,
        };
        let indices = [0, 1, 2, 0, 1, 2, 0];
        let a = batch(
            &set,
            &indices,
            &norm,
            Some((aug, &mut rng(9, Stream::Augment))),
        );
        let b = batch(
            &set,
            &indices,
            &norm,
            Some((aug, &mut rng(9, Stream::Augment))),
        );
        assert_eq!(a.len(), 7 * 60);
        assert_eq!(a, b);
        let c = batch(
            &set,
            &indices,
            &norm,
            Some((aug, &mut rng(10, Stream::Augment))),
        );
        assert_ne!(a, c);
    }

    #[test]
    fn every_epoch_is_a_permutation_and_steps_straddle_epochs() {
        let (n, b) = (10, 3);
        let mut s = Sampler::new(n, b, 4);
        let stream: Vec<usize> = (0..20).flat_map(|t| s.indices(t)).collect();
        assert_eq!(stream.len(), 60);
        for (e, epoch) in stream.chunks_exact(n).enumerate() {
            let mut sorted = epoch.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            assert_eq!(epoch, permutation(n, 4, e));
        }
        assert_ne!(stream[..10], stream[10..20]);
        // Step 3 takes positions 9..12: the last of epoch 0, two of epoch 1.
        assert_eq!(s.indices(3), stream[9..12]);
        for t in [0, 3, 7, 19, 6, 13] {
            assert_eq!(
                Sampler::new(n, b, 4).indices(t),
                stream[t * b..(t + 1) * b],
                "step {t}"
            );
            assert_eq!(s.indices(t), stream[t * b..(t + 1) * b], "step {t}");
        }
        // A batch larger than an epoch spans several.
        let big: Vec<usize> = Sampler::new(4, 9, 4).indices(1);
        let all: Vec<usize> = (0..5).flat_map(|e| permutation(4, 4, e)).collect();
        assert_eq!(big, all[9..18]);
    }

    #[test]
    fn static_noise_changes_about_nine_tenths_at_prob_one() {
        let clean: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
        let mut labels = clean.clone();
        assert_eq!(static_noise(&mut labels, 10, 0.0, 1), 0);
        assert_eq!(labels, clean);
        let changed = static_noise(&mut labels, 10, 1.0, 1);
        // Binomial(10000, 0.9): mean 9000, sd 30.
        assert!((8800..=9200).contains(&changed), "{changed}");
        let differ = labels.iter().zip(&clean).filter(|(a, b)| a != b).count();
        assert_eq!(differ, changed);
        assert!(labels.iter().all(|&l| l < 10));
        let mut again = clean.clone();
        assert_eq!(static_noise(&mut again, 10, 1.0, 1), changed);
        assert_eq!(again, labels);
        let mut half = clean.clone();
        let changed = static_noise(&mut half, 10, 0.5, 2);
        // Binomial(10000, 0.45): mean 4500, sd 50.
        assert!((4300..=4700).contains(&changed), "{changed}");
    }

    #[test]
    fn dynamic_noise_changes_about_nine_tenths_at_prob_one() {
        let clean: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
        let mut labels = clean.clone();
        dynamic_noise(
            &mut labels,
            10,
            0.0,
            &mut rng_at(1, Stream::DynamicNoise, 0),
        );
        assert_eq!(labels, clean);
        dynamic_noise(
            &mut labels,
            10,
            1.0,
            &mut rng_at(1, Stream::DynamicNoise, 0),
        );
        let changed = labels.iter().zip(&clean).filter(|(a, b)| a != b).count();
        assert!((8800..=9200).contains(&changed), "{changed}");
        let mut again = clean.clone();
        dynamic_noise(&mut again, 10, 1.0, &mut rng_at(1, Stream::DynamicNoise, 0));
        assert_eq!(again, labels);
    }

    #[test]
    fn truncate_keeps_the_first_images() {
        let mut set = small();
        set.truncate(5);
        assert_eq!(set, small());
        set.truncate(2);
        assert_eq!((set.len(), set.images.len()), (2, 120));
        assert_eq!(set.image(1), small().image(1));
        assert_eq!(set.labels_of(&[1, 0]), vec![1, 0]);
    }
}
