//! Run the cells of a grid that are not complete yet, in parallel, and
//! record each one atomically (DESIGN.md §3, §5).

use crate::experiment::{Cell, Experiment};
use crate::kind::{self, CellContext, CellOutput};
use crate::live::{ClaimGuard, Claimed, Heartbeats, now};
use crate::provenance::{Provenance, RunEvent};
use crate::record::{Record, Status, metrics_to_json};
use crate::store::{Batch, CellDir, ResultsDir, write_atomic};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What a run did.
#[derive(Debug, Default)]
pub struct RunCounts {
    pub skipped: usize,
    pub ok: usize,
    pub diverged: usize,
    pub failed: usize,
    /// Cells whose theory does not apply (status `n/a`).
    pub not_applicable: usize,
    /// Cells another live process was computing (left to it).
    pub busy: usize,
    /// Cells left unfinished because a signal stopped the run (crate::stop):
    /// checkpointed where their kind checkpoints, not started otherwise.
    pub interrupted: usize,
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
        )?;
        if self.busy > 0 {
            write!(f, ", {} being computed by another process", self.busy)?;
        }
        if self.interrupted > 0 {
            write!(f, ", {} left unfinished by a stop", self.interrupted)?;
        }
        Ok(())
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

/// What a cell's job came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Ran(Status),
    /// Another process completed it meanwhile.
    Complete,
    /// Another live process holds its claim.
    Busy,
    /// A stop was requested: not started, or interrupted (no record).
    Interrupted,
}

/// Run every incomplete cell of `cells` into `out`.
pub fn run_cells(
    experiment: &Experiment,
    cells: &[Cell],
    out: &ResultsDir,
    options: RunOptions,
) -> Result<RunCounts> {
    run_cells_counting(experiment, cells, out, options, &AtomicUsize::new(0))
}

/// [`run_cells`], adding 1 to `finished` as each cell's record is written.
pub fn run_cells_counting(
    experiment: &Experiment,
    cells: &[Cell],
    out: &ResultsDir,
    options: RunOptions,
    finished: &AtomicUsize,
) -> Result<RunCounts> {
    let RunOptions { jobs, resume, pack } = options;
    create(out)?;
    let _hold = crate::holders::hold(out, experiment)?;
    let (todo, skipped) = pending(cells, out)?;
    write_experiment(experiment, out)?;
    let mut start = RunEvent::new("start");
    (start.cells, start.complete) = (Some(cells.len()), Some(skipped));
    start.append(&out.runs())?;
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
    let beats = Heartbeats::start();
    let run = Running {
        out,
        resume,
        beats: &beats,
        finished,
        batch: Batch::default(),
    };
    let done: Result<Vec<Vec<Done>>> = pool.install(|| {
        jobs_todo
            .par_iter()
            .map(|job| {
                let done = match job {
                    Job::Single(cell, config) => run.execute(cell, config).map(|s| vec![s]),
                    Job::Pack(pack) => run.execute_pack(pack),
                };
                bar.inc(job.len() as u64);
                done
            })
            .collect::<Result<Vec<_>>>()
    });
    let committed = run.batch.commit();
    drop(beats);
    committed?;
    bar.finish_and_clear();
    for done in done?.into_iter().flatten() {
        match done {
            Done::Ran(Status::Ok) => counts.ok += 1,
            Done::Ran(Status::Diverged) => counts.diverged += 1,
            Done::Ran(Status::Failed) => counts.failed += 1,
            Done::Ran(Status::NotApplicable) => counts.not_applicable += 1,
            Done::Complete => counts.skipped += 1,
            Done::Busy => counts.busy += 1,
            Done::Interrupted => counts.interrupted += 1,
        }
    }
    let mut end = RunEvent::new("end");
    end.outcome = Some(counts.to_string());
    end.append(&out.runs())?;
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

/// A unit of work: one cell, or cells trained together as one pack
/// (a pack of one included, so that a cell's numbers never depend on which
/// cells share its run or slice).
pub enum Job<'a> {
    Single(&'a Cell, String),
    Pack(Vec<(&'a Cell, String)>),
}

impl Job<'_> {
    /// Its number of cells.
    pub fn len(&self) -> usize {
        match self {
            Job::Single(..) => 1,
            Job::Pack(cells) => cells.len(),
        }
    }
}

/// The cells to run as jobs: one cell each, except two_layer cells that
/// share a pack key, which go together, up to [`MAX_PACK`] at a time.
pub fn group<'a>(todo: &[(&'a Cell, String)], pack: bool) -> Vec<Job<'a>> {
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

/// What the jobs of one run share.
struct Running<'a> {
    out: &'a ResultsDir,
    resume: bool,
    beats: &'a Heartbeats,
    finished: &'a AtomicUsize,
    /// Every cell file goes through it (crate::store::Batch): committed
    /// after each job that trains, and every 0.5 s for quick kinds.
    batch: Batch,
}

impl Running<'_> {
    /// Stage a cell's config before it runs.
    fn prepare(&self, dir: &CellDir, config: &str) -> Result<()> {
        dir.remove_stale_temporaries();
        self.batch.stage(&dir.config(), config.as_bytes())
    }

    /// The files of finished cells reach the disk, then their checkpoints
    /// (kept until then) are removed; a quick kind's cells wait for a full
    /// or old batch.
    fn done(&self, quick: bool, finished: &[(&CellDir, Status)]) -> Result<()> {
        if quick {
            return self.batch.maybe_commit();
        }
        self.batch.commit()?;
        for (dir, status) in finished {
            // The cell is complete: its checkpoint has served (a failed
            // cell keeps it, for --resume after the cause is fixed).
            if *status != Status::Failed {
                dir.remove_checkpoint();
            }
        }
        Ok(())
    }

    /// Claim a cell: its guard, or what became of it (another process holds
    /// it, or completed it since the grid was read).
    /// Quick kinds' cells are not claimed (`Kind::QUICK`): no guard.
    fn claim(
        &self,
        cell: &Cell,
    ) -> Result<std::result::Result<(CellDir, Option<ClaimGuard>), Done>> {
        if train::interrupt::requested() {
            return Ok(Err(Done::Interrupted));
        }
        let dir = self.out.cell(&cell.id);
        let complete =
            || -> Result<bool> { Ok(dir.record()?.is_some_and(|r| r.status.is_complete())) };
        if complete()? {
            return Ok(Err(Done::Complete));
        }
        if cell.spec.kind().quick() {
            return Ok(Ok((dir, None)));
        }
        let guard = match self.beats.claim(&dir, &cell.id)? {
            Claimed::Mine(guard) => guard,
            Claimed::Busy(claim) => {
                tracing::info!(cell = %cell.id, holder = %claim.holder(), "left to the process computing it");
                return Ok(Err(Done::Busy));
            }
        };
        // Completed by another process between the two looks.
        if complete()? {
            return Ok(Err(Done::Complete));
        }
        Ok(Ok((dir, Some(guard))))
    }

    /// Run one cell and write its files; `metrics.json` goes last.
    fn execute(&self, cell: &Cell, config: &str) -> Result<Done> {
        let (dir, guard) = match self.claim(cell)? {
            Ok(claimed) => claimed,
            Err(done) => return Ok(done),
        };
        let quick = cell.spec.kind().quick();
        self.prepare(&dir, config)?;
        if !quick {
            self.batch.commit()?;
        }
        let (started, clock) = (now(), Instant::now());
        let context = CellContext {
            dir: &dir,
            resume: self.resume,
            config_text: config,
            live: guard.as_ref().map(ClaimGuard::cell),
        };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell.spec.run(&context)));
        if guard.as_ref().is_some_and(|g| !g.cell().still_mine()) {
            tracing::warn!(cell = %cell.id, "another process took this cell over while this one was stopped; its result is dropped");
            return Ok(Done::Busy);
        }
        let result = match outcome {
            Ok(Err(e)) if is_interrupted(&e) => {
                tracing::info!(cell = %cell.id, "{e:#}");
                if let Some(guard) = guard {
                    guard.abandon();
                }
                return Ok(Done::Interrupted);
            }
            Ok(result) => result.map_err(|e| format!("{e:#}")),
            Err(panic) => Err(panic_message(panic)),
        };
        let times = (started, clock.elapsed().as_secs_f64());
        let status = self.finish(cell, &dir, result, times)?;
        self.done(quick, &[(&dir, status)])?;
        drop(guard);
        Ok(Done::Ran(status))
    }

    /// Run a pack of cells together and write each cell's files; each cell's
    /// `seconds` is its share of the pack's time. Cells another process
    /// holds or has completed leave the pack (a cell's numbers do not
    /// depend on the cells it is packed with).
    fn execute_pack(&self, pack: &[(&Cell, String)]) -> Result<Vec<Done>> {
        let mut done = Vec::new();
        let mut mine = Vec::new();
        for (cell, config) in pack {
            match self.claim(cell)? {
                Ok((dir, guard)) => {
                    self.prepare(&dir, config)?;
                    mine.push((*cell, config, dir, guard));
                }
                Err(other) => done.push(other),
            }
        }
        if mine.is_empty() {
            return Ok(done);
        }
        let quick = mine[0].0.spec.kind().quick();
        if !quick {
            self.batch.commit()?;
        }
        let (started, clock) = (now(), Instant::now());
        let specs: Vec<&kind::Spec> = mine.iter().map(|(c, ..)| &c.spec).collect();
        let contexts: Vec<CellContext> = mine
            .iter()
            .map(|(_, config, dir, guard)| CellContext {
                dir,
                resume: self.resume,
                config_text: config,
                live: guard.as_ref().map(ClaimGuard::cell),
            })
            .collect();
        let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kind::run_pack(&specs, &contexts)
        }));
        drop(contexts);
        let times = (started, clock.elapsed().as_secs_f64() / mine.len() as f64);
        let all_failed = |message: String| (0..mine.len()).map(|_| Err(message.clone())).collect();
        let mut outputs: Vec<std::result::Result<CellOutput, String>> = match outputs {
            Ok(Ok(outputs)) => outputs.into_iter().map(Ok).collect(),
            Ok(Err(e)) => all_failed(format!("{e:#}")),
            Err(panic) => all_failed(panic_message(panic)),
        };
        outputs.resize_with(mine.len(), || {
            Err("the pack returned no output for this cell".into())
        });
        let mut finished = Vec::new();
        for ((cell, _, dir, guard), output) in mine.into_iter().zip(outputs) {
            if guard.as_ref().is_some_and(|g| !g.cell().still_mine()) {
                tracing::warn!(cell = %cell.id, "another process took this cell over while this one was stopped; its result is dropped");
                done.push(Done::Busy);
                continue;
            }
            let status = self.finish(cell, &dir, output, times)?;
            done.push(Done::Ran(status));
            finished.push((dir, status, guard));
        }
        let statuses: Vec<(&CellDir, Status)> = finished.iter().map(|(d, s, _)| (d, *s)).collect();
        self.done(quick, &statuses)?;
        drop(finished);
        Ok(done)
    }

    /// Write a finished cell's trace and record (`metrics.json` last);
    /// `times` are its start (Unix seconds) and its seconds.
    fn finish(
        &self,
        cell: &Cell,
        dir: &CellDir,
        result: std::result::Result<CellOutput, String>,
        (started, seconds): (f64, f64),
    ) -> Result<Status> {
        let (output, error) = match result {
            Ok(output) => (output, None),
            Err(e) => (failed(), Some(e)),
        };
        if let Some(e) = &error {
            tracing::warn!(cell = %cell.id, error = %e, "cell failed");
        }
        match &output.trace {
            Some(trace) => self.batch.stage(&dir.trace(), trace.to_csv().as_bytes())?,
            None => {
                let _ = std::fs::remove_file(dir.trace());
            }
        }
        if let Some(spectrum) = &output.spectrum {
            self.batch
                .stage(&dir.spectrum(), spectrum.to_csv().as_bytes())?;
        }
        let device = train::device::adapter(cell.config.backend).map(|a| a.name);
        let backend = match cell.config.backend {
            crate::config::Backend::Cpu => "cpu",
            crate::config::Backend::Wgpu => "wgpu",
        };
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
            provenance: Some(Provenance::of_cell(backend, device.clone(), started)),
            device,
            metrics: metrics_to_json(&output.metrics),
            seconds,
            started_at: Some(started),
            finished_at: now(),
        };
        self.batch.stage(
            &dir.metrics(),
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )?;
        self.finished.fetch_add(1, Ordering::Relaxed);
        Ok(record.status)
    }
}

/// The cell stopped on a request (a signal), unfinished: not a failure.
fn is_interrupted(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<train::TrainError>(),
            Some(train::TrainError::Interrupted { .. })
        )
    })
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("panic: {message}")
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

pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
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
