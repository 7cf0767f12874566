//! Data for the training kinds.
//!
//! - The teacher of §4.4 (Fig. 7): `x ~ N(0, I_d)`, `ε ~ N(0, σ²I_d)`,
//!   `y = μx + (1 − μ)ε`, fresh every step (online) or a fixed set of n
//!   points from which each step draws S i.i.d.
//! - 1-D data for a neuron (Fig. 5): `y = signal·teacher(x) + σ·ε` with
//!   x, ε standard normal, or given inline, or read from a CSV file.
//!
//! Everything is drawn on the host from the cell's seed, so every backend
//! sees the same numbers.

use crate::normal::standard_normal;
use crate::rng::{Rng, Stream, rng};
use models::Activation;
use rand::RngExt;
use std::path::Path;

/// Row-major `[rows, dim]` inputs and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub rows: usize,
    pub dim: usize,
}

/// The Gaussian teacher in d dimensions.
#[derive(Clone, Copy, Debug)]
pub struct Teacher {
    pub dim: usize,
    pub mu: f64,
    pub noise_std: f64,
}

impl Teacher {
    /// `rows` fresh points.
    pub fn draw(&self, r: &mut Rng, rows: usize) -> Batch {
        let n = rows * self.dim;
        let (mut x, mut y) = (vec![0.0f32; n], vec![0.0f32; n]);
        let (mu, noise_std) = (self.mu, self.noise_std);
        // The generator in a local and the numbers written into place (no
        // push, no capacity check): its state then stays in registers
        // between draws instead of going through `r`'s memory twice a number.
        let mut local = r.clone();
        for (xo, yo) in x.iter_mut().zip(y.iter_mut()) {
            let xi = standard_normal(&mut local);
            let eps = noise_std * standard_normal(&mut local);
            *xo = xi as f32;
            *yo = (mu * xi + (1.0 - mu) * eps) as f32;
        }
        *r = local;
        Batch {
            x,
            y,
            rows,
            dim: self.dim,
        }
    }
}

/// Where each step's minibatch comes from.
pub enum Source {
    /// Fresh teacher draws every step.
    Online { teacher: Teacher, r: Rng },
    /// S i.i.d. uniform draws from a fixed dataset.
    Fixed { data: Batch, r: Rng },
}

impl Source {
    /// The teacher stream: online for `n = 0`, else a fixed set of n points.
    pub fn teacher(teacher: Teacher, n: usize, seed: u64) -> Self {
        if n == 0 {
            Source::Online {
                teacher,
                r: rng(seed, Stream::Batches),
            }
        } else {
            let data = teacher.draw(&mut rng(seed, Stream::TrainData), n);
            Source::Fixed {
                data,
                r: rng(seed, Stream::Batches),
            }
        }
    }

    pub fn fixed(data: Batch, seed: u64) -> Self {
        Source::Fixed {
            data,
            r: rng(seed, Stream::Batches),
        }
    }

    /// The next minibatch of `batch_size` rows.
    pub fn next_batch(&mut self, batch_size: usize) -> Batch {
        match self {
            Source::Online { teacher, r } => teacher.draw(r, batch_size),
            Source::Fixed { data, r } => {
                let d = data.dim;
                let mut batch = Batch {
                    x: Vec::with_capacity(batch_size * d),
                    y: Vec::with_capacity(batch_size * d),
                    rows: batch_size,
                    dim: d,
                };
                for _ in 0..batch_size {
                    let i = r.random_range(0..data.rows);
                    batch.x.extend_from_slice(&data.x[i * d..(i + 1) * d]);
                    batch.y.extend_from_slice(&data.y[i * d..(i + 1) * d]);
                }
                batch
            }
        }
    }
}

/// `n` 1-D points `y = signal·teacher(x) + noise_std·ε` (Fig. 5: n = 100,
/// swish, signal 0.1, noise 0.9).
pub fn neuron_points(
    n: usize,
    teacher: Activation,
    signal: f64,
    noise_std: f64,
    r: &mut Rng,
) -> Batch {
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let xi = standard_normal(r);
        let eps = standard_normal(r);
        x.push(xi as f32);
        y.push((signal * teacher.sigma(xi) + noise_std * eps) as f32);
    }
    Batch {
        x,
        y,
        rows: n,
        dim: 1,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {message}")]
    Csv { path: String, message: String },
}

/// A CSV file with a header row and columns `x` and `y` (any order; other
/// columns ignored). Errors name the file and the record.
pub fn read_xy_csv(path: &Path) -> Result<Batch, DataError> {
    let fail = |message: String| DataError::Csv {
        path: path.display().to_string(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| fail(format!("cannot read the header: {e}")))?
        .clone();
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            fail(format!(
                "no column `{name}` in the header ({})",
                header.iter().collect::<Vec<_>>().join(",")
            ))
        })
    };
    let (ix, iy) = (column("x")?, column("y")?);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (k, record) in reader.records().enumerate() {
        let line = k + 2;
        let record = record.map_err(|e| fail(format!("record at line {line}: {e}")))?;
        let parse = |i: usize, name: &str| -> Result<f32, DataError> {
            let text = record.get(i).unwrap_or("").trim();
            match text.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(fail(format!(
                    "record at line {line}: `{name}` = `{text}` is not a finite number"
                ))),
            }
        };
        x.push(parse(ix, "x")?);
        y.push(parse(iy, "y")?);
    }
    if x.is_empty() {
        return Err(fail("no data rows".into()));
    }
    let rows = x.len();
    Ok(Batch { x, y, rows, dim: 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teacher_labels_have_the_right_moments() {
        let t = Teacher {
            dim: 4,
            mu: 0.3,
            noise_std: 2.0,
        };
        let b = t.draw(&mut rng(1, Stream::TrainData), 50_000);
        let n = b.x.len() as f64;
        let exy =
            b.x.iter()
                .zip(&b.y)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum::<f64>()
                / n;
        let ey2 = b.y.iter().map(|y| (*y as f64).powi(2)).sum::<f64>() / n;
        // E[xy] = μ, E[y²] = μ² + (1 − μ)²σ².
        assert!((exy - 0.3).abs() < 0.02, "{exy}");
        assert!((ey2 - (0.09 + 0.49 * 4.0)).abs() < 0.05, "{ey2}");
    }

    #[test]
    fn fixed_sets_are_sampled_with_replacement_and_online_streams_are_fresh() {
        let t = Teacher {
            dim: 2,
            mu: 0.5,
            noise_std: 1.0,
        };
        let mut fixed = Source::teacher(t, 3, 7);
        let Source::Fixed { data, .. } = &fixed else {
            panic!("n > 0 is a fixed set")
        };
        let rows: Vec<Vec<f32>> = (0..3).map(|i| data.x[i * 2..i * 2 + 2].to_vec()).collect();
        for _ in 0..20 {
            let b = fixed.next_batch(4);
            for k in 0..4 {
                assert!(rows.contains(&b.x[k * 2..k * 2 + 2].to_vec()));
            }
        }
        let mut online = Source::teacher(t, 0, 7);
        assert_ne!(online.next_batch(1), online.next_batch(1));
        // Same seed, same stream.
        assert_eq!(
            Source::teacher(t, 0, 7).next_batch(3),
            Source::teacher(t, 0, 7).next_batch(3)
        );
    }

    #[test]
    fn csv_errors_name_the_file_and_record() {
        let dir = std::env::temp_dir().join(format!("probstab-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "y,x\n1.0,0.5\n-2,3\n").unwrap();
        let b = read_xy_csv(&good).unwrap();
        assert_eq!((b.x, b.y), (vec![0.5, 3.0], vec![1.0, -2.0]));
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "x,y\n1,2\n3,oops\n").unwrap();
        let e = read_xy_csv(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.csv") && e.contains("line 3") && e.contains("oops"),
            "{e}"
        );
        let missing = read_xy_csv(&dir.join("none.csv")).unwrap_err().to_string();
        assert!(missing.contains("none.csv"), "{missing}");
        let no_y = dir.join("noy.csv");
        std::fs::write(&no_y, "x,z\n1,2\n").unwrap();
        assert!(
            read_xy_csv(&no_y)
                .unwrap_err()
                .to_string()
                .contains("no column `y`")
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
