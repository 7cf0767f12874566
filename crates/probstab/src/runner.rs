//! Run the cells of a grid that are not complete yet, in parallel, and
//! record each one atomically (DESIGN.md §3, §5).

use crate::experiment::{Cell, Experiment};
use crate::kind::{self, CellContext, CellOutput};
use crate::record::{Record, Status, metrics_to_json};
use crate::store::{CellDir, ResultsDir, write_atomic};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a run did.
#[derive(Debug, Default)]
pub struct RunCounts {
    pub skipped: usize,
    pub ok: usize,
    pub diverged: usize,
    pub failed: usize,
    /// Cells whose theory does not apply (status `n/a`).
    pub not_applicable: usize,
}

impl std::fmt::Display for RunCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let run = self.ok + self.diverged + self.failed + self.not_applicable;
        let na = match self.not_applicable {
            0 => String::new(),
            n => format!(", {n} n/a"),
        };
        write!(
            f,
            "{run} run ({} ok, {} diverged, {} failed{na}), {} already complete",
            self.ok, self.diverged, self.failed, self.skipped
        )
    }
}

/// How `run_cells` runs.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Threads.
    pub jobs: usize,
    /// Continue cells from their checkpoints.
    pub resume: bool,
    /// Train compatible two_layer cells as packed models (`train::packed`).
    pub pack: bool,
}

/// two_layer cells per pack at most: a pack's cells are written when the
/// whole pack is done, so this bounds the work a kill can lose.
pub const MAX_PACK: usize = 64;

/// Run every incomplete cell of `cells` into `out`.
pub fn run_cells(
    experiment: &Experiment,
    cells: &[Cell],
    out: &ResultsDir,
    options: RunOptions,
) -> Result<RunCounts> {
    let RunOptions { jobs, resume, pack } = options;
    create(out)?;
    let (todo, skipped) = pending(cells, out)?;
    write_experiment(experiment, out)?;
    let mut counts = RunCounts {
        skipped,
        ..RunCounts::default()
    };
    tracing::info!(
        total = cells.len(),
        complete = counts.skipped,
        to_run = todo.len(),
        jobs,
        "running grid"
    );

    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} cells, ETA {eta}")
            .expect("valid template"),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()?;
    let jobs_todo = group(&todo, pack);
    let statuses: Vec<Status> = pool
        .install(|| {
            jobs_todo
                .par_iter()
                .map(|job| {
                    let statuses = match job {
                        Job::Single(cell, config) => {
                            execute(cell, config, out, resume).map(|s| vec![s])
                        }
                        Job::Pack(pack) => execute_pack(pack, out),
                    };
                    bar.inc(job.len() as u64);
                    statuses
                })
                .collect::<Result<Vec<_>>>()
        })?
        .into_iter()
        .flatten()
        .collect();
    bar.finish_and_clear();
    for status in statuses {
        match status {
            Status::Ok => counts.ok += 1,
            Status::Diverged => counts.diverged += 1,
            Status::Failed => counts.failed += 1,
            Status::NotApplicable => counts.not_applicable += 1,
        }
    }
    Ok(counts)
}

/// Create the results directory.
pub fn create(out: &ResultsDir) -> Result<()> {
    std::fs::create_dir_all(out.path()).with_context(|| {
        format!(
            "cannot create the output directory {}",
            out.path().display()
        )
    })
}

/// Save the resolved experiment as `<out>/experiment.toml`. Left alone when
/// it already says the same, so the tasks of a job array, each running a
/// slice into one directory, do not keep rewriting it.
pub fn write_experiment(experiment: &Experiment, out: &ResultsDir) -> Result<()> {
    let path = out.experiment_file();
    let text = toml::to_string(&experiment.resolved)?;
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    write_atomic(&path, text.as_bytes())
}

/// The cells of `cells` that are not complete in `out`, each with its config
/// text, and how many are complete. A complete cell computed from a different
/// config is an error: results of two experiments never mix.
pub fn pending<'a>(
    cells: &'a [Cell],
    out: &ResultsDir,
) -> Result<(Vec<(&'a Cell, String)>, usize)> {
    let mut todo = Vec::new();
    let mut complete = 0;
    let mut conflicts = Vec::new();
    for cell in cells {
        let dir = out.cell(&cell.id);
        let config = toml::to_string(&cell.config)?;
        match dir.record()? {
            Some(record) if record.status.is_complete() => {
                let stored = std::fs::read_to_string(dir.config()).unwrap_or_default();
                if stored == config {
                    complete += 1;
                } else {
                    conflicts.push(format!(
                        "{}: {}",
                        cell.id,
                        first_difference(&stored, &config)
                    ));
                }
            }
            _ => todo.push((cell, config)),
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "{} complete cell(s) in {} were computed with a different config, e.g. {}\nUse another --out, or delete those cell directories to recompute them.",
            conflicts.len(),
            out.path().display(),
            conflicts[..conflicts.len().min(3)].join("; ")
        );
    }
    Ok((todo, complete))
}

/// A unit of work: one cell, or two_layer cells trained as one packed model
/// (a pack of one included, so that a cell's numbers never depend on which
/// cells share its run or slice).
enum Job<'a> {
    Single(&'a Cell, String),
    Pack(Vec<(&'a Cell, String)>),
}

impl Job<'_> {
    fn len(&self) -> usize {
        match self {
            Job::Single(..) => 1,
            Job::Pack(cells) => cells.len(),
        }
    }
}

/// The cells to run as jobs: one cell each, except two_layer cells that
/// share a pack key, which go together, up to [`MAX_PACK`] at a time.
fn group<'a>(todo: &[(&'a Cell, String)], pack: bool) -> Vec<Job<'a>> {
    let mut jobs = Vec::new();
    let mut packs: Vec<(String, Vec<(&Cell, String)>)> = Vec::new();
    for (cell, config) in todo {
        match cell.spec.pack_key().filter(|_| pack) {
            Some(key) => match packs
                .iter_mut()
                .find(|(k, p)| *k == key && p.len() < MAX_PACK)
            {
                Some((_, p)) => p.push((*cell, config.clone())),
                None => packs.push((key, vec![(*cell, config.clone())])),
            },
            None => jobs.push(Job::Single(cell, config.clone())),
        }
    }
    jobs.extend(packs.into_iter().map(|(_, p)| Job::Pack(p)));
    jobs
}

/// Write a cell's config before it runs; its directory.
fn prepare(cell: &Cell, config: &str, out: &ResultsDir) -> Result<CellDir> {
    let dir = out.cell(&cell.id);
    dir.remove_stale_temporaries();
    write_atomic(&dir.config(), config.as_bytes())?;
    Ok(dir)
}

/// Run one cell and write its files; `metrics.json` goes last.
fn execute(cell: &Cell, config: &str, out: &ResultsDir, resume: bool) -> Result<Status> {
    let dir = prepare(cell, config, out)?;
    let started = Instant::now();
    let context = CellContext {
        dir: &dir,
        resume,
        config_text: config,
    };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell.spec.run(&context)));
    let result = match outcome {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(panic) => Err(panic_message(panic)),
    };
    finish(cell, &dir, result, started.elapsed().as_secs_f64())
}

/// Run a pack of cells together and write each cell's files; each cell's
/// `seconds` is its share of the pack's time.
fn execute_pack(pack: &[(&Cell, String)], out: &ResultsDir) -> Result<Vec<Status>> {
    let dirs = pack
        .iter()
        .map(|(cell, config)| prepare(cell, config, out))
        .collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let specs: Vec<&kind::Spec> = pack.iter().map(|(c, _)| &c.spec).collect();
    let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind::run_pack(&specs)));
    let seconds = started.elapsed().as_secs_f64() / pack.len() as f64;
    let outputs = match outputs {
        Ok(Ok(outputs)) => Ok(outputs),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => Err(panic_message(panic)),
    };
    match outputs {
        Ok(outputs) => pack
            .iter()
            .zip(dirs)
            .zip(outputs)
            .map(|(((cell, _), dir), output)| finish(cell, &dir, Ok(output), seconds))
            .collect(),
        Err(message) => pack
            .iter()
            .zip(dirs)
            .map(|((cell, _), dir)| finish(cell, &dir, Err(message.clone()), seconds))
            .collect(),
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("panic: {message}")
}

/// Write a finished cell's trace and record (`metrics.json` last).
fn finish(
    cell: &Cell,
    dir: &CellDir,
    result: std::result::Result<CellOutput, String>,
    seconds: f64,
) -> Result<Status> {
    let (output, error) = match result {
        Ok(output) => (output, None),
        Err(e) => (failed(), Some(e)),
    };
    if let Some(e) = &error {
        tracing::warn!(cell = %cell.id, error = %e, "cell failed");
    }
    match &output.trace {
        Some(trace) => write_atomic(&dir.trace(), trace.to_csv().as_bytes())?,
        None => {
            let _ = std::fs::remove_file(dir.trace());
        }
    }
    if let Some(spectrum) = &output.spectrum {
        write_atomic(&dir.spectrum(), spectrum.to_csv().as_bytes())?;
    }
    let record = Record {
        id: cell.id.clone(),
        axes: cell
            .axes
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
        status: output.status,
        error,
        diverged_at: output.diverged_at,
        device: train::device::adapter(cell.config.backend).map(|a| a.name),
        metrics: metrics_to_json(&output.metrics),
        seconds,
        finished_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    };
    write_atomic(
        &dir.metrics(),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    // The cell is complete: its checkpoint has served (a failed cell keeps
    // it, for --resume after the cause is fixed).
    if record.status != Status::Failed {
        dir.remove_checkpoint();
    }
    Ok(record.status)
}

fn failed() -> CellOutput {
    CellOutput {
        status: Status::Failed,
        metrics: Vec::new(),
        trace: None,
        spectrum: None,
        diverged_at: None,
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::String(s) => s.clone().into(),
        other => other.to_string().into(),
    }
}

/// The first line where two config texts differ, for the conflict message.
fn first_difference(old: &str, new: &str) -> String {
    let (mut a, mut b) = (old.lines(), new.lines());
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return format!(
                    "stored `{}`, now `{}`",
                    x.unwrap_or("(nothing)"),
                    y.unwrap_or("(nothing)")
                );
            }
        }
    }
}
