//! `saddle_sim`: Monte Carlo trajectories at the u·w saddle, Eq. (67): how
//! many runs collapse to it, and along which direction they leave.

use super::regression_sim::sim;
use super::report::{computed, estimate_docs, push_estimate, simulation_trace};
use super::saddle_theory::{chi, saddle};
use crate::config::{Config, Invalid, SaddleSpec};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::Metric;
use analysis::simulate::{SimSettings, simulate_saddle};

pub struct SaddleSim;

/// A cell: χ, λ and S of `[saddle]`, and the Monte Carlo.
pub struct Spec {
    pub saddle: SaddleSpec,
    pub sim: SimSettings,
}

impl Kind for SaddleSim {
    type Spec = Spec;
    const NAME: &'static str = "saddle_sim";
    const ABOUT: &'static str = "Eq. (67): Monte Carlo SGD trajectories at the u·w saddle; the fractions that converge to it and that leave along w − u or w + u.";
    const TABLES: &'static [&'static str] = &["saddle", "sim"];
    const EXAMPLE: &'static str =
        "[saddle]\nmu = 0.5\nlr = 0.5\n\n[sim]\ntrajectories = 50\nsteps = 200\n";
    const TRACE: &'static str = "`step`, `m` (mean ln|w_t − w*|), `exp_2m`, `mean_sq` (⟨|w_t − w*|²⟩), `frac_within_eps`, and `sample_k` (single trajectories, |w_t − w*|²): the data of Fig. 6.";

    fn spec(config: &mut Config) -> Result<Spec, Invalid> {
        let saddle = saddle(config, Self::NAME)?;
        Ok(Spec {
            saddle,
            sim: sim(config)?,
        })
    }

    fn metrics(spec: &Spec) -> Vec<MetricDoc> {
        let n = spec.sim.trajectories;
        let mut m = vec![
            MetricDoc::new(
                "frac_converged",
                "fraction of trajectories within `sim.eps` of the saddle at the end",
            )
            .of_trials(n),
            MetricDoc::new("frac_minus", "fraction along w − u (w → u)").of_trials(n),
            MetricDoc::new("frac_plus", "fraction along w + u (w → −u)").of_trials(n),
        ];
        m.extend(estimate_docs(
            "m_rate",
            "measured m(T)/T of the distance to the saddle",
        ));
        m.extend(estimate_docs("m_rate_minus", "measured rate of w − u"));
        m.extend(estimate_docs("m_rate_plus", "measured rate of w + u"));
        m.extend([
            MetricDoc::new("ms_minus", "measured mean-square factor of w − u"),
            MetricDoc::new("phase", "the phase the measured rates give"),
        ]);
        m
    }

    fn run(spec: &Spec, _: &CellContext) -> anyhow::Result<CellOutput> {
        let c = &spec.saddle;
        let s = simulate_saddle(&chi(c, spec.sim.seed), c.lr, c.batch_size, &spec.sim);
        let mut metrics = vec![
            ("frac_converged".into(), Metric::Number(s.frac_converged)),
            ("frac_minus".into(), Metric::Number(s.frac_minus)),
            ("frac_plus".into(), Metric::Number(s.frac_plus)),
        ];
        push_estimate(&mut metrics, "m_rate", s.m_rate);
        push_estimate(&mut metrics, "m_rate_minus", s.m_rate_minus);
        push_estimate(&mut metrics, "m_rate_plus", s.m_rate_plus);
        metrics.push(("ms_minus".into(), Metric::Number(s.ms_minus.value)));
        metrics.push(("phase".into(), Metric::Text(s.phase.to_string())));
        let trace = simulation_trace(&s.trace, spec.sim.trace_samples);
        Ok(computed(metrics, Some(trace)))
    }
}
