//! The registry: the one place that lists the kinds. Adding a kind is a
//! file in this directory and a line in [`KINDS`].

use crate::config::{Backend, Config, Invalid};
use crate::kind::{Plug, Plugged, Spec};
use train::config::invalid;

/// Fig. 1c, 9–12: ResNet-18 with label noise.
pub mod image_classifier;
/// Fig. 1a, 5: u·σ(w·x).
pub mod neuron;
/// Fig. 6: Monte Carlo trajectories of 1-D regression.
pub mod regression_sim;
/// Fig. 2, Prop. 1: the Lyapunov exponent of 1-D regression.
pub mod regression_theory;
/// m_L, status, traces and estimates: what the kinds report alike.
pub mod report;
/// Monte Carlo trajectories at the u·w saddle.
pub mod saddle_sim;
/// Fig. 1b, 3, 4, Prop. 2: the phases of the u·w saddle.
pub mod saddle_theory;
/// Fig. 7, 8: d → h → d nets on the teacher stream.
pub mod two_layer;
/// The Lyapunov spectrum of a two_layer cell's linearised SGD.
pub mod two_layer_theory;

/// Every kind, in the order docs/kinds.md lists them.
pub static KINDS: &[&dyn Plug] = &[
    &Plugged::<regression_theory::RegressionTheory>::NEW,
    &Plugged::<saddle_theory::SaddleTheory>::NEW,
    &Plugged::<regression_sim::RegressionSim>::NEW,
    &Plugged::<saddle_sim::SaddleSim>::NEW,
    &Plugged::<two_layer::TwoLayer>::NEW,
    &Plugged::<two_layer_theory::TwoLayerTheory>::NEW,
    &Plugged::<neuron::Neuron>::NEW,
    &Plugged::<image_classifier::ImageClassifier>::NEW,
];

/// The kind named `name`.
pub fn find(name: &str) -> Option<&'static dyn Plug> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// Validate one cell's config into its typed spec: the name, the kind, the
/// tables it reads, the kind's own checks (which fill the defaults, so the
/// returned config is fully resolved), and the backend.
pub fn validate(mut config: Config) -> Result<(Config, Spec), Invalid> {
    config.check_name()?;
    let kind = find(&config.kind).ok_or_else(|| {
        let names: Vec<String> = KINDS.iter().map(|k| format!("`{}`", k.name())).collect();
        invalid(
            "kind",
            format!(
                "unknown variant `{}`, expected one of {}",
                config.kind,
                names.join(", ")
            ),
        )
    })?;
    for (table, present) in config.tables_present() {
        if present && !kind.tables().contains(&table) {
            return Err(invalid(
                table,
                format!("table [{table}] is not used by kind `{}`", kind.name()),
            ));
        }
    }
    let spec = kind.spec(&mut config)?;
    if kind.ignores_backend() {
        // Stored as the CPU it computes on: no device is set up, and a rerun
        // with another backend finds the same config.
        config.backend = Backend::Cpu;
    }
    if !kind.trains() && !kind.ignores_backend() && config.backend != Backend::Cpu {
        return Err(invalid(
            "backend",
            format!(
                "kind `{}` computes on the CPU; `backend` is for kinds that train",
                kind.name()
            ),
        ));
    }
    Ok((config, spec))
}
