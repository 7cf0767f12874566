//! Your own data, as a user runs it: the image folder that ships with the
//! repo through its quick config; a folder of PNGs and JPEGs of mixed sizes
//! and colours with ResNet-18 and with the MLP; MNIST's IDX files; and every
//! bad folder and bad key failing with the file, folder or key named.

mod common;

use common::{Csv, TempDir, probstab, read};
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The quick MLP grid on examples/fashion-folder, shortened: 18 cells, every
/// metric of the folder recorded, the heatmaps drawn.
#[test]
fn the_shipped_folder_runs_its_quick_grid() {
    let t = TempDir::new("folder-quick");
    let config = repo().join("configs/quick/folder_mlp.toml");
    let run = probstab(
        t.path(),
        &[
            "run",
            config.to_str().unwrap(),
            "train.steps=300",
            "train.eval_every=0",
            "--out",
            "out",
        ],
    )
    .ok();
    assert!(run.stdout.contains("18 cells"), "{}", run.stdout);
    let summary = Csv::read(t.join("out/summary.csv"));
    for row in 0..18 {
        assert_ne!(summary.get(row, "status"), "failed");
        assert_eq!(
            summary.get(row, "class_names"),
            r#"["ankle_boot","bag","coat","dress","pullover","sandal","shirt","sneaker","trouser","tshirt_top"]"#
        );
        assert_eq!(summary.get(row, "classes"), "10");
        assert_eq!(
            summary.get(row, "train_class_counts"),
            "100,100,100,100,100,100,100,100,100,100"
        );
        assert_eq!(
            summary.get(row, "test_class_counts"),
            "25,25,25,25,25,25,25,25,25,25"
        );
        assert_eq!(summary.get(row, "images_converted"), "0");
        assert_eq!(summary.get(row, "feature_dim"), "128");
        for column in ["sparsity", "sparsity_fc1", "sparsity_out"] {
            let v: f64 = summary.get(row, column).parse().unwrap();
            assert!((0.0..=1.0).contains(&v), "{column} = {v}");
        }
    }
    // The smallest λ without noise learns; the largest collapses the rank.
    let row = |lr: &str, p: &str| {
        (0..18)
            .find(|&r| summary.get(r, "train.lr") == lr && summary.get(r, "data.noise_prob") == p)
            .unwrap()
    };
    let accuracy: f64 = summary
        .get(row("0.05", "0.0"), "test_accuracy")
        .parse()
        .unwrap();
    assert!(
        accuracy > 0.6,
        "test accuracy {accuracy} at λ = 0.05, p = 0"
    );
    let small: usize = summary.get(row("0.05", "0.0"), "rank").parse().unwrap();
    let large: usize = summary.get(row("1.6", "0.8"), "rank").parse().unwrap_or(0);
    assert!(
        large < small / 4,
        "rank {large} at λ = 1.6, p = 0.8; {small} at λ = 0.05"
    );
    for plot in ["rank", "test_accuracy", "sparsity_fc1"] {
        common::assert_png(&t.join(format!("out/plots/{plot}.png")), 2000);
    }
}

/// A folder as a user has it: class folders of PNGs and JPEGs, colour and
/// grey, of several sizes, no train/test split.
fn user_folder(t: &TempDir) -> PathBuf {
    let dir = t.join("photos");
    for (k, class) in ["apples", "bananas", "cherries"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..10u32 {
            let (w, h) = (20 + i, 18 + 2 * (i % 3));
            let v = (40 + 80 * k) as u8 + i as u8;
            let path = dir.join(class).join(format!("{i}"));
            if i % 3 == 0 {
                GrayImage::from_pixel(w, h, Luma([v]))
                    .save(path.with_extension("png"))
                    .unwrap();
            } else {
                let mut image = RgbImage::from_pixel(w, h, Rgb([v, 255 - v, (k * 100) as u8]));
                image.put_pixel(0, 0, Rgb([0, 0, 0]));
                let ext = if i % 2 == 0 { "jpg" } else { "PNG" };
                image.save(path.with_extension(ext)).unwrap();
            }
        }
    }
    dir
}

fn folder_config(model: &str, data: &str) -> String {
    format!(
        "name = \"own\"\nkind = \"image_classifier\"\n\n[model]\n{model}\n\n[data]\n\
         dataset = \"image_folder\"\ndir = \"photos\"\n{data}\n\n[train]\nlr = 0.05\n\
         batch_size = 4\nsteps = 4\n\n[measure]\nrank_samples = 6\n\n[grid]\n\
         \"data.noise_prob\" = [0.0, 0.5]\n\n[[plot]]\nmetric = \"rank\"\nx = \"data.noise_prob\"\n"
    )
}

#[test]
fn a_user_folder_trains_with_resnet_and_with_the_mlp() {
    let t = TempDir::new("folder-user");
    user_folder(&t);
    for (name, model) in [
        ("resnet", "arch = \"resnet18\"\nwidth = 0.0625"),
        (
            "mlp",
            "arch = \"mlp\"\nhidden_widths = [12, 8]\nactivation = \"swish\"",
        ),
    ] {
        t.write(
            &format!("{name}.toml"),
            &folder_config(model, "image_size = 16\ntest_fraction = 0.3"),
        );
        probstab(t.path(), &["run", &format!("{name}.toml"), "--out", name]).ok();
        let summary = Csv::read(t.join(format!("{name}/summary.csv")));
        for row in 0..2 {
            assert_eq!(summary.get(row, "status"), "ok", "{name}");
            assert_eq!(
                summary.get(row, "class_names"),
                r#"["apples","bananas","cherries"]"#
            );
            // round(10 × 0.3) = 3 of each class held out.
            assert_eq!(summary.get(row, "train_class_counts"), "7,7,7");
            assert_eq!(summary.get(row, "test_class_counts"), "3,3,3");
            // Colour images among them: RGB, the 4 grey ones of each class converted.
            assert_eq!(summary.get(row, "images_converted"), "12");
        }
        common::assert_png(&t.join(format!("{name}/plots/rank.png")), 1000);
    }
    let mlp = Csv::read(t.join("mlp/summary.csv"));
    assert_eq!(mlp.get(0, "feature_dim"), "8");
    mlp.column("sparsity_fc2");
    // Grey by request: the colour ones are converted instead.
    t.write(
        "grey.toml",
        &folder_config(
            "arch = \"mlp\"",
            "image_size = [12, 14]\nchannels = 1\nfit = \"crop\"",
        ),
    );
    probstab(
        t.path(),
        &["run", "grey.toml", "--out", "grey", "--no-plot"],
    )
    .ok();
    let grey = Csv::read(t.join("grey/summary.csv"));
    assert_eq!(grey.get(0, "images_converted"), "18");
    assert_eq!(grey.get(0, "feature_dim"), "256");
}

#[test]
fn mnist_reads_its_idx_files() {
    // Fashion-MNIST's files have MNIST's names and format.
    let t = TempDir::new("mnist");
    t.write(
        "m.toml",
        "name = \"m\"\nkind = \"image_classifier\"\n[model]\narch = \"mlp\"\nhidden_widths = [32]\n\
         [data]\ndataset = \"mnist\"\ndir = \"/usr/share/datasets/fashion-mnist\"\n\
         augment = false\ntest_size = 500\n[train]\nlr = 0.1\nbatch_size = 32\nsteps = 200\n\
         [measure]\nrank_samples = 100\n",
    );
    probstab(t.path(), &["run", "m.toml", "--out", "out", "--no-plot"]).ok();
    let summary = Csv::read(t.join("out/summary.csv"));
    assert_eq!(summary.get(0, "train_images"), "60000");
    let accuracy: f64 = summary.get(0, "test_accuracy").parse().unwrap();
    assert!(accuracy > 0.5, "{accuracy}");
    // Without data.dir it looks in data/mnist and says what to put there.
    t.write(
        "nodir.toml",
        &read(t.join("m.toml")).replace("dir = \"/usr/share/datasets/fashion-mnist\"\n", ""),
    );
    probstab(
        t.path(),
        &["run", "nodir.toml", "--out", "nodir", "--no-plot"],
    )
    .failed();
    let summary = read(t.join("nodir/summary.csv"));
    assert!(
        summary.contains("data/mnist/train-images-idx3-ubyte") && summary.contains("MNIST"),
        "{summary}"
    );
}

/// Each bad folder fails its cells (exit 1) with the file or folder named.
#[test]
fn bad_folders_fail_the_cells_naming_the_file_or_folder() {
    let t = TempDir::new("folder-bad");
    t.write(
        "c.toml",
        &folder_config("arch = \"mlp\"", "image_size = 16"),
    );
    let cases: [(&str, fn(&Path), &str); 4] = [
        (
            "a file that does not decode",
            |d| std::fs::write(d.join("bananas/3.PNG"), b"\x89PNG\r\n\x1a\ngarbage").unwrap(),
            "bananas/3.PNG: does not decode",
        ),
        (
            "an empty class",
            |d| std::fs::create_dir_all(d.join("dates")).unwrap(),
            "dates: empty class",
        ),
        (
            "one class",
            |d| {
                std::fs::remove_dir_all(d.join("bananas")).unwrap();
                std::fs::remove_dir_all(d.join("cherries")).unwrap();
            },
            "one class folder (`apples`)",
        ),
        (
            "a test class the training set lacks",
            |d| {
                std::fs::create_dir_all(d.join("train")).unwrap();
                std::fs::create_dir_all(d.join("test")).unwrap();
                for class in ["apples", "bananas"] {
                    std::fs::rename(d.join(class), d.join("train").join(class)).unwrap();
                }
                std::fs::rename(d.join("cherries"), d.join("test/cherries")).unwrap();
            },
            "test/cherries: a test class",
        ),
    ];
    for (k, (what, spoil, needle)) in cases.into_iter().enumerate() {
        let dir = user_folder(&t);
        spoil(&dir);
        let out = format!("out{k}");
        let run = probstab(t.path(), &["run", "c.toml", "--out", &out, "--no-plot"]).failed();
        assert_eq!(run.code, Some(1), "{what}: {}", run.stderr);
        let summary = read(t.join(format!("{out}/summary.csv")));
        assert!(summary.contains(needle), "{what}: {summary}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Keys of the wrong dataset or architecture, and bad values, are config
/// errors (exit 2) naming the key.
#[test]
fn own_data_keys_are_config_errors() {
    let t = TempDir::new("folder-keys");
    user_folder(&t);
    t.write("c.toml", &folder_config("arch = \"mlp\"", ""));
    for (key, needle) in [
        ("data.channels=2", "data.channels"),
        ("data.image_size=0", "data.image_size"),
        ("data.test_fraction=1.0", "data.test_fraction"),
        ("data.fit=\"squash\"", "data.fit"),
        ("data.labels=\"coarse\"", "data.labels"),
        ("model.width=0.5", "model.width"),
        ("model.hidden_widths=[]", "model.hidden_widths"),
        ("model.hidden_widths=[8,0]", "model.hidden_widths"),
        ("model.arch=\"vgg\"", "model.arch"),
        ("data.dataset=\"cifar10\"", "data.test_fraction"),
    ] {
        let mut args = vec!["run", "c.toml", key];
        if key.starts_with("data.dataset") {
            args.push("data.test_fraction=0.5");
        }
        let run = probstab(t.path(), &args).failed();
        assert_eq!(run.code, Some(2), "{key}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{key}: {}", run.stderr);
    }
    // image_folder needs a directory.
    t.write(
        "nodir.toml",
        &read(t.join("c.toml")).replace("dir = \"photos\"\n", ""),
    );
    let run = probstab(t.path(), &["run", "nodir.toml"]).failed();
    assert!(run.stderr.contains("data.dir"), "{}", run.stderr);
    // The ResNet takes no activation or hidden widths.
    t.write(
        "r.toml",
        &folder_config("arch = \"resnet18\"\nactivation = \"relu\"", ""),
    );
    let run = probstab(t.path(), &["run", "r.toml"]).failed();
    assert!(run.stderr.contains("model.activation"), "{}", run.stderr);
}
