//! The `[model]`, `[data]`, `[train]` and `[measure]` tables of the training
//! kinds: serde structs with defaults and units. Their per-kind validation
//! (a key the kind does not use is an error) is in `validate.rs`.

/// The tables: serde structs with defaults and units, and the typed values
/// their validation returns.
mod tables;
/// Per-kind checks of the tables, the limits, and [`Invalid`].
mod validate;

pub use tables::*;
pub use validate::{
    Invalid, MAX_BATCH, MAX_POINTS, MAX_STEPS, MAX_WEIGHTS, at_most, invalid, needs, required,
};
