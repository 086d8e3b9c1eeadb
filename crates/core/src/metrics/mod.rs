//! Metrics of the study's figures, over sample sets stored as [`Matrix`](crate::Matrix) rows:
//!
//! - [`mod@knn`]: exact k-nearest-neighbour Euclidean distances, accurate down to exact copies;
//! - [`mod@memorization`]: distance to the nearest training point, the train-to-train baseline and
//!   the ratio copy test (Fig 2 right panel, Fig 3 top; claims C4, C6, C7);
//! - [`mod@frechet`]: Fréchet distance between Gaussian fits, FID on chosen features (Fig 2 middle,
//!   Fig 4, Tables 1-2);
//! - [`energy`]: energy distance, a distribution distance without a Gaussian assumption for the
//!   low-dimensional sets.
//!
//! All of them compute squared distances by the `f32` expansion in tiles and recompute exactly
//! where its error bound says it is not accurate enough (private module `pairwise`).

pub mod energy;
pub mod frechet;
pub mod knn;
pub mod memorization;
mod pairwise;

pub use energy::energy_distance;
pub use frechet::{GaussianStats, frechet, frechet_distance};
pub use knn::{KnnOptions, Neighbours, knn, knn_with};
pub use memorization::{
    COPY_THRESHOLD, Memorization, MemorizationSummary, SampleDistances, mean_nearest_distance, memorization,
    train_to_train_distance, train_to_train_sampled,
};
