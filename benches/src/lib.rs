//! What the benchmarks share: writing a measurement that criterion does not keep next to its
//! estimates, where `bench-table` reads it.

use std::path::PathBuf;

/// Writes `value` as `<criterion folder>/<group>/<id>/<file>` (atomically). A benchmark runs as
/// `target/<profile>/deps/<bench>-<hash>`, so criterion's folder is `target/criterion`.
pub fn write_beside_estimates(parts: &[&str], value: &serde_json::Value) {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let mut path: PathBuf = exe.ancestors().nth(3).expect("target/<profile>/deps/<bench>").join("criterion");
    path.extend(parts);
    std::fs::create_dir_all(path.parent().expect("a file under criterion's folder")).unwrap();
    cfm_core::io::write_atomic(&path, value.to_string().as_bytes()).unwrap();
}
