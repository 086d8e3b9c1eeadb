//! What the benchmarks share: the closed form's queries, time and shapes, and writing a
//! measurement that criterion does not keep next to its estimates, where `bench-table` reads it.

use std::path::PathBuf;

use cfm_core::{Matrix, Stream};

/// Queries per closed-form call.
pub const B: usize = 256;
/// An early time, where the closed form's weights are spread over many references.
pub const T_DENSE: f64 = 0.02;

/// A `rows x cols` standard-normal matrix, drawn from seed 0 and `label`.
pub fn normal(rows: usize, cols: usize, label: &str) -> Matrix {
    Matrix::from_vec(rows, cols, Stream::new(0).derive(label).normal_vec(rows * cols)).unwrap()
}

/// Writes `value` as `<criterion folder>/<group>/<id>/<file>` (atomically). A benchmark runs as
/// `target/<profile>/deps/<bench>-<hash>`, so criterion's folder is `target/criterion`.
pub fn write_beside_estimates(parts: &[&str], value: &serde_json::Value) {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let mut path: PathBuf = exe.ancestors().nth(3).expect("target/<profile>/deps/<bench>").join("criterion");
    path.extend(parts);
    std::fs::create_dir_all(path.parent().expect("a file under criterion's folder")).unwrap();
    cfm_core::io::write_atomic(&path, value.to_string().as_bytes()).unwrap();
}

/// Shapes `n x d` written as `10000x64,50000x784`.
pub fn parse_shapes(list: &str) -> Vec<(usize, usize)> {
    list.split(',')
        .map(|p| {
            let (n, d) = p.split_once('x').expect("shapes look like 10000x64");
            (n.trim().parse().expect("n is a number"), d.trim().parse().expect("d is a number"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes_parse_with_spaces() {
        assert_eq!(super::parse_shapes("1000x2, 50000x784"), [(1000, 2), (50000, 784)]);
    }

    #[test]
    #[should_panic(expected = "shapes look like 10000x64")]
    fn a_shape_without_x_is_refused() {
        super::parse_shapes("1000-2");
    }
}
