//! Which experiment a results directory is busy with. Every run registers
//! itself in `<out>/holders/` (a file per run, with the experiment's key and
//! a heartbeat) while it runs. A run of another experiment into a directory
//! that a live run holds is refused, naming that run's host and process:
//! two experiments in one directory would mix their cells. Runs of one
//! experiment (the tasks of a Slurm array, or a second terminal) share the
//! directory, and their cell claims (crate::live) keep them from computing
//! a cell twice. A run whose process is gone is stale by the rules of a
//! claim ([`Claim::is_stale`]) and is ignored (and its file removed).

use crate::experiment::Experiment;
use crate::live::{Claim, Runner, Ticker};
use crate::provenance::{now, rfc3339};
use crate::store::{ResultsDir, write_replace};
use anyhow::{Context, Result, bail};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;

/// `holders/<run>.json`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Holder {
    /// The experiment's name, and the key of its cells (an MD5 of the
    /// resolved experiment without its plots).
    pub experiment: String,
    pub key: String,
    /// Who, and the heartbeat (`cell` is empty).
    #[serde(flatten)]
    pub process: Claim,
}

/// The key of an experiment: runs with equal keys compute the same cells.
/// It is the resolved experiment without its plots, with every table's
/// keys sorted (so the order of the tables in the file does not matter).
pub fn experiment_key(experiment: &Experiment) -> Result<String> {
    let mut table = experiment.resolved.clone();
    table.remove("plot");
    let text = toml::to_string(&sorted(table))?;
    Ok(Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `table` with its keys, and those of the tables in it, in sorted order.
fn sorted(table: toml::Table) -> toml::Table {
    let mut entries: Vec<(String, toml::Value)> = table.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
        .into_iter()
        .map(|(k, v)| match v {
            toml::Value::Table(t) => (k, toml::Value::Table(sorted(t))),
            v => (k, v),
        })
        .collect()
}

/// The hold files of this process's live runs, for [`release_all`].
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remove this process's hold files (it is about to exit on a signal).
pub fn release_all() {
    for path in HELD.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// Refuse as [`hold`] would, without holding (`probstab slurm`: the tasks
/// hold the directory when they run).
pub fn check(out: &ResultsDir, experiment: &Experiment) -> Result<()> {
    drop(hold(out, experiment)?);
    Ok(())
}

/// This run's hold on a results directory: its file, rewritten every
/// [`BEAT`](crate::live::BEAT) until dropped, then removed.
pub struct Hold {
    path: PathBuf,
    ticker: Option<Ticker>,
}

/// Register this run of `experiment` in `out`, or refuse when a live run of
/// another experiment holds it.
pub fn hold(out: &ResultsDir, experiment: &Experiment) -> Result<Hold> {
    let runner = Runner::this_process();
    let dir = out.holders();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let me = Holder {
        experiment: experiment.name().unwrap_or("unnamed").to_string(),
        key: experiment_key(experiment)?,
        process: Claim::of_this_run(""),
    };
    let path = dir.join(format!("{}.json", runner.run.replace([':', '/'], "-")));
    write_replace(&path, &serde_json::to_vec_pretty(&me)?)?;
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.clone());
    let mut others = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let other = entry.path();
        if other == path || other.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(holder) = std::fs::read_to_string(&other)
            .ok()
            .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
        else {
            continue;
        };
        if holder.process.is_stale(runner) {
            let _ = std::fs::remove_file(&other);
        } else if holder.key != me.key {
            others.push(holder);
        }
    }
    if let Some(other) = others.first() {
        let _ = std::fs::remove_file(&path);
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != path);
        let name = if other.experiment == me.experiment {
            format!("`{}` with other settings", other.experiment)
        } else {
            format!("`{}`", other.experiment)
        };
        bail!(
            "{} is in use by another experiment: {name}, run by {} since {} (heartbeat {:.0} s ago). Two experiments in one directory would mix their cells: use another --out, or wait until that run ends",
            out.path().display(),
            other.process.holder(),
            rfc3339(other.process.started_at),
            other.process.age()
        );
    }
    let beat = path.clone();
    let mut me = me;
    let ticker = Ticker::every_beat("hold", move || {
        me.process.updated_at = now();
        if let Ok(bytes) = serde_json::to_vec_pretty(&me) {
            let _ = write_replace(&beat, &bytes);
        }
    });
    Ok(Hold {
        path,
        ticker: Some(ticker),
    })
}

impl Drop for Hold {
    fn drop(&mut self) {
        // The beats stop before the file goes (none can bring it back).
        drop(self.ticker.take());
        let _ = std::fs::remove_file(&self.path);
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.path);
    }
}
