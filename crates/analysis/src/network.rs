//! The linearised SGD of a d → h → d net f(x) = W₂ σ(W₁x) at its saddle
//! W₁ = W₂ = 0 (σ(0) = 0; Eq. 48 for this net). Derivation: near 0,
//! σ(W₁x) ≈ σ′(0) W₁x and f = O(|W|²), so to first order the loss
//! gradient only sees the −y part of the residual. With the `mean` loss
//! L = (1/(S d)) Σ_s |f(x_s) − y_s|²,
//!
//!   ∂L/∂W₂ ≈ −c C W₁ᵀ,   ∂L/∂W₁ ≈ −c W₂ᵀ C,   C = (1/S) Σ_s y_s x_sᵀ,
//!
//! with c = 2σ′(0)/d (for `half_sum`, ½ Σ over outputs: c = σ′(0)). Hidden
//! unit j's state z_j = (a_j, b_j) ∈ ℝ^{2d}, a_j the j-th column of W₂ and b_j
//! the j-th row of W₁, then moves as
//!
//!   z_j ← M_t z_j,   M_t = I + λc [[0, C_t], [C_tᵀ, 0]],
//!
//! the same random matrix for every unit. The products of the M_t decide,
//! direction by direction, escape (positive Lyapunov exponent) or collapse
//! into the saddle (negative). At d = h = 1, C = χ = batch mean of xy and
//! M's eigenvectors (1, ±1) are fixed, so the exponents are E ln|1 ± λcχ|:
//! the u·w saddle's m± at λ₁ = cλ.
//!
//! C has rank ≤ S, so a step costs O(S d k) on k directions, not O(d² k).

use faer::Mat;

/// `q ← M q` for the 2d × k directions `q` (rows 0..d: the W₂ column part a,
/// rows d..2d: the W₁ row part b), given a minibatch `x`, `y` (`rows` × d,
/// row-major) and λc: a ← a + λc C b, b ← b + λc Cᵀ a, from the old a and b.
pub fn linearised_step(q: &mut Mat<f64>, x: &[f32], y: &[f32], rows: usize, d: usize, lrc: f64) {
    let k = q.ncols();
    let scale = lrc / rows as f64;
    let mut xb = vec![0.0f64; k];
    let mut ya = vec![0.0f64; k];
    let mut da = vec![0.0f64; d * k];
    let mut db = vec![0.0f64; d * k];
    for s in 0..rows {
        let (xs, ys) = (&x[s * d..(s + 1) * d], &y[s * d..(s + 1) * d]);
        for j in 0..k {
            let (mut p, mut r) = (0.0, 0.0);
            for i in 0..d {
                p += xs[i] as f64 * q[(d + i, j)];
                r += ys[i] as f64 * q[(i, j)];
            }
            xb[j] = p;
            ya[j] = r;
        }
        for i in 0..d {
            for j in 0..k {
                // (C b)_i = (1/S) Σ_s y_si (x_s · b); (Cᵀ a)_i = (1/S) Σ_s x_si (y_s · a).
                da[i * k + j] += ys[i] as f64 * xb[j];
                db[i * k + j] += xs[i] as f64 * ya[j];
            }
        }
    }
    for i in 0..d {
        for j in 0..k {
            q[(i, j)] += scale * da[i * k + j];
            q[(d + i, j)] += scale * db[i * k + j];
        }
    }
}

/// c of the linearisation: `2σ′(0)/d` for the `mean` loss, `σ′(0)` for
/// `half_sum`.
pub fn lr_factor(mean_loss: bool, dim: usize, slope_at_zero: f64) -> f64 {
    if mean_loss {
        2.0 * slope_at_zero / dim as f64
    } else {
        slope_at_zero
    }
}

/// The mean-square growth factor per step: the spectral radius of the map
/// Σ ↦ E[M Σ Mᵀ] on 2d × 2d second moments, with the expectation taken over
/// the given minibatches (common random numbers: a fixed linear map), by
/// power iteration. Above 1 the second moment of some direction grows:
/// the network's linear (mean-square) instability, which can hold while
/// every direction still converges in probability.
pub fn mean_square_rate(
    batches: &[(Vec<f32>, Vec<f32>, usize)],
    d: usize,
    lrc: f64,
    iterations: usize,
) -> f64 {
    let n = 2 * d;
    let mut sigma = Mat::<f64>::identity(n, n);
    let mut rate = 1.0;
    for _ in 0..iterations.max(1) {
        let mut next = Mat::<f64>::zeros(n, n);
        for (x, y, rows) in batches {
            // M Σ Mᵀ = M (M Σ)ᵀ since Σ is symmetric.
            let mut ms = sigma.clone();
            linearised_step(&mut ms, x, y, *rows, d, lrc);
            let mut t = ms.transpose().to_owned();
            linearised_step(&mut t, x, y, *rows, d, lrc);
            next += t;
        }
        next /= faer::Scale(batches.len() as f64);
        let norm = next.norm_l2();
        rate = norm / sigma.norm_l2();
        sigma = next / faer::Scale(norm);
    }
    rate
}

/// [`mean_square_rate`] for data whose law is isotropic, (x, y) ~ (Ox, Oy)
/// for every rotation O (the online teacher): the map then commutes with
/// z ↦ diag(O, O) z, so its top eigenvector (a positive-semidefinite Σ, by
/// Perron–Frobenius on the cone, averaged over rotations) is of the form
/// Σ = [[aI, bI], [bI, cI]]. With A = [[0, C], [Cᵀ, 0]] and ε = λc,
/// E[(I + εA) Σ (I + εA)ᵀ] projected on that form is
///
///   a′ = a + 2ε t₁ b + ε² t₂ c,   c′ = c + 2ε t₁ b + ε² t₂ a,
///   b′ = b + ε t₁ (a + c) + ε² t₃ b,
///
/// t₁ = E[tr C]/d, t₂ = E[‖C‖²_F]/d, t₃ = E[tr C²]/d, each a sum over
/// pairs of points of the batch: O(S² d) per batch instead of O(d³). Its
/// eigenvalues are those of [[1 + ε²t₂, 2εt₁], [2εt₁, 1 + ε²t₃]] (a = c) and
/// 1 − ε²t₂ (a = −c, b = 0).
pub fn isotropic_mean_square_rate(
    batches: &[(Vec<f32>, Vec<f32>, usize)],
    d: usize,
    lrc: f64,
) -> f64 {
    let (mut t1, mut t2, mut t3) = (0.0, 0.0, 0.0);
    let dot =
        |u: &[f32], v: &[f32]| -> f64 { u.iter().zip(v).map(|(&p, &q)| p as f64 * q as f64).sum() };
    for (x, y, rows) in batches {
        let row = |m: &[f32], s: usize| -> Vec<f32> { m[s * d..(s + 1) * d].to_vec() };
        let inv = 1.0 / *rows as f64;
        for s in 0..*rows {
            let (xs, ys) = (row(x, s), row(y, s));
            t1 += dot(&xs, &ys) * inv;
            for r in 0..*rows {
                let (xr, yr) = (row(x, r), row(y, r));
                t2 += dot(&ys, &yr) * dot(&xs, &xr) * inv * inv;
                t3 += dot(&ys, &xr) * dot(&yr, &xs) * inv * inv;
            }
        }
    }
    let norm = (batches.len() * d).max(1) as f64;
    let (t1, t2, t3) = (t1 / norm, t2 / norm, t3 / norm);
    let e = lrc;
    let (p, q, off) = (1.0 + e * e * t2, 1.0 + e * e * t3, 2.0 * e * t1);
    let half = ((p - q) * (p - q) / 4.0 + off * off).sqrt();
    let mid = (p + q) / 2.0;
    [mid + half, mid - half, 1.0 - e * e * t2]
        .into_iter()
        .map(f64::abs)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lyapunov::{QrSettings, spectrum};
    use crate::rng::{Stream, rng};
    use crate::saddle::{Chi, saddle_theory};
    use crate::teacher::Teacher;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    /// A teacher minibatch: x ~ N(0, I), y = μx + (1 − μ)ε, ε ~ N(0, σ²I).
    fn batch(
        r: &mut impl rand::Rng,
        rows: usize,
        d: usize,
        mu: f64,
        sigma: f64,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::with_capacity(rows * d);
        let mut y = Vec::with_capacity(rows * d);
        for _ in 0..rows * d {
            let xi: f64 = r.sample(StandardNormal);
            let e: f64 = r.sample(StandardNormal);
            x.push(xi as f32);
            y.push((mu * xi + (1.0 - mu) * sigma * e) as f32);
        }
        (x, y)
    }

    #[test]
    fn the_step_is_i_plus_lambda_c_times_the_block_matrix() {
        let (d, rows, lrc) = (3, 2, 0.3);
        let mut r = rng(1, Stream::Trajectories);
        let (x, y) = batch(&mut r, rows, d, 0.4, 1.5);
        // C = (1/S) Σ y xᵀ, M = I + λc [[0, C], [Cᵀ, 0]] written out.
        let c = Mat::<f64>::from_fn(d, d, |i, j| {
            (0..rows)
                .map(|s| y[s * d + i] as f64 * x[s * d + j] as f64)
                .sum::<f64>()
                / rows as f64
        });
        let m = Mat::<f64>::from_fn(2 * d, 2 * d, |i, j| {
            let eye = if i == j { 1.0 } else { 0.0 };
            let block = match (i < d, j < d) {
                (true, false) => c[(i, j - d)],
                (false, true) => c[(j, i - d)],
                _ => 0.0,
            };
            eye + lrc * block
        });
        let q0 = Mat::<f64>::from_fn(2 * d, 2, |i, j| (i as f64 + 1.0) * (j as f64 - 0.5));
        let mut q = q0.clone();
        linearised_step(&mut q, &x, &y, rows, d, lrc);
        let want = &m * &q0;
        assert!((&q - &want).norm_l2() < 1e-12, "{q:?} vs {want:?}");
    }

    #[test]
    fn at_d_equals_one_the_spectrum_is_the_saddles_m_plus_and_m_minus() {
        // The `mean` loss at d = 1 with σ′(0) = 1: λ₁ = cλ = 2λ.
        let (mu, sigma, lr, rows) = (0.3, 2.0, 0.2, 2usize);
        let lrc = lr_factor(true, 1, 1.0) * lr;
        let mut r = rng(7, Stream::Trajectories);
        let s = spectrum(
            2,
            2,
            &QrSettings {
                steps: 400_000,
                burn_in: 100,
                every: 4,
                blocks: 20,
                seed: 3,
            },
            |_, q| {
                let (x, y) = batch(&mut r, rows, 1, mu, sigma);
                linearised_step(q, &x, &y, rows, 1, lrc);
            },
        );
        let t = saddle_theory(
            &Chi::Teacher(Teacher {
                mu,
                noise_std: sigma,
            }),
            lrc,
            rows,
            0,
        );
        let (hi, lo) = if t.m_plus.value > t.m_minus.value {
            (t.m_plus, t.m_minus)
        } else {
            (t.m_minus, t.m_plus)
        };
        for (got, want) in s.exponents.iter().zip([hi, lo]) {
            let tol = 4.0 * (got.err.powi(2) + want.err.powi(2)).sqrt() + 1e-4;
            assert!((got.value - want.value).abs() < tol, "{got:?} vs {want:?}");
        }
        // The mean-square factor: max of E(1 ± λ₁χ)².
        let batches: Vec<(Vec<f32>, Vec<f32>, usize)> = (0..100_000)
            .map(|_| {
                let (x, y) = batch(&mut r, rows, 1, mu, sigma);
                (x, y, rows)
            })
            .collect();
        let rate = mean_square_rate(&batches, 1, lrc, 50);
        let want = t.ms_plus.max(t.ms_minus);
        assert!((rate / want - 1.0).abs() < 0.02, "{rate} vs {want}");
    }

    #[test]
    fn the_mean_square_rate_is_the_growth_of_a_monte_carlo_second_moment() {
        let (d, rows, lrc) = (3usize, 1usize, 0.15);
        let mut r = rng(11, Stream::Trajectories);
        let batches: Vec<(Vec<f32>, Vec<f32>, usize)> = (0..20_000)
            .map(|_| {
                let (x, y) = batch(&mut r, rows, d, 0.2, 2.0);
                (x, y, rows)
            })
            .collect();
        let rate = mean_square_rate(&batches, d, lrc, 60);
        // Monte Carlo: many trajectories of z_t ← M_t z_t, M_t drawn afresh
        // from the same batches; E|z_t|² grows by `rate` per step once the
        // top mode dominates.
        let (trajectories, t) = (20_000usize, 10usize);
        let mut second = vec![0.0f64; t + 1];
        let mut pick = rng(12, Stream::Expectation);
        for _ in 0..trajectories {
            let mut z = Mat::<f64>::from_fn(2 * d, 1, |_, _| pick.sample(StandardNormal));
            second[0] += z.squared_norm_l2();
            for step in 1..=t {
                let (x, y, rows) = &batches[pick.random_range(0..batches.len())];
                linearised_step(&mut z, x, y, *rows, d, lrc);
                second[step] += z.squared_norm_l2();
            }
        }
        let measured = (second[t] / second[t - 5]).powf(0.2);
        assert!(rate > 1.0, "this setting is mean-square unstable: {rate}");
        assert!(
            (measured / rate - 1.0).abs() < 0.03,
            "Monte Carlo {measured} vs {rate}"
        );
        // The isotropic form, from the same batches, is the same rate.
        let iso = isotropic_mean_square_rate(&batches, d, lrc);
        assert!(
            (iso - 1.0) / (rate - 1.0) > 0.9 && (iso - 1.0) / (rate - 1.0) < 1.1,
            "isotropic {iso} vs power iteration {rate}"
        );
    }

    #[test]
    fn the_isotropic_rate_is_the_power_iterations_for_the_teacher() {
        // d = 1: every symmetric 2 × 2 Σ has the isotropic form, so the two
        // agree to the power iteration's convergence; d = 4 with S = 3
        // within the Monte Carlo of the batches, stable and unstable.
        for (d, rows, lrc, mu, sigma) in [
            (1usize, 1usize, 0.4, 0.3, 2.0),
            (4, 3, 0.05, 0.5, 2.0),
            (4, 3, 0.2, 0.0, 2.0),
            (4, 1, 0.02, 1.0, 0.0),
            (4, 1, 0.3, 0.1, 1.0),
        ] {
            let mut r = rng(21, Stream::Trajectories);
            let batches: Vec<(Vec<f32>, Vec<f32>, usize)> = (0..20_000)
                .map(|_| {
                    let (x, y) = batch(&mut r, rows, d, mu, sigma);
                    (x, y, rows)
                })
                .collect();
            let full = mean_square_rate(&batches, d, lrc, 200);
            let iso = isotropic_mean_square_rate(&batches, d, lrc);
            let tol = if d == 1 { 1e-9 } else { 0.05 };
            assert!(
                ((iso - 1.0) / (full - 1.0) - 1.0).abs() < tol,
                "d = {d}, S = {rows}, λc = {lrc}, μ = {mu}: isotropic {iso} vs {full}"
            );
        }
    }
}
