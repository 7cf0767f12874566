//! Image datasets for image_classifier: CIFAR-10, CIFAR-100, Fashion-MNIST
//! and MNIST read from their binary releases and checked, folders of PNG
//! and JPEG images, burn-dataset's `Dataset` trait both ways; per-channel
//! normalisation, random crop and horizontal flip, the per-epoch shuffle,
//! and static or dynamic label noise.
//!
//! Images stay bytes (`N × C × H × W`, as CIFAR stores them) until [`batch`]
//! turns the images of one step into the `f32` data of an input tensor. Every
//! draw comes from a seeded stream of [`crate::rng`], indexed by epoch or step
//! where it must be, so a resumed run draws what an uninterrupted one does.

/// CIFAR-10's and CIFAR-100's binary releases.
mod cifar;
/// burn-dataset's `Dataset` over image sets, and image sets from one.
mod dataset;
/// A folder of PNG and JPEG images, one subfolder per class.
mod folder;
/// IDX files, Fashion-MNIST and MNIST.
mod idx;
/// Static and dynamic label noise.
mod label_noise;
/// Reading a dataset file, with errors that name it.
mod read;
/// The per-epoch shuffle and the indices of each step.
mod sampler;
/// Temporary directories and small image sets for the tests.
#[cfg(test)]
mod testing;
/// Normalisation, random crop and flip: bytes to input-tensor data.
mod transform;

pub use cifar::{
    CIFAR_RECORD, CIFAR10_FILES, CIFAR100_FILES, CIFAR100_RECORD, load_cifar10, load_cifar100,
};
pub use dataset::ImageItem;
pub use folder::{FolderOptions, load_image_folder};
pub use idx::{FASHION_MNIST_DIR, MNIST_DIR, load_fashion_mnist, load_mnist, read_idx};
pub use label_noise::{dynamic_noise, static_noise};
pub use sampler::{Sampler, permutation};
pub use transform::{Augment, Normalization, batch};

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
    /// The name of each class, in label order.
    pub class_names: Vec<String>,
    /// Images whose colour was converted on loading (grey to RGB or RGB to
    /// grey: an image folder's `channels`); 0 for the binary releases.
    pub converted: usize,
}

impl ImageData {
    /// Data with these class names and nothing converted.
    pub fn new(train: ImageSet, test: ImageSet, class_names: Vec<String>) -> Self {
        Self {
            train,
            test,
            class_names,
            converted: 0,
        }
    }
}

impl ImageSet {
    /// Images of each class, in label order.
    pub fn class_counts(&self) -> Vec<usize> {
        count_classes(&self.labels, self.classes)
    }
}

/// How many of `labels` are each of `classes` classes.
pub fn count_classes(labels: &[u8], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
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
    /// An item of an in-memory dataset that does not fit the set.
    #[error("dataset item {index}: {message}")]
    Item { index: usize, message: String },
}

#[cfg(test)]
mod tests {
    use super::testing::small;

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
