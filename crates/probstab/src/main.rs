//! `probstab`: run config-driven grids for the probabilistic stability of
//! SGD, collect their results and plot them (DESIGN.md). The clap structs
//! and a dispatch into the library (`probstab::app`).

use anyhow::Result;
use clap::{ArgAction, Parser, Subcommand};
use probstab::runner::RunOptions;
use probstab::{ResultsDir, app, fetch, plot_spec, slice, slurm};
use std::io::Write;
use std::path::PathBuf;
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
    /// Cells run in parallel. Default: the number of cores; on wgpu, the
    /// number of GPUs this task is given (CUDA_VISIBLE_DEVICES or Slurm's
    /// variables; 1 where none says).
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
    /// Print the cells, packs, axes and a time estimate (from the cells
    /// already complete in the output directory), and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// In a Slurm task: on SIGUSR1 (the warning `probstab slurm` asks for
    /// before the time limit) checkpoint, stop and requeue this task with
    /// `scontrol requeue`, unless Slurm has restarted it N times already.
    /// Without it (and on SIGTERM or Ctrl-C) a signal checkpoints and stops
    /// the run with exit status 75; rerun with --resume to continue.
    #[arg(long, value_name = "N")]
    requeue: Option<u32>,
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
        /// Seconds before the time limit at which Slurm sends SIGUSR1: the
        /// task checkpoints its image cells, stops and requeues itself.
        #[arg(long, value_name = "SECONDS", default_value_t = slurm::DEFAULT_SIGNAL_GRACE)]
        signal_grace: u32,
        /// How often a task may requeue itself at its time limit.
        #[arg(long, value_name = "N", default_value_t = slurm::DEFAULT_MAX_REQUEUES)]
        max_requeues: u32,
        /// Device for training kinds (same as backend=...): cpu or wgpu.
        #[arg(long)]
        backend: Option<String>,
        /// Submit the script with sbatch and print the job id.
        #[arg(long)]
        submit: bool,
    },
    /// Count the complete (ok, diverged, n/a), failed and missing cells of a
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
    /// Every cell's trace.csv in one long table, DIR/traces.csv: the cell's
    /// id and axis columns, its status, then the trace columns. Running
    /// cells are in it as far as their live trace got.
    Traces {
        dir: PathBuf,
        /// Keep cells with this axis value: --where train.lr=0.1 (repeatable, one per axis).
        #[arg(long = "where", value_name = "AXIS=VALUE")]
        filter: Vec<String>,
        /// Keep these trace columns (comma-separated; `step` always).
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// Write here instead of DIR/traces.csv.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write DIR/report.html: one self-contained page with the experiment,
    /// counts by status, provenance, every plot, the trace curves and the
    /// sortable summary table. `probstab run` keeps it up to date.
    Report {
        dir: PathBuf,
        /// Write here instead of DIR/report.html.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measured against predicted, cell by cell: a two_layer results
    /// directory and its two_layer_theory twin (`run X.toml
    /// kind=two_layer_theory`). Writes THEORY/compare/METRIC_vs_VS.csv, the
    /// scores (_scores.csv) and a scatter plot (.png, .svg); scores the
    /// 1-D κ line beside the prediction.
    Compare {
        experiment: PathBuf,
        theory: PathBuf,
        /// The measured column.
        #[arg(long, default_value = "rank_w2")]
        metric: String,
        /// The predicted column.
        #[arg(long, default_value = "predicted_rank_at_steps")]
        vs: String,
        /// The verdict's margin: a cell has collapsed when its rank is below
        /// min(d, h) − k (the table shows k = 0, 1, 2, 4, 8, 16 as well).
        #[arg(long, default_value_t = 2)]
        k: usize,
        /// κ of the 1-D line, λ₁ = κλ (default 2 for `mean`, d for `half_sum`).
        #[arg(long)]
        theory_lr_scale: Option<f64>,
        /// Directory for the files (default THEORY/compare).
        #[arg(long)]
        out: Option<PathBuf>,
    },
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
            if e.downcast_ref::<probstab::ConfigError>().is_some() {
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
            signal_grace,
            max_requeues,
            backend,
            submit,
        } => {
            let (grid, out) = app::load_grid(args, out, backend)?;
            let options = app::SlurmOptions {
                cells_per_task,
                max_parallel,
                cpus_per_task,
                partition,
                time,
                gpus,
                extra: sbatch,
                signal_grace,
                max_requeues,
            };
            let report = app::slurm(&grid, &out, options)?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "{} cells ({} already complete), {} tasks of up to {cells_per_task} cells",
                grid.cells.len(),
                report.complete,
                report.tasks
            );
            let path = &report.script;
            println!("script: {}", path.display());
            if submit {
                let id = slurm::submit(path)?;
                println!(
                    "submitted job array {id}; follow it with: probstab status {}",
                    out.path().display()
                );
            } else {
                println!("submit it with: sbatch {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { dir, all } => {
            let status = app::status(&ResultsDir::new(&dir))?;
            print!("{}", status.report(&dir, all));
            Ok(if status.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plot { dir, args } => {
            let specs = if args.metric.is_none() && args.trace.is_none() {
                Vec::new()
            } else {
                vec![args.into_spec()?]
            };
            for path in app::plot_dir(&ResultsDir::new(dir), specs)? {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Traces {
            dir,
            filter,
            columns,
            out,
        } => {
            let options = probstab::traces::TracesOptions {
                filter: plot_spec::parse_where(&filter)?,
                columns,
                out,
            };
            let table = probstab::traces::traces(&ResultsDir::new(dir), &options)?;
            println!(
                "{} ({} rows from {} cells)",
                table.path.display(),
                table.rows,
                table.cells
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { dir, out } => {
            let path = probstab::report::write_report(&ResultsDir::new(dir), out)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect { dir } => {
            let (path, cells, unfinished) = app::collect_dir(&ResultsDir::new(dir))?;
            println!(
                "{} ({cells} cells, {unfinished} unfinished)",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare {
            experiment,
            theory,
            metric,
            vs,
            k,
            theory_lr_scale,
            out,
        } => {
            let options = probstab::compare::CompareOptions {
                metric,
                vs,
                margin: k,
                theory_lr_scale,
                out,
            };
            let comparison = probstab::compare::compare(
                &ResultsDir::new(experiment),
                &ResultsDir::new(theory),
                &options,
            )?;
            print!("{}", comparison.report(&options));
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command } => fetch::run(command),
    }
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
        dry_run,
        requeue,
    } = run_args;
    let (grid, out) = app::load_grid(args, out, backend)?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let jobs = match (jobs, grid.on_gpu()) {
        (Some(jobs), _) => jobs,
        // As many cells as GPUs given (1 for a task with one GPU), not one
        // per core; a process trains on one GPU (docs/gpu.md).
        (None, true) => train::device::visible_gpus().unwrap_or(1).max(1),
        (None, false) => cores,
    };
    if jobs == 0 || jobs > 64 * cores {
        anyhow::bail!(
            "--jobs {jobs}: give 1 to {} (this machine has {cores} cores)",
            64 * cores
        );
    }
    let options = RunOptions {
        jobs,
        resume,
        pack: !no_pack,
    };
    if dry_run {
        let grid = match slice {
            Some(slice) => {
                let range = slice.range(grid.cells.len())?;
                probstab::Grid {
                    cells: grid.cells[range].to_vec(),
                    ..grid
                }
            }
            None => grid,
        };
        print!("{}", app::dry_run(&grid, &out, options)?.report(&out));
        return Ok(ExitCode::SUCCESS);
    }
    let policy = probstab::stop::StopPolicy {
        out: out.clone(),
        requeue,
    };
    probstab::stop::install(policy.clone())?;
    // Printed without panicking on a closed or full stdout: a stopped run
    // must still get to its stop line and requeue.
    let print = |line: String| {
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    let (counts, lines, hint) = match slice {
        Some(slice) => {
            let (range, counts) = app::run_slice(&grid, &out, options, slice)?;
            let n = grid.cells.len();
            let lines = vec![
                format!("cells {}..{} of {n}: {counts}", range.start, range.end),
                format!("merge with: probstab collect {}", out.path().display()),
            ];
            let hint = format!("`probstab status {}` lists them", out.path().display());
            (counts, lines, hint)
        }
        None => {
            let report = app::run(&grid, &out, options, !no_plot)?;
            let mut lines = vec![
                format!("{} cells: {}", grid.cells.len(), report.counts),
                format!("summary: {}", report.summary.display()),
            ];
            lines.extend(
                report
                    .plots
                    .iter()
                    .map(|p| format!("plot: {}", p.display())),
            );
            for e in &report.plot_errors {
                let _ = writeln!(std::io::stderr(), "warning: {e}");
            }
            let hint = format!(
                "their errors are in {} (status = failed)",
                report.summary.display()
            );
            (report.counts, lines, hint)
        }
    };
    if probstab::stop::signal().is_some() {
        let unfinished = counts.interrupted > 0;
        if let Some(code) = probstab::stop::end(&policy, "the run wound up", unfinished) {
            lines.into_iter().for_each(print);
            return Ok(ExitCode::from(code as u8));
        }
    }
    lines.into_iter().for_each(print);
    let failed = counts.failed;
    if failed > 0 {
        eprintln!("error: {failed} cell(s) failed; {hint}; rerun to retry them");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
