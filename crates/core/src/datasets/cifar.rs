//! CIFAR-10, binary version: `data_batch_1.bin` ... `data_batch_5.bin` (50000 training images)
//! and `test_batch.bin` (10000 test images).
//!
//! Each file is a sequence of 3073-byte records: one label byte in `0..=9`, then the 32 x 32
//! image as 1024 red, 1024 green and 1024 blue bytes, each plane row-major. That is already
//! our channel-major layout, so pixel bytes are copied in order and scaled to `v / 127.5 - 1`.

use std::path::Path;

use super::files::read_rest;
use super::{Dataset, ImageShape, byte_to_unit};
use crate::{Error, Matrix, Result};

/// Bytes per record: 1 label byte and 3 x 32 x 32 pixel bytes.
pub const RECORD_BYTES: usize = 1 + 3 * 32 * 32;

/// The five training batches, then the test batch.
const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// CIFAR-10 (3 x 32 x 32) from `folder`; with `limit`, only the first `limit` training
/// images (only the batch files and bytes they need are read). The test split is read whole.
pub(crate) fn read(folder: &Path, limit: Option<usize>) -> Result<Dataset> {
    let (mut train, mut train_labels) = (Vec::new(), Vec::new());
    for file in &FILES[..5] {
        let left = limit.map(|l| l - train_labels.len());
        if left == Some(0) {
            break;
        }
        batch(folder, file, left, &mut train, &mut train_labels)?;
    }
    let (mut test, mut test_labels) = (Vec::new(), Vec::new());
    batch(folder, FILES[5], None, &mut test, &mut test_labels)?;
    let d = RECORD_BYTES - 1;
    Ok(Dataset {
        name: "cifar10".to_string(),
        train: Matrix::from_vec(train_labels.len(), d, train)?,
        test: Some(Matrix::from_vec(test_labels.len(), d, test)?),
        train_labels: Some(train_labels),
        test_labels: Some(test_labels),
        image: Some(ImageShape::new(3, 32, 32)),
    })
}

/// Appends the records of one batch file (at most `max` of them) to `pixels` and `labels`.
fn batch(
    folder: &Path,
    file: &str,
    max: Option<usize>,
    pixels: &mut Vec<f32>,
    labels: &mut Vec<u8>,
) -> Result<()> {
    let (path, mut r) = super::catalog::CIFAR10.open(folder, file)?;
    let bytes = read_rest(&mut r, &path, max.map(|m| m.saturating_mul(RECORD_BYTES)))?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(Error::format(
            &path,
            format!(
                "holds {} bytes, not a positive whole number of {RECORD_BYTES}-byte records \
                 (1 label byte + 3072 pixel bytes): the file is truncated or not from the binary \
                 version of CIFAR-10; download it again",
                bytes.len()
            ),
        ));
    }
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        if record[0] > 9 {
            return Err(Error::format(
                &path,
                format!(
                    "record {i} has label {}, but CIFAR-10 labels are 0..=9 (CIFAR-100's binary \
                     files, with 2 label bytes per record, are not supported)",
                    record[0]
                ),
            ));
        }
        labels.push(record[0]);
        pixels.extend(record[1..].iter().map(|&v| byte_to_unit(v)));
    }
    Ok(())
}
