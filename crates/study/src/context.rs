//! What every figure needs to run: the profile, the root seed, where data and caches live.

use std::path::PathBuf;

use cfm_core::Stream;
use cfm_core::datasets::DataDirs;

use crate::Profile;

/// The settings of one `reproduce` run, shared by all figures.
#[derive(Clone, Debug)]
pub struct Context {
    /// Scale of the run.
    pub profile: Profile,
    /// Root seed; every figure, cell and trained network derives its own stream from it by label.
    pub seed: u64,
    /// Where datasets are looked up (`--data-dir`, `$CFM_DATA_DIR`, `/usr/share/datasets`).
    pub data: DataDirs,
    /// Where finished cells and trained models are cached.
    pub cache_dir: PathBuf,
    /// Whether to draw progress bars.
    pub progress: bool,
    /// How many cells of a figure may run at once (each on its own share of the cores).
    pub jobs: usize,
}

impl Context {
    /// A context with the default seed (0), the standard data directories, hidden progress
    /// bars and one cell at a time.
    pub fn new(profile: Profile, cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            profile,
            seed: 0,
            data: DataDirs::standard(None),
            cache_dir: cache_dir.into(),
            progress: false,
            jobs: 1,
        }
    }

    /// The stream of `label` under the root seed (e.g. `"fig1a"`).
    pub fn stream(&self, label: &str) -> Stream {
        Stream::new(self.seed).derive(label)
    }

    /// The training seed of replicate `k` (0, 1, 2, ...): a labelled derivation of the root
    /// seed, the same for every figure, so that figures training the same network with the
    /// same replicate share it.
    pub fn train_seed(&self, k: u64) -> u64 {
        self.stream("train-seed").derive_index(k).next_u64()
    }
}
