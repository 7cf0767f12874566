//! Test helpers and fixtures of the plot tests, and the demo figures
//! (`cargo test -p analysis --release plot -- --ignored` writes them to
//! /tmp/plot-demo/).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{CellValue, Contour, Curve, Heatmap, LinePlot, Series, render_heatmap, render_lines};

/// A fresh, empty directory under the system temp dir, unique per call.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("probstab-plot-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The contents of every `<text>` element of an SVG, trimmed (plotters
/// writes each on its own line).
pub fn svg_texts(path: &Path) -> Vec<String> {
    let svg = std::fs::read_to_string(path).unwrap();
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split_once('>')?.1.split_once("</text>")?.0;
            Some(body.trim().to_string())
        })
        .collect()
}

/// Decodes a PNG; returns (width, height, number of distinct pixel colours).
pub fn png_summary(path: &Path) -> (u32, u32, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    (img.width(), img.height(), colours.len())
}

/// Where the ignored demo tests write their figures.
const DEMO_DIR: &str = "/tmp/plot-demo";

/// A numeric map over a log x axis with a diverged cell, a -inf cell, a
/// contour of the same field and a curve that leaves the plot.
pub fn numeric_map() -> Heatmap {
    let xs: Vec<f64> = (0..12)
        .map(|i| 10f64.powf(-3.0 + 0.25 * i as f64))
        .collect();
    let ys: Vec<f64> = (0..9).map(|i| i as f64 / 8.0).collect();
    let field = |x: f64, y: f64| x.log10() + 2.0 * y;
    let values: Vec<Vec<f64>> = ys
        .iter()
        .map(|&y| xs.iter().map(|&x| field(x, y)).collect())
        .collect();
    let mut cells: Vec<Vec<CellValue>> = values
        .iter()
        .map(|r| r.iter().map(|&v| CellValue::Number(v)).collect())
        .collect();
    cells[0][0] = CellValue::Diverged;
    cells[1][0] = CellValue::Number(f64::NEG_INFINITY);
    Heatmap {
        title: "Lyapunov exponent map".into(),
        x_label: "learning rate λ".into(),
        y_label: "μ".into(),
        xs,
        ys,
        x_log: true,
        cells,
        metric_label: "m (Eq. 7)".into(),
        contours: vec![Contour {
            label: "m = 0 boundary".into(),
            values,
            level: 0.0,
        }],
        curves: vec![Curve {
            label: "theory λ = 2/h".into(),
            points: vec![(1e-3, 0.1), (1e-1, 0.5), (1e3, 0.9)],
        }],
        ..Heatmap::default()
    }
}

/// Fig. 6-like trajectories: 20 thin runs and two thick summary lines.
pub fn trajectories() -> LinePlot {
    let mut series: Vec<Series> = (0..20)
        .map(|k| Series {
            label: "single runs".into(),
            points: (0..200)
                .map(|t| {
                    (
                        t as f64,
                        (-(t as f64) * 0.02 + 0.3 * ((t * (k + 3)) as f64).sin()).exp(),
                    )
                })
                .collect(),
            thin: true,
            markers: false,
            colour: None,
            errors: vec![],
        })
        .collect();
    series.push(Series {
        label: "⟨|w − w*|²⟩".into(),
        points: (0..200)
            .map(|t| (t as f64, (-(t as f64) * 0.02).exp()))
            .collect(),
        thin: false,
        markers: false,
        colour: None,
        errors: vec![],
    });
    series.push(Series {
        label: "e^{2m t}".into(),
        points: (0..200)
            .map(|t| (t as f64, (-(t as f64) * 0.03).exp()))
            .collect(),
        thin: false,
        markers: false,
        colour: None,
        errors: vec![],
    });
    LinePlot {
        title: "Fig. 6: SGD trajectories".into(),
        x_label: "step t".into(),
        y_label: "|w − w*|²".into(),
        y_log: true,
        series,
    }
}

/// Writes the demo figures to /tmp/plot-demo/ for a person to look at.
#[test]
#[ignore = "writes demo images to /tmp/plot-demo/"]
fn demo_heatmaps() {
    let dir = Path::new(DEMO_DIR);
    let mut h = numeric_map();
    h.cells[5][11] = CellValue::Failed;
    h.cells[8][3] = CellValue::Missing;
    let second = Contour {
        label: "m = 1".into(),
        level: 1.0,
        ..h.contours[0].clone()
    };
    h.contours.push(second);
    render_heatmap(&h, &dir.join("numeric.png"), &dir.join("numeric.svg")).unwrap();
    let lrs: Vec<f64> = (0..20)
        .map(|i| 10f64.powf(-2.0 + 3.0 * i as f64 / 19.0))
        .collect();
    let mus: Vec<f64> = (0..15).map(|i| -0.4 + 1.4 * i as f64 / 14.0).collect();
    let phase = |lr: f64, mu: f64| match (lr * (1.0 + mu.abs()), mu) {
        (s, _) if s > 12.0 => CellValue::Diverged,
        (s, _) if s > 6.0 => CellValue::Category("IV".into()),
        (s, m) if s > 2.0 && m < 0.2 => CellValue::Category("III".into()),
        (_, m) if m < 0.0 => CellValue::Category("II".into()),
        (s, _) if s > 1.0 => CellValue::Category("Ib".into()),
        _ => CellValue::Category("Ia".into()),
    };
    let h = Heatmap {
        title: "Phase diagram of u·w, Gaussian teacher (N = ∞)".into(),
        x_label: "learning rate λ".into(),
        y_label: "signal strength μ".into(),
        xs: lrs.clone(),
        ys: mus.clone(),
        x_log: true,
        cells: mus
            .iter()
            .map(|&m| lrs.iter().map(|&l| phase(l, m)).collect())
            .collect(),
        metric_label: "phase".into(),
        category_order: ["Ia", "Ib", "II", "III", "IV"].map(String::from).to_vec(),
        curves: vec![Curve {
            label: "λ_SS = (2/h)/(1+1/S)".into(),
            points: mus.iter().map(|&m| (2.0 / (1.0 + m.abs()), m)).collect(),
        }],
        ..Heatmap::default()
    };
    render_heatmap(&h, &dir.join("phases.png"), &dir.join("phases.svg")).unwrap();
    // Odd input: one column, many categories, long texts.
    let names: Vec<String> = (0..12).map(|i| format!("category number {i}")).collect();
    let odd = Heatmap {
        title: "A very long title that names the model, the data set, the optimizer and the sweep, so it must wrap".into(),
        x_label: "a single learning rate".into(),
        y_label: "batch size S".into(),
        xs: vec![0.1],
        ys: (0..12).map(|i| 2f64.powi(i)).collect(),
        x_log: true,
        y_log: true,
        cells: names.iter().map(|n| vec![CellValue::Category(n.clone())]).collect(),
        metric_label: "a long metric label: rank of the penultimate features".into(),
        curves: vec![Curve { label: "a_long_unbreakable_label_for_a_theory_curve_λ_SS".into(), points: vec![(0.05, 1.0), (0.2, 2048.0)] }],
        ..Heatmap::default()
    };
    render_heatmap(&odd, &dir.join("odd.png"), &dir.join("odd.svg")).unwrap();
}

/// Writes a demo line plot to /tmp/plot-demo/ for a person to look at.
#[test]
#[ignore = "writes demo images to /tmp/plot-demo/"]
fn demo_lines() {
    let dir = Path::new(DEMO_DIR);
    render_lines(
        &trajectories(),
        &dir.join("lines.png"),
        &dir.join("lines.svg"),
    )
    .unwrap();
}
