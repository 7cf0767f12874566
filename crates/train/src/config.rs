//! The `[model]`, `[data]`, `[train]` and `[measure]` tables of the training
//! kinds `two_layer` and `neuron`: serde structs with defaults and units, and
//! per-kind validation (a key the kind does not use is an error).

use models::Activation;
use serde::{Deserialize, Serialize};

/// A key with a bad value, and why (the binary adds file and line).
#[derive(Debug)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

/// Upper bounds that keep a cell inside one machine's memory and time: a
/// typo of a few zeros is an error, not an abort.
pub const MAX_POINTS: usize = 10_000_000;
pub const MAX_WEIGHTS: usize = 100_000_000;
pub const MAX_STEPS: usize = 1_000_000_000;
pub const MAX_BATCH: usize = 1_000_000;

/// `key` must be at most `max`.
pub fn at_most(key: &str, v: usize, max: usize) -> Result<(), Invalid> {
    if v <= max {
        Ok(())
    } else {
        Err(invalid(key, format!("{v} is more than the limit {max}")))
    }
}

fn invalid(key: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Which training kind a table belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// d → h → d (Fig. 7, 8).
    TwoLayer,
    /// u·σ(w·x) (Fig. 1a, 5).
    Neuron,
    /// ResNet-18 on CIFAR-10 or Fashion-MNIST (Fig. 1c, 9–12).
    ImageClassifier,
}

/// `[model]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelTable {
    /// σ: `linear`, `tanh`, `relu`, `swish` (neuron: no `relu`). Default `tanh`.
    #[serde(default)]
    pub activation: Activation,
    /// two_layer: d, input and output width. Default 200 (Fig. 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// two_layer: h, hidden width. Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// two_layer: biases on both layers. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<bool>,
    /// image_classifier: the architecture; only `resnet18` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// image_classifier: channel multiplier of the ResNet, in (0, 1]; 1 is
    /// the paper's 64…512 channels. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// neuron: initial w.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w0: Option<f64>,
    /// neuron: initial u.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u0: Option<f64>,
}

/// `[data]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataTable {
    /// two_layer: μ in [0, 1], `y = μx + (1 − μ)ε`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mu: Option<f64>,
    /// σ ≥ 0 of the label noise ε. two_layer default 2 (ε ~ N(0, 4I), §4.4);
    /// neuron default 0.9 (Fig. 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_std: Option<f64>,
    /// Dataset size. two_layer: 0 (default) draws fresh data every step
    /// (online, Fig. 7); n > 0 fixes n points. neuron: points generated
    /// (default 100, Fig. 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// neuron: the function of the generated labels,
    /// `y = signal · teacher(x) + noise_std · ε`. Default `swish` (Fig. 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Activation>,
    /// neuron: weight of the teacher function in y. Default 0.1 (Fig. 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<f64>,
    /// neuron: inputs given inline (with `y`), instead of generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<Vec<f64>>,
    /// neuron: labels given inline (with `x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<Vec<f64>>,
    /// neuron: a CSV file with columns `x,y` (header row), instead of generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// image_classifier: `cifar10` (default) or `fashion_mnist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Dataset>,
    /// image_classifier: the dataset's directory. Default
    /// `data/cifar-10-batches-bin` (where `probstab data fetch cifar10`
    /// puts it, relative to the working directory) or
    /// `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// image_classifier: `dynamic` (default: each step, each label of the
    /// batch is replaced by a uniformly random class with probability
    /// `noise_prob`) or `static` (that fraction of the training labels is
    /// replaced once, from the seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_noise: Option<LabelNoise>,
    /// image_classifier: p in [0, 1], the label-noise probability. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_prob: Option<f64>,
    /// image_classifier: random crop (4-pixel padding) and horizontal flip.
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<bool>,
    /// image_classifier: train on the first n training images. Default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_size: Option<usize>,
    /// image_classifier: evaluate on the first n test images. Default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_size: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// ResNet-18 with the CIFAR stem (models::resnet).
    #[default]
    Resnet18,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// CIFAR-10, binary release: 50,000 + 10,000 RGB 32×32 images.
    #[default]
    Cifar10,
    /// Fashion-MNIST, IDX files: 60,000 + 10,000 grey 28×28 images.
    FashionMnist,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LabelNoise {
    /// Redrawn every step (Fig. 1c, 9, 12).
    #[default]
    Dynamic,
    /// Drawn once (Fig. 10, 11).
    Static,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Plain SGD: no momentum, no weight decay (Eq. 1).
    #[default]
    Sgd,
    /// Adam (Kingma & Ba 2014) with bias correction, as in PyTorch.
    Adam,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LossReduction {
    /// Mean over batch and outputs, as PyTorch's `MSELoss()`.
    #[default]
    Mean,
    /// ½ · sum over outputs, mean over the batch (the paper's ½(f − y)²).
    HalfSum,
}

/// `[train]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainTable {
    /// λ, the learning rate (> 0).
    pub lr: f64,
    /// S, samples per step. Default 1.
    #[serde(default = "one")]
    pub batch_size: usize,
    /// Optimizer steps. Default 1000.
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// Adam β₁. Default 0.9.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam β₂. Default 0.999.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam ε. Default 1e-8, as PyTorch (burn's own default is 1e-5).
    #[serde(default = "default_adam_eps")]
    pub adam_eps: f64,
    #[serde(default)]
    pub loss: LossReduction,
    /// A loss above this (or non-finite) stops the cell as `diverged`. Default 1e6.
    #[serde(default = "default_diverge_above")]
    pub diverge_above: f64,
    /// Rows of `trace.csv` at most (steps are subsampled evenly). Default 1000.
    #[serde(default = "default_trace_points")]
    pub trace_points: usize,
    /// image_classifier: test accuracy and loss every k steps (in
    /// `trace.csv`); 0, the default, only at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<usize>,
    /// image_classifier: save model, optimizer and progress every k steps
    /// to the cell's `checkpoint/`, for `run --resume`; 0, the default,
    /// never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
}

/// `[measure]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeasureTable {
    /// Singular values ≤ rank_rtol · σ_max count as zero. Default 1e-3.
    #[serde(default = "default_rank_rtol")]
    pub rank_rtol: f64,
    /// |w| ≤ sparsity_atol counts as zero. Default 1e-3.
    #[serde(default = "default_sparsity_atol")]
    pub sparsity_atol: f64,
    /// Trailing fraction of the trace for m_L and the Lyapunov slope. Default 0.2.
    #[serde(default = "default_window")]
    pub window: f64,
    /// neuron: fresh points for the test loss. Default 10000.
    #[serde(default = "default_test_points")]
    pub test_points: usize,
    /// image_classifier: test images whose penultimate features give `rank`.
    /// Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_samples: Option<usize>,
}

impl Default for MeasureTable {
    fn default() -> Self {
        Self {
            rank_rtol: default_rank_rtol(),
            sparsity_atol: default_sparsity_atol(),
            window: default_window(),
            test_points: default_test_points(),
            rank_samples: None,
        }
    }
}

fn one() -> usize {
    1
}
fn default_steps() -> usize {
    1000
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_adam_eps() -> f64 {
    1e-8
}
fn default_diverge_above() -> f64 {
    1e6
}
fn default_trace_points() -> usize {
    1000
}
fn default_rank_rtol() -> f64 {
    1e-3
}
fn default_sparsity_atol() -> f64 {
    1e-3
}
fn default_window() -> f64 {
    0.2
}
fn default_test_points() -> usize {
    10_000
}

fn positive(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("must be > 0 and finite, got {v}")))
    }
}

fn unused(key: &str, set: bool, net: Net) -> Result<(), Invalid> {
    let kind = match net {
        Net::TwoLayer => "two_layer",
        Net::Neuron => "neuron",
        Net::ImageClassifier => "image_classifier",
    };
    if set {
        Err(invalid(key, format!("not used by kind `{kind}`")))
    } else {
        Ok(())
    }
}

impl ModelTable {
    /// Check and fill the kind's defaults.
    pub fn validate(&mut self, net: Net) -> Result<(), Invalid> {
        if net != Net::ImageClassifier {
            unused("model.arch", self.arch.is_some(), net)?;
            unused("model.width", self.width.is_some(), net)?;
        }
        match net {
            Net::ImageClassifier => {
                for (key, set) in [
                    ("model.dim", self.dim.is_some()),
                    ("model.hidden", self.hidden.is_some()),
                    ("model.bias", self.bias.is_some()),
                    ("model.w0", self.w0.is_some()),
                    ("model.u0", self.u0.is_some()),
                    ("model.activation", self.activation != Activation::default()),
                ] {
                    unused(key, set, net)?;
                }
                self.arch.get_or_insert_default();
                let width = *self.width.get_or_insert(1.0);
                if !(width > 0.0 && width <= 1.0) {
                    return Err(invalid(
                        "model.width",
                        format!("must be in (0, 1], got {width}"),
                    ));
                }
            }
            Net::TwoLayer => {
                unused("model.w0", self.w0.is_some(), net)?;
                unused("model.u0", self.u0.is_some(), net)?;
                for (key, v) in [
                    ("model.dim", self.dim.get_or_insert(200)),
                    ("model.hidden", self.hidden.get_or_insert(200)),
                ] {
                    if *v < 1 {
                        return Err(invalid(key, "must be ≥ 1"));
                    }
                }
                at_most(
                    "model.hidden",
                    self.dim
                        .unwrap_or(1)
                        .saturating_mul(self.hidden.unwrap_or(1)),
                    MAX_WEIGHTS,
                )?;
                self.bias.get_or_insert(false);
            }
            Net::Neuron => {
                unused("model.dim", self.dim.is_some(), net)?;
                unused("model.hidden", self.hidden.is_some(), net)?;
                unused("model.bias", self.bias.is_some(), net)?;
                if self.activation == Activation::Relu {
                    return Err(invalid(
                        "model.activation",
                        "a neuron takes `linear`, `tanh` or `swish`",
                    ));
                }
                for (key, v) in [("model.w0", self.w0), ("model.u0", self.u0)] {
                    match v {
                        Some(v) if v.is_finite() => {}
                        Some(v) => return Err(invalid(key, format!("must be finite, got {v}"))),
                        None => return Err(invalid(key, "a neuron needs its initial (w0, u0)")),
                    }
                }
            }
        }
        Ok(())
    }
}

impl DataTable {
    pub fn validate(&mut self, net: Net) -> Result<(), Invalid> {
        if net != Net::ImageClassifier {
            for (key, set) in [
                ("data.dataset", self.dataset.is_some()),
                ("data.dir", self.dir.is_some()),
                ("data.label_noise", self.label_noise.is_some()),
                ("data.noise_prob", self.noise_prob.is_some()),
                ("data.augment", self.augment.is_some()),
                ("data.train_size", self.train_size.is_some()),
                ("data.test_size", self.test_size.is_some()),
            ] {
                unused(key, set, net)?;
            }
        }
        match net {
            Net::ImageClassifier => {
                for (key, set) in [
                    ("data.mu", self.mu.is_some()),
                    ("data.noise_std", self.noise_std.is_some()),
                    ("data.n", self.n.is_some()),
                    ("data.teacher", self.teacher.is_some()),
                    ("data.signal", self.signal.is_some()),
                    ("data.x", self.x.is_some()),
                    ("data.y", self.y.is_some()),
                    ("data.csv", self.csv.is_some()),
                ] {
                    unused(key, set, net)?;
                }
                self.dataset.get_or_insert_default();
                self.label_noise.get_or_insert_default();
                self.augment.get_or_insert(true);
                let p = *self.noise_prob.get_or_insert(0.0);
                if !(0.0..=1.0).contains(&p) {
                    return Err(invalid(
                        "data.noise_prob",
                        format!("must be in [0, 1], got {p}"),
                    ));
                }
                for (key, n) in [
                    ("data.train_size", self.train_size),
                    ("data.test_size", self.test_size),
                ] {
                    if n == Some(0) {
                        return Err(invalid(key, "must be ≥ 1"));
                    }
                }
            }
            Net::TwoLayer => {
                for (key, set) in [
                    ("data.teacher", self.teacher.is_some()),
                    ("data.signal", self.signal.is_some()),
                    ("data.x", self.x.is_some()),
                    ("data.y", self.y.is_some()),
                    ("data.csv", self.csv.is_some()),
                ] {
                    unused(key, set, net)?;
                }
                let mu = self.mu.ok_or_else(|| {
                    invalid(
                        "data.mu",
                        "two_layer needs `mu` in [0, 1] (y = μx + (1 − μ)ε)",
                    )
                })?;
                if !(0.0..=1.0).contains(&mu) {
                    return Err(invalid("data.mu", format!("must be in [0, 1], got {mu}")));
                }
                non_negative("data.noise_std", *self.noise_std.get_or_insert(2.0))?;
                at_most("data.n", *self.n.get_or_insert(0), MAX_POINTS)?;
            }
            Net::Neuron => {
                unused("data.mu", self.mu.is_some(), net)?;
                let inline = self.x.is_some() || self.y.is_some();
                let generated = self.n.is_some()
                    || self.teacher.is_some()
                    || self.signal.is_some()
                    || self.noise_std.is_some();
                match (inline, self.csv.is_some(), generated) {
                    (true, false, false) => {
                        let (x, y) = (
                            self.x.as_deref().unwrap_or_default(),
                            self.y.as_deref().unwrap_or_default(),
                        );
                        if x.is_empty() || x.len() != y.len() {
                            return Err(invalid(
                                "data.x",
                                format!(
                                    "`x` and `y` need the same, non-zero length (got {} and {})",
                                    x.len(),
                                    y.len()
                                ),
                            ));
                        }
                        if let Some(i) = x.iter().chain(y).position(|v| !v.is_finite()) {
                            return Err(invalid(
                                if i < x.len() { "data.x" } else { "data.y" },
                                "values must be finite",
                            ));
                        }
                    }
                    (false, true, false) => {}
                    (false, false, _) => {
                        if *self.n.get_or_insert(100) < 1 {
                            return Err(invalid("data.n", "must be ≥ 1"));
                        }
                        at_most("data.n", self.n.unwrap_or(0), MAX_POINTS)?;
                        if self.teacher.get_or_insert(Activation::Swish) == &Activation::Relu {
                            return Err(invalid("data.teacher", "use `linear`, `tanh` or `swish`"));
                        }
                        let signal = *self.signal.get_or_insert(0.1);
                        if !signal.is_finite() {
                            return Err(invalid("data.signal", "must be finite"));
                        }
                        non_negative("data.noise_std", *self.noise_std.get_or_insert(0.9))?;
                    }
                    _ => {
                        return Err(invalid(
                            "data",
                            "give one dataset: inline `x` and `y`, or `csv`, or generated (`n`, `teacher`, `signal`, `noise_std`)",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn non_negative(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("must be ≥ 0 and finite, got {v}")))
    }
}

impl TrainTable {
    pub fn validate(&self, net: Net) -> Result<(), Invalid> {
        if net == Net::ImageClassifier {
            if self.loss != LossReduction::Mean {
                return Err(invalid(
                    "train.loss",
                    "image_classifier trains on the cross-entropy; leave `loss` out",
                ));
            }
        } else {
            unused("train.eval_every", self.eval_every.is_some(), net)?;
            unused(
                "train.checkpoint_every",
                self.checkpoint_every.is_some(),
                net,
            )?;
        }
        positive("train.lr", self.lr)?;
        if self.batch_size < 1 {
            return Err(invalid("train.batch_size", "batch size must be ≥ 1"));
        }
        if self.steps < 1 {
            return Err(invalid("train.steps", "must be ≥ 1"));
        }
        at_most("train.steps", self.steps, MAX_STEPS)?;
        at_most("train.batch_size", self.batch_size, MAX_BATCH)?;
        for (key, b) in [("train.beta1", self.beta1), ("train.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(invalid(key, format!("must be in [0, 1), got {b}")));
            }
        }
        positive("train.adam_eps", self.adam_eps)?;
        positive("train.diverge_above", self.diverge_above)?;
        if self.trace_points < 2 {
            return Err(invalid("train.trace_points", "must be ≥ 2"));
        }
        Ok(())
    }
}

impl MeasureTable {
    pub fn validate(&mut self, net: Net) -> Result<(), Invalid> {
        if net == Net::ImageClassifier {
            let samples = *self.rank_samples.get_or_insert(1000);
            if samples < 2 {
                return Err(invalid("measure.rank_samples", "must be ≥ 2"));
            }
            at_most("measure.rank_samples", samples, MAX_POINTS)?;
        } else {
            unused("measure.rank_samples", self.rank_samples.is_some(), net)?;
        }
        positive("measure.rank_rtol", self.rank_rtol)?;
        non_negative("measure.sparsity_atol", self.sparsity_atol)?;
        if !(self.window > 0.0 && self.window <= 1.0) {
            return Err(invalid(
                "measure.window",
                format!("must be in (0, 1], got {}", self.window),
            ));
        }
        if self.test_points < 1 {
            return Err(invalid("measure.test_points", "must be ≥ 1"));
        }
        at_most("measure.test_points", self.test_points, MAX_POINTS)?;
        Ok(())
    }
}
