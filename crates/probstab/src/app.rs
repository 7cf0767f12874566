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
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

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

/// How often a running grid's summary, plots and report.html are refreshed
/// (when cells have finished since the last time).
pub const REFRESH: Duration = Duration::from_secs(15);

/// Run every incomplete cell of the grid, then write `summary.csv`, with
/// `draw` the experiment's `[[plot]]` figures, and `report.html`. While the
/// cells run, those are refreshed every [`REFRESH`] that saw a cell finish.
pub fn run(grid: &Grid, out: &ResultsDir, options: RunOptions, draw: bool) -> Result<RunReport> {
    let finished = AtomicUsize::new(0);
    let counts = std::thread::scope(|scope| {
        let (stop, stopped) = mpsc::channel::<()>();
        let finished = &finished;
        scope.spawn(move || {
            let mut seen = 0;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(REFRESH) {
                let now = finished.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    let (_, errors) = refresh(grid, out, draw);
                    for e in errors {
                        tracing::warn!("refresh: {e}");
                    }
                }
            }
        });
        let counts =
            runner::run_cells_counting(&grid.experiment, &grid.cells, out, options, finished);
        drop(stop);
        counts
    })?;
    let (plots, plot_errors) = refresh(grid, out, draw);
    Ok(RunReport {
        counts,
        summary: out.summary(),
        plots,
        plot_errors,
    })
}

/// Write the summary, the plots (with `draw`) and the report: the PNGs
/// drawn, and what failed.
fn refresh(grid: &Grid, out: &ResultsDir, draw: bool) -> (Vec<PathBuf>, Vec<String>) {
    let (mut plots, mut errors) = (Vec::new(), Vec::new());
    if let Err(e) = collect(out, Some(&grid.cells)) {
        errors.push(format!("summary.csv: {e:#}"));
        return (plots, errors);
    }
    for spec in grid.experiment.plots.iter().filter(|_| draw) {
        match plot(out, Some(grid), spec) {
            Ok(paths) => plots.extend(
                paths
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "png")),
            ),
            Err(e) => errors.push(format!(
                "plot {:?} failed: {e:#}",
                spec.metric.as_deref().unwrap_or("trace")
            )),
        }
    }
    if let Err(e) = crate::report::write_report(out, None) {
        errors.push(format!("report.html: {e:#}"));
    }
    (plots, errors)
}

/// What `run --dry-run` found: nothing is written.
#[derive(Debug)]
pub struct DryRun {
    pub cells: usize,
    pub complete: usize,
    pub todo: usize,
    /// The sizes of the packs the cells to run form (cells trained together).
    pub packs: Vec<usize>,
    /// Cells to run on their own.
    pub alone: usize,
    /// (axis, number of values).
    pub axes: Vec<(String, usize)>,
    pub jobs: usize,
    /// (mean seconds per cell, complete cells it is from).
    pub per_cell: Option<(f64, usize)>,
}

impl DryRun {
    /// The estimated wall time of the cells to run: their mean time times
    /// their number, over the parallel jobs.
    pub fn estimate(&self) -> Option<f64> {
        let (mean, _) = self.per_cell?;
        let units = (self.packs.len() + self.alone).max(1);
        Some(mean * self.todo as f64 / self.jobs.min(units).max(1) as f64)
    }

    /// The text `run --dry-run` prints.
    pub fn report(&self, out: &ResultsDir) -> String {
        let mut s = String::new();
        let axes: Vec<String> = self
            .axes
            .iter()
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        let _ = writeln!(
            s,
            "{} cells over {}",
            self.cells,
            if axes.is_empty() {
                "no axes".to_string()
            } else {
                axes.join(" × ")
            }
        );
        let _ = writeln!(
            s,
            "{} already complete in {}, {} to run",
            self.complete,
            out.path().display(),
            self.todo
        );
        if !self.packs.is_empty() {
            let mut sizes = self.packs.clone();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            let shown: Vec<String> = sizes.iter().take(8).map(|n| n.to_string()).collect();
            let more = if sizes.len() > 8 { ", …" } else { "" };
            let _ = writeln!(
                s,
                "packs: {} (of {}{more} cells), {} cells alone",
                self.packs.len(),
                shown.join(", "),
                self.alone
            );
        } else {
            let _ = writeln!(s, "packs: none ({} cells, each alone)", self.alone);
        }
        let _ = writeln!(s, "jobs: {} in parallel", self.jobs);
        match (self.per_cell, self.estimate()) {
            _ if self.todo == 0 => {
                let _ = writeln!(s, "estimate: nothing to run");
            }
            (Some((mean, n)), Some(total)) => {
                let _ = writeln!(
                    s,
                    "estimate: about {} ({} per cell, the mean of {n} complete cells here)",
                    crate::status::seconds_text(total),
                    short_seconds(mean)
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "estimate: none (no complete cells in {} to time)",
                    out.path().display()
                );
            }
        }
        let _ = writeln!(s, "dry run: nothing written");
        s
    }
}

/// `0.25 s`, `12 s`.
fn short_seconds(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2} s")
    } else {
        crate::status::seconds_text(x)
    }
}

/// `run --dry-run`: what a run would do, from what `out` holds; writes nothing.
pub fn dry_run(grid: &Grid, out: &ResultsDir, options: RunOptions) -> Result<DryRun> {
    let (todo, complete) = runner::pending(&grid.cells, out)?;
    let jobs = runner::group(&todo, options.pack);
    let packs: Vec<usize> = jobs
        .iter()
        .filter_map(|j| match j {
            runner::Job::Pack(p) => Some(p.len()),
            runner::Job::Single(..) => None,
        })
        .collect();
    let alone = jobs.len() - packs.len();
    let mut seconds = Vec::new();
    for cell in &grid.cells {
        if let Some(record) = out.cell(&cell.id).record()? {
            if record.status.is_complete() && record.seconds.is_finite() {
                seconds.push(record.seconds);
            }
        }
    }
    let per_cell = (!seconds.is_empty()).then(|| {
        (
            seconds.iter().sum::<f64>() / seconds.len() as f64,
            seconds.len(),
        )
    });
    Ok(DryRun {
        cells: grid.cells.len(),
        complete,
        todo: todo.len(),
        packs,
        alone,
        axes: grid
            .experiment
            .axes
            .iter()
            .map(|a| (a.path.clone(), a.values.len()))
            .collect(),
        jobs: options.jobs,
        per_cell,
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
    /// Seconds before the time limit for the warning signal.
    pub signal_grace: u32,
    /// How often a task may requeue itself.
    pub max_requeues: u32,
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
        signal_grace: options.signal_grace,
        max_requeues: options.max_requeues,
        on_gpu: grid.on_gpu(),
    };
    let (_, complete) = runner::pending(&grid.cells, out)?;
    let script = job.script()?;
    // A live run of another experiment there keeps the directory.
    crate::holders::check(out, &grid.experiment)?;
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
