//! Marching squares: the level set of a gridded field as line segments, and
//! the joining of those segments into polylines for drawing.

use std::collections::HashMap;

use super::axis::{from_scale, to_scale};

/// Marching squares: segments of the level set of `values` (grid `[iy][ix]`)
/// in data coordinates (`xs`, `ys`), linear interpolation along cell edges in
/// the axis' own scale (log10 for a log axis).
///
/// A grid point counts as above the level when `value >= level`, so -inf is
/// below every level and +inf above; a square with a NaN corner has no data
/// and no segment. Where an edge joins an infinite value the crossing is put at
/// the edge's midpoint (there is nothing to interpolate). A saddle square (two
/// opposite corners above) is resolved by the mean of its corners; segments of
/// zero length (a corner exactly at the level) are dropped. Inconsistent
/// sizes, or a non-positive coordinate on a log axis, give no segments.
pub fn contour_segments(
    xs: &[f64],
    ys: &[f64],
    x_log: bool,
    y_log: bool,
    values: &[Vec<f64>],
    level: f64,
) -> Vec<((f64, f64), (f64, f64))> {
    let consistent = values.len() == ys.len() && values.iter().all(|row| row.len() == xs.len());
    let log_ok = |v: &[f64], log: bool| !log || v.iter().all(|&c| c > 0.0);
    if !consistent || !log_ok(xs, x_log) || !log_ok(ys, y_log) || level.is_nan() {
        return vec![];
    }
    let us: Vec<f64> = xs.iter().map(|&x| to_scale(x, x_log)).collect();
    let vs: Vec<f64> = ys.iter().map(|&y| to_scale(y, y_log)).collect();
    // Crossing on the edge between grid points a and b, always taken in the
    // direction of increasing index so neighbouring squares share it exactly.
    let point = |(ax, ay): (usize, usize), (bx, by): (usize, usize)| {
        let t = crossing(values[ay][ax], values[by][bx], level);
        if t == 0.0 {
            (xs[ax], ys[ay])
        } else if t == 1.0 {
            (xs[bx], ys[by])
        } else {
            let u = us[ax] + t * (us[bx] - us[ax]);
            let v = vs[ay] + t * (vs[by] - vs[ay]);
            (from_scale(u, x_log), from_scale(v, y_log))
        }
    };
    let mut segments = vec![];
    for iy in 0..ys.len().saturating_sub(1) {
        for ix in 0..xs.len().saturating_sub(1) {
            // Corners counter-clockwise from bottom-left; edge k joins corner
            // k and corner k+1 (mod 4).
            let corners = [(ix, iy), (ix + 1, iy), (ix + 1, iy + 1), (ix, iy + 1)];
            let vals = corners.map(|(x, y)| values[y][x]);
            if vals.iter().any(|v| v.is_nan()) {
                continue;
            }
            let above = vals.map(|v| v >= level);
            let edge = |k: usize| {
                let (a, b) = (corners[k], corners[(k + 1) % 4]);
                if a <= b { point(a, b) } else { point(b, a) }
            };
            let crossed: Vec<usize> = (0..4).filter(|&k| above[k] != above[(k + 1) % 4]).collect();
            match crossed.len() {
                2 => segments.push((edge(crossed[0]), edge(crossed[1]))),
                4 => {
                    // Saddle: cut off the two corners on the other side than
                    // the square's centre (a NaN mean, from +inf and -inf
                    // corners, counts as above).
                    let mean = vals.iter().sum::<f64>() / 4.0;
                    let centre_above = !(mean < level);
                    for k in (0..4).filter(|&k| above[k] != centre_above) {
                        segments.push((edge((k + 3) % 4), edge(k)));
                    }
                }
                _ => {}
            }
        }
    }
    // A corner exactly at the level can give a segment of zero length.
    segments.retain(|(a, b)| a != b);
    segments
}

/// Where along the edge from value `a` to value `b` the field crosses
/// `level`, as a fraction in 0..=1.
fn crossing(a: f64, b: f64, level: f64) -> f64 {
    if a == level {
        0.0
    } else if b == level {
        1.0
    } else if a.is_finite() && b.is_finite() {
        ((level - a) / (b - a)).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

/// Joins segments that share endpoints (bit-for-bit, as marching squares
/// produces them) into polylines, so that thick lines are drawn without gaps.
pub(crate) fn join_segments(segments: &[((f64, f64), (f64, f64))]) -> Vec<Vec<(f64, f64)>> {
    type Key = (u64, u64);
    let key = |p: (f64, f64)| (p.0.to_bits(), p.1.to_bits());
    let mut at: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, (a, b)) in segments.iter().enumerate() {
        at.entry(key(*a)).or_default().push(i);
        at.entry(key(*b)).or_default().push(i);
    }
    let mut used = vec![false; segments.len()];
    // Extends `line` from its last point through unused segments.
    let mut extend = |line: &mut Vec<(f64, f64)>, used: &mut Vec<bool>| {
        while let Some(&end) = line.last() {
            let next = at.get_mut(&key(end)).and_then(|ids| {
                let pos = ids.iter().position(|&i| !used[i])?;
                Some(ids.swap_remove(pos))
            });
            let Some(i) = next else { break };
            used[i] = true;
            let (a, b) = segments[i];
            line.push(if key(a) == key(end) { b } else { a });
        }
    };
    let mut lines = vec![];
    for i in 0..segments.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let mut line = vec![segments[i].0, segments[i].1];
        extend(&mut line, &mut used);
        line.reverse();
        extend(&mut line, &mut used);
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(xs: &[f64], ys: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<Vec<f64>> {
        ys.iter()
            .map(|&y| xs.iter().map(|&x| f(x, y)).collect())
            .collect()
    }

    fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect()
    }

    #[test]
    fn linear_field_segments_lie_on_the_zero_line_and_cover_its_whole_crossing() {
        let (xs, ys) = (linspace(-1.0, 1.0, 11), linspace(-1.0, 1.0, 7));
        let values = grid(&xs, &ys, |x, y| x - 2.0 * y);
        let segs = contour_segments(&xs, &ys, false, false, &values, 0.0);
        assert!(!segs.is_empty());
        for &(a, b) in &segs {
            for p in [a, b] {
                assert!((p.0 - 2.0 * p.1).abs() < 1e-12, "{p:?} is off x = 2y");
            }
        }
        // The line x = 2y crosses the grid from (-1, -0.5) to (1, 0.5): the
        // segments, projected on x, cover all of [-1, 1] without gaps.
        let mut spans: Vec<(f64, f64)> = segs
            .iter()
            .map(|(a, b)| (a.0.min(b.0), a.0.max(b.0)))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!((spans[0].0 + 1.0).abs() < 1e-12);
        let mut reach = spans[0].1;
        for s in &spans[1..] {
            assert!(s.0 <= reach + 1e-12, "gap before {s:?}");
            reach = reach.max(s.1);
        }
        assert!((reach - 1.0).abs() < 1e-12);
        assert_eq!(join_segments(&segs).len(), 1, "one connected line");
    }

    #[test]
    fn log_axes_interpolate_in_log10() {
        let (xs, ys) = (vec![1.0, 100.0], vec![1.0, 2.0]);
        let values = vec![vec![0.0, 2.0], vec![0.0, 2.0]]; // = log10(x)
        let segs = contour_segments(&xs, &ys, true, false, &values, 1.0);
        assert_eq!(segs.len(), 1);
        for p in [segs[0].0, segs[0].1] {
            assert!((p.0 - 10.0).abs() < 1e-12, "{p:?}");
        }
    }

    #[test]
    fn field_that_never_crosses_the_level_has_no_segments() {
        let (xs, ys) = (linspace(0.0, 1.0, 5), linspace(0.0, 1.0, 5));
        let values = grid(&xs, &ys, |x, y| 1.0 + x + y);
        assert!(contour_segments(&xs, &ys, false, false, &values, 0.0).is_empty());
        assert!(contour_segments(&xs, &ys, false, false, &values, 5.0).is_empty());
    }

    #[test]
    fn minus_infinity_counts_as_below_the_level() {
        let (xs, ys) = (vec![0.0, 1.0, 2.0], vec![0.0, 1.0]);
        let inf = f64::INFINITY;
        let values = vec![vec![-inf, 1.0, 1.0], vec![-inf, 1.0, 1.0]];
        let segs = contour_segments(&xs, &ys, false, false, &values, 0.0);
        assert_eq!(segs.len(), 1, "{segs:?}");
        for p in [segs[0].0, segs[0].1] {
            assert!(
                (p.0 - 0.5).abs() < 1e-12,
                "crossing at the edge midpoint: {p:?}"
            );
        }
        // All -inf: everything below, nothing drawn; all +inf: everything above.
        let low = vec![vec![-inf; 3]; 2];
        assert!(contour_segments(&xs, &ys, false, false, &low, -1e300).is_empty());
        let high = vec![vec![inf; 3]; 2];
        assert!(contour_segments(&xs, &ys, false, false, &high, 1e300).is_empty());
    }

    #[test]
    fn squares_with_nan_corners_are_skipped() {
        let (xs, ys) = (vec![0.0, 1.0, 2.0], vec![0.0, 1.0]);
        let values = vec![vec![f64::NAN, -1.0, 1.0], vec![f64::NAN, -1.0, 1.0]];
        let segs = contour_segments(&xs, &ys, false, false, &values, 0.0);
        assert_eq!(segs.len(), 1);
        assert!((segs[0].0.0 - 1.5).abs() < 1e-12);
    }

    #[test]
    fn saddle_square_gives_two_separate_segments() {
        let (xs, ys) = (vec![0.0, 1.0], vec![0.0, 1.0]);
        let values = vec![vec![1.0, -1.0], vec![-1.0, 1.0]];
        let segs = contour_segments(&xs, &ys, false, false, &values, 0.0);
        assert_eq!(segs.len(), 2);
        assert_eq!(join_segments(&segs).len(), 2);
    }

    #[test]
    fn mismatched_sizes_give_no_segments_instead_of_panicking() {
        let values = vec![vec![0.0, 1.0]];
        assert!(contour_segments(&[0.0, 1.0, 2.0], &[0.0], false, false, &values, 0.5).is_empty());
        assert!(contour_segments(&[], &[], false, false, &[], 0.5).is_empty());
        assert!(contour_segments(&[-1.0, 1.0], &[0.0], true, false, &values, 0.5).is_empty());
    }
}
