//! burn-dataset's `Dataset` trait both ways: every image set probstab reads
//! (CIFAR-10, CIFAR-100, Fashion-MNIST, MNIST, image folders) is a
//! `Dataset<ImageItem>`, so burn's transforms and data loaders take it; and
//! any in-memory burn dataset of `ImageItem`s becomes an [`ImageSet`] that
//! image_classifier trains on ([`ImageSet::from_dataset`]), checked item by
//! item.

use super::{ImageDataError, ImageSet};
use burn_dataset::{Dataset, DatasetError};

/// One image: its bytes, `C × H × W` (channel-major, as CIFAR stores them),
/// and its class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    pub image: Vec<u8>,
    pub label: usize,
}

/// An index past the end of a set.
#[derive(Debug, thiserror::Error)]
#[error("index {index} is past the end of a set of {len} images")]
struct OutOfRange {
    index: usize,
    len: usize,
}

impl Dataset<ImageItem> for ImageSet {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        if index >= ImageSet::len(self) {
            return Err(DatasetError::new(OutOfRange {
                index,
                len: ImageSet::len(self),
            }));
        }
        Ok(ImageItem {
            image: self.image(index).to_vec(),
            label: self.labels[index] as usize,
        })
    }

    fn len(&self) -> usize {
        ImageSet::len(self)
    }
}

impl ImageSet {
    /// The items of `dataset` as a set of `channels × height × width`
    /// images in `classes` classes (at most 256). An item of another size,
    /// a label out of range, an item that cannot be read, or an empty
    /// dataset is an error naming the item.
    pub fn from_dataset<D: Dataset<ImageItem> + ?Sized>(
        dataset: &D,
        channels: usize,
        height: usize,
        width: usize,
        classes: usize,
    ) -> Result<ImageSet, ImageDataError> {
        let fail = |index: usize, message: String| ImageDataError::Item { index, message };
        if !(2..=256).contains(&classes) {
            return Err(fail(
                0,
                format!("{classes} classes; a set has 2 to 256 (labels are bytes)"),
            ));
        }
        let n = dataset.len();
        if n == 0 {
            return Err(fail(0, "the dataset is empty".into()));
        }
        let pixels = channels * height * width;
        let mut set = ImageSet {
            channels,
            height,
            width,
            classes,
            images: Vec::with_capacity(n * pixels),
            labels: Vec::with_capacity(n),
        };
        for index in 0..n {
            let item = dataset
                .get(index)
                .map_err(|e| fail(index, format!("cannot be read: {e}")))?;
            if item.image.len() != pixels {
                return Err(fail(
                    index,
                    format!(
                        "{} bytes, expected {pixels} ({channels} × {height} × {width})",
                        item.image.len()
                    ),
                ));
            }
            if item.label >= classes {
                return Err(fail(
                    index,
                    format!("label {}, expected 0..={}", item.label, classes - 1),
                ));
            }
            set.images.extend_from_slice(&item.image);
            set.labels.push(item.label as u8);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::testing::small;
    use burn_dataset::InMemDataset;
    use burn_dataset::transform::{PartialDataset, ShuffledDataset};

    #[test]
    fn an_image_set_is_a_burn_dataset_and_comes_back_unchanged() {
        let set = small();
        assert_eq!(Dataset::<ImageItem>::len(&set), 3);
        let item = Dataset::get(&set, 1).unwrap();
        assert_eq!((item.image.as_slice(), item.label), (set.image(1), 1));
        let e = Dataset::<ImageItem>::get(&set, 3).unwrap_err().to_string();
        assert!(e.contains("index 3") && e.contains("3 images"), "{e}");
        let back = ImageSet::from_dataset(&set, 3, 4, 5, 3).unwrap();
        assert_eq!(back, set);
        // Through burn's own transforms: a shuffle keeps every item once.
        let shuffled = ShuffledDataset::new(set.clone(), 7);
        let again = ImageSet::from_dataset(&shuffled, 3, 4, 5, 3).unwrap();
        let mut labels = again.labels.clone();
        labels.sort();
        assert_eq!(labels, vec![0, 1, 2]);
        for i in 0..3 {
            let j = again.labels[i] as usize;
            assert_eq!(again.image(i), set.image(j));
        }
        let first_two = PartialDataset::new(set.clone(), 0, 2);
        let mut two = set.clone();
        two.truncate(2);
        assert_eq!(ImageSet::from_dataset(&first_two, 3, 4, 5, 3).unwrap(), two);
    }

    #[test]
    fn an_in_memory_dataset_is_checked_item_by_item() {
        let item = |fill: u8, label: usize| ImageItem {
            image: vec![fill; 4],
            label,
        };
        let good = InMemDataset::new(vec![item(1, 0), item(2, 1)]);
        let set = ImageSet::from_dataset(&good, 1, 2, 2, 2).unwrap();
        assert_eq!(set.images, vec![1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(set.labels, vec![0, 1]);

        let short = InMemDataset::new(vec![
            item(1, 0),
            ImageItem {
                image: vec![0; 3],
                label: 1,
            },
        ]);
        let e = ImageSet::from_dataset(&short, 1, 2, 2, 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("item 1") && e.contains("3 bytes, expected 4"),
            "{e}"
        );
        let label = InMemDataset::new(vec![item(1, 0), item(1, 5)]);
        let e = ImageSet::from_dataset(&label, 1, 2, 2, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("item 1") && e.contains("label 5"), "{e}");
        let empty = InMemDataset::<ImageItem>::new(vec![]);
        let e = ImageSet::from_dataset(&empty, 1, 2, 2, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
        let e = ImageSet::from_dataset(&good, 1, 2, 2, 300)
            .unwrap_err()
            .to_string();
        assert!(e.contains("300 classes"), "{e}");
    }
}
