//! Resolution changes of image sets, to study how the collapse of `u*` moves with the dimension
//! (Fig 1c): average pooling down, nearest or bilinear interpolation up.
//!
//! Every function takes one image per row, flattened channel-major with the given shape, and
//! returns the new images with their shape; channels are resampled independently.

use serde::{Deserialize, Serialize};

use super::{Dataset, ImageShape};
use crate::{Error, Matrix, Result};

/// Interpolation used to enlarge images, as PyTorch's `F.interpolate` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Upsample {
    /// `mode="nearest"`: output pixel `o` copies input pixel `floor(o * in / out)`.
    Nearest,
    /// `mode="bilinear", align_corners=False`: half-pixel centres, see [`upsample`].
    Bilinear,
}

/// Fails unless each row of `x` holds one image of `shape`.
fn check_rows(x: &Matrix, shape: ImageShape) -> Result<()> {
    if x.cols() != shape.dim() {
        return Err(Error::invalid(format!(
            "images of shape {shape} have {} values, but the rows have {}; pass the shape the data was read with",
            shape.dim(),
            x.cols()
        )));
    }
    Ok(())
}

/// The common divisors of `h` and `w`: the valid pooling factors, for messages.
fn divisors(h: usize, w: usize) -> String {
    let common = (1..=h.min(w)).filter(|&f| h.is_multiple_of(f) && w.is_multiple_of(f));
    common.map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
}

/// Average pooling by `factor`, which must divide the height and the width:
/// `y[c, i, j] = (1 / f^2) sum_{a, b < f} x[c, f i + a, f j + b]`.
pub fn downsample(x: &Matrix, shape: ImageShape, factor: usize) -> Result<(Matrix, ImageShape)> {
    check_rows(x, shape)?;
    let (h, w) = (shape.height, shape.width);
    if factor == 0 || !h.is_multiple_of(factor) || !w.is_multiple_of(factor) {
        return Err(Error::invalid(format!(
            "pooling factor {factor} does not divide the image size {h}x{w}; use one of {}",
            divisors(h, w)
        )));
    }
    let out = ImageShape::new(shape.channels, h / factor, w / factor);
    let norm = 1.0 / (factor * factor) as f64;
    let mut y = Matrix::zeros(x.rows(), out.dim());
    for r in 0..x.rows() {
        let (src, dst) = (x.row(r), y.row_mut(r));
        for c in 0..shape.channels {
            for i in 0..out.height {
                for j in 0..out.width {
                    let mut sum = 0.0f64;
                    for a in 0..factor {
                        let row = &src[(c * h + i * factor + a) * w + j * factor..][..factor];
                        sum += row.iter().map(|&v| v as f64).sum::<f64>();
                    }
                    dst[(c * out.height + i) * out.width + j] = (sum * norm) as f32;
                }
            }
        }
    }
    Ok((y, out))
}

/// For each output index along one axis of length `out` (from `len`): the two source indices
/// and the weight `lambda` of the second, `v = (1 - lambda) v[i0] + lambda v[i1]`.
fn taps(len: usize, out: usize, method: Upsample) -> Vec<(usize, usize, f32)> {
    let scale = len as f64 / out as f64;
    (0..out)
        .map(|o| match method {
            Upsample::Nearest => {
                let i = (o * len / out).min(len - 1);
                (i, i, 0.0)
            }
            Upsample::Bilinear => {
                let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(len - 1);
                let i1 = (i0 + 1).min(len - 1);
                (i0, i1, (src - i0 as f64) as f32)
            }
        })
        .collect()
}

/// Enlarges images to `height x width` (each at least the current size).
///
/// Nearest: output pixel `(i, j)` copies input pixel `(floor(i H / height), floor(j W / width))`,
/// so an integer factor repeats each pixel in a block. Bilinear (PyTorch's `align_corners=False`):
/// along each axis the output index `o` reads the source coordinate
/// `s = max((o + 1/2) in / out - 1/2, 0)`, between pixels `i0 = floor(s)` and
/// `i1 = min(i0 + 1, in - 1)` with weight `lambda = s - i0` on `i1`; the two axes combine as
/// `(1 - ly)((1 - lx) v00 + lx v01) + ly((1 - lx) v10 + lx v11)`.
pub fn upsample(
    x: &Matrix,
    shape: ImageShape,
    height: usize,
    width: usize,
    method: Upsample,
) -> Result<(Matrix, ImageShape)> {
    check_rows(x, shape)?;
    let (h, w) = (shape.height, shape.width);
    if height < h || width < w || h == 0 || w == 0 {
        return Err(Error::invalid(format!(
            "cannot up-sample {h}x{w} images to {height}x{width}: the target must be at least as large; \
             use downsample to shrink"
        )));
    }
    let (ty, tx) = (taps(h, height, method), taps(w, width, method));
    let out = ImageShape::new(shape.channels, height, width);
    let mut y = Matrix::zeros(x.rows(), out.dim());
    for r in 0..x.rows() {
        let (src, dst) = (x.row(r), y.row_mut(r));
        for c in 0..shape.channels {
            let plane = &src[c * h * w..(c + 1) * h * w];
            for (i, &(y0, y1, ly)) in ty.iter().enumerate() {
                let (row0, row1) = (&plane[y0 * w..(y0 + 1) * w], &plane[y1 * w..(y1 + 1) * w]);
                for (j, &(x0, x1, lx)) in tx.iter().enumerate() {
                    let top = (1.0 - lx) * row0[x0] + lx * row0[x1];
                    let bottom = (1.0 - lx) * row1[x0] + lx * row1[x1];
                    dst[(c * height + i) * width + j] = (1.0 - ly) * top + ly * bottom;
                }
            }
        }
    }
    Ok((y, out))
}

/// The factor `f` that average-pools `h x w` images to `size x size`, if any: `h = w = f size`.
fn pooling_factor(h: usize, w: usize, size: usize) -> Option<usize> {
    (size > 0 && h.is_multiple_of(size) && w.is_multiple_of(size) && h / size == w / size).then(|| h / size)
}

/// Images at `size x size`: average pooling when `size` divides the height and the width with
/// the same factor (`size` equal to the current size copies), otherwise up-sampling with
/// `method` when `size` is at least as large; any other size is an error.
pub fn resize(x: &Matrix, shape: ImageShape, size: usize, method: Upsample) -> Result<(Matrix, ImageShape)> {
    let (h, w) = (shape.height, shape.width);
    if let Some(factor) = pooling_factor(h, w, size) {
        downsample(x, shape, factor)
    } else if size >= h && size >= w {
        upsample(x, shape, size, size, method)
    } else {
        let sizes = (1..=h.min(w)).filter(|&s| pooling_factor(h, w, s).is_some());
        Err(Error::invalid(format!(
            "cannot resize {h}x{w} images to {size}x{size}: down-sampling averages whole blocks, so the \
             size must divide the image ({}), or be at least {} to up-sample",
            sizes.map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
            h.max(w)
        )))
    }
}

impl Dataset {
    /// The same dataset with every image (train and test) [`resize`]d to `size x size`.
    pub fn resized(&self, size: usize, method: Upsample) -> Result<Dataset> {
        let Some(shape) = self.image else {
            return Err(Error::invalid(format!(
                "dataset {} holds points, not images: it cannot be resized",
                self.name
            )));
        };
        let (train, image) = resize(&self.train, shape, size, method)?;
        let test = self.test.as_ref().map(|t| resize(t, shape, size, method).map(|r| r.0)).transpose()?;
        Ok(Dataset {
            name: self.name.clone(),
            train,
            test,
            train_labels: self.train_labels.clone(),
            test_labels: self.test_labels.clone(),
            image: Some(image),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(h: usize, w: usize, values: &[f32]) -> (Matrix, ImageShape) {
        (Matrix::from_vec(1, values.len(), values.to_vec()).unwrap(), ImageShape::new(1, h, w))
    }

    #[test]
    fn average_pool_of_a_known_image() {
        // 4x4 values 0..16, pooled by 2: means of the 2x2 blocks.
        let v: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let (x, s) = image(4, 4, &v);
        let (y, out) = downsample(&x, s, 2).unwrap();
        assert_eq!(out, ImageShape::new(1, 2, 2));
        assert_eq!(y.as_slice(), &[2.5, 4.5, 10.5, 12.5]);
        let (y, _) = downsample(&x, s, 4).unwrap();
        assert_eq!(y.as_slice(), &[7.5]);
        assert_eq!(downsample(&x, s, 1).unwrap().0, x);
    }

    #[test]
    fn channels_are_pooled_separately() {
        let v: Vec<f32> = (0..8).map(|i| if i < 4 { 1.0 } else { -1.0 }).collect();
        let x = Matrix::from_vec(1, 8, v).unwrap();
        let (y, out) = downsample(&x, ImageShape::new(2, 2, 2), 2).unwrap();
        assert_eq!((y.as_slice(), out), (&[1.0, -1.0][..], ImageShape::new(2, 1, 1)));
    }

    #[test]
    fn nearest_by_two_repeats_pixels() {
        let (x, s) = image(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let (y, out) = upsample(&x, s, 4, 4, Upsample::Nearest).unwrap();
        assert_eq!(out, ImageShape::new(1, 4, 4));
        #[rustfmt::skip]
        let want = [1.0, 1.0, 2.0, 2.0,
                    1.0, 1.0, 2.0, 2.0,
                    3.0, 3.0, 4.0, 4.0,
                    3.0, 3.0, 4.0, 4.0];
        assert_eq!(y.as_slice(), &want);
    }

    #[test]
    fn bilinear_matches_hand_computed_values() {
        // torch.nn.functional.interpolate(torch.arange(4.).view(1, 1, 2, 2), size=4,
        // mode="bilinear", align_corners=False)
        let (x, s) = image(2, 2, &[0.0, 1.0, 2.0, 3.0]);
        let (y, _) = upsample(&x, s, 4, 4, Upsample::Bilinear).unwrap();
        #[rustfmt::skip]
        let want = [0.0, 0.25, 0.75, 1.0,
                    0.5, 0.75, 1.25, 1.5,
                    1.5, 1.75, 2.25, 2.5,
                    2.0, 2.25, 2.75, 3.0];
        assert_eq!(y.as_slice(), &want);
        // A non-integer ratio, 3 -> 5: sources max(0.6 o - 0.2, 0) = 0, 0.4, 1, 1.6, 2.2 -> 2.
        let (x, s) = image(1, 3, &[0.0, 10.0, 20.0]);
        let (y, _) = upsample(&x, s, 1, 5, Upsample::Bilinear).unwrap();
        for (got, want) in y.as_slice().iter().zip([0.0, 4.0, 10.0, 16.0, 20.0]) {
            assert!((got - want).abs() < 1e-5, "{:?}", y.as_slice());
        }
        // Nearest with the same ratio reads floor(3 o / 5) = 0, 0, 1, 1, 2.
        let (y, _) = upsample(&x, s, 1, 5, Upsample::Nearest).unwrap();
        assert_eq!(y.as_slice(), &[0.0, 0.0, 10.0, 10.0, 20.0]);
    }

    #[test]
    fn resize_picks_pooling_or_interpolation_and_rejects_the_rest() {
        let v: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let (x, s) = image(8, 8, &v);
        assert_eq!(resize(&x, s, 4, Upsample::Bilinear).unwrap(), downsample(&x, s, 2).unwrap());
        assert_eq!(resize(&x, s, 8, Upsample::Bilinear).unwrap().0, x);
        assert_eq!(
            resize(&x, s, 16, Upsample::Nearest).unwrap(),
            upsample(&x, s, 16, 16, Upsample::Nearest).unwrap()
        );
        let err = resize(&x, s, 3, Upsample::Nearest).unwrap_err().to_string();
        assert!(err.contains("8x8") && err.contains("1, 2, 4, 8"), "{err}");
        assert!(resize(&x, s, 0, Upsample::Nearest).is_err());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let (x, s) = image(6, 6, &[0.0; 36]);
        let err = downsample(&x, s, 4).unwrap_err().to_string();
        assert!(err.contains("factor 4") && err.contains("1, 2, 3, 6"), "{err}");
        assert!(downsample(&x, s, 0).is_err());
        assert!(upsample(&x, s, 4, 8, Upsample::Bilinear).unwrap_err().to_string().contains("at least"));
        let err = downsample(&x, ImageShape::new(1, 5, 5), 1).unwrap_err().to_string();
        assert!(err.contains("1x5x5") && err.contains("36"), "{err}");
    }
}
