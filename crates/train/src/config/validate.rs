//! Per-kind validation of the tables: each `validate` checks the values,
//! fills the kind's defaults, and rejects a key the kind does not use.

use super::tables::{
    Arch, DEFAULT_NOISE_STD, DataTable, Dataset, Generator, ImageNetSpec, ImageSource,
    LossReduction, MeasureTable, MlpSpec, ModelTable, Net, NeuronData, ReadOptions, TeacherData,
    TrainTable,
};
use models::{Activation, NeuronConfig, TwoLayerConfig};

/// A key with a bad value, and why (the binary adds file and line).
#[derive(Debug)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

/// Upper bounds that keep a cell inside one machine's memory and time: a
/// typo of a few zeros is an error, not an abort.
pub const MAX_POINTS: usize = 10_000_000;
/// `measure.test_points` of a neuron when the config does not say.
const DEFAULT_TEST_POINTS: usize = 10_000;
pub const MAX_WEIGHTS: usize = 100_000_000;
pub const MAX_STEPS: usize = 1_000_000_000;
pub const MAX_BATCH: usize = 1_000_000;
/// The longest side `data.image_size` takes.
pub const MAX_IMAGE_SIDE: usize = 4096;

/// `key` must be at most `max`.
pub fn at_most(key: &str, v: usize, max: usize) -> Result<(), Invalid> {
    if v <= max {
        Ok(())
    } else {
        Err(invalid(key, format!("{v} is more than the limit {max}")))
    }
}

impl ModelTable {
    fn reject_unused(&self, net: Net) -> Result<(), Invalid> {
        reject_unused(
            &[
                ("model.arch", self.arch.is_some(), &[IMAGE]),
                ("model.width", self.width.is_some(), &[IMAGE]),
                ("model.dim", self.dim.is_some(), &[TWO_LAYER]),
                ("model.hidden", self.hidden.is_some(), &[TWO_LAYER]),
                ("model.bias", self.bias.is_some(), &[TWO_LAYER, IMAGE]),
                (
                    "model.hidden_widths",
                    self.hidden_widths.is_some(),
                    &[IMAGE],
                ),
                ("model.init_scale", self.init_scale.is_some(), &[TWO_LAYER]),
                ("model.w0", self.w0.is_some(), &[NEURON]),
                ("model.u0", self.u0.is_some(), &[NEURON]),
                (
                    "model.activation",
                    self.activation != Activation::default(),
                    &[TWO_LAYER, NEURON, IMAGE],
                ),
            ],
            net,
        )
    }

    /// image_classifier: fill the defaults; the architecture.
    pub fn image(&mut self) -> Result<ImageNetSpec, Invalid> {
        self.reject_unused(IMAGE)?;
        let arch = *self.arch.get_or_insert_default();
        let only = |key: &str, set: bool, arch: &str| {
            if set {
                Err(invalid(
                    key,
                    format!("applies to `arch = \"{arch}\"` only; leave it out"),
                ))
            } else {
                Ok(())
            }
        };
        match arch {
            Arch::Resnet18 => {
                only("model.hidden_widths", self.hidden_widths.is_some(), "mlp")?;
                only("model.bias", self.bias.is_some(), "mlp")?;
                only(
                    "model.activation",
                    self.activation != Activation::default(),
                    "mlp",
                )?;
                let width = *self.width.get_or_insert(1.0);
                if !(width > 0.0 && width <= 1.0) {
                    return Err(invalid(
                        "model.width",
                        format!("must be in (0, 1], got {width}"),
                    ));
                }
                Ok(ImageNetSpec::Resnet18 { width })
            }
            Arch::Mlp => {
                only("model.width", self.width.is_some(), "resnet18")?;
                let hidden = self.hidden_widths.get_or_insert_with(|| vec![256]).clone();
                if hidden.is_empty() {
                    return Err(invalid(
                        "model.hidden_widths",
                        "needs at least one hidden layer (its output is the penultimate layer)",
                    ));
                }
                if let Some(i) = hidden.iter().position(|&h| h < 1) {
                    return Err(invalid(
                        "model.hidden_widths",
                        format!("entry {i} is 0; every width must be ≥ 1"),
                    ));
                }
                for &h in &hidden {
                    at_most("model.hidden_widths", h, MAX_WEIGHTS)?;
                }
                let bias = *self.bias.get_or_insert(true);
                Ok(ImageNetSpec::Mlp(MlpSpec {
                    hidden,
                    activation: self.activation,
                    bias,
                }))
            }
        }
    }

    /// two_layer: fill the defaults; the net.
    pub fn two_layer(&mut self) -> Result<TwoLayerConfig, Invalid> {
        self.reject_unused(TWO_LAYER)?;
        let dim = *self.dim.get_or_insert(200);
        let hidden = *self.hidden.get_or_insert(200);
        for (key, v) in [("model.dim", dim), ("model.hidden", hidden)] {
            if v < 1 {
                return Err(invalid(key, "must be ≥ 1"));
            }
        }
        at_most("model.hidden", dim.saturating_mul(hidden), MAX_WEIGHTS)?;
        let bias = *self.bias.get_or_insert(false);
        Ok(TwoLayerConfig {
            dim,
            hidden,
            activation: self.activation,
            bias,
        })
    }

    /// two_layer: the scale of the initial weights (default 1, not filled
    /// in, so that `config.toml` of a default cell stays as it was).
    pub fn init_scale(&self) -> Result<f64, Invalid> {
        match self.init_scale {
            None => Ok(1.0),
            Some(s) if s.is_finite() && s > 0.0 => Ok(s),
            Some(s) => Err(invalid(
                "model.init_scale",
                format!("must be finite and > 0, got {s}"),
            )),
        }
    }

    /// neuron: the activation and the initial (w, u).
    pub fn neuron(&mut self) -> Result<NeuronConfig, Invalid> {
        self.reject_unused(NEURON)?;
        if self.activation == Activation::Relu {
            return Err(invalid(
                "model.activation",
                "a neuron takes `linear`, `tanh` or `swish`",
            ));
        }
        let initial = |key: &str, v: Option<f64>| match v {
            Some(v) if v.is_finite() => Ok(v),
            Some(v) => Err(invalid(key, format!("must be finite, got {v}"))),
            None => Err(invalid(key, "a neuron needs its initial (w0, u0)")),
        };
        Ok(NeuronConfig {
            activation: self.activation,
            w0: initial("model.w0", self.w0)?,
            u0: initial("model.u0", self.u0)?,
        })
    }
}

impl DataTable {
    fn reject_unused(&self, net: Net) -> Result<(), Invalid> {
        reject_unused(
            &[
                ("data.mu", self.mu.is_some(), &[TWO_LAYER]),
                (
                    "data.noise_std",
                    self.noise_std.is_some(),
                    &[TWO_LAYER, NEURON],
                ),
                ("data.n", self.n.is_some(), &[TWO_LAYER, NEURON]),
                ("data.teacher", self.teacher.is_some(), &[NEURON]),
                ("data.signal", self.signal.is_some(), &[NEURON]),
                ("data.x", self.x.is_some(), &[NEURON]),
                ("data.y", self.y.is_some(), &[NEURON]),
                ("data.csv", self.csv.is_some(), &[NEURON]),
                ("data.dataset", self.dataset.is_some(), &[IMAGE]),
                ("data.dir", self.dir.is_some(), &[IMAGE]),
                ("data.label_noise", self.label_noise.is_some(), &[IMAGE]),
                ("data.noise_prob", self.noise_prob.is_some(), &[IMAGE]),
                ("data.augment", self.augment.is_some(), &[IMAGE]),
                ("data.train_size", self.train_size.is_some(), &[IMAGE]),
                ("data.test_size", self.test_size.is_some(), &[IMAGE]),
                ("data.labels", self.labels.is_some(), &[IMAGE]),
                ("data.channels", self.channels.is_some(), &[IMAGE]),
                ("data.image_size", self.image_size.is_some(), &[IMAGE]),
                ("data.fit", self.fit.is_some(), &[IMAGE]),
                ("data.test_fraction", self.test_fraction.is_some(), &[IMAGE]),
                ("data.split_seed", self.split_seed.is_some(), &[IMAGE]),
            ],
            net,
        )
    }

    /// image_classifier: fill the defaults; the images and their noise.
    pub fn image(&mut self) -> Result<ImageSource, Invalid> {
        self.reject_unused(IMAGE)?;
        let dataset = *self.dataset.get_or_insert_default();
        let label_noise = *self.label_noise.get_or_insert_default();
        let augment = *self.augment.get_or_insert(true);
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
        let read = self.read_options(dataset)?;
        Ok(ImageSource {
            dataset,
            dir: self.dir.clone(),
            read,
            label_noise,
            noise_prob: p,
            augment,
            train_size: self.train_size,
            test_size: self.test_size,
        })
    }

    /// The keys of one dataset: CIFAR-100's labels, an image folder's
    /// size, channels and split (each an error with another dataset).
    fn read_options(&self, dataset: Dataset) -> Result<ReadOptions, Invalid> {
        let folder = dataset == Dataset::ImageFolder;
        let only = |key: &str, set: bool, name: &str| {
            if set {
                Err(invalid(
                    key,
                    format!("applies to `dataset = \"{name}\"` only; leave it out"),
                ))
            } else {
                Ok(())
            }
        };
        only(
            "data.labels",
            self.labels.is_some() && dataset != Dataset::Cifar100,
            "cifar100",
        )?;
        for (key, set) in [
            ("data.channels", self.channels.is_some()),
            ("data.image_size", self.image_size.is_some()),
            ("data.fit", self.fit.is_some()),
            ("data.test_fraction", self.test_fraction.is_some()),
            ("data.split_seed", self.split_seed.is_some()),
        ] {
            only(key, set && !folder, "image_folder")?;
        }
        if self.dir.as_ref().is_some_and(|d| d.trim().is_empty()) {
            return Err(invalid(
                "data.dir",
                "is empty: name the data's folder (relative paths are relative to the config file)",
            ));
        }
        if folder && self.dir.is_none() {
            return Err(invalid(
                "data.dir",
                "image_folder needs `dir`: a folder with one subfolder of PNG or JPEG images per class (or `train/` and `test/` folders holding one each)",
            ));
        }
        if let Some(c) = self.channels
            && c != 1
            && c != 3
        {
            return Err(invalid(
                "data.channels",
                format!("must be 1 (grey) or 3 (RGB), got {c}"),
            ));
        }
        let size = self.image_size.map(|s| s.dims());
        if let Some(hw) = size {
            for v in hw {
                if !(1..=MAX_IMAGE_SIDE).contains(&v) {
                    return Err(invalid(
                        "data.image_size",
                        format!("sides must be in 1..={MAX_IMAGE_SIDE}, got {v}"),
                    ));
                }
            }
        }
        if let Some(f) = self.test_fraction
            && !(f > 0.0 && f < 1.0)
        {
            return Err(invalid(
                "data.test_fraction",
                format!("must be in (0, 1), got {f}"),
            ));
        }
        Ok(ReadOptions {
            labels: self.labels.unwrap_or_default(),
            channels: self.channels,
            size,
            fit: self.fit.unwrap_or_default(),
            test_fraction: self.test_fraction,
            split_seed: self.split_seed.unwrap_or(0),
        })
    }

    /// two_layer: fill the defaults; the teacher stream.
    pub fn two_layer(&mut self) -> Result<TeacherData, Invalid> {
        self.reject_unused(TWO_LAYER)?;
        let mu = self.mu.ok_or_else(|| {
            invalid(
                "data.mu",
                "two_layer needs `mu` in [0, 1] (y = μx + (1 − μ)ε)",
            )
        })?;
        if !(0.0..=1.0).contains(&mu) {
            return Err(invalid("data.mu", format!("must be in [0, 1], got {mu}")));
        }
        let noise_std = *self.noise_std.get_or_insert(DEFAULT_NOISE_STD);
        non_negative("data.noise_std", noise_std)?;
        let n = *self.n.get_or_insert(0);
        at_most("data.n", n, MAX_POINTS)?;
        Ok(TeacherData { mu, noise_std, n })
    }

    /// neuron: fill the defaults; one dataset, inline, CSV or generated.
    pub fn neuron(&mut self) -> Result<NeuronData, Invalid> {
        self.reject_unused(NEURON)?;
        let inline = self.x.is_some() || self.y.is_some();
        let generated = self.n.is_some()
            || self.teacher.is_some()
            || self.signal.is_some()
            || self.noise_std.is_some();
        match (inline, &self.csv, generated) {
            (true, None, false) => {
                let (x, y) = (
                    self.x.clone().unwrap_or_default(),
                    self.y.clone().unwrap_or_default(),
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
                if let Some(i) = x.iter().chain(&y).position(|v| !v.is_finite()) {
                    return Err(invalid(
                        if i < x.len() { "data.x" } else { "data.y" },
                        "values must be finite",
                    ));
                }
                Ok(NeuronData::Inline { x, y })
            }
            (false, Some(csv), false) => Ok(NeuronData::Csv(csv.clone())),
            (false, None, _) => {
                let n = *self.n.get_or_insert(100);
                if n < 1 {
                    return Err(invalid("data.n", "must be ≥ 1"));
                }
                at_most("data.n", n, MAX_POINTS)?;
                let teacher = *self.teacher.get_or_insert(Activation::Swish);
                if teacher == Activation::Relu {
                    return Err(invalid("data.teacher", "use `linear`, `tanh` or `swish`"));
                }
                let signal = *self.signal.get_or_insert(0.1);
                if !signal.is_finite() {
                    return Err(invalid("data.signal", "must be finite"));
                }
                let noise_std = *self.noise_std.get_or_insert(0.9);
                non_negative("data.noise_std", noise_std)?;
                Ok(NeuronData::Generated(Generator {
                    n,
                    teacher,
                    signal,
                    noise_std,
                }))
            }
            _ => Err(invalid(
                "data",
                "give one dataset: inline `x` and `y`, or `csv`, or generated (`n`, `teacher`, `signal`, `noise_std`)",
            )),
        }
    }
}

impl TrainTable {
    pub fn validate(&self, net: Net) -> Result<(), Invalid> {
        reject_unused(
            &[
                ("train.eval_every", self.eval_every.is_some(), &[IMAGE]),
                (
                    "train.checkpoint_every",
                    self.checkpoint_every.is_some(),
                    &[IMAGE],
                ),
            ],
            net,
        )?;
        if net == Net::ImageClassifier && self.loss != LossReduction::Mean {
            return Err(invalid(
                "train.loss",
                "image_classifier trains on the cross-entropy; leave `loss` out",
            ));
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
    /// rank_rtol, sparsity_atol and window, which every training kind reads.
    fn common(&self) -> Result<(), Invalid> {
        positive("measure.rank_rtol", self.rank_rtol)?;
        non_negative("measure.sparsity_atol", self.sparsity_atol)?;
        if !(self.window > 0.0 && self.window <= 1.0) {
            return Err(invalid(
                "measure.window",
                format!("must be in (0, 1], got {}", self.window),
            ));
        }
        Ok(())
    }

    /// image_classifier: fill the default; the test images behind `rank`.
    pub fn image(&mut self) -> Result<usize, Invalid> {
        let samples = *self.rank_samples.get_or_insert(1000);
        if samples < 2 {
            return Err(invalid("measure.rank_samples", "must be ≥ 2"));
        }
        at_most("measure.rank_samples", samples, MAX_POINTS)?;
        self.common()?;
        if self.test_points.is_some() {
            return Err(not_used("measure.test_points", IMAGE));
        }
        if self.trace_singular_values.is_some() {
            return Err(not_used("measure.trace_singular_values", IMAGE));
        }
        Ok(samples)
    }

    /// two_layer: the common keys only.
    pub fn two_layer(&mut self) -> Result<(), Invalid> {
        if self.rank_samples.is_some() {
            return Err(not_used("measure.rank_samples", TWO_LAYER));
        }
        self.common()?;
        if self.test_points.is_some() {
            return Err(not_used("measure.test_points", TWO_LAYER));
        }
        Ok(())
    }

    /// neuron: fill the default; the fresh points behind `test_loss`.
    pub fn neuron(&mut self) -> Result<usize, Invalid> {
        if self.rank_samples.is_some() {
            return Err(not_used("measure.rank_samples", NEURON));
        }
        if self.trace_singular_values.is_some() {
            return Err(not_used("measure.trace_singular_values", NEURON));
        }
        self.common()?;
        let points = *self.test_points.get_or_insert(DEFAULT_TEST_POINTS);
        if points < 1 {
            return Err(invalid("measure.test_points", "must be ≥ 1"));
        }
        at_most("measure.test_points", points, MAX_POINTS)?;
        Ok(points)
    }
}

/// A table that `net`'s kind needs, or the error that it is missing.
pub fn required<T>(table: Option<T>, net: Net, name: &str) -> Result<T, Invalid> {
    table.ok_or_else(|| needs(net.kind(), name))
}

/// The error for a table that `kind` needs and the config lacks.
pub fn needs(kind: &str, table: &str) -> Invalid {
    invalid(table, format!("kind `{kind}` needs a [{table}] table"))
}

/// An [`Invalid`] for `key`.
pub fn invalid(key: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

fn positive(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("must be > 0 and finite, got {v}")))
    }
}

fn non_negative(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("must be ≥ 0 and finite, got {v}")))
    }
}

const TWO_LAYER: Net = Net::TwoLayer;
const NEURON: Net = Net::Neuron;
const IMAGE: Net = Net::ImageClassifier;

/// Each optional key with whether it is set and the kinds that use it: a set
/// key that `net` does not use is an error.
fn reject_unused(keys: &[(&str, bool, &[Net])], net: Net) -> Result<(), Invalid> {
    match keys
        .iter()
        .find(|(_, set, users)| *set && !users.contains(&net))
    {
        Some((key, _, _)) => Err(not_used(key, net)),
        None => Ok(()),
    }
}

fn not_used(key: &str, net: Net) -> Invalid {
    invalid(key, format!("not used by kind `{}`", net.kind()))
}
