//! The tables as serde structs, with defaults and units, and the typed
//! values their validation returns.

use crate::device::Backend;
use models::Activation;
use serde::{Deserialize, Serialize};

/// Which training kind a table belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// d → h → d (Fig. 7, 8).
    TwoLayer,
    /// u·σ(w·x) (Fig. 1a, 5).
    Neuron,
    /// ResNet-18 or an MLP on images (Fig. 1c, 9–12).
    ImageClassifier,
}

impl Net {
    /// The kind that trains this net (its `kind = "..."` name).
    pub const fn kind(self) -> &'static str {
        match self {
            Net::TwoLayer => "two_layer",
            Net::Neuron => "neuron",
            Net::ImageClassifier => "image_classifier",
        }
    }
}

/// A validated `[data]` of two_layer: the teacher stream
/// `y = μx + (1 − μ)ε`, ε ~ N(0, σ²I), online (`n = 0`) or n fixed points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TeacherData {
    pub mu: f64,
    pub noise_std: f64,
    pub n: usize,
}

/// A validated `[data]` of a neuron: one of three sources.
#[derive(Clone, Debug, PartialEq)]
pub enum NeuronData {
    Inline {
        x: Vec<f64>,
        y: Vec<f64>,
    },
    /// A CSV file with columns `x,y`.
    Csv(String),
    Generated(Generator),
}

/// Generated neuron data: `y = signal · teacher(x) + noise_std · ε`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generator {
    pub n: usize,
    pub teacher: Activation,
    pub signal: f64,
    pub noise_std: f64,
}

/// A validated `[model]` of image_classifier: the architecture.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageNetSpec {
    /// ResNet-18 with this channel multiplier, in (0, 1].
    Resnet18 { width: f64 },
    /// A fully connected net on the flattened image.
    Mlp(MlpSpec),
}

/// `arch = "mlp"`: hidden widths (at least one layer), σ, biases.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub bias: bool,
}

/// A validated `[data]` of image_classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSource {
    pub dataset: Dataset,
    /// None: the dataset's default directory.
    pub dir: Option<String>,
    /// How the data set is read: CIFAR-100's labels, an image folder's
    /// size, channels and split. Part of what identifies loaded data.
    pub read: ReadOptions,
    pub label_noise: LabelNoise,
    pub noise_prob: f64,
    pub augment: bool,
    /// None: all images.
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
}

/// How a data set is read, beyond its directory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// cifar100: fine (100 classes, default) or coarse (20) labels.
    pub labels: Cifar100Labels,
    /// image_folder: 1 (grey) or 3 (RGB); None: 1 if every image is grey,
    /// else 3.
    pub channels: Option<usize>,
    /// image_folder: `[height, width]`; None: the images' own (all alike).
    pub size: Option<[usize; 2]>,
    pub fit: Fit,
    /// image_folder without `train/` and `test/`: the fraction of each
    /// class held out for testing. None: 0.2.
    pub test_fraction: Option<f64>,
    /// image_folder: the seed of the split and of the images' order.
    pub split_seed: u64,
}

/// A training cell's tables as its config has them (defaults not yet
/// filled), with its seed and backend: what `TwoLayerCell::from_tables` and
/// its siblings validate into a typed cell.
pub struct Tables<'a> {
    pub model: &'a mut ModelTable,
    pub data: Option<&'a mut DataTable>,
    pub train: Option<&'a TrainTable>,
    pub measure: &'a mut MeasureTable,
    pub seed: u64,
    pub backend: Backend,
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
    /// two_layer: the initial weights (and biases) are PyTorch's default
    /// U(−1/√fan_in, 1/√fan_in) times this, > 0. Default 1 (left out of
    /// `config.toml` unless set, so that results of earlier runs resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_scale: Option<f64>,
    /// image_classifier: the architecture, `resnet18` (the default) or `mlp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// image_classifier with `arch = "mlp"`: the widths of the hidden
    /// layers, input side first; the last one is the penultimate layer.
    /// Default [256].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_widths: Option<Vec<usize>>,
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
    /// image_classifier: `cifar10` (default), `fashion_mnist`, `mnist`,
    /// `cifar100` or `image_folder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Dataset>,
    /// image_classifier: the dataset's directory. Default
    /// `data/cifar-10-batches-bin` and `data/cifar-100-binary` (where
    /// `probstab data fetch` puts them, relative to the working directory),
    /// `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`),
    /// `data/mnist`; image_folder has no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// cifar100: `fine` (100 classes, the default) or `coarse` (20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Cifar100Labels>,
    /// image_folder: 1 (grey) or 3 (RGB): every image is converted to it.
    /// Default 1 if every image is grey, else 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// image_folder: the size images are brought to, `n` or
    /// `[height, width]`. Default: the images' own size (all alike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<ImageSize>,
    /// image_folder: `resize` (default: scaled to `image_size`, bilinear)
    /// or `crop` (the centre `image_size`, unscaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<Fit>,
    /// image_folder without `train/` and `test/` folders: the fraction of
    /// each class held out as test images. Default 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// image_folder: seed of the train/test split and of the images' order.
    /// Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
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
    /// Fully connected layers on the flattened image (models::mlp).
    Mlp,
}

/// `image_size`: `n` (square) or `[height, width]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ImageSize {
    Square(usize),
    Rect([usize; 2]),
}

impl ImageSize {
    /// `[height, width]`.
    pub fn dims(self) -> [usize; 2] {
        match self {
            ImageSize::Square(n) => [n, n],
            ImageSize::Rect(hw) => hw,
        }
    }
}

/// How an image folder's images are brought to `image_size`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Scaled to the size (bilinear), the aspect ratio not kept.
    #[default]
    Resize,
    /// The centre of the image, unscaled; a smaller image is an error.
    Crop,
}

/// Which of CIFAR-100's two labels a cell trains on.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Cifar100Labels {
    /// The 100 classes.
    #[default]
    Fine,
    /// The 20 superclasses.
    Coarse,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// CIFAR-10, binary release: 50,000 + 10,000 RGB 32×32 images.
    #[default]
    Cifar10,
    /// Fashion-MNIST, IDX files: 60,000 + 10,000 grey 28×28 images.
    FashionMnist,
    /// MNIST, IDX files of the same names: 60,000 + 10,000 grey 28×28 digits.
    Mnist,
    /// CIFAR-100, binary release: 50,000 + 10,000 RGB 32×32 images, 100
    /// classes in 20 superclasses.
    Cifar100,
    /// A folder with one subfolder of PNG or JPEG images per class.
    ImageFolder,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_points: Option<usize>,
    /// image_classifier: test images whose penultimate features give `rank`.
    /// Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_samples: Option<usize>,
    /// two_layer: the singular values of W₂ at every trace point, as trace
    /// columns `w2_sv_1` … `w2_sv_min(d,h)`. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_singular_values: Option<bool>,
}

impl Default for MeasureTable {
    fn default() -> Self {
        Self {
            rank_rtol: default_rank_rtol(),
            sparsity_atol: default_sparsity_atol(),
            window: default_window(),
            test_points: None,
            rank_samples: None,
            trace_singular_values: None,
        }
    }
}

/// σ of the teacher's label noise when the config leaves it out: the
/// paper's ε ~ N(0, 4) (§4.2, §4.4), for `[saddle]` and two_layer's `[data]`.
pub const DEFAULT_NOISE_STD: f64 = 2.0;

/// S = 1, the default batch size of every kind.
pub fn one() -> usize {
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
