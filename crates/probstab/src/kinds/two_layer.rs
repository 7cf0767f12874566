//! `two_layer`: a d → h → d net on the teacher stream y = μx + (1 − μ)ε
//! (§4.4, Fig. 7, 8): the ranks and sparsity of its layers, m_L. Cells that
//! share a shape pack into one stacked model (DESIGN.md §9); the heatmaps
//! over λ × μ get the 1-D saddle theory's lines.

use super::report::{live_loss_trace, loss_rate_docs, tables, training_output};
use crate::config::{Backend, Config, Invalid};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc, OverlayRequest};
use crate::live_trace::LiveTrace;
use crate::record::{Metric, Metrics};
use crate::trace::{Trace, trace_steps};
use analysis::plot::{Curve, contour_segments};
use analysis::rank::rank;
use analysis::saddle::{Chi, Phase, saddle_theory};
use analysis::sparsity::sparsity_report;
use analysis::teacher::Teacher;
use train::config::{LossReduction, Net, OptimizerKind};
use train::two_layer::{TwoLayerCell, TwoLayerRun, W2Probe};
use train::watch::Watch;

pub struct TwoLayer;

impl Kind for TwoLayer {
    type Spec = TwoLayerCell;
    const NAME: &'static str = Net::TwoLayer.kind();
    const ABOUT: &'static str = "Fig. 7, 8: a d → h → d net (linear, tanh, relu, swish) trained by SGD or Adam on the online teacher y = μx + (1 − μ)ε; the rank of its layers.";
    const TABLES: &'static [&'static str] = &["model", "data", "train", "measure"];
    const TRAINS: bool = true;
    const EXAMPLE: &'static str =
        "[model]\ndim = 8\nhidden = 8\n\n[data]\nmu = 0.5\n\n[train]\nlr = 0.1\nsteps = 100\n";
    const TRACE: &'static str = "`step`, `loss` (the minibatch loss before that step's update), `log_loss`; at most `train.trace_points` rows. With `measure.trace_singular_values = true` also `w2_sv_1` … `w2_sv_r` (r = min(d, h)): W₂'s singular values, largest first, before that step's update (NaN on the rows of a diverged run that fall between the planned trace points).";

    fn spec(config: &mut Config) -> Result<TwoLayerCell, Invalid> {
        let mut cell = TwoLayerCell::from_tables(tables(config, false))?;
        if cell.measure.trace_singular_values == Some(true) {
            cell.probe = Some(W2Probe {
                steps: trace_steps(cell.train.steps, cell.train.trace_points),
                measure: singular_values,
            });
        }
        Ok(cell)
    }

    fn metrics(_: &TwoLayerCell) -> Vec<MetricDoc> {
        let mut m = vec![
            MetricDoc::new(
                "rank_w2",
                "rank of W₂: singular values above `measure.rank_rtol`·σ_max",
            ),
            MetricDoc::new("rank_w1", "rank of W₁"),
            MetricDoc::new(
                "effective_rank_w2",
                "exp of the entropy of W₂'s normalised singular values",
            ),
            MetricDoc::new(
                "sparsity",
                "fraction of weights with |w| ≤ `measure.sparsity_atol`",
            ),
            MetricDoc::new("final_loss", "loss on 1000 fresh teacher points"),
        ];
        m.extend(loss_rate_docs());
        m
    }

    fn run(spec: &TwoLayerCell, cell: &CellContext) -> anyhow::Result<CellOutput> {
        check_memory(spec, 1)?;
        let run = train::two_layer::run_watched(spec, &mut live_trace(spec, cell))?;
        Ok(output(spec, run))
    }

    /// The backend is part of the key: on the CPU a pack is
    /// `train::packed`, on wgpu `train::packed_device`.
    fn pack_key(spec: &TwoLayerCell) -> Option<String> {
        Some(format!(
            "{:?}|{}",
            spec.backend,
            train::packed::pack_key(spec)
        ))
    }

    fn run_pack(
        specs: &[&TwoLayerCell],
        contexts: &[CellContext],
    ) -> anyhow::Result<Vec<CellOutput>> {
        let cells: Vec<&TwoLayerCell> = specs.to_vec();
        if let Some(first) = cells.first() {
            // The CPU pack trains its cells on the pool's threads at once.
            check_memory(first, cells.len().min(rayon::current_num_threads()))?;
        }
        let mut live: Vec<LiveTrace> = cells
            .iter()
            .zip(contexts)
            .map(|(spec, cell)| live_trace(spec, cell))
            .collect();
        let watches: Vec<&mut dyn Watch> = live.iter_mut().map(|w| w as &mut dyn Watch).collect();
        let runs = match cells.first().map(|c| c.backend) {
            Some(Backend::Wgpu) => train::packed_device::run_packed_on_watched(
                &cells,
                &train::device(Backend::Wgpu)?,
                watches,
            ),
            _ => train::packed::run_packed_watched(&cells, watches),
        };
        Ok(runs
            .into_iter()
            .zip(specs)
            .map(|(run, spec)| output(spec, run))
            .collect())
    }

    fn overlays(spec: &TwoLayerCell, request: &OverlayRequest) -> anyhow::Result<Vec<Curve>> {
        Ok(saddle_lines(spec, request))
    }
}

/// Fail before allocating when `cells` cells of this shape (trained at
/// once) do not fit in the memory left (cgroup limit included), as image
/// cells do; the grid goes on. On wgpu the activations live on the GPU.
fn check_memory(spec: &TwoLayerCell, cells: usize) -> anyhow::Result<()> {
    if spec.backend != Backend::Cpu {
        return Ok(());
    }
    if let Some(available) = train::memory::available_bytes() {
        let (net, batch) = (&spec.net, spec.train.batch_size);
        train::memory::check_two_layer(net.dim, net.hidden, batch, spec.data.n, cells, available)
            .map_err(train::TrainError::from)?;
    }
    Ok(())
}

/// The live trace of a cell: the loss columns, and with a probe the
/// singular values it measured (NaN on a row without them).
fn live_trace(spec: &TwoLayerCell, cell: &CellContext) -> LiveTrace {
    let r = spec
        .probe
        .as_ref()
        .map(|_| spec.net.dim.min(spec.net.hidden));
    let extra = (1..=r.unwrap_or(0)).map(|i| format!("w2_sv_{i}")).collect();
    live_loss_trace(cell, &spec.train, extra, move |info, row| {
        if let Some(r) = r {
            let probe = info.probe.unwrap_or(&[]);
            row.extend((0..r).map(|j| probe.get(j).copied().unwrap_or(f64::NAN)));
        }
    })
}

/// W₂'s singular values, largest first (the probe of
/// `measure.trace_singular_values`).
fn singular_values(w2: &[f32], d: usize, h: usize) -> Vec<f64> {
    rank(w2, d, h, 1.0).singular_values
}

/// The probed singular values as trace columns `w2_sv_i`, on the rows of
/// their step. The probe measures at the trace points of the planned run;
/// a diverged run's trace is spread over the steps it took, so most of its
/// rows fall between probes and get NaN.
fn push_singular_values(trace: &mut Trace, probed: &[(usize, Vec<f64>)], r: usize) {
    trace.columns.extend((1..=r).map(|i| format!("w2_sv_{i}")));
    for row in &mut trace.rows {
        let step = row[0] as usize;
        match probed.binary_search_by_key(&step, |(s, _)| *s) {
            Ok(i) => row.extend((0..r).map(|j| probed[i].1.get(j).copied().unwrap_or(f64::NAN))),
            Err(_) => row.extend(std::iter::repeat_n(f64::NAN, r)),
        }
    }
}

/// Ranks, sparsity and test loss of a trained net, then m_L and the trace.
fn output(spec: &TwoLayerCell, mut run: TwoLayerRun) -> CellOutput {
    let probed = std::mem::take(&mut run.probed);
    let measure = &spec.measure;
    let mut metrics: Metrics = Vec::new();
    if run.outcome.diverged_at.is_none() {
        let w2 = rank(&run.w2, run.dim, run.hidden, measure.rank_rtol);
        let w1 = rank(&run.w1, run.hidden, run.dim, measure.rank_rtol);
        metrics.push(("rank_w2".into(), Metric::Integer(w2.rank as i64)));
        metrics.push(("rank_w1".into(), Metric::Integer(w1.rank as i64)));
        metrics.push((
            "effective_rank_w2".into(),
            Metric::Number(w2.effective_rank),
        ));
        let sparsity = sparsity_report(
            [("w1", &run.w1[..]), ("w2", &run.w2[..])],
            measure.sparsity_atol,
        );
        metrics.push(("sparsity".into(), Metric::Number(sparsity.overall)));
        metrics.push(("final_loss".into(), Metric::Number(run.test_loss)));
    }
    let mut output = training_output(metrics, run.outcome, &spec.train, measure);
    if let (Some(_), Some(trace)) = (&spec.probe, &mut output.trace) {
        push_singular_values(trace, &probed, run.dim.min(run.hidden));
    }
    output
}

/// κ of the 1-D line: `theory_lr_scale` when set, else 2 for `mean`, d
/// for `half_sum` (see [`saddle_lines`]).
pub fn kappa(cell: &TwoLayerCell, theory_lr_scale: Option<f64>) -> f64 {
    theory_lr_scale.unwrap_or(match cell.train.loss {
        LossReduction::Mean => 2.0,
        LossReduction::HalfSum => cell.net.dim as f64,
    })
}

/// The 1-D saddle theory's phase of a cell at λ₁ = κλ (the κ line's
/// verdict: phase III is the collapse).
pub fn kappa_phase(cell: &TwoLayerCell, kappa: f64) -> Phase {
    saddle_theory(
        &Chi::Teacher(Teacher {
            mu: cell.data.mu.clamp(0.0, 1.0),
            noise_std: cell.data.noise_std,
        }),
        kappa * cell.train.lr.max(1e-12),
        cell.train.batch_size,
        0,
    )
    .phase
}

/// Fine grid on which the 1-D theory is evaluated, per axis.
const RESOLUTION: usize = 120;

/// The 1-D theory drawn over a heatmap over `train.lr` and `data.mu` (either
/// way round; Fig. 7's red line): the saddle of the matching u·w model
/// (same μ, noise σ, batch size S) has `m₊ = 0` and `m₋ = 0` lines that bound
/// the collapse to low rank. The net and the 1-D theory use different
/// learning-rate units: the theory is evaluated at `λ₁ = κλ`, by default
/// κ = 2 for the `mean` loss (MSELoss: the 2 of the squared error; its 1/d
/// is offset by the input norm ‖x‖² ≈ d) and κ = d for `half_sum` (whose
/// gradient is d/2 times larger). This is a heuristic mapping;
/// `theory_lr_scale` sets κ. Empty for other axes or with `theory = false`.
fn saddle_lines(spec: &TwoLayerCell, request: &OverlayRequest) -> Vec<Curve> {
    let OverlayRequest { x, y, xs, ys, .. } = *request;
    let lr_on_x = match (x, y) {
        ("train.lr", "data.mu") => true,
        ("data.mu", "train.lr") => false,
        _ => return Vec::new(),
    };
    // The 1-D line is SGD's: an Adam map gets none.
    if request.spec.theory == Some(false)
        || xs.len() < 2
        || ys.len() < 2
        || spec.train.optimizer != OptimizerKind::Sgd
    {
        return Vec::new();
    }
    let cell = spec;
    let kappa = kappa(cell, request.spec.theory_lr_scale);
    let noise_std = cell.data.noise_std;
    let span = |v: &[f64]| {
        (0..RESOLUTION)
            .map(|i| v[0] + (v[v.len() - 1] - v[0]) * i as f64 / (RESOLUTION - 1) as f64)
            .collect::<Vec<_>>()
    };
    let (fx, fy) = (span(xs), span(ys));
    let mut minus = vec![vec![0.0; RESOLUTION]; RESOLUTION];
    let mut plus = vec![vec![0.0; RESOLUTION]; RESOLUTION];
    for (iy, &yv) in fy.iter().enumerate() {
        for (ix, &xv) in fx.iter().enumerate() {
            let (lr, mu) = if lr_on_x { (xv, yv) } else { (yv, xv) };
            let t = saddle_theory(
                &Chi::Teacher(Teacher {
                    mu: mu.clamp(0.0, 1.0),
                    noise_std,
                }),
                kappa * lr.max(1e-12),
                cell.train.batch_size,
                0,
            );
            minus[iy][ix] = t.m_minus.value;
            plus[iy][ix] = t.m_plus.value;
        }
    }
    let curve = |label: String, values: &[Vec<f64>]| {
        let mut points = Vec::new();
        for (a, b) in contour_segments(&fx, &fy, false, false, values, 0.0) {
            points.extend([a, b, (f64::NAN, f64::NAN)]);
        }
        Curve { label, points }
    };
    vec![
        curve(format!("theory m₊ = 0 (1-D saddle, λ₁ = {kappa}λ)"), &plus),
        curve("theory m₋ = 0".to_string(), &minus),
    ]
}
