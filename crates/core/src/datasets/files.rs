//! Finding a dataset's files in a data directory and reading them, raw or gzip-compressed.
//!
//! A file `name` is looked up as `name` then `name.gz`; either is decompressed when its content
//! starts with the gzip magic bytes `1f 8b`, so a renamed file reads as well. Every failure
//! names the file, says what was expected there and how to fix it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::{Error, Result};

/// The files of a dataset read from disk, where they may live and where to get them.
pub(crate) struct Source {
    /// Name for messages, e.g. `"MNIST"`.
    pub name: &'static str,
    /// Sub-folders of a data directory that may hold the dataset, in order: its own names only
    /// (MNIST and Fashion-MNIST share file names, so a folder is never guessed).
    pub subdirs: &'static [&'static str],
    /// Every file the dataset needs, with the SHA-256 values it is recognised by.
    pub files: &'static [FileSpec],
    /// How to get the files, as a sentence.
    pub download: &'static str,
}

/// A file of a dataset and the hashes that identify it.
pub(crate) struct FileSpec {
    /// Its name (read as `name` or `name.gz`).
    pub name: &'static str,
    /// SHA-256 of the accepted files: the published compressed file, and where known the
    /// decompressed content and other distributions' compressed copies.
    pub sha256: &'static [&'static str],
}

impl Source {
    /// The names of the files, for messages.
    pub fn names(&self) -> Vec<&'static str> {
        self.files.iter().map(|f| f.name).collect()
    }

    /// What the dataset needs and where: the body of every "missing" message.
    fn expected(&self, places: &str) -> String {
        format!(
            "{} needs the files {} (each raw or gzip-compressed, optionally with a .gz suffix) in {places}; {}",
            self.name,
            self.names().join(", "),
            self.download
        )
    }

    /// The folder holding the dataset: the first `dir/<subdir>` (data directories in order,
    /// then sub-folders in order) that contains the first of [`files`](Self::files).
    pub fn locate(&self, dirs: &[PathBuf]) -> Result<PathBuf> {
        let candidates: Vec<PathBuf> =
            dirs.iter().flat_map(|d| self.subdirs.iter().map(move |s| d.join(s))).collect();
        if let Some(found) = candidates.iter().find(|c| path_of(c, self.files[0].name).is_some()) {
            return Ok(found.clone());
        }
        let places = candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" or ");
        let at = dirs.first().cloned().unwrap_or_default();
        let msg = format!("not found; {}", self.expected(&places));
        Err(Error::io(at, io::Error::new(io::ErrorKind::NotFound, msg)))
    }

    /// The path of `file` in `folder` (`file` or `file.gz`), or an error saying what is missing.
    pub fn path(&self, folder: &Path, file: &str) -> Result<PathBuf> {
        path_of(folder, file).ok_or_else(|| {
            let msg = format!("missing; {}", self.expected(&folder.display().to_string()));
            Error::io(folder.join(file), io::Error::new(io::ErrorKind::NotFound, msg))
        })
    }

    /// Opens `file` in `folder` (`file` or `file.gz`), transparently decompressing
    /// gzip content. Returns the path actually opened, for messages.
    pub fn open(&self, folder: &Path, file: &str) -> Result<(PathBuf, Box<dyn Read>)> {
        let path = self.path(folder, file)?;
        let mut reader = BufReader::new(File::open(&path).map_err(|e| Error::io(&path, e))?);
        let gzip = reader.fill_buf().map_err(|e| Error::io(&path, e))?.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read> =
            if gzip { Box::new(BufReader::new(MultiGzDecoder::new(reader))) } else { Box::new(reader) };
        Ok((path, reader))
    }
}

/// `folder/file.gz` or `folder/file`, whichever exists first (the published files are
/// compressed, and their hashes are the ones everybody publishes).
fn path_of(folder: &Path, file: &str) -> Option<PathBuf> {
    [folder.join(format!("{file}.gz")), folder.join(file)].into_iter().find(|p| p.is_file())
}

/// A read failure of `path`: a truncated or corrupt compressed stream is a format error (the
/// fix is a new download), anything else an I/O error.
fn read_error(path: &Path, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            Error::format(path, "truncated: the compressed stream ends early; download the file again")
        }
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            Error::format(path, format!("corrupt compressed data ({e}); download the file again"))
        }
        _ => Error::io(path, e),
    }
}

/// Reads exactly `n` bytes of `what` (for messages, e.g. "pixels (60000 images of 28x28)"), or
/// fails naming `path` as truncated.
pub(crate) fn read_bytes(r: &mut dyn Read, path: &Path, n: usize, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n.min(1 << 26));
    r.take(n as u64).read_to_end(&mut buf).map_err(|e| read_error(path, e))?;
    if buf.len() < n {
        return Err(Error::format(
            path,
            format!(
                "truncated: expected {n} bytes of {what} but only {} are left; download the file again",
                buf.len()
            ),
        ));
    }
    Ok(buf)
}

/// Reads everything left in `r` (at most `max` bytes when given).
pub(crate) fn read_rest(r: &mut dyn Read, path: &Path, max: Option<usize>) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match max {
        Some(m) => r.take(m as u64).read_to_end(&mut buf),
        None => r.read_to_end(&mut buf),
    }
    .map_err(|e| read_error(path, e))?;
    Ok(buf)
}

/// Fails unless `r` is exhausted: the file holds more than `what`, which its header announced.
pub(crate) fn expect_end(r: &mut dyn Read, path: &Path, what: &str) -> Result<()> {
    let extra = read_rest(r, path, Some(1))?;
    if !extra.is_empty() {
        return Err(Error::format(
            path,
            format!(
                "has bytes after the {what} its header announces: the header or the file is corrupt; download it again"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SOURCE: Source = Source {
        name: "Test set",
        subdirs: &["sub", "other"],
        files: &[FileSpec { name: "a.bin", sha256: &[] }, FileSpec { name: "b.bin", sha256: &[] }],
        download: "get them from example.org",
    };

    #[test]
    fn locates_only_the_datasets_own_subfolders_in_directory_order() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dirs = vec![one.path().to_path_buf(), two.path().to_path_buf()];
        std::fs::write(one.path().join("a.bin"), b"top").unwrap();
        let err = SOURCE.locate(&dirs).unwrap_err().to_string();
        assert!(err.contains("not found") && err.contains("sub") && err.contains("example.org"), "{err}");
        std::fs::create_dir(two.path().join("other")).unwrap();
        std::fs::write(two.path().join("other/a.bin.gz"), b"x").unwrap();
        assert_eq!(SOURCE.locate(&dirs).unwrap(), two.path().join("other"));
        std::fs::create_dir(one.path().join("sub")).unwrap();
        std::fs::write(one.path().join("sub/a.bin"), b"sub").unwrap();
        assert_eq!(SOURCE.locate(&dirs).unwrap(), one.path().join("sub"));
    }

    #[test]
    fn reads_gzip_by_content_and_reports_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello world").unwrap();
        let gz = gz.finish().unwrap();
        std::fs::write(dir.path().join("a.bin"), &gz).unwrap(); // gzip without the suffix
        let (path, mut r) = SOURCE.open(dir.path(), "a.bin").unwrap();
        assert_eq!(read_bytes(&mut r, &path, 5, "a greeting").unwrap(), b"hello");
        assert!(expect_end(&mut r, &path, "greeting").is_err());
        assert_eq!(read_rest(&mut r, &path, None).unwrap(), b"world");
        let err = read_bytes(&mut r, &path, 1, "one more byte").unwrap_err().to_string();
        assert!(err.contains("a.bin") && err.contains("truncated"), "{err}");
        let err = SOURCE.open(dir.path(), "b.bin").err().unwrap().to_string();
        assert!(err.contains("b.bin") && err.contains("missing") && err.contains("example.org"), "{err}");
    }
}
