//! End-to-end tests of the user tools through the `cfm` binary.

use std::path::Path;
use std::process::Command;

use cfm_core::io::{read_matrix, write_matrix};
use cfm_core::{ClosedForm, Matrix, Stream};

fn cfm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cfm")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn moons_like(n: usize, seed: u64) -> Matrix {
    let mut s = Stream::new(seed);
    let rows: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let th = std::f64::consts::PI * s.uniform();
            vec![(th.cos() + 0.05 * s.normal()) as f32, (th.sin() + 0.05 * s.normal()) as f32]
        })
        .collect();
    Matrix::from_rows(&rows).unwrap()
}

#[test]
fn velocity_matches_the_library_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let train = moons_like(300, 1);
    let query = moons_like(20, 2);
    write_matrix(&dir.path().join("train.npy"), &train).unwrap();
    write_matrix(&dir.path().join("query.csv"), &query).unwrap();
    let out = dir.path().join("u.npy");
    let (ok, _, err) = cfm(&[
        "velocity",
        "--train",
        p(&dir.path().join("train.npy")),
        "--query",
        p(&dir.path().join("query.csv")),
        "--t",
        "0.3",
        "--out",
        p(&out),
    ]);
    assert!(ok, "{err}");
    let want = ClosedForm::new(train).unwrap().velocity(&query, 0.3).unwrap();
    assert_eq!(read_matrix(&out).unwrap(), want);
    // Without --out: CSV on standard output.
    let (ok, stdout, _) = cfm(&[
        "velocity",
        "--train",
        p(&dir.path().join("train.npy")),
        "--query",
        p(&dir.path().join("query.csv")),
        "--t",
        "0.3",
    ]);
    assert!(ok);
    assert_eq!(cfm_core::io::parse_csv(stdout.as_bytes()).unwrap(), want);
}

#[test]
fn sample_lands_on_training_points_and_memorization_flags_them() {
    let dir = tempfile::tempdir().unwrap();
    let train_path = dir.path().join("train.csv");
    write_matrix(&train_path, &moons_like(200, 3)).unwrap();
    let samples = dir.path().join("samples.npy");
    let (ok, _, err) =
        cfm(&["sample", "--train", p(&train_path), "--n", "64", "--steps", "500", "--out", p(&samples)]);
    assert!(ok, "{err}");
    assert_eq!(read_matrix(&samples).unwrap().rows(), 64);
    let table = dir.path().join("mem.csv");
    let (ok, _, summary) =
        cfm(&["memorization", "--train", p(&train_path), "--samples", p(&samples), "--out", p(&table)]);
    assert!(ok, "{summary}");
    assert!(summary.contains("64 samples"), "{summary}");
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(text.starts_with("d1,d2,ratio,copy\n"));
    let m = cfm_core::io::parse_csv(text.as_bytes()).unwrap();
    let copies = m.iter_rows().filter(|r| r[3] == 1.0).count();
    assert!(copies >= 60, "only {copies} of 64 closed-form samples are copies");
    for solver in ["heun", "rk4", "dopri5"] {
        let (ok, stdout, err) =
            cfm(&["sample", "--train", p(&train_path), "--n", "4", "--steps", "50", "--solver", solver]);
        assert!(ok, "{solver}: {err}");
        assert_eq!(cfm_core::io::parse_csv(stdout.as_bytes()).unwrap().rows(), 4);
    }
}

#[test]
fn bad_inputs_fail_clearly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("train.csv"), "0,0\n1,1\n2,0\n").unwrap();
    std::fs::write(d.join("ragged.csv"), "0,0\n1\n").unwrap();
    std::fs::write(d.join("words.csv"), "0,0\n1,abc\n").unwrap();
    std::fs::write(d.join("nan.csv"), "0,0\nnan,1\n").unwrap();
    std::fs::write(d.join("three.csv"), "0,0,0\n").unwrap();
    std::fs::write(d.join("empty.csv"), "").unwrap();
    let out = d.join("out.npy");
    let train = p(&d.join("train.csv")).to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--query".into(), p(&d.join("missing.csv")).into(), "--t".into(), "0.5".into()], "missing.csv"),
        (vec!["--query".into(), p(&d.join("ragged.csv")).into(), "--t".into(), "0.5".into()], "ragged"),
        (vec!["--query".into(), p(&d.join("words.csv")).into(), "--t".into(), "0.5".into()], "not a number"),
        (vec!["--query".into(), p(&d.join("nan.csv")).into(), "--t".into(), "0.5".into()], "NaN"),
        (vec!["--query".into(), p(&d.join("three.csv")).into(), "--t".into(), "0.5".into()], "columns"),
        (vec!["--query".into(), p(&d.join("empty.csv")).into(), "--t".into(), "0.5".into()], "no data"),
        (vec!["--query".into(), train.clone(), "--t".into(), "1".into()], "outside [0, 1)"),
        // A negative number reaches our check, not clap's "unexpected argument '-0' found".
        (vec!["--query".into(), train.clone(), "--t".into(), "-0.1".into()], "outside [0, 1)"),
    ];
    for (extra, needle) in cases {
        let mut args: Vec<String> = vec!["velocity".into(), "--train".into(), train.clone()];
        args.extend(extra);
        args.extend(["--out".into(), p(&out).into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, err) = cfm(&argv);
        assert!(!ok, "{argv:?} succeeded");
        assert!(err.contains(needle), "{argv:?}: expected '{needle}' in: {err}");
        assert!(!out.exists(), "{argv:?} left an output file");
    }
    let (ok, _, err) = cfm(&["memorization", "--train", &train, "--samples", p(&d.join("three.csv"))]);
    assert!(!ok && err.contains("columns"), "{err}");
    let (ok, _, err) = cfm(&["sample", "--train", &train, "--out", p(&d.join("x.txt"))]);
    assert!(!ok && err.contains(".npy or .csv"), "{err}");
    let (ok, _, err) = cfm(&["sample", "--train", &train, "--solver", "dopri5", "--t-max", "1"]);
    assert!(!ok && err.contains("t_max"), "{err}");
}

#[test]
fn train_then_sample_from_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("moons.npy");
    write_matrix(&data, &moons_like(400, 5)).unwrap();
    let model = dir.path().join("model");
    let cache = dir.path().join("cache");
    let (ok, _, err) = cfm(&[
        "train",
        "--data",
        p(&data),
        "--method",
        "efm:32",
        "--steps",
        "200",
        "--out",
        p(&model),
        "--cache",
        p(&cache),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("trained") && model.join("model.safetensors").exists(), "{err}");
    let out = dir.path().join("s.csv");
    let (ok, _, err) = cfm(&["sample", "--model", p(&model), "--n", "16", "--steps", "20", "--out", p(&out)]);
    assert!(ok, "{err}");
    let s = read_matrix(&out).unwrap();
    assert_eq!((s.rows(), s.cols()), (16, 2));
    // Both or neither field: an error.
    let (ok, _, err) = cfm(&["sample", "--model", p(&model), "--train", p(&data)]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) =
        cfm(&["train", "--data", p(&data), "--method", "efm:0", "--steps", "5", "--out", p(&model)]);
    assert!(!ok && err.contains("M"), "{err}");
    let (ok, _, err) =
        cfm(&["train", "--data", p(&data), "--model", "unet", "--steps", "5", "--out", p(&model)]);
    assert!(!ok && err.contains("image"), "{err}");
    let (ok, _, err) = cfm(&["train", "--data", p(&data), "--lr", "-1", "--steps", "5", "--out", p(&model)]);
    assert!(!ok && err.contains("--lr -1") && err.contains("positive"), "{err}");
}

#[test]
fn train_on_a_small_high_dimensional_file_uses_min_128_n_and_a_full_rank_network() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("points.npy");
    let (n, d) = (20, 300);
    let values: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5).collect();
    write_matrix(&data, &Matrix::from_vec(n, d, values).unwrap()).unwrap();
    let model = dir.path().join("model");
    let cache = dir.path().join("cache");
    let (ok, _, err) =
        cfm(&["train", "--data", p(&data), "--steps", "3", "--out", p(&model), "--cache", p(&cache)]);
    assert!(ok, "{err}");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("model.json")).unwrap()).unwrap();
    assert_eq!(card["config"]["batch_size"], 20);
    assert_eq!(card["config"]["model"]["skip"], true, "{card}");
    assert_eq!(card["config"]["model"]["width"], 256);
}

#[test]
fn train_reads_fashion_mnist_from_the_data_directories_with_either_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let cache = dir.path().join("cache");
    let args = [
        "train",
        "--data",
        "fashion-mnist",
        "--steps",
        "3",
        "--batch",
        "16",
        "--output",
        "x1",
        "--rescaled",
        "--out",
        p(&out),
        "--cache",
        p(&cache),
    ];
    let installed = Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file();
    let (ok, _, err) = cfm(&args);
    if installed {
        // As CI has it (Debian's dataset-fashion-mnist): the 60 000 training images, d = 784.
        assert!(ok, "{err}");
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
        assert_eq!(card["dim"], 784);
        assert_eq!(card["n_train"], 60_000);
        assert_eq!(card["config"]["output"], "x1");
        assert_eq!(card["config"]["rescaled"], true);
    } else {
        assert!(!ok && err.contains("apt-get install dataset-fashion-mnist"), "{err}");
    }
    // A data directory without it, and no system copy reachable through it: the error names the fix.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, _, err) =
        cfm(&["train", "--data", "mnist", "--data-dir", p(&empty), "--steps", "1", "--out", p(&out)]);
    assert!(!ok && err.contains("mnist"), "{err}");
}
