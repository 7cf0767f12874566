//! Checkpoints of a training cell: `<cell>/checkpoint/` holds the model
//! (`model.bpk`, BatchNorm statistics included), the optimizer state
//! (`optim.bpk`) and the progress so far (`state.json`: next step, losses,
//! evaluations). Random streams are per step (`rng_at`), so there is no
//! generator state to keep.
//!
//! A checkpoint is written whole into `checkpoint.tmp.<pid>/` and then
//! renamed into place, so a kill at any moment leaves the last complete one.
//! Checkpoints only save time: one that cannot be written or read is
//! reported and the run goes on (or starts over).

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The directory of a cell's checkpoint.
pub const CHECKPOINT: &str = "checkpoint";

/// Where and whether to checkpoint one cell.
#[derive(Clone, Debug)]
pub struct Checkpointing {
    /// The cell's directory; the checkpoint goes to `dir/checkpoint/`.
    pub dir: PathBuf,
    /// Continue from the checkpoint there, if one matches `fingerprint`.
    pub resume: bool,
    /// The cell's config text: a checkpoint of another config is not resumed.
    pub fingerprint: String,
}

/// Test accuracy and loss at one step (after `step` updates).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Eval {
    pub step: usize,
    pub test_accuracy: f64,
    pub test_loss: f64,
}

/// How far a run got: everything but the tensors.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct Progress {
    /// The config the run was started with.
    #[serde(default)]
    pub fingerprint: String,
    /// Steps taken (the next step to run).
    pub step: usize,
    pub losses: Vec<f32>,
    pub correct: Vec<u32>,
    pub evals: Vec<Eval>,
    pub diverged_at: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("checkpoint {path}: {message}")]
pub struct CheckpointError {
    pub path: PathBuf,
    pub message: String,
}

fn error(path: &Path, message: impl ToString) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Save `model`, `optim` and `progress` as the cell's checkpoint.
pub fn save<M: Module>(
    ck: &Checkpointing,
    model: &M,
    optim: &ModuleOptimizer,
    progress: &Progress,
) -> Result<(), CheckpointError> {
    // Per process: two runs into one directory must not write one file.
    let tmp = ck
        .dir
        .join(format!("checkpoint.tmp.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| error(&tmp, e))?;
    // BatchNorm's running statistics are synchronised by `valid()`; the
    // record would otherwise read them one update stale.
    let _ = model.valid();
    model
        .clone()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| error(&tmp.join("model.bpk"), e))?;
    optim
        .save(tmp.join("optim.bpk"))
        .map_err(|e| error(&tmp.join("optim.bpk"), e))?;
    let state = Progress {
        fingerprint: ck.fingerprint.clone(),
        ..progress.clone()
    };
    let json = serde_json::to_vec(&state).map_err(|e| error(&tmp, e))?;
    std::fs::write(tmp.join("state.json"), json).map_err(|e| error(&tmp, e))?;
    let dest = ck.dir.join(CHECKPOINT);
    let old = ck.dir.join("checkpoint.old");
    if dest.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&dest, &old).map_err(|e| error(&dest, e))?;
    }
    std::fs::rename(&tmp, &dest).map_err(|e| error(&dest, e))?;
    let _ = std::fs::remove_dir_all(&old);
    tracing::debug!(dir = %dest.display(), step = progress.step, "checkpoint saved");
    Ok(())
}

/// The checkpoint to resume from, if `ck.resume` is set and one of this
/// config is there: its progress, and a model and optimizer (made by `model`
/// and `optim`, only when there is one to load) with its state. A model is
/// made for the checkpoint alone: loading writes BatchNorm's running
/// statistics into state that clones share, so a load that fails half-way
/// (an unreadable optim.bpk after a good model.bpk) must not touch the
/// model the run then starts from.
/// A checkpoint that cannot be read (a full disk, a file edited by hand) is
/// reported and the run starts over: it is never a reason to fail the cell.
pub fn restore<M: Module>(
    ck: &Checkpointing,
    model: impl FnOnce() -> M,
    optim: impl FnOnce() -> ModuleOptimizer,
) -> Option<(Progress, M, ModuleOptimizer)> {
    let dir = saved(&ck.dir)?;
    if !ck.resume {
        tracing::warn!(dir = %dir.display(), "checkpoint found; starting over (run --resume to continue it)");
        return None;
    }
    match load(&dir, ck, model, optim) {
        Ok(Some(restored)) => {
            tracing::info!(dir = %dir.display(), step = restored.0.step, "resuming from checkpoint");
            Some(restored)
        }
        Ok(None) => {
            tracing::warn!(dir = %dir.display(), "checkpoint of a different config; starting over");
            None
        }
        Err(e) => {
            tracing::warn!("{e}; starting over");
            None
        }
    }
}

fn load<M: Module>(
    dir: &Path,
    ck: &Checkpointing,
    model: impl FnOnce() -> M,
    optim: impl FnOnce() -> ModuleOptimizer,
) -> Result<Option<(Progress, M, ModuleOptimizer)>, CheckpointError> {
    let state = dir.join("state.json");
    let text = std::fs::read(&state).map_err(|e| error(&state, e))?;
    let progress: Progress = serde_json::from_slice(&text).map_err(|e| error(&state, e))?;
    if progress.fingerprint != ck.fingerprint {
        return Ok(None);
    }
    if progress.losses.len() != progress.step || progress.correct.len() != progress.step {
        return Err(error(&state, "losses and steps disagree"));
    }
    let model = model()
        .try_load_file(dir.join("model.bpk"))
        .map_err(|e| error(&dir.join("model.bpk"), e))?;
    let optim = optim()
        .load(dir.join("optim.bpk"))
        .map_err(|e| error(&dir.join("optim.bpk"), e))?;
    Ok(Some((progress, model, optim)))
}

/// Remove a cell's checkpoint and any partly written one (the cell is done).
pub fn remove(cell_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(cell_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == CHECKPOINT || name == "checkpoint.old" || name.starts_with("checkpoint.tmp.") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a cell's directory holds a checkpoint to resume.
pub fn exists(cell_dir: &Path) -> bool {
    saved(cell_dir).is_some()
}

/// The cell's complete checkpoint: `checkpoint/`, or `checkpoint.old/` when
/// a kill came between the two renames of [`save`].
fn saved(cell_dir: &Path) -> Option<PathBuf> {
    [CHECKPOINT, "checkpoint.old"]
        .map(|d| cell_dir.join(d))
        .into_iter()
        .find(|d| d.join("state.json").is_file())
}
