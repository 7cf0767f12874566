//! `probstab status DIR`: how far a grid has got. The grid is re-expanded
//! from `DIR/experiment.toml` (the resolved experiment every run writes), so
//! cells that no task has started yet count as missing too.

use crate::experiment::Grid;
use crate::live::{Claim, Runner, STALE_AFTER, read_claim};
use crate::record::Status;
use crate::slice::ranges_text;
use crate::store::{RecordFile, ResultsDir};
use anyhow::Result;
use std::collections::HashSet;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// How many missing ids `report` lists unless asked for all.
const SHOWN: usize = 20;

/// The state of every cell of a results directory's grid.
#[derive(Debug, Default)]
pub struct GridStatus {
    pub total: usize,
    pub ok: usize,
    pub diverged: usize,
    /// Cells whose theory does not apply (status `n/a`), complete.
    pub not_applicable: usize,
    /// (grid index, id, error) of failed cells; a rerun retries them.
    pub failed: Vec<(usize, String, String)>,
    /// (grid index, id) of cells without `metrics.json`: never started,
    /// running, or killed.
    pub missing: Vec<(usize, String)>,
    /// Missing cells that hold a checkpoint (`run --resume` continues them).
    pub checkpointed: usize,
    /// Cell directories that are not in the grid (left by another grid).
    pub stray: Vec<String>,
    /// (adapter, number of cells) for the cells that ran on `wgpu`, in
    /// order of first appearance: one GPU model, or a mix on a shared cluster.
    pub devices: Vec<(String, usize)>,
    /// Missing cells a live process is computing, with their heartbeat.
    pub running: Vec<(String, Claim)>,
    /// Missing cells whose claim's process is gone (killed, or its node
    /// lost): a rerun takes them over.
    pub stale: Vec<(String, Claim)>,
    /// Missing cells whose `metrics.json` is there but unusable, and why.
    pub invalid: Vec<(String, String)>,
    /// (build, number of cells) of the records, in order of first appearance.
    pub builds: Vec<(String, usize)>,
    /// Runs stopped by a signal, and Slurm tasks that requeued themselves
    /// at their time limit (`runs.jsonl`'s `stop` and `requeue` lines).
    pub stops: usize,
    pub requeues: usize,
}

impl GridStatus {
    /// Every cell is ok or diverged.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.missing.is_empty()
    }

    /// The text `probstab status` prints; `all` lists every missing id.
    pub fn report(&self, dir: &Path, all: bool) -> String {
        let mut s = String::new();
        let complete = self.ok + self.diverged + self.not_applicable;
        let _ = writeln!(
            s,
            "{}: {complete} of {} cells complete",
            dir.display(),
            self.total
        );
        let _ = writeln!(s, "  ok        {}", self.ok);
        let _ = writeln!(s, "  diverged  {}", self.diverged);
        if self.not_applicable > 0 {
            let _ = writeln!(s, "  n/a       {}", self.not_applicable);
        }
        let _ = writeln!(s, "  failed    {}", self.failed.len());
        let _ = writeln!(s, "  missing   {}", self.missing.len());
        if !self.running.is_empty() {
            let _ = writeln!(s, "    running {}", self.running.len());
        }
        if !self.stale.is_empty() {
            let _ = writeln!(s, "    stale   {}", self.stale.len());
        }
        for (device, count) in &self.devices {
            let _ = writeln!(s, "  {count} on {device}");
        }
        if self.checkpointed > 0 {
            let _ = writeln!(
                s,
                "  of which {} have a checkpoint (run --resume to continue them)",
                self.checkpointed
            );
        }
        let limit = if all { usize::MAX } else { SHOWN };
        if !self.running.is_empty() {
            let _ = writeln!(s, "running cells:");
            for (id, claim) in self.running.iter().take(limit) {
                let _ = writeln!(s, "  {id}: {}", heartbeat_text(claim));
            }
            more(&mut s, self.running.len(), all);
        }
        if !self.stale.is_empty() {
            let _ = writeln!(
                s,
                "stale cells (their process is gone, or silent for over {} s; a rerun takes them over):",
                STALE_AFTER.as_secs()
            );
            for (id, claim) in self.stale.iter().take(limit) {
                let _ = writeln!(s, "  {id}: {}", heartbeat_text(claim));
            }
            more(&mut s, self.stale.len(), all);
        }
        if !self.invalid.is_empty() {
            let _ = writeln!(s, "unusable records (the cells rerun):");
            for (id, why) in self.invalid.iter().take(limit) {
                let _ = writeln!(s, "  {id}: {why}");
            }
            more(&mut s, self.invalid.len(), all);
        }
        if !self.failed.is_empty() {
            let indices: Vec<usize> = self.failed.iter().map(|(i, _, _)| *i).collect();
            let _ = writeln!(
                s,
                "failed cells (--cells {}; a rerun retries them):",
                ranges_text(&indices)
            );
            for (_, id, error) in self
                .failed
                .iter()
                .take(if all { usize::MAX } else { SHOWN })
            {
                let _ = writeln!(s, "  {id}: {}", error.lines().next().unwrap_or(""));
            }
            more(&mut s, self.failed.len(), all);
        }
        if !self.missing.is_empty() {
            let indices: Vec<usize> = self.missing.iter().map(|(i, _)| *i).collect();
            let _ = writeln!(s, "missing cells (--cells {}):", ranges_text(&indices));
            for (_, id) in self
                .missing
                .iter()
                .take(if all { usize::MAX } else { SHOWN })
            {
                let _ = writeln!(s, "  {id}");
            }
            more(&mut s, self.missing.len(), all);
        }
        if !self.stray.is_empty() {
            let _ = writeln!(
                s,
                "{} cell directories are not in this grid (from an earlier grid?), e.g. {}",
                self.stray.len(),
                self.stray[0]
            );
        }
        if self.stops > 0 || self.requeues > 0 {
            let _ = writeln!(
                s,
                "stops by a signal: {}, requeues at the time limit: {}",
                self.stops, self.requeues
            );
        }
        match &self.builds[..] {
            [] => {}
            [(build, _)] => {
                let _ = writeln!(s, "built by {build}");
            }
            builds => {
                let _ = writeln!(s, "cells from {} builds:", builds.len());
                for (build, count) in builds {
                    let _ = writeln!(s, "  {count:>6}  {build}");
                }
            }
        }
        s
    }
}

/// `step 498 of 3000, loss 0.4543, 21.9 steps/s, ETA 1m 54s, on vm pid 4332 (heartbeat 1s ago)`.
pub fn heartbeat_text(claim: &Claim) -> String {
    let mut parts = Vec::new();
    match (claim.step, claim.steps) {
        (Some(step), Some(steps)) => parts.push(format!("step {step} of {steps}")),
        (Some(step), None) => parts.push(format!("step {step}")),
        _ => {}
    }
    if let Some(loss) = claim.loss {
        parts.push(format!("loss {loss:.4}"));
    }
    if let Some(rate) = claim.steps_per_second {
        parts.push(format!("{rate:.1} steps/s"));
    }
    if let Some(eta) = claim.eta_seconds {
        parts.push(format!("ETA {}", seconds_text(eta)));
    }
    parts.push(format!(
        "on {} (heartbeat {} ago)",
        claim.holder(),
        seconds_text(claim.age())
    ));
    parts.join(", ")
}

/// Whole seconds in words: `1m 54s`.
pub fn seconds_text(seconds: f64) -> String {
    let whole = Duration::from_secs(seconds.max(0.0).round() as u64);
    humantime::format_duration(whole).to_string()
}

fn more(s: &mut String, len: usize, all: bool) {
    if !all && len > SHOWN {
        let _ = writeln!(s, "  ... and {} more (--all lists every one)", len - SHOWN);
    }
}

/// Compare the grid saved in `dir/experiment.toml` with the cell records.
pub fn status(dir: &ResultsDir) -> Result<GridStatus> {
    if !dir.experiment_file().exists() {
        anyhow::bail!(
            "{} is not a results directory: it has no experiment.toml (written by `probstab run` and `probstab slurm`)",
            dir.path().display()
        );
    }
    Ok(status_of(dir, &Grid::of(dir)?)?)
}

/// The state of every cell of `grid` in `dir`.
pub fn status_of(dir: &ResultsDir, grid: &Grid) -> Result<GridStatus> {
    let cells = &grid.cells;
    let mut status = GridStatus {
        total: cells.len(),
        ..GridStatus::default()
    };
    let runner = Runner::this_process();
    for (index, cell) in cells.iter().enumerate() {
        let cell_dir = dir.cell(&cell.id);
        let record = match cell_dir.read_record()? {
            RecordFile::Found(record) => Some(record),
            RecordFile::Missing => None,
            RecordFile::Invalid(why) => {
                status.invalid.push((cell.id.clone(), why));
                None
            }
        };
        match record {
            Some(record) => {
                if let Some(device) = record.device {
                    count(&mut status.devices, device);
                }
                match &record.provenance {
                    Some(p) => count(&mut status.builds, p.build.to_string()),
                    None => count(&mut status.builds, "an unrecorded build".into()),
                }
                match record.status {
                    Status::Ok => status.ok += 1,
                    Status::Diverged => status.diverged += 1,
                    Status::NotApplicable => status.not_applicable += 1,
                    Status::Failed => status.failed.push((
                        index,
                        cell.id.clone(),
                        record.error.unwrap_or_default(),
                    )),
                }
            }
            None => {
                status.checkpointed += usize::from(cell_dir.has_checkpoint());
                status.missing.push((index, cell.id.clone()));
                if let Some(claim) = read_claim(&cell_dir) {
                    match claim.is_stale(runner) {
                        false => status.running.push((cell.id.clone(), claim)),
                        true => status.stale.push((cell.id.clone(), claim)),
                    }
                }
            }
        }
    }
    let ids: HashSet<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    status.stray = dir
        .cell_ids()?
        .into_iter()
        .filter(|name| !ids.contains(name.as_str()))
        .collect();
    status.stray.sort();
    for event in crate::provenance::read_runs(&dir.runs()) {
        match event.event.as_str() {
            "stop" => status.stops += 1,
            "requeue" => status.requeues += 1,
            "requeue_failed" => status.requeues = status.requeues.saturating_sub(1),
            _ => {}
        }
    }
    Ok(status)
}

/// Add one to `key`'s count, keeping the order of first appearance.
fn count(counts: &mut Vec<(String, usize)>, key: String) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => counts.push((key, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_counts_ranges_and_a_bounded_number_of_ids() {
        let status = GridStatus {
            total: 30,
            ok: 3,
            diverged: 1,
            not_applicable: 0,
            failed: vec![(4, "a=5".into(), "boom\nsecond line".into())],
            missing: (5..30).map(|i| (i, format!("a={}", i + 1))).collect(),
            checkpointed: 2,
            stray: vec![],
            devices: vec![("NVIDIA H100 PCIe".into(), 3), ("Tesla V100".into(), 1)],
            ..GridStatus::default()
        };
        let text = status.report(Path::new("r"), false);
        assert!(text.starts_with("r: 4 of 30 cells complete\n"), "{text}");
        assert!(
            text.contains("  missing   25\n  3 on NVIDIA H100 PCIe\n  1 on Tesla V100\n"),
            "{text}"
        );
        assert!(
            text.contains("  of which 2 have a checkpoint (run --resume to continue them)\n"),
            "{text}"
        );
        assert!(
            text.contains("failed cells (--cells 4..5; a rerun retries them):\n  a=5: boom\n"),
            "{text}"
        );
        assert!(
            text.contains("missing cells (--cells 5..30):\n  a=6\n"),
            "{text}"
        );
        assert!(text.contains("... and 5 more"), "{text}");
        assert!(!text.contains("a=30"), "{text}");
        assert!(status.report(Path::new("r"), true).contains("  a=30\n"));
        assert!(!status.is_complete());
    }
}
