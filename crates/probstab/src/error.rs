//! Configuration errors: each names the file and the key, with the line where
//! TOML gives one, or the override or grid axis that set the value.

use std::fmt;
use std::path::PathBuf;

/// Where an offending value came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The config file, at this line if known.
    File(Option<usize>),
    /// A `key=value` override on the command line.
    Override(String),
    /// A `[grid]` axis (at this line of the file, if it is there), at this value.
    Axis { value: String, line: Option<usize> },
    /// A grid axis given by a `grid.KEY=VALUES` override, at this value.
    OverrideAxis { text: String, value: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: key `{key}`{origin}: {message}")]
    Key {
        file: PathBuf,
        key: String,
        origin: OriginText,
        message: String,
    },
    #[error("override `{text}`: {message}")]
    Override { text: String, message: String },
}

/// Display wrapper for [`Origin`] inside messages.
#[derive(Debug)]
pub struct OriginText(pub Origin);

impl fmt::Display for OriginText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Origin::File(Some(line)) => write!(f, " (line {line})"),
            Origin::File(None) => Ok(()),
            Origin::Override(text) => write!(f, " (set by override `{text}`)"),
            Origin::Axis {
                value,
                line: Some(line),
            } => write!(f, " (grid axis, line {line}, at value {value})"),
            Origin::Axis { value, line: None } => write!(f, " (grid axis, at value {value})"),
            Origin::OverrideAxis { text, value } => {
                write!(f, " (grid axis set by override `{text}`, at value {value})")
            }
        }
    }
}
