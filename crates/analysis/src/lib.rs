//! Analysis for probstab: the stability theory of the paper, Monte Carlo
//! simulations of linearised SGD, and plots. No burn here: everything takes
//! plain slices, so this crate builds and tests in seconds.
