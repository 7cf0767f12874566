//! A heatmap axis over a grid key: numeric (λ, μ, S) or categorical (an
//! optimizer, an activation), with the paper's name for its label.

use crate::collect::{Summary, compare_values};
use crate::record::Record;

/// The values a grid axis takes among the plotted rows.
pub(crate) struct PlotAxis {
    pub key: String,
    /// Cell centres: the sorted distinct values, or 0, 1, … for categories.
    pub centres: Vec<f64>,
    /// The category names, sorted as summary.csv sorts values (empty for a
    /// numeric axis).
    pub categories: Vec<String>,
}

impl PlotAxis {
    /// Numeric where every value reads as a number, categorical otherwise.
    pub fn new(summary: &Summary, rows: &[&Record], key: &str) -> Self {
        let texts: Vec<String> = rows.iter().map(|r| summary.value(r, key)).collect();
        let numbers: Option<Vec<f64>> = texts.iter().map(|t| t.parse().ok()).collect();
        let (centres, categories) = match numbers {
            Some(mut values) => {
                values.sort_by(f64::total_cmp);
                values.dedup();
                (values, Vec::new())
            }
            None => {
                let mut names = texts;
                names.sort_by(|a, b| compare_values(a, b));
                names.dedup();
                ((0..names.len()).map(|i| i as f64).collect(), names)
            }
        };
        Self {
            key: key.to_string(),
            centres,
            categories,
        }
    }

    pub fn is_categorical(&self) -> bool {
        !self.categories.is_empty()
    }

    /// Where `record` sits on this axis (NaN where its value is not one of
    /// the axis' values).
    pub fn coord(&self, summary: &Summary, record: &Record) -> f64 {
        let text = summary.value(record, &self.key);
        if self.is_categorical() {
            self.categories
                .iter()
                .position(|c| *c == text)
                .map_or(f64::NAN, |i| i as f64)
        } else {
            text.parse().unwrap_or(f64::NAN)
        }
    }

    /// A log axis: positive values whose ratios are more even than their steps.
    pub fn is_log(&self) -> bool {
        !self.is_categorical() && is_log(&self.centres)
    }

    /// The axis label in the paper's words, with the config key it sweeps.
    pub fn label(&self) -> String {
        axis_label(&self.key)
    }
}

/// An axis label in the paper's words, with the config key it sweeps.
fn axis_label(key: &str) -> String {
    let symbol = match key.rsplit('.').next().unwrap_or(key) {
        "lr" => "learning rate λ",
        "mu" => "signal μ",
        "batch_size" => "batch size S",
        "outlier" => "outlier x₁²",
        "a" => "χ value a",
        "n" => "dataset size N",
        "noise_std" => "noise σ",
        "seed" => "seed",
        "noise_prob" => "label noise p",
        "optimizer" => "optimizer",
        "activation" => "activation",
        _ => return key.to_string(),
    };
    format!("{symbol}  ({key})")
}

fn is_log(values: &[f64]) -> bool {
    if values.len() < 3 || values[0] <= 0.0 {
        return false;
    }
    let spread = |v: Vec<f64>| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &d| {
                (lo.min(d), hi.max(d))
            });
        hi / lo
    };
    let linear = spread(values.windows(2).map(|w| w[1] - w[0]).collect());
    let log = spread(values.windows(2).map(|w| (w[1] / w[0]).ln()).collect());
    log < linear && log < 1.5
}
