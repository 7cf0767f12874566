//! Reading a dataset file whole (gunzipped when its name ends in `.gz`), and
//! the errors that name it.

use super::ImageDataError;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

pub(super) fn shown(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

pub(super) fn format_error(path: &Path, message: impl Into<String>) -> ImageDataError {
    ImageDataError::Format {
        path: shown(path),
        message: message.into(),
    }
}

/// The whole file, in one read.
pub(super) fn read_file(path: &Path, hint: &str) -> Result<Vec<u8>, ImageDataError> {
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
pub(super) fn read_maybe_gz(path: &Path, hint: &str) -> Result<Vec<u8>, ImageDataError> {
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
