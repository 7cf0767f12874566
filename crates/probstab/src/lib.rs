//! probstab's engine: experiment files and their grids, the kinds, the
//! results directory, the runner, the plots and the Slurm scripts. The
//! `probstab` binary (`main.rs`) is its command line.

/// The commands of the binary, as library calls.
pub mod app;
/// `summary.csv` from the cell records.
pub mod collect;
/// `compare`: measured against predicted per cell, with verdict scores.
pub mod compare;
/// The experiment schema, one struct per TOML table.
pub mod config;
/// docs/kinds.md, generated from the kinds' declarations.
pub mod docs;
/// Configuration errors that name the file, key and line.
pub mod error;
/// Experiment files: overrides, grid expansion into validated cells.
pub mod experiment;
/// `probstab data fetch`: download, verify and unpack a data set.
pub mod fetch;
/// `[grid]` axes and cell names.
pub mod grid;
/// Which experiment a results directory is busy with.
pub mod holders;
/// `report.html`: the one self-contained page of a results directory.
pub mod html_report;
/// The plug a kind is: the `Kind` trait and its type-erased spec.
pub mod kind;
/// The registry of kinds, one file each.
pub mod kinds;
/// Claims and heartbeats of running cells.
pub mod live;
/// A training cell's live trace.csv.
pub mod live_trace;
/// Heatmaps and lines from a results directory.
pub mod plot;
/// The axes of a heatmap: numeric or text.
pub mod plot_axis;
/// `[[plot]]` specs and their checks.
pub mod plot_spec;
/// Trace plots (Fig. 6) from a results directory.
pub mod plot_trace;
/// What produced a result: build, command, host, times.
pub mod provenance;
/// Cell records (`metrics.json`) and metric values.
pub mod record;
/// `reduce = "mean"`: a metric over seeds as mean ± standard error (or a
/// binomial interval), and the reduced table beside the figure.
pub mod reduce;
/// `probstab report DIR`: gather a results directory into report.html.
pub mod report;
/// Parallel, resumable execution of cells.
pub mod runner;
/// `--cells i..j`: a slice of a grid's cells.
pub mod slice;
/// Job-array scripts for Slurm (`probstab slurm`).
pub mod slurm;
/// Complete, failed and missing cells of a results directory.
pub mod status;
/// Stopping on a signal (checkpoints first) and requeueing a Slurm task.
pub mod stop;
/// The results directory: every path in it, and atomic writes.
pub mod store;
/// Per-step tables (`trace.csv`) and which steps they keep.
pub mod trace;
/// `probstab traces DIR`: every cell's trace in one long table.
pub mod traces;

pub use error::ConfigError;
pub use experiment::{Cell, Experiment, Grid};
pub use kind::{Kind, Spec};
pub use store::ResultsDir;
