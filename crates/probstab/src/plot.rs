//! `probstab plot`: heatmaps of a summary column over two axes (with
//! contour and curve overlays), a line over one axis, and Fig. 6 trace plots.
//! Specs come from the command line or from the experiment's `[[plot]]` tables.

use crate::collect::{Summary, compare_values};
use crate::experiment::Grid;
use crate::kind::OverlayRequest;
use crate::plot_axis::PlotAxis;
use crate::plot_spec::{PlotSpec, default_stem};
use crate::record::Record;
use crate::store::ResultsDir;
use analysis::plot::{
    CellValue, Contour, Curve, Heatmap, LinePlot, Series, render_heatmap, render_lines,
};
use analysis::saddle::Phase;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Render `spec` from the results in `out`, whose grid (None: no
/// experiment file) the caller expanded; returns the files written.
pub fn plot(out: &ResultsDir, grid: Option<&Grid>, spec: &PlotSpec) -> Result<Vec<PathBuf>> {
    spec.check_file()
        .map_err(|m| anyhow::anyhow!("--file: {m}"))?;
    let summary = Summary::read(out, grid.map(|g| &g.cells[..]))?;
    if summary.records.is_empty() {
        bail!("no finished cells in {}", out.path().display());
    }
    for key in spec.filter.keys() {
        if !summary.axis_columns.contains(key) {
            bail!(
                "`where` names `{key}`, which is not a grid axis (axes: {})",
                summary.axis_columns.join(", ")
            );
        }
    }
    let wanted: Vec<(&String, String)> = spec
        .filter
        .iter()
        .map(|(k, v)| (k, crate::grid::format_value(v)))
        .collect();
    let rows: Vec<&Record> = summary
        .records
        .iter()
        .filter(|r| {
            wanted
                .iter()
                .all(|(k, v)| compare_values(&summary.value(r, k), v).is_eq())
        })
        .collect();
    if rows.is_empty() {
        let filter: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}={v}")).collect();
        bail!(
            "no cell matches --where {} (summary.csv lists the values each axis took)",
            filter.join(" --where ")
        );
    }
    let name = out
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plots = out.plots();
    std::fs::create_dir_all(&plots)
        .with_context(|| format!("cannot create {}", plots.display()))?;
    match (&spec.metric, &spec.trace) {
        (Some(metric), None) => grid_plot(grid, &summary, &rows, spec, metric, &name, &plots),
        (None, Some(_)) if spec.reduce.is_some() => {
            bail!("--reduce applies to a --metric plot; a trace plot draws each cell")
        }
        (None, Some(columns)) => {
            crate::plot_trace::trace_plots(out, &summary, &rows, columns, spec, &plots)
        }
        _ => bail!(
            "a plot needs exactly one of `metric` (a summary column) and `trace` (trace columns)"
        ),
    }
}

fn grid_plot(
    grid: Option<&Grid>,
    summary: &Summary,
    rows: &[&Record],
    spec: &PlotSpec,
    metric: &str,
    name: &str,
    plots: &Path,
) -> Result<Vec<PathBuf>> {
    if let Some(grid) = grid {
        grid.check_column(metric).map_err(anyhow::Error::msg)?;
    }
    if !summary.has_column(metric) {
        bail!(
            "no column `{metric}` in the summary (columns: {})",
            summary.metric_columns.join(", ")
        );
    }
    let free: Vec<&String> = summary
        .axis_columns
        .iter()
        .filter(|a| !spec.filter.contains_key(*a))
        .collect();
    let x = spec
        .x
        .clone()
        .or_else(|| free.first().map(|s| s.to_string()))
        .context("the results have no grid axis to plot over")?;
    // A reduced plot reduces over seeds: `seed` is never its default y.
    let y = spec.y.clone().or_else(|| {
        free.iter()
            .find(|a| ***a != x && !(spec.reduce.is_some() && a.as_str() == "seed"))
            .map(|s| s.to_string())
    });
    if y.as_deref() == Some(x.as_str()) {
        bail!("x and y are the same axis (`{x}`): pick two different axes");
    }
    if y.is_none() && spec.prediction.is_some() {
        bail!("a prediction boundary is drawn on a heatmap: it needs a y axis");
    }
    for axis in std::iter::once(&x).chain(y.as_ref()) {
        if !summary.axis_columns.contains(axis) {
            bail!(
                "`{axis}` is not a grid axis (axes: {})",
                summary.axis_columns.join(", ")
            );
        }
    }
    let points = match spec.reduce.as_deref() {
        None => None,
        Some("mean") => Some(crate::reduce::reduce(
            summary,
            rows,
            metric,
            &x,
            y.as_deref(),
            grid,
        )?),
        Some(other) => bail!("reduce = `{other}`: the only reduction is `mean`"),
    };
    let reduced: Vec<&Record>;
    let rows: &[&Record] = match &points {
        None => rows,
        Some(points) => {
            reduced = points.iter().map(|p| &p.record).collect();
            &reduced
        }
    };
    // The error bar and the cell text of row i (a reduced map only).
    let interval = |i: usize| points.as_ref().and_then(|p| p[i].interval());
    let label = |i: usize| points.as_ref().map(|p| p[i].label()).unwrap_or_default();
    // Any other axis with several values would put several cells in one pixel.
    for other in free.iter().filter(|_| spec.reduce.is_none()) {
        if **other == x || Some(other.as_str()) == y.as_deref() {
            continue;
        }
        let mut values: Vec<String> = rows.iter().map(|r| summary.value(r, other)).collect();
        values.sort_by(|a, b| compare_values(a, b));
        values.dedup();
        if values.len() > 1 {
            bail!(
                "axis `{other}` has several values ({}); pick one with --where {other}={}",
                values.join(", "),
                values[0]
            );
        }
    }
    let x_axis = PlotAxis::new(summary, rows, &x);
    let stem = spec.stem().unwrap_or_else(|| default_stem(metric, spec));
    let mut title = spec
        .title
        .clone()
        .unwrap_or_else(|| default_title(name, metric, spec));
    let (png, svg) = (
        plots.join(format!("{stem}.png")),
        plots.join(format!("{stem}.svg")),
    );
    let mut files = vec![png.clone(), svg.clone()];
    if let Some(points) = &points {
        title = format!("{title} ({})", crate::reduce::error_text(points, &x));
        let table = plots.join(format!("{stem}.csv"));
        crate::reduce::write_table(&table, points, metric, &x, y.as_deref())?;
        files.push(table);
    }
    let x_of = |r: &Record| x_axis.coord(summary, r);

    let Some(y) = y else {
        // One axis: a line of the metric, or a one-row strip for categories.
        let values: Vec<(f64, String, Option<(f64, f64)>)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (x_of(r), summary.value(r, metric), interval(i)))
            .collect();
        if !x_axis.is_categorical() && values.iter().all(|(_, v, _)| v.parse::<f64>().is_ok()) {
            let mut line: Vec<(f64, f64, Option<(f64, f64)>)> = values
                .iter()
                .map(|(x, v, e)| (*x, v.parse().unwrap(), *e))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let errors = if points.is_some() {
                line.iter()
                    .map(|(_, _, e)| e.unwrap_or((f64::NAN, f64::NAN)))
                    .collect()
            } else {
                vec![]
            };
            let series = vec![Series {
                label: metric.to_string(),
                points: line.iter().map(|(x, y, _)| (*x, *y)).collect(),
                thin: false,
                markers: false,
                colour: None,
                errors,
            }];
            render_lines(
                &LinePlot {
                    title,
                    x_label: x_axis.label(),
                    y_label: metric.to_string(),
                    y_log: false,
                    series,
                },
                &png,
                &svg,
            )?;
            return Ok(files);
        }
        let at = |xv: f64| rows.iter().position(|r| x_of(r) == xv);
        let cells = vec![
            x_axis
                .centres
                .iter()
                .map(|xv| cell_value(summary, at(*xv).map(|i| rows[i]), metric))
                .collect(),
        ];
        let labels = if points.is_some() {
            vec![
                x_axis
                    .centres
                    .iter()
                    .map(|xv| at(*xv).map(label).unwrap_or_default())
                    .collect(),
            ]
        } else {
            vec![]
        };
        let heatmap = Heatmap {
            title,
            x_label: x_axis.label(),
            x_log: x_axis.is_log(),
            xs: x_axis.centres.clone(),
            ys: vec![0.0],
            x_categories: x_axis.categories.clone(),
            cells,
            metric_label: metric.to_string(),
            category_order: phase_order(),
            labels,
            ..Heatmap::default()
        };
        render_heatmap(&heatmap, &png, &svg)?;
        return Ok(files);
    };

    let y_axis = PlotAxis::new(summary, rows, &y);
    let (xs, ys) = (&x_axis.centres, &y_axis.centres);
    let by_point: HashMap<(u64, u64), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((x_of(r).to_bits(), y_axis.coord(summary, r).to_bits()), i))
        .collect();
    let index = |xv: f64, yv: f64| by_point.get(&(xv.to_bits(), yv.to_bits())).copied();
    let find = |xv: f64, yv: f64| index(xv, yv).map(|i| rows[i]);
    let cells: Vec<Vec<CellValue>> = ys
        .iter()
        .map(|&yv| {
            xs.iter()
                .map(|&xv| cell_value(summary, find(xv, yv), metric))
                .collect()
        })
        .collect();
    let mut contours = Vec::new();
    for text in &spec.contour {
        let (column, level) = match text.split_once('=') {
            Some((c, l)) => (
                c.trim(),
                l.trim()
                    .parse::<f64>()
                    .with_context(|| format!("contour `{text}`: the level is not a number"))?,
            ),
            None => (text.as_str(), 0.0),
        };
        if !summary.has_column(column) {
            bail!("contour `{text}`: no column `{column}` in the summary");
        }
        let values = on_grid(xs, ys, &find, |r| {
            summary.value(r, column).parse::<f64>().ok()
        });
        contours.push(Contour {
            label: format!("{column} = {level}"),
            values,
            level,
        });
    }
    if let Some(theory) = &spec.prediction {
        if spec.reduce.is_some() {
            bail!(
                "prediction `{theory}`: a boundary per cell cannot be drawn over a reduced (`reduce = \"mean\"`) map"
            );
        }
        contours.push(prediction_boundary(
            theory,
            spec.prediction_k.unwrap_or(2),
            grid,
            ys,
            xs,
            &find,
        )?);
    }
    let mut curves = Vec::new();
    for column in &spec.curve {
        if !summary.has_column(column) {
            bail!("curve `{column}`: no column `{column}` in the summary");
        }
        if x_axis.is_categorical() || y_axis.is_categorical() {
            bail!(
                "curve `{column}`: a curve needs numeric axes, and `{x}` or `{y}` has non-numeric values"
            );
        }
        let points = xs
            .iter()
            .filter_map(|&xv| {
                let v: Vec<f64> = rows
                    .iter()
                    .filter(|r| x_of(r) == xv)
                    .filter_map(|r| summary.value(r, column).parse::<f64>().ok())
                    .filter(|v| v.is_finite())
                    .collect();
                (!v.is_empty()).then(|| (xv, v.iter().sum::<f64>() / v.len() as f64))
            })
            .collect();
        curves.push(Curve {
            label: column.clone(),
            points,
        });
    }
    if let Some(cell) = grid
        .and_then(|g| g.cells.first())
        .filter(|_| !x_axis.is_categorical() && !y_axis.is_categorical())
    {
        curves.extend(cell.spec.overlays(&OverlayRequest {
            spec,
            x: &x,
            y: &y,
            xs,
            ys,
        })?);
    }
    let heatmap = Heatmap {
        title,
        x_label: x_axis.label(),
        y_label: y_axis.label(),
        x_log: x_axis.is_log(),
        y_log: y_axis.is_log(),
        xs: xs.clone(),
        ys: ys.clone(),
        x_categories: x_axis.categories.clone(),
        y_categories: y_axis.categories.clone(),
        cells,
        metric_label: metric.to_string(),
        category_order: phase_order(),
        contours,
        curves,
        labels: if points.is_some() {
            ys.iter()
                .map(|&yv| {
                    xs.iter()
                        .map(|&xv| index(xv, yv).map(label).unwrap_or_default())
                        .collect()
                })
                .collect()
        } else {
            vec![]
        },
    };
    render_heatmap(&heatmap, &png, &svg)?;
    Ok(files)
}

/// `value` of the record at each (x, y) point, `values[iy][ix]`; NaN where
/// there is none.
fn on_grid<'a>(
    xs: &[f64],
    ys: &[f64],
    find: &dyn Fn(f64, f64) -> Option<&'a Record>,
    value: impl Fn(&'a Record) -> Option<f64>,
) -> Vec<Vec<f64>> {
    ys.iter()
        .map(|&yv| {
            xs.iter()
                .map(|&xv| find(xv, yv).and_then(&value).unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

/// The collapse boundary of a two_layer_theory twin on a two_layer map:
/// predicted_rank_at_steps − min(d, h) at each point (its cell matched by
/// id), level set at −k − ½ (between collapsed, rank < min(d, h) − k, and
/// not).
fn prediction_boundary<'a>(
    theory: &str,
    k: usize,
    grid: Option<&Grid>,
    ys: &[f64],
    xs: &[f64],
    find: &dyn Fn(f64, f64) -> Option<&'a Record>,
) -> Result<Contour> {
    const COLUMN: &str = "predicted_rank_at_steps";
    let Some(grid) = grid else {
        bail!("prediction `{theory}`: needs the experiment's grid (its experiment.toml)");
    };
    let dir = ResultsDir::new(theory);
    let summary = Summary::read(&dir, None)
        .with_context(|| format!("prediction `{theory}`: cannot read its cells"))?;
    if !summary.has_column(COLUMN) {
        bail!(
            "prediction `{theory}`: no column `{COLUMN}` in its cells (run the experiment with kind=two_layer_theory into it)"
        );
    }
    let by_id: HashMap<&str, &Record> =
        summary.records.iter().map(|r| (r.id.as_str(), r)).collect();
    let full_rank = |id: &str| {
        grid.cells
            .iter()
            .find(|c| c.id == id)?
            .spec
            .get::<train::two_layer::TwoLayerCell>()
            .map(|c| c.net.dim.min(c.net.hidden) as f64)
    };
    let values = on_grid(xs, ys, find, |r| {
        let predicted = summary
            .value(by_id.get(r.id.as_str())?, COLUMN)
            .parse::<f64>()
            .ok()?;
        Some(predicted - full_rank(&r.id)?)
    });
    Ok(Contour {
        label: format!("two_layer_theory: predicted rank = min(d, h) − {k}"),
        values,
        level: -(k as f64) - 0.5,
    })
}

fn cell_value(summary: &Summary, record: Option<&Record>, metric: &str) -> CellValue {
    let Some(record) = record else {
        return CellValue::Missing;
    };
    match summary.value(record, "status").as_str() {
        "failed" => return CellValue::Failed,
        "diverged" => return CellValue::Diverged,
        _ => {}
    }
    let text = summary.value(record, metric);
    if text.is_empty() {
        return CellValue::Missing;
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_nan() => CellValue::Missing,
        Ok(v) => CellValue::Number(v),
        Err(_) => CellValue::Category(text),
    }
}

fn phase_order() -> Vec<String> {
    Phase::ALL.iter().map(|p| p.to_string()).collect()
}

fn where_text(spec: &PlotSpec) -> String {
    spec.filter
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::grid::format_value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn default_title(name: &str, metric: &str, spec: &PlotSpec) -> String {
    let filter = where_text(spec);
    if filter.is_empty() {
        format!("{name}: {metric}")
    } else {
        format!("{name}: {metric} ({filter})")
    }
}
