//! MNIST and Fashion-MNIST from their IDX files.
//!
//! IDX: a big-endian `u32` magic number `0x0000_08NN` (`08`: unsigned bytes, `NN`: number of
//! dimensions), then `NN` big-endian `u32` sizes, then the values in row-major order. Images
//! files hold `(count, rows, cols)` (magic `0x00000803`), labels files `(count)` (magic
//! `0x00000801`). Both datasets use the same four file names, each raw or gzip-compressed.

use std::path::{Path, PathBuf};

use super::files::{Source, expect_end, read_bytes};
use super::{Dataset, ImageShape, byte_to_unit};
use crate::{Error, Matrix, Result};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Training images and labels, test images and labels, in the order of the sources' files.
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Both splits of an IDX image set in `folder` (MNIST and Fashion-MNIST, 60000 training and
/// 10000 test images of 1 x 28 x 28; pixels `v` become `v / 127.5 - 1`); `limit` caps the
/// training images read (the rest of the file is not touched).
pub(crate) fn read(source: &Source, name: &str, folder: &Path, limit: Option<usize>) -> Result<Dataset> {
    let folder = folder.to_path_buf();
    let train = split(source, &folder, FILES[0], FILES[1], limit)?;
    let test = split(source, &folder, FILES[2], FILES[3], None)?;
    if test.shape != train.shape {
        return Err(Error::format(
            &test.path,
            format!(
                "images are {} but the training images ({}) are {}; both must come from the same dataset",
                test.shape,
                train.path.display(),
                train.shape
            ),
        ));
    }
    Ok(Dataset {
        name: name.to_string(),
        train: train.images,
        test: Some(test.images),
        train_labels: Some(train.labels),
        test_labels: Some(test.labels),
        image: Some(train.shape),
    })
}

/// One split: its images, their labels, their shape, and the images file it came from.
struct Split {
    images: Matrix,
    labels: Vec<u8>,
    shape: ImageShape,
    path: PathBuf,
}

/// Reads an images file and its labels file, checking each against its header and the two
/// against each other; at most `limit` images when given.
fn split(source: &Source, folder: &Path, images: &str, labels: &str, limit: Option<usize>) -> Result<Split> {
    let (path, mut r) = source.open(folder, images)?;
    let dims = header(&mut r, &path, IMAGES_MAGIC)?;
    let (count, h, w) = (dims[0], dims[1], dims[2]);
    if h == 0 || w == 0 {
        return Err(Error::format(
            &path,
            format!("header announces images of {h}x{w} pixels; the file is corrupt"),
        ));
    }
    let keep = limit.map_or(count, |l| l.min(count));
    let n_bytes = keep.checked_mul(h * w).ok_or_else(|| {
        Error::format(&path, format!("header sizes {count} x {h} x {w} overflow; the file is corrupt"))
    })?;
    let pixels = read_bytes(&mut r, &path, n_bytes, &format!("pixels ({keep} images of {h}x{w})"))?;
    if keep == count {
        expect_end(&mut r, &path, &format!("{count} images"))?;
    }

    let (lpath, mut r) = source.open(folder, labels)?;
    let n_labels = header(&mut r, &lpath, LABELS_MAGIC)?[0];
    if n_labels != count {
        return Err(Error::format(
            &lpath,
            format!(
                "holds {n_labels} labels but {} holds {count} images; both files must come from the same release",
                path.display()
            ),
        ));
    }
    let label_bytes = read_bytes(&mut r, &lpath, keep, &format!("labels ({keep} of them)"))?;
    if keep == count {
        expect_end(&mut r, &lpath, &format!("{count} labels"))?;
    }
    if let Some(i) = label_bytes.iter().position(|&l| l > 9) {
        return Err(Error::format(
            &lpath,
            format!("label {} at position {i} is outside 0..=9; the file is corrupt", label_bytes[i]),
        ));
    }
    Ok(Split {
        images: Matrix::from_vec(keep, h * w, pixels.iter().map(|&v| byte_to_unit(v)).collect())?,
        labels: label_bytes,
        shape: ImageShape::new(1, h, w),
        path,
    })
}

/// Checks the magic number `magic` and returns the dimension sizes that follow it.
fn header(r: &mut dyn std::io::Read, path: &Path, magic: u32) -> Result<Vec<usize>> {
    let what = |m: u32| match m {
        IMAGES_MAGIC => Some("images (magic 0x00000803)"),
        LABELS_MAGIC => Some("labels (magic 0x00000801)"),
        _ => None,
    };
    let bytes = read_bytes(r, path, 4, "IDX magic number")?;
    let found = u32::from_be_bytes(bytes.try_into().expect("4 bytes"));
    if found != magic {
        let want = what(magic).expect("known magic");
        let msg = match what(found) {
            Some(got) => format!("holds IDX {got} where IDX {want} were expected; check the file name"),
            None => format!(
                "magic number 0x{found:08x} is not that of IDX {want}: not an MNIST-style file \
                 (perhaps an error page saved by a failed download); download it again"
            ),
        };
        return Err(Error::format(path, msg));
    }
    let ndims = (magic & 0xff) as usize;
    let sizes = read_bytes(r, path, 4 * ndims, "IDX dimension sizes")?;
    Ok(sizes.chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_reads_sizes_and_rejects_other_magics() {
        let path = Path::new("x-idx3-ubyte");
        let mut ok: &[u8] = &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 1, 0];
        assert_eq!(header(&mut ok, path, IMAGES_MAGIC).unwrap(), vec![2, 28, 256]);
        let mut labels: &[u8] = &[0, 0, 8, 1, 0, 0, 0, 2];
        let err = header(&mut labels, path, IMAGES_MAGIC).unwrap_err().to_string();
        assert!(err.contains("x-idx3-ubyte") && err.contains("labels"), "{err}");
        let mut html: &[u8] = b"<!DOCTYPE html>";
        let err = header(&mut html, path, LABELS_MAGIC).unwrap_err().to_string();
        assert!(err.contains("0x3c21444f"), "{err}");
        let mut short: &[u8] = &[0, 0, 8, 3, 0, 0];
        let err = header(&mut short, path, IMAGES_MAGIC).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
