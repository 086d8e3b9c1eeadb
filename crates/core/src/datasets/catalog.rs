//! The image datasets the study reads, where they are looked up, and how their files are
//! identified.
//!
//! A dataset is looked up in the data directories in order (`--data-dir`, then
//! `$CFM_DATA_DIR`, then `/usr/share/datasets`, where Debian's dataset packages install), each
//! under the dataset's own sub-folder names only (MNIST and Fashion-MNIST share file names, so
//! a folder is never guessed). Every file found is identified by its SHA-256: the published
//! compressed files (as the datasets' distributors and TensorFlow Datasets list them), and for
//! Fashion-MNIST also Debian's recompressed copies and the decompressed content. A file that
//! matches none is an error that says what it looks like instead. Hashes are computed once per
//! file and process.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::{FileSpec, Source};
use super::{Dataset, ImageShape, cifar, digits, idx};
use crate::{Error, Result};

/// An image dataset of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageData {
    /// The 8x8 digits (ships with the build): 1500 training and 297 test images.
    Digits,
    /// MNIST, 28x28 grey.
    Mnist,
    /// Fashion-MNIST, 28x28 grey (Debian: `dataset-fashion-mnist`).
    FashionMnist,
    /// CIFAR-10, 32x32 colour (binary version).
    Cifar10,
}

const IDX_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

pub(crate) const MNIST: Source = Source {
    name: "MNIST",
    subdirs: &["mnist", "MNIST/raw"],
    files: &[
        FileSpec {
            name: IDX_NAMES[0],
            sha256: &["440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"],
        },
        FileSpec {
            name: IDX_NAMES[1],
            sha256: &["3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"],
        },
        FileSpec {
            name: IDX_NAMES[2],
            sha256: &["8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"],
        },
        FileSpec {
            name: IDX_NAMES[3],
            sha256: &["f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"],
        },
    ],
    download: "download the four .gz files from https://yann.lecun.com/exdb/mnist/ (or a mirror such as \
               https://ossci-datasets.s3.amazonaws.com/mnist/) into DIR/mnist/",
};

/// Published `.gz` (zalandoresearch), Debian's `.gz`, decompressed content (Debian's files).
pub(crate) const FASHION_MNIST: Source = Source {
    name: "Fashion-MNIST",
    subdirs: &["fashion-mnist", "FashionMNIST/raw"],
    files: &[
        FileSpec {
            name: IDX_NAMES[0],
            sha256: &[
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ],
        },
        FileSpec {
            name: IDX_NAMES[1],
            sha256: &[
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ],
        },
        FileSpec {
            name: IDX_NAMES[2],
            sha256: &[
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ],
        },
        FileSpec {
            name: IDX_NAMES[3],
            sha256: &[
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ],
        },
    ],
    download: "on Debian or Ubuntu `apt-get install dataset-fashion-mnist` (into /usr/share/datasets/fashion-mnist/); \
               elsewhere download the four .gz files from https://github.com/zalandoresearch/fashion-mnist \
               (folder data/fashion) into DIR/fashion-mnist/",
};

pub(crate) const CIFAR10: Source = Source {
    name: "CIFAR-10 (binary version)",
    subdirs: &["cifar-10-batches-bin"],
    files: &[
        FileSpec {
            name: "data_batch_1.bin",
            sha256: &["cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"],
        },
        FileSpec {
            name: "data_batch_2.bin",
            sha256: &["a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"],
        },
        FileSpec {
            name: "data_batch_3.bin",
            sha256: &["bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"],
        },
        FileSpec {
            name: "data_batch_4.bin",
            sha256: &["014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"],
        },
        FileSpec {
            name: "data_batch_5.bin",
            sha256: &["755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"],
        },
        FileSpec {
            name: "test_batch.bin",
            sha256: &["8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"],
        },
    ],
    download: "download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and unpack it in DIR \
               (`tar xzf cifar-10-binary.tar.gz` creates cifar-10-batches-bin/)",
};

impl ImageData {
    /// Every dataset.
    pub const ALL: [ImageData; 4] =
        [ImageData::Digits, ImageData::Mnist, ImageData::FashionMnist, ImageData::Cifar10];

    /// Name in tables, file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ImageData::Digits => "digits",
            ImageData::Mnist => "mnist",
            ImageData::FashionMnist => "fashion-mnist",
            ImageData::Cifar10 => "cifar10",
        }
    }

    /// The dataset named `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<ImageData> {
        Self::ALL.into_iter().find(|d| d.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|d| d.name()).collect();
            Error::invalid(format!("unknown dataset '{name}': use {}", names.join(", ")))
        })
    }

    /// The image shape.
    pub fn shape(self) -> ImageShape {
        match self {
            ImageData::Digits => ImageShape::new(1, 8, 8),
            ImageData::Mnist | ImageData::FashionMnist => ImageShape::new(1, 28, 28),
            ImageData::Cifar10 => ImageShape::new(3, 32, 32),
        }
    }

    /// Training and test images.
    pub fn sizes(self) -> (usize, usize) {
        match self {
            ImageData::Digits => (digits::DIGITS_TRAIN, digits::DIGITS_TOTAL - digits::DIGITS_TRAIN),
            ImageData::Mnist | ImageData::FashionMnist => (60_000, 10_000),
            ImageData::Cifar10 => (50_000, 10_000),
        }
    }

    /// The files on disk, for the datasets that do not ship with the build.
    pub(crate) fn source(self) -> Option<&'static Source> {
        match self {
            ImageData::Digits => None,
            ImageData::Mnist => Some(&MNIST),
            ImageData::FashionMnist => Some(&FASHION_MNIST),
            ImageData::Cifar10 => Some(&CIFAR10),
        }
    }

    /// How to get the dataset, one sentence (empty for the digits, which ship with the build).
    pub fn fix(self) -> &'static str {
        self.source().map_or("", |s| s.download)
    }
}

impl std::fmt::Display for ImageData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where datasets are looked up, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDirs {
    dirs: Vec<PathBuf>,
    verify: bool,
}

/// The Debian location of dataset packages.
pub const SYSTEM_DATA_DIR: &str = "/usr/share/datasets";

/// A file of a dataset found on disk and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Where it was read.
    pub path: PathBuf,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A dataset found on disk: its folder and identified files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The folder holding the files.
    pub folder: PathBuf,
    /// Every file, identified.
    pub files: Vec<DataFile>,
}

impl DataDirs {
    /// `--data-dir` (when given), then `$CFM_DATA_DIR` (when set), then `/usr/share/datasets`.
    pub fn standard(cli: Option<&Path>) -> Self {
        let mut dirs: Vec<PathBuf> = cli.map(Path::to_path_buf).into_iter().collect();
        if let Some(env) = std::env::var_os("CFM_DATA_DIR").filter(|v| !v.is_empty()) {
            dirs.push(PathBuf::from(env));
        }
        dirs.push(PathBuf::from(SYSTEM_DATA_DIR));
        Self { dirs, verify: true }
    }

    /// Exactly these directories, in order (no environment, no system folder).
    pub fn only(dirs: Vec<PathBuf>) -> Self {
        Self { dirs, verify: true }
    }

    /// The same directories, with files read whatever their hash (for files written by tests in
    /// the real formats).
    pub fn unverified(self) -> Self {
        Self { verify: false, ..self }
    }

    /// The directories, in lookup order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Finds `data` and identifies its files (the digits: the file embedded in the build).
    pub fn locate(&self, data: ImageData) -> Result<Located> {
        let Some(source) = data.source() else {
            let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/optdigits.tes.gz"));
            let file = DataFile { path: path.clone(), sha256: digits::SHA256.to_string() };
            return Ok(Located {
                folder: path.parent().expect("a file in a folder").into(),
                files: vec![file],
            });
        };
        let folder = source.locate(&self.dirs)?;
        let mut files = Vec::with_capacity(source.files.len());
        for spec in source.files {
            let path = source.path(&folder, spec.name)?;
            let sha256 = if self.verify { identify(&path, source, spec)? } else { sha256_of_file(&path)? };
            files.push(DataFile { path, sha256 });
        }
        Ok(Located { folder, files })
    }

    /// Reads `data` (all of it, or the first `head` training images and the whole test split).
    pub fn load(&self, data: ImageData, head: Option<usize>) -> Result<Dataset> {
        let folder = self.locate(data)?.folder;
        match data {
            ImageData::Digits => Ok(super::digits()),
            ImageData::Mnist => idx::read(&MNIST, data.name(), &folder, head),
            ImageData::FashionMnist => idx::read(&FASHION_MNIST, data.name(), &folder, head),
            ImageData::Cifar10 => cifar::read(&folder, head),
        }
    }
}

/// Hex SHA-256 of `bytes`.
pub(crate) fn hex_sha256(bytes: impl AsRef<[u8]>) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// What identifies a file's content for the hash memo: its path, length and modification time.
type FileKey = (PathBuf, u64, std::time::SystemTime);

/// SHA-256 of a file's bytes, computed once per (path, length, modification time) and process.
fn sha256_of_file(path: &Path) -> Result<String> {
    static MEMO: OnceLock<Mutex<HashMap<FileKey, String>>> = OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().map_err(|e| Error::io(path, e))?);
    let memo = MEMO.get_or_init(Default::default);
    if let Some(h) = memo.lock().expect("no panic while held").get(&key) {
        return Ok(h.clone());
    }
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let h: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    memo.lock().expect("no panic while held").insert(key, h.clone());
    Ok(h)
}

/// The file's SHA-256 if it is one of `spec`'s accepted files (or a compressed file whose
/// content is), else an error saying what it looks like.
fn identify(path: &Path, source: &Source, spec: &FileSpec) -> Result<String> {
    let hash = sha256_of_file(path)?;
    if spec.sha256.contains(&hash.as_str()) {
        return Ok(hash);
    }
    let mut content = Vec::new();
    let (_, mut reader) = source.open(path.parent().unwrap_or(Path::new(".")), spec.name)?;
    let decompressed = reader.read_to_end(&mut content).is_ok() && content.len() as u64 != file_len(path);
    if decompressed && spec.sha256.contains(&hex_sha256(&content).as_str()) {
        return Ok(hash);
    }
    let others = [&MNIST, &FASHION_MNIST, &CIFAR10];
    let like = others.iter().flat_map(|s| s.files.iter().map(move |f| (s, f))).find(|(_, f)| {
        f.sha256.contains(&hash.as_str())
            || (decompressed && f.sha256.contains(&hex_sha256(&content).as_str()))
    });
    let what = match like {
        Some((s, f)) => {
            format!("it is {}'s {} instead; put the files of each dataset in its own folder", s.name, f.name)
        }
        None => format!(
            "it matches no published copy ({} bytes): a different release, a modified or a truncated file; \
             {}",
            file_len(path),
            source.download
        ),
    };
    Err(Error::format(path, format!("is not {}'s {} (SHA-256 {hash}): {what}", source.name, spec.name)))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_listed() {
        for d in ImageData::ALL {
            assert_eq!(ImageData::parse(d.name()).unwrap(), d);
        }
        let err = ImageData::parse("svhn").unwrap_err().to_string();
        assert!(err.contains("fashion-mnist") && err.contains("cifar10"), "{err}");
    }

    #[test]
    fn the_environment_comes_between_the_flag_and_the_system_folder() {
        let dirs = DataDirs::standard(Some(Path::new("/given")));
        assert_eq!(dirs.dirs().first(), Some(&PathBuf::from("/given")));
        assert_eq!(dirs.dirs().last(), Some(&PathBuf::from(SYSTEM_DATA_DIR)));
    }

    #[test]
    fn unrecognised_files_are_errors_unless_unverified() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("fashion-mnist");
        std::fs::create_dir_all(&folder).unwrap();
        for f in FASHION_MNIST.files {
            std::fs::write(folder.join(format!("{}.gz", f.name)), b"\x1f\x8bnot really").unwrap();
        }
        let err =
            DataDirs::only(vec![dir.path().into()]).locate(ImageData::FashionMnist).unwrap_err().to_string();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains("matches no published copy"),
            "{err}"
        );
        // Unverified, the same files are found.
        let found =
            DataDirs::only(vec![dir.path().into()]).unverified().locate(ImageData::FashionMnist).unwrap();
        assert_eq!(found.folder, folder);
        assert_eq!(found.files.len(), 4);
    }
}
