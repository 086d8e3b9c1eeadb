//! Files on disk: content-addressed directories, atomic writes, and the training checkpoint.
//!
//! - A directory is named by the SHA-256 of the canonical JSON of what determines its content
//!   (training config, dataset identity, data shape, format version): same inputs, same
//!   directory; any change, a new one.
//! - Every file is written through [`cfm_core::io::write_atomic_with`] (a unique temporary file
//!   in the same directory, synced, then renamed into place), so a reader never sees half a file
//!   and an interrupted write leaves the previous version.
//! - A directory is built under an exclusive lock (`lock_dir`): processes sharing a cache
//!   (cells run at once, jobs of a cluster) train each model once.
//! - The training checkpoint is one safetensors file holding the weights (`param.<name>`), the
//!   Adam moments, the EMA running sums, the step (`meta.step`) and the per-step losses
//!   (`meta.loss`): everything a resumed run needs to continue bit-identically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use cfm_core::io::write_atomic_with;

use crate::{Error, Result};

/// Version of the on-disk formats; part of every content hash.
pub const FORMAT_VERSION: u32 = 2;

/// Hex SHA-256 of the canonical JSON of `key` (struct fields in declaration order).
pub fn content_hash<T: Serialize>(key: &T) -> Result<String> {
    let json = serde_json::to_vec(key).map_err(|e| Error::invalid(format!("cannot serialise key: {e}")))?;
    Ok(Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(format!("cannot serialise {}: {e}", path.display())))?;
    Ok(cfm_core::io::write_atomic(path, (text + "\n").as_bytes())?)
}

/// Reads JSON written by [`write_json`].
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::format(path, format!("not a valid file of this kind: {e}")))
}

/// Writes named tensors as safetensors, atomically.
pub(crate) fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(tensors, tmp).map_err(|e| Error::format(tmp, e.to_string()))
    })
}

/// Reads a safetensors file onto `device`.
pub(crate) fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(Error::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    candle_core::safetensors::load(path, device)
        .map_err(|e| Error::format(path, format!("unreadable safetensors (truncated or corrupt?): {e}")))
}

/// The state of a training run after `step` optimiser steps.
pub(crate) struct Checkpoint {
    /// Optimiser steps done.
    pub step: u64,
    /// Loss of every step so far.
    pub losses: Vec<f32>,
    /// Weights, optimiser and EMA states, by name.
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Writes the checkpoint to `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut all = self.tensors.clone();
        all.insert("meta.step".into(), Tensor::new(&[self.step as i64], &Device::Cpu)?);
        if !self.losses.is_empty() {
            all.insert("meta.loss".into(), Tensor::new(self.losses.as_slice(), &Device::Cpu)?);
        }
        save_tensors(path, &all)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`] onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let mut tensors = load_tensors(path, device)?;
        let bad = |msg: &str| Error::format(path, format!("not a training checkpoint: {msg}"));
        let step = tensors.remove("meta.step").ok_or_else(|| bad("no meta.step"))?;
        let step = step.to_vec1::<i64>().map_err(|e| bad(&e.to_string()))?;
        let step = u64::try_from(*step.first().ok_or_else(|| bad("empty meta.step"))?)
            .map_err(|_| bad("step < 0"))?;
        let losses = match tensors.remove("meta.loss") {
            Some(l) => l.to_vec1::<f32>().map_err(|e| bad(&e.to_string()))?,
            None => Vec::new(),
        };
        if losses.len() as u64 != step {
            return Err(bad(&format!("{} losses for {step} steps", losses.len())));
        }
        Ok(Self { step, losses, tensors })
    }
}

/// The directory `<cache>/<kind>/<hash of key>`.
pub(crate) fn hashed_dir<T: Serialize>(cache: &Path, kind: &str, key: &T) -> Result<PathBuf> {
    Ok(cache.join(kind).join(&content_hash(key)?[..32]))
}

/// An exclusive lock on the content-addressed directory `dir` (`flock` on `<dir>.lock`, see
/// [`cfm_core::io::lock_exclusive`]): held while its content is built, so that processes
/// sharing a cache build it once; the others wait, then find it built. A holder that dies
/// releases it.
pub(crate) fn lock_dir(dir: &Path) -> Result<cfm_core::io::Lock> {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    Ok(cfm_core::io::lock_exclusive(&dir.with_file_name(name))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_content() {
        let a = content_hash(&("cfm", 1u32, 0.5f64)).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(a, content_hash(&("cfm", 1u32, 0.5f64)).unwrap());
        assert_ne!(a, content_hash(&("cfm", 1u32, 0.25f64)).unwrap());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.json");
        write_json(&path, &vec![1, 2]).unwrap();
        write_json(&path, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), vec![3]);
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        let failed = write_atomic_with(&path, |_| Err(Error::invalid("disk full")));
        assert!(failed.is_err());
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), vec![3]);
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let ck = Checkpoint {
            step: 2,
            losses: vec![1.0, 0.5],
            tensors: HashMap::from([(
                "param.w".to_string(),
                Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap(),
            )]),
        };
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path, &Device::Cpu).unwrap();
        assert_eq!((back.step, back.losses.clone()), (2, vec![1.0, 0.5]));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = Checkpoint::load(&path, &Device::Cpu).err().unwrap().to_string();
        assert!(err.contains("c.safetensors") && err.contains("truncated"), "{err}");
    }
}
