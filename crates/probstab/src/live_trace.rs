//! A training cell's live `trace.csv`: the [`Watch`] a training kind hands
//! its loop. It appends the cell's trace rows as the steps come (flushed at
//! most every [`FLUSH`], at every evaluation and before every checkpoint),
//! and feeds the cell's heartbeat ([`LiveCell`]). A resumed cell keeps the
//! rows before the step its checkpoint holds and appends from there, so the
//! trace has no step twice and none missing. The record written when the
//! cell ends replaces the file with the final trace; a cell counts as
//! complete only by its record, never by its trace.

use crate::live::LiveCell;
use crate::store::write_atomic;
use crate::trace::csv_row;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use train::watch::{StepInfo, Watch};

/// Trace rows are flushed to disk at most this often (and at evaluations).
pub const FLUSH: Duration = Duration::from_secs(1);

/// One trace row from a step's report.
pub type RowFn = Box<dyn Fn(&StepInfo) -> Vec<f64> + Send>;

/// The live `trace.csv` of a training cell (see the module docs).
pub struct LiveTrace {
    cell: Option<Arc<LiveCell>>,
    path: PathBuf,
    columns: Vec<String>,
    /// The planned trace steps, ascending, and the next one due.
    steps: Vec<usize>,
    next: usize,
    row: RowFn,
    file: Option<std::io::BufWriter<std::fs::File>>,
    dirty: bool,
    last_flush: Instant,
    last_beat: Instant,
    /// A failure to write turns the live trace off (the cell goes on).
    broken: bool,
}

impl LiveTrace {
    /// A trace of `columns` with a row at each of `steps` (ascending) and at
    /// every evaluation, into `cell`'s `trace.csv` (nowhere without a cell).
    pub fn new(
        cell: Option<Arc<LiveCell>>,
        columns: Vec<String>,
        steps: Vec<usize>,
        row: RowFn,
    ) -> Self {
        let path = cell.as_ref().map(|c| c.dir().trace()).unwrap_or_default();
        Self {
            cell,
            path,
            columns,
            steps,
            next: 0,
            row,
            file: None,
            dirty: false,
            last_flush: Instant::now(),
            last_beat: Instant::now(),
            broken: false,
        }
    }

    fn open(&mut self, first: usize) -> Result<()> {
        let header = self.columns.join(",");
        let mut text = format!("{header}\n");
        if first > 0 {
            // Keep the rows before the resumed step, if the file is this trace.
            if let Ok(old) = std::fs::read_to_string(&self.path) {
                let mut lines = old.lines();
                if lines.next() == Some(header.as_str()) {
                    for line in lines {
                        let step = line.split(',').next().and_then(|s| s.parse::<f64>().ok());
                        match step {
                            Some(s)
                                if s < first as f64
                                    && line.split(',').count() == self.columns.len() =>
                            {
                                text.push_str(line);
                                text.push('\n');
                            }
                            _ => break,
                        }
                    }
                }
            }
        }
        write_atomic(&self.path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        self.file = Some(std::io::BufWriter::new(file));
        Ok(())
    }

    fn flush(&mut self) {
        if let Some(file) = self.file.as_mut().filter(|_| self.dirty) {
            if let Err(e) = file.flush() {
                tracing::warn!("live trace {}: {e}; it stops here", self.path.display());
                self.broken = true;
                self.file = None;
            }
        }
        self.dirty = false;
        self.last_flush = Instant::now();
    }
}

impl Watch for LiveTrace {
    fn start(&mut self, first: usize, steps: usize) {
        self.next = self.steps.partition_point(|s| *s < first);
        let Some(cell) = self.cell.clone() else {
            return;
        };
        cell.started(first, steps);
        if let Err(e) = self.open(first) {
            tracing::warn!("live trace: {e:#}; the trace is written when the cell ends");
            self.broken = true;
        }
    }

    fn step(&mut self, info: &StepInfo) {
        let planned = self.steps.get(self.next) == Some(&info.step);
        if planned {
            self.next += 1;
        }
        let Some(cell) = &self.cell else {
            return;
        };
        let row = planned || info.eval.is_some();
        // The clock is read at rows, and every 64 steps in between.
        if !row && info.step % 64 != 0 {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_beat) >= Duration::from_millis(250) || row {
            cell.progress(info.step, info.loss);
            self.last_beat = now;
        }
        if row && !self.broken {
            if let Some(file) = self.file.as_mut() {
                let line = csv_row(&(self.row)(info));
                if writeln!(file, "{line}").is_err() {
                    self.broken = true;
                }
                self.dirty = true;
            }
        }
        if self.dirty && (info.eval.is_some() || now.duration_since(self.last_flush) >= FLUSH) {
            self.flush();
        }
    }

    fn sync(&mut self) {
        self.flush();
    }
}
