//! The image_classifier training run: a resumed run equals the uninterrupted
//! one bit for bit, the pipeline learns generated CIFAR-format data, and a
//! small ResNet beats an accuracy floor on real Fashion-MNIST.

use std::path::{Path, PathBuf};
use train::Backend;
use train::checkpoint::{CHECKPOINT, Checkpointing};
use train::classifier::{ClassifierCell, ClassifierRun, run};
use train::config::{DataTable, MeasureTable, ModelTable, TrainTable};
use train::synthetic_images::{synthetic, write_cifar10};

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "probstab-classifier-{label}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

type Tables = ClassifierCell;

/// A validated cell of these tables, seed 0.
fn tables(model: &str, data: &str, train: &str, measure: &str) -> Tables {
    let mut model: ModelTable = toml::from_str(model).unwrap();
    let mut data: DataTable = toml::from_str(data).unwrap();
    let train: TrainTable = toml::from_str(train).unwrap();
    let mut measure: MeasureTable = toml::from_str(measure).unwrap();
    ClassifierCell::from_tables(train::config::Tables {
        model: &mut model,
        data: Some(&mut data),
        train: Some(&train),
        measure: &mut measure,
        seed: 0,
        backend: Backend::Cpu,
    })
    .unwrap()
}

fn go(t: &Tables, seed: u64, ck: Option<&Checkpointing>) -> ClassifierRun {
    run(&ClassifierCell { seed, ..t.clone() }, ck).unwrap()
}

fn cifar(dir: &Path) -> String {
    write_cifar10(dir, &synthetic(3, 32, 200, 60, 5)).unwrap();
    format!("dataset = \"cifar10\"\ndir = \"{}\"\n", dir.display())
}

fn assert_same(a: &ClassifierRun, b: &ClassifierRun) {
    assert_eq!(a.outcome, b.outcome);
    assert_eq!(a.correct, b.correct);
    assert_eq!(a.evals, b.evals);
    assert_eq!(a.features, b.features);
    assert_eq!(a.layers, b.layers);
}

/// One test for everything that loads a checkpoint: burn puts a loaded
/// optimizer state on its default device, so BURN_DEVICE is set first, while
/// this is the only thread (as `probstab`'s main does).
#[test]
fn resume_from_a_checkpoint_is_bit_exact() {
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    let root = temp_dir("resume");
    let data = cifar(&root.join("cifar"));
    let resnet = "width = 0.03125";
    let mlp = "arch = \"mlp\"\nhidden_widths = [16, 8]\nactivation = \"tanh\"";
    for (k, (model, optimizer, lr, noise)) in [
        (resnet, "sgd", 0.05, "dynamic"),
        (resnet, "adam", 0.002, "static"),
        (mlp, "adam", 0.002, "dynamic"),
    ]
    .into_iter()
    .enumerate()
    {
        let t = tables(
            model,
            &format!("{data}label_noise = \"{noise}\"\nnoise_prob = 0.3\n"),
            &format!(
                "optimizer = \"{optimizer}\"\nlr = {lr}\nbatch_size = 8\nsteps = 8\neval_every = 2\ncheckpoint_every = 4\n"
            ),
            "rank_samples = 20",
        );
        let cell = root.join(format!("{k}-{optimizer}"));
        let ck = |resume: bool, fingerprint: &str| Checkpointing {
            dir: cell.clone(),
            resume,
            fingerprint: fingerprint.to_string(),
        };
        // Uninterrupted: it leaves its step-4 checkpoint behind.
        let whole = go(&t, 3, Some(&ck(false, "config")));
        assert_eq!(whole.resumed_at, None);
        assert!(cell.join(CHECKPOINT).join("state.json").is_file());
        assert_eq!(whole.outcome.losses.len(), 8);
        assert_eq!(
            whole.evals.iter().map(|e| e.step).collect::<Vec<_>>(),
            [2, 4, 6, 8]
        );

        let resumed = go(&t, 3, Some(&ck(true, "config")));
        assert_eq!(resumed.resumed_at, Some(4), "{optimizer}");
        assert_same(&whole, &resumed);

        // Another config's checkpoint is not resumed; the numbers are still the run's own.
        let other = go(&t, 3, Some(&ck(true, "another config")));
        assert_eq!(other.resumed_at, None);
        assert_same(&whole, &other);

        // A checkpoint that cannot be read is reported and the run starts
        // over: same numbers, nothing resumed, no failure.
        let model = cell.join(CHECKPOINT).join("model.bpk");
        let bytes = std::fs::read(&model).unwrap();
        std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
        let corrupt = go(&t, 3, Some(&ck(true, "config")));
        assert_eq!(corrupt.resumed_at, None);
        assert_same(&whole, &corrupt);

        // A good model with an unreadable optimizer state: the model (its
        // BatchNorm running statistics included) loads before the optimizer
        // fails, and starting over must still mean from scratch.
        assert!(model.is_file(), "the run above left a fresh checkpoint");
        let optim = cell.join(CHECKPOINT).join("optim.bpk");
        let bytes = std::fs::read(&optim).unwrap();
        std::fs::write(&optim, &bytes[..bytes.len() / 2]).unwrap();
        let half = go(&t, 3, Some(&ck(true, "config")));
        assert_eq!(half.resumed_at, None, "{optimizer}");
        assert_same(&whole, &half);

        // A fresh optimizer state would not give the same numbers: the
        // checkpoint carries it (and the model), not just the step.
        let seed4 = go(&t, 4, None);
        assert_ne!(seed4.outcome.losses, whole.outcome.losses);
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn learns_generated_cifar_files() {
    let root = temp_dir("learns");
    let data = cifar(&root.join("cifar"));
    let t = tables(
        "width = 0.0625",
        &format!("{data}augment = false\n"),
        "lr = 0.05\nbatch_size = 16\nsteps = 60\n",
        "rank_samples = 40",
    );
    let r = go(&t, 1, None);
    let accuracy = r.evals.last().unwrap().test_accuracy;
    assert!(
        accuracy > 0.5,
        "test accuracy {accuracy} on an easy generated set"
    );
    assert_eq!(r.features.len(), 40 * r.feature_dim);
    assert_eq!(r.feature_dim, 32);
    let names: Vec<&str> = r.layers.iter().map(|(n, _)| n.as_str()).collect();
    for layer in [
        "layer1.1.conv2",
        "layer2.1.conv2",
        "layer3.1.conv2",
        "layer4.1.conv2",
        "fc",
    ] {
        assert!(names.contains(&layer), "{layer} in {names:?}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Accuracy floor of the MLP on real Fashion-MNIST: one hidden layer of 128
/// ReLU units, 2000 SGD steps of batch 32 reach 0.86 here (docs/images.md);
/// chance is 0.1.
#[test]
fn an_mlp_beats_its_accuracy_floor_on_fashion_mnist() {
    const FLOOR: f64 = 0.78;
    let t = tables(
        "arch = \"mlp\"\nhidden_widths = [128]\nactivation = \"relu\"",
        "dataset = \"fashion_mnist\"\naugment = false\ntest_size = 2000\n",
        "lr = 0.1\nbatch_size = 32\nsteps = 2000\n",
        "rank_samples = 100",
    );
    let r = go(&t, 0, None);
    let accuracy = r.evals.last().unwrap().test_accuracy;
    eprintln!("MLP Fashion-MNIST test accuracy after 2000 steps: {accuracy}");
    assert!(accuracy > FLOOR, "test accuracy {accuracy} ≤ floor {FLOOR}");
    assert_eq!(r.feature_dim, 128);
    let names: Vec<&str> = r.layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["fc1", "out"]);
    assert_eq!(r.layers[0].1.len(), 128 * 784);
    assert_eq!(r.class_names[9], "Ankle boot");
}

/// Any in-memory burn dataset trains: generated images as burn's
/// `InMemDataset` of `ImageItem`s, into an `ImageSet`, through `run_on`.
#[test]
fn a_burn_in_memory_dataset_trains_through_run_on() {
    use burn_dataset::{Dataset, InMemDataset};
    use train::classifier::{Loaded, run_on};
    use train::images::{ImageData, ImageItem, ImageSet};
    use train::watch::Unwatched;
    let generated = synthetic(1, 12, 600, 200, 3);
    let items = |set: &ImageSet| -> InMemDataset<ImageItem> {
        InMemDataset::new((0..set.len()).map(|i| set.get(i).unwrap()).collect())
    };
    let (train_items, test_items) = (items(&generated.train), items(&generated.test));
    assert_eq!(train_items.len(), 600);
    let train = ImageSet::from_dataset(&train_items, 1, 12, 12, 10).unwrap();
    let test = ImageSet::from_dataset(&test_items, 1, 12, 12, 10).unwrap();
    assert_eq!(train, generated.train);
    let names = (0..10).map(|k| format!("c{k}")).collect();
    let loaded = Loaded::new(ImageData::new(train, test, names));
    let t = tables(
        "arch = \"mlp\"\nhidden_widths = [32]\nactivation = \"relu\"",
        // The directory is not read: the data is given.
        "dataset = \"cifar10\"\naugment = false\n",
        "lr = 0.05\nbatch_size = 16\nsteps = 300\n",
        "rank_samples = 50",
    );
    let r = run_on(&t, &loaded, None, &mut Unwatched).unwrap();
    let accuracy = r.evals.last().unwrap().test_accuracy;
    assert!(
        accuracy > 0.5,
        "test accuracy {accuracy} on an easy generated set"
    );
    assert_eq!((r.train_images, r.test_images), (600, 200));
    assert_eq!(r.train_counts.iter().sum::<usize>(), 600);
}

/// Accuracy floor on real Fashion-MNIST (Debian's dataset-fashion-mnist,
/// which .ci/run installs): 400 SGD steps of batch 32 on a 1/16-width
/// ResNet-18 reach about FLOOR + 0.1; chance is 0.1. A broken loader,
/// normalisation, label order or loss cannot pass.
#[test]
fn beats_the_accuracy_floor_on_fashion_mnist() {
    const FLOOR: f64 = 0.70;
    let dir = Path::new(train::images::FASHION_MNIST_DIR);
    assert!(
        dir.join("train-labels-idx1-ubyte.gz").exists()
            || dir.join("train-labels-idx1-ubyte").exists(),
        "Fashion-MNIST is not in {}: apt-get install dataset-fashion-mnist",
        dir.display()
    );
    let t = tables(
        "width = 0.0625",
        "dataset = \"fashion_mnist\"\naugment = false\ntest_size = 2000\n",
        "lr = 0.1\nbatch_size = 32\nsteps = 400\n",
        "rank_samples = 100",
    );
    let r = go(&t, 0, None);
    let accuracy = r.evals.last().unwrap().test_accuracy;
    eprintln!("Fashion-MNIST test accuracy after 400 steps: {accuracy}");
    assert!(accuracy > FLOOR, "test accuracy {accuracy} ≤ floor {FLOOR}");
}
