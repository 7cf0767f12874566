//! Per-step tables (`trace.csv`) and which steps they keep.

use train::trainer::Outcome;

/// A per-step table, written as `trace.csv`.
pub struct Trace {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Trace {
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in &self.rows {
            out.push_str(&csv_row(row));
            out.push('\n');
        }
        out
    }
}

/// One row of `trace.csv` (numbers as in `summary.csv`), without the newline.
pub fn csv_row(row: &[f64]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|x| crate::record::Metric::Number(*x).to_csv())
        .collect();
    cells.join(",")
}

/// `points` steps of `0..n`, evenly spaced, the first and the last among
/// them (all of them when there are fewer).
pub fn trace_steps(n: usize, points: usize) -> Vec<usize> {
    if n <= points {
        return (0..n).collect();
    }
    let last = (n - 1) as f64;
    let mut steps: Vec<usize> = (0..points)
        .map(|i| (i as f64 * last / (points - 1).max(1) as f64).round() as usize)
        .collect();
    steps.dedup();
    steps
}

/// `step, loss, log_loss` at the [`trace_steps`] of a training run.
pub fn loss_trace(outcome: &Outcome, points: usize) -> Trace {
    let n = outcome.losses.len();
    let rows = trace_steps(n, points)
        .into_iter()
        .map(|t| {
            let loss = outcome.losses[t] as f64;
            vec![t as f64, loss, loss.ln()]
        })
        .collect();
    Trace {
        columns: ["step", "loss", "log_loss"].map(String::from).to_vec(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::trace_steps;

    #[test]
    fn trace_steps_are_as_many_as_asked_and_span_the_run() {
        assert_eq!(trace_steps(1000, 100).len(), 100);
        assert_eq!(trace_steps(1000, 100)[..3], [0, 10, 20]);
        assert_eq!(*trace_steps(1000, 100).last().unwrap(), 999);
        assert_eq!(trace_steps(300, 50).len(), 50);
        assert_eq!(trace_steps(7, 50), (0..7).collect::<Vec<_>>());
        assert_eq!(trace_steps(5, 2), [0, 4]);
    }
}
