//! probstab's side of `scripts/bench/run.sh`: each benchmark prints one JSON
//! line. Timings are medians of repeats after a warm-up; the PyTorch peers
//! run in the same script on the same machine, and the script prints ratios.
//!
//!   cargo bench --workspace --bench speed -- machine
//!   cargo bench --workspace --bench speed -- two_layer_step 1
//!   cargo bench --workspace --bench speed -- packed 64 [BATCH] [adam]
//!   cargo bench --workspace --bench speed -- resnet18 32 [wgpu] [twin]
//!   cargo bench --workspace --bench speed -- resnet18 32 grid
//!   cargo bench --workspace --bench speed -- saddle_phase_diagram
//!
//! Add `quick` for fewer steps. `machine` measures what the floors printed
//! beside the figures are made of (scripts/bench/summarise.py): one core's
//! peak f32 FLOP/s and each cache level's bandwidth, all cores at once; the
//! other benchmarks print the FLOPs and bytes of their work.

use burn::tensor::{Device, Tensor, TensorData};
use models::{Activation, TwoLayer, TwoLayerConfig};
use probstab::kind::CellContext;
use probstab::record::Metric;
use probstab::{Experiment, Grid, ResultsDir};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;
use train::Backend;
use train::config::{DataTable, MeasureTable, ModelTable, Net, Tables, TrainTable};
use train::data::{Source, Teacher};
use train::packed::run_packed;
use train::trainer::{optimizer, tensors, train_step};
use train::two_layer::TwoLayerCell;

#[path = "speed/machine.rs"]
mod machine;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let quick = args.iter().any(|a| a == "quick");
    let number = |i: usize, default: usize| {
        args.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let flag = |name: &str| args.iter().any(|a| a == name);
    match args.first().map(String::as_str) {
        Some("machine") => machine::report(quick),
        Some("two_layer_step") => two_layer_step(number(1, 1), quick),
        Some("packed") => packed(number(1, 64), number(2, 1), flag("adam"), quick),
        Some("resnet18") => {
            let backend = if flag("wgpu") {
                Backend::Wgpu
            } else {
                Backend::Cpu
            };
            // Inside a thread pool, as `probstab run` trains every cell (the
            // runner's pool, crates/probstab/src/runner.rs): the tensor
            // operations' parallel loops then start on a worker of that pool,
            // not on a thread outside it that sleeps until they end (called
            // from the main thread, the twins' net ran a third slower: 860
            // against 1,290 images/s).
            let run = || {
                if flag("grid") {
                    resnet18_grid(number(1, 32), quick)
                } else {
                    resnet18(number(1, 32), backend, flag("twin"), quick)
                }
            };
            rayon::ThreadPoolBuilder::new()
                .build()
                .expect("a thread pool")
                .install(run)
        }
        Some("saddle_phase_diagram") => saddle_phase_diagram(if quick { 100 } else { 400 }),
        other => {
            eprintln!(
                "unknown benchmark {other:?}: machine | two_layer_step B | packed K [B] [adam] | resnet18 B [wgpu] [twin] | resnet18 B grid | saddle_phase_diagram [quick]"
            );
            std::process::exit(2);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn train_table(text: &str) -> TrainTable {
    let t: TrainTable = toml::from_str(text).expect("bench train table");
    t.validate(Net::TwoLayer).expect("valid");
    t
}

/// (a) One SGD step of a 200 → 200 → 200 tanh net through burn (flex).
fn two_layer_step(batch: usize, quick: bool) {
    let device = train::device(Backend::Cpu).expect("cpu");
    let cfg = train_table(&format!("lr = 0.01\nbatch_size = {batch}"));
    let config = TwoLayerConfig {
        dim: 200,
        hidden: 200,
        activation: Activation::Tanh,
        bias: false,
    };
    let mut model = train::two_layer::initial_model(&config, 0, &device);
    let mut optim = optimizer(&cfg);
    let teacher = Teacher {
        dim: 200,
        mu: 0.5,
        noise_std: 2.0,
    };
    let mut source = Source::teacher(teacher, 0, 0);
    let steps = if quick { 200 } else { 2000 };
    let batches: Vec<_> = (0..steps).map(|_| source.next_batch(batch)).collect();
    let mut times = Vec::new();
    for repeat in 0..6 {
        let started = Instant::now();
        for b in &batches {
            let (x, y) = tensors(b.clone(), &device);
            let (next, _) =
                train_step(model, &TwoLayer::forward, &mut optim, x, y, &cfg, |_| false);
            model = next;
        }
        if repeat > 0 {
            times.push(started.elapsed().as_secs_f64() / steps as f64);
        }
    }
    println!(
        "{{\"bench\":\"two_layer_step\",\"impl\":\"burn\",\"batch\":{batch},\"us_per_step\":{:.2}}}",
        median(times) * 1e6
    );
}

/// (b) K packed 200 → 200 → 200 tanh cells at batch size B, SGD or Adam,
/// per-cell λ and seed.
fn packed(cells: usize, batch: usize, adam: bool, quick: bool) {
    // Long enough that training, not the per-cell setup and test loss
    // (1000 fresh points), dominates, as in real cells (10⁴–10⁵ steps);
    // larger batches take fewer steps (at least 6,400 samples a cell).
    let steps = if quick { 200 } else { (3000 / batch).max(200) };
    let optimizer = if adam { "adam" } else { "sgd" };
    let pack: Vec<TwoLayerCell> = (0..cells)
        .map(|k| {
            let mut model: ModelTable =
                toml::from_str("activation = \"tanh\"\ndim = 200\nhidden = 200").unwrap();
            let mut data: DataTable = toml::from_str("mu = 0.5").unwrap();
            let lr = if adam {
                1e-4 * (1.0 + 0.1 * k as f64)
            } else {
                0.01 + 0.001 * k as f64
            };
            let train = train_table(&format!(
                "lr = {lr}\nsteps = {steps}\nbatch_size = {batch}\noptimizer = \"{optimizer}\""
            ));
            TwoLayerCell::from_tables(Tables {
                model: &mut model,
                data: Some(&mut data),
                train: Some(&train),
                measure: &mut MeasureTable::default(),
                seed: k as u64,
                backend: Backend::Cpu,
            })
            .unwrap()
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let runs = run_packed(&pack);
        times.push(started.elapsed().as_secs_f64());
        assert_eq!(runs.len(), cells);
        // A cell that diverged stopped early: the rate would count steps
        // that were never taken.
        assert!(
            runs.iter().all(|r| r.outcome.losses.len() == steps),
            "a packed cell diverged"
        );
    }
    let t = median(times);
    let rate = (cells * steps) as f64 / t;
    let work = machine::two_layer_work(200, 200, batch, adam);
    println!(
        "{{\"bench\":\"packed\",\"cells\":{cells},\"batch\":{batch},\"optimizer\":\"{optimizer}\",\"steps\":{steps},\"cell_steps_per_s\":{rate:.1},\"us_per_cell_step\":{:.2},{}}}",
        1e6 / rate,
        work.json()
    );
}

/// (c) A CIFAR-shaped ResNet-18 training step (full width) on flex, or on
/// wgpu for scripts/gpu-check.sh. Every step reads its loss back, as a cell
/// does (and as the PyTorch peer's `loss.item()`), which also waits for a GPU.
///
/// `twin`: the quick image twins' net instead (1/16 width, 4…32 channels) on
/// Fashion-MNIST's shape (one channel, 28 × 28), section (e).
fn resnet18(batch: usize, backend: Backend, twin: bool, quick: bool) {
    let device = match train::device(backend) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let shape = ResnetShape::of(twin);
    let mut step = resnet18_trainer(batch, shape, &device);
    // Steps per timed repeat, and repeats (the median is reported, as the
    // PyTorch peer reports its median).
    let (steps, repeats) = match (quick, twin) {
        (true, false) => (2, 1),
        (false, false) => (5, 1),
        (true, true) => (10, 1),
        (false, true) => (12, 7),
    };
    for _ in 0..2 {
        step();
    }
    let mut times = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        for _ in 0..steps {
            step();
        }
        times.push(started.elapsed().as_secs_f64());
    }
    let images_per_s = (steps * batch) as f64 / median(times);
    println!("{}", shape.json(batch, images_per_s, ""));
}

/// (e), grid: as many twins' nets as the pool has threads, trained at once,
/// each on one worker, as `probstab run` trains a grid's cells (one per
/// worker, `--jobs` = the cores); the images/s of all of them together.
fn resnet18_grid(batch: usize, quick: bool) {
    let device = train::device(Backend::Cpu).expect("the CPU device");
    let shape = ResnetShape::of(true);
    let nets = rayon::current_num_threads();
    let steps = if quick { 10 } else { 84 };
    // Each net's timed steps (after two untimed ones) as a span of time;
    // the images of all over the span from the first start to the last end.
    let spans: Vec<(Instant, Instant)> = (0..nets)
        .into_par_iter()
        .with_max_len(1)
        .map(|_| {
            let mut step = resnet18_trainer(batch, shape, &device);
            step();
            step();
            let started = Instant::now();
            for _ in 0..steps {
                step();
            }
            (started, Instant::now())
        })
        .collect();
    let first = spans.iter().map(|s| s.0).min().expect("a net");
    let last = spans.iter().map(|s| s.1).max().expect("a net");
    let images_per_s = (nets * steps * batch) as f64 / (last - first).as_secs_f64();
    println!(
        "{}",
        shape.json(batch, images_per_s, &format!(",\"nets\":{nets}"))
    );
}

/// The nets of (c) and (e).
#[derive(Clone, Copy)]
struct ResnetShape {
    width: f64,
    in_channels: usize,
    side: usize,
}

impl ResnetShape {
    fn of(twin: bool) -> Self {
        let (width, in_channels, side) = if twin { (0.0625, 1, 28) } else { (1.0, 3, 32) };
        Self {
            width,
            in_channels,
            side,
        }
    }

    fn json(&self, batch: usize, images_per_s: f64, more: &str) -> String {
        let Self {
            width,
            in_channels,
            side,
        } = *self;
        let flops = machine::resnet18_training_flops(width, in_channels, side, 10);
        format!(
            "{{\"bench\":\"resnet18\",\"impl\":\"burn\",\"batch\":{batch},\"width\":{width},\"in_channels\":{in_channels},\"side\":{side},\"images_per_s\":{images_per_s:.2},\"flops_per_image\":{flops:.0}{more}}}"
        )
    }
}

/// One training step of a fresh ResNet-18 of `shape` a call, on fixed
/// images, reading the loss back.
fn resnet18_trainer(batch: usize, shape: ResnetShape, device: &Device) -> impl FnMut() {
    let ResnetShape {
        width,
        in_channels,
        side,
    } = shape;
    let config = models::ResNet18Config {
        in_channels,
        num_classes: 10,
        width,
    };
    let mut net = Some(train::classifier::initial_model(&config, 0, device));
    let cfg = train_table(&format!("lr = 0.01\nbatch_size = {batch}"));
    let mut optim = optimizer(&cfg);
    let x: Vec<f32> = (0..batch * in_channels * side * side)
        .map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0)
        .collect();
    let labels: Vec<u8> = (0..batch).map(|i| (i % 10) as u8).collect();
    let device = device.clone();
    move || {
        let input = Tensor::<4>::from_data(
            TensorData::new(x.clone(), [batch, in_channels, side, side]),
            &device,
        );
        let model = net.take().expect("the net between steps");
        let (loss, _) =
            train::classifier::cross_entropy(model.forward(input), &labels, 10, &device);
        let _: f32 = loss.clone().into_scalar();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
        net = Some(optim.step(cfg.lr, model, grads));
    }
}

/// (d) The λ–μ saddle phase diagram at N = ∞, S = 1 on a side × side grid
/// (Fig. 3 left), all cores, through the library: the grid expanded from an
/// experiment file and each cell run by its kind (no disk); max_abs_err is
/// the largest error estimate of the quadrature of m±.
fn saddle_phase_diagram(side: usize) {
    let started = Instant::now();
    let source = format!(
        "name = \"bench\"\nkind = \"saddle_theory\"\n[saddle]\nmu = 0.5\nlr = 0.1\n[grid]\n\"saddle.lr\" = {{ linspace = [0.02, 4.0, {side}] }}\n\"saddle.mu\" = {{ linspace = [0.0, 1.0, {side}] }}\n"
    );
    let experiment =
        Experiment::from_source(Path::new("bench.toml"), source, &[]).expect("bench grid");
    let grid = Grid::new(experiment).expect("bench grid");
    let out = ResultsDir::new(std::env::temp_dir().join("probstab-bench-unused"));
    let errs: Vec<f64> = grid
        .cells
        .par_iter()
        .map(|cell| {
            let dir = out.cell(&cell.id);
            let context = CellContext {
                dir: &dir,
                resume: false,
                config_text: "",
                live: None,
            };
            let output = cell.spec.run(&context).expect("a theory cell");
            output
                .metrics
                .iter()
                .filter(|(name, _)| name == "m_minus_err" || name == "m_plus_err")
                .map(|(_, v)| match v {
                    Metric::Number(x) => *x,
                    _ => f64::NAN,
                })
                .fold(0.0f64, f64::max)
        })
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let max_err = errs.iter().fold(0.0f64, |m, e| m.max(*e));
    println!(
        "{{\"bench\":\"saddle_phase_diagram\",\"points\":{},\"seconds\":{seconds:.3},\"max_abs_err\":{max_err:.3e}}}",
        grid.cells.len()
    );
}
