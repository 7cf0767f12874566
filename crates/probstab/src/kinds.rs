//! What one cell computes, by `kind`: the theory and simulation kinds call
//! into `analysis` and report metrics (and a trace for simulations).

use crate::config::{ChiKind, Config, Kind, RegressionConfig, SaddleConfig};
use crate::record::{Metric, Metrics, Status};
use analysis::regression::{outlier_dataset, regression_theory};
use analysis::saddle::{Chi, saddle_theory};
use analysis::simulate::{SimSettings, TraceRow, simulate_regression, simulate_saddle};
use analysis::teacher::Teacher;
use analysis::Estimate;

/// A finished cell's results.
pub struct CellOutput {
    pub status: Status,
    pub metrics: Metrics,
    pub trace: Option<Trace>,
    pub diverged_at: Option<u64>,
}

/// A per-step table, written as `trace.csv`.
pub struct Trace {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Trace {
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|x| crate::record::Metric::Number(*x).to_csv()).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

/// Run one validated cell.
pub fn run(config: &Config) -> anyhow::Result<CellOutput> {
    let seed = config.seed;
    let sim = config.sim.clone().unwrap_or_default();
    let settings = SimSettings {
        trajectories: sim.trajectories,
        steps: sim.steps,
        eps: sim.eps,
        trace_points: sim.trace_points,
        trace_samples: sim.trace_samples,
        seed,
    };
    let mut metrics: Metrics = Vec::new();
    let mut push = |name: &str, value: Metric| metrics.push((name.to_string(), value));
    let mut trace = None;
    match config.kind {
        Kind::RegressionTheory => {
            let r = config.regression.as_ref().expect("validated");
            let t = regression_theory(&regression_data(r, seed), r.lr, r.batch_size, seed);
            push_estimate(&mut push, "m", t.m);
            push("stable", Metric::Bool(t.stable));
            push("lambda_gd", Metric::Number(t.lambda_gd));
            push("lambda_ds", Metric::Number(t.lambda_ds));
            push("lambda_ss", Metric::Number(t.lambda_ss));
        }
        Kind::SaddleTheory => {
            let s = config.saddle.as_ref().expect("validated");
            let t = saddle_theory(&chi(s, seed), s.lr, s.batch_size, seed);
            push_estimate(&mut push, "m_minus", t.m_minus);
            push_estimate(&mut push, "m_plus", t.m_plus);
            push("ms_minus", Metric::Number(t.ms_minus));
            push("ms_plus", Metric::Number(t.ms_plus));
            push("phase", Metric::Text(t.phase.to_string()));
        }
        Kind::RegressionSim => {
            let r = config.regression.as_ref().expect("validated");
            let s = simulate_regression(&regression_data(r, seed), r.lr, r.batch_size, &settings);
            push("frac_converged", Metric::Number(s.frac_converged));
            push_estimate(&mut push, "m_rate", s.m_rate);
            trace = Some(trace_of(&s.trace, settings.trace_samples));
        }
        Kind::SaddleSim => {
            let c = config.saddle.as_ref().expect("validated");
            let s = simulate_saddle(&chi(c, seed), c.lr, c.batch_size, &settings);
            push("frac_converged", Metric::Number(s.frac_converged));
            push("frac_minus", Metric::Number(s.frac_minus));
            push("frac_plus", Metric::Number(s.frac_plus));
            push_estimate(&mut push, "m_rate", s.m_rate);
            push_estimate(&mut push, "m_rate_minus", s.m_rate_minus);
            push_estimate(&mut push, "m_rate_plus", s.m_rate_plus);
            push("ms_minus", Metric::Number(s.ms_minus.value));
            push("phase", Metric::Text(s.phase.to_string()));
            trace = Some(trace_of(&s.trace, settings.trace_samples));
        }
    }
    Ok(CellOutput { status: Status::Ok, metrics, trace, diverged_at: None })
}

/// `name` and `name_err` (0 when exact).
fn push_estimate(push: &mut impl FnMut(&str, Metric), name: &str, e: Estimate) {
    push(name, Metric::Number(e.value));
    push(&format!("{name}_err"), Metric::Number(e.err));
}

fn regression_data(r: &RegressionConfig, seed: u64) -> Vec<f64> {
    match (&r.x, r.n, r.outlier) {
        (Some(x), _, _) => x.clone(),
        (None, Some(n), Some(outlier)) => outlier_dataset(n, outlier, seed),
        _ => unreachable!("validated: x, or n with outlier"),
    }
}

fn chi(s: &SaddleConfig, seed: u64) -> Chi {
    match s.chi {
        ChiKind::Bernoulli => Chi::bernoulli(s.a.expect("validated")),
        ChiKind::Teacher => {
            let teacher = Teacher { mu: s.mu.expect("validated"), noise_std: s.noise_std.expect("resolved by validate") };
            Chi::teacher(teacher, s.n.unwrap_or(0), seed)
        }
    }
}

/// Fig. 6 columns: step, m(t), e^{2m}, ⟨|w − w*|²⟩, fraction within eps,
/// then single trajectories `sample_k` (|w_t − w*|²).
fn trace_of(rows: &[TraceRow], samples: usize) -> Trace {
    let mut columns: Vec<String> = ["step", "m", "exp_2m", "mean_sq", "frac_within_eps"].map(String::from).to_vec();
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
