//! The data of the figures, one enum for all of them: toy and synthetic sets generated from the
//! root seed, and the image datasets of [`ImageData`] (read through the context's data
//! directories), optionally a subset and resized.

use cfm_core::datasets::{self, ImageData, ImageShape, Upsample};
use cfm_core::{Matrix, Stream};
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Result};

/// A dataset by name: the toy two-moons or an image dataset. What a claim is decided on
/// ([`crate::claims::Claim::on`]) and what fig2 trains on; its name is the table's `dataset`
/// value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// An image dataset (the whole of it, at its native resolution).
    Images(ImageData),
    /// Two moons (2-D).
    TwoMoons,
}

impl Dataset {
    /// Name in tables (`two-moons`, `fashion-mnist`).
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Images(d) => d.name(),
            Dataset::TwoMoons => "two-moons",
        }
    }
}

/// A dataset a figure runs on, fully determined by its fields and the root seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSpec {
    /// Two moons (2-D), `n` points.
    TwoMoons { n: usize },
    /// `n` points of a mixture of `k` Gaussians in `d` dimensions, means `N(0, I)`, std `std`.
    Gmm { d: usize, k: usize, std: f64, n: usize },
    /// An image dataset's training images (the digits: all 1797, both splits, as one set),
    /// the first `n` when given, average-pooled to `size x size` when given (smaller than the
    /// native size; bilinear up-sampling when larger).
    Images { data: ImageData, n: Option<usize>, size: Option<usize> },
}

impl DataSpec {
    /// An image dataset at its native resolution, all of it.
    pub fn images(data: ImageData) -> Self {
        DataSpec::Images { data, n: None, size: None }
    }

    /// Name used in tables and legends (`digits-16x16`, `gmm-d128`, `fashion-mnist`).
    pub fn name(&self) -> String {
        match self {
            DataSpec::TwoMoons { .. } => Dataset::TwoMoons.name().into(),
            DataSpec::Gmm { d, .. } => format!("gmm-d{d}"),
            DataSpec::Images { data, size: Some(s), .. } => format!("{}-{s}x{s}", data.name()),
            DataSpec::Images { data, .. } => data.name().into(),
        }
    }

    /// The image dataset read from disk, if any (the digits ship with the build).
    pub fn reads(&self) -> Option<ImageData> {
        match self {
            DataSpec::Images { data, .. } if *data != ImageData::Digits => Some(*data),
            _ => None,
        }
    }

    /// The points, one per row. Random data come from the stream `data/<name>` of the root seed.
    pub fn load(&self, ctx: &Context) -> Result<Matrix> {
        let mut s = ctx.stream("data").derive(&self.name());
        Ok(match self {
            DataSpec::TwoMoons { n } => datasets::two_moons(*n, &mut s),
            DataSpec::Gmm { d, k, std, n } => {
                let gmm = datasets::GaussianMixture::new(*d, *k, *std, &mut s.derive("means"))?;
                gmm.sample(*n, &mut s.derive("points"))
            }
            DataSpec::Images { data, n, size } => {
                let mut ds = match data {
                    ImageData::Digits => {
                        let mut all = datasets::digits();
                        let test = all.test.take().expect("digits have a test split");
                        let rows: Vec<&[f32]> = all.train.iter_rows().chain(test.iter_rows()).collect();
                        all.train = Matrix::from_rows(&rows)?;
                        all
                    }
                    _ => ctx.data.load(*data, *n)?,
                };
                if let Some(n) = n {
                    if *n > ds.train.rows() {
                        return Err(Error::invalid(format!(
                            "{}: {n} images asked for, {} there",
                            data.name(),
                            ds.train.rows()
                        )));
                    }
                    ds.train = ds.train.slice_rows(0, *n);
                }
                match size {
                    Some(sz) if *sz != data.shape().height => ds.resized(*sz, Upsample::Bilinear)?.train,
                    _ => ds.train,
                }
            }
        })
    }
}

/// `count` pairs `(x0, x1)`: `x0 ~ N(0, I)` and `x1` drawn uniformly (with replacement) from `data`.
pub fn pairs(data: &Matrix, count: usize, s: &Stream) -> (Matrix, Matrix) {
    let mut pick = s.derive("x1");
    let idx: Vec<usize> = (0..count).map(|_| pick.below(data.rows())).collect();
    let x1 = data.select_rows(&idx);
    let x0 = Matrix::from_vec(count, data.cols(), s.derive("x0").normal_vec(count * data.cols()))
        .expect("count x d values");
    (x0, x1)
}

/// Training and test images with labels (the figures of learned models).
pub struct LabelledImages {
    /// Which dataset.
    pub data: ImageData,
    /// Training images (flattened, in [-1, 1]).
    pub train: Matrix,
    /// Training labels.
    pub train_labels: Vec<usize>,
    /// Held-out test images.
    pub test: Matrix,
    /// Test labels.
    pub test_labels: Vec<usize>,
    /// Image shape.
    pub shape: ImageShape,
}

impl LabelledImages {
    /// Loads `data` (the digits: the fixed 1500 / 297 split; the others from the data
    /// directories), checking its size and shape.
    pub fn load(ctx: &Context, data: ImageData) -> Result<LabelledImages> {
        let ds = match data {
            ImageData::Digits => datasets::digits(),
            _ => ctx.data.load(data, None)?,
        };
        let labels = |l: Option<Vec<u8>>| -> Result<Vec<usize>> {
            Ok(l.ok_or_else(|| Error::invalid(format!("{} has no labels", data.name())))?
                .into_iter()
                .map(usize::from)
                .collect())
        };
        let set = LabelledImages {
            data,
            train_labels: labels(ds.train_labels)?,
            test_labels: labels(ds.test_labels)?,
            test: ds.test.ok_or_else(|| Error::invalid(format!("{} has no test split", data.name())))?,
            train: ds.train,
            shape: ds.image.ok_or_else(|| Error::invalid(format!("{} is not an image set", data.name())))?,
        };
        if set.shape != data.shape() {
            return Err(Error::invalid(format!(
                "{}: images of {} where {} were expected",
                data.name(),
                set.shape,
                data.shape()
            )));
        }
        Ok(set)
    }

    /// The first `n` training images (the subsets of Fig. 2 are nested).
    pub fn subset(&self, n: usize) -> Result<Matrix> {
        if n == 0 || n > self.train.rows() {
            return Err(Error::invalid(format!(
                "{}: a subset of {n} images of {} is not possible",
                self.data.name(),
                self.train.rows()
            )));
        }
        Ok(self.train.slice_rows(0, n))
    }

    /// The identity of the first `n` training images (part of the model cache key).
    pub fn identity(&self, n: usize) -> String {
        identity(self.data, n)
    }
}

/// The identity of the first `n` training images of `data` (part of the model cache key).
pub fn identity(data: ImageData, n: usize) -> String {
    format!("{} train[0..{n}]", data.name())
}
