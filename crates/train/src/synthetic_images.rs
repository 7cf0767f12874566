//! Generated image sets for smoke tests and demos: a class is a colour and a
//! stripe direction under pixel noise, so a small net learns it in a few
//! dozen steps. [`write_cifar10`] stores a set in CIFAR-10's binary format,
//! which is how the pipeline is tested without the real download.

use crate::images::{ImageData, ImageSet};
use crate::rng::{Stream, rng_at};
use rand::RngExt;
use std::io::Write;
use std::path::Path;

/// `n_train` + `n_test` images of `channels × side × side` in 10 classes.
pub fn synthetic(
    channels: usize,
    side: usize,
    n_train: usize,
    n_test: usize,
    seed: u64,
) -> ImageData {
    let set = |n: usize, part: u64| {
        let mut r = rng_at(seed, Stream::TrainData, part);
        let mut images = Vec::with_capacity(n * channels * side * side);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let class: u8 = r.random_range(0..10);
            labels.push(class);
            for c in 0..channels {
                for y in 0..side {
                    for x in 0..side {
                        let stripe = if class % 2 == 0 { x } else { y };
                        let base = 40.0
                            + 18.0 * class as f64 * (1.0 + c as f64 * 0.3)
                            + if (stripe / 2) % 2 == 0 { 40.0 } else { 0.0 };
                        let noisy = base + r.random_range(-20.0..20.0);
                        images.push(noisy.clamp(0.0, 255.0) as u8);
                    }
                }
            }
        }
        ImageSet {
            channels,
            height: side,
            width: side,
            classes: 10,
            images,
            labels,
        }
    };
    ImageData::new(
        set(n_train, 0),
        set(n_test, 1),
        (0..10).map(|k| format!("class{k}")).collect(),
    )
}

/// Write `data` (3 × 32 × 32 images) in CIFAR-10's binary format:
/// `data_batch_1.bin` … `data_batch_5.bin` share the training images in
/// order, `test_batch.bin` holds the test images; each record is the label
/// byte and 3072 pixel bytes.
pub fn write_cifar10(dir: &Path, data: &ImageData) -> std::io::Result<()> {
    assert_eq!(
        (data.train.channels, data.train.height, data.train.width),
        (3, 32, 32),
        "CIFAR-10 images are 3 × 32 × 32"
    );
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, set: &ImageSet, range: std::ops::Range<usize>| {
        let mut bytes = Vec::with_capacity(range.len() * 3073);
        for i in range {
            bytes.push(set.labels[i]);
            bytes.extend_from_slice(set.image(i));
        }
        std::fs::File::create(dir.join(name))?.write_all(&bytes)
    };
    let n = data.train.len();
    for b in 0..5 {
        write(
            &format!("data_batch_{}.bin", b + 1),
            &data.train,
            b * n / 5..(b + 1) * n / 5,
        )?;
    }
    write("test_batch.bin", &data.test, 0..data.test.len())
}
