//! The commands of `probstab`, as library calls: each expands its grid once
//! and hands it down. `main.rs` parses the command line and calls these.

use crate::collect::collect;
use crate::experiment::{EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME, Experiment, Grid};
use crate::plot::plot;
use crate::plot_spec::PlotSpec;
use crate::runner::{self, RunCounts, RunOptions};
use crate::slice::CellSlice;
use crate::slurm::ArrayJob;
use crate::status::GridStatus;
use crate::store::{ResultsDir, write_atomic};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The experiment named by `CONFIG [KEY=VALUE ...]` (the embedded default
/// without CONFIG), expanded, and its output directory (`out`, or
/// `results/<name>`).
pub fn load_grid(
    args: Vec<String>,
    out: Option<PathBuf>,
    backend: Option<String>,
) -> Result<(Grid, ResultsDir)> {
    // The first argument is the config unless it reads as an override.
    let (config, mut overrides) = match args.split_first() {
        Some((first, rest)) if !(first.contains('=') && !Path::new(first).exists()) => {
            (Some(PathBuf::from(first)), rest.to_vec())
        }
        _ => (None, args),
    };
    if let Some(backend) = backend {
        overrides.push(format!("backend={backend}"));
    }
    let experiment = match &config {
        Some(path) => Experiment::load(path, &overrides)?,
        None => Experiment::from_source(
            Path::new(EMBEDDED_DEFAULT_NAME),
            EMBEDDED_DEFAULT.to_string(),
            &overrides,
        )?,
    };
    let grid = Grid::new(experiment)?;
    let name = grid
        .cells
        .first()
        .map(|c| c.config.name.clone())
        .or_else(|| grid.experiment.name().map(String::from))
        .context("the experiment has no cells")?;
    let out = ResultsDir::new(out.unwrap_or_else(|| PathBuf::from("results").join(&name)));
    Ok((grid, out))
}

/// What `run` did: the counts, and where the summary went.
pub struct RunReport {
    pub counts: RunCounts,
    pub summary: PathBuf,
    /// The PNGs of the experiment's `[[plot]]` figures.
    pub plots: Vec<PathBuf>,
    /// Plots that failed, with their error (the run itself stands).
    pub plot_errors: Vec<String>,
}

/// Run every incomplete cell of the grid, then write `summary.csv` and,
/// with `draw`, the experiment's `[[plot]]` figures.
pub fn run(grid: &Grid, out: &ResultsDir, options: RunOptions, draw: bool) -> Result<RunReport> {
    let counts = runner::run_cells(&grid.experiment, &grid.cells, out, options)?;
    let (summary, _) = collect(out, Some(&grid.cells))?;
    let (mut plots, mut plot_errors) = (Vec::new(), Vec::new());
    for spec in grid.experiment.plots.iter().filter(|_| draw) {
        match plot(out, Some(grid), spec) {
            Ok(paths) => plots.extend(
                paths
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "png")),
            ),
            Err(e) => plot_errors.push(format!(
                "plot {:?} failed: {e:#}",
                spec.metric.as_deref().unwrap_or("trace")
            )),
        }
    }
    Ok(RunReport {
        counts,
        summary,
        plots,
        plot_errors,
    })
}

/// `run --cells i..j`: one task of a job array. Many such runs write into
/// one directory at once, so none of them writes summary.csv or plots (a
/// summary written by one task could miss cells another task finishes at
/// the same moment): `probstab collect DIR` merges once the grid is
/// complete. Returns the range run and the counts.
pub fn run_slice(
    grid: &Grid,
    out: &ResultsDir,
    options: RunOptions,
    slice: CellSlice,
) -> Result<(std::ops::Range<usize>, RunCounts)> {
    let range = slice.range(grid.cells.len())?;
    // Complete cells outside the slice are checked too: two slices run with
    // different configs into one directory would otherwise mix results.
    runner::pending(&grid.cells, out)?;
    let counts = runner::run_cells(&grid.experiment, &grid.cells[range.clone()], out, options)?;
    Ok((range, counts))
}

/// What `slurm` wrote.
pub struct SlurmReport {
    pub script: PathBuf,
    pub complete: usize,
    pub tasks: usize,
    pub warnings: Vec<String>,
}

/// The sbatch options of `probstab slurm`.
pub struct SlurmOptions {
    pub cells_per_task: usize,
    pub max_parallel: Option<usize>,
    pub cpus_per_task: usize,
    pub partition: Option<String>,
    pub time: Option<String>,
    pub gpus: Option<String>,
    /// Extra `#SBATCH` lines.
    pub extra: Vec<String>,
}

/// Write the sbatch script that runs the grid as a job array of this
/// binary, and the resolved experiment its tasks run.
pub fn slurm(grid: &Grid, out: &ResultsDir, options: SlurmOptions) -> Result<SlurmReport> {
    let job = ArrayJob {
        name: grid
            .cells
            .first()
            .map(|c| c.config.name.clone())
            .unwrap_or_default(),
        probstab: std::env::current_exe().context("cannot find the probstab binary")?,
        out: ResultsDir::new(crate::slurm::absolute(out.path())?),
        workdir: std::env::current_dir().context("cannot read the working directory")?,
        total: grid.cells.len(),
        cells_per_task: options.cells_per_task,
        max_parallel: options.max_parallel,
        cpus_per_task: options.cpus_per_task,
        partition: options.partition,
        time: options.time,
        gpus: options.gpus,
        extra: options.extra,
    };
    let (_, complete) = runner::pending(&grid.cells, out)?;
    let script = job.script()?;
    runner::create(out)?;
    runner::write_experiment(&grid.experiment, out)?;
    let path = job.script_path();
    write_atomic(&path, script.as_bytes())?;
    Ok(SlurmReport {
        script: path,
        complete,
        tasks: job.tasks(),
        warnings: job.warnings(),
    })
}

/// `status DIR`.
pub fn status(dir: &ResultsDir) -> Result<GridStatus> {
    crate::status::status(dir)
}

/// `plot DIR`: the figures of `specs`, or the experiment's own `[[plot]]`
/// figures when `specs` is empty. Returns every file written.
pub fn plot_dir(dir: &ResultsDir, specs: Vec<PlotSpec>) -> Result<Vec<PathBuf>> {
    let grid = Grid::of_existing(dir)?;
    let specs = if specs.is_empty() {
        let path = dir.experiment_file();
        let Some(grid) = grid.as_ref() else {
            // No experiment file: the error of reading it.
            Experiment::load(&path, &[])?;
            anyhow::bail!("cannot read {}", path.display());
        };
        if grid.experiment.plots.is_empty() {
            anyhow::bail!(
                "{} has no [[plot]] tables; say what to draw with --metric COLUMN or --trace COLUMNS",
                path.display()
            );
        }
        grid.experiment.plots.clone()
    } else {
        specs
    };
    let mut written = Vec::new();
    for spec in &specs {
        written.extend(plot(dir, grid.as_ref(), spec)?);
    }
    Ok(written)
}

/// `collect DIR`: the summary's path, its cells and the unfinished ones.
pub fn collect_dir(dir: &ResultsDir) -> Result<(PathBuf, usize, usize)> {
    let grid = Grid::of_existing(dir)?;
    let (path, summary) = collect(dir, grid.as_ref().map(|g| &g.cells[..]))?;
    Ok((path, summary.records.len(), summary.missing.len()))
}
