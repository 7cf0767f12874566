//! Packed two_layer cells (a fused, hand-derived SGD or Adam step over a
//! stacked model) against burn's autodiff path and burn's optimizers, cell by
//! cell: same losses, weights, divergence step and test loss to float
//! rounding, for every activation, bias, loss, batch size, data source and
//! both optimizers.

mod common;

use train::Backend;
use train::config::{DataTable, MeasureTable, ModelTable, TrainTable};
use train::packed::{pack_key, run_packed};
use train::two_layer::{TwoLayerCell, TwoLayerRun, run};

type Tables = TwoLayerCell;

/// A validated cell of these tables, seed 0.
fn tables(model: &str, data: &str, train: &str) -> Tables {
    let mut model: ModelTable = toml::from_str(model).unwrap();
    let mut data: DataTable = toml::from_str(data).unwrap();
    let train: TrainTable = toml::from_str(train).unwrap();
    TwoLayerCell::from_tables(train::config::Tables {
        model: &mut model,
        data: Some(&mut data),
        train: Some(&train),
        measure: &mut MeasureTable::default(),
        seed: 0,
        backend: Backend::Cpu,
    })
    .unwrap()
}

/// The cell `t` with another seed.
fn seeded(t: &Tables, seed: u64) -> TwoLayerCell {
    TwoLayerCell { seed, ..t.clone() }
}

/// Relative agreement of two float sequences, scaled by the larger size.
fn close(a: &[f32], b: &[f32], rtol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a
        .iter()
        .chain(b)
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-6);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= rtol * scale,
            "{what}[{i}]: burn {x}, packed {y} (scale {scale})"
        );
    }
}

fn compare(burn: &TwoLayerRun, packed: &TwoLayerRun, rtol: f32, what: &str) {
    assert_eq!(
        burn.outcome.diverged_at, packed.outcome.diverged_at,
        "{what}"
    );
    close(
        &burn.outcome.losses,
        &packed.outcome.losses,
        rtol,
        &format!("{what} losses"),
    );
    close(&burn.w1, &packed.w1, rtol, &format!("{what} w1"));
    close(&burn.w2, &packed.w2, rtol, &format!("{what} w2"));
    let (a, b) = (burn.test_loss, packed.test_loss);
    assert!(
        (a - b).abs() <= rtol as f64 * a.abs().max(b.abs()),
        "{what} test loss {a} vs {b}"
    );
}

#[test]
fn packed_cells_match_burn_autodiff_cell_by_cell() {
    let cases = [
        (
            "activation = \"tanh\"\ndim = 12\nhidden = 9",
            "mu = 0.3",
            "lr = 0.05\nsteps = 150",
        ),
        (
            "activation = \"linear\"\ndim = 8\nhidden = 8\nbias = true",
            "mu = 0.7\nnoise_std = 1.0",
            "lr = 0.1\nsteps = 150\nbatch_size = 4\nloss = \"half_sum\"",
        ),
        (
            "activation = \"relu\"\ndim = 10\nhidden = 16\nbias = true",
            "mu = 0.5\nn = 20",
            "lr = 0.05\nsteps = 150\nbatch_size = 3",
        ),
        (
            "activation = \"swish\"\ndim = 9\nhidden = 5",
            "mu = 0.2",
            "lr = 0.2\nsteps = 150\nbatch_size = 2",
        ),
        (
            "activation = \"tanh\"\ndim = 12\nhidden = 9\nbias = true",
            "mu = 0.3",
            "lr = 0.01\nsteps = 150\nbatch_size = 4\noptimizer = \"adam\"",
        ),
        (
            "activation = \"relu\"\ndim = 10\nhidden = 16",
            "mu = 0.5\nn = 20",
            "lr = 0.005\nsteps = 150\nbatch_size = 3\noptimizer = \"adam\"\nbeta1 = 0.8\nbeta2 = 0.99\nadam_eps = 1e-6\nloss = \"half_sum\"",
        ),
        (
            "activation = \"swish\"\ndim = 9\nhidden = 5\nbias = true",
            "mu = 0.2",
            "lr = 0.02\nsteps = 150\noptimizer = \"adam\"",
        ),
        // Batches of train::packed::GEMM_ROWS rows or more multiply through
        // train::packed's matmul (odd sizes: its narrow column and row
        // remainders): SGD with biases, and Adam on a finite dataset.
        (
            "activation = \"tanh\"\ndim = 12\nhidden = 9\nbias = true",
            "mu = 0.3",
            "lr = 0.1\nsteps = 150\nbatch_size = 8",
        ),
        (
            "activation = \"relu\"\ndim = 10\nhidden = 16",
            "mu = 0.5\nn = 40",
            "lr = 0.005\nsteps = 150\nbatch_size = 16\noptimizer = \"adam\"\nloss = \"half_sum\"",
        ),
        (
            "activation = \"swish\"\ndim = 9\nhidden = 5\nbias = true",
            "mu = 0.2",
            "lr = 0.01\nsteps = 150\nbatch_size = 32\noptimizer = \"adam\"",
        ),
    ];
    assert!(
        train::packed::GEMM_ROWS <= 8,
        "the batches of 8 to 32 below cover the matmul path"
    );
    for (model, data, train) in cases {
        let t = tables(model, data, train);
        let seeds = [1u64, 2, 3];
        let cells: Vec<TwoLayerCell> = seeds.iter().map(|&seed| seeded(&t, seed)).collect();
        let packed = run_packed(&cells);
        for (seed, p) in seeds.iter().zip(&packed) {
            let burn = run(&seeded(&t, *seed)).unwrap();
            compare(
                &burn,
                p,
                2e-4,
                &format!("{model} / {data} / {train} / seed {seed}"),
            );
        }
        // Cells of one pack differ by their seed: not a copy of one another.
        assert_ne!(packed[0].w2, packed[1].w2);
    }
}

#[test]
fn a_diverging_cell_stops_alone_at_burns_step() {
    let calm = tables(
        "dim = 6\nhidden = 6\nactivation = \"linear\"",
        "mu = 0.5",
        "lr = 0.05\nsteps = 60",
    );
    let wild = tables(
        "dim = 6\nhidden = 6\nactivation = \"linear\"",
        "mu = 0.5",
        "lr = 40.0\nsteps = 60",
    );
    let cells = [seeded(&calm, 5), seeded(&wild, 5)];
    assert_eq!(pack_key(&cells[0]), pack_key(&cells[1]), "λ is per cell");
    let packed = run_packed(&cells);
    assert_eq!(packed[0].outcome.diverged_at, None);
    assert_eq!(packed[0].outcome.losses.len(), 60);
    let burn = run(&seeded(&wild, 5)).unwrap();
    let at = burn.outcome.diverged_at.expect("λ = 40 diverges");
    assert_eq!(packed[1].outcome.diverged_at, Some(at));
    close(
        &burn.outcome.losses[..at],
        &packed[1].outcome.losses[..at],
        1e-3,
        "losses before divergence",
    );
}

#[test]
fn adam_and_sgd_cells_pack_apart() {
    let sgd = tables("dim = 4\nhidden = 4", "mu = 0.5", "lr = 0.01");
    let adam = tables(
        "dim = 4\nhidden = 4",
        "mu = 0.5",
        "lr = 0.01\noptimizer = \"adam\"",
    );
    let cell = |t: &Tables| pack_key(&seeded(t, 0));
    assert_ne!(cell(&sgd), cell(&adam));
}

/// Adam cells with their own λ, β₁, β₂ and ε in one pack on
/// wgpu (train::packed_device) against the CPU pack: each cell must get its
/// own. The cells share a seed, so only the optimizer tells them apart.
#[test]
fn a_wgpu_adam_pack_gives_each_cell_its_own_betas_and_eps() {
    let Some(device) = common::wgpu_or_skip("wgpu Adam pack check") else {
        return;
    };
    let optimizers = [
        ("0.01", "0.9", "0.999", "1e-8"),
        ("0.02", "0.5", "0.99", "1e-3"),
        ("0.01", "0.8", "0.9", "1e-6"),
    ];
    let tables: Vec<Tables> = optimizers
        .iter()
        .map(|(lr, beta1, beta2, eps)| {
            tables(
                "activation = \"swish\"\nbias = true\ndim = 16\nhidden = 16",
                "mu = 0.3",
                &format!(
                    "lr = {lr}\nsteps = 25\nbatch_size = 2\noptimizer = \"adam\"\nbeta1 = {beta1}\nbeta2 = {beta2}\nadam_eps = {eps}"
                ),
            )
        })
        .collect();
    let cells: Vec<TwoLayerCell> = tables.iter().map(|t| seeded(t, 7)).collect();
    assert!(cells.iter().all(|c| pack_key(c) == pack_key(&cells[0])));
    let cpu = run_packed(&cells);
    let gpu = train::packed_device::run_packed_on(&cells, &device);
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        compare(c, g, 1e-4, &format!("cell {i}: {:?}", optimizers[i]));
    }
    assert_ne!(cpu[0].w2, cpu[2].w2, "β₁, β₂ and ε change the run");
}
