//! `saddle_theory`: the rank-0 saddle of u·w models (Prop. 2, Fig. 1b, 3,
//! 4): m± = E ln|1 ± λχ_S| and the phase.

use super::report::{computed, estimate_docs, push_estimate};
use crate::config::{ChiSpec, Config, Invalid, SaddleSpec, needs};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::Metric;
use analysis::saddle::{Chi, saddle_theory};
use analysis::teacher::Teacher;

pub struct SaddleTheory;

/// A cell: the `[saddle]` table and the seed of its data and Monte Carlo.
pub struct Spec {
    pub saddle: SaddleSpec,
    pub seed: u64,
}

impl Kind for SaddleTheory {
    type Spec = Spec;
    const NAME: &'static str = "saddle_theory";
    const ABOUT: &'static str = "Prop. 2, Fig. 1b, 3, 4: the Lyapunov exponents m∓ = E ln|1 ∓ λχ_S| at the u·w saddle, their mean-square twins and the phase (Ia, Ib, II, III, IV).";
    const QUICK: bool = true;
    const TABLES: &'static [&'static str] = &["saddle"];
    const EXAMPLE: &'static str = "[saddle]\nmu = 0.5\nlr = 0.1\n";

    fn spec(config: &mut Config) -> Result<Spec, Invalid> {
        Ok(Spec {
            saddle: saddle(config, Self::NAME)?,
            seed: config.seed,
        })
    }

    fn metrics(_: &Spec) -> Vec<MetricDoc> {
        let mut m = estimate_docs("m_minus", "m₋ = E ln|1 − λχ_S|").to_vec();
        m.extend(estimate_docs("m_plus", "m₊ = E ln|1 + λχ_S|"));
        m.extend([
            MetricDoc::new("ms_minus", "E(1 − λχ_S)²: mean-square factor of w − u"),
            MetricDoc::new("ms_plus", "E(1 + λχ_S)²: mean-square factor of w + u"),
            MetricDoc::new("phase", "Ia, Ib, II, III or IV (docs/theory.md)"),
        ]);
        m
    }

    fn run(spec: &Spec, _: &CellContext) -> anyhow::Result<CellOutput> {
        let s = &spec.saddle;
        let t = saddle_theory(&chi(s, spec.seed), s.lr, s.batch_size, spec.seed);
        let mut metrics = Vec::new();
        push_estimate(&mut metrics, "m_minus", t.m_minus);
        push_estimate(&mut metrics, "m_plus", t.m_plus);
        metrics.push(("ms_minus".into(), Metric::Number(t.ms_minus)));
        metrics.push(("ms_plus".into(), Metric::Number(t.ms_plus)));
        metrics.push(("phase".into(), Metric::Text(t.phase.to_string())));
        Ok(computed(metrics, None))
    }
}

/// The `[saddle]` table of a kind that needs it, validated.
pub fn saddle(config: &mut Config, kind: &str) -> Result<SaddleSpec, Invalid> {
    config
        .saddle
        .as_mut()
        .ok_or_else(|| needs(kind, "saddle"))?
        .validate()
}

/// The law of χ of a cell.
pub fn chi(s: &SaddleSpec, seed: u64) -> Chi {
    match s.chi {
        ChiSpec::Bernoulli { a } => Chi::bernoulli(a),
        ChiSpec::Teacher { mu, noise_std, n } => Chi::teacher(Teacher { mu, noise_std }, n, seed),
    }
}
