//! `probstab status DIR`: how far a grid has got. The grid is re-expanded
//! from `DIR/experiment.toml` (the resolved experiment every run writes), so
//! cells that no task has started yet count as missing too.

use crate::experiment::Grid;
use crate::record::Status;
use crate::slice::ranges_text;
use crate::store::ResultsDir;
use anyhow::Result;
use std::collections::HashSet;
use std::fmt::Write;
use std::path::Path;

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
        s
    }
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
    for (index, cell) in cells.iter().enumerate() {
        let cell_dir = dir.cell(&cell.id);
        match cell_dir.record()? {
            Some(record) => {
                if let Some(device) = record.device {
                    match status.devices.iter_mut().find(|(d, _)| *d == device) {
                        Some((_, count)) => *count += 1,
                        None => status.devices.push((device, 1)),
                    }
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
                status.missing.push((index, cell.id.clone()))
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
    Ok(status)
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
