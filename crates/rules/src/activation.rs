//! The nonlinearity σ of a layer, and its derivatives, on plain numbers:
//! the one place where an activation's formula is written. The packed
//! trainer (f32), the host neuron and the data generators (f64) and the
//! neuron landscape (f64, with σ″) all call these; burn's tensor versions
//! are in `models::activation`.

use serde::{Deserialize, Serialize};
use std::ops::{Add, Div, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// σ(z) = z: a deep linear network.
    Linear,
    #[default]
    Tanh,
    Relu,
    /// σ(z) = z·sigmoid(z) (Ramachandran et al. 2017; `silu` in burn).
    Swish,
}

/// f32 or f64: what the formulas below need of a number.
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const TWO: Self;
    fn tanh(self) -> Self;
    fn exp(self) -> Self;
    fn max(self, other: Self) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const TWO: Self = 2.0;
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
        }
    };
}
real!(f32);
real!(f64);

/// sigmoid(z) = 1 / (1 + e^{−z}).
#[inline(always)]
fn sigmoid<T: Real>(z: T) -> T {
    T::ONE / (T::ONE + (-z).exp())
}

impl Activation {
    /// σ(z).
    #[inline(always)]
    pub fn sigma<T: Real>(self, z: T) -> T {
        match self {
            Activation::Linear => z,
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(T::ZERO),
            Activation::Swish => z / (T::ONE + (-z).exp()),
        }
    }

    /// σ′(z), given a = σ(z) (the backward pass has it at hand).
    #[inline(always)]
    pub fn sigma_prime<T: Real>(self, z: T, a: T) -> T {
        match self {
            Activation::Linear => T::ONE,
            Activation::Tanh => T::ONE - a * a,
            Activation::Relu => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::Swish => {
                let s = sigmoid(z);
                s * (T::ONE + z * (T::ONE - s))
            }
        }
    }

    /// (σ(z), σ′(z), σ″(z)) in one pass, for Newton's method on a landscape.
    /// Swish goes through g = sigmoid(z): σ = z g, σ′ = g + z g(1 − g),
    /// σ″ = g(1 − g)(2 + z(1 − 2g)); these σ and σ′ equal [`Self::sigma`]
    /// and [`Self::sigma_prime`] to rounding (a test checks it), and keep
    /// the landscape's arithmetic as it was. ReLU's σ″ is 0 (and σ′(0) = 0).
    pub fn jet<T: Real>(self, z: T) -> (T, T, T) {
        match self {
            Activation::Linear => (z, T::ONE, T::ZERO),
            Activation::Tanh => {
                let s = z.tanh();
                let d = T::ONE - s * s;
                (s, d, -T::TWO * s * d)
            }
            Activation::Relu => {
                let a = self.sigma(z);
                (a, self.sigma_prime(z, a), T::ZERO)
            }
            Activation::Swish => {
                let g = sigmoid(z);
                let dg = g * (T::ONE - g);
                (z * g, g + z * dg, dg * (T::TWO + z * (T::ONE - T::TWO * g)))
            }
        }
    }

    /// σ′(0): the slope that the linearisation around the saddle W = 0 sees.
    /// None for ReLU, which has no derivative at 0.
    pub fn slope_at_zero(self) -> Option<f64> {
        match self {
            Activation::Relu => None,
            other => Some(other.sigma_prime(0.0, other.sigma(0.0))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Swish => "swish",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 4] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Relu,
        Activation::Swish,
    ];

    #[test]
    fn derivatives_match_finite_differences_in_f64_and_f32() {
        for a in ALL {
            for z in [-2.5f64, -0.7, 0.3, 1.9] {
                let h = 1e-6;
                let fd = (a.sigma(z + h) - a.sigma(z - h)) / (2.0 * h);
                let d = a.sigma_prime(z, a.sigma(z));
                assert!((fd - d).abs() < 1e-7, "{a:?} σ′({z}): {d} vs {fd}");
                let (s, d1, d2) = a.jet(z);
                assert!((s - a.sigma(z)).abs() < 1e-15, "{a:?}");
                assert!((d1 - d).abs() < 1e-14, "{a:?}");
                let fd2 = (a.jet(z + h).1 - a.jet(z - h).1) / (2.0 * h);
                assert!((fd2 - d2).abs() < 1e-6, "{a:?} σ″({z}): {d2} vs {fd2}");
                let z32 = z as f32;
                assert!((a.sigma(z32) as f64 - a.sigma(z)).abs() < 1e-6);
                let d32 = a.sigma_prime(z32, a.sigma(z32)) as f64;
                assert!((d32 - d).abs() < 1e-6, "{a:?}");
            }
        }
    }

    #[test]
    fn slope_at_zero_is_one_for_linear_tanh_half_for_swish_none_for_relu() {
        assert_eq!(Activation::Linear.slope_at_zero(), Some(1.0));
        assert_eq!(Activation::Tanh.slope_at_zero(), Some(1.0));
        assert_eq!(Activation::Swish.slope_at_zero(), Some(0.5));
        assert_eq!(Activation::Relu.slope_at_zero(), None);
    }
}
