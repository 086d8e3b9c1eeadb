//! What every figure needs to run: the profile, the root seed, where data and caches live.

use std::path::{Path, PathBuf};

use cfm_core::Stream;

use crate::{Error, Profile, Result};

/// The settings of one `reproduce` run, shared by all figures.
#[derive(Clone, Debug)]
pub struct Context {
    /// Scale of the run.
    pub profile: Profile,
    /// Root seed; every figure and cell derives its own stream from it by label.
    pub seed: u64,
    /// Directory with the paper's datasets (CIFAR-10, MNIST, ...), for `--profile paper`.
    pub data_dir: Option<PathBuf>,
    /// Where finished cells and trained models are cached.
    pub cache_dir: PathBuf,
    /// Whether to draw progress bars.
    pub progress: bool,
    /// How many cells of a figure may run at once (each on its own thread).
    pub jobs: usize,
}

impl Context {
    /// A context with the default seed (0), no data directory, hidden progress bars and one
    /// cell at a time.
    pub fn new(profile: Profile, cache_dir: impl Into<PathBuf>) -> Self {
        Self { profile, seed: 0, data_dir: None, cache_dir: cache_dir.into(), progress: false, jobs: 1 }
    }

    /// The stream of `label` under the root seed (e.g. `"fig1a"`).
    pub fn stream(&self, label: &str) -> Stream {
        Stream::new(self.seed).derive(label)
    }

    /// The data directory, or an error that says how to give one.
    pub fn data_dir(&self) -> Result<&Path> {
        self.data_dir.as_deref().ok_or_else(|| {
            Error::invalid(
                "the paper profile reads the paper's datasets from a data directory: pass --data-dir DIR \
                 (README, section 'Data for --profile paper', lists the files expected there)",
            )
        })
    }
}
