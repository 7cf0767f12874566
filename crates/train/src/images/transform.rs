//! From bytes to the `f32` data of an input tensor: per-channel
//! normalisation, and the random crop and horizontal flip of augmentation.

use super::ImageSet;
use crate::rng::Rng;
use rand::RngExt;

// ---------------------------------------------------------- normalisation

/// Per-channel mean and standard deviation of a set's pixels in [0, 1] units
/// (pixel/255). The standard deviation is the population one (divide by the
/// pixel count). A constant channel (a blue plane that is 0 everywhere, an
/// all-white folder) gets std 1, not the 0 that [`batch`] would divide by
/// (its inputs are then p/255 − mean: 0 on the training set); an empty set
/// gets mean 0 and std 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Exact integer sums of p and p², then mean and variance in f64.
    pub fn of(set: &ImageSet) -> Self {
        let plane = set.height * set.width;
        let mut sum = vec![0u64; set.channels];
        let mut squares = vec![0u64; set.channels];
        if plane > 0 {
            for image in set.images.chunks_exact(set.pixels()) {
                for (c, pixels) in image.chunks_exact(plane).enumerate() {
                    let (s, q) = pixels.iter().fold((0u64, 0u64), |(s, q), &p| {
                        (s + p as u64, q + p as u64 * p as u64)
                    });
                    sum[c] += s;
                    squares[c] += q;
                }
            }
        }
        let count = (set.len() * plane) as u128;
        if count == 0 {
            return Normalization {
                mean: vec![0.0; set.channels],
                std: vec![1.0; set.channels],
            };
        }
        let (n, scale) = (count as f64, 255.0 * 255.0);
        let mean = sum.iter().map(|&s| (s as f64 / n / 255.0) as f32).collect();
        let std = sum
            .iter()
            .zip(&squares)
            .map(|(&s, &q)| {
                // n·Σp² − (Σp)² ≥ 0 exactly, so no cancellation below zero.
                let spread = count * q as u128 - s as u128 * s as u128;
                if spread == 0 {
                    1.0
                } else {
                    (spread as f64 / (n * n * scale)).sqrt() as f32
                }
            })
            .collect();
        Normalization { mean, std }
    }

    /// (p/255 − mean[c]) / std[c] for every byte p.
    fn table(&self, c: usize) -> [f32; 256] {
        let (mean, std) = (self.mean[c] as f64, self.std[c] as f64);
        std::array::from_fn(|p| ((p as f64 / 255.0 - mean) / std) as f32)
    }
}

// ------------------------------------------------------------ augmentation

/// Random crop with `padding` zero pixels on each side (pad in raw pixel
/// space, value 0, then crop back to H×W at a uniformly random offset in
/// 0..=2·padding per axis) and a horizontal flip with probability ½ when
/// `flip`. As torchvision's RandomCrop(padding=4) + RandomHorizontalFlip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub padding: usize,
    pub flip: bool,
}

/// Where one image lands: the crop's offset in the padded image and the flip.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Placement {
    dy: usize,
    dx: usize,
    flip: bool,
}

impl Placement {
    /// Draws, in this order: row offset, column offset (each only when
    /// padding > 0), flip (only when `augment.flip`).
    fn draw(augment: Augment, r: &mut Rng) -> Self {
        let mut offset = || match augment.padding {
            0 => 0,
            p => r.random_range(0..=2 * p),
        };
        let (dy, dx) = (offset(), offset());
        let flip = augment.flip && r.random_bool(0.5);
        Placement { dy, dx, flip }
    }
}

/// One channel of one image, padded, cropped and flipped, through `table`
/// into `out` (H×W). Padding pixels are byte 0, i.e. `table[0]`.
fn place(src: &[u8], out: &mut [f32], width: usize, pad: usize, at: Placement, table: &[f32; 256]) {
    let height = src.len() / width;
    let zero = table[0];
    let w = width as isize;
    // Source column of output column x: x + shift, or w − 1 − x + shift flipped.
    let shift = at.dx as isize - pad as isize;
    let (lo, hi) = if at.flip {
        (shift.clamp(0, w), (w + shift).clamp(0, w))
    } else {
        ((-shift).clamp(0, w), (w - shift).clamp(0, w))
    };
    for (y, row) in out.chunks_exact_mut(width).enumerate() {
        let sy = (y + at.dy).wrapping_sub(pad);
        if sy >= height || lo >= hi {
            row.fill(zero);
            continue;
        }
        let src_row = &src[sy * width..(sy + 1) * width];
        let (lo, hi) = (lo as usize, hi as usize);
        row[..lo].fill(zero);
        row[hi..].fill(zero);
        if at.flip {
            let from = (w - hi as isize + shift) as usize;
            let to = (w - lo as isize + shift) as usize;
            for (o, &p) in row[lo..hi].iter_mut().zip(src_row[from..to].iter().rev()) {
                *o = table[p as usize];
            }
        } else {
            let from = (lo as isize + shift) as usize;
            for (o, &p) in row[lo..hi].iter_mut().zip(&src_row[from..]) {
                *o = table[p as usize];
            }
        }
    }
}

/// The f32 input tensor data for images `indices` of `set`, N × C × H × W
/// row-major, each pixel (p/255 − mean[c]) / std[c]; augmented with draws
/// from `rng` when `augment` is Some (per image: row offset, column offset,
/// flip).
pub fn batch(
    set: &ImageSet,
    indices: &[usize],
    norm: &Normalization,
    augment: Option<(Augment, &mut Rng)>,
) -> Vec<f32> {
    assert!(
        norm.mean.len() == set.channels && norm.std.len() == set.channels,
        "normalisation has {} means and {} stds for {} channels",
        norm.mean.len(),
        norm.std.len(),
        set.channels
    );
    let (pixels, plane) = (set.pixels(), set.height * set.width);
    let mut out = vec![0f32; indices.len() * pixels];
    if pixels == 0 {
        return out;
    }
    let tables: Vec<[f32; 256]> = (0..set.channels).map(|c| norm.table(c)).collect();
    let mut augment = augment;
    for (dst, &i) in out.chunks_exact_mut(pixels).zip(indices) {
        let image = set.image(i);
        let channels = dst.chunks_exact_mut(plane).zip(image.chunks_exact(plane));
        match &mut augment {
            None => {
                for ((dst, src), table) in channels.zip(&tables) {
                    for (o, &p) in dst.iter_mut().zip(src) {
                        *o = table[p as usize];
                    }
                }
            }
            Some((aug, r)) => {
                let at = Placement::draw(*aug, r);
                for ((dst, src), table) in channels.zip(&tables) {
                    place(src, dst, set.width, aug.padding, at, table);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::testing::small;
    use crate::rng::{Stream, rng};

    /// 2 images, 2 channels of 1×2: channel 0 is {0, 255}, channel 1 is
    /// {0, 51, 102, 153} (0, .2, .4, .6).
    fn tiny() -> ImageSet {
        ImageSet {
            channels: 2,
            height: 1,
            width: 2,
            classes: 2,
            images: vec![0, 255, 0, 51, 255, 0, 102, 153],
            labels: vec![0, 1],
        }
    }

    #[test]
    fn normalization_of_a_tiny_set() {
        let n = Normalization::of(&tiny());
        assert!(
            (n.mean[0] - 0.5).abs() < 1e-7 && (n.std[0] - 0.5).abs() < 1e-7,
            "{n:?}"
        );
        assert!((n.mean[1] - 0.3).abs() < 1e-7, "{n:?}");
        assert!((n.std[1] - 0.05f32.sqrt()).abs() < 1e-7, "{n:?}");
        let b = batch(&tiny(), &[1, 0], &n, None);
        assert_eq!(b.len(), 8);
        assert!(
            (b[0] - 1.0).abs() < 1e-6 && (b[1] + 1.0).abs() < 1e-6,
            "{b:?}"
        );
        assert!((b[3] - (0.6 - 0.3) / 0.05f32.sqrt()).abs() < 1e-5, "{b:?}");
    }

    #[test]
    fn a_constant_channel_is_centred_not_divided_by_zero() {
        // Channel 0 varies, channel 1 is 200 everywhere.
        let set = ImageSet {
            channels: 2,
            height: 1,
            width: 2,
            classes: 2,
            images: vec![0, 255, 200, 200, 255, 0, 200, 200],
            labels: vec![0, 1],
        };
        let n = Normalization::of(&set);
        assert_eq!(n.std[1], 1.0, "{n:?}");
        assert!((n.mean[1] - 200.0 / 255.0).abs() < 1e-7, "{n:?}");
        let b = batch(&set, &[0, 1], &n, None);
        assert!(b.iter().all(|v| v.is_finite()), "{b:?}");
        assert!(b[2].abs() < 1e-6 && b[7].abs() < 1e-6, "{b:?}");
    }

    #[test]
    fn augment_without_padding_or_flip_is_the_plain_batch() {
        let (set, indices) = (small(), [2, 0, 1, 2]);
        let norm = Normalization::of(&set);
        let plain = batch(&set, &indices, &norm, None);
        let aug = Augment {
            padding: 0,
            flip: false,
        };
        let mut r = rng(3, Stream::Augment);
        assert_eq!(batch(&set, &indices, &norm, Some((aug, &mut r))), plain);
    }

    #[test]
    fn a_flip_mirrors_every_row() {
        let set = small();
        let norm = Normalization::of(&set);
        let plain = batch(&set, &[1], &norm, None);
        let table = norm.table(0);
        let mut out = vec![0.0; 20];
        let at = Placement {
            dy: 0,
            dx: 0,
            flip: true,
        };
        place(&set.image(1)[..20], &mut out, 5, 0, at, &table);
        for y in 0..4 {
            for x in 0..5 {
                assert_eq!(out[y * 5 + x], plain[y * 5 + 4 - x]);
            }
        }
        // With flip on, each image comes out plain or mirrored, both seen.
        let aug = Augment {
            padding: 0,
            flip: true,
        };
        let mut r = rng(5, Stream::Augment);
        let indices = vec![1; 64];
        let flipped = batch(&set, &indices, &norm, Some((aug, &mut r)));
        let mirrored: Vec<f32> = (0..60).map(|k| plain[k - k % 5 + 4 - k % 5]).collect();
        let mut seen = [0, 0];
        for image in flipped.chunks_exact(60) {
            match image {
                i if i == &plain[..] => seen[0] += 1,
                i if i == &mirrored[..] => seen[1] += 1,
                _ => panic!("neither plain nor mirrored: {image:?}"),
            }
        }
        assert!(seen[0] > 10 && seen[1] > 10, "{seen:?}");
    }

    #[test]
    fn extreme_crops_shift_in_zero_padding() {
        let set = small();
        let norm = Normalization::of(&set);
        let plain = batch(&set, &[0], &norm, None);
        let (pad, w) = (2, 5);
        for c in 0..3 {
            let table = norm.table(c);
            let zero = -norm.mean[c] / norm.std[c];
            assert!((table[0] - zero).abs() < 1e-6);
            let src = &set.image(0)[c * 20..(c + 1) * 20];
            let expect = |y: isize, x: isize| -> f32 {
                if (0..4).contains(&y) && (0..5).contains(&x) {
                    plain[c * 20 + y as usize * w + x as usize]
                } else {
                    table[0]
                }
            };
            for (dy, dx, flip) in [
                (0, 0, false),
                (4, 4, false),
                (0, 4, true),
                (4, 0, true),
                (1, 3, true),
            ] {
                let mut out = vec![f32::NAN; 20];
                place(src, &mut out, w, pad, Placement { dy, dx, flip }, &table);
                for y in 0..4 {
                    for x in 0..5 {
                        let sy = (y + dy) as isize - pad as isize;
                        let xx = if flip { w - 1 - x } else { x };
                        let sx = (xx + dx) as isize - pad as isize;
                        assert_eq!(
                            out[y * w + x],
                            expect(sy, sx),
                            "c{c} {dy},{dx},{flip} at {y},{x}"
                        );
                    }
                }
            }
            // Offset (0, 0): the top two rows and left two columns are padding.
            let mut out = vec![0.0; 20];
            place(
                src,
                &mut out,
                w,
                pad,
                Placement {
                    dy: 0,
                    dx: 0,
                    flip: false,
                },
                &table,
            );
            assert!(out[..10].iter().all(|&v| v == table[0]));
            assert!((0..4).all(|y| out[y * 5] == table[0] && out[y * 5 + 1] == table[0]));
        }
        let aug = Augment {
            padding: 4,
            flip: true,
        };
        let indices = [0, 1, 2, 0, 1, 2, 0];
        let a = batch(
            &set,
            &indices,
            &norm,
            Some((aug, &mut rng(9, Stream::Augment))),
        );
        let b = batch(
            &set,
            &indices,
            &norm,
            Some((aug, &mut rng(9, Stream::Augment))),
        );
        assert_eq!(a.len(), 7 * 60);
        assert_eq!(a, b);
        let c = batch(
            &set,
            &indices,
            &norm,
            Some((aug, &mut rng(10, Stream::Augment))),
        );
        assert_ne!(a, c);
    }
}
