//! `probstab`: run config-driven grids for the probabilistic stability of
//! SGD, collect their results and plot them (DESIGN.md).

/// `summary.csv` from the cell records.
mod collect;
/// The experiment schema, one struct per TOML table.
mod config;
/// Configuration errors that name the file, key and line.
mod error;
/// Experiment files: overrides, grid expansion into cells.
mod experiment;
/// `probstab data fetch`: download, verify and unpack a data set.
mod fetch;
/// `[grid]` axes and cell names.
mod grid;
/// Metrics of the image_classifier kind.
mod image_classifier;
/// What each kind computes.
mod kinds;
/// Heatmaps and lines from a results directory.
mod plot;
mod plot_axis;
/// `[[plot]]` specs and their checks.
mod plot_spec;
/// Trace plots (Fig. 6) from a results directory.
mod plot_trace;
/// Cell records (`metrics.json`) and metric values.
mod record;
/// Parallel, resumable execution of cells.
mod runner;
/// `--cells i..j`: a slice of a grid's cells.
mod slice;
/// Job-array scripts for Slurm (`probstab slurm`).
mod slurm;
/// Complete, failed and missing cells of a results directory.
mod status;
/// The results directory and atomic writes.
mod store;
/// The 1-D saddle theory over two_layer heatmaps (Fig. 7's red line).
mod theory_overlay;
/// Per-step tables (`trace.csv`) and which steps they keep.
mod trace;

use anyhow::{Context, Result};
use clap::{ArgAction, Parser, Subcommand};
use experiment::{EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_NAME, Experiment};
use plot::PlotSpec;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "probstab",
    version,
    about = "Grids, theory and heatmaps for the probabilistic stability of SGD"
)]
struct Cli {
    /// More log output on stderr (-v: info, -vv: debug); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// `probstab run`'s arguments.
#[derive(clap::Args)]
struct RunArgs {
    /// The experiment TOML, then KEY=VALUE overrides.
    #[arg(value_name = "CONFIG [KEY=VALUE ...]")]
    args: Vec<String>,
    /// Output directory. Default: results/<name>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cells run in parallel. Default: the number of cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Device for training kinds (same as backend=...): cpu or wgpu.
    #[arg(long)]
    backend: Option<String>,
    /// Do not render the experiment's [[plot]] figures after the run.
    #[arg(long)]
    no_plot: bool,
    /// Run only cells i..j of the grid: 0-based, j excluded (i..=j includes
    /// it), in the grid's order (the last axis varies fastest). A sliced run
    /// writes no summary.csv and no plots: `probstab collect DIR` merges.
    #[arg(long, value_name = "i..j")]
    cells: Option<slice::CellSlice>,
    /// Continue unfinished cells from their checkpoints (image_classifier
    /// with train.checkpoint_every). Without it a checkpoint is ignored
    /// and the cell starts over.
    #[arg(long)]
    resume: bool,
    /// Train each two_layer cell on its own through burn's autodiff,
    /// instead of packing cells that share shapes and plain SGD into one
    /// stacked model with a fused step (same numbers to float rounding).
    #[arg(long)]
    no_pack: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Expand CONFIG's grid and run every cell that is not complete yet.
    ///
    /// Without CONFIG, runs the embedded default (Fig. 3, λ–μ phase diagram).
    /// KEY=VALUE overrides use the config's dotted keys (saddle.lr=0.5,
    /// grid.saddle.mu=[0.1,0.2]); overriding a swept key pins it.
    Run(RunArgs),
    /// Write an sbatch script that runs CONFIG's grid as a Slurm job array,
    /// each task a slice of cells; --submit submits it.
    ///
    /// The tasks run `probstab run DIR/experiment.toml --out DIR --cells i..j`
    /// (the experiment as resolved now). Follow with `probstab status DIR`;
    /// merge with `probstab collect DIR`.
    Slurm {
        /// The experiment TOML, then KEY=VALUE overrides.
        #[arg(value_name = "CONFIG [KEY=VALUE ...]")]
        args: Vec<String>,
        /// Output directory. Default: results/<name>.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cells per array task.
        #[arg(long, default_value_t = 100)]
        cells_per_task: usize,
        /// Run at most N tasks at once (--array=0-K%N).
        #[arg(long, value_name = "N")]
        max_parallel: Option<usize>,
        /// Cores per task; each task runs that many cells in parallel.
        #[arg(long, default_value_t = 1)]
        cpus_per_task: usize,
        /// Slurm partition.
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per task (sbatch --time: 30, 2:00:00, 1-0).
        #[arg(long)]
        time: Option<String>,
        /// GPUs per task (sbatch --gpus: 1, a100:2).
        #[arg(long)]
        gpus: Option<String>,
        /// Another #SBATCH line, e.g. --sbatch=--account=foo (repeatable).
        #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
        sbatch: Vec<String>,
        /// Device for training kinds (same as backend=...): cpu or wgpu.
        #[arg(long)]
        backend: Option<String>,
        /// Submit the script with sbatch and print the job id.
        #[arg(long)]
        submit: bool,
    },
    /// Count the complete (ok, diverged), failed and missing cells of a
    /// results directory and list the missing ones. Exits 0 when every cell
    /// of the grid is complete, 1 otherwise.
    Status {
        dir: PathBuf,
        /// List every missing and failed cell, not only the first 20.
        #[arg(long)]
        all: bool,
    },
    /// Plot a results directory: a heatmap of --metric over two axes, or the
    /// experiment's own [[plot]] figures when neither --metric nor --trace is given.
    Plot {
        dir: PathBuf,
        #[command(flatten)]
        args: plot_spec::PlotArgs,
    },
    /// Rebuild DIR/summary.csv from the cell directories.
    Collect { dir: PathBuf },
    /// Data sets for the training kinds: `probstab data fetch cifar10`.
    Data {
        #[command(subcommand)]
        command: fetch::DataCommand,
    },
}

fn main() -> ExitCode {
    // burn loads optimizer checkpoints onto its default device, which is wgpu
    // when that is compiled in, and panics where there is no adapter; the
    // state moves to the parameters' device at the next step anyway.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<error::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_logging(verbose: u8) {
    // -v and -vv raise probstab's own crates; burn and cubecl stay at warn
    // (their info lines are one per autotuned kernel). RUST_LOG overrides.
    let level = match verbose {
        0 => "warn",
        1 => "warn,probstab=info,train=info,models=info,analysis=info",
        _ => "warn,probstab=debug,train=debug,models=debug,analysis=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run(args),
        Command::Slurm {
            args,
            out,
            cells_per_task,
            max_parallel,
            cpus_per_task,
            partition,
            time,
            gpus,
            sbatch,
            backend,
            submit,
        } => {
            let (experiment, cells, out) = load_grid(args, out, backend)?;
            let (_, complete) = runner::pending(&cells, &out)?;
            let job = slurm::ArrayJob {
                name: cells[0].config.name.clone(),
                probstab: std::env::current_exe().context("cannot find the probstab binary")?,
                out: slurm::absolute(&out)?,
                workdir: std::env::current_dir().context("cannot read the working directory")?,
                total: cells.len(),
                cells_per_task,
                max_parallel,
                cpus_per_task,
                partition,
                time,
                gpus,
                extra: sbatch,
            };
            let script = job.script()?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create the output directory {}", out.display()))?;
            runner::write_experiment(&experiment, &out)?;
            let path = job.script_path();
            store::write_atomic(&path, script.as_bytes())?;
            for warning in job.warnings() {
                eprintln!("warning: {warning}");
            }
            println!(
                "{} cells ({complete} already complete), {} tasks of up to {cells_per_task} cells",
                cells.len(),
                job.tasks()
            );
            println!("script: {}", path.display());
            if submit {
                let id = slurm::submit(&path)?;
                println!(
                    "submitted job array {id}; follow it with: probstab status {}",
                    out.display()
                );
            } else {
                println!("submit it with: sbatch {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { dir, all } => {
            let status = status::status(&dir)?;
            print!("{}", status.report(&dir, all));
            Ok(if status.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plot { dir, args } => {
            let specs = if args.metric.is_none() && args.trace.is_none() {
                experiment_plots(&dir)?
            } else {
                vec![args.into_spec()?]
            };
            for spec in &specs {
                for path in plot::plot(&dir, spec)? {
                    println!("{}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect { dir } => {
            let (path, summary) = collect::collect(&dir)?;
            println!(
                "{} ({} cells, {} unfinished)",
                path.display(),
                summary.records.len(),
                summary.missing.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command } => fetch::run(command),
    }
}

/// The experiment named by `CONFIG [KEY=VALUE ...]` (the embedded default
/// without CONFIG), its cells and the output directory.
fn load_grid(
    args: Vec<String>,
    out: Option<PathBuf>,
    backend: Option<String>,
) -> Result<(Experiment, Vec<experiment::Cell>, PathBuf)> {
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
    let cells = experiment.cells()?;
    let name = cells
        .first()
        .map(|c| c.config.name.clone())
        .or_else(|| experiment.name().map(String::from))
        .context("the experiment has no cells")?;
    let out = out.unwrap_or_else(|| PathBuf::from("results").join(&name));
    Ok((experiment, cells, out))
}

fn run(run_args: RunArgs) -> Result<ExitCode> {
    let RunArgs {
        args,
        out,
        jobs,
        backend,
        no_plot,
        cells: slice,
        resume,
        no_pack,
    } = run_args;
    let (experiment, cells, out) = load_grid(args, out, backend)?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let jobs = jobs.unwrap_or(cores);
    if jobs == 0 || jobs > 64 * cores {
        anyhow::bail!(
            "--jobs {jobs}: give 1 to {} (this machine has {cores} cores)",
            64 * cores
        );
    }
    let options = runner::RunOptions {
        jobs,
        resume,
        pack: !no_pack,
    };
    if let Some(slice) = slice {
        return run_slice(&experiment, &cells, &out, options, slice);
    }
    let counts = runner::run_cells(&experiment, &cells, &out, options)?;
    let (summary, _) = collect::collect(&out)?;
    println!("{} cells: {counts}", cells.len());
    println!("summary: {}", summary.display());
    if !no_plot {
        for spec in &experiment.plots {
            match plot::plot(&out, spec) {
                Ok(paths) => paths
                    .iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "png"))
                    .for_each(|p| println!("plot: {}", p.display())),
                Err(e) => eprintln!(
                    "warning: plot {:?} failed: {e:#}",
                    spec.metric.as_deref().unwrap_or("trace")
                ),
            }
        }
    }
    if counts.failed > 0 {
        eprintln!(
            "error: {} cell(s) failed; their errors are in {} (status = failed); rerun to retry them",
            counts.failed,
            summary.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `run --cells i..j`: one task of a job array. Many such runs write into one
/// directory at once, so none of them writes summary.csv or plots (a summary
/// written by one task could miss cells another task finishes at the same
/// moment): `probstab collect DIR` merges once the grid is complete.
fn run_slice(
    experiment: &Experiment,
    cells: &[experiment::Cell],
    out: &Path,
    options: runner::RunOptions,
    slice: slice::CellSlice,
) -> Result<ExitCode> {
    let range = slice.range(cells.len())?;
    let counts = runner::run_cells(experiment, &cells[range.clone()], out, options)?;
    println!(
        "cells {}..{} of {}: {counts}",
        range.start,
        range.end,
        cells.len()
    );
    println!("merge with: probstab collect {}", out.display());
    if counts.failed > 0 {
        eprintln!(
            "error: {} cell(s) failed; `probstab status {}` lists them; rerun to retry them",
            counts.failed,
            out.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `[[plot]]` specs saved with a results directory.
fn experiment_plots(dir: &Path) -> Result<Vec<PlotSpec>> {
    let path = dir.join("experiment.toml");
    let experiment = Experiment::load(&path, &[])?;
    if experiment.plots.is_empty() {
        anyhow::bail!(
            "{} has no [[plot]] tables; say what to draw with --metric COLUMN or --trace COLUMNS",
            path.display()
        );
    }
    Ok(experiment.plots)
}
