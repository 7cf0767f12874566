//! One plot axis, linear or log10: its range, tick positions and tick labels,
//! and the edges of heatmap cells around their centres.

use std::ops::Range;
use std::sync::Arc;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

use super::PlotError;

/// A linear or log10 axis over `lo..hi` in data units, usable as a plotters
/// coordinate. Ticks: 1-2-5 steps on a linear axis; whole decades (minor
/// ticks at 2..9) on a log axis spanning two decades or more, 1-2-5 within
/// narrower log ranges; on a categorical axis, one named tick per category.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    /// Names of the categories at 0, 1, …, n−1 (a categorical axis).
    categories: Option<Arc<[String]>>,
    /// The data's own values, where they are the ticks (a coarse grid).
    values: Option<Arc<[f64]>>,
    /// Ticks stay inside this span (a heatmap's first and last cell
    /// centres: no tick in the half cell beyond the data).
    span: Option<(f64, f64)>,
}

impl Axis {
    /// An axis over `lo..hi`; an empty range (lo == hi) is widened around it.
    pub fn new(lo: f64, hi: f64, log: bool) -> Result<Self, PlotError> {
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) || (log && lo <= 0.0) {
            let kind = if log { "log " } else { "" };
            return Err(PlotError::Input(format!(
                "invalid {kind}axis range {lo}..{hi}"
            )));
        }
        let (lo, hi) = match (lo == hi, log) {
            (false, _) => (lo, hi),
            (true, true) => (lo / 10f64.sqrt(), hi * 10f64.sqrt()),
            (true, false) if lo == 0.0 => (-0.5, 0.5),
            (true, false) => (lo - 0.1 * lo.abs(), hi + 0.1 * hi.abs()),
        };
        Ok(Self {
            lo,
            hi,
            log,
            categories: None,
            values: None,
            span: None,
        })
    }

    /// A heatmap axis over `lo..hi` (the outer cell edges) whose cells are
    /// centred at `centres`: ticks at the centres themselves on a coarse
    /// grid (at most [`TICKS`] of them), else round ticks between the first
    /// and the last centre. Either way no tick lies outside the data.
    pub fn over_cells(lo: f64, hi: f64, log: bool, centres: &[f64]) -> Result<Self, PlotError> {
        let axis = Self::new(lo, hi, log)?;
        let (first, last) = match (centres.first(), centres.last()) {
            (Some(&a), Some(&b)) => (a, b),
            _ => return Ok(axis),
        };
        // Ticked at the values themselves when they are few and roughly
        // evenly spaced in the axis' scale (uneven ones, [0.01, 0.5, 1.2,
        // 1.5, 50] on a linear axis, would print on top of each other).
        let u: Vec<f64> = centres.iter().map(|&c| to_scale(c, log)).collect();
        let gaps: Vec<f64> = u.windows(2).map(|w| w[1] - w[0]).collect();
        let even = gaps.is_empty() || {
            let mean = (u[u.len() - 1] - u[0]) / gaps.len() as f64;
            gaps.iter().all(|g| *g >= 0.4 * mean)
        };
        if centres.len() <= TICKS && even {
            return Ok(Self {
                values: Some(centres.into()),
                ..axis
            });
        }
        Ok(Self {
            span: Some((first, last)),
            ..axis
        })
    }

    /// A linear axis with the category `names[i]` at `i`, from −0.5 to n − 0.5.
    pub fn categorical(names: &[String]) -> Result<Self, PlotError> {
        if names.is_empty() {
            return Err(PlotError::Input(
                "a categorical axis without categories".into(),
            ));
        }
        Ok(Self {
            categories: Some(names.into()),
            ..Self::new(-0.5, names.len() as f64 - 0.5, false)?
        })
    }

    /// `v` in the axis' own scale: log10(v) on a log axis, v otherwise.
    pub fn to_scale(&self, v: f64) -> f64 {
        to_scale(v, self.log)
    }

    /// Inverse of [`Axis::to_scale`].
    pub fn from_scale(&self, u: f64) -> f64 {
        from_scale(u, self.log)
    }

    /// The range in data units.
    pub fn bounds(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// Major tick positions, at most `max` (at least 2 where the range allows).
    pub fn major_ticks(&self, max: usize) -> Vec<f64> {
        if let Some(names) = &self.categories {
            // Every category is named: a label cannot be inferred from its
            // neighbours as a number can.
            return (0..names.len()).map(|i| i as f64).collect();
        }
        if let Some(values) = &self.values {
            return values.to_vec();
        }
        let ticks = self.round_ticks(max.max(3));
        match self.span {
            Some((first, last)) => {
                let tol = 1e-9 * (self.hi - self.lo).abs();
                ticks
                    .into_iter()
                    .filter(|t| *t >= first - tol && *t <= last + tol)
                    .collect()
            }
            None => ticks,
        }
    }

    /// 1-2-5 or decade ticks over the whole range, at most `max`.
    fn round_ticks(&self, max: usize) -> Vec<f64> {
        if self.decade_mode() {
            let d = self.decades();
            let stride = d.len().div_ceil(max).max(1);
            return d.iter().step_by(stride).map(|&d| 10f64.powi(d)).collect();
        }
        if self.log {
            for mantissas in [
                &[1.0, 2.0, 5.0][..],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            ] {
                let ticks = self.decade_multiples(mantissas);
                if ticks.len() >= 3 && ticks.len() <= max {
                    return ticks;
                }
            }
        }
        linear_ticks(self.lo, self.hi, max)
    }

    /// Minor tick positions on a log axis with decade major ticks: 2..9 times
    /// each decade, or the decades skipped by thinned major ticks. None otherwise.
    pub fn minor_ticks(&self, max: usize) -> Vec<f64> {
        if !self.decade_mode() {
            return vec![];
        }
        let major = self.round_ticks(max.max(3));
        let inside = |v: &f64| {
            self.span
                .is_none_or(|(first, last)| *v >= first * (1.0 - 1e-9) && *v <= last * (1.0 + 1e-9))
        };
        let minor: Vec<f64> = if major.len() == self.decades().len() {
            self.decade_multiples(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        } else {
            let skipped = self.decades().into_iter().map(|d| 10f64.powi(d));
            skipped.filter(|v| !major.contains(v)).collect()
        };
        minor.into_iter().filter(inside).collect()
    }

    /// Log axis labelled at whole decades: three or more of them in range, or
    /// too many 1-2-5 ticks to label.
    fn decade_mode(&self) -> bool {
        self.values.is_none()
            && self.log
            && (self.decades().len() >= 3 || self.decade_multiples(&[1.0, 2.0, 5.0]).len() > 9)
    }

    /// Exponents d with 10^d inside the range.
    fn decades(&self) -> Vec<i32> {
        let (slo, shi) = (self.lo.log10(), self.hi.log10());
        ((slo - 1e-9).ceil() as i32..=(shi + 1e-9).floor() as i32).collect()
    }

    /// Values m·10^d inside the range, for every decade d and mantissa m.
    fn decade_multiples(&self, mantissas: &[f64]) -> Vec<f64> {
        let (d0, d1) = (
            self.lo.log10().floor() as i32,
            self.hi.log10().ceil() as i32,
        );
        let tol = 1e-9 * (self.hi - self.lo);
        (d0..=d1)
            .flat_map(|d| mantissas.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| *v >= self.lo - tol && *v <= self.hi + tol)
            .collect()
    }

    /// Tick label: 10ᵏ for decades on a log axis, otherwise a plain (or ×10ᵏ)
    /// number with the decimals that the tick spacing needs.
    pub fn label(&self, v: f64) -> String {
        self.label_among(v, TICKS)
    }

    /// [`Axis::label`] for ticks placed by `major_ticks(max)`: the decimals
    /// follow the spacing of those ticks (a colorbar of 6 ticks at 0.025
    /// steps prints 0.025, not 0.03).
    pub fn label_among(&self, v: f64, max: usize) -> String {
        if let Some(names) = &self.categories {
            let i = v.round();
            return match names.get(i as usize) {
                Some(name) if i >= 0.0 => name.clone(),
                _ => String::new(),
            };
        }
        if self.decade_mode() {
            let k = v.log10().round();
            if (v.log10() - k).abs() < 1e-9 {
                return format!("10{}", superscript(k as i32));
            }
        }
        let step = if self.log {
            v.abs()
        } else if let Some(values) = &self.values {
            // The finest gap between grid values sets the decimals, so that
            // 0.0125 and 0.025 both print in full.
            values
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .filter(|d| *d > 0.0)
                .fold(f64::INFINITY, f64::min)
        } else {
            let t = self.major_ticks(max);
            if t.len() >= 2 {
                t[1] - t[0]
            } else {
                (self.hi - self.lo).abs()
            }
        };
        format_number(v, step)
    }
}

/// Most major ticks per axis; the mesh is asked for this many labels.
pub(crate) const TICKS: usize = 8;

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (slo, shi) = (self.to_scale(self.lo), self.to_scale(self.hi));
        let t = ((self.to_scale(*value) - slo) / (shi - slo)).clamp(-4.0, 5.0);
        let t = if t.is_nan() { 0.0 } else { t };
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.bold_points().min(TICKS);
        let mut ticks = self.major_ticks(max);
        if hint.weight().allow_light_points() {
            ticks.extend(self.minor_ticks(max));
        }
        ticks
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

pub(crate) fn to_scale(v: f64, log: bool) -> f64 {
    if log { v.log10() } else { v }
}

pub(crate) fn from_scale(u: f64, log: bool) -> f64 {
    if log { 10f64.powf(u) } else { u }
}

/// Edges of the cells centred at `centres` (ascending): halfway between
/// neighbours in the axis' scale (geometric midpoints on a log axis), the outer
/// cells extended symmetrically; a lone centre gets a cell of width 1 (a factor
/// of 10 on a log axis). Returns `centres.len() + 1` edges (none for no centre).
pub(crate) fn cell_edges(centres: &[f64], log: bool) -> Vec<f64> {
    let u: Vec<f64> = centres.iter().map(|&c| to_scale(c, log)).collect();
    let n = u.len();
    match n {
        0 => vec![],
        1 => vec![from_scale(u[0] - 0.5, log), from_scale(u[0] + 0.5, log)],
        _ => {
            let mut edges = Vec::with_capacity(n + 1);
            edges.push(u[0] - (u[1] - u[0]) / 2.0);
            edges.extend(u.windows(2).map(|w| (w[0] + w[1]) / 2.0));
            edges.push(u[n - 1] + (u[n - 1] - u[n - 2]) / 2.0);
            edges.into_iter().map(|e| from_scale(e, log)).collect()
        }
    }
}

/// Ticks at 1-2-5 multiples inside lo..hi, at most `max` of them.
fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span > 0.0) {
        return vec![lo];
    }
    let raw = span / max.clamp(2, 10) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    if last.saturating_sub(first) > 100 {
        return vec![lo, hi]; // step underflowed against huge magnitudes
    }
    (first..=last)
        .map(|k| if k == 0 { 0.0 } else { k as f64 * step })
        .collect()
}

/// `v` with the decimals that a resolution of `step` needs; ×10ᵏ notation for
/// magnitudes below 10⁻³ or from 10⁵ on.
pub(crate) fn format_number(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let k = a.log10().floor() as i32;
        let mantissa = v / 10f64.powi(k);
        let digits = ((mantissa.abs() * 1e3).round() / 1e3).to_string();
        let sign = if v < 0.0 { "−" } else { "" };
        return if digits == "1" {
            format!("{sign}10{}", superscript(k))
        } else {
            format!("{sign}{digits}×10{}", superscript(k))
        };
    }
    let step = if step.is_finite() && step > 0.0 {
        step
    } else {
        a
    };
    let exact = |d: i32| {
        let scaled = step * 10f64.powi(d);
        (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
    };
    let decimals = (0..6).find(|&d| exact(d)).unwrap_or(6) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    s.replace('-', "−")
}

/// `k` in Unicode superscript digits, e.g. -3 → "⁻³".
pub fn superscript(k: i32) -> String {
    k.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹']
                [d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs().max(1.0))
    }

    #[test]
    fn linear_cell_edges_lie_halfway_and_outer_cells_extend_symmetrically() {
        let e = cell_edges(&[0.0, 1.0, 3.0], false);
        assert!(close(&e, &[-0.5, 0.5, 2.0, 4.0]), "{e:?}");
    }

    #[test]
    fn log_cell_edges_are_geometric_midpoints() {
        let e = cell_edges(&[0.01, 0.1, 1.0], true);
        let r = 10f64.sqrt();
        assert!(close(&e, &[0.01 / r, 0.01 * r, 0.1 * r, 1.0 * r]), "{e:?}");
    }

    #[test]
    fn lone_centre_gets_unit_width_or_one_decade() {
        assert!(close(&cell_edges(&[2.0], false), &[1.5, 2.5]));
        let e = cell_edges(&[1.0], true);
        assert!(close(&e, &[1.0 / 10f64.sqrt(), 10f64.sqrt()]), "{e:?}");
        assert!((e[1] / e[0] - 10.0).abs() < 1e-12);
        assert!(cell_edges(&[], false).is_empty());
    }

    #[test]
    fn log_axis_over_decades_ticks_at_powers_of_ten_with_superscript_labels() {
        let a = Axis::new(1e-3, 10.0, true).unwrap();
        assert!(close(&a.major_ticks(10), &[1e-3, 1e-2, 1e-1, 1.0, 10.0]));
        assert_eq!(a.label(1e-3), "10⁻³");
        assert_eq!(a.label(10.0), "10¹");
        assert_eq!(a.minor_ticks(TICKS).len(), 4 * 8);
    }

    #[test]
    fn log_axis_over_many_decades_thins_its_ticks() {
        let a = Axis::new(1e-20, 1e20, true).unwrap();
        let t = a.major_ticks(8);
        assert!(t.len() <= 8 && t.len() >= 4, "{t:?}");
    }

    #[test]
    fn narrow_log_axis_ticks_at_one_two_five() {
        let a = Axis::new(0.15, 1.2, true).unwrap();
        assert!(close(&a.major_ticks(8), &[0.2, 0.5, 1.0]));
        assert_eq!(a.label(0.2), "0.2");
    }

    #[test]
    fn linear_ticks_use_round_steps() {
        let a = Axis::new(0.0, 1.0, false).unwrap();
        assert!(close(&a.major_ticks(6), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        assert_eq!(a.label(0.4), "0.4");
        assert_eq!(format_number(-0.25, 0.05), "−0.25");
        assert_eq!(format_number(2e-4, 1e-4), "2×10⁻⁴");
        assert_eq!(format_number(150.0, 50.0), "150");
        assert_eq!(format_number(0.75, 0.25), "0.75");
    }

    #[test]
    fn heatmap_axes_tick_at_a_coarse_grid_and_never_beyond_the_data() {
        // Three label-noise values: cells from −0.2 to 1.0, ticks at the
        // grid's own values (no −0.2, no 1.0).
        let centres = [0.0, 0.4, 0.8];
        let edges = cell_edges(&centres, false);
        let a = Axis::over_cells(edges[0], edges[3], false, &centres).unwrap();
        assert!(
            close(&a.major_ticks(TICKS), &centres),
            "{:?}",
            a.major_ticks(TICKS)
        );
        assert_eq!(a.label(0.4), "0.4");
        // A fine grid (Fig. 7's 20 learning rates): round ticks, none
        // outside the first and last centre.
        let lrs: Vec<f64> = (1..=20).map(|i| 0.0125 * i as f64).collect();
        let e = cell_edges(&lrs, false);
        let a = Axis::over_cells(e[0], e[20], false, &lrs).unwrap();
        let t = a.major_ticks(TICKS);
        assert!(t.len() >= 3, "{t:?}");
        assert!(
            t.iter().all(|v| *v >= 0.0125 - 1e-12 && *v <= 0.25 + 1e-12),
            "{t:?}"
        );
        assert!(!t.contains(&0.0), "{t:?}");
        // A coarse log grid labels each value with its own digits.
        let lrs = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6];
        let e = cell_edges(&lrs, true);
        let a = Axis::over_cells(e[0], e[6], true, &lrs).unwrap();
        assert!(close(&a.major_ticks(TICKS), &lrs));
        assert!(a.minor_ticks(TICKS).is_empty());
        let labels: Vec<String> = lrs.iter().map(|v| a.label(*v)).collect();
        assert_eq!(labels, ["0.05", "0.1", "0.2", "0.4", "0.8", "1.6"]);
        // Linear grid values with a fine step keep their decimals.
        let mus = [0.0125, 0.025, 0.0375];
        let e = cell_edges(&mus, false);
        let a = Axis::over_cells(e[0], e[3], false, &mus).unwrap();
        assert_eq!(a.label(0.0125), "0.0125");
        assert_eq!(a.label(0.025), "0.025");
        // Uneven values would collide: round ticks inside the data instead.
        let lrs = [0.01, 0.5, 1.2, 1.5, 50.0];
        let e = cell_edges(&lrs, false);
        let a = Axis::over_cells(e[0], e[5], false, &lrs).unwrap();
        let t = a.major_ticks(TICKS);
        assert!(
            !close(&t, &lrs) && t.iter().all(|v| *v >= 0.01 && *v <= 50.0),
            "{t:?}"
        );
    }

    #[test]
    fn empty_range_is_widened_and_bad_range_is_an_error() {
        let a = Axis::new(3.0, 3.0, false).unwrap();
        assert!(a.bounds().0 < 3.0 && a.bounds().1 > 3.0);
        assert!(Axis::new(0.0, 1.0, true).is_err());
        assert!(Axis::new(f64::NAN, 1.0, false).is_err());
        assert!(Axis::new(2.0, 1.0, false).is_err());
    }

    #[test]
    fn map_sends_range_ends_to_pixel_ends() {
        let a = Axis::new(0.1, 100.0, true).unwrap();
        assert_eq!(a.map(&0.1, (10, 310)), 10);
        assert_eq!(a.map(&100.0, (10, 310)), 310);
        assert_eq!(a.map(&1.0, (10, 310)), 110);
    }
}
