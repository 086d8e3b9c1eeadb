//! # cfm-core
//!
//! The mathematics of *On the Closed-Form of Flow Matching* (Bertrand, Gagneux, Massias,
//! Emonet, NeurIPS 2025) without neural networks:
//!
//! - [`closed_form`]: the optimal velocity `u*` of Proposition 1, fast and accurate;
//!   [`mod@reference`]: its `f64` brute-force twin;
//! - [`targets`]: the probability path, the conditional target `x1 - x0`, cosines;
//! - [`efm`]: the empirical flow matching estimator `u*_M` (Algorithm 2, Proposition 2);
//! - [`ode`]: solvers over the [`VelocityField`] trait;
//! - [`datasets`]: toy 2-D sets, Gaussian mixtures, the 8x8 digits, image readers, resampling;
//! - [`metrics`]: exact nearest neighbours, memorization, Fréchet and energy distances;
//! - [`io`]: NumPy `.npy` and CSV matrices, atomic writes;
//! - [`rng`]: labelled seeded streams.

pub mod closed_form;
pub mod datasets;
pub mod efm;
mod error;
pub mod io;
pub(crate) mod kernels;
pub mod matrix;
pub mod metrics;
pub mod ode;
pub mod reference;
pub mod rng;
pub mod sliced;
pub mod targets;
mod ziggurat;

pub use closed_form::{ClosedForm, Evaluation, Options, WeightSummary};
pub use error::{Error, Result};
pub use matrix::Matrix;
pub use ode::{Solver, VelocityField};
pub use rng::Stream;
