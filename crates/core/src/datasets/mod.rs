//! Datasets: the data the flows are fitted to, one point per row of a [`Matrix`].
//!
//! - [`toy`]: 2-D sets generated from a seed (two moons, eight Gaussians, checkerboard);
//! - [`mixture`]: isotropic Gaussian mixtures in any dimension, to vary `d` and `n` freely;
//! - [`mod@digits`]: the 8x8 handwritten digits that ship with the build (1797 images);
//! - [`ImageData`] and [`DataDirs`]: the image datasets, where they are looked up and how their
//!   files are identified (published SHA-256); [`cifar`] and [`idx`] read CIFAR-10 (binary
//!   version) and MNIST / Fashion-MNIST (IDX) (a private `files` module finds and opens files);
//! - [`resample`]: resolution changes of image sets (average pooling, nearest and bilinear
//!   up-sampling).
//!
//! Images are flattened channel-major: pixel `(c, y, x)` of a `C x H x W` image is column
//! `c H W + y W + x`, and values are scaled to `[-1, 1]` (a byte `v` becomes `v / 127.5 - 1`).

mod catalog;
pub mod cifar;
pub mod digits;
mod files;
pub mod idx;
pub mod mixture;
pub mod resample;
pub mod toy;

pub use catalog::{DataDirs, DataFile, ImageData, Located, SYSTEM_DATA_DIR};
pub use digits::digits;
pub use mixture::GaussianMixture;
pub use resample::{Upsample, downsample, resize, upsample};
pub use toy::{checkerboard, eight_gaussians, two_moons};

use serde::{Deserialize, Serialize};

use crate::{Error, Matrix, Result, Stream};

/// The shape of the images of a dataset: `channels x height x width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    /// Colour channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Rows of pixels.
    pub height: usize,
    /// Columns of pixels.
    pub width: usize,
}

impl ImageShape {
    /// The shape `channels x height x width`.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self { channels, height, width }
    }

    /// Values per image: `d = C H W`.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// A dataset: training points, optional test points and labels, and the image shape when the
/// points are images.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Short name used in results tables: `"digits"`, `"cifar10"`, `"mnist"`, ...
    pub name: String,
    /// Training points, one per row.
    pub train: Matrix,
    /// Held-out points, one per row, when the dataset has a test split.
    pub test: Option<Matrix>,
    /// Class of each training point (`0..=9` for every labelled set here).
    pub train_labels: Option<Vec<u8>>,
    /// Class of each test point.
    pub test_labels: Option<Vec<u8>>,
    /// Shape of each point when it is an image, flattened channel-major.
    pub image: Option<ImageShape>,
}

impl Dataset {
    /// Dimension `d` of the points.
    pub fn dim(&self) -> usize {
        self.train.cols()
    }
}

/// `n` rows of `x` drawn without replacement: the first `n` entries of a uniformly random
/// permutation of the rows (a partial Fisher-Yates shuffle, [`Stream::choose`]).
///
/// Subsets drawn from equal streams are nested: with the same stream state, the subset of size
/// `n` is the first `n` rows of the subset of any size `m > n`, so experiments over growing `n`
/// (Fig 2) add points instead of redrawing them.
pub fn subset(x: &Matrix, n: usize, s: &mut Stream) -> Result<Matrix> {
    if n > x.rows() {
        return Err(Error::invalid(format!(
            "cannot take a subset of {n} points from a set of {}; ask for at most {}",
            x.rows(),
            x.rows()
        )));
    }
    Ok(x.select_rows(&s.choose(x.rows(), n)))
}

/// A pixel byte scaled to `[-1, 1]`: `v / 127.5 - 1`.
fn byte_to_unit(v: u8) -> f32 {
    v as f32 / 127.5 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_map_to_the_unit_interval() {
        assert_eq!(byte_to_unit(0), -1.0);
        assert_eq!(byte_to_unit(255), 1.0);
        assert!((byte_to_unit(128) - 0.5 / 127.5).abs() < 1e-7);
    }

    #[test]
    fn shape_dim_and_display() {
        let s = ImageShape::new(3, 32, 16);
        assert_eq!(s.dim(), 1536);
        assert_eq!(s.to_string(), "3x32x16");
    }

    #[test]
    fn subsets_are_distinct_rows_nested_and_bounded() {
        let x = Matrix::from_vec(50, 1, (0..50).map(|v| v as f32).collect()).unwrap();
        let small = subset(&x, 10, &mut Stream::new(3)).unwrap();
        let large = subset(&x, 30, &mut Stream::new(3)).unwrap();
        assert_eq!(small, large.slice_rows(0, 10));
        let mut v = large.into_vec();
        v.sort_by(f32::total_cmp);
        v.dedup();
        assert_eq!(v.len(), 30);
        assert_ne!(small, subset(&x, 10, &mut Stream::new(4)).unwrap());
        let err = subset(&x, 51, &mut Stream::new(3)).unwrap_err().to_string();
        assert!(err.contains("51") && err.contains("at most 50"), "{err}");
    }
}
