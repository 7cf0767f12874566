//! The 1-D theory drawn over a `two_layer` heatmap (Fig. 7's red line): the
//! saddle of the matching u·w model (same μ, noise σ, batch size S) has
//! `m₊ = 0` and `m₋ = 0` lines that bound the collapse to low rank.
//!
//! The d-dimensional net and the 1-D theory use different learning-rate
//! units: the theory is evaluated at `λ₁ = κλ`. By default κ = 2 for the
//! `mean` loss (MSELoss: the 2 of the squared error; its 1/d is offset by the
//! input norm ‖x‖² ≈ d) and κ = d for `half_sum` (whose gradient is d/2 times
//! larger). This is a heuristic mapping; `theory_lr_scale` sets κ.

use crate::config::Kind;
use crate::experiment::Experiment;
use crate::plot::PlotSpec;
use analysis::plot::{Curve, contour_segments};
use analysis::saddle::{Chi, saddle_theory};
use analysis::teacher::Teacher;
use anyhow::Result;
use std::path::Path;
use train::config::LossReduction;

/// Fine grid on which the theory is evaluated, per axis.
const RESOLUTION: usize = 120;

/// Theory curves for a two_layer grid plotted over `train.lr` and `data.mu`
/// (either way round); empty for anything else or when `theory = false`.
pub fn two_layer_theory(
    out: &Path,
    spec: &PlotSpec,
    x_axis: &str,
    y_axis: &str,
    xs: &[f64],
    ys: &[f64],
) -> Result<Vec<Curve>> {
    let lr_on_x = match (x_axis, y_axis) {
        ("train.lr", "data.mu") => true,
        ("data.mu", "train.lr") => false,
        _ => return Ok(Vec::new()),
    };
    if spec.theory == Some(false) || xs.len() < 2 || ys.len() < 2 {
        return Ok(Vec::new());
    }
    let experiment_file = out.join("experiment.toml");
    if !experiment_file.exists() {
        return Ok(Vec::new());
    }
    let Some(cell) = Experiment::load(&experiment_file, &[])?
        .cells()?
        .into_iter()
        .next()
    else {
        return Ok(Vec::new());
    };
    if cell.config.kind != Kind::TwoLayer {
        return Ok(Vec::new());
    }
    let (data, train, model) = (
        cell.config.data.expect("validated"),
        cell.config.train.expect("validated"),
        cell.config.model.expect("validated"),
    );
    let kappa = spec.theory_lr_scale.unwrap_or(match train.loss {
        LossReduction::Mean => 2.0,
        LossReduction::HalfSum => model.dim.expect("validated") as f64,
    });
    let noise_std = data.noise_std.expect("validated");
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
                train.batch_size,
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
    Ok(vec![
        curve(format!("theory m₊ = 0 (1-D saddle, λ₁ = {kappa}λ)"), &plus),
        curve("theory m₋ = 0".to_string(), &minus),
    ])
}
