//! Run the cells of a grid that are not complete yet, in parallel, and
//! record each one atomically (DESIGN.md §3, §5).

use crate::experiment::{Cell, Experiment};
use crate::kinds::{self, CellOutput};
use crate::record::{Record, Status, metrics_to_json};
use crate::store::{
    CONFIG, METRICS, TRACE, cell_dir, read_record, remove_stale_temporaries, write_atomic,
};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a run did.
#[derive(Debug, Default)]
pub struct RunCounts {
    pub skipped: usize,
    pub ok: usize,
    pub diverged: usize,
    pub failed: usize,
}

impl std::fmt::Display for RunCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let run = self.ok + self.diverged + self.failed;
        write!(
            f,
            "{run} run ({} ok, {} diverged, {} failed), {} already complete",
            self.ok, self.diverged, self.failed, self.skipped
        )
    }
}

/// Run every incomplete cell of `cells` into `out` with `jobs` threads,
/// continuing cells from their checkpoints when `resume`.
pub fn run_cells(
    experiment: &Experiment,
    cells: &[Cell],
    out: &Path,
    jobs: usize,
    resume: bool,
) -> Result<RunCounts> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
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
    let statuses: Vec<Status> = pool.install(|| {
        todo.par_iter()
            .map(|(cell, config)| {
                let status = execute(cell, config, out, resume);
                bar.inc(1);
                status
            })
            .collect::<Result<Vec<_>>>()
    })?;
    bar.finish_and_clear();
    for status in statuses {
        match status {
            Status::Ok => counts.ok += 1,
            Status::Diverged => counts.diverged += 1,
            Status::Failed => counts.failed += 1,
        }
    }
    Ok(counts)
}

/// Save the resolved experiment as `<out>/experiment.toml`. Left alone when
/// it already says the same, so the tasks of a job array, each running a
/// slice into one directory, do not keep rewriting it.
pub fn write_experiment(experiment: &Experiment, out: &Path) -> Result<()> {
    let path = out.join("experiment.toml");
    let text = toml::to_string(&experiment.resolved)?;
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    write_atomic(&path, text.as_bytes())
}

/// The cells of `cells` that are not complete in `out`, each with its config
/// text, and how many are complete. A complete cell computed from a different
/// config is an error: results of two experiments never mix.
pub fn pending<'a>(cells: &'a [Cell], out: &Path) -> Result<(Vec<(&'a Cell, String)>, usize)> {
    let mut todo = Vec::new();
    let mut complete = 0;
    let mut conflicts = Vec::new();
    for cell in cells {
        let dir = cell_dir(out, &cell.id);
        let config = toml::to_string(&cell.config)?;
        match read_record(&dir)? {
            Some(record) if record.status.is_complete() => {
                let stored = std::fs::read_to_string(dir.join(CONFIG)).unwrap_or_default();
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
            out.display(),
            conflicts[..conflicts.len().min(3)].join("; ")
        );
    }
    Ok((todo, complete))
}

/// Run one cell and write its files; `metrics.json` goes last.
fn execute(cell: &Cell, config: &str, out: &Path, resume: bool) -> Result<Status> {
    let dir = cell_dir(out, &cell.id);
    remove_stale_temporaries(&dir);
    write_atomic(&dir.join(CONFIG), config.as_bytes())?;
    let started = Instant::now();
    let context = kinds::CellContext {
        dir: &dir,
        resume,
        config_text: config,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kinds::run(&cell.config, &context)
    }));
    let (output, error) = match outcome {
        Ok(Ok(output)) => (output, None),
        Ok(Err(e)) => (failed(), Some(format!("{e:#}"))),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (failed(), Some(format!("panic: {message}")))
        }
    };
    if let Some(e) = &error {
        tracing::warn!(cell = %cell.id, error = %e, "cell failed");
    }
    match &output.trace {
        Some(trace) => write_atomic(&dir.join(TRACE), trace.to_csv().as_bytes())?,
        None => {
            let _ = std::fs::remove_file(dir.join(TRACE));
        }
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
        metrics: metrics_to_json(&output.metrics),
        seconds: started.elapsed().as_secs_f64(),
        finished_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    };
    write_atomic(
        &dir.join(METRICS),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    // The cell is complete: its checkpoint has served (a failed cell keeps
    // it, for --resume after the cause is fixed).
    if record.status != Status::Failed {
        let _ = std::fs::remove_dir_all(dir.join(train::checkpoint::CHECKPOINT));
    }
    Ok(record.status)
}

fn failed() -> CellOutput {
    CellOutput {
        status: Status::Failed,
        metrics: Vec::new(),
        trace: None,
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
