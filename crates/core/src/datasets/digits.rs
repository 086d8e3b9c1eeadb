//! The 8x8 handwritten digits: the test set of the UCI "Optical Recognition of Handwritten
//! Digits" data (Alpaydin and Kaynak 1998, <https://doi.org/10.24432/C50P49>, CC BY 4.0), 1797
//! images, the same rows in the same order as scikit-learn's `load_digits`. The file ships in the
//! repository (`crates/core/data/optdigits.tes.gz`, scikit-learn's `digits.csv.gz`: one image a
//! line, 64 integer pixels in `0..=16` then the label) and is embedded in the build; its SHA-256
//! is checked before it is parsed, so real images need no download.

use std::io::Read;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::{Dataset, ImageShape};
use crate::{Matrix, Stream};

/// The embedded file.
const FILE: &[u8] = include_bytes!("../../data/optdigits.tes.gz");

/// SHA-256 of `FILE` (scikit-learn 1.9.1's `sklearn/datasets/data/digits.csv.gz`).
pub const SHA256: &str = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";

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
    static PARSED: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (pixels, labels) = PARSED.get_or_init(|| parse(FILE));
    let x = Matrix::from_vec(DIGITS_TOTAL, 64, pixels.iter().map(|&v| v as f32 / 8.0 - 1.0).collect())
        .expect("1797 x 64 values");
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

/// The pixels (row-major, 1797 x 64) and labels of the embedded file. Panics if the file is not
/// the one whose hash is [`SHA256`]: it is part of the build, so that is a broken build.
fn parse(file: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let hash: String = Sha256::digest(file).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, SHA256, "crates/core/data/optdigits.tes.gz is not the file this build expects");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).expect("the embedded file is gzip text");
    let (mut pixels, mut labels) = (Vec::with_capacity(DIGITS_TOTAL * 64), Vec::with_capacity(DIGITS_TOTAL));
    for line in text.lines() {
        let values: Vec<u8> = line.split(',').map(|v| v.trim().parse().expect("integer fields")).collect();
        assert_eq!(values.len(), 65, "64 pixels and a label per line");
        pixels.extend_from_slice(&values[..64]);
        labels.push(values[64]);
    }
    assert_eq!(labels.len(), DIGITS_TOTAL, "1797 images");
    (pixels, labels)
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

    #[test]
    fn pixels_and_labels_are_in_range() {
        let (pixels, labels) = parse(FILE);
        assert!(pixels.iter().all(|&v| v <= 16) && labels.iter().all(|&y| y <= 9));
        // scikit-learn's first image is a zero, its second a one.
        assert_eq!(&labels[..2], &[0, 1]);
        assert_eq!(&pixels[..8], &[0, 0, 5, 13, 9, 1, 0, 0]);
    }
}
