//! Analysis for probstab: the stability theory of the paper, Monte Carlo
//! simulations of linearised SGD, and plots. No burn here: everything takes
//! plain slices, so this crate builds and tests in seconds.

/// Law of a minibatch mean over a finite dataset: exact or sampled.
pub mod batch_mean;
/// A value with its standard error; `ln|1 + z|` accurate at tiny z, and
/// `ln|1 + c·x|` with exact criticality.
pub mod estimate;
/// `E ln|a + bZ|` for a standard normal Z.
pub mod gaussian_log;
/// A single neuron's loss landscape: stationary points, Hessians (Fig. 5).
pub mod landscape;
/// m_L = E ln L over a trailing window, and the slope of ln L (Eq. 10, 12).
pub mod loss_rate;
/// The Lyapunov spectrum of a product of random matrices (Benettin's QR).
pub mod lyapunov;
/// The linearised SGD of a two-layer net at its saddle (Eq. 48): the step
/// and the mean-square rate.
pub mod network;
/// Figures: heatmaps with contours and curves, line plots (PNG + SVG).
pub mod plot;
/// Adaptive Gauss–Kronrod quadrature.
pub mod quadrature;
/// Numerical and effective rank from singular values (faer).
pub mod rank;
/// 1-D regression: Eq. (3), λ_DS (corrected Eq. 4), λ_SS, Prop. 1, Fig. 2.
pub mod regression;
/// Seeded random streams.
pub mod rng;
/// The u·w saddle: Prop. 2, m±, mean-square factors, phases (Fig. 1b, 3, 4).
pub mod saddle;
/// Monte Carlo trajectories of linearised SGD (Eq. 6, 67; Fig. 6).
pub mod simulate;
/// Fraction of near-zero parameters, per layer and overall.
pub mod sparsity;
/// The Gaussian teacher's χ = xy, and its exponents at N = ∞.
pub mod teacher;

pub use batch_mean::{BatchMeanLaw, Moments};
pub use estimate::Estimate;
