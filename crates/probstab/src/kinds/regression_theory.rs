//! `regression_theory`: 1-D regression through the origin, ℓ = ½(wx − y)²
//! (Prop. 1, Eq. 7, Fig. 2): the Lyapunov exponent m of SGD at λ and S, and
//! the thresholds of linear stability.

use super::report::{computed, estimate_docs, push_estimate};
use crate::config::{Config, Invalid, RegressionData, RegressionSpec, needs};
use crate::kind::{CellContext, CellOutput, Kind, MetricDoc};
use crate::record::Metric;
use analysis::regression::{outlier_dataset, regression_theory};

pub struct RegressionTheory;

/// A cell: the `[regression]` table and the seed of its dataset.
pub struct Spec {
    pub regression: RegressionSpec,
    pub seed: u64,
}

impl Kind for RegressionTheory {
    type Spec = Spec;
    const NAME: &'static str = "regression_theory";
    const ABOUT: &'static str = "Prop. 1, Eq. 7, Fig. 2: the Lyapunov exponent m = E ln|1 − λ·X_S| of 1-D regression (X_S the batch mean of x²) and the linear-stability thresholds.";
    const QUICK: bool = true;
    const TABLES: &'static [&'static str] = &["regression"];
    const EXAMPLE: &'static str = "[regression]\nn = 10\noutlier = 9.0\nlr = 0.5\n";

    fn spec(config: &mut Config) -> Result<Spec, Invalid> {
        Ok(Spec {
            regression: regression(config, Self::NAME)?,
            seed: config.seed,
        })
    }

    fn metrics(_: &Spec) -> Vec<MetricDoc> {
        let mut m = estimate_docs(
            "m",
            "E ln|1 − λ·X_S| (`-inf` at a critical λ): m < 0 converges in probability",
        )
        .to_vec();
        m.extend([
            MetricDoc::new("stable", "m < 0"),
            MetricDoc::new("lambda_gd", "2/h: gradient descent's threshold (Eq. 3)"),
            MetricDoc::new(
                "lambda_ds",
                "the λ below which the second moment decreases (derived for i.i.d. minibatches; the paper's Eq. 4 is corrected)",
            ),
            MetricDoc::new("lambda_ss", "(2/h)/(1 + 1/S)"),
        ]);
        m
    }

    fn run(spec: &Spec, _: &CellContext) -> anyhow::Result<CellOutput> {
        let r = &spec.regression;
        let t = regression_theory(&dataset(r, spec.seed), r.lr, r.batch_size, spec.seed);
        let mut metrics = Vec::new();
        push_estimate(&mut metrics, "m", t.m);
        metrics.push(("stable".into(), Metric::Bool(t.stable)));
        metrics.push(("lambda_gd".into(), Metric::Number(t.lambda_gd)));
        metrics.push(("lambda_ds".into(), Metric::Number(t.lambda_ds)));
        metrics.push(("lambda_ss".into(), Metric::Number(t.lambda_ss)));
        Ok(computed(metrics, None))
    }
}

/// The `[regression]` table of a kind that needs it, validated.
pub fn regression(config: &Config, kind: &str) -> Result<RegressionSpec, Invalid> {
    config
        .regression
        .as_ref()
        .ok_or_else(|| needs(kind, "regression"))?
        .validate()
}

/// The x_i of a cell.
pub fn dataset(r: &RegressionSpec, seed: u64) -> Vec<f64> {
    match &r.data {
        RegressionData::Inline(x) => x.clone(),
        RegressionData::Outlier { n, outlier } => outlier_dataset(*n, *outlier, seed),
    }
}
