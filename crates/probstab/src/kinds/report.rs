//! What the kinds report alike: estimates with their errors, m_L and the
//! Lyapunov slope of a training run, a run's status, the loss trace, and
//! the Fig. 6 trace of the simulations.

use crate::config::Config;
use crate::kind::{CellContext, CellOutput, MetricDoc};
use crate::live_trace::LiveTrace;
use crate::record::{Metric, Metrics, Status};
use crate::trace::{Trace, loss_trace, trace_steps};
use analysis::Estimate;
use analysis::loss_rate::loss_rate;
use analysis::simulate::TraceRow;
use train::config::{DataTable, MeasureTable, ModelTable, Tables, TrainTable};
use train::trainer::Outcome;
use train::watch::StepInfo;

/// A training kind's tables, for its cell's `from_tables`: `[model]` and
/// `[measure]` default to their defaults (written back into the config), and
/// so does `[data]` where the kind has a default data set.
pub fn tables(config: &mut Config, default_data: bool) -> Tables<'_> {
    if default_data {
        config.data.get_or_insert_with(DataTable::default);
    }
    Tables {
        model: config.model.get_or_insert_with(ModelTable::default),
        data: config.data.as_mut(),
        train: config.train.as_ref(),
        measure: config.measure.get_or_insert_with(MeasureTable::default),
        seed: config.seed,
        backend: config.backend,
    }
}

/// `name` and `name_err` (0 when exact).
pub fn push_estimate(metrics: &mut Metrics, name: &str, e: Estimate) {
    metrics.push((name.to_string(), Metric::Number(e.value)));
    metrics.push((format!("{name}_err"), Metric::Number(e.err)));
}

/// The declarations of [`push_estimate`]'s two columns.
pub fn estimate_docs(name: &str, doc: &'static str) -> [MetricDoc; 2] {
    [
        MetricDoc::new(name, doc),
        MetricDoc::new(
            format!("{name}_err"),
            "its standard error (0 where computed exactly)",
        ),
    ]
}

/// The outcome of a run: ok, or diverged at its step.
pub fn status_of(outcome: &Outcome) -> Status {
    if outcome.diverged_at.is_some() {
        Status::Diverged
    } else {
        Status::Ok
    }
}

/// m_L, e^{m_L} and the slope of ln L over the trailing window (Eq. 10, 12).
pub fn push_loss_rate(metrics: &mut Metrics, outcome: &Outcome, measure: &MeasureTable) {
    let points: Vec<(f64, f64)> = outcome
        .losses
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(t, l)| (t as f64, (*l as f64).ln()))
        .collect();
    let rate = loss_rate(&points, measure.window);
    metrics.push(("m_l".into(), Metric::Number(rate.m_l)));
    metrics.push(("robust_loss".into(), Metric::Number(rate.robust_loss)));
    metrics.push(("lyapunov_slope".into(), Metric::Number(rate.slope)));
}

/// The declarations of [`push_loss_rate`]'s columns.
pub fn loss_rate_docs() -> [MetricDoc; 3] {
    [
        MetricDoc::new(
            "m_l",
            "m_L = mean of ln L over the trailing `measure.window` of steps (Eq. 9)",
        ),
        MetricDoc::new("robust_loss", "e^{m_L}, a robust loss (Eq. 10)"),
        MetricDoc::new(
            "lyapunov_slope",
            "slope of ln L against the step over that window (Eq. 12)",
        ),
    ]
}

/// A training cell's output: its metrics, then m_L and the rest, its status
/// and the loss trace.
pub fn training_output(
    mut metrics: Metrics,
    outcome: Outcome,
    train: &TrainTable,
    measure: &MeasureTable,
) -> CellOutput {
    push_loss_rate(&mut metrics, &outcome, measure);
    let trace = loss_trace(&outcome, train.trace_points);
    CellOutput {
        status: status_of(&outcome),
        metrics,
        trace: Some(trace),
        spectrum: None,
        diverged_at: outcome.diverged_at.map(|s| s as u64),
    }
}

/// The live trace of a training cell whose trace is [`loss_trace`]'s
/// `step, loss, log_loss`, then `extra` columns filled by `more` from the
/// step's report.
pub fn live_loss_trace(
    cell: &CellContext,
    train: &TrainTable,
    extra: Vec<String>,
    more: impl Fn(&StepInfo, &mut Vec<f64>) + Send + 'static,
) -> LiveTrace {
    let mut columns: Vec<String> = ["step", "loss", "log_loss"].map(String::from).to_vec();
    columns.extend(extra);
    let steps = trace_steps(train.steps, train.trace_points);
    cell.trace(
        columns,
        steps,
        Box::new(move |info| {
            let mut row = loss_row(info);
            more(info, &mut row);
            row
        }),
    )
}

/// `step, loss, ln loss` of a step, as [`loss_trace`] writes them.
pub fn loss_row(info: &StepInfo) -> Vec<f64> {
    let loss = info.loss as f64;
    vec![info.step as f64, loss, loss.ln()]
}

/// A cell that computed its metrics without training.
pub fn computed(metrics: Metrics, trace: Option<Trace>) -> CellOutput {
    CellOutput {
        status: Status::Ok,
        metrics,
        trace,
        spectrum: None,
        diverged_at: None,
    }
}

/// Fig. 6 columns: step, m(t), e^{2m}, ⟨|w − w*|²⟩, fraction within eps,
/// then single trajectories `sample_k` (|w_t − w*|²).
pub fn simulation_trace(rows: &[TraceRow], samples: usize) -> Trace {
    let mut columns: Vec<String> = ["step", "m", "exp_2m", "mean_sq", "frac_within_eps"]
        .map(String::from)
        .to_vec();
    let samples = samples.min(rows.first().map_or(0, |r| r.samples.len()));
    columns.extend((0..samples).map(|k| format!("sample_{k}")));
    let rows = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.step as f64, r.m, r.exp_2m, r.mean_sq, r.frac_within_eps];
            row.extend(r.samples.iter().take(samples));
            row
        })
        .collect();
    Trace { columns, rows }
}
