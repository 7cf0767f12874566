//! `probstab compare EXPERIMENT THEORY`: a measured metric of a two_layer
//! grid against a prediction of its two_layer_theory twin, cell by cell
//! (matched by cell id: the theory was run from the same experiment with
//! `kind=two_layer_theory`). It writes the table, the scores and a scatter
//! plot, and scores the κ line of the 1-D saddle theory beside it.
//!
//! The verdict: a cell has *collapsed* when its rank is below
//! min(d, h) − k. The prediction's verdict is that of the predicted rank;
//! the κ line's is "the 1-D saddle at λ₁ = κλ is in phase III". The score is
//! the fraction of cells whose verdict matches the measured one, for each k
//! of [`MARGINS`] (and the chosen one).

use crate::collect::Summary;
use crate::experiment::{Cell, Grid};
use crate::kinds::two_layer::{kappa, kappa_phase};
use crate::record::{Record, Status};
use crate::store::{ResultsDir, write_atomic};
use analysis::plot::{LinePlot, Series, render_lines};
use analysis::saddle::Phase;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use train::two_layer::TwoLayerCell;

/// The margins k the score table shows.
pub const MARGINS: [usize; 6] = [0, 1, 2, 4, 8, 16];

/// What to compare.
pub struct CompareOptions {
    /// The measured column of the experiment (`rank_w2`).
    pub metric: String,
    /// The predicted column of the theory (`predicted_rank_at_steps`).
    pub vs: String,
    /// The verdict's margin k: collapsed when rank < min(d, h) − k.
    pub margin: usize,
    /// κ of the 1-D line (default: as the heatmap's overlay).
    pub theory_lr_scale: Option<f64>,
    /// Where the files go (default `THEORY/compare`).
    pub out: Option<PathBuf>,
}

/// One cell of both grids.
pub struct Pair {
    pub id: String,
    pub axes: Vec<(String, String)>,
    pub measured: f64,
    pub predicted: f64,
    /// min(d, h).
    pub full_rank: usize,
    pub kappa_phase: Phase,
    /// The values of its text axes (the activation), or `all`.
    pub group: String,
}

/// One row of the score table.
pub struct Score {
    /// `all`, or the cells of one value of the text axes.
    pub group: String,
    pub cells: usize,
    /// Mean absolute error of the prediction over these cells.
    pub mae: f64,
    pub margin: usize,
    /// Fraction of cells whose collapse verdict is right.
    pub prediction_right: f64,
    pub kappa_right: f64,
    /// Cells measured as collapsed.
    pub collapsed: usize,
}

/// The comparison and the files it wrote.
pub struct Comparison {
    pub pairs: Vec<Pair>,
    /// Mean absolute error of the prediction.
    pub mae: f64,
    pub scores: Vec<Score>,
    /// Cells left out, with why (diverged, n/a, missing…).
    pub skipped: Vec<(String, String)>,
    pub files: Vec<PathBuf>,
}

impl Pair {
    fn collapsed(&self, rank: f64, margin: usize) -> bool {
        rank < self.full_rank as f64 - margin as f64
    }
}

pub fn compare(
    experiment: &ResultsDir,
    theory: &ResultsDir,
    options: &CompareOptions,
) -> Result<Comparison> {
    let grid = Grid::of(experiment)?;
    if let Some(cell) = grid
        .cells
        .iter()
        .find(|c| c.spec.get::<TwoLayerCell>().is_none())
    {
        bail!(
            "{}: cell {} is of kind `{}`: compare takes a two_layer experiment (and its two_layer_theory twin second)",
            experiment.experiment_file().display(),
            cell.id,
            cell.config.kind
        );
    }
    let measured = Summary::read(experiment, Some(&grid.cells))?;
    let theory_grid = Grid::of(theory)?;
    let predicted = Summary::read(theory, Some(&theory_grid.cells))?;
    // The theory must be of the same cells: the ids are only the axis
    // values, so a theory of another init_scale or steps would match too.
    let theory_cells: HashMap<&str, &Cell> = theory_grid
        .cells
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    for cell in &grid.cells {
        let Some(twin) = theory_cells.get(cell.id.as_str()) else {
            continue;
        };
        let Some(twin_spec) = twin.spec.get::<crate::kinds::two_layer_theory::Spec>() else {
            bail!(
                "{}: cell {} is of kind `{}`: the second directory must be the experiment run with kind=two_layer_theory",
                theory.experiment_file().display(),
                twin.id,
                twin.config.kind
            );
        };
        let (a, b) = (cell.spec.get::<TwoLayerCell>(), &twin_spec.cell);
        if let Some(a) = a {
            let differs = [
                ("model", a.net != b.net),
                ("data", a.data != b.data),
                ("train", a.train != b.train),
                ("model.init_scale", a.init_scale != b.init_scale),
                (
                    "measure.rank_rtol",
                    a.measure.rank_rtol != b.measure.rank_rtol,
                ),
                ("seed", a.seed != b.seed),
            ];
            if let Some((key, _)) = differs.iter().find(|(_, d)| *d) {
                bail!(
                    "cell {}: `{key}` differs between {} and {}: compare needs the theory of the same experiment (run it with kind=two_layer_theory and the same overrides)",
                    cell.id,
                    experiment.path().display(),
                    theory.path().display()
                );
            }
        }
    }
    for (summary, dir, column, role) in [
        (&measured, experiment, &options.metric, "--metric"),
        (&predicted, theory, &options.vs, "--vs"),
    ] {
        if !summary.has_column(column) {
            bail!(
                "{}: no cell has the column `{column}` ({role}); its columns: {}",
                dir.summary().display(),
                summary.metric_columns.join(", ")
            );
        }
    }
    let theory_by_id: HashMap<&str, &Record> = predicted
        .records
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let cells_by_id: HashMap<&str, &Cell> = grid.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut pairs = Vec::new();
    let mut skipped = Vec::new();
    for record in &measured.records {
        // Every cell is two_layer (checked above), and the summary holds
        // only the grid's cells.
        let Some(spec) = cells_by_id
            .get(record.id.as_str())
            .and_then(|c| c.spec.get::<TwoLayerCell>())
        else {
            continue;
        };
        let Some(other) = theory_by_id.get(record.id.as_str()) else {
            skipped.push((record.id.clone(), "no theory record".into()));
            continue;
        };
        let number = |summary: &Summary, r: &Record, column: &str| {
            summary
                .value(r, column)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
        };
        let m = number(&measured, record, &options.metric);
        let p = number(&predicted, other, &options.vs);
        let (Some(m), Some(p), Status::Ok, Status::Ok) = (m, p, record.status, other.status) else {
            skipped.push((
                record.id.clone(),
                format!(
                    "measured {} ({} {}), theory {} ({} {})",
                    record.status.name(),
                    options.metric,
                    m.map_or("missing".into(), |v| v.to_string()),
                    other.status.name(),
                    options.vs,
                    p.map_or("missing".into(), |v| v.to_string()),
                ),
            ));
            continue;
        };
        let axes: Vec<(String, String)> = measured
            .axis_columns
            .iter()
            .map(|a| (a.clone(), measured.value(record, a)))
            .collect();
        let text: Vec<&str> = axes
            .iter()
            .filter(|(_, v)| v.parse::<f64>().is_err())
            .map(|(_, v)| v.as_str())
            .collect();
        let group = if text.is_empty() {
            "all".to_string()
        } else {
            text.join(", ")
        };
        pairs.push(Pair {
            id: record.id.clone(),
            group,
            axes,
            measured: m,
            predicted: p,
            full_rank: spec.net.dim.min(spec.net.hidden),
            kappa_phase: kappa_phase(spec, kappa(spec, options.theory_lr_scale)),
        });
    }
    for id in &measured.missing {
        skipped.push((id.clone(), "not run".into()));
    }
    if pairs.is_empty() {
        bail!(
            "no cell of {} has both `{}` and a theory `{}` in {} (skipped: {})",
            experiment.path().display(),
            options.metric,
            options.vs,
            theory.path().display(),
            skipped.len()
        );
    }
    let mut margins: Vec<usize> = MARGINS.to_vec();
    if !margins.contains(&options.margin) {
        margins.push(options.margin);
        margins.sort();
    }
    let mut groups: Vec<String> = vec!["all".into()];
    for p in &pairs {
        if !groups.contains(&p.group) {
            groups.push(p.group.clone());
        }
    }
    if groups.len() == 2 {
        groups.truncate(1);
    }
    let mut scores = Vec::new();
    for group in &groups {
        let cells: Vec<&Pair> = pairs
            .iter()
            .filter(|p| group == "all" || p.group == *group)
            .collect();
        let n = cells.len() as f64;
        let mae = cells
            .iter()
            .map(|p| (p.measured - p.predicted).abs())
            .sum::<f64>()
            / n;
        for &k in &margins {
            let right = |f: &dyn Fn(&Pair) -> bool| {
                cells
                    .iter()
                    .filter(|p| f(p) == p.collapsed(p.measured, k))
                    .count() as f64
                    / n
            };
            scores.push(Score {
                group: group.clone(),
                cells: cells.len(),
                mae,
                margin: k,
                prediction_right: right(&|p| p.collapsed(p.predicted, k)),
                kappa_right: right(&|p| p.kappa_phase == Phase::III),
                collapsed: cells.iter().filter(|p| p.collapsed(p.measured, k)).count(),
            });
        }
    }
    let mae = scores[0].mae;
    let mut comparison = Comparison {
        pairs,
        mae,
        scores,
        skipped,
        files: Vec::new(),
    };
    comparison.files = write_files(&comparison, theory, options)?;
    Ok(comparison)
}

impl Comparison {
    /// The score table as text: MAE, then the verdicts per margin.
    pub fn report(&self, options: &CompareOptions) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{} cells ({} skipped); verdict: collapsed when rank < min(d, h) − k (* the chosen k); the κ line's: phase III of the 1-D saddle at λ₁ = κλ",
            self.pairs.len(),
            self.skipped.len(),
        );
        let _ = writeln!(
            text,
            "{:<12} {:>5} {:>8} {:>4} {:>9} {:>10} {:>7}",
            "cells", "n", "MAE", "k", "collapsed", "prediction", "κ line"
        );
        for s in &self.scores {
            let mark = if s.margin == options.margin { " *" } else { "" };
            let _ = writeln!(
                text,
                "{:<12} {:>5} {:>8.2} {:>4} {:>9} {:>10.3} {:>7.3}{mark}",
                s.group, s.cells, s.mae, s.margin, s.collapsed, s.prediction_right, s.kappa_right
            );
        }
        let _ = writeln!(
            text,
            "MAE: mean |{} − {}|; prediction, κ line: fraction of cells whose verdict is right",
            options.metric, options.vs
        );
        for path in &self.files {
            let _ = writeln!(text, "{}", path.display());
        }
        text
    }
}

/// `<metric>_vs_<vs>.csv` (per cell), `…_scores.csv` and the scatter plot.
fn write_files(c: &Comparison, theory: &ResultsDir, o: &CompareOptions) -> Result<Vec<PathBuf>> {
    let dir = o
        .out
        .clone()
        .unwrap_or_else(|| theory.path().join("compare"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem = format!("{}_vs_{}", o.metric, o.vs);
    let mut w = csv::Writer::from_writer(Vec::new());
    let axes: Vec<&str> = c.pairs[0].axes.iter().map(|(a, _)| a.as_str()).collect();
    let mut header: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
    header.extend(
        [
            o.metric.as_str(),
            o.vs.as_str(),
            "full_rank",
            "kappa_phase",
            "measured_collapsed",
            "predicted_collapsed",
            "kappa_collapsed",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    for p in &c.pairs {
        let mut row: Vec<String> = p.axes.iter().map(|(_, v)| v.clone()).collect();
        row.extend([
            p.measured.to_string(),
            p.predicted.to_string(),
            p.full_rank.to_string(),
            p.kappa_phase.to_string(),
            p.collapsed(p.measured, o.margin).to_string(),
            p.collapsed(p.predicted, o.margin).to_string(),
            (p.kappa_phase == Phase::III).to_string(),
        ]);
        w.write_record(&row)?;
    }
    let table = dir.join(format!("{stem}.csv"));
    write_atomic(&table, &w.into_inner()?)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "group",
        "cells",
        "mae",
        "k",
        "measured_collapsed",
        "prediction_right",
        "kappa_right",
    ])?;
    for s in &c.scores {
        w.write_record([
            s.group.clone(),
            s.cells.to_string(),
            s.mae.to_string(),
            s.margin.to_string(),
            s.collapsed.to_string(),
            s.prediction_right.to_string(),
            s.kappa_right.to_string(),
        ])?;
    }
    let scores = dir.join(format!("{stem}_scores.csv"));
    write_atomic(&scores, &w.into_inner()?)?;
    // One series of dots per value of the text axes (the activation).
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for p in &c.pairs {
        match groups.iter_mut().find(|(l, _)| *l == p.group) {
            Some((_, points)) => points.push((p.predicted, p.measured)),
            None => groups.push((p.group.clone(), vec![(p.predicted, p.measured)])),
        }
    }
    let (lo, hi) = c
        .pairs
        .iter()
        .flat_map(|p| [p.measured, p.predicted])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let mut series: Vec<Series> = groups
        .into_iter()
        .map(|(label, points)| Series {
            label,
            points,
            thin: false,
            markers: true,
            colour: None,
            errors: vec![],
        })
        .collect();
    series.push(Series {
        label: "measured = predicted".into(),
        points: vec![(lo, lo), (hi, hi)],
        thin: false,
        markers: false,
        colour: None,
        errors: vec![],
    });
    let plot = LinePlot {
        title: format!(
            "{} against {} ({} cells, mean abs. error {:.2})",
            o.metric,
            o.vs,
            c.pairs.len(),
            c.mae
        ),
        x_label: format!("{} (theory)", o.vs),
        y_label: format!("{} (measured)", o.metric),
        y_log: false,
        series,
    };
    let (png, svg) = (
        dir.join(format!("{stem}.png")),
        dir.join(format!("{stem}.svg")),
    );
    render_lines(&plot, &png, &svg)?;
    Ok(vec![table, scores, png])
}
