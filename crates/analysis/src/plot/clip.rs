//! Clipping of polylines to a plot's box, so that curves reaching outside the
//! heatmap's range stop at its frame.

use super::axis::Axis;

/// Clips a polyline (data coordinates) to the axes' box, in the axes' own
/// scale (Liang–Barsky per segment); returns the visible pieces.
pub(crate) fn clip_run(run: &[(f64, f64)], x: &Axis, y: &Axis) -> Vec<Vec<(f64, f64)>> {
    let scaled = |p: &(f64, f64)| (x.to_scale(p.0), y.to_scale(p.1));
    let ((x0, x1), (y0, y1)) = (x.bounds(), y.bounds());
    let bounds = [
        x.to_scale(x0),
        x.to_scale(x1),
        y.to_scale(y0),
        y.to_scale(y1),
    ];
    let back = |(u, v): (f64, f64)| (x.from_scale(u), y.from_scale(v));
    let mut pieces = vec![];
    let mut piece: Vec<(f64, f64)> = vec![];
    for w in run.windows(2) {
        match clip_segment(scaled(&w[0]), scaled(&w[1]), bounds) {
            Some((a, b, a_cut, b_cut)) => {
                if piece.is_empty() || a_cut {
                    if piece.len() >= 2 {
                        pieces.push(std::mem::take(&mut piece));
                    }
                    piece = vec![back(a)];
                }
                piece.push(back(b));
                if b_cut {
                    pieces.push(std::mem::take(&mut piece));
                }
            }
            None if piece.len() >= 2 => pieces.push(std::mem::take(&mut piece)),
            None => piece.clear(),
        }
    }
    if piece.len() >= 2 {
        pieces.push(piece);
    }
    pieces
}

/// Liang–Barsky: the part of segment a–b inside `[u0, u1, v0, v1]`, with
/// whether each end was cut.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    [u0, u1, v0, v1]: [f64; 4],
) -> Option<((f64, f64), (f64, f64), bool, bool)> {
    let (du, dv) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-du, a.0 - u0),
        (du, u1 - a.0),
        (-dv, a.1 - v0),
        (dv, v1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else if p < 0.0 {
            t0 = t0.max(q / p);
        } else {
            t1 = t1.min(q / p);
        }
    }
    (t0 <= t1).then(|| {
        (
            (a.0 + t0 * du, a.1 + t0 * dv),
            (a.0 + t1 * du, a.1 + t1 * dv),
            t0 > 0.0,
            t1 < 1.0,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_are_clipped_to_the_plot_box() {
        let (x, y) = (
            Axis::new(0.0, 1.0, false).unwrap(),
            Axis::new(1.0, 100.0, true).unwrap(),
        );
        let pieces = clip_run(
            &[(-1.0, 10.0), (0.5, 10.0), (0.5, 1000.0), (0.7, 1000.0)],
            &x,
            &y,
        );
        assert_eq!(pieces.len(), 1);
        let p = &pieces[0];
        assert_eq!(p.len(), 3);
        assert!((p[0].0 - 0.0).abs() < 1e-12 && (p[0].1 - 10.0).abs() < 1e-9);
        assert!((p[2].0 - 0.5).abs() < 1e-12 && (p[2].1 - 100.0).abs() < 1e-9);
        assert!(clip_run(&[(2.0, 10.0), (3.0, 10.0)], &x, &y).is_empty());
    }
}
