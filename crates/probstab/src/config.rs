//! The experiment schema: one struct per TOML table, unknown keys rejected,
//! defaults and units on the fields (DESIGN.md §4). A [`Config`] is one cell:
//! the `[grid]` and `[[plot]]` tables of a file are read by `experiment.rs`.

use serde::{Deserialize, Serialize};
pub use train::Backend;
use train::config::{DataTable, MeasureTable, ModelTable, TrainTable, invalid};
pub use train::config::{Invalid, needs};

/// One cell of an experiment, fully resolved.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Experiment name; results go to `results/<name>/` unless `--out` says
    /// otherwise. Letters, digits, `_`, `-`, `.`; not starting with `.`.
    pub name: String,
    /// What a cell computes: the name of a kind (`kinds::KINDS`).
    pub kind: String,
    /// Seed of every random draw: datasets, Monte Carlo, trajectories. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Device for kinds that train: `"cpu"` (default) or `"wgpu"`. Theory and
    /// simulation kinds always run on the CPU.
    #[serde(default)]
    pub backend: Backend,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saddle: Option<SaddleConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimConfig>,
    /// Training kinds: the network (`[model]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelTable>,
    /// Training kinds: the data (`[data]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataTable>,
    /// Training kinds: optimizer, λ, S, steps, loss (`[train]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainTable>,
    /// Training kinds: tolerances of the metrics (`[measure]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<MeasureTable>,
    /// two_layer_theory: the Monte Carlo of the spectrum (`[spectrum]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<SpectrumConfig>,
}

/// `[regression]`: 1-D regression through the origin, `ℓ = ½(wx − y)²`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegressionConfig {
    /// The inputs x_i, inline. Give either `x` or `n` (with `outlier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<Vec<f64>>,
    /// Dataset size for Fig. 2's construction: n − 1 standard normal points
    /// (from `seed`) and one outlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// x₁² of the outlier point, with `n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<f64>,
    /// λ, the learning rate (> 0).
    pub lr: f64,
    /// S, points per minibatch, drawn i.i.d. Default 1.
    #[serde(default = "train::config::one")]
    pub batch_size: usize,
}

/// `[saddle]`: the rank-0 saddle of `u·w` models (§4.2).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SaddleConfig {
    /// Distribution of χ = xy: `"bernoulli"` (χ = 1 or `a`, each with
    /// probability ½) or `"teacher"` (the Gaussian teacher; the default).
    #[serde(default)]
    pub chi: ChiKind,
    /// The second value of a Bernoulli χ (bernoulli only; > −1 for the paper's
    /// orientation, any finite value accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<f64>,
    /// μ in [0, 1]: `y = μx + (1 − μ)ε` (teacher only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mu: Option<f64>,
    /// σ ≥ 0, the standard deviation of ε (teacher only). Default 2, the
    /// paper's ε ~ N(0, 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_std: Option<f64>,
    /// Dataset size N (teacher only); 0, the default, means N = ∞.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// λ, the learning rate (> 0).
    pub lr: f64,
    /// S, samples per minibatch, drawn i.i.d. Default 1.
    #[serde(default = "train::config::one")]
    pub batch_size: usize,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChiKind {
    Bernoulli,
    #[default]
    Teacher,
}

/// `[spectrum]`: the Monte Carlo of the spectrum.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpectrumConfig {
    /// Steps counted. Default 20000: the exponents are O(1/d) per step with
    /// the `mean` loss, so a wider net needs more.
    #[serde(default = "default_spectrum_steps")]
    pub steps: usize,
    /// Steps taken first and not counted. Default 2000.
    #[serde(default = "default_burn_in")]
    pub burn_in: usize,
    /// Re-orthonormalise every this many steps. Default 25 (each QR costs
    /// O(d k²); at d = 200, λ = 0.1, every 50 gave the exponents of every
    /// 10 to 1e-14).
    #[serde(default = "default_every")]
    pub every: usize,
    /// Blocks of the counted steps behind the standard errors. Default 10.
    #[serde(default = "default_blocks")]
    pub blocks: usize,
    /// Minibatches behind `mean_square_rate`. Default 1000.
    #[serde(default = "default_ms_batches")]
    pub ms_batches: usize,
}

impl Default for SpectrumConfig {
    fn default() -> Self {
        Self {
            steps: default_spectrum_steps(),
            burn_in: default_burn_in(),
            every: default_every(),
            blocks: default_blocks(),
            ms_batches: default_ms_batches(),
        }
    }
}

fn default_spectrum_steps() -> usize {
    20_000
}
fn default_burn_in() -> usize {
    2000
}
fn default_every() -> usize {
    25
}
fn default_blocks() -> usize {
    10
}
fn default_ms_batches() -> usize {
    1000
}

/// `[sim]`: Monte Carlo trajectories for `regression_sim` and `saddle_sim`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Independent trajectories. Default 200 (Fig. 6).
    #[serde(default = "default_trajectories")]
    pub trajectories: usize,
    /// SGD steps per trajectory. Default 1000.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// A trajectory has converged when |w_T − w*| < eps. Default 1e-3.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Rows of `trace.csv` besides step 0. Default 200.
    #[serde(default = "default_trace_points")]
    pub trace_points: usize,
    /// Single trajectories written to `trace.csv`. Default 10.
    #[serde(default = "default_trace_samples")]
    pub trace_samples: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            trajectories: default_trajectories(),
            steps: default_steps(),
            eps: default_eps(),
            trace_points: default_trace_points(),
            trace_samples: default_trace_samples(),
        }
    }
}

fn default_trajectories() -> usize {
    200
}
fn default_steps() -> usize {
    1000
}
fn default_eps() -> f64 {
    1e-3
}
fn default_trace_points() -> usize {
    200
}
fn default_trace_samples() -> usize {
    10
}

pub use train::config::DEFAULT_NOISE_STD;

impl Config {
    /// The experiment name is a safe directory name.
    pub fn check_name(&self) -> Result<(), Invalid> {
        let name_ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if name_ok {
            Ok(())
        } else {
            Err(invalid(
                "name",
                format!(
                    "`{}` is not a valid experiment name: use letters, digits, `_`, `-`, `.`, not starting with `.`",
                    self.name
                ),
            ))
        }
    }

    /// Which of the optional tables are present.
    pub fn tables_present(&self) -> [(&'static str, bool); 8] {
        [
            ("regression", self.regression.is_some()),
            ("saddle", self.saddle.is_some()),
            ("sim", self.sim.is_some()),
            ("model", self.model.is_some()),
            ("data", self.data.is_some()),
            ("train", self.train.is_some()),
            ("measure", self.measure.is_some()),
            ("spectrum", self.spectrum.is_some()),
        ]
    }
}

fn check_lr(key: &str, lr: f64) -> Result<(), Invalid> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("learning rate must be > 0 and finite, got {lr}"),
        ))
    }
}

fn check_size(key: &str, v: usize, max: usize) -> Result<(), Invalid> {
    train::config::at_most(key, v, max)
}

/// Batches of the theory kinds: the exact law or its Monte Carlo sample.
const MAX_THEORY_BATCH: usize = 100_000;

fn check_batch(key: &str, s: usize) -> Result<(), Invalid> {
    check_size(key, s, MAX_THEORY_BATCH)?;
    if s >= 1 {
        Ok(())
    } else {
        Err(invalid(key, "batch size must be ≥ 1"))
    }
}

/// A validated `[regression]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionSpec {
    pub data: RegressionData,
    pub lr: f64,
    pub batch_size: usize,
}

/// The 1-D dataset: inline, or Fig. 2's construction.
#[derive(Clone, Debug, PartialEq)]
pub enum RegressionData {
    Inline(Vec<f64>),
    /// n − 1 standard normal points (from the seed) and one outlier with x₁².
    Outlier {
        n: usize,
        outlier: f64,
    },
}

impl RegressionConfig {
    pub fn validate(&self) -> Result<RegressionSpec, Invalid> {
        check_lr("regression.lr", self.lr)?;
        check_batch("regression.batch_size", self.batch_size)?;
        let data = match (&self.x, self.n, self.outlier) {
            (Some(x), None, None) => {
                if x.is_empty() {
                    return Err(invalid("regression.x", "the dataset is empty"));
                }
                if let Some(i) = x.iter().position(|v| !v.is_finite()) {
                    return Err(invalid(
                        "regression.x",
                        format!("x[{i}] = {} is not finite", x[i]),
                    ));
                }
                RegressionData::Inline(x.clone())
            }
            (None, Some(n), Some(outlier)) => {
                if n < 1 {
                    return Err(invalid("regression.n", "dataset size must be ≥ 1"));
                }
                check_size("regression.n", n, train::config::MAX_POINTS)?;
                if !(outlier.is_finite() && outlier >= 0.0) {
                    return Err(invalid(
                        "regression.outlier",
                        format!("x₁² must be ≥ 0 and finite, got {outlier}"),
                    ));
                }
                RegressionData::Outlier { n, outlier }
            }
            (Some(_), _, _) => {
                return Err(invalid(
                    "regression.x",
                    "give either `x` or `n` with `outlier`, not both",
                ));
            }
            (None, Some(_), None) => {
                return Err(invalid(
                    "regression.outlier",
                    "`n` needs `outlier` (x₁² of the outlier point)",
                ));
            }
            (None, None, Some(_)) => {
                return Err(invalid(
                    "regression.n",
                    "`outlier` needs `n` (the dataset size)",
                ));
            }
            (None, None, None) => {
                return Err(invalid(
                    "regression.x",
                    "give the dataset: `x = [...]`, or `n` and `outlier`",
                ));
            }
        };
        Ok(RegressionSpec {
            data,
            lr: self.lr,
            batch_size: self.batch_size,
        })
    }
}

/// A validated `[saddle]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SaddleSpec {
    pub chi: ChiSpec,
    pub lr: f64,
    pub batch_size: usize,
}

/// The law of χ = xy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChiSpec {
    /// χ = 1 or a, each with probability ½.
    Bernoulli { a: f64 },
    /// The Gaussian teacher with μ and σ, on N points (0: N = ∞).
    Teacher { mu: f64, noise_std: f64, n: usize },
}

impl SaddleConfig {
    /// Check, fill the teacher's defaults, and return the typed table.
    pub fn validate(&mut self) -> Result<SaddleSpec, Invalid> {
        check_lr("saddle.lr", self.lr)?;
        check_batch("saddle.batch_size", self.batch_size)?;
        let chi = match self.chi {
            ChiKind::Bernoulli => {
                for (key, set) in [
                    ("mu", self.mu.is_some()),
                    ("noise_std", self.noise_std.is_some()),
                    ("n", self.n.is_some()),
                ] {
                    if set {
                        return Err(invalid(
                            &format!("saddle.{key}"),
                            "only used with chi = \"teacher\"",
                        ));
                    }
                }
                match self.a {
                    Some(a) if a.is_finite() => ChiSpec::Bernoulli { a },
                    Some(a) => {
                        return Err(invalid("saddle.a", format!("must be finite, got {a}")));
                    }
                    None => {
                        return Err(invalid(
                            "saddle.a",
                            "chi = \"bernoulli\" needs `a` (χ = 1 or a)",
                        ));
                    }
                }
            }
            ChiKind::Teacher => {
                if self.a.is_some() {
                    return Err(invalid("saddle.a", "only used with chi = \"bernoulli\""));
                }
                let mu = self.mu.ok_or_else(|| {
                    invalid("saddle.mu", "chi = \"teacher\" needs `mu` in [0, 1]")
                })?;
                if !(0.0..=1.0).contains(&mu) {
                    return Err(invalid("saddle.mu", format!("must be in [0, 1], got {mu}")));
                }
                let noise_std = *self.noise_std.get_or_insert(DEFAULT_NOISE_STD);
                if !(noise_std.is_finite() && noise_std >= 0.0) {
                    return Err(invalid(
                        "saddle.noise_std",
                        format!("must be ≥ 0 and finite, got {noise_std}"),
                    ));
                }
                let n = *self.n.get_or_insert(0);
                check_size("saddle.n", n, train::config::MAX_POINTS)?;
                ChiSpec::Teacher { mu, noise_std, n }
            }
        };
        Ok(SaddleSpec {
            chi,
            lr: self.lr,
            batch_size: self.batch_size,
        })
    }
}

impl SimConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.trajectories < 1 {
            return Err(invalid("sim.trajectories", "must be ≥ 1"));
        }
        if self.steps < 1 {
            return Err(invalid("sim.steps", "must be ≥ 1"));
        }
        check_size("sim.trajectories", self.trajectories, 1_000_000)?;
        check_size("sim.steps", self.steps, train::config::MAX_STEPS)?;
        check_size("sim.trace_points", self.trace_points, 10_000)?;
        check_size("sim.trace_samples", self.trace_samples, 1_000)?;
        // Every trajectory's distance is kept at each trace row.
        check_size(
            "sim.trace_points",
            self.trajectories * (self.trace_points + 1),
            100_000_000,
        )?;
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(invalid(
                "sim.eps",
                format!("must be > 0 and finite, got {}", self.eps),
            ));
        }
        Ok(())
    }
}
