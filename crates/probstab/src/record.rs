//! What a finished cell leaves behind: its status, axis values and metrics,
//! stored as `metrics.json`. Non-finite numbers (m = −∞ at a critical λ) are
//! written as the strings "-inf", "inf", "nan", which `f64::from_str` reads back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// How a cell ended (DESIGN.md §5).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// A non-finite or exploding loss stopped training: a result, not a crash.
    Diverged,
    /// An error or panic; rerunning the grid retries the cell.
    Failed,
    /// The kind's theory does not apply to this cell (a result, with the
    /// reason in the metric `not_applicable`).
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Diverged => "diverged",
            Status::Failed => "failed",
            Status::NotApplicable => "n/a",
        }
    }

    /// Complete cells are skipped on a rerun; failed ones are retried.
    pub fn is_complete(self) -> bool {
        self != Status::Failed
    }
}

/// One metric value.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    Number(f64),
    /// Counts, such as ranks.
    Integer(i64),
    Bool(bool),
    Text(String),
}

impl Metric {
    pub fn to_json(&self) -> Json {
        match self {
            Metric::Number(x) if x.is_finite() => Json::from(*x),
            Metric::Number(x) => Json::String(format_non_finite(*x)),
            Metric::Integer(i) => Json::from(*i),
            Metric::Bool(b) => Json::Bool(*b),
            Metric::Text(s) => Json::String(s.clone()),
        }
    }

    /// The text of a `summary.csv` cell.
    pub fn to_csv(&self) -> String {
        match self {
            // Exponent form outside [1e-4, 1e16): shortest round trip, short text.
            Metric::Number(x)
                if *x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e16) && x.is_finite() =>
            {
                format!("{x:e}")
            }
            Metric::Number(x) if x.is_finite() => x.to_string(),
            Metric::Number(x) => format_non_finite(*x),
            Metric::Integer(i) => i.to_string(),
            Metric::Bool(b) => b.to_string(),
            Metric::Text(s) => s.clone(),
        }
    }
}

fn format_non_finite(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// Metrics in the order a kind reports them.
pub type Metrics = Vec<(String, Metric)>;

/// The contents of `metrics.json`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Record {
    pub id: String,
    /// Axis values by dotted key, in grid order.
    pub axes: Map<String, Json>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a diverged cell: the step at which it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged_at: Option<u64>,
    /// For a cell on `wgpu`: the adapter it ran on, as it names itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub metrics: Map<String, Json>,
    /// Wall-clock seconds the cell took.
    pub seconds: f64,
    /// Unix time at which the cell started (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    /// Unix time at which the cell finished (tells reruns apart).
    pub finished_at: f64,
    /// The build, command, host and times behind it (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
}

/// A JSON metric or axis value as `summary.csv` text.
pub fn json_to_csv(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn metrics_to_json(metrics: &Metrics) -> Map<String, Json> {
    metrics
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_survive_json_and_csv() {
        let m = Metric::Number(f64::NEG_INFINITY);
        assert_eq!(m.to_json(), Json::String("-inf".into()));
        assert_eq!(
            json_to_csv(&m.to_json()).parse::<f64>().unwrap(),
            f64::NEG_INFINITY
        );
        assert_eq!(Metric::Number(0.25).to_csv(), "0.25");
    }
}
