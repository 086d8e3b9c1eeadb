//! Reading and writing matrices as NumPy `.npy` files and CSV text, and atomic file writes.
//!
//! `.npy` (format versions 1-3): little-endian `f4`, `f8`, `u1`, `i4` or `i8` arrays of one or two
//! dimensions, C or Fortran order; read as `f32` (a 1-D array is one column). Written as
//! version 1.0, `<f4`, C order. CSV: comma-separated numbers, one point per line; a first line
//! whose every field is non-numeric is taken as a header. Writes go to a temporary file that is
//! renamed into place, so an error or an interruption never leaves a half-written file.

use std::path::{Path, PathBuf};

use crate::{Error, Matrix, Result};

/// The formats a matrix file can have, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy`.
    Npy,
    /// Comma-separated values.
    Csv,
}

impl Format {
    /// The format of `path` from its extension (`.npy` or `.csv`).
    pub fn of(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("npy") => Ok(Format::Npy),
            Some("csv") => Ok(Format::Csv),
            _ => Err(Error::format(path, "unknown file type: use a .npy or .csv file")),
        }
    }
}

/// Reads a matrix from a `.npy` or `.csv` file; rejects empty matrices and NaN or inf values.
pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let format = Format::of(path)?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let m = match format {
        Format::Npy => parse_npy(&bytes).map_err(|msg| Error::format(path, msg))?,
        Format::Csv => parse_csv(&bytes).map_err(|msg| Error::format(path, msg))?,
    };
    if m.is_empty() {
        return Err(Error::format(path, "no data: the file holds an empty matrix"));
    }
    m.check_finite(&path.display().to_string())?;
    Ok(m)
}

/// Writes `m` to a `.npy` or `.csv` file, atomically.
pub fn write_matrix(path: &Path, m: &Matrix) -> Result<()> {
    let bytes = match Format::of(path)? {
        Format::Npy => npy_bytes(m),
        Format::Csv => csv_bytes(m),
    };
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes).map_err(|e| Error::io(tmp, e)))
}

/// Writes a file atomically: `write` fills a fresh temporary file (it receives its path) in the
/// same directory as `path`, whose contents are then flushed to disk (`fsync`) and renamed over
/// `path`, and the directory is synced so that the rename survives a crash. The temporary name
/// is unique to the call (threads of one process writing the same path do not collide), and
/// the temporary file is removed if `write` or the rename fails, so a reader of `path` sees the
/// previous file or the whole new one, never a part, whatever interrupts the write (an error,
/// Ctrl-C, kill -9: a killed writer leaves at most a `.name.*.tmp` file beside it).
pub fn write_atomic_with<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name =
        path.file_name().ok_or_else(|| Error::invalid(format!("{} is not a file path", path.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    write(tmp.path())?;
    // `write` may have replaced the file at the temporary path: sync what is there now.
    let synced = std::fs::File::open(tmp.path()).and_then(|f| f.sync_all());
    synced.map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    // Durability of the rename itself; not every platform can sync a directory.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An exclusive lock on a file, held until it is dropped (see [`lock_exclusive`]).
#[derive(Debug)]
pub struct Lock {
    _file: std::fs::File,
}

/// Takes an exclusive lock on `path` (created if needed, with its folders), waiting while
/// another holder has it: processes that share a cache (cells of one run, jobs of a cluster)
/// use it to build each cached artifact once; the first builds, the others wait and then find
/// it built. The lock is `flock(2)` (std's [`std::fs::File::lock`]), which the kernel releases
/// when its holder exits however it exits (`kill -9` included), so a dead holder never blocks
/// the others; each call opens the file anew, so two threads of one process exclude each other
/// too. The file itself stays (removing it would race with a waiter). On NFS, Linux serves
/// `flock` by the server's byte-range locks, across nodes.
pub fn lock_exclusive(path: &Path) -> Result<Lock> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.lock().map_err(|e| Error::io(path, e))?;
    Ok(Lock { _file: file })
}

/// Parses `.npy` bytes.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<Matrix, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a NumPy .npy file (bad magic string)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let descr = dict_value(header, "descr").ok_or("the .npy header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or("the .npy header has no 'fortran_order'")?;
    let fortran = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("bad fortran_order {other}")),
    };
    let shape = dict_value(header, "shape").ok_or("the .npy header has no 'shape'")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {shape}")))
        .collect::<std::result::Result<_, _>>()?;
    let (rows, cols) = match dims[..] {
        [n] => (n, 1),
        [n, d] => (n, d),
        _ => return Err(format!("expected a 1-D or 2-D array, got shape {shape}")),
    };
    let data = &bytes[start + header_len..];
    let count = rows * cols;
    let (size, convert): (usize, fn(&[u8]) -> f32) = match descr {
        "<f4" => (4, |b| f32::from_le_bytes(b.try_into().unwrap())),
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap()) as f32),
        "|u1" | "<u1" => (1, |b| b[0] as f32),
        "<i4" => (4, |b| i32::from_le_bytes(b.try_into().unwrap()) as f32),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap()) as f32),
        other => {
            return Err(format!(
                "unsupported dtype '{other}': save float32 or float64 (e.g. np.save(f, x.astype(np.float32)))"
            ));
        }
    };
    if data.len() < count * size {
        return Err(format!(
            "truncated: shape {shape} needs {} bytes of data, the file has {}",
            count * size,
            data.len()
        ));
    }
    let values: Vec<f32> = data[..count * size].chunks_exact(size).map(convert).collect();
    let values = if fortran && cols > 1 {
        (0..rows).flat_map(|i| (0..cols).map(move |j| (i, j))).map(|(i, j)| values[j * rows + i]).collect()
    } else {
        values
    };
    Matrix::from_vec(rows, cols, values).map_err(|e| e.to_string())
}

/// The raw text of `key`'s value in a Python dict literal (enough for `.npy` headers).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(&rest[..end])
}

/// `.npy` version 1.0 bytes of `m` as little-endian `f32`, C order.
pub fn npy_bytes(m: &Matrix) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", m.rows(), m.cols());
    // Pad so that the data starts on a multiple of 64 bytes, ending the header with a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * m.as_slice().len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in m.as_slice() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Parses CSV bytes: numbers separated by commas, optional header line.
pub fn parse_csv(bytes: &[u8]) -> std::result::Result<Matrix, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the CSV file is not UTF-8 text")?;
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Vec<Option<f32>> = fields.iter().map(|f| f.parse::<f32>().ok()).collect();
        if rows.is_empty() && lineno == 0 && parsed.iter().all(Option::is_none) {
            continue; // header
        }
        if let Some(col) = parsed.iter().position(Option::is_none) {
            return Err(format!(
                "line {}, column {}: '{}' is not a number (only numeric CSV is accepted)",
                lineno + 1,
                col + 1,
                fields[col]
            ));
        }
        let row: Vec<f32> = parsed.into_iter().map(Option::unwrap).collect();
        if let Some(first) = rows.first()
            && first.len() != row.len()
        {
            return Err(format!(
                "line {} has {} values but earlier lines have {} (ragged CSV)",
                lineno + 1,
                row.len(),
                first.len()
            ));
        }
        rows.push(row);
    }
    Matrix::from_rows(&rows).map_err(|e| e.to_string())
}

/// CSV text of `m`: one row per line, shortest round-trip decimal form.
pub fn csv_bytes(m: &Matrix) -> Vec<u8> {
    let mut out = String::with_capacity(m.as_slice().len() * 12);
    for row in m.iter_rows() {
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(&v.to_string());
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Matrix {
        Matrix::from_vec(3, 2, vec![0.5, -1.25, 3.0e-8, 7.0, -0.0, 1.0e6]).unwrap()
    }

    #[test]
    fn npy_and_csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["m.npy", "m.csv"] {
            let p = dir.path().join(name);
            write_matrix(&p, &sample()).unwrap();
            assert_eq!(read_matrix(&p).unwrap(), sample(), "{name}");
        }
        let bytes = npy_bytes(&sample());
        assert_eq!((10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64, 0);
    }

    #[test]
    fn npy_variants() {
        // Fortran-order float64 2x3 and a 1-D uint8 array, written as NumPy would.
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }          \n";
        f.extend_from_slice(&(h.len() as u16).to_le_bytes());
        f.extend_from_slice(h.as_bytes());
        for v in [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        let m = parse_npy(&f).unwrap();
        assert_eq!(m.as_slice(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let mut u = b"\x93NUMPY\x02\x00".to_vec();
        let h = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n";
        u.extend_from_slice(&(h.len() as u32).to_le_bytes());
        u.extend_from_slice(h.as_bytes());
        u.extend_from_slice(&[0, 7, 255]);
        let m = parse_npy(&u).unwrap();
        assert_eq!((m.rows(), m.cols()), (3, 1));
        assert_eq!(m.as_slice(), &[0.0, 7.0, 255.0]);
    }

    #[test]
    fn npy_errors_are_specific() {
        let good = npy_bytes(&sample());
        assert!(parse_npy(&good[..good.len() - 3]).unwrap_err().contains("truncated"));
        assert!(parse_npy(b"hello world, not numpy").unwrap_err().contains("magic"));
        let mut bad = good.clone();
        let at = bad.windows(3).position(|w| w == b"<f4").unwrap();
        bad[at + 1..at + 3].copy_from_slice(b"c8");
        assert!(parse_npy(&bad).unwrap_err().contains("dtype"));
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        assert!(parse_csv(b"1,2\n3\n").unwrap_err().contains("line 2"));
        let e = parse_csv(b"1,2\n3,abc\n").unwrap_err();
        assert!(e.contains("line 2, column 2") && e.contains("abc"), "{e}");
        let m = parse_csv(b"x,y\n1,2\n\n3,4\n").unwrap();
        assert_eq!(m.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn read_rejects_bad_files_and_leaves_no_output() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.npy");
        assert!(read_matrix(&missing).unwrap_err().to_string().contains("none.npy"));
        let nan = dir.path().join("nan.csv");
        std::fs::write(&nan, "1,2\nNaN,3\n").unwrap();
        assert!(read_matrix(&nan).unwrap_err().to_string().contains("NaN"));
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, "").unwrap();
        assert!(read_matrix(&empty).unwrap_err().to_string().contains("no data"));
        assert!(write_matrix(&dir.path().join("m.txt"), &sample()).is_err());
        assert!(!dir.path().join("m.txt").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "only the two inputs remain: {names:?}");
    }

    #[test]
    fn concurrent_atomic_writes_of_one_path_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        std::thread::scope(|scope| {
            for k in 0..4u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[k; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|&b| b == bytes[0]));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("t.bin")], "no temporary file is left");
    }

    #[test]
    fn an_exclusive_lock_makes_others_wait_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/entry.lock");
        let held = lock_exclusive(&path).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let _second = lock_exclusive(&path).unwrap();
                done.load(std::sync::atomic::Ordering::SeqCst)
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(!waiter.is_finished(), "the second holder did not wait");
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(held);
            assert!(waiter.join().unwrap(), "the second holder got the lock before the first dropped it");
        });
        // Released: it can be taken again, and the file stays.
        drop(lock_exclusive(&path).unwrap());
        assert!(path.is_file());
    }
}
