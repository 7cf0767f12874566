//! Label noise (Fig. 1c, 9–12): labels replaced by a uniformly random class,
//! once (static) or every step (dynamic).

use crate::rng::{Rng, Stream, rng};
use rand::RngExt;

/// Static label noise: each training label is, independently with
/// probability `prob`, replaced once by a uniformly random class in
/// 0..classes (it may draw its own class, as in the paper); draws from
/// `rng(seed, Stream::StaticNoise)`. Returns how many labels changed value.
pub fn static_noise(labels: &mut [u8], classes: usize, prob: f64, seed: u64) -> usize {
    replace_labels(labels, classes, prob, &mut rng(seed, Stream::StaticNoise))
}

/// Dynamic label noise for one step: each label of the batch is replaced,
/// with probability `prob`, by a uniformly random class, drawing from `rng`.
pub fn dynamic_noise(labels: &mut [u8], classes: usize, prob: f64, rng: &mut Rng) {
    replace_labels(labels, classes, prob, rng);
}

/// Per label: a Bernoulli(prob) draw, then the class if it came up.
fn replace_labels(labels: &mut [u8], classes: usize, prob: f64, r: &mut Rng) -> usize {
    assert!(
        (1..=256).contains(&classes),
        "label noise over {classes} classes, expected 1..=256"
    );
    assert!(
        (0.0..=1.0).contains(&prob),
        "label noise probability {prob}, expected 0..=1"
    );
    let mut changed = 0;
    for label in labels {
        if r.random_bool(prob) {
            let class = r.random_range(0..classes) as u8;
            changed += usize::from(class != *label);
            *label = class;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_at;

    #[test]
    fn static_noise_changes_about_nine_tenths_at_prob_one() {
        let clean: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
        let mut labels = clean.clone();
        assert_eq!(static_noise(&mut labels, 10, 0.0, 1), 0);
        assert_eq!(labels, clean);
        let changed = static_noise(&mut labels, 10, 1.0, 1);
        // Binomial(10000, 0.9): mean 9000, sd 30.
        assert!((8800..=9200).contains(&changed), "{changed}");
        let differ = labels.iter().zip(&clean).filter(|(a, b)| a != b).count();
        assert_eq!(differ, changed);
        assert!(labels.iter().all(|&l| l < 10));
        let mut again = clean.clone();
        assert_eq!(static_noise(&mut again, 10, 1.0, 1), changed);
        assert_eq!(again, labels);
        let mut half = clean.clone();
        let changed = static_noise(&mut half, 10, 0.5, 2);
        // Binomial(10000, 0.45): mean 4500, sd 50.
        assert!((4300..=4700).contains(&changed), "{changed}");
    }

    #[test]
    fn dynamic_noise_changes_about_nine_tenths_at_prob_one() {
        let clean: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
        let mut labels = clean.clone();
        dynamic_noise(
            &mut labels,
            10,
            0.0,
            &mut rng_at(1, Stream::DynamicNoise, 0),
        );
        assert_eq!(labels, clean);
        dynamic_noise(
            &mut labels,
            10,
            1.0,
            &mut rng_at(1, Stream::DynamicNoise, 0),
        );
        let changed = labels.iter().zip(&clean).filter(|(a, b)| a != b).count();
        assert!((8800..=9200).contains(&changed), "{changed}");
        let mut again = clean.clone();
        dynamic_noise(&mut again, 10, 1.0, &mut rng_at(1, Stream::DynamicNoise, 0));
        assert_eq!(again, labels);
    }
}
