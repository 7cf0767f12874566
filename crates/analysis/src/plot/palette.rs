//! Colours shared by every figure, so that all phase diagrams match.
//!
//! Categories and lines use the Okabe–Ito palette (Okabe & Ito 2008), which
//! stays distinguishable under the common forms of colour blindness; numbers
//! use viridis.

use plotters::prelude::*;

/// Okabe–Ito colours by name.
const BLUE: RGBColor = RGBColor(0, 114, 178);
const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
const BLUISH_GREEN: RGBColor = RGBColor(0, 158, 115);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const REDDISH_PURPLE: RGBColor = RGBColor(204, 121, 167);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const YELLOW: RGBColor = RGBColor(240, 228, 66);

/// A cell with no result.
pub(crate) const MISSING: RGBColor = RGBColor(255, 255, 255);
/// A diverged run: dark red, apart from every category and viridis colour.
pub(crate) const DIVERGED: RGBColor = RGBColor(120, 0, 0);
/// A failed run.
pub(crate) const FAILED: RGBColor = RGBColor(150, 150, 150);
/// Outline of legend swatches and the colorbar.
pub(crate) const OUTLINE: RGBColor = RGBColor(60, 60, 60);

/// The phases of Prop. 2 / Fig. 3: correct learning (Ia: also in mean square;
/// Ib: in probability only) in two blues, II (w → −u) green, III (collapse to
/// the low-rank saddle) orange, IV (unstable) reddish purple.
const PHASES: [(&str, RGBColor); 5] = [
    ("Ia", BLUE),
    ("Ib", SKY_BLUE),
    ("II", BLUISH_GREEN),
    ("III", ORANGE),
    ("IV", REDDISH_PURPLE),
];

/// Colours for categories that are not phases, in order of use.
/// (Okabe–Ito first, then distinct extras; black last, as contour halos are black.)
const OTHER_CATEGORIES: [RGBColor; 14] = [
    BLUE,
    ORANGE,
    BLUISH_GREEN,
    REDDISH_PURPLE,
    SKY_BLUE,
    VERMILLION,
    YELLOW,
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(31, 31, 120),
    RGBColor(247, 182, 210),
    RGBColor(120, 200, 120),
    RGBColor(0, 0, 0),
];

/// Contour lines: bright colours drawn over a black halo, visible on viridis
/// and on every category colour.
pub(crate) const CONTOURS: [RGBColor; 5] = [
    RGBColor(255, 40, 40),
    RGBColor(255, 255, 255),
    RGBColor(255, 0, 255),
    RGBColor(0, 230, 255),
    ORANGE,
];

/// Dashed curves: drawn over a white halo.
pub(crate) const CURVES: [RGBColor; 5] = [
    RGBColor(0, 0, 0),
    VERMILLION,
    BLUE,
    REDDISH_PURPLE,
    BLUISH_GREEN,
];

/// Thick line-plot series.
pub(crate) const SERIES: [RGBColor; 7] = [
    BLUE,
    VERMILLION,
    BLUISH_GREEN,
    REDDISH_PURPLE,
    ORANGE,
    SKY_BLUE,
    RGBColor(0, 0, 0),
];

/// Thin background series (drawn with [`THIN_ALPHA`]).
pub(crate) const THIN: RGBColor = RGBColor(60, 170, 90);
pub(crate) const THIN_ALPHA: f64 = 0.3;

/// Viridis at `t` in 0..=1 (clamped; NaN gives the low end).
pub(crate) fn viridis(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    ViridisRGB::get_color(t)
}

/// One colour per category, in the given order: phases keep their fixed
/// colour, other categories take the first colours no phase present uses.
pub(crate) fn category_colours(categories: &[String]) -> Vec<RGBColor> {
    let fixed = |c: &str| {
        PHASES
            .iter()
            .find(|(name, _)| *name == c)
            .map(|(_, col)| *col)
    };
    let taken: Vec<RGBColor> = categories.iter().filter_map(|c| fixed(c)).collect();
    let mut free = OTHER_CATEGORIES
        .iter()
        .filter(|c| !taken.contains(c))
        .cycle();
    categories
        .iter()
        .map(|c| fixed(c).unwrap_or_else(|| *free.next().unwrap_or(&FAILED)))
        .collect()
}

/// The `i`-th colour of `palette`, cycling.
pub(crate) fn nth(palette: &[RGBColor], i: usize) -> RGBColor {
    palette[i % palette.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn phases_keep_their_colour_whatever_else_is_present() {
        let a = category_colours(&names(&["II", "IV"]));
        let b = category_colours(&names(&["Ia", "Ib", "II", "III", "IV"]));
        assert_eq!(a[0], b[2]);
        assert_eq!(a[1], b[4]);
    }

    #[test]
    fn all_categories_get_distinct_colours_and_avoid_special_cells() {
        let c = category_colours(&names(&["Ia", "Ib", "II", "III", "IV", "x", "y", "z"]));
        for (i, a) in c.iter().enumerate() {
            assert!(![MISSING, DIVERGED, FAILED].contains(a));
            assert!(c[i + 1..].iter().all(|b| b != a), "{c:?}");
        }
    }

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(254, 232, 37));
        assert_eq!(viridis(f64::NAN), viridis(-3.0));
    }
}
