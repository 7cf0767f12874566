//! The two-parameter landscape of a single neuron `f(x) = u·σ(w·x)` (Fig. 1a,
//! Fig. 5): its full-data loss `L(w, u) = c · mean_i (u σ(w x_i) − y_i)²`,
//! gradient and Hessian in closed form, and its stationary points found by
//! damped Newton iterations from a grid of starts, each with its Hessian
//! eigenvalues (Fig. 5: minima A and B, saddle C at the origin).
//!
//! `c` is the loss scale: 1 for the mean squared error (PyTorch's `MSELoss`),
//! ½ for the paper's `(f − y)²/2`.

pub use rules::Activation;
use serde::Serialize;

/// What a stationary point is, from the signs of its Hessian eigenvalues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PointKind {
    Minimum,
    Saddle,
    Maximum,
    /// An eigenvalue within 1e-9 of zero: a flat direction.
    Degenerate,
}

impl PointKind {
    pub fn name(self) -> &'static str {
        match self {
            PointKind::Minimum => "minimum",
            PointKind::Saddle => "saddle",
            PointKind::Maximum => "maximum",
            PointKind::Degenerate => "degenerate",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StationaryPoint {
    pub w: f64,
    pub u: f64,
    pub loss: f64,
    /// Hessian eigenvalues, smallest first.
    pub eigenvalues: [f64; 2],
    pub kind: PointKind,
}

/// A neuron's full-data loss on a 1-D dataset.
#[derive(Clone, Debug)]
pub struct NeuronLandscape<'a> {
    /// σ: linear, tanh or swish (its σ, σ′, σ″ from [`Activation::jet`]).
    pub sigma: Activation,
    pub x: &'a [f64],
    pub y: &'a [f64],
    /// Loss scale c (1: mean squared error; ½: half squared error).
    pub scale: f64,
}

impl NeuronLandscape<'_> {
    pub fn loss(&self, w: f64, u: f64) -> f64 {
        let n = self.x.len() as f64;
        self.scale
            * self
                .x
                .iter()
                .zip(self.y)
                .map(|(&x, &y)| (u * self.sigma.jet(w * x).0 - y).powi(2))
                .sum::<f64>()
            / n
    }

    /// (∂L/∂w, ∂L/∂u) and the Hessian [[L_ww, L_wu], [L_wu, L_uu]].
    pub fn gradient_hessian(&self, w: f64, u: f64) -> ([f64; 2], [[f64; 2]; 2]) {
        let k = 2.0 * self.scale / self.x.len() as f64;
        let (mut gw, mut gu, mut hww, mut hwu, mut huu) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in self.x.iter().zip(self.y) {
            let (s, ds, dds) = self.sigma.jet(w * x);
            let r = u * s - y;
            gu += r * s;
            gw += r * u * ds * x;
            huu += s * s;
            hwu += x * ds * (2.0 * u * s - y);
            hww += x * x * (u * u * ds * ds + r * u * dds);
        }
        ([k * gw, k * gu], [[k * hww, k * hwu], [k * hwu, k * huu]])
    }

    /// Every stationary point in `[−bound, bound]²` reached by damped Newton
    /// from a `starts × starts` grid, deduplicated, sorted by w then u.
    pub fn stationary_points(&self, bound: f64, starts: usize) -> Vec<StationaryPoint> {
        let mut found: Vec<StationaryPoint> = Vec::new();
        for i in 0..starts {
            for j in 0..starts {
                let at = |k: usize| -bound + 2.0 * bound * (k as f64 + 0.5) / starts as f64;
                // Plain Newton finds saddles too; saddle-free Newton descends
                // into minima through the landscape's flat valleys.
                for (w, u) in [
                    self.newton(at(i), at(j), bound),
                    self.descend(at(i), at(j))
                        .and_then(|(w, u)| self.newton(w, u, bound)),
                ]
                .into_iter()
                .flatten()
                {
                    if w.abs() > bound
                        || u.abs() > bound
                        || found.iter().any(|p| (p.w - w).hypot(p.u - u) < 1e-6)
                    {
                        continue;
                    }
                    found.push(self.point(w, u));
                }
            }
        }
        found.sort_by(|a, b| a.w.total_cmp(&b.w).then(a.u.total_cmp(&b.u)));
        found
    }

    /// The stationary point at (w, u), classified.
    pub fn point(&self, w: f64, u: f64) -> StationaryPoint {
        let (_, h) = self.gradient_hessian(w, u);
        let eigenvalues = symmetric_eigenvalues(h);
        let kind = if eigenvalues.iter().any(|e| e.abs() < 1e-9) {
            PointKind::Degenerate
        } else if eigenvalues[0] > 0.0 {
            PointKind::Minimum
        } else if eigenvalues[1] < 0.0 {
            PointKind::Maximum
        } else {
            PointKind::Saddle
        };
        StationaryPoint {
            w,
            u,
            loss: self.loss(w, u),
            eigenvalues,
            kind,
        }
    }

    /// Newton on ∇L = 0, step halved until |∇L| decreases; None if it stalls.
    fn newton(&self, mut w: f64, mut u: f64, bound: f64) -> Option<(f64, f64)> {
        let norm = |g: [f64; 2]| g[0].hypot(g[1]);
        for _ in 0..200 {
            let (g, h) = self.gradient_hessian(w, u);
            if norm(g) < 1e-12 {
                return Some((w, u));
            }
            let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
            if det.abs() < 1e-14 {
                return None;
            }
            let dw = (h[1][1] * g[0] - h[0][1] * g[1]) / det;
            let du = (h[0][0] * g[1] - h[1][0] * g[0]) / det;
            let mut t = 1.0;
            loop {
                let (nw, nu) = (w - t * dw, u - t * du);
                if norm(self.gradient_hessian(nw, nu).0) < norm(g) {
                    w = nw;
                    u = nu;
                    break;
                }
                t *= 0.5;
                if t < 1e-6 {
                    // No step shrinks the gradient: stuck, at a stationary
                    // point only if the gradient is already tiny.
                    return (norm(g) < 1e-9).then_some((w, u));
                }
            }
            // Newton slides out along the flat valleys (w → 0, u → ∞ with
            // w·u fixed, where σ is linear; or σ saturated), 200 steps for
            // nothing: a point out there would not be kept.
            if !(w.abs() < ESCAPED * bound && u.abs() < ESCAPED * bound) {
                return None;
            }
        }
        let (g, _) = self.gradient_hessian(w, u);
        (norm(g) < 1e-9).then_some((w, u))
    }
}

/// A Newton search is abandoned beyond this many times the search bound.
const ESCAPED: f64 = 4.0;

impl NeuronLandscape<'_> {
    /// Saddle-free Newton (step −|H|⁻¹∇L, |H| with the eigenvalues' absolute
    /// values) with backtracking on the loss: a descent that converges
    /// quadratically at a minimum. Returns where it stopped, if finite.
    fn descend(&self, mut w: f64, mut u: f64) -> Option<(f64, f64)> {
        let mut loss = self.loss(w, u);
        for _ in 0..500 {
            let (g, h) = self.gradient_hessian(w, u);
            if g[0].hypot(g[1]) < 1e-12 {
                break;
            }
            let [dw, du] = abs_inverse_times(h, g);
            let mut t = 1.0;
            loop {
                let (nw, nu) = (w - t * dw, u - t * du);
                let next = self.loss(nw, nu);
                if next < loss {
                    // Stalled near a stationary point: the loss no longer
                    // moves in its 13th digit and the gradient is small,
                    // close enough for the Newton polish that follows.
                    let stalled = loss - next <= 1e-13 * loss.abs() && g[0].hypot(g[1]) < 1e-6;
                    (w, u, loss) = (nw, nu, next);
                    if stalled {
                        return Some((w, u));
                    }
                    break;
                }
                t *= 0.5;
                if t < 1e-10 {
                    return (w.is_finite() && u.is_finite()).then_some((w, u));
                }
            }
        }
        (w.is_finite() && u.is_finite()).then_some((w, u))
    }
}

/// `|H|⁻¹ g` for a symmetric 2×2 H, eigenvalues floored at 1e-8 in modulus.
fn abs_inverse_times(h: [[f64; 2]; 2], g: [f64; 2]) -> [f64; 2] {
    let [l0, l1] = symmetric_eigenvalues(h);
    // Eigenvector of l1: (h01, l1 − h00), or (l1 − h11, h01); pick the larger.
    let (a, b) = if (l1 - h[0][0]).abs() + h[0][1].abs() >= (l1 - h[1][1]).abs() + h[0][1].abs() {
        (h[0][1], l1 - h[0][0])
    } else {
        (l1 - h[1][1], h[0][1])
    };
    let norm = a.hypot(b);
    let (c, s) = if norm > 0.0 {
        (a / norm, b / norm)
    } else {
        (0.0, 1.0)
    };
    // v1 = (c, s) for l1, v0 = (−s, c) for l0.
    let (p1, p0) = (c * g[0] + s * g[1], -s * g[0] + c * g[1]);
    let (q1, q0) = (p1 / l1.abs().max(1e-8), p0 / l0.abs().max(1e-8));
    [c * q1 - s * q0, s * q1 + c * q0]
}

/// Eigenvalues of a symmetric 2×2 matrix, smallest first.
pub fn symmetric_eigenvalues(h: [[f64; 2]; 2]) -> [f64; 2] {
    let mean = 0.5 * (h[0][0] + h[1][1]);
    let radius = (0.5 * (h[0][0] - h[1][1])).hypot(h[0][1]);
    [mean - radius, mean + radius]
}

/// The stationary point nearest to (w, u) and its distance.
pub fn nearest(points: &[StationaryPoint], w: f64, u: f64) -> Option<(StationaryPoint, f64)> {
    points
        .iter()
        .map(|p| (*p, (p.w - w).hypot(p.u - u)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng};
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn inputs(n: usize) -> Vec<f64> {
        let mut r = rng(4, Stream::Dataset);
        (0..n).map(|_| r.sample(StandardNormal)).collect()
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let x = inputs(30);
        let y: Vec<f64> = x.iter().map(|x| 0.3 * x + 0.1 * x * x).collect();
        for sigma in [Activation::Linear, Activation::Tanh, Activation::Swish] {
            let l = NeuronLandscape {
                sigma,
                x: &x,
                y: &y,
                scale: 1.0,
            };
            let (w, u, e) = (0.7, -0.4, 1e-5);
            let (g, h) = l.gradient_hessian(w, u);
            let fd_gw = (l.loss(w + e, u) - l.loss(w - e, u)) / (2.0 * e);
            let fd_gu = (l.loss(w, u + e) - l.loss(w, u - e)) / (2.0 * e);
            assert!(
                (g[0] - fd_gw).abs() < 1e-7 && (g[1] - fd_gu).abs() < 1e-7,
                "{sigma:?}"
            );
            let fd_hww =
                (l.gradient_hessian(w + e, u).0[0] - l.gradient_hessian(w - e, u).0[0]) / (2.0 * e);
            let fd_hwu =
                (l.gradient_hessian(w, u + e).0[0] - l.gradient_hessian(w, u - e).0[0]) / (2.0 * e);
            let fd_huu =
                (l.gradient_hessian(w, u + e).0[1] - l.gradient_hessian(w, u - e).0[1]) / (2.0 * e);
            assert!(
                (h[0][0] - fd_hww).abs() < 1e-6
                    && (h[0][1] - fd_hwu).abs() < 1e-6
                    && (h[1][1] - fd_huu).abs() < 1e-6,
                "{sigma:?}"
            );
        }
    }

    #[test]
    fn teacher_neuron_has_its_weights_as_minima_and_the_origin_as_saddle() {
        // y = 1.5·tanh(0.8x) exactly: global minima (0.8, 1.5) and, by the
        // symmetry of tanh, (−0.8, −1.5), both at loss 0; the origin is a saddle.
        let x = inputs(50);
        let y: Vec<f64> = x.iter().map(|x| 1.5 * (0.8 * x).tanh()).collect();
        let l = NeuronLandscape {
            sigma: Activation::Tanh,
            x: &x,
            y: &y,
            scale: 0.5,
        };
        let points = l.stationary_points(3.0, 15);
        let minima: Vec<_> = points
            .iter()
            .filter(|p| p.kind == PointKind::Minimum)
            .collect();
        assert_eq!(minima.len(), 2, "{points:?}");
        assert!((minima[0].w + 0.8).abs() < 1e-8 && (minima[0].u + 1.5).abs() < 1e-8);
        assert!((minima[1].w - 0.8).abs() < 1e-8 && (minima[1].u - 1.5).abs() < 1e-8);
        assert!(minima[1].loss < 1e-20);
        let origin = points
            .iter()
            .find(|p| p.w.abs() < 1e-9 && p.u.abs() < 1e-9)
            .expect("the origin is stationary");
        assert_eq!(origin.kind, PointKind::Saddle);
        // At the origin the Hessian is [[0, −c·2E[xy]], [·, 0]]: eigenvalues ∓2c|E[xy]|.
        let exy = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>() / x.len() as f64;
        assert!((origin.eigenvalues[1] - exy.abs()).abs() < 1e-12);
        let (near, d) = nearest(&points, 0.75, 1.4).unwrap();
        assert!(near.kind == PointKind::Minimum && d < 0.2);
    }

    #[test]
    fn swish_neuron_on_fig5_data_has_two_minima_and_a_saddle() {
        // Fig. 5 setting: 100 points, y = 0.1·swish(x) + 0.9ε.
        // (The landscape depends on the sample; this one has the paper's shape:
        // a minimum on each side of w = 0.)
        let mut r = rng(5, Stream::Dataset);
        let x: Vec<f64> = (0..100).map(|_| r.sample(StandardNormal)).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&x| 0.1 * Activation::Swish.jet(x).0 + 0.9 * r.sample::<f64, _>(StandardNormal))
            .collect();
        let l = NeuronLandscape {
            sigma: Activation::Swish,
            x: &x,
            y: &y,
            scale: 0.5,
        };
        let points = l.stationary_points(4.0, 11);
        assert!(
            points
                .iter()
                .any(|p| p.kind == PointKind::Saddle && p.w.abs() < 1e-9 && p.u.abs() < 1e-9)
        );
        let minima: Vec<_> = points
            .iter()
            .filter(|p| p.kind == PointKind::Minimum)
            .collect();
        assert!(minima.len() >= 2, "{points:?}");
        assert!(minima.iter().any(|p| p.w < 0.0) && minima.iter().any(|p| p.w > 0.0));
    }
}
