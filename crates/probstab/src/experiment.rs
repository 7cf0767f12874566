//! An experiment file: the base config, `key=value` overrides, the `[grid]`
//! axes and the `[[plot]]` specs; expansion into cells (DESIGN.md §3–4).

use crate::config::Config;
use crate::error::{ConfigError, Origin, OriginText};
use crate::grid::{Axis, cell_id, parse_grid};
use crate::kind::Spec;
use crate::kinds;
use crate::plot_spec::PlotSpec;
use crate::store::ResultsDir;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The config a bare `probstab run` uses: Fig. 3 (left), CPU, no download.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../configs/fig3_lambda_mu.toml");
pub const EMBEDDED_DEFAULT_NAME: &str = "<embedded default: configs/fig3_lambda_mu.toml>";

#[derive(Debug)]
pub struct Experiment {
    pub file: PathBuf,
    source: String,
    /// The file's table after overrides, without `grid` and `plot`.
    base: Table,
    pub axes: Vec<Axis>,
    pub plots: Vec<PlotSpec>,
    /// Override texts and the dotted keys they set; a grid override appears
    /// once per axis it gives, as `grid.<axis>`.
    overrides: Vec<(String, String)>,
    /// The resolved file (overrides applied, grid and plots included), saved
    /// beside the results.
    pub resolved: Table,
}

/// Most cells one grid may have (each is a directory of results).
pub const MAX_CELLS: usize = 10_000_000;

/// One point of the grid.
#[derive(Clone, Debug)]
pub struct Cell {
    pub id: String,
    /// (dotted key, value) for each axis, in grid order.
    pub axes: Vec<(String, Value)>,
    /// The resolved config (defaults filled), as `config.toml` stores it.
    pub config: Config,
    /// What the cell's kind made of it.
    pub spec: Spec,
}

/// An experiment and its cells, expanded once.
#[derive(Debug)]
pub struct Grid {
    pub experiment: Experiment,
    pub cells: Vec<Cell>,
}

impl Grid {
    /// Whether some cell trains on wgpu (one cell per GPU, not per core).
    pub fn on_gpu(&self) -> bool {
        self.cells
            .iter()
            .any(|cell| cell.config.backend == crate::config::Backend::Wgpu)
    }

    /// Expand an experiment.
    pub fn new(mut experiment: Experiment) -> Result<Self, ConfigError> {
        let cells = experiment.cells()?;
        experiment.fit_plots(&cells)?;
        Ok(Self { experiment, cells })
    }

    /// The grid a results directory was run with (its `experiment.toml`).
    pub fn of(results: &ResultsDir) -> Result<Self, ConfigError> {
        Self::new(Experiment::load(&results.experiment_file(), &[])?)
    }

    /// The grid of a results directory, or None when it has no
    /// `experiment.toml`.
    pub fn of_existing(results: &ResultsDir) -> Result<Option<Self>, ConfigError> {
        if results.experiment_file().exists() {
            Self::of(results).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Whether `column` can be plotted: a metric the cells declare, an axis
    /// or `status`; the error lists the kind's metrics.
    pub fn check_column(&self, column: &str) -> Result<(), String> {
        check_column(&self.cells, &self.experiment.axes, column)
    }
}

/// The metric columns `cells` declare, in first-declared order.
pub fn declared_metrics(cells: &[Cell]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for cell in cells {
        for m in cell.spec.metrics() {
            if !names.contains(&m.name) {
                names.push(m.name);
            }
        }
    }
    names
}

fn check_column(cells: &[Cell], axes: &[Axis], column: &str) -> Result<(), String> {
    let declared = declared_metrics(cells);
    if column == "status"
        || declared.iter().any(|m| m == column)
        || axes.iter().any(|a| a.path == column)
    {
        return Ok(());
    }
    let mut kinds: Vec<&str> = cells.iter().map(|c| c.spec.kind().name()).collect();
    kinds.dedup();
    Err(format!(
        "kind `{}` has no metric `{column}`; its metrics: {}",
        kinds.join("`, `"),
        declared.join(", ")
    ))
}

impl Experiment {
    pub fn load(file: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let source = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::from_source(file, source, overrides)
    }

    pub fn from_source(
        file: &Path,
        source: String,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let file = file.to_path_buf();
        let mut table: Table =
            source
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    file: file.clone(),
                    message: e.to_string().trim_end().to_string(),
                })?;
        let mut applied = Vec::new();
        let mut grid_overrides = Vec::new();
        let mut pinned = Vec::new();
        for text in overrides {
            let (key, value) = parse_override(text)?;
            if let Some(axis) = key.strip_prefix("grid.") {
                grid_overrides.push((text.clone(), axis.to_string(), value));
            } else {
                set_path(&mut table, &key, value).map_err(|message| ConfigError::Override {
                    text: text.clone(),
                    message,
                })?;
                pinned.push(key.clone());
                applied.push((text.clone(), key));
            }
        }
        absolutize_data_csv(&mut table, &file);
        let grid = match table.remove("grid") {
            None => Table::new(),
            Some(Value::Table(grid)) => grid,
            Some(other) => {
                return Err(key_error(
                    &file,
                    &source,
                    &applied,
                    &[],
                    "grid",
                    format!("must be a table of axes, got {}", other.type_str()),
                ));
            }
        };
        let mut axes = parse_grid(&grid).map_err(|(key, message)| {
            key_error(
                &file,
                &source,
                &applied,
                &[],
                &format!("grid.{key}"),
                message,
            )
        })?;
        // A key set by an override is no longer swept; an overridden axis
        // keeps its place in the grid order, so cell names stay the same.
        axes.retain(|a| !pinned.contains(&a.path));
        for (text, path, value) in grid_overrides {
            let new = parse_grid(&Table::from_iter([(path.clone(), value)])).map_err(
                |(key, message)| ConfigError::Override {
                    text: text.clone(),
                    message: format!("`grid.{key}`: {message}"),
                },
            )?;
            for axis in new {
                applied.push((text.clone(), format!("grid.{}", axis.path)));
                match axes.iter_mut().find(|a| a.path == axis.path) {
                    Some(existing) => *existing = axis,
                    None => axes.push(axis),
                }
            }
        }
        // A relative data.csv or data.dir swept by an axis is relative to the config file too.
        for axis in axes
            .iter_mut()
            .filter(|a| FILE_KEYS.iter().any(|k| a.path == format!("data.{k}")))
        {
            for value in &mut axis.values {
                if let Value::String(csv) = value {
                    *csv = absolute_from(&file, csv);
                }
            }
        }
        // The experiment as run: overrides applied, every axis an explicit list.
        let mut resolved = table.clone();
        if !axes.is_empty() {
            let grid: Table = axes
                .iter()
                .map(|a| (a.path.clone(), Value::Array(a.values.clone())))
                .collect();
            resolved.insert("grid".into(), Value::Table(grid));
        }
        let plots = match table.remove("plot") {
            None => Vec::new(),
            Some(value) => Vec::<PlotSpec>::deserialize_from(value).map_err(|(key, message)| {
                key_error(
                    &file,
                    &source,
                    &applied,
                    &[],
                    &format!("plot{key}"),
                    message,
                )
            })?,
        };
        // A plot over an axis that an override pinned (`model.activation=linear`
        // on a grid over it) can no longer be drawn: dropped, with a warning.
        let mut plots = plots;
        let keep: Vec<bool> = plots
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let pinned_axis = spec
                    .filter
                    .keys()
                    .chain(spec.x.iter())
                    .chain(spec.y.iter())
                    .find(|k| pinned.contains(k) && !axes.iter().any(|a| &a.path == *k));
                if let Some(key) = pinned_axis {
                    tracing::warn!(
                        "plot[{i}] dropped: it is drawn over `{key}`, which an override fixed"
                    );
                }
                pinned_axis.is_none()
            })
            .collect();
        if keep.contains(&false) {
            let mut flags = keep.iter();
            plots.retain(|_| *flags.next().unwrap_or(&true));
            if let Some(Value::Array(list)) = resolved.get_mut("plot") {
                let mut flags = keep.iter();
                list.retain(|_| *flags.next().unwrap_or(&true));
                if list.is_empty() {
                    resolved.remove("plot");
                }
            }
        }
        for (i, spec) in plots.iter().enumerate() {
            spec.check(&axes).map_err(|(key, message)| {
                key_error(
                    &file,
                    &source,
                    &applied,
                    &[],
                    &format!("plot[{i}].{key}"),
                    message,
                )
            })?;
        }
        // Two plots writing one file would leave only the second.
        let mut stems = std::collections::BTreeMap::new();
        for (i, spec) in plots.iter().enumerate() {
            let Some(stem) = spec.stem() else { continue };
            if let Some(first) = stems.insert(stem.clone(), i) {
                return Err(key_error(
                    &file,
                    &source,
                    &applied,
                    &[],
                    &format!("plot[{i}].file"),
                    format!(
                        "plot[{i}] would write plots/{stem}.png over plot[{first}]'s; give one of them its own `file`"
                    ),
                ));
            }
        }
        Ok(Self {
            file,
            source,
            base: table,
            axes,
            plots,
            overrides: applied,
            resolved,
        })
    }

    /// Every cell of the grid (one cell when there is no grid), validated.
    pub fn cells(&self) -> Result<Vec<Cell>, ConfigError> {
        let total = self
            .axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
            .filter(|&n| n <= MAX_CELLS);
        let Some(total) = total else {
            let sizes: Vec<String> = self
                .axes
                .iter()
                .map(|a| format!("{} ({})", a.path, a.values.len()))
                .collect();
            return Err(self.key_error(
                &[],
                "grid",
                format!(
                    "the grid has more than {MAX_CELLS} cells: {}",
                    sizes.join(" × ")
                ),
            ));
        };
        let mut cells = Vec::with_capacity(total);
        for index in 0..total {
            let mut rest = index;
            let mut point = vec![Value::Boolean(false); self.axes.len()];
            for (k, axis) in self.axes.iter().enumerate().rev() {
                point[k] = axis.values[rest % axis.values.len()].clone();
                rest /= axis.values.len();
            }
            let axes: Vec<(String, Value)> = self
                .axes
                .iter()
                .map(|a| a.path.clone())
                .zip(point)
                .collect();
            let (config, spec) = self.cell_config(&axes)?;
            cells.push(Cell {
                id: cell_id(&axes),
                axes,
                config,
                spec,
            });
        }
        Ok(cells)
    }

    /// Every metric a `[[plot]]` names (its metric, contours and curves) is
    /// one the cells declare, an axis, or `status`: checked before any cell
    /// runs. When `kind` is set on the command line (`kind=two_layer_theory`
    /// on a two_layer experiment), the file's plots were written for its own
    /// kind: those the new kind cannot draw are dropped, with a warning,
    /// from the plots and from the resolved `experiment.toml`.
    fn fit_plots(&mut self, cells: &[Cell]) -> Result<(), ConfigError> {
        if self.plots.is_empty() || cells.is_empty() {
            return Ok(());
        }
        let kind_overridden = self.overrides.iter().any(|(_, key)| key == "kind");
        let mut keep = Vec::with_capacity(self.plots.len());
        for (i, spec) in self.plots.iter().enumerate() {
            match self.check_plot(i, spec, cells) {
                Ok(()) => keep.push(true),
                Err(error) if kind_overridden => {
                    tracing::warn!(
                        "plot[{i}] dropped: kind `{}` was set on the command line and cannot draw it ({error})",
                        cells[0].config.kind
                    );
                    keep.push(false);
                }
                Err(error) => return Err(error),
            }
        }
        let mut flags = keep.iter();
        self.plots.retain(|_| *flags.next().unwrap_or(&true));
        if let Some(Value::Array(plots)) = self.resolved.get_mut("plot") {
            let mut flags = keep.iter();
            plots.retain(|_| *flags.next().unwrap_or(&true));
            if plots.is_empty() {
                self.resolved.remove("plot");
            }
        }
        Ok(())
    }

    fn check_plot(&self, i: usize, spec: &PlotSpec, cells: &[Cell]) -> Result<(), ConfigError> {
        let contours = spec
            .contour
            .iter()
            .map(|c| c.split_once('=').map_or(c.as_str(), |(c, _)| c.trim()));
        let named = spec
            .metric
            .iter()
            .map(|m| ("metric", m.as_str()))
            .chain(contours.map(|c| ("contour", c)))
            .chain(spec.curve.iter().map(|c| ("curve", c.as_str())));
        for (key, column) in named {
            check_column(cells, &self.axes, column)
                .map_err(|message| self.key_error(&[], &format!("plot[{i}].{key}"), message))?;
        }
        Ok(())
    }

    /// The base config with the axis values set, deserialized and validated
    /// into its kind's spec.
    fn cell_config(&self, axes: &[(String, Value)]) -> Result<(Config, Spec), ConfigError> {
        let mut table = self.base.clone();
        for (path, value) in axes {
            set_path(&mut table, path, value.clone())
                .map_err(|message| self.key_error(axes, &format!("grid.{path}"), message))?;
        }
        let config: Config =
            serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
                let (key, message) = error_key(&e.path().to_string(), e.inner().message());
                self.key_error(axes, &key, message)
            })?;
        kinds::validate(config)
            .map_err(|invalid| self.key_error(axes, &invalid.key, invalid.message))
    }

    fn key_error(&self, axes: &[(String, Value)], key: &str, message: String) -> ConfigError {
        key_error(
            &self.file,
            &self.source,
            &self.overrides,
            axes,
            key,
            message,
        )
    }

    /// The experiment's name before any cell is built (for the output path).
    pub fn name(&self) -> Option<&str> {
        self.base.get("name").and_then(Value::as_str)
    }
}

/// The error for `key`, told where its value came from: the cell's grid
/// axis (the file's line, or the override that gave the axis), else the last
/// override that set the key or a table above it (its value replaced what
/// the file says there), else the file's line, else an override that set a
/// key below it where the file has none.
fn key_error(
    file: &Path,
    source: &str,
    overrides: &[(String, String)],
    axes: &[(String, Value)],
    key: &str,
    message: String,
) -> ConfigError {
    let under = |key: &str, table: &str| {
        key == table
            || key
                .strip_prefix(table)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    // Grid overrides give axes, not values: they are found through the axis.
    let set_by = |pick: &dyn Fn(&str) -> bool| {
        overrides
            .iter()
            .rev()
            .find(|(_, k)| !k.starts_with("grid.") && pick(k.as_str()))
            .map(|(text, _)| text.clone())
    };
    let origin = if let Some((path, value)) = axes
        .iter()
        .find(|(path, _)| path == key || key.strip_prefix("grid.") == Some(path.as_str()))
    {
        let axis = format!("grid.{path}");
        match overrides.iter().rev().find(|(_, k)| *k == axis) {
            Some((text, _)) => Origin::OverrideAxis {
                text: text.clone(),
                value: value.to_string(),
            },
            None => Origin::Axis {
                value: value.to_string(),
                line: line_of(source, &axis),
            },
        }
    } else if let Some(text) = set_by(&|k| under(key, k)) {
        Origin::Override(text)
    } else {
        match line_of(source, key) {
            None => match overrides.iter().rev().find(|(_, k)| under(k.as_str(), key)) {
                Some((text, _)) => Origin::Override(text.clone()),
                None => Origin::File(None),
            },
            line => Origin::File(line),
        }
    };
    ConfigError::Key {
        file: file.to_path_buf(),
        key: key.to_string(),
        origin: OriginText(origin),
        message,
    }
}

/// serde reports unknown and missing fields at their table: put the field
/// into the key.
fn error_key(path: &str, message: &str) -> (String, String) {
    let path = if path == "." { "" } else { path };
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let key = match field {
        Some(field) if path.is_empty() => field.to_string(),
        Some(field) if path == field || path.ends_with(&format!(".{field}")) => path.to_string(),
        Some(field) => format!("{path}.{field}"),
        None => path.to_string(),
    };
    (key, message.to_string())
}

/// The 1-based line of a dotted key in the file, or of its nearest parent.
fn line_of(source: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(source).ok()?;
    let parts: Vec<&str> = key.split('.').collect();
    for len in (1..=parts.len()).rev() {
        if let Some(span) = find_span(doc.get_ref(), &parts[..len]) {
            return Some(source[..span.start].matches('\n').count() + 1);
        }
    }
    None
}

fn find_span(table: &toml::de::DeTable<'_>, parts: &[&str]) -> Option<std::ops::Range<usize>> {
    // A grid key may be written quoted ("saddle.lr") or as nested tables; a
    // `[[plot]]` entry is addressed as `plot[0]`.
    for split in (1..=parts.len()).rev() {
        let head = parts[..split].join(".");
        let (name, index) = match head.strip_suffix(']').and_then(|h| h.rsplit_once('[')) {
            Some((name, i)) => (name.to_string(), i.parse::<usize>().ok()),
            None => (head.clone(), None),
        };
        let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name) else {
            continue;
        };
        let value = match (index, value.get_ref()) {
            (None, _) => value,
            (Some(i), toml::de::DeValue::Array(items)) => match items.get(i) {
                Some(item) => item,
                None => continue,
            },
            _ => continue,
        };
        if split == parts.len() {
            return Some(if index.is_some() {
                value.span()
            } else {
                key.span()
            });
        }
        if let toml::de::DeValue::Table(inner) = value.get_ref() {
            if let Some(span) = find_span(inner, &parts[split..]) {
                return Some(span);
            }
        }
    }
    None
}

/// `key=value`: the value read as TOML (`0.5`, `[1, 2]`, `"text"`), or as a
/// bare string when it is not valid TOML (`kind=saddle_sim`).
fn parse_override(text: &str) -> Result<(String, Value), ConfigError> {
    let fail = |message: &str| ConfigError::Override {
        text: text.to_string(),
        message: message.to_string(),
    };
    let (key, raw) = text
        .split_once('=')
        .ok_or_else(|| fail("expected KEY=VALUE, e.g. saddle.lr=0.5"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(fail("the key must be a dotted path such as saddle.lr"));
    }
    let raw = raw.trim();
    let value = format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}

/// Keys of `[data]` that name a file or directory.
const FILE_KEYS: [&str; 2] = ["csv", "dir"];

/// A relative `data.csv` or `data.dir` is relative to the config file; store
/// it absolute, so `experiment.toml` (which Slurm tasks run) points at the
/// same place.
fn absolutize_data_csv(table: &mut Table, file: &Path) {
    if let Some(Value::Table(data)) = table.get_mut("data") {
        for key in FILE_KEYS {
            if let Some(Value::String(path)) = data.get_mut(key) {
                *path = absolute_from(file, path);
            }
        }
    }
}

/// `path` if absolute, else joined to the config file's directory.
fn absolute_from(file: &Path, path: &str) -> String {
    if Path::new(path).is_absolute() {
        return path.to_string();
    }
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let joined = base.join(path);
    std::path::absolute(&joined)
        .unwrap_or(joined)
        .display()
        .to_string()
}

/// Set a dotted key, creating tables on the way.
pub fn set_path(table: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let mut parts = path.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_string(), value);
            return Ok(());
        }
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            other => return Err(format!("`{part}` is a {}, not a table", other.type_str())),
        };
    }
    Ok(())
}

/// Deserialize a TOML value, reporting the failing path.
trait DeserializeFrom: Sized {
    fn deserialize_from(value: Value) -> Result<Self, (String, String)>;
}

impl<T: serde::de::DeserializeOwned> DeserializeFrom for T {
    fn deserialize_from(value: Value) -> Result<Self, (String, String)> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                String::new()
            } else {
                format!("{path}")
            };
            let path = if path.starts_with('[') || path.is_empty() {
                path
            } else {
                format!(".{path}")
            };
            (path, e.inner().message().to_string())
        })
    }
}
