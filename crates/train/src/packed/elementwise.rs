//! The element-wise passes of crate::packed's steps: σ and σ′ over a
//! batch, a vectorising tanh, and the dot products and axpys of the fused
//! small-batch loops. All `#[inline(always)]`, so that they compile with the
//! instruction set of the step they are inlined into.

use models::Activation;

/// a = σ(z), element by element. tanh (the paper's activation, and in
/// libm's scalar tanhf 40% of a packed step at batch 64) goes through
/// [`tanh_rational`], which vectorises; the others through
/// [`Activation::sigma`].
#[inline(always)]
pub(super) fn activate(sigma: Activation, z: &[f32], a: &mut [f32]) {
    match sigma {
        Activation::Tanh => {
            for (a, &z) in a.iter_mut().zip(z) {
                *a = tanh_rational(z);
            }
        }
        _ => {
            for (a, &z) in a.iter_mut().zip(z) {
                *a = sigma.sigma(z);
            }
        }
    }
}

/// δ ⊙= σ'(z) (given a = σ(z)), element by element, with the activation
/// chosen once and not at every element.
#[inline(always)]
pub(super) fn times_derivative(sigma: Activation, z: &[f32], a: &[f32], delta: &mut [f32]) {
    match sigma {
        // The variant a constant, so that its formula inlines to 1 − a².
        Activation::Tanh => {
            for ((delta, &z), &a) in delta.iter_mut().zip(z).zip(a) {
                *delta *= Activation::Tanh.sigma_prime(z, a);
            }
        }
        _ => {
            for ((delta, &z), &a) in delta.iter_mut().zip(z).zip(a) {
                *delta *= sigma.sigma_prime(z, a);
            }
        }
    }
}

/// tanh(x) as the ratio of a degree-13 odd and a degree-6 even polynomial
/// on [−9, 9] (the coefficients of Eigen's and XLA's fast tanh), where
/// |tanh| rounds to 1 in f32 beyond; NaN stays NaN. Within 4e-7 of tanh
/// (about 5 ulp near saturation, tested below against f64), where libm's
/// tanhf is within one: the packed cells agree with burn's to float rounding
/// either way.
#[inline(always)]
pub(super) fn tanh_rational(x: f32) -> f32 {
    #[allow(clippy::excessive_precision)]
    const A: [f32; 7] = [
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    ];
    #[allow(clippy::excessive_precision)]
    const B: [f32; 4] = [
        4.89352518554385e-03,
        2.26843463243900e-03,
        1.18534705686654e-04,
        1.19825839466702e-06,
    ];
    let x = x.clamp(-9.0, 9.0);
    let x2 = x * x;
    let p = (((((A[6] * x2 + A[5]) * x2 + A[4]) * x2 + A[3]) * x2 + A[2]) * x2 + A[1]) * x2 + A[0];
    let q = ((B[3] * x2 + B[2]) * x2 + B[1]) * x2 + B[0];
    x * p / q
}

/// Σ aᵢbᵢ with sixteen partial sums, so that it vectorises (one AVX-512
/// register, or two of AVX2).
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// [`dot`] of four rows with one vector: each row's sums in [`dot`]'s
/// order (the same bits), run side by side, so that the four horizontal
/// sums at the end, each a chain of dependent adds, overlap.
#[inline(always)]
pub(super) fn dot4(rows: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    let [r0, r1, r2, r3] = rows;
    for row in rows {
        assert_eq!(row.len(), b.len(), "rows as long as the vector");
    }
    // Four named accumulators, not an array of four: LLVM kept the array on
    // the stack and ran the loop one number at a time.
    let (mut a0, mut a1, mut a2, mut a3) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
    for ((((y, x0), x1), x2), x3) in b
        .chunks_exact(16)
        .zip(r0.chunks_exact(16))
        .zip(r1.chunks_exact(16))
        .zip(r2.chunks_exact(16))
        .zip(r3.chunks_exact(16))
    {
        for i in 0..16 {
            a0[i] += x0[i] * y[i];
            a1[i] += x1[i] * y[i];
            a2[i] += x2[i] * y[i];
            a3[i] += x3[i] * y[i];
        }
    }
    let n = b.len() / 16 * 16;
    let tail = |row: &[f32]| -> f32 { row[n..].iter().zip(&b[n..]).map(|(x, y)| x * y).sum() };
    [
        a0.iter().sum::<f32>() + tail(r0),
        a1.iter().sum::<f32>() + tail(r1),
        a2.iter().sum::<f32>() + tail(r2),
        a3.iter().sum::<f32>() + tail(r3),
    ]
}

/// y += α x.
#[inline(always)]
pub(super) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::tanh_rational;

    /// Within 4e-7 of tanh, absolute and relative, from 0 to 20 in steps of
    /// 1e-4, at tiny and huge arguments; odd; NaN in, NaN out. (3.2e-7 here,
    /// at x ≈ 4–6 where tanh is within 1e-3 of 1: about 5 ulp.)
    #[test]
    fn tanh_rational_is_tanh_to_a_few_ulp() {
        let (mut abs, mut rel) = (0.0f64, 0.0f64);
        let grid = (0..=200_000).map(|i| i as f32 * 1e-4);
        let tiny = (1..=30).map(|k| 10f32.powi(-k));
        for x in grid
            .chain(tiny)
            .chain([25.0, 1e10, f32::MAX, f32::INFINITY])
        {
            let (got, want) = (tanh_rational(x) as f64, (x as f64).tanh());
            abs = abs.max((got - want).abs());
            if want != 0.0 {
                rel = rel.max((got - want).abs() / want.abs());
            }
            assert_eq!(tanh_rational(-x), -tanh_rational(x), "odd at {x}");
        }
        eprintln!("largest error: {abs:e} absolute, {rel:e} relative");
        assert!(
            abs <= 4e-7 && rel <= 4e-7,
            "{abs:e} absolute, {rel:e} relative"
        );
        assert!(tanh_rational(f32::NAN).is_nan());
        assert_eq!(tanh_rational(f32::INFINITY), tanh_rational(9.0));
    }
}
