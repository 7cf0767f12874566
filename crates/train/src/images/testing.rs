//! Helpers of the image tests: temporary directories, error text, a small
//! image set.

use super::{ImageDataError, ImageSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let k = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("probstab-images-{}-{name}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(super) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
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

pub(super) fn error_text<T: std::fmt::Debug>(r: Result<T, ImageDataError>) -> String {
    r.unwrap_err().to_string()
}

/// 3 images of 3 channels, 4×5, every pixel distinct within a channel and
/// none zero.
pub(super) fn small() -> ImageSet {
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
