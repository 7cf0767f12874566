//! `--cells i..j`: a contiguous slice of a grid's cells, in the order of
//! `Experiment::cells()` (the last axis varies fastest), 0-based.
//!
//! `i..j` is half-open as in Rust: cells i, i+1, …, j−1 (j excluded), so
//! `0..50` and `50..100` split 100 cells into two tasks with no overlap.
//! `i..=j` includes j. `i..` runs to the end of the grid; `i` alone is one cell.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// A slice as written on the command line, before the grid size is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellSlice {
    pub start: usize,
    /// Exclusive end; `None` means the end of the grid.
    pub end: Option<usize>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SliceError {
    #[error("`{0}`: expected i..j (cells i to j−1, 0-based), i..=j, i.. or i, e.g. --cells 0..50")]
    Syntax(String),
    #[error("`{text}`: the slice is empty (j must be greater than i; i..j excludes j)")]
    Empty { text: String },
    #[error("--cells {slice}: the grid has only {total} cells (0..{total})")]
    OutOfRange { slice: CellSlice, total: usize },
}

impl FromStr for CellSlice {
    type Err = SliceError;

    fn from_str(text: &str) -> Result<Self, SliceError> {
        let syntax = || SliceError::Syntax(text.to_string());
        let number = |s: &str| -> Result<usize, SliceError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse().map_err(|_| syntax())
        };
        let slice = match text.split_once("..") {
            None => {
                let i = number(text)?;
                CellSlice {
                    start: i,
                    end: Some(i + 1),
                }
            }
            Some((i, rest)) => {
                let start = number(i)?;
                let end = if let Some(j) = rest.strip_prefix('=') {
                    Some(number(j)?.checked_add(1).ok_or_else(syntax)?)
                } else if rest.trim().is_empty() {
                    None
                } else {
                    Some(number(rest)?)
                };
                CellSlice { start, end }
            }
        };
        match slice.end {
            Some(end) if end <= slice.start => Err(SliceError::Empty {
                text: text.to_string(),
            }),
            _ => Ok(slice),
        }
    }
}

impl CellSlice {
    /// The indices of the slice in a grid of `total` cells. A slice that
    /// reaches past the end is an error, not silently cut: the grid is not
    /// the one the slice was computed for.
    pub fn range(self, total: usize) -> Result<Range<usize>, SliceError> {
        let end = self.end.unwrap_or(total);
        if end > total || self.start >= total {
            return Err(SliceError::OutOfRange { slice: self, total });
        }
        Ok(self.start..end)
    }
}

impl fmt::Display for CellSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}..{end}", self.start),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// Sorted indices as compact half-open ranges: `[0, 1, 2, 7]` → `0..3, 7..8`.
pub fn ranges_text(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut iter = indices.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start + 1;
        while iter.peek() == Some(&end) {
            iter.next();
            end += 1;
        }
        parts.push(format!("{start}..{end}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CellSlice, SliceError> {
        text.parse()
    }

    #[test]
    fn half_open_slice_excludes_its_end() {
        assert_eq!(parse("0..50").unwrap().range(200).unwrap(), 0..50);
        assert_eq!(parse("150..200").unwrap().range(200).unwrap(), 150..200);
    }

    #[test]
    fn inclusive_open_and_single_forms() {
        assert_eq!(parse("3..=5").unwrap().range(10).unwrap(), 3..6);
        assert_eq!(parse("7..").unwrap().range(10).unwrap(), 7..10);
        assert_eq!(parse("4").unwrap().range(10).unwrap(), 4..5);
        assert_eq!(parse(" 1 .. 2 ").unwrap().range(10).unwrap(), 1..2);
    }

    #[test]
    fn bad_syntax_is_an_error_that_shows_the_form() {
        for bad in [
            "",
            "..",
            "a..b",
            "1..b",
            "-1..3",
            "1...3",
            "1-3",
            "1..2..3",
            "1..=",
            "..5",
            "99999999999999999999999..1",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(matches!(err, SliceError::Syntax(_)), "{bad}: {err:?}");
            assert!(err.to_string().contains("expected i..j"), "{err}");
        }
    }

    #[test]
    fn empty_and_reversed_slices_are_rejected() {
        assert!(matches!(parse("5..5"), Err(SliceError::Empty { .. })));
        assert!(matches!(parse("5..2"), Err(SliceError::Empty { .. })));
    }

    #[test]
    fn slices_past_the_grid_are_rejected_not_cut() {
        let err = parse("190..210").unwrap().range(200).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--cells 190..210: the grid has only 200 cells (0..200)"
        );
        assert!(parse("200..").unwrap().range(200).is_err());
        assert!(parse("0..").unwrap().range(0).is_err());
    }

    #[test]
    fn indices_print_as_ranges() {
        assert_eq!(ranges_text(&[0, 1, 2, 7, 9, 10]), "0..3, 7..8, 9..11");
        assert_eq!(ranges_text(&[]), "");
    }
}
