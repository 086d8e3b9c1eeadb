//! Datasets end to end: the embedded digits, the CIFAR-10 and IDX readers on small files written
//! here in exactly the real formats (good, truncated, mislabelled, missing), and resampling.

use std::io::Write;
use std::path::Path;

use cfm_core::datasets::{
    self, DataDirs, Dataset, ImageData, ImageShape, Upsample, downsample, resize, upsample,
};
use cfm_core::{Matrix, Stream};
use proptest::prelude::*;

/// The error message of `r`, which must be an error.
fn err<T: std::fmt::Debug>(r: cfm_core::Result<T>) -> String {
    r.unwrap_err().to_string()
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}: {msg}");
    }
}

/// The datasets under `dir` only, read whatever their hashes (the files here are written by the
/// tests in the real formats).
fn dirs(dir: &Path) -> DataDirs {
    DataDirs::only(vec![dir.to_path_buf()]).unverified()
}

fn cifar10(dir: &Path) -> cfm_core::Result<Dataset> {
    dirs(dir).load(ImageData::Cifar10, None)
}

fn cifar10_head(dir: &Path, n: usize) -> cfm_core::Result<Dataset> {
    dirs(dir).load(ImageData::Cifar10, Some(n))
}

fn mnist(dir: &Path) -> cfm_core::Result<Dataset> {
    dirs(dir).load(ImageData::Mnist, None)
}

fn mnist_head(dir: &Path, n: usize) -> cfm_core::Result<Dataset> {
    dirs(dir).load(ImageData::Mnist, Some(n))
}

fn fashion_mnist(dir: &Path) -> cfm_core::Result<Dataset> {
    dirs(dir).load(ImageData::FashionMnist, None)
}

fn fashion_mnist_head(dir: &Path, n: usize) -> cfm_core::Result<Dataset> {
    dirs(dir).load(ImageData::FashionMnist, Some(n))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

// ---------------------------------------------------------------- digits

#[test]
fn digits_split_values_and_labels() {
    let d = datasets::digits();
    let (train, test) = (&d.train, d.test.as_ref().unwrap());
    assert_eq!((train.rows(), test.rows(), train.rows() + test.rows()), (1500, 297, 1797));
    for v in train.as_slice().iter().chain(test.as_slice()) {
        let level = (v + 1.0) * 8.0; // back to 0..=16
        assert!((-1.0..=1.0).contains(v) && level == level.round(), "{v}");
    }
    for labels in [d.train_labels.as_ref().unwrap(), d.test_labels.as_ref().unwrap()] {
        let mut seen = [false; 10];
        labels.iter().for_each(|&l| seen[l as usize] = true);
        assert!(seen.iter().all(|&s| s), "{seen:?}");
    }
    assert_eq!(d, datasets::digits(), "the split is fixed");
    // The data are sklearn's load_digits: its first image, a zero, is in one of the splits.
    #[rustfmt::skip]
    let zero: [u8; 64] = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
        0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0,
        0, 0, 6, 13, 10, 0, 0, 0];
    let zero: Vec<f32> = zero.iter().map(|&v| v as f32 / 8.0 - 1.0).collect();
    let labelled = train
        .iter_rows()
        .zip(d.train_labels.as_ref().unwrap())
        .chain(test.iter_rows().zip(d.test_labels.as_ref().unwrap()));
    let hits: Vec<u8> = labelled.filter(|(r, _)| *r == zero.as_slice()).map(|(_, &l)| l).collect();
    assert_eq!(hits, vec![0]);
    // The split is shuffled: the raw order cycles through 0, 1, 2, ..., 9.
    assert_ne!(&d.train_labels.as_ref().unwrap()[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

// ---------------------------------------------------------------- CIFAR-10

/// One CIFAR-10 record: the label, then R, G, B planes that depend on `seed`.
fn record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..1024).map(|i| (i as u8).wrapping_add(seed))); // red
    r.extend((0..1024).map(|i| 255 - (i as u8).wrapping_add(seed))); // green
    r.extend(std::iter::repeat_n(seed, 1024)); // blue
    r
}

/// Writes the six batch files into `folder`: 2, 1, 1, 1, 2 training records and 3 test ones.
fn write_cifar(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    let counts = [2, 1, 1, 1, 2];
    let mut k = 0u8;
    for (b, &c) in counts.iter().enumerate() {
        let bytes: Vec<u8> = (0..c)
            .flat_map(|_| {
                k += 1;
                record(k % 10, k)
            })
            .collect();
        std::fs::write(folder.join(format!("data_batch_{}.bin", b + 1)), bytes).unwrap();
    }
    let test: Vec<u8> = (0..3).flat_map(|i| record(9 - i, 100 + i)).collect();
    std::fs::write(folder.join("test_batch.bin"), test).unwrap();
}

#[test]
fn cifar_reads_records_in_channel_major_order() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(&dir.path().join("cifar-10-batches-bin"));
    let d = cifar10(dir.path()).unwrap();
    assert_eq!(d.name, "cifar10");
    assert_eq!(d.image, Some(ImageShape::new(3, 32, 32)));
    assert_eq!((d.train.rows(), d.train.cols()), (7, 3072));
    assert_eq!(d.train_labels.as_deref(), Some(&[1, 2, 3, 4, 5, 6, 7][..]));
    assert_eq!(d.test_labels.as_deref(), Some(&[9, 8, 7][..]));
    let unit = |v: u8| v as f32 / 127.5 - 1.0;
    let row = d.train.row(2); // seed 3
    assert_eq!((row[0], row[5], row[1023]), (unit(3), unit(8), unit(2)));
    assert_eq!((row[1024], row[1024 + 5]), (unit(252), unit(247)));
    assert_eq!((row[2048], row[3071]), (unit(3), unit(3)));
    assert_eq!(d.test.as_ref().unwrap().row(1)[0], unit(101));
    assert!(d.train.as_slice().iter().all(|v| (-1.0..=1.0).contains(v)));

    // The first records only.
    let head = cifar10_head(dir.path(), 3).unwrap();
    assert_eq!(head.train, d.train.slice_rows(0, 3));
    assert_eq!(head.train_labels.as_deref(), Some(&[1, 2, 3][..]));
    assert_eq!(head.test, d.test);
    assert_eq!(cifar10_head(dir.path(), 0).unwrap().train.rows(), 0);
    // A dataset is there only when all its files are.
    std::fs::remove_file(dir.path().join("cifar-10-batches-bin/data_batch_4.bin")).unwrap();
    let msg = err(cifar10_head(dir.path(), 1));
    assert_mentions(&msg, &["data_batch_4.bin", "missing", "cifar-10-binary.tar.gz"]);
}

#[test]
fn cifar_files_gzipped_but_never_directly_in_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("cifar-10-batches-bin");
    write_cifar(&folder);
    let plain = cifar10(dir.path()).unwrap();
    let test = std::fs::read(folder.join("test_batch.bin")).unwrap();
    std::fs::remove_file(folder.join("test_batch.bin")).unwrap();
    std::fs::write(folder.join("test_batch.bin.gz"), gzip(&test)).unwrap();
    assert_eq!(cifar10(dir.path()).unwrap(), plain);
    assert_eq!(cifar10_head(dir.path(), 100).unwrap(), plain);
    // The dataset's own folder only: files put in the data directory itself are not guessed at.
    let flat = tempfile::tempdir().unwrap();
    write_cifar(flat.path());
    assert_mentions(&err(cifar10(flat.path())), &["not found", "cifar-10-batches-bin"]);
}

#[test]
fn cifar_errors_name_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let msg = err(cifar10(&dir.path().join("nowhere")));
    assert_mentions(
        &msg,
        &["nowhere", "not found", "data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"],
    );
    assert_mentions(
        &msg,
        &["cifar-10-batches-bin", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
    );
    let msg = err(cifar10(dir.path()));
    assert_mentions(&msg, &["not found", "data_batch_1.bin", "cifar-10-binary.tar.gz"]);

    let folder = dir.path().join("cifar-10-batches-bin");
    write_cifar(&folder);
    std::fs::remove_file(folder.join("test_batch.bin")).unwrap();
    assert_mentions(&err(cifar10(dir.path())), &["test_batch.bin", "missing", "cifar-10-binary.tar.gz"]);

    write_cifar(&folder);
    let path = folder.join("data_batch_2.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(3073 - 100);
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(&err(cifar10(dir.path())), &["data_batch_2.bin", "2973 bytes", "truncated"]);
    std::fs::write(&path, []).unwrap();
    assert_mentions(&err(cifar10(dir.path())), &["data_batch_2.bin", "0 bytes"]);

    write_cifar(&folder);
    std::fs::write(&path, record(10, 1)).unwrap();
    assert_mentions(&err(cifar10(dir.path())), &["data_batch_2.bin", "label 10", "0..=9"]);
}

// ---------------------------------------------------------------- MNIST / Fashion-MNIST

/// An IDX images file: magic 0x00000803, sizes, then `count` images of `h x w` bytes.
fn idx_images(count: usize, h: usize, w: usize, seed: u8) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for s in [count, h, w] {
        b.extend((s as u32).to_be_bytes());
    }
    b.extend((0..count * h * w).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
    b
}

/// An IDX labels file: magic 0x00000801, the count, then the labels.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

const TRAIN_LABELS: [u8; 5] = [5, 0, 4, 1, 9];
const TEST_LABELS: [u8; 3] = [7, 2, 1];

/// Writes the four files (5 training, 3 test images of 28x28) into `folder`, gzipped with a
/// `.gz` suffix when `gz`.
fn write_idx(folder: &Path, gz: bool) {
    std::fs::create_dir_all(folder).unwrap();
    let files = [
        ("train-images-idx3-ubyte", idx_images(5, 28, 28, 1)),
        ("train-labels-idx1-ubyte", idx_labels(&TRAIN_LABELS)),
        ("t10k-images-idx3-ubyte", idx_images(3, 28, 28, 2)),
        ("t10k-labels-idx1-ubyte", idx_labels(&TEST_LABELS)),
    ];
    for (name, bytes) in files {
        if gz {
            std::fs::write(folder.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn idx_raw_and_gzip_read_the_same_images() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(&dir.path().join("mnist"), false);
    write_idx(&dir.path().join("fashion-mnist"), true);
    let m = mnist(dir.path()).unwrap();
    assert_eq!(m.name, "mnist");
    assert_eq!(m.image, Some(ImageShape::new(1, 28, 28)));
    assert_eq!((m.train.rows(), m.train.cols(), m.test.as_ref().unwrap().rows()), (5, 784, 3));
    assert_eq!(m.train_labels.as_deref(), Some(&TRAIN_LABELS[..]));
    assert_eq!(m.test_labels.as_deref(), Some(&TEST_LABELS[..]));
    let unit = |v: u8| v as f32 / 127.5 - 1.0;
    // Pixel i of the file is (7 i + seed) mod 256; image 1 starts at i = 784.
    assert_eq!(m.train.row(1)[3], unit(((784 + 3) * 7 % 256 + 1) as u8));
    assert_eq!(m.test.as_ref().unwrap().row(0)[0], unit(2));

    let f = fashion_mnist(dir.path()).unwrap();
    assert_eq!(f.name, "fashion-mnist");
    assert_eq!((&f.train, &f.test, &f.train_labels, f.image), (&m.train, &m.test, &m.train_labels, m.image));

    let head = mnist_head(dir.path(), 2).unwrap();
    assert_eq!(head.train, m.train.slice_rows(0, 2));
    assert_eq!(head.train_labels.as_deref(), Some(&TRAIN_LABELS[..2]));
    assert_eq!(head.test, m.test);
    assert_eq!(fashion_mnist_head(dir.path(), 99).unwrap(), f);
}

#[test]
fn idx_files_in_their_own_folders_never_the_directory_itself() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path(), true);
    // MNIST and Fashion-MNIST share file names: files in the directory itself are neither.
    assert_mentions(&err(mnist(dir.path())), &["not found", "mnist"]);
    assert_mentions(&err(fashion_mnist(dir.path())), &["not found", "fashion-mnist"]);
    write_idx(&dir.path().join("mnist"), true);
    let top = mnist(dir.path()).unwrap();
    let tv = tempfile::tempdir().unwrap();
    write_idx(&tv.path().join("MNIST/raw"), false);
    assert_eq!(mnist(tv.path()).unwrap(), top);
    // Fashion-MNIST does not pick up MNIST's folder.
    let msg = err(fashion_mnist(tv.path()));
    assert_mentions(&msg, &["not found", "Fashion-MNIST", "fashion-mnist", "zalandoresearch/fashion-mnist"]);
}

#[test]
fn idx_missing_files_say_what_goes_where() {
    let dir = tempfile::tempdir().unwrap();
    let msg = err(mnist(&dir.path().join("data")));
    assert_mentions(&msg, &["not found", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]);
    assert_mentions(
        &msg,
        &["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "mnist", "yann.lecun.com/exdb/mnist"],
    );
    let folder = dir.path().join("mnist");
    write_idx(&folder, false);
    std::fs::remove_file(folder.join("t10k-labels-idx1-ubyte")).unwrap();
    assert_mentions(&err(mnist(dir.path())), &["t10k-labels-idx1-ubyte", "missing", "yann.lecun.com"]);
}

/// Writes `bytes` as `name` in a fresh MNIST folder and returns the reader's error.
fn mnist_error_with(name: &str, bytes: Vec<u8>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mnist");
    write_idx(&folder, false);
    std::fs::write(folder.join(name), bytes).unwrap();
    err(mnist(dir.path()))
}

#[test]
fn idx_format_errors_name_the_file() {
    let images = "train-images-idx3-ubyte";
    let labels = "train-labels-idx1-ubyte";
    let mut short = idx_images(5, 28, 28, 1);
    short.truncate(short.len() - 10);
    assert_mentions(&mnist_error_with(images, short), &[images, "truncated", "3920 bytes", "3910"]);
    assert_mentions(&mnist_error_with(images, vec![0, 0, 8]), &[images, "truncated", "magic"]);
    assert_mentions(&mnist_error_with(images, idx_labels(&TRAIN_LABELS)), &[images, "labels", "0x00000803"]);
    assert_mentions(&mnist_error_with(labels, idx_images(5, 28, 28, 1)), &[labels, "images", "0x00000801"]);
    assert_mentions(&mnist_error_with(images, b"<html>not found</html>".to_vec()), &[images, "magic number"]);
    let msg = mnist_error_with(labels, idx_labels(&[1, 2, 3, 4]));
    assert_mentions(&msg, &[labels, "4 labels", "5 images", images]);
    assert_mentions(
        &mnist_error_with(labels, idx_labels(&[1, 2, 10, 4, 5])),
        &[labels, "label 10", "position 2"],
    );
    let mut long = idx_images(5, 28, 28, 1);
    long.push(0);
    assert_mentions(&mnist_error_with(images, long), &[images, "bytes after the 5 images"]);
    let msg = mnist_error_with("t10k-images-idx3-ubyte", idx_images(3, 14, 14, 2));
    assert_mentions(&msg, &["t10k-images-idx3-ubyte", "1x14x14", "1x28x28"]);
    assert_mentions(&mnist_error_with(images, idx_images(5, 0, 28, 1)), &[images, "0x28"]);
}

#[test]
fn idx_truncated_gzip_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mnist");
    write_idx(&folder, true);
    let path = folder.join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_mentions(&err(mnist(dir.path())), &["train-images-idx3-ubyte.gz", "truncated"]);
    let mut corrupt = bytes.clone();
    let n = corrupt.len();
    corrupt[n - 8] ^= 0xff; // the CRC of the decompressed data
    std::fs::write(&path, &corrupt).unwrap();
    assert_mentions(&err(mnist(dir.path())), &["train-images-idx3-ubyte.gz", "corrupt"]);
}

// ---------------------------------------------------------------- resampling

#[test]
fn fig1c_resolutions_of_the_digits() {
    let d = datasets::digits();
    for (size, method, dim) in [
        (2, Upsample::Bilinear, 4),
        (4, Upsample::Bilinear, 16),
        (8, Upsample::Bilinear, 64),
        (16, Upsample::Bilinear, 256),
        (32, Upsample::Nearest, 1024),
    ] {
        let r = d.resized(size, method).unwrap();
        assert_eq!(
            (r.dim(), r.image, r.test.as_ref().unwrap().cols()),
            (dim, Some(ImageShape::new(1, size, size)), dim)
        );
        assert_eq!((r.train.rows(), &r.train_labels), (1500, &d.train_labels));
        assert!(r.train.as_slice().iter().all(|v| (-1.0..=1.0).contains(v)));
    }
    assert!(err(d.resized(3, Upsample::Nearest)).contains("8x8"));
    let toy = datasets::Dataset { image: None, ..d };
    assert!(err(toy.resized(4, Upsample::Nearest)).contains("not images"));
}

#[test]
fn block_means_survive_downsample_then_nearest_upsample() {
    // CIFAR-like 32 -> 4, 8, 16 and MNIST-like 28 -> 7, 14.
    for (shape, sizes) in
        [(ImageShape::new(3, 32, 32), vec![4, 8, 16]), (ImageShape::new(1, 28, 28), vec![7, 14])]
    {
        let mut s = Stream::new(9);
        let x = Matrix::from_vec(4, shape.dim(), s.normal_vec(4 * shape.dim())).unwrap();
        for size in sizes {
            let factor = shape.height / size;
            let (low, low_shape) = resize(&x, shape, size, Upsample::Bilinear).unwrap();
            assert_eq!(low_shape, ImageShape::new(shape.channels, size, size));
            let (up, up_shape) =
                upsample(&low, low_shape, shape.height, shape.width, Upsample::Nearest).unwrap();
            assert_eq!(up_shape, shape);
            let (again, _) = downsample(&up, shape, factor).unwrap();
            for (a, b) in again.as_slice().iter().zip(low.as_slice()) {
                assert!((a - b).abs() < 1e-6, "{a} {b}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Nearest up-sampling by `f` then pooling by `f` is the identity, and pooling keeps the
    /// mean of every channel.
    #[test]
    fn pooling_inverts_nearest_and_keeps_means(seed in 0u64..1000, c in 1usize..4, h in 1usize..6, w in 1usize..6, f in 1usize..4) {
        let shape = ImageShape::new(c, h * f, w * f);
        let x = Matrix::from_vec(2, shape.dim(), Stream::new(seed).normal_vec(2 * shape.dim())).unwrap();
        let (low, low_shape) = downsample(&x, shape, f).unwrap();
        let (up, _) = upsample(&low, low_shape, h * f, w * f, Upsample::Nearest).unwrap();
        let (back, _) = downsample(&up, shape, f).unwrap();
        for (a, b) in back.as_slice().iter().zip(low.as_slice()) {
            prop_assert!((a - b).abs() < 1e-5);
        }
        for r in 0..2 {
            for ch in 0..c {
                let mean = |v: &[f32]| v.iter().map(|&a| a as f64).sum::<f64>() / v.len() as f64;
                let hi = mean(&x.row(r)[ch * shape.height * shape.width..][..shape.height * shape.width]);
                let lo = mean(&low.row(r)[ch * h * w..][..h * w]);
                prop_assert!((hi - lo).abs() < 1e-5);
            }
        }
        // Bilinear of a constant image is that constant.
        let flat = Matrix::from_vec(1, low_shape.dim(), vec![0.25; low_shape.dim()]).unwrap();
        let (big, _) = upsample(&flat, low_shape, h * f + 1, w * f + 2, Upsample::Bilinear).unwrap();
        prop_assert!(big.as_slice().iter().all(|&v| (v - 0.25).abs() < 1e-6));
    }
}
