//! What to draw: a `[[plot]]` table of an experiment file, or the flags of
//! `probstab plot`, checked against the grid before anything runs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One plot. In an experiment file: `[[plot]]` with these keys.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// Summary column to draw: a heatmap over two axes, a line over one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Trace columns to draw against step, one plot per cell (Fig. 6);
    /// `"samples"` adds the single trajectories `sample_k` as faint lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Vec<String>>,
    /// A trace plot of one column over many cells: the axis that colours
    /// the curves (default: the first axis that varies among them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_by: Option<String>,
    /// Axis on x. Default: the first axis not fixed by `where`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Axis on y. Default: the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Fix other axes, e.g. `where = { "saddle.n" = 8 }`.
    #[serde(rename = "where", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, toml::Value>,
    /// Level sets drawn over the heatmap: `"m_minus"` (level 0) or `"ms_minus=1"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contour: Vec<String>,
    /// Columns drawn as dashed curves y = mean over cells of COL at each x
    /// (thresholds such as `lambda_gd` on a λ axis).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `"mean"`: average the metric over the other axes that vary (e.g. a
    /// `seed` axis), drawn with its error: mean ± standard error, or for a
    /// fraction (`true`/`false` cells such as `at_saddle`, counted as 1/0,
    /// or `frac_converged`) a Wilson 95% interval on the pooled counts;
    /// error bars on a line, the numbers in each cell of a coarse heatmap,
    /// and the table (n per point) in `plots/<file>.csv`. Without it, other
    /// varying axes are an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<String>,
    /// On a two_layer heatmap over `train.lr` × `data.mu`, draw the 1-D saddle
    /// theory's boundaries (Fig. 7's red line). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<bool>,
    /// κ of the theory overlay, λ₁ = κλ (see kinds/two_layer.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory_lr_scale: Option<f64>,
    /// File name stem under `plots/` (default from the metric and `where`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// On a two_layer heatmap: a results directory of its two_layer_theory
    /// twin, whose collapse boundary (predicted_rank_at_steps =
    /// min(d, h) − k) is drawn over the map, beside the κ line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<String>,
    /// k of that boundary. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_k: Option<usize>,
}

impl PlotSpec {
    /// Check what can be checked before any cell runs: the keys against the
    /// grid's axes, the file name, the numbers. Errors carry the spec's key.
    pub fn check(&self, axes: &[crate::grid::Axis]) -> Result<(), (String, String)> {
        let is_axis = |key: &str| axes.iter().any(|a| a.path == key);
        let names = || {
            axes.iter()
                .map(|a| a.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.metric.is_some() == self.trace.is_some() {
            return Err(("metric".into(), "a plot needs exactly one of `metric` (a summary column) and `trace` (trace columns)".into()));
        }
        for (key, value) in [("x", &self.x), ("y", &self.y), ("color_by", &self.color_by)] {
            if let Some(axis) = value.as_deref().filter(|a| !is_axis(a)) {
                return Err((
                    key.into(),
                    format!("`{axis}` is not a grid axis (axes: {})", names()),
                ));
            }
        }
        if let Some(key) = self.filter.keys().find(|k| !is_axis(k)) {
            return Err((
                "where".into(),
                format!("`{key}` is not a grid axis (axes: {})", names()),
            ));
        }
        self.check_file().map_err(|m| ("file".to_string(), m))?;
        if let Some(k) = self
            .theory_lr_scale
            .filter(|k| !(k.is_finite() && *k > 0.0))
        {
            return Err((
                "theory_lr_scale".into(),
                format!("must be > 0 and finite, got {k}"),
            ));
        }
        if self.reduce.is_some() && self.trace.is_some() {
            return Err((
                "reduce".into(),
                "applies to a `metric` plot; a trace plot draws each cell".into(),
            ));
        }
        if self.reduce.is_some() && self.prediction.is_some() {
            return Err((
                "prediction".into(),
                "a boundary per cell cannot be drawn over a reduced (`reduce = \"mean\"`) map; leave one out".into(),
            ));
        }
        if let (Some(x), Some(y)) = (&self.x, &self.y)
            && x == y
        {
            return Err((
                "y".into(),
                format!("`{y}` is x too: pick two different axes"),
            ));
        }
        if let Some(r) = self.reduce.as_deref().filter(|r| *r != "mean") {
            return Err((
                "reduce".into(),
                format!("`{r}`: the only reduction is `mean`"),
            ));
        }
        Ok(())
    }

    /// The file name stem under `plots/` of a metric plot (trace plots are
    /// named per cell).
    pub fn stem(&self) -> Option<String> {
        let metric = self.metric.as_deref()?;
        Some(
            self.file
                .clone()
                .unwrap_or_else(|| default_stem(metric, self)),
        )
    }

    /// `file` is a plain name: plots stay inside `plots/`.
    pub fn check_file(&self) -> Result<(), String> {
        match self.file.as_deref() {
            Some(f) if f.is_empty() || f.starts_with('.') || f.contains(['/', '\\']) => {
                Err(format!(
                    "`{f}` must be a plain file name (no `/`, not starting with `.`): plots go to DIR/plots/"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The file name stem of a metric plot: the metric and the `where` values.
pub fn default_stem(metric: &str, spec: &PlotSpec) -> String {
    let mut stem = metric.to_string();
    for (k, v) in &spec.filter {
        stem.push_str(&format!("__{k}={}", crate::grid::format_value(v)));
    }
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The flags of `probstab plot` that describe one plot.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// Summary column to draw.
    #[arg(long)]
    pub metric: Option<String>,
    /// Trace columns (comma-separated) to draw against step per cell;
    /// `samples` adds the single trajectories. One column over several
    /// cells draws them all on one figure, coloured by an axis.
    #[arg(long, value_delimiter = ',')]
    pub trace: Option<Vec<String>>,
    /// The axis that colours the curves of a one-column trace plot
    /// (default: the first axis that varies among the cells drawn).
    #[arg(long, value_name = "AXIS")]
    pub color_by: Option<String>,
    /// Axis on x (default: the first grid axis).
    #[arg(long)]
    pub x: Option<String>,
    /// Axis on y (default: the second grid axis).
    #[arg(long)]
    pub y: Option<String>,
    /// Fix another axis: --where saddle.n=8 (repeatable).
    #[arg(long = "where", value_name = "AXIS=VALUE")]
    pub filter: Vec<String>,
    /// Draw the level set of a column: --contour m_minus (level 0) or --contour ms_minus=1.
    #[arg(long)]
    pub contour: Vec<String>,
    /// Draw a column as a curve over x, e.g. --curve lambda_gd on a λ axis.
    #[arg(long)]
    pub curve: Vec<String>,
    #[arg(long)]
    pub title: Option<String>,
    /// `mean`: average the metric over other varying axes (e.g. seeds),
    /// with standard errors (binomial intervals for fractions) drawn and
    /// written to DIR/plots/<file>.csv.
    #[arg(long)]
    pub reduce: Option<String>,
    /// File name stem under DIR/plots/.
    #[arg(long)]
    pub file: Option<String>,
    /// A two_layer_theory results directory (the same experiment run with
    /// kind=two_layer_theory): draw where its predicted_rank_at_steps
    /// falls below min(d, h) − k.
    #[arg(long, value_name = "THEORY_DIR")]
    pub prediction: Option<String>,
    /// k of the --prediction boundary (default 2).
    #[arg(long)]
    pub prediction_k: Option<usize>,
}

impl PlotArgs {
    /// The spec these flags describe; `--where AXIS=VALUE` values read as
    /// integers, floats or text.
    pub fn into_spec(self) -> anyhow::Result<PlotSpec> {
        let filter = parse_where(&self.filter)?;
        Ok(PlotSpec {
            metric: self.metric,
            trace: self.trace,
            color_by: self.color_by,
            x: self.x,
            y: self.y,
            filter,
            contour: self.contour,
            curve: self.curve,
            title: self.title,
            file: self.file,
            reduce: self.reduce,
            theory: None,
            theory_lr_scale: None,
            prediction: self.prediction,
            prediction_k: self.prediction_k,
        })
    }
}

/// `--where AXIS=VALUE` flags as axis values (integers, floats or text);
/// one axis given twice is an error, not the last one winning.
pub fn parse_where(flags: &[String]) -> anyhow::Result<BTreeMap<String, toml::Value>> {
    let mut filter = BTreeMap::new();
    for f in flags {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--where `{f}`: expected AXIS=VALUE"))?;
        let value = v
            .parse::<i64>()
            .map(toml::Value::Integer)
            .or_else(|_| v.parse::<f64>().map(toml::Value::Float))
            .unwrap_or_else(|_| toml::Value::String(v.to_string()));
        if let Some(old) = filter.insert(k.to_string(), value) {
            anyhow::bail!(
                "--where gives `{k}` twice ({k}={} and {f}): one value per axis",
                crate::grid::format_value(&old)
            );
        }
    }
    Ok(filter)
}
