//! `regression_sim`: Monte Carlo trajectories of SGD on 1-D regression,
//! Eq. (6) (Fig. 6): the fraction that converges, and the measured rate.

use super::regression_theory::{dataset, regression};
use super::report::{computed, estimate_docs, push_estimate, simulation_trace};
use crate::config::{Config, Invalid, RegressionSpec, SimConfig};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::Metric;
use analysis::simulate::{SimSettings, simulate_regression};

pub struct RegressionSim;

/// A cell: the dataset and λ, S of `[regression]`, and the Monte Carlo.
pub struct Spec {
    pub regression: RegressionSpec,
    pub sim: SimSettings,
}

impl Kind for RegressionSim {
    type Spec = Spec;
    const NAME: &'static str = "regression_sim";
    const ABOUT: &'static str = "Fig. 6, Eq. (6): Monte Carlo SGD trajectories of 1-D regression; e^{2m(t)} against ⟨|w_t − w*|²⟩, and the fraction within eps of w*.";
    const TABLES: &'static [&'static str] = &["regression", "sim"];
    const EXAMPLE: &'static str =
        "[regression]\nx = [0.5, 1.0, 2.0]\nlr = 0.3\n\n[sim]\ntrajectories = 50\nsteps = 200\n";
    const TRACE: &'static str = "`step`, `m` (mean ln|w_t − w*|), `exp_2m`, `mean_sq` (⟨|w_t − w*|²⟩), `frac_within_eps`, and `sample_k` (single trajectories, |w_t − w*|²): the data of Fig. 6.";

    fn spec(config: &mut Config) -> Result<Spec, Invalid> {
        let regression = regression(config, Self::NAME)?;
        Ok(Spec {
            regression,
            sim: sim(config)?,
        })
    }

    fn metrics(spec: &Spec) -> Vec<MetricDoc> {
        let mut m = vec![
            MetricDoc::new(
                "frac_converged",
                "fraction of trajectories within `sim.eps` of w* at the end",
            )
            .of_trials(spec.sim.trajectories),
        ];
        m.extend(estimate_docs(
            "m_rate",
            "measured m(T)/T, mean ln|w_T − w*| per step",
        ));
        m
    }

    fn run(spec: &Spec, _: &CellContext) -> anyhow::Result<CellOutput> {
        let r = &spec.regression;
        let s = simulate_regression(&dataset(r, spec.sim.seed), r.lr, r.batch_size, &spec.sim);
        let mut metrics = vec![("frac_converged".into(), Metric::Number(s.frac_converged))];
        push_estimate(&mut metrics, "m_rate", s.m_rate);
        let trace = simulation_trace(&s.trace, spec.sim.trace_samples);
        Ok(computed(metrics, Some(trace)))
    }
}

/// The `[sim]` table (defaults where absent, written back), validated, with
/// the cell's seed.
pub fn sim(config: &mut Config) -> Result<SimSettings, Invalid> {
    let sim = config.sim.get_or_insert_with(SimConfig::default);
    sim.validate()?;
    Ok(SimSettings {
        trajectories: sim.trajectories,
        steps: sim.steps,
        eps: sim.eps,
        trace_points: sim.trace_points,
        trace_samples: sim.trace_samples,
        seed: config.seed,
    })
}
