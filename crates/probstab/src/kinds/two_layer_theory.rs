//! `two_layer_theory`: the theory of a `two_layer` cell itself. Around the
//! saddle W₁ = W₂ = 0 every hidden unit's state (its column of W₂, its row
//! of W₁) is multiplied each step by the same random matrix
//! M_t = I + λc[[0, C_t], [C_tᵀ, 0]] (`analysis::network`); the Lyapunov
//! spectrum of the product (Benettin's QR, `analysis::lyapunov`) says how
//! many directions escape the saddle and how many collapse into it
//! (Theorem 2), hence the rank. It takes a `two_layer` config as it is.

use super::report::tables;
use crate::config::{Config, Invalid, SpectrumConfig};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::{Metric, Metrics, Status};
use crate::trace::Trace;
use analysis::Estimate;
use analysis::lyapunov::{QrSettings, spectrum};
use analysis::network::{isotropic_mean_square_rate, linearised_step, lr_factor, mean_square_rate};
use train::config::{LossReduction, OptimizerKind, at_most, invalid};
use train::data::Source;
use train::two_layer::TwoLayerCell;

pub struct TwoLayerTheory;

/// A cell: the two_layer cell it is the theory of, and the Monte Carlo.
pub struct Spec {
    pub cell: TwoLayerCell,
    pub spectrum: SpectrumConfig,
}

impl Kind for TwoLayerTheory {
    type Spec = Spec;
    const NAME: &'static str = "two_layer_theory";
    const ABOUT: &'static str = "The Lyapunov spectrum of a two_layer cell's SGD linearised at the saddle W₁ = W₂ = 0, from the cell's own config and data: how many directions escape (the predicted rank), and the mean-square rate.";
    const TABLES: &'static [&'static str] = &["model", "data", "train", "measure", "spectrum"];
    const IGNORES_BACKEND: bool = true;
    const EXAMPLE: &'static str = "[model]\ndim = 8\nhidden = 8\n\n[data]\nmu = 0.5\n\n[train]\nlr = 0.1\nsteps = 1000\n\n[spectrum]\nsteps = 4000\nburn_in = 400\nms_batches = 200\n";

    fn spec(config: &mut Config) -> Result<Spec, Invalid> {
        // train's checks name the net's kind; this is the theory of it.
        let cell = TwoLayerCell::from_tables(tables(config, false)).map_err(|mut e| {
            e.message = e
                .message
                .replace("kind `two_layer`", "kind `two_layer_theory`");
            e
        })?;
        if cell.net.bias {
            return Err(invalid(
                "model.bias",
                "two_layer_theory linearises the net without biases (with them the saddle moves: σ(b₁) couples every unit to the mean of y); set bias = false",
            ));
        }
        let spectrum = config
            .spectrum
            .get_or_insert_with(SpectrumConfig::default)
            .clone();
        for (key, v) in [
            ("spectrum.steps", spectrum.steps),
            ("spectrum.every", spectrum.every),
            ("spectrum.blocks", spectrum.blocks),
            ("spectrum.ms_batches", spectrum.ms_batches),
        ] {
            if v < 1 {
                return Err(invalid(key, "must be ≥ 1"));
            }
        }
        if spectrum.blocks < 2 {
            return Err(invalid(
                "spectrum.blocks",
                "must be ≥ 2: the standard errors come from independent blocks",
            ));
        }
        if spectrum.blocks.saturating_mul(spectrum.every) > spectrum.steps {
            return Err(invalid(
                "spectrum.blocks",
                format!(
                    "{} blocks of re-orthonormalisations every {} steps need ≥ {} counted steps (spectrum.steps = {})",
                    spectrum.blocks,
                    spectrum.every,
                    spectrum.blocks.saturating_mul(spectrum.every),
                    spectrum.steps
                ),
            ));
        }
        if spectrum.every > 100 {
            return Err(invalid(
                "spectrum.every",
                format!(
                    "at most 100 steps between re-orthonormalisations (got {}): longer products lose the small exponents to rounding",
                    spectrum.every
                ),
            ));
        }
        // A fixed dataset's mean-square rate is a power iteration on
        // 2d × 2d second moments: 30 · ms_batches · O(d²) per cell.
        let d = cell.net.dim;
        if cell.data.n > 0 && spectrum.ms_batches.saturating_mul(d * d) > 40_000_000 {
            return Err(invalid(
                "spectrum.ms_batches",
                format!(
                    "with data.n > 0 the mean-square rate costs ms_batches · d² ≤ 4e7 (here {} · {d}² ≈ {:.1e}, minutes a cell); lower spectrum.ms_batches",
                    spectrum.ms_batches,
                    spectrum.ms_batches as f64 * (d * d) as f64
                ),
            ));
        }
        at_most(
            "spectrum.steps",
            spectrum.steps + spectrum.burn_in,
            train::config::MAX_STEPS,
        )?;
        at_most("spectrum.ms_batches", spectrum.ms_batches, 1_000_000)?;
        Ok(Spec { cell, spectrum })
    }

    fn metrics(_: &Spec) -> Vec<MetricDoc> {
        vec![
            MetricDoc::new(
                "lyapunov_max",
                "the largest exponent, per step (natural log of the norm)",
            ),
            MetricDoc::new("lyapunov_max_err", "its standard error (from blocks)"),
            MetricDoc::new(
                "lyapunov_min",
                "the smallest exponent computed (the k-th, k = min(2d, min(d, h) + 1))",
            ),
            MetricDoc::new("lyapunov_min_err", "its standard error"),
            MetricDoc::new(
                "positive_exponents",
                "how many exponents are > 0: directions that escape the saddle",
            ),
            MetricDoc::new(
                "positive_exponents_lo",
                "how many are > 0 by two standard errors",
            ),
            MetricDoc::new(
                "positive_exponents_hi",
                "how many are > 0 within two standard errors",
            ),
            MetricDoc::new(
                "predicted_rank",
                "min(positive_exponents, d, h): the rank of W₂ as steps → ∞",
            ),
            MetricDoc::new(
                "predicted_rank_at_steps",
                "the rank of W₂ after `train.steps` steps at `measure.rank_rtol`: directions with min(s₀e^{γT}, s*) ≥ rank_rtol × the largest, s₀ the initial scale (with `model.init_scale`), s* = max(√(μ/σ′(0)), s₀) the scale an escaped direction reaches (docs/theory.md)",
            ),
            MetricDoc::new(
                "mean_square_rate",
                "growth factor per step of the second moment E[z zᵀ]; > 1 is the network's linear instability",
            ),
            MetricDoc::new(
                "not_applicable",
                "why the theory does not apply (status n/a): ReLU, Adam",
            ),
        ]
    }

    fn run(spec: &Spec, _: &CellContext) -> anyhow::Result<CellOutput> {
        match applicable(&spec.cell) {
            Ok(slope) => theory_output(spec, slope, &compute(spec, slope)),
            Err(reason) => Ok(not_applicable(reason)),
        }
    }

    /// Cells that share a spectrum (linear and tanh at the same λ, μ, σ, S)
    /// pack: the pack computes it once. (Parallel cells would otherwise
    /// compute the same spectrum side by side: the runner hands the linear
    /// half of a grid to one thread and the tanh half to the other.)
    fn pack_key(spec: &Spec) -> Option<String> {
        applicable(&spec.cell)
            .ok()
            .map(|slope| spectrum_key(spec, slope))
    }

    /// The cells of a pack share a spectrum key, so one computation serves
    /// them all (only applicable cells have a key).
    fn run_pack(specs: &[&Spec], _: &[CellContext]) -> anyhow::Result<Vec<CellOutput>> {
        let Some(first) = specs.first() else {
            return Ok(Vec::new());
        };
        let slope = applicable(&first.cell).map_err(anyhow::Error::msg)?;
        let computed = compute(first, slope);
        specs
            .iter()
            .map(|spec| theory_output(spec, slope, &computed))
            .collect()
    }
}

/// σ′(0) of a cell the theory applies to, or why it does not.
fn applicable(cell: &TwoLayerCell) -> Result<f64, &'static str> {
    match (cell.net.activation.slope_at_zero(), cell.train.optimizer) {
        (None, _) => Err("ReLU has no σ′(0) and its gates differ per unit"),
        (_, OptimizerKind::Adam) => Err("the linearisation is of plain SGD, not Adam"),
        (Some(slope), _) => Ok(slope),
    }
}

/// A cell the theory does not apply to, and why.
fn not_applicable(reason: &str) -> CellOutput {
    CellOutput {
        status: Status::NotApplicable,
        metrics: vec![("not_applicable".into(), Metric::Text(reason.into()))],
        trace: None,
        spectrum: None,
        diverged_at: None,
    }
}

/// A cell's metrics and spectrum.csv from its (shared) spectrum.
fn theory_output(spec: &Spec, slope: f64, result: &Computed) -> anyhow::Result<CellOutput> {
    let cell = &spec.cell;
    let (d, h) = (cell.net.dim, cell.net.hidden);
    let cap = d.min(h);
    if let Some(bad) = result
        .exponents
        .iter()
        .position(|e| !e.value.is_finite() || !e.err.is_finite())
    {
        anyhow::bail!(
            "exponent {bad} is not finite ({:?}): the product overflowed between re-orthonormalisations; lower spectrum.every",
            result.exponents[bad]
        );
    }
    // Largest first (Benettin's order is only asymptotically sorted).
    let mut sorted = result.exponents.clone();
    sorted.sort_by(|a, b| b.value.total_cmp(&a.value));
    let exps = &sorted;
    let count = |f: &dyn Fn(&Estimate) -> bool| exps.iter().filter(|e| f(e)).count();
    let positive = count(&|e| e.value > 0.0);
    let at_steps = finite_time_rank(exps, cell, slope);
    let mut metrics: Metrics = Vec::new();
    let mut push = |name: &str, v: Metric| metrics.push((name.to_string(), v));
    push("lyapunov_max", Metric::Number(exps[0].value));
    push("lyapunov_max_err", Metric::Number(exps[0].err));
    let last = exps[exps.len() - 1];
    push("lyapunov_min", Metric::Number(last.value));
    push("lyapunov_min_err", Metric::Number(last.err));
    push("positive_exponents", Metric::Integer(positive as i64));
    push(
        "positive_exponents_lo",
        Metric::Integer(count(&|e| e.value - 2.0 * e.err > 0.0) as i64),
    );
    push(
        "positive_exponents_hi",
        Metric::Integer(count(&|e| e.value + 2.0 * e.err > 0.0) as i64),
    );
    push("predicted_rank", Metric::Integer(positive.min(cap) as i64));
    push("predicted_rank_at_steps", Metric::Integer(at_steps as i64));
    push("mean_square_rate", Metric::Number(result.mean_square_rate));
    let table = Trace {
        columns: ["index", "exponent", "error"].map(String::from).to_vec(),
        rows: exps
            .iter()
            .enumerate()
            .map(|(i, e)| vec![i as f64, e.value, e.err])
            .collect(),
    };
    Ok(CellOutput {
        status: Status::Ok,
        metrics,
        trace: None,
        spectrum: Some(table),
        diverged_at: None,
    })
}

/// The rank of W₂ after T = `train.steps` steps, at `measure.rank_rtol`.
/// In the linear regime direction i's singular value grows as
/// s₀ e^{γ_i T} from the initial scale s₀ of the weights' projection on it;
/// an escaped direction stops growing at the scale s* where the net fits
/// the teacher (balanced W₂W₁ = (μ/σ′(0)) I, so s* = √(μ/σ′(0)), and at
/// least s₀: a direction that escapes without a signal to fit stays at the
/// noise's scale). So s_i(T) = min(s₀ e^{γ_i T}, s*), and the prediction
/// counts the i ≤ min(d, h) with s_i(T) ≥ rank_rtol · max_j s_j(T).
/// s₀ = init_scale · √(h (1/h + 1/d) / 12): the weights are
/// U(±1/√fan_in) (variance 1/(3 fan_in)), a unit state (a_j, b_j) has
/// variance (1/h + 1/d)/6 along a unit direction, h units add up, and W₂
/// holds half of the direction.
pub fn finite_time_rank(exponents: &[Estimate], cell: &TwoLayerCell, slope: f64) -> usize {
    let (d, h) = (cell.net.dim as f64, cell.net.hidden as f64);
    let t = cell.train.steps as f64;
    let ln_s0 = (cell.init_scale * (h * (1.0 / h + 1.0 / d) / 12.0).sqrt()).ln();
    let ln_star = (0.5 * (cell.data.mu / slope).ln()).max(ln_s0);
    let scales: Vec<f64> = exponents
        .iter()
        .take(cell.net.dim.min(cell.net.hidden))
        .map(|e| (ln_s0 + e.value * t).min(ln_star))
        .collect();
    let top = scales.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let floor = top + cell.measure.rank_rtol.ln();
    scales.iter().filter(|&&s| s >= floor).count()
}

/// A spectrum and its mean-square rate.
struct Computed {
    exponents: Vec<Estimate>,
    mean_square_rate: f64,
}

/// λc of a cell: the learning rate times the linearisation's factor.
fn lrc(cell: &TwoLayerCell, slope: f64) -> f64 {
    lr_factor(cell.train.loss == LossReduction::Mean, cell.net.dim, slope) * cell.train.lr
}

/// What a cell's spectrum depends on: λc, the data, S, d, h, the seed and
/// the Monte Carlo (linear and tanh cells share σ′(0) = 1).
fn spectrum_key(spec: &Spec, slope: f64) -> String {
    let cell = &spec.cell;
    format!(
        "{}|{:?}|{}|{}|{}|{:?}",
        lrc(cell, slope).to_bits(),
        cell.data,
        cell.train.batch_size,
        cell.net.dim,
        cell.net.hidden,
        (cell.seed, &spec.spectrum)
    )
}

/// The spectrum of a cell and its mean-square rate.
fn compute(spec: &Spec, slope: f64) -> Computed {
    let cell = &spec.cell;
    let (d, h) = (cell.net.dim, cell.net.hidden);
    let lrc = lrc(cell, slope);
    let k = (2 * d).min(d.min(h) + 1);
    let s = &spec.spectrum;
    let settings = QrSettings {
        steps: s.steps,
        burn_in: s.burn_in,
        every: s.every,
        blocks: s.blocks,
        seed: cell.seed,
    };
    // The cell's own minibatches: the same data stream the net trains on.
    let mut source = Source::teacher(cell.teacher(), cell.data.n, cell.seed);
    let batch = cell.train.batch_size;
    let result = spectrum(2 * d, k, &settings, |_, q| {
        let b = source.next_batch(batch);
        linearised_step(q, &b.x, &b.y, b.rows, d, lrc);
    });
    let batches: Vec<(Vec<f32>, Vec<f32>, usize)> = (0..s.ms_batches)
        .map(|_| {
            let b = source.next_batch(batch);
            (b.x, b.y, b.rows)
        })
        .collect();
    // The online teacher's law is isotropic: the rate is then a 2 × 2
    // eigenvalue problem; a fixed dataset needs the power iteration on the
    // 2d × 2d second moments.
    let rate = if cell.data.n == 0 {
        isotropic_mean_square_rate(&batches, d, lrc)
    } else {
        mean_square_rate(&batches, d, lrc, 30)
    };
    Computed {
        exponents: result.exponents,
        mean_square_rate: rate,
    }
}
