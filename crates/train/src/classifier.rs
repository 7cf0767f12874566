//! The `image_classifier` kind (Appendix B.4; Fig. 1c, 9–12): ResNet-18 or
//! an MLP on CIFAR-10, CIFAR-100, Fashion-MNIST, MNIST or an image folder
//! with dynamic or static label noise, plain SGD or Adam at a constant λ,
//! cross-entropy loss. Hands back the losses, the test accuracy, the
//! penultimate features of test images and every layer's weights.
//!
//! Every random draw of step t comes from a stream of its own (the epoch's
//! shuffle, the step's crops, flips and label noise: `rng_at`), so a run
//! resumed from a checkpoint at step t is bit-for-bit the uninterrupted run.

use crate::checkpoint::{self, Checkpointing, Progress};
use crate::config::{
    Dataset, ImageNetSpec, ImageSource, Invalid, LabelNoise, MeasureTable, MlpSpec, Net,
    ReadOptions, Tables, TrainTable, required,
};
use crate::device::{Backend, device};
use crate::images::{self, Augment, ImageData, ImageDataError, ImageSet, Normalization, Sampler};
use crate::rng::{Stream, rng, rng_at};
use crate::trainer::{Outcome, TrainError, optimizer};
use crate::watch::{StepInfo, Unwatched, Watch};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use models::resnet::ParamSpec;
use models::{Mlp, MlpConfig, ResNet18, ResNet18Config};
use rand::RngExt;
use rand_distr::{Distribution, Normal};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Test images per forward pass when evaluating.
const EVAL_BATCH: usize = 250;
/// … and at most this many bytes of f32 input per batch, so that large
/// images (a folder at image_size 512) are evaluated in smaller batches
/// instead of a batch as large as the data itself. Eval mode treats each
/// image alone: the batch size changes no result.
const EVAL_BYTES: usize = 64 << 20;

/// Images per evaluation batch of `set`.
fn eval_batch(set: &ImageSet) -> usize {
    (EVAL_BYTES / (4 * set.pixels()).max(1)).clamp(1, EVAL_BATCH)
}

pub use crate::checkpoint::Eval;

/// One validated image_classifier cell: what training it needs, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierCell {
    /// ResNet-18 (with its channel multiplier) or an MLP.
    pub net: ImageNetSpec,
    pub data: ImageSource,
    pub train: TrainTable,
    /// The tolerances of its metrics.
    pub measure: MeasureTable,
    /// Test images whose penultimate features give the rank.
    pub rank_samples: usize,
    pub seed: u64,
    pub backend: Backend,
}

impl ClassifierCell {
    /// Validate the tables (filling their defaults) into a cell.
    pub fn from_tables(t: Tables) -> Result<Self, Invalid> {
        let net = t.model.image()?;
        let data = required(t.data, Net::ImageClassifier, "data")?.image()?;
        let train = required(t.train, Net::ImageClassifier, "train")?;
        train.validate(Net::ImageClassifier)?;
        let rank_samples = t.measure.image()?;
        Ok(Self {
            net,
            data,
            train: train.clone(),
            measure: t.measure.clone(),
            rank_samples,
            seed: t.seed,
            backend: t.backend,
        })
    }
}

pub struct ClassifierRun {
    /// Minibatch cross-entropy per step, and where it diverged.
    pub outcome: Outcome,
    /// Correctly classified images of each step's minibatch (against the
    /// labels it trained on, noise included).
    pub correct: Vec<u32>,
    pub batch_size: usize,
    /// Evaluations every `eval_every` steps, and always one at the end.
    pub evals: Vec<Eval>,
    /// Penultimate features of `rank_samples` of the `test_size` test images,
    /// drawn at random from the seed (Appendix B.4), `samples × feature_dim` row-major, in
    /// eval mode.
    pub features: Vec<f32>,
    pub samples: usize,
    pub feature_dim: usize,
    /// Every weight by layer name (PyTorch layout): ResNet-18's convs by
    /// torchvision name and its head `fc`; an MLP's `fc1` … `fck` and `out`.
    pub layers: Vec<(String, Vec<f32>)>,
    /// The data set's class names, in label order.
    pub class_names: Vec<String>,
    /// Images of each class among the training and test images used.
    pub train_counts: Vec<usize>,
    pub test_counts: Vec<usize>,
    /// Images whose colour was converted on loading (image folders).
    pub converted: usize,
    /// Training labels that static noise changed (0 for dynamic noise).
    pub labels_changed: usize,
    /// The step a checkpoint resumed from, if one did.
    pub resumed_at: Option<usize>,
    /// Training images per second of wall time in this process.
    pub images_per_second: f64,
    /// Training and test images used (`train_size`, `test_size` capped by
    /// the dataset).
    pub train_images: usize,
    pub test_images: usize,
}

/// A dataset in memory with its per-channel normalisation.
pub struct Loaded {
    pub data: ImageData,
    pub norm: Normalization,
}

impl Loaded {
    /// Any image data (from [`images::ImageSet::from_dataset`], say: a burn
    /// dataset), normalised by its training set.
    pub fn new(data: ImageData) -> Self {
        let norm = Normalization::of(&data.train);
        Self { data, norm }
    }
}

/// Where a dataset lives unless `data.dir` says otherwise (image_folder has
/// no default: its validation asks for `data.dir`).
pub fn default_dir(dataset: Dataset) -> PathBuf {
    match dataset {
        Dataset::Cifar10 => PathBuf::from("data/cifar-10-batches-bin"),
        Dataset::Cifar100 => PathBuf::from("data/cifar-100-binary"),
        Dataset::FashionMnist => PathBuf::from(images::FASHION_MNIST_DIR),
        Dataset::Mnist => PathBuf::from(images::MNIST_DIR),
        Dataset::ImageFolder => PathBuf::from("."),
    }
}

/// The data of `source`, loaded once per process: the cells of a grid
/// share it.
pub fn load_source(source: &ImageSource) -> Result<Arc<Loaded>, ImageDataError> {
    let dir = source
        .dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| default_dir(source.dataset));
    load(source.dataset, &dir, &source.read)
}

/// Load a dataset once per process (per directory and read options).
pub fn load(
    dataset: Dataset,
    dir: &Path,
    read: &ReadOptions,
) -> Result<Arc<Loaded>, ImageDataError> {
    type Key = (Dataset, PathBuf, ReadOptions);
    static CACHE: Mutex<Vec<(Key, Arc<Loaded>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let key = (dataset, dir.to_path_buf(), read.clone());
    if let Some((_, loaded)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(loaded.clone());
    }
    let data = match dataset {
        Dataset::Cifar10 => images::load_cifar10(dir)?,
        Dataset::Cifar100 => {
            images::load_cifar100(dir, read.labels == crate::config::Cifar100Labels::Coarse)?
        }
        Dataset::FashionMnist => images::load_fashion_mnist(dir)?,
        Dataset::Mnist => images::load_mnist(dir)?,
        Dataset::ImageFolder => {
            images::load_image_folder(dir, read, crate::memory::available_bytes())?
        }
    };
    let loaded = Arc::new(Loaded::new(data));
    cache.push((key, loaded.clone()));
    Ok(loaded)
}

/// What image_classifier trains: ResNet-18 or an MLP.
pub trait ImageNet: Module + 'static {
    /// Logits `[N, classes]` of images `[N, C, H, W]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2>;
    /// The penultimate features `[N, features]`.
    fn features(&self, x: Tensor<4>) -> Tensor<2>;
    /// Every weight by layer name, PyTorch layout.
    fn layers(&self) -> Vec<(String, Vec<f32>)>;
}

impl ImageNet for ResNet18 {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        ResNet18::forward(self, x)
    }
    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        ResNet18::features(self, x)
    }
    fn layers(&self) -> Vec<(String, Vec<f32>)> {
        ResNet18::layers(self)
    }
}

impl ImageNet for Mlp {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        Mlp::forward(self, x)
    }
    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        Mlp::features(self, x)
    }
    fn layers(&self) -> Vec<(String, Vec<f32>)> {
        Mlp::layers(self)
    }
}

/// The MLP's config for a dataset's images.
pub fn mlp_config(spec: &MlpSpec, set: &ImageSet) -> MlpConfig {
    MlpConfig {
        inputs: set.pixels(),
        hidden: spec.hidden.clone(),
        classes: set.classes,
        activation: spec.activation,
        bias: spec.bias,
    }
}

/// PyTorch's `nn.Linear` initialisation, drawn on the host from the seed:
/// weights and biases U(±1/√fan_in), layer by layer.
pub fn initial_mlp(config: &MlpConfig, seed: u64, device: &Device) -> Mlp {
    let mut r = rng(seed, Stream::Init);
    // A bias follows its weight in `params()`: it takes that fan-in.
    let mut fan_in = config.inputs;
    config.init_with(device, |spec: &ParamSpec| {
        if let [rows, cols] = spec.shape[..] {
            fan_in = cols;
            crate::init::linear_weight(&mut r, rows, cols)
        } else {
            crate::init::linear_bias(&mut r, spec.len(), fan_in)
        }
    })
}

/// The net's config for a dataset's images.
pub fn model_config(width: f64, set: &ImageSet) -> ResNet18Config {
    ResNet18Config {
        in_channels: set.channels,
        num_classes: set.classes,
        width,
    }
}

/// torchvision's initialisation, drawn on the host from the seed: convs
/// Kaiming-normal in `fan_out` mode for ReLU, N(0, 2/(out·k²)); the head
/// U(±1/√in) for weight and bias, as `nn.Linear`.
pub fn initial_model(config: &ResNet18Config, seed: u64, device: &Device) -> ResNet18 {
    let mut r = rng(seed, Stream::Init);
    let features = config.features();
    config.init_with(device, |spec: &ParamSpec| match spec.name.as_str() {
        "fc.weight" | "fc.bias" => {
            let bound = 1.0 / (features as f64).sqrt();
            (0..spec.len())
                .map(|_| r.random_range(-bound..bound) as f32)
                .collect()
        }
        _ => {
            let fan_out = spec.shape[0] * spec.shape[2] * spec.shape[3];
            let normal = Normal::new(0.0, (2.0 / fan_out as f64).sqrt()).expect("positive σ");
            (0..spec.len())
                .map(|_| normal.sample(&mut r) as f32)
                .collect()
        }
    })
}

/// Train one cell. With `checkpoint`, progress is saved every
/// `checkpoint_every` steps and, when `resume` is set, picked up again.
pub fn run(
    cell: &ClassifierCell,
    checkpoint: Option<&Checkpointing>,
) -> Result<ClassifierRun, TrainError> {
    run_watched(cell, checkpoint, &mut Unwatched)
}

/// [`run`], reporting each step to `watch`, which is synced before every
/// checkpoint (so what it wrote covers every step the checkpoint holds).
pub fn run_watched(
    cell: &ClassifierCell,
    checkpoint: Option<&Checkpointing>,
    watch: &mut dyn Watch,
) -> Result<ClassifierRun, TrainError> {
    device(cell.backend)?;
    let loaded = load_source(&cell.data)?;
    run_on(cell, &loaded, checkpoint, watch)
}

/// [`run_watched`] on data already in memory: any [`Loaded`], such as one
/// made from burn datasets with [`images::ImageSet::from_dataset`].
pub fn run_on(
    cell: &ClassifierCell,
    loaded: &Loaded,
    checkpoint: Option<&Checkpointing>,
    watch: &mut dyn Watch,
) -> Result<ClassifierRun, TrainError> {
    let device = device(cell.backend)?;
    let set = &loaded.data.train;
    let available = if cell.backend == Backend::Cpu {
        crate::memory::available_bytes()
    } else {
        None
    };
    let batch = cell.train.batch_size;
    match &cell.net {
        ImageNetSpec::Resnet18 { width } => {
            let config = model_config(*width, set);
            if let Some(available) = available {
                crate::memory::check(config.width, set.height * set.width, batch, available)?;
            }
            let fresh = || initial_model(&config, cell.seed, &device);
            train(
                cell,
                loaded,
                &device,
                fresh,
                config.features(),
                checkpoint,
                watch,
            )
        }
        ImageNetSpec::Mlp(spec) => {
            let config = mlp_config(spec, set);
            if let Some(available) = available {
                crate::memory::check_mlp(
                    config.inputs,
                    &config.hidden,
                    config.classes,
                    batch,
                    available,
                )?;
            }
            let fresh = || initial_mlp(&config, cell.seed, &device);
            train(
                cell,
                loaded,
                &device,
                fresh,
                config.features(),
                checkpoint,
                watch,
            )
        }
    }
}

/// The training loop of one cell, whatever the net.
fn train<M: ImageNet>(
    cell: &ClassifierCell,
    loaded: &Loaded,
    device: &Device,
    fresh: impl Fn() -> M,
    feature_dim: usize,
    checkpoint: Option<&Checkpointing>,
    watch: &mut dyn Watch,
) -> Result<ClassifierRun, TrainError> {
    let (data, cfg, seed) = (&cell.data, &cell.train, cell.seed);
    let (train_set, test_set) = (&loaded.data.train, &loaded.data.test);
    let n_train = data
        .train_size
        .map_or(train_set.len(), |n| n.min(train_set.len()));
    let n_test = data
        .test_size
        .map_or(test_set.len(), |n| n.min(test_set.len()));
    let noise_prob = data.noise_prob;
    let mut labels = train_set.labels[..n_train].to_vec();
    let labels_changed = match data.label_noise {
        LabelNoise::Static => {
            images::static_noise(&mut labels, train_set.classes, noise_prob, seed)
        }
        LabelNoise::Dynamic => 0,
    };
    let dynamic = data.label_noise == LabelNoise::Dynamic && noise_prob > 0.0;
    let augment = data.augment.then_some(Augment {
        padding: 4,
        flip: true,
    });

    // A checkpoint is restored into a model of its own (checkpoint::restore).
    let restored = checkpoint.and_then(|ck| checkpoint::restore(ck, &fresh, || optimizer(cfg)));
    let resumed_at = restored.as_ref().map(|(p, ..)| p.step);
    let (mut progress, mut net, mut optim) =
        restored.unwrap_or_else(|| (Progress::default(), fresh(), optimizer(cfg)));

    let batch = cfg.batch_size;
    let mut sampler = Sampler::new(n_train, batch, seed);
    let every = |k: Option<usize>, step: usize| k.is_some_and(|k| k > 0 && step % k == 0);
    let started = Instant::now();
    let first = progress.step;
    watch.start(first, cfg.steps);
    let _responsive = crate::interrupt::Responsive::enter();
    for step in first..cfg.steps {
        if crate::interrupt::requested() {
            // At a step boundary: save the steps taken since the last
            // checkpoint, and stop.
            watch.sync();
            let saved = match checkpoint {
                // Nothing new since the checkpoint it resumed from.
                Some(ck) if step == first => checkpoint::exists(&ck.dir),
                Some(ck) => match checkpoint::save(ck, &net, &optim, &progress) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!("{e}; stopping without a checkpoint");
                        false
                    }
                },
                None => false,
            };
            return Err(TrainError::Interrupted { step, saved });
        }
        let idx = sampler.indices(step);
        let mut aug_rng = rng_at(seed, Stream::Augment, step as u64);
        let x = images::batch(
            train_set,
            &idx,
            &loaded.norm,
            augment.map(|a| (a, &mut aug_rng)),
        );
        let mut y: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
        if dynamic {
            let mut noise = rng_at(seed, Stream::DynamicNoise, step as u64);
            images::dynamic_noise(&mut y, train_set.classes, noise_prob, &mut noise);
        }
        let x = image_tensor(x, batch, train_set, device);
        let logits = net.forward(x);
        let (loss, correct) = cross_entropy(logits, &y, train_set.classes, device);
        let value: f32 = loss.clone().into_scalar();
        progress.losses.push(value);
        progress.correct.push(correct);
        progress.step = step + 1;
        watch.step(&StepInfo {
            step,
            loss: value,
            batch_accuracy: Some(correct as f64 / batch as f64),
            eval: progress.evals.last().filter(|e| e.step == step),
            probe: None,
        });
        if rules::diverged(value, cfg.diverge_above) {
            progress.diverged_at = Some(step);
            break;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(cfg.lr, net, grads);
        if every(cfg.eval_every, step + 1) && step + 1 < cfg.steps {
            let (test_accuracy, test_loss) = evaluate(&net, test_set, n_test, &loaded.norm, device);
            progress.evals.push(Eval {
                step: step + 1,
                test_accuracy,
                test_loss,
            });
        }
        if let Some(ck) = checkpoint {
            if every(cfg.checkpoint_every, step + 1) && step + 1 < cfg.steps {
                watch.sync();
                if let Err(e) = checkpoint::save(ck, &net, &optim, &progress) {
                    tracing::warn!("{e}; training goes on without this checkpoint");
                }
            }
        }
    }
    watch.sync();
    let seconds = started.elapsed().as_secs_f64();
    let images_per_second = (progress.step - first) as f64 * batch as f64 / seconds.max(1e-9);

    let (test_accuracy, test_loss) = evaluate(&net, test_set, n_test, &loaded.norm, device);
    progress.evals.push(Eval {
        step: progress.step,
        test_accuracy,
        test_loss,
    });
    // The column buffers of the CPU convolution are this cell's only.
    models::gemm_conv::release_scratch();
    // From the same test_size images the accuracy is measured on.
    let samples = cell.rank_samples.min(n_test);
    let chosen = choose(n_test, samples, seed);
    let features = penultimate(&net, test_set, &chosen, &loaded.norm, device);
    let counts = |set: &ImageSet, n: usize| images::count_classes(&set.labels[..n], set.classes);
    Ok(ClassifierRun {
        outcome: Outcome {
            losses: progress.losses,
            diverged_at: progress.diverged_at,
        },
        correct: progress.correct,
        batch_size: batch,
        evals: progress.evals,
        features,
        samples,
        feature_dim,
        layers: net.layers(),
        class_names: loaded.data.class_names.clone(),
        train_counts: counts(train_set, n_train),
        test_counts: counts(test_set, n_test),
        converted: loaded.data.converted,
        labels_changed,
        resumed_at,
        images_per_second,
        train_images: n_train,
        test_images: n_test,
    })
}

/// Normalised pixels as an `[N, C, H, W]` tensor.
fn image_tensor(x: Vec<f32>, n: usize, set: &ImageSet, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(x, [n, set.channels, set.height, set.width]),
        device,
    )
}

/// Mean cross-entropy of `logits` against `labels`, and how many rows the
/// logits classify right.
pub fn cross_entropy(
    logits: Tensor<2>,
    labels: &[u8],
    classes: usize,
    device: &Device,
) -> (Tensor<1>, u32) {
    let n = labels.len();
    let host: Vec<f32> = logits
        .clone()
        .detach()
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 logits");
    let correct = labels
        .iter()
        .enumerate()
        .filter(|(i, y)| argmax(&host[i * classes..(i + 1) * classes]) == **y as usize)
        .count() as u32;
    let mut onehot = vec![0.0f32; n * classes];
    for (i, y) in labels.iter().enumerate() {
        onehot[i * classes + *y as usize] = 1.0;
    }
    let onehot = Tensor::from_data(TensorData::new(onehot, [n, classes]), device);
    let loss = log_softmax(logits, 1)
        .mul(onehot)
        .sum()
        .div_scalar(-(n as f64));
    (loss, correct)
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Accuracy and mean cross-entropy on the first `n` images of `set`, in
/// eval mode (BatchNorm's running statistics, no augmentation).
pub fn evaluate<M: ImageNet>(
    net: &M,
    set: &ImageSet,
    n: usize,
    norm: &Normalization,
    device: &Device,
) -> (f64, f64) {
    let valid = net.valid();
    let plain = device.clone().without_autodiff();
    let (mut correct, mut loss) = (0usize, 0.0f64);
    let classes = set.classes;
    let batch = eval_batch(set);
    for start in (0..n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
        let x = image_tensor(images::batch(set, &idx, norm, None), idx.len(), set, &plain);
        let logits: Vec<f32> = valid
            .forward(x)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 logits");
        for (row, &i) in logits.chunks(classes).zip(&idx) {
            let label = set.labels[i] as usize;
            correct += usize::from(argmax(row) == label);
            let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64;
            let sum: f64 = row.iter().map(|v| (*v as f64 - max).exp()).sum();
            loss += max + sum.ln() - row[label] as f64;
        }
    }
    (correct as f64 / n as f64, loss / n as f64)
}

/// `k` of the indices 0..n, drawn without replacement from the seed.
fn choose(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut r = rng(seed, Stream::RankSamples);
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = r.random_range(i..n);
        all.swap(i, j);
    }
    all.truncate(k.min(n));
    all
}

/// Penultimate features of images `chosen` of `set` (eval mode).
fn penultimate<M: ImageNet>(
    net: &M,
    set: &ImageSet,
    chosen: &[usize],
    norm: &Normalization,
    device: &Device,
) -> Vec<f32> {
    let valid = net.valid();
    let plain = device.clone().without_autodiff();
    let mut out = Vec::new();
    for idx in chosen.chunks(eval_batch(set)) {
        let x = image_tensor(images::batch(set, idx, norm, None), idx.len(), set, &plain);
        out.extend(
            valid
                .features(x)
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 features"),
        );
    }
    out
}
