//! `probstab slurm`: a grid as a Slurm job array. Task k of the array runs
//! `probstab run DIR/experiment.toml --out DIR --cells i..j` on its slice of
//! the grid (half-open, in the order of `Experiment::cells()`); a requeued or
//! resubmitted task skips the cells that are complete and continues the ones
//! with a checkpoint (`--resume`).
//!
//! Time limits: the script asks Slurm for SIGUSR1 `signal_grace` seconds
//! before a task's limit (`--signal=B:USR1@S`; the task is the batch shell,
//! which `exec`s probstab) and allows requeueing (`--requeue`). The run then
//! checkpoints its image cells, stops and requeues its task, at most
//! `max_requeues` times (`run --requeue N`, crate::stop). `scancel` sends
//! SIGTERM: the run checkpoints and stops, and the task is not requeued.
//! The tasks read the
//! experiment as resolved at submission (`DIR/experiment.toml`), so editing
//! the config while jobs wait in the queue changes nothing.

use crate::store::ResultsDir;
use anyhow::{Context, Result, bail};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Slurm's default `MaxArraySize`: array indices must stay below it.
const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// Everything the sbatch script says.
#[derive(Clone, Debug)]
pub struct ArrayJob {
    /// The experiment name (the job name).
    pub name: String,
    /// The `probstab` binary the tasks call (absolute).
    pub probstab: PathBuf,
    /// The results directory (absolute); the tasks read `experiment.toml` there.
    pub out: ResultsDir,
    /// Where the tasks run, for relative paths in the config (absolute).
    pub workdir: PathBuf,
    /// Cells in the grid.
    pub total: usize,
    pub cells_per_task: usize,
    /// At most this many tasks at once (`%N`).
    pub max_parallel: Option<usize>,
    /// Cores per task, and `--jobs` of each task's run.
    pub cpus_per_task: usize,
    pub partition: Option<String>,
    /// Time limit per task, in any form sbatch takes (`2:00:00`, `1-0`).
    pub time: Option<String>,
    /// GPUs per task (`1`, `a100:2`).
    pub gpus: Option<String>,
    /// Extra sbatch options, one per `#SBATCH` line (`--account=foo`).
    pub extra: Vec<String>,
    /// Seconds before the time limit at which Slurm warns a task (SIGUSR1).
    pub signal_grace: u32,
    /// How often a task may requeue itself on that warning.
    pub max_requeues: u32,
    /// The cells train on wgpu: the tasks leave `--jobs` to the run, which
    /// runs one cell per GPU Slurm gave the task (not one per core).
    pub on_gpu: bool,
}

/// The default of `--signal-grace`: five minutes, time for an image cell's
/// step and checkpoint (Slurm may also send the signal up to a minute early).
pub const DEFAULT_SIGNAL_GRACE: u32 = 300;
/// The default of `--max-requeues`.
pub const DEFAULT_MAX_REQUEUES: u32 = 20;

impl ArrayJob {
    /// Array tasks: ⌈total / cells_per_task⌉.
    pub fn tasks(&self) -> usize {
        self.total.div_ceil(self.cells_per_task.max(1))
    }

    /// The script's path under the results directory.
    pub fn script_path(&self) -> PathBuf {
        self.out.slurm_script(&job_name(&self.name))
    }

    /// The sbatch script, or an error naming the option that cannot go into it.
    pub fn script(&self) -> Result<String> {
        if self.cells_per_task == 0 {
            bail!("--cells-per-task must be at least 1");
        }
        if self.max_parallel == Some(0) {
            bail!("--max-parallel must be at least 1");
        }
        if self.cpus_per_task == 0 {
            bail!("--cpus-per-task must be at least 1");
        }
        if self.total == 0 {
            bail!("the grid has no cells");
        }
        if self.signal_grace == 0 || self.signal_grace > 65535 {
            bail!(
                "--signal-grace {}: give 1 to 65535 seconds (Slurm's limit)",
                self.signal_grace
            );
        }
        if let Some(limit) = self.time.as_deref().and_then(time_limit_seconds) {
            if u64::from(self.signal_grace) >= limit {
                bail!(
                    "--signal-grace {} s is not shorter than --time {} ({limit} s): the time-limit warning would come as the task starts, and it would requeue itself without progress; give a shorter --signal-grace",
                    self.signal_grace,
                    self.time.as_deref().unwrap_or_default()
                );
            }
        }
        let out = directive_path(self.out.path())?;
        let logs = directive_path(&self.out.slurm())?;
        let tasks = self.tasks();
        let per = self.cells_per_task;
        let total = self.total;
        let mut directives = vec![
            format!("--job-name={}", job_name(&self.name)),
            match self.max_parallel {
                Some(n) => format!("--array=0-{}%{n}", tasks - 1),
                None => format!("--array=0-{}", tasks - 1),
            },
            format!("--output={logs}/%x-%A_%a.out"),
            // A requeued task appends to its log instead of replacing it.
            "--open-mode=append".to_string(),
            format!("--cpus-per-task={}", self.cpus_per_task),
            // SIGUSR1 to the batch shell (probstab, exec'd) before the time
            // limit: checkpoint, stop, requeue.
            format!("--signal=B:USR1@{}", self.signal_grace),
            "--requeue".to_string(),
        ];
        for (flag, value) in [
            ("--partition", &self.partition),
            ("--time", &self.time),
            ("--gpus", &self.gpus),
        ] {
            if let Some(value) = value {
                directives.push(format!("{flag}={}", directive_value(flag, value)?));
            }
        }
        for line in &self.extra {
            directives.push(extra_directive(line)?);
        }

        let mut s = String::new();
        let _ = writeln!(s, "#!/bin/bash");
        for d in &directives {
            let _ = writeln!(s, "#SBATCH {d}");
        }
        let _ = writeln!(s, "#");
        let _ = writeln!(
            s,
            "# Written by `probstab slurm` for {}: {total} cells, {per} per task, {tasks} tasks.",
            self.name
        );
        let _ = writeln!(
            s,
            "# Submit: sbatch {}",
            shell_quote(&self.script_path().to_string_lossy())
        );
        let _ = writeln!(s, "# Follow: probstab status {out}");
        let _ = writeln!(
            s,
            "# Merge:  probstab collect {out}   (summary.csv; then probstab plot {out})"
        );
        let _ = writeln!(
            s,
            "# Task k runs cells k*{per} .. min((k+1)*{per}, {total}) (end excluded) of the grid in"
        );
        let _ = writeln!(
            s,
            "# {out}/experiment.toml; complete cells are skipped and checkpointed ones continue (--resume), so requeued tasks resume."
        );
        let _ = writeln!(
            s,
            "# {} s before the time limit Slurm sends SIGUSR1: the task checkpoints its image cells, stops and requeues itself (at most {} times); scancel stops it without a requeue.",
            self.signal_grace, self.max_requeues
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "set -euo pipefail");
        let _ = writeln!(
            s,
            "task=${{SLURM_ARRAY_TASK_ID:?submit this script with sbatch: it is a job array}}"
        );
        let _ = writeln!(s, "first=$(( task * {per} ))");
        let _ = writeln!(
            s,
            "end=$(( first + {per} < {total} ? first + {per} : {total} ))"
        );
        let _ = writeln!(s, "cd {}", shell_quote(&self.workdir.to_string_lossy()));
        let jobs = match self.on_gpu {
            true => String::new(),
            false => format!(" --jobs {}", self.cpus_per_task),
        };
        let _ = writeln!(
            s,
            "exec {} run {} --out {} --cells \"$first..$end\"{jobs} --resume --requeue {}",
            shell_quote(&self.probstab.to_string_lossy()),
            shell_quote(&self.out.experiment_file().to_string_lossy()),
            shell_quote(&self.out.path().to_string_lossy()),
            self.max_requeues
        );
        Ok(s)
    }

    /// Warnings worth printing before submitting.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.tasks() >= DEFAULT_MAX_ARRAY_SIZE {
            w.push(format!(
                "the array has {} tasks; Slurm's default MaxArraySize ({DEFAULT_MAX_ARRAY_SIZE}) allows indices up to {}: raise --cells-per-task (now {}) unless your cluster allows more",
                self.tasks(),
                DEFAULT_MAX_ARRAY_SIZE - 1,
                self.cells_per_task
            ));
        }
        w
    }
}

/// Seconds of a Slurm time limit: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`,
/// `D-H:M:S` (None for another form, or `infinite`/`unlimited`).
pub fn time_limit_seconds(text: &str) -> Option<u64> {
    let (days, rest) = match text.trim().split_once('-') {
        Some((d, rest)) => (Some(d.parse::<u64>().ok()?), rest),
        None => (None, text.trim()),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match (days, &parts[..]) {
        (None, &[m]) => (0, m, 0),
        (None, &[m, s]) => (0, m, s),
        (_, &[h, m, s]) => (h, m, s),
        (Some(_), &[h]) => (h, 0, 0),
        (Some(_), &[h, m]) => (h, m, 0),
        _ => return None,
    };
    Some(days.unwrap_or(0) * 86_400 + h * 3600 + m * 60 + s)
}

/// `sbatch --parsable SCRIPT`; returns the job id.
pub fn submit(script: &Path) -> Result<String> {
    let output = Command::new("sbatch").arg("--parsable").arg(script).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("sbatch not found: run this on a Slurm login node, or submit the script later with `sbatch {}`", script.display())
        } else {
            anyhow::Error::new(e).context("cannot run sbatch")
        }
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "sbatch {} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // --parsable prints `jobid` or `jobid;cluster`.
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("sbatch printed no job id: {:?}", stdout.trim());
    }
    Ok(id)
}

/// An absolute version of `path` (not resolving links).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

/// A job name sbatch and the log pattern take as is.
fn job_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `#SBATCH` lines are split on white space, and `%` starts a file-name
/// pattern: a directory path used there must avoid both.
fn directive_path(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_whitespace() || "%\"'\\".contains(*c))
    {
        bail!(
            "the output directory {text} contains {c:?}, which an #SBATCH line cannot hold; choose an --out without spaces, quotes or %"
        );
    }
    Ok(text.to_string())
}

fn directive_value(flag: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().any(|c| c.is_whitespace()) {
        bail!("{flag} {value:?}: expected one word, without spaces");
    }
    Ok(value.to_string())
}

/// `--sbatch "--account=foo"` (or `#SBATCH --account=foo`): one option per line.
fn extra_directive(line: &str) -> Result<String> {
    let text = line.trim();
    let text = text.strip_prefix("#SBATCH").map(str::trim).unwrap_or(text);
    if !text.starts_with('-') || text.contains(['\n', '\r']) {
        bail!("--sbatch {line:?}: expected one sbatch option such as --account=foo or --mem=8G");
    }
    Ok(text.to_string())
}

/// A single-quoted shell word.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ArrayJob {
        ArrayJob {
            name: "fig3_lambda_mu".into(),
            probstab: "/opt/bin/probstab".into(),
            out: "/scratch/r/fig3".into(),
            workdir: "/home/me/probstab".into(),
            total: 205,
            cells_per_task: 50,
            max_parallel: Some(2),
            cpus_per_task: 1,
            partition: None,
            time: None,
            gpus: None,
            extra: vec![],
            signal_grace: DEFAULT_SIGNAL_GRACE,
            max_requeues: 3,
            on_gpu: false,
        }
    }

    #[test]
    fn array_covers_the_grid_in_slices_of_cells_per_task() {
        let j = job();
        assert_eq!(j.tasks(), 5);
        let s = j.script().unwrap();
        assert!(
            s.starts_with(
                "#!/bin/bash\n#SBATCH --job-name=fig3_lambda_mu\n#SBATCH --array=0-4%2\n"
            ),
            "{s}"
        );
        assert!(
            s.contains("#SBATCH --output=/scratch/r/fig3/slurm/%x-%A_%a.out\n"),
            "{s}"
        );
        assert!(
            s.contains("first=$(( task * 50 ))\nend=$(( first + 50 < 205 ? first + 50 : 205 ))\n"),
            "{s}"
        );
        assert!(s.contains("cd /home/me/probstab\n"), "{s}");
        assert!(s.ends_with("exec /opt/bin/probstab run /scratch/r/fig3/experiment.toml --out /scratch/r/fig3 --cells \"$first..$end\" --jobs 1 --resume --requeue 3\n"), "{s}");
        assert_eq!(
            j.script_path(),
            Path::new("/scratch/r/fig3/slurm/fig3_lambda_mu.sbatch")
        );
    }

    #[test]
    fn options_and_extra_lines_become_directives_in_order() {
        let j = ArrayJob {
            max_parallel: None,
            cpus_per_task: 4,
            partition: Some("gpu".into()),
            time: Some("2:00:00".into()),
            gpus: Some("1".into()),
            extra: vec!["--account=foo".into(), "#SBATCH --mem=8G".into()],
            ..job()
        };
        let s = j.script().unwrap();
        let directives: Vec<&str> = s.lines().filter(|l| l.starts_with("#SBATCH")).collect();
        assert_eq!(
            directives,
            [
                "#SBATCH --job-name=fig3_lambda_mu",
                "#SBATCH --array=0-4",
                "#SBATCH --output=/scratch/r/fig3/slurm/%x-%A_%a.out",
                "#SBATCH --open-mode=append",
                "#SBATCH --cpus-per-task=4",
                "#SBATCH --signal=B:USR1@300",
                "#SBATCH --requeue",
                "#SBATCH --partition=gpu",
                "#SBATCH --time=2:00:00",
                "#SBATCH --gpus=1",
                "#SBATCH --account=foo",
                "#SBATCH --mem=8G",
            ]
        );
        assert!(s.contains("--jobs 4 --resume --requeue 3\n"));
        // On wgpu the run picks one cell per GPU the task was given.
        let gpu = ArrayJob { on_gpu: true, ..j };
        assert!(
            gpu.script()
                .unwrap()
                .contains("--cells \"$first..$end\" --resume --requeue 3\n")
        );
    }

    #[test]
    fn one_task_when_the_grid_fits() {
        let j = ArrayJob {
            total: 50,
            max_parallel: None,
            ..job()
        };
        assert_eq!(j.tasks(), 1);
        assert!(j.script().unwrap().contains("#SBATCH --array=0-0\n"));
    }

    #[test]
    fn bad_options_are_errors_naming_the_option() {
        let cases: Vec<(ArrayJob, &str)> = vec![
            (
                ArrayJob {
                    cells_per_task: 0,
                    ..job()
                },
                "--cells-per-task",
            ),
            (
                ArrayJob {
                    max_parallel: Some(0),
                    ..job()
                },
                "--max-parallel",
            ),
            (
                ArrayJob {
                    partition: Some("a b".into()),
                    ..job()
                },
                "--partition",
            ),
            (
                ArrayJob {
                    extra: vec!["account=foo".into()],
                    ..job()
                },
                "--sbatch",
            ),
            (
                ArrayJob {
                    extra: vec!["--a=1\n#SBATCH --b".into()],
                    ..job()
                },
                "--sbatch",
            ),
            (
                ArrayJob {
                    out: "/scratch/my results".into(),
                    ..job()
                },
                "--out",
            ),
            (
                ArrayJob {
                    out: "/scratch/100%".into(),
                    ..job()
                },
                "--out",
            ),
            (
                ArrayJob {
                    signal_grace: 0,
                    ..job()
                },
                "--signal-grace",
            ),
        ];
        for (j, needle) in cases {
            let err = j.script().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn slurm_time_limits_in_every_form_and_a_grace_as_long_as_the_limit_refused() {
        for (text, seconds) in [
            ("30", 1800),
            ("5:30", 330),
            ("2:00:00", 7200),
            ("1-0", 86_400),
            ("1-2:30", 95_400),
            ("1-00:00:10", 86_410),
        ] {
            assert_eq!(time_limit_seconds(text), Some(seconds), "{text}");
        }
        for text in ["infinite", "", "1:2:3:4", "a-1"] {
            assert_eq!(time_limit_seconds(text), None, "{text}");
        }
        let j = ArrayJob {
            time: Some("5".into()),
            ..job()
        };
        let e = j.script().unwrap_err().to_string();
        assert!(
            e.contains("--signal-grace 300 s") && e.contains("--time 5 (300 s)"),
            "{e}"
        );
        assert!(
            ArrayJob {
                signal_grace: 120,
                ..j
            }
            .script()
            .is_ok()
        );
    }

    #[test]
    fn paths_are_shell_quoted() {
        let j = ArrayJob {
            workdir: "/home/o'neil/my dir".into(),
            ..job()
        };
        assert!(
            j.script()
                .unwrap()
                .contains("cd '/home/o'\\''neil/my dir'\n")
        );
        assert_eq!(shell_quote("a/b-c.d"), "a/b-c.d");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn huge_arrays_warn_about_max_array_size() {
        assert!(job().warnings().is_empty());
        let j = ArrayJob {
            total: 30_000,
            cells_per_task: 10,
            ..job()
        };
        assert!(j.warnings()[0].contains("MaxArraySize"));
    }
}
