//! `[grid]` axes (a list, `{ linspace = [a, b, n] }`, `{ logspace = [a, b, n] }`)
//! over dotted keys, and the cell names derived from axis values.

use toml::{Table, Value};

/// One swept key and its values, in the order the file gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub path: String,
    pub values: Vec<Value>,
}

/// Flatten the `[grid]` table: `"saddle.lr" = [...]` and `saddle.lr = [...]`
/// (nested tables) both name the axis `saddle.lr`. Errors carry the axis key.
/// An axis given no values is an error, never a grid without that axis: an
/// empty list, an empty table (`saddle.lr = {}`), and a table under a quoted
/// dotted key (`"saddle.lr" = { ... }`, or the override `grid.saddle.lr={...}`)
/// that is not `{ linspace = ... }` or `{ logspace = ... }`.
pub fn parse_grid(grid: &Table) -> Result<Vec<Axis>, (String, String)> {
    let mut axes = Vec::new();
    flatten(grid, "", &mut axes)?;
    Ok(axes)
}

fn flatten(table: &Table, prefix: &str, axes: &mut Vec<Axis>) -> Result<(), (String, String)> {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let values = match value {
            Value::Array(items) => items.clone(),
            Value::Table(spec)
                if spec.contains_key("linspace") || spec.contains_key("logspace") =>
            {
                spaced(spec).map_err(|m| (path.clone(), m))?
            }
            Value::Table(inner) if inner.is_empty() => {
                return Err((path, format!("{AXIS_FORMS}, got an empty table")));
            }
            Value::Table(inner) if key.contains('.') => {
                let keys: Vec<String> = inner.keys().map(|k| format!("`{k}`")).collect();
                return Err((
                    path,
                    format!("{AXIS_FORMS}, got a table of {}", keys.join(", ")),
                ));
            }
            Value::Table(inner) => {
                flatten(inner, &path, axes)?;
                continue;
            }
            other => {
                return Err((
                    path,
                    format!("{AXIS_FORMS}, got the {} {other}", other.type_str()),
                ));
            }
        };
        if axes.iter().any(|a: &Axis| a.path == path) {
            return Err((
                path,
                "the axis is given twice (quoted and as nested keys?)".into(),
            ));
        }
        if values.is_empty() {
            return Err((
                path,
                format!("an axis needs at least one value: {AXIS_FORMS}"),
            ));
        }
        for (i, v) in values.iter().enumerate() {
            if matches!(v, Value::Array(_) | Value::Table(_) | Value::Datetime(_)) {
                return Err((
                    path,
                    format!(
                        "value {i} of the axis is a {}: axis values are numbers, strings or booleans",
                        v.type_str()
                    ),
                ));
            }
            if let Value::Float(f) = v {
                if !f.is_finite() {
                    return Err((path, format!("value {i} of the axis is {f}")));
                }
            }
        }
        // Repeats (1 and 1.0 count as one value): sorted, so a long linspace is cheap.
        let mut keys: Vec<(u8, f64, String)> = values
            .iter()
            .map(|v| match number(v) {
                Some(x) => (0, if x == 0.0 { 0.0 } else { x }, String::new()),
                None => (1, 0.0, v.to_string()),
            })
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            let shown = if w[0].0 == 0 {
                w[0].1.to_string()
            } else {
                w[0].2.clone()
            };
            return Err((path, format!("the axis repeats the value {shown}")));
        }
        axes.push(Axis { path, values });
    }
    Ok(())
}

/// What an axis may be, for the errors.
const AXIS_FORMS: &str =
    "an axis is a list of values or { linspace = [a, b, n] } / { logspace = [a, b, n] }";

fn number(v: &Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// `{ linspace = [a, b, n] }`: n evenly spaced points from a to b inclusive.
/// `{ logspace = [a, b, n] }`: n log-spaced points from a to b inclusive
/// (the endpoints themselves, both > 0 — not numpy's exponents). Integer
/// endpoints give integers where every point is whole (batch sizes).
fn spaced(spec: &Table) -> Result<Vec<Value>, String> {
    if spec.len() != 1 {
        return Err("give exactly one of `linspace` and `logspace`".into());
    }
    let (kind, args) = spec.iter().next().expect("one entry");
    let usage = format!("{kind} takes [first, last, count], e.g. {{ {kind} = [0.01, 1.0, 20] }}");
    let args = args
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or_else(|| usage.clone())?;
    let number = |v: &Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let (a, b) = (
        number(&args[0]).ok_or_else(|| usage.clone())?,
        number(&args[1]).ok_or_else(|| usage.clone())?,
    );
    let n = args[2]
        .as_integer()
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("{usage}; the count must be an integer ≥ 1"))? as usize;
    if n > 1_000_000 {
        return Err(format!("{kind} count {n} is more than 1,000,000 points"));
    }
    if !a.is_finite() || !b.is_finite() {
        return Err(format!("{kind} endpoints must be finite"));
    }
    let log = kind == "logspace";
    if log && (a <= 0.0 || b <= 0.0) {
        return Err(format!(
            "logspace takes the endpoints themselves, both > 0 (e.g. {{ logspace = [0.001, 1.0, 20] }}), got [{a}, {b}]"
        ));
    }
    let points: Vec<f64> = (0..n)
        .map(|i| {
            if n == 1 {
                return a;
            }
            let t = i as f64 / (n - 1) as f64;
            if i == 0 {
                a
            } else if i == n - 1 {
                b
            } else if log {
                (a.ln() + t * (b.ln() - a.ln())).exp()
            } else {
                a + t * (b - a)
            }
        })
        .collect();
    let integral = args[0].is_integer()
        && args[1].is_integer()
        && points
            .iter()
            .all(|p| (p - p.round()).abs() < 1e-9 * p.abs().max(1.0));
    Ok(points
        .into_iter()
        .map(|p| {
            if integral {
                Value::Integer(p.round() as i64)
            } else {
                Value::Float(p)
            }
        })
        .collect())
}

/// The directory name of a cell: `key=value` per axis joined by `__`, e.g.
/// `saddle.lr=0.1__saddle.mu=0.5`; `cell` without axes. Only
/// `[A-Za-z0-9._=+-]` survive; a name that had to be changed or shortened
/// gets a hash of the exact values, so names stay unique and never leave the
/// output directory.
pub fn cell_id(axes: &[(String, Value)]) -> String {
    if axes.is_empty() {
        return "cell".into();
    }
    let raw = axes
        .iter()
        .map(|(k, v)| format!("{k}={}", format_value(v)))
        .collect::<Vec<_>>()
        .join("__");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == raw && raw.len() <= 150 && !raw.starts_with('.') {
        return raw;
    }
    let stem: String = clean.trim_start_matches('.').chars().take(120).collect();
    format!("{stem}-{:016x}", fnv1a(&raw))
}

/// Shortest round-trip form; exponent notation outside [1e-4, 1e6).
pub fn format_value(v: &Value) -> String {
    match v {
        Value::Float(f) if *f != 0.0 && (f.abs() < 1e-4 || f.abs() >= 1e6) => format!("{f:e}"),
        Value::Float(f) => format!("{f}"),
        Value::Integer(i) => i.to_string(),
        Value::String(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<Vec<Axis>, (String, String)> {
        parse_grid(&text.parse::<Table>().unwrap())
    }

    #[test]
    fn quoted_and_nested_keys_name_the_same_axis() {
        let a = grid("\"saddle.lr\" = [0.1, 0.2]").unwrap();
        let b = grid("saddle.lr = [0.1, 0.2]").unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].path, "saddle.lr");
    }

    #[test]
    fn linspace_and_logspace_include_both_endpoints() {
        let axes =
            grid("a = { linspace = [0.0, 1.0, 5] }\nb = { logspace = [0.001, 1.0, 4] }").unwrap();
        let floats = |i: usize| {
            axes[i]
                .values
                .iter()
                .map(|v| v.as_float().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(floats(0), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let b = floats(1);
        assert_eq!((b[0], b[3]), (0.001, 1.0));
        assert!((b[1] - 0.01).abs() < 1e-15 && (b[2] - 0.1).abs() < 1e-14);
        // Axis order follows the file.
        assert_eq!(
            axes.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn integer_endpoints_give_integer_batch_sizes() {
        let axes = grid("s = { logspace = [1, 64, 7] }\nt = { linspace = [1, 2, 3] }").unwrap();
        assert_eq!(
            axes[0].values,
            (0..7).map(|k| Value::Integer(1 << k)).collect::<Vec<_>>()
        );
        assert!(
            axes[1].values.iter().all(|v| v.is_float()),
            "1, 1.5, 2 are not all whole"
        );
    }

    #[test]
    fn bad_axes_name_the_axis() {
        assert_eq!(grid("saddle.lr = 3").unwrap_err().0, "saddle.lr");
        assert!(
            grid("x = { logspace = [-3, 0, 10] }")
                .unwrap_err()
                .1
                .contains("endpoints themselves")
        );
        assert!(
            grid("x = { linspace = [0, 1] }")
                .unwrap_err()
                .1
                .contains("[first, last, count]")
        );
        assert!(grid("x = []").unwrap_err().1.contains("at least one"));
        assert!(grid("x = [1, 1]").unwrap_err().1.contains("repeats"));
        assert!(grid("x = { linspace = [0, 1, 3], logspace = [1, 2, 3] }").is_err());
        assert!(
            grid("\"s.lr\" = [1, 2]\ns.lr = [3]")
                .unwrap_err()
                .1
                .contains("twice")
        );
    }

    #[test]
    fn axes_without_values_are_errors_not_missing_axes() {
        // Each of these once gave no axis at all: the grid ran without it.
        for text in [
            "saddle.lr = {}",
            "\"saddle.lr\" = {}",
            "saddle = { lr = {} }",
            "[saddle.lr]",
            "\"saddle.lr\" = { linspac = [0.1, 1.0, 3] }",
            "\"saddle.lr\" = { values = [0.1, 0.2] }",
        ] {
            let (key, message) = grid(text).unwrap_err();
            assert_eq!(key, "saddle.lr", "{text}: {message}");
            assert!(message.contains("linspace"), "{text}: {message}");
        }
        assert!(
            grid("saddle.lr = []")
                .unwrap_err()
                .1
                .contains("at least one value")
        );
        // Nested tables still group axes.
        let axes = grid("saddle = { lr = [0.1], mu = { linspace = [0, 1, 3] } }").unwrap();
        assert_eq!(axes.len(), 2);
        assert_eq!(axes[1].path, "saddle.mu");
    }

    #[test]
    fn cell_ids_are_readable_unique_and_safe() {
        let id = cell_id(&[
            ("saddle.lr".into(), Value::Float(0.1)),
            ("saddle.batch_size".into(), Value::Integer(4)),
        ]);
        assert_eq!(id, "saddle.lr=0.1__saddle.batch_size=4");
        assert_eq!(cell_id(&[("x".into(), Value::Float(1e-7))]), "x=1e-7");
        let evil = cell_id(&[("name".into(), Value::String("../../etc".into()))]);
        assert!(!evil.contains('/') && !evil.starts_with('.'), "{evil}");
        let other = cell_id(&[("name".into(), Value::String("..__..etc".into()))]);
        assert_ne!(
            evil, other,
            "sanitised names keep a hash of the exact value"
        );
        let long = cell_id(&[("k".into(), Value::String("v".repeat(400)))]);
        assert!(long.len() < 160);
        assert_eq!(cell_id(&[]), "cell");
    }
}
