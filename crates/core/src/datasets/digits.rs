//! The 8x8 handwritten digits (UCI optdigits, as scikit-learn's `load_digits`), embedded in the
//! build through smartcore: real images that need no download.

use super::{Dataset, ImageShape};
use crate::{Matrix, Stream};

/// Number of digit images.
pub const DIGITS_TOTAL: usize = 1797;

/// Images in the training split; the other 297 form the test split.
pub const DIGITS_TRAIN: usize = 1500;

/// The 1797 digits, 1 x 8 x 8, split into 1500 training and 297 test images.
///
/// Pixels are integers `v` in `0..=16`, scaled to `v / 8 - 1` in `[-1, 1]`; labels are `0..=9`.
/// The split is fixed: a permutation `p` of the rows drawn from
/// `Stream::new(0).derive("digits-split")`; rows `p[..1500]` train, rows `p[1500..]` test,
/// both in permutation order.
pub fn digits() -> Dataset {
    let raw = smartcore::dataset::digits::load_dataset();
    assert_eq!(
        (raw.num_samples, raw.num_features, raw.data.len(), raw.target.len()),
        (DIGITS_TOTAL, 64, DIGITS_TOTAL * 64, DIGITS_TOTAL),
        "smartcore's embedded digits changed shape"
    );
    let x = Matrix::from_vec(DIGITS_TOTAL, 64, raw.data.iter().map(|&v| v / 8.0 - 1.0).collect())
        .expect("1797 x 64 values");
    let labels: Vec<u8> = raw.target.iter().map(|&y| y as u8).collect();
    let order = Stream::new(0).derive("digits-split").permutation(DIGITS_TOTAL);
    let (train, test) = order.split_at(DIGITS_TRAIN);
    Dataset {
        name: "digits".to_string(),
        train: x.select_rows(train),
        test: Some(x.select_rows(test)),
        train_labels: Some(train.iter().map(|&i| labels[i]).collect()),
        test_labels: Some(test.iter().map(|&i| labels[i]).collect()),
        image: Some(ImageShape::new(1, 8, 8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes_and_shape() {
        let d = digits();
        assert_eq!((d.train.rows(), d.train.cols()), (1500, 64));
        assert_eq!(d.test.as_ref().unwrap().rows(), 297);
        assert_eq!(d.train_labels.as_ref().unwrap().len(), 1500);
        assert_eq!(d.test_labels.as_ref().unwrap().len(), 297);
        assert_eq!(d.image, Some(ImageShape::new(1, 8, 8)));
        assert_eq!(d.name, "digits");
    }
}
