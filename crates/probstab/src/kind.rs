//! The plug a kind is: its name, the typed spec its validation returns, the
//! metric columns it declares, how it runs a cell, whether its cells pack,
//! and the overlays it draws. A kind implements [`Kind`]; the registry
//! (`kinds/mod.rs`) lists it once, and everything else reaches it through
//! the type-erased [`Spec`] that each [`crate::experiment::Cell`] carries.

use crate::config::{Config, Invalid};
use crate::live::LiveCell;
use crate::live_trace::{LiveTrace, RowFn};
use crate::plot_spec::PlotSpec;
use crate::record::{Metrics, Status};
use crate::store::CellDir;
use crate::trace::Trace;
use analysis::plot::Curve;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// A finished cell's results.
pub struct CellOutput {
    pub status: Status,
    pub metrics: Metrics,
    pub trace: Option<Trace>,
    /// A spectrum table (`spectrum.csv`), for kinds that compute one.
    pub spectrum: Option<Trace>,
    pub diverged_at: Option<u64>,
}

/// Where a cell runs: its directory (for checkpoints), whether to resume
/// from one, and its config text (a checkpoint of another config is not
/// resumed).
pub struct CellContext<'a> {
    pub dir: &'a CellDir,
    pub resume: bool,
    pub config_text: &'a str,
    /// The claim of the running cell, for its heartbeat and live trace
    /// (None where a cell runs outside the runner, as in tests).
    pub live: Option<&'a Arc<LiveCell>>,
}

impl CellContext<'_> {
    /// The live trace of this cell: `columns`, a row at each of `steps`
    /// (ascending) and at every evaluation, made by `row`.
    pub fn trace(&self, columns: Vec<String>, steps: Vec<usize>, row: RowFn) -> LiveTrace {
        LiveTrace::new(self.live.cloned(), columns, steps, row)
    }
}

/// A metric column a kind declares: its name and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricDoc {
    pub name: String,
    pub doc: &'static str,
    /// A fraction of this many independent trials per cell (trajectories):
    /// `reduce = "mean"` pools the counts into a binomial interval.
    pub trials: Option<usize>,
}

impl MetricDoc {
    pub fn new(name: impl Into<String>, doc: &'static str) -> Self {
        Self {
            name: name.into(),
            doc,
            trials: None,
        }
    }

    /// This metric is a fraction of `trials` independent trials.
    pub fn of_trials(self, trials: usize) -> Self {
        Self {
            trials: Some(trials),
            ..self
        }
    }
}

/// What a heatmap asks of a kind's overlays: the plot and its two axes with
/// the cell centres along them.
pub struct OverlayRequest<'a> {
    pub spec: &'a PlotSpec,
    pub x: &'a str,
    pub y: &'a str,
    pub xs: &'a [f64],
    pub ys: &'a [f64],
}

/// One kind of cell.
pub trait Kind: Sync + 'static {
    /// Everything a cell of this kind needs, typed and in range.
    type Spec: Send + Sync + 'static;
    /// The `kind = "..."` name.
    const NAME: &'static str;
    /// One line on what a cell computes (docs/kinds.md).
    const ABOUT: &'static str;
    /// The tables of the config it reads; any other table is an error.
    const TABLES: &'static [&'static str];
    /// Whether it trains, so that `backend` applies (the others compute on
    /// the CPU and refuse another backend).
    const TRAINS: bool = false;
    /// A kind that does not train but takes a training kind's config as it
    /// is ignores `backend` instead of refusing it.
    const IGNORES_BACKEND: bool = false;
    /// Its cells take milliseconds: they are computed without a claim
    /// (crate::live), since creating one would cost more than the cell.
    /// Two processes may then both compute such a cell; each writes the
    /// same record atomically.
    const QUICK: bool = false;
    /// A small config of this kind (without `name` and `kind`): the example
    /// of docs/kinds.md, and the cell the tests run to check the metrics.
    const EXAMPLE: &'static str;
    /// The columns of the cell's `trace.csv`, in words ("" for none).
    const TRACE: &'static str = "";

    /// Validate a cell's config, filling the defaults in `config` (so that
    /// the stored config is fully resolved), into the typed spec.
    fn spec(config: &mut Config) -> Result<Self::Spec, Invalid>;
    /// The metric columns a cell of this spec can write.
    fn metrics(spec: &Self::Spec) -> Vec<MetricDoc>;
    /// Run one cell.
    fn run(spec: &Self::Spec, cell: &CellContext) -> anyhow::Result<CellOutput>;
    /// The pack a cell can join (cells with equal keys run together, see
    /// [`Kind::run_pack`]), or None where it runs alone.
    fn pack_key(_spec: &Self::Spec) -> Option<String> {
        None
    }
    /// Run cells that share a pack key together: one output per spec, in
    /// order; `cells` are their contexts, in the same order.
    fn run_pack(_specs: &[&Self::Spec], _cells: &[CellContext]) -> anyhow::Result<Vec<CellOutput>> {
        anyhow::bail!("cells of kind `{}` do not pack", Self::NAME)
    }
    /// Curves drawn over a heatmap of this kind's grid.
    fn overlays(_spec: &Self::Spec, _request: &OverlayRequest) -> anyhow::Result<Vec<Curve>> {
        Ok(Vec::new())
    }
}

/// A [`Kind`] with its spec type erased, as the registry holds it.
pub trait Plug: Sync {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    fn tables(&self) -> &'static [&'static str];
    fn trains(&self) -> bool;
    fn ignores_backend(&self) -> bool;
    fn quick(&self) -> bool;
    fn example(&self) -> &'static str;
    fn trace(&self) -> &'static str;
    fn spec(&'static self, config: &mut Config) -> Result<Spec, Invalid>;
    fn metrics(&self, spec: &Spec) -> Vec<MetricDoc>;
    fn run(&self, spec: &Spec, cell: &CellContext) -> anyhow::Result<CellOutput>;
    fn pack_key(&self, spec: &Spec) -> Option<String>;
    fn run_pack(&self, specs: &[&Spec], cells: &[CellContext]) -> anyhow::Result<Vec<CellOutput>>;
    fn overlays(&self, spec: &Spec, request: &OverlayRequest) -> anyhow::Result<Vec<Curve>>;
}

/// The [`Plug`] of kind `K` (a registry line: `&Plugged::<TwoLayer>::NEW`).
pub struct Plugged<K>(PhantomData<fn() -> K>);

impl<K> Plugged<K> {
    pub const NEW: Self = Plugged(PhantomData);
}

impl<K: Kind> Plugged<K> {
    fn typed(spec: &Spec) -> &K::Spec {
        spec.value
            .downcast_ref::<K::Spec>()
            .expect("a spec is only built by its own kind")
    }
}

impl<K: Kind> Plug for Plugged<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn about(&self) -> &'static str {
        K::ABOUT
    }
    fn tables(&self) -> &'static [&'static str] {
        K::TABLES
    }
    fn trains(&self) -> bool {
        K::TRAINS
    }
    fn ignores_backend(&self) -> bool {
        K::IGNORES_BACKEND
    }
    fn quick(&self) -> bool {
        K::QUICK
    }
    fn example(&self) -> &'static str {
        K::EXAMPLE
    }
    fn trace(&self) -> &'static str {
        K::TRACE
    }
    fn spec(&'static self, config: &mut Config) -> Result<Spec, Invalid> {
        Ok(Spec {
            kind: self,
            value: Arc::new(K::spec(config)?),
        })
    }
    fn metrics(&self, spec: &Spec) -> Vec<MetricDoc> {
        K::metrics(Self::typed(spec))
    }
    fn run(&self, spec: &Spec, cell: &CellContext) -> anyhow::Result<CellOutput> {
        K::run(Self::typed(spec), cell)
    }
    fn pack_key(&self, spec: &Spec) -> Option<String> {
        K::pack_key(Self::typed(spec))
    }
    fn run_pack(&self, specs: &[&Spec], cells: &[CellContext]) -> anyhow::Result<Vec<CellOutput>> {
        let typed: Vec<&K::Spec> = specs.iter().map(|s| Self::typed(s)).collect();
        K::run_pack(&typed, cells)
    }
    fn overlays(&self, spec: &Spec, request: &OverlayRequest) -> anyhow::Result<Vec<Curve>> {
        K::overlays(Self::typed(spec), request)
    }
}

/// A validated cell's typed spec, with the kind that made it.
#[derive(Clone)]
pub struct Spec {
    kind: &'static dyn Plug,
    value: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spec({})", self.kind.name())
    }
}

impl Spec {
    pub fn kind(&self) -> &'static dyn Plug {
        self.kind
    }
    /// The kind's own spec, when it is a `T` (`TwoLayerCell` for two_layer).
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.value.downcast_ref()
    }
    pub fn metrics(&self) -> Vec<MetricDoc> {
        self.kind.metrics(self)
    }
    pub fn run(&self, cell: &CellContext) -> anyhow::Result<CellOutput> {
        self.kind.run(self, cell)
    }
    /// The pack key, prefixed by the kind (packs never mix kinds).
    pub fn pack_key(&self) -> Option<String> {
        self.kind
            .pack_key(self)
            .map(|key| format!("{}|{key}", self.kind.name()))
    }
    pub fn overlays(&self, request: &OverlayRequest) -> anyhow::Result<Vec<Curve>> {
        self.kind.overlays(self, request)
    }
}

/// Run specs that share a pack key (so one kind) together, with their contexts.
pub fn run_pack(specs: &[&Spec], cells: &[CellContext]) -> anyhow::Result<Vec<CellOutput>> {
    match specs.first() {
        Some(first) => first.kind.run_pack(specs, cells),
        None => Ok(Vec::new()),
    }
}
