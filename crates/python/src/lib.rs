//! `cfm._core`: the Python extension over [`cfm_core`], for NumPy and PyTorch users.
//!
//! - [`PyClosedForm`] / [`velocity`]: the optimal velocity of Proposition 1,
//!   `u*(x, t) = sum_i lambda_i(x, t) (x_i - x) / (1 - t)` with
//!   `lambda(x, t) = softmax_i(-||x - t x_i||^2 / (2 (1 - t)^2))`, accurate up to `t -> 1`;
//! - [`efm_target`]: the EFM estimate `u*_M` of eqs. 7-8 (Algorithm 2) in the paper's and the
//!   official code's reference modes, and the biased variant of Proposition 2;
//! - [`sample`]: closed-form ODE sampling from the same noise as `cfm sample --train`;
//! - [`memorization`], [`frechet`], [`energy`]: the metrics of [`cfm_core::metrics`].
//!
//! Arrays come in as anything `numpy.asarray` takes (float32 or float64, any memory order) and
//! are converted once into the core's row-major `f32` [`Matrix`]: a plain copy for a C-ordered
//! float32 array, a single converting pass otherwise. Outputs are float32 for float32 inputs
//! and float64 for float64 inputs (the computation itself is `f32` with `f64` accumulation and
//! fallbacks, as in the core). The GIL is released while the core computes. Every bad input
//! raises `ValueError`, with the core's message where the core detects it.

use cfm_core::efm::{self, RefMode, RefSets};
use cfm_core::ode::{self, Solver};
use cfm_core::targets::check_times;
use cfm_core::{Matrix, Stream, metrics};
use numpy::ndarray::{Array1, Array2, ArrayView2};
use numpy::prelude::*;
use numpy::{PyArray1, PyArray2, PyArrayDyn, PyUntypedArray, dtype};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `ValueError(msg)`.
fn invalid(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A core error as `ValueError`, with the text the CLI prints after `error: `.
fn core_err(e: cfm_core::Error) -> PyErr {
    invalid(e.to_string())
}

/// The float type of an input array, which the outputs keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Float {
    F32,
    F64,
}

/// `obj` as a NumPy array: itself, or `numpy.asarray(obj)` (lists, objects with `__array__`
/// such as CPU torch tensors).
fn ndarray<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let a = obj.py().import("numpy")?.getattr("asarray")?.call1((obj,))?;
    Ok(a.cast_into::<PyUntypedArray>()?)
}

/// A 2-D float32 or float64 array, borrowed read-only for the duration of a conversion.
enum Rows<'py> {
    F32(numpy::PyReadonlyArray2<'py, f32>),
    F64(numpy::PyReadonlyArray2<'py, f64>),
}

impl<'py> Rows<'py> {
    /// Checks that `obj` is a 2-D float32 or float64 array (`what` names it in messages).
    fn of(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let a = ndarray(obj)?;
        if a.ndim() != 2 {
            return Err(invalid(format!(
                "{what} must be a 2-D array (points x dimension), got shape {:?}",
                a.shape()
            )));
        }
        let py = a.py();
        let dt = a.dtype();
        if dt.is_equiv_to(&dtype::<f32>(py)) {
            Ok(Rows::F32(a.cast_into::<PyArray2<f32>>()?.readonly()))
        } else if dt.is_equiv_to(&dtype::<f64>(py)) {
            Ok(Rows::F64(a.cast_into::<PyArray2<f64>>()?.readonly()))
        } else {
            Err(invalid(format!(
                "{what} has dtype {dt}; pass float32 or float64 (for instance {what}.astype(numpy.float32))"
            )))
        }
    }

    fn float(&self) -> Float {
        match self {
            Rows::F32(_) => Float::F32,
            Rows::F64(_) => Float::F64,
        }
    }

    /// `(rows, columns)`.
    fn shape(&self) -> (usize, usize) {
        let s = match self {
            Rows::F32(a) => a.shape(),
            Rows::F64(a) => a.shape(),
        };
        (s[0], s[1])
    }

    /// The whole array as a core matrix: one copy (C-ordered float32) or one converting pass.
    fn matrix(&self) -> Matrix {
        let (r, c) = self.shape();
        // `as_slice` also accepts Fortran order, whose slice is column-major: C order only.
        let data = match self {
            Rows::F32(a) if a.is_c_contiguous() => a.as_slice().expect("C-contiguous").to_vec(),
            Rows::F32(a) => a.as_array().iter().copied().collect(),
            Rows::F64(a) if a.is_c_contiguous() => {
                a.as_slice().expect("C-contiguous").iter().map(|&v| v as f32).collect()
            }
            Rows::F64(a) => a.as_array().iter().map(|&v| v as f32).collect(),
        };
        Matrix::from_vec(r, c, data).expect("rows x columns values")
    }

    /// The rows `idx` only, in that order, as a core matrix.
    fn select(&self, idx: &[usize]) -> Matrix {
        fn gather<T: Copy>(a: ArrayView2<'_, T>, idx: &[usize], f: impl Fn(T) -> f32) -> Vec<f32> {
            let mut out = Vec::with_capacity(idx.len() * a.ncols());
            for &i in idx {
                out.extend(a.row(i).iter().map(|&v| f(v)));
            }
            out
        }
        let data = match self {
            Rows::F32(a) => gather(a.as_array(), idx, |v| v),
            Rows::F64(a) => gather(a.as_array(), idx, |v| v as f32),
        };
        Matrix::from_vec(idx.len(), self.shape().1, data).expect("rows x columns values")
    }
}

/// A core matrix as a NumPy array of `float`, without a copy for float32.
fn to_numpy(py: Python<'_>, m: Matrix, float: Float) -> Bound<'_, PyAny> {
    let shape = (m.rows(), m.cols());
    match float {
        Float::F32 => Array2::from_shape_vec(shape, m.into_vec()).expect("shape").into_pyarray(py).into_any(),
        Float::F64 => {
            let v: Vec<f64> = m.as_slice().iter().map(|&v| v as f64).collect();
            Array2::from_shape_vec(shape, v).expect("shape").into_pyarray(py).into_any()
        }
    }
}

/// One time per row from a scalar or from `rows` values (shape `(B,)` or `(B, 1)`).
fn times(t: &Bound<'_, PyAny>, rows: usize) -> PyResult<Vec<f64>> {
    let np = t.py().import("numpy")?;
    let a = np.getattr("asarray")?.call1((t, np.getattr("float64")?))?;
    let a = a.cast_into::<PyArrayDyn<f64>>()?.readonly();
    let shape = a.shape().to_vec();
    let values: Vec<f64> = a.as_array().iter().copied().collect();
    match shape[..] {
        [] => Ok(vec![values[0]; rows]),
        [b] | [b, 1] if b == rows => Ok(values),
        _ => Err(invalid(format!(
            "t must be a scalar or hold one time per row of x ({rows}), got shape {shape:?}"
        ))),
    }
}

/// A non-negative integer argument.
fn count(v: i64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| invalid(format!("{what} = {v} must be a non-negative integer")))
}

/// A seed: an integer in `[0, 2^64)`, the root of [`Stream::new`].
fn seed(v: i128) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| invalid(format!("seed = {v} must be an integer in [0, 2**64)")))
}

/// The closed-form velocity field of a training set (Proposition 1):
///
///     u*(x, t) = sum_i lambda_i(x, t) (x_i - x) / (1 - t),
///     lambda(x, t) = softmax_i(-||x - t x_i||^2 / (2 (1 - t)^2)).
///
/// `train` (n x d, float32 or float64) is copied once and its norms precomputed: build the
/// field once and call `velocity` or `sample` as often as needed (a training loop). The
/// functions `cfm.velocity` and `cfm.sample` do both steps in each call.
///
/// The float32 expansion `||x||^2 - 2t<x, x_i> + t^2 ||x_i||^2` loses digits as t -> 1; every
/// query whose error bound says so has its heaviest terms recomputed exactly, or is recomputed
/// in float64: the softmax weights are within total variation 1e-4 of the exact ones.
#[pyclass(frozen, module = "cfm._core", name = "ClosedForm")]
struct PyClosedForm {
    inner: cfm_core::ClosedForm,
    float: Float,
}

#[pymethods]
impl PyClosedForm {
    #[new]
    fn new(py: Python<'_>, train: &Bound<'_, PyAny>) -> PyResult<Self> {
        let rows = Rows::of(train, "train")?;
        let (m, float) = (rows.matrix(), rows.float());
        drop(rows);
        let inner = py.detach(|| cfm_core::ClosedForm::new(m)).map_err(core_err)?;
        Ok(Self { inner, float })
    }

    /// Number of training points `n`.
    #[getter]
    fn n(&self) -> usize {
        self.inner.refs().rows()
    }

    /// Dimension `d`.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// `u*(x_b, t_b)` for every row of `x` (B x d, float32 or float64) at `t`: a scalar or one
    /// time per row (shape (B,) or (B, 1)), each in [0, 1). Returns a B x d array of the dtype
    /// of `x`. The GIL is released during the computation.
    fn velocity<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rows = Rows::of(x, "x")?;
        let (x, float) = (rows.matrix(), rows.float());
        drop(rows);
        let ts = times(t, x.rows())?;
        let u = py.detach(|| self.inner.evaluate(&x, &ts, false)).map_err(core_err)?.velocity;
        Ok(to_numpy(py, u, float))
    }

    /// `n` samples: the ODE dx/dt = u*(x, t) integrated from t = 0 to 1 starting from N(0, I)
    /// noise drawn from `seed`, exactly as `cfm sample --train --seed` does (same noise, same
    /// solver, same samples). `solver` is "euler", "heun" or "rk4" with `steps` uniform steps
    /// (no velocity is evaluated at t = 1), or the adaptive "dopri5" with `rtol`, `atol`, which
    /// stops at `t_max` < 1. Returns an n x d array of the dtype of `train`.
    #[pyo3(signature = (n, steps=100, solver="euler", seed=0, rtol=1e-5, atol=1e-5, t_max=0.999))]
    #[allow(clippy::too_many_arguments)]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: i64,
        steps: i64,
        solver: &str,
        seed: i128,
        rtol: f64,
        atol: f64,
        t_max: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let n = count(n, "n")?;
        if n == 0 {
            return Err(invalid("n = 0: ask for at least one sample"));
        }
        let steps = count(steps, "steps")?;
        let solver = match solver {
            "euler" => Solver::Euler { steps },
            "heun" => Solver::Heun { steps },
            "rk4" => Solver::Rk4 { steps },
            "dopri5" => Solver::Dopri5 { rtol, atol, t_max },
            other => return Err(invalid(format!("solver {other:?}: use euler, heun, rk4 or dopri5"))),
        };
        let seed = self::seed(seed)?;
        let field = &self.inner;
        let sol = py
            .detach(|| ode::integrate(field, &ode::noise(n, field.dim(), seed), solver, false))
            .map_err(core_err)?;
        Ok(to_numpy(py, sol.x, self.float))
    }
}

/// The closed-form velocity u*(x, t) over `train` (Proposition 1):
/// `ClosedForm(train).velocity(x, t)`.
///
/// `train` is n x d, `x` is B x d (float32 or float64, any memory order), `t` a scalar or one
/// time per row in [0, 1). Returns a B x d array of the dtype of `x`. To call it many times
/// on the same training set, build a `ClosedForm` once.
#[pyfunction]
fn velocity<'py>(
    py: Python<'py>,
    train: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    t: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    PyClosedForm::new(py, train)?.velocity(py, x, t)
}

/// `n` closed-form samples: `ClosedForm(train).sample(n, steps, solver, seed, rtol, atol,
/// t_max)`, the same samples as `cfm sample --train` for the same seed. Returns an n x d array
/// of the dtype of `train`.
#[pyfunction]
#[pyo3(signature = (train, n, steps=100, solver="euler", seed=0, rtol=1e-5, atol=1e-5, t_max=0.999))]
#[allow(clippy::too_many_arguments)]
fn sample<'py>(
    py: Python<'py>,
    train: &Bound<'py, PyAny>,
    n: i64,
    steps: i64,
    solver: &str,
    seed: i128,
    rtol: f64,
    atol: f64,
    t_max: f64,
) -> PyResult<Bound<'py, PyAny>> {
    PyClosedForm::new(py, train)?.sample(py, n, steps, solver, seed, rtol, atol, t_max)
}

/// Integer indices into `n` training points, one per row of `x`.
fn indices(obj: &Bound<'_, PyAny>, rows: usize, n: usize) -> PyResult<Vec<usize>> {
    let a = ndarray(obj)?;
    let kind = a.dtype().kind();
    if a.ndim() != 1 || !matches!(kind, b'i' | b'u') {
        return Err(invalid(format!(
            "x1 must be a 1-D array of integer indices into train, got shape {:?} and dtype {}",
            a.shape(),
            a.dtype()
        )));
    }
    let a = a.call_method1("astype", ("int64",))?.cast_into::<PyArray1<i64>>()?.readonly();
    let idx = a.as_array();
    if idx.len() != rows {
        return Err(invalid(format!("x1 has {} indices for {rows} rows of x", idx.len())));
    }
    idx.iter()
        .map(|&i| {
            usize::try_from(i)
                .ok()
                .filter(|&i| i < n)
                .ok_or_else(|| invalid(format!("x1 index {i} is out of range for {n} training points")))
        })
        .collect()
}

/// The empirical flow matching target (eqs. 7-8, Algorithm 2 of the paper): the closed form's
/// softmax taken over reference points b_j only,
///
///     u*_M(x_t, t) = sum_j softmax_j(-||x_t - t b_j||^2 / (2 (1 - t)^2)) (b_j - x_t) / (1 - t).
///
/// `x` holds the points x_t (B x d, float32 or float64), `t` a scalar or one time per row in
/// [0, 1), and `x1` the generating training points as B integer INDICES into `train` (n x d):
/// indices, not rows, because the reference sets are built around them. The references are
/// drawn from the seeded stream `seed` (same seed, same draws):
///
/// - "paper": x1 plus M - 1 distinct other uniform training points, per sample (1 <= M <= n;
///   M = 1 is the CFM target x1 - x0, M = n is u*). Unbiased (Proposition 2).
/// - "official" (the official code's convention): the minibatch x1 plus M extra distinct
///   uniform training points shared by the minibatch, B + M references per sample
///   (0 <= M <= n; its "EFM-128" is M = 128). Unbiased as well.
/// - "biased": M uniform draws with replacement, independent of x1 (M >= 1): the biased
///   self-normalised estimator that Proposition 2 contrasts. `x1` is checked but not used.
///
/// Only the training rows drawn as references are read (and checked for NaN). Returns a B x d
/// array of the dtype of `x`.
#[pyfunction]
#[pyo3(signature = (x, t, x1, train, m, mode="official", *, seed))]
#[allow(clippy::too_many_arguments)]
fn efm_target<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    t: &Bound<'py, PyAny>,
    x1: &Bound<'py, PyAny>,
    train: &Bound<'py, PyAny>,
    m: i64,
    mode: &str,
    seed: i128,
) -> PyResult<Bound<'py, PyAny>> {
    let rows = Rows::of(x, "x")?;
    let (xt, float) = (rows.matrix(), rows.float());
    drop(rows);
    xt.check_finite("x").map_err(core_err)?;
    let ts = times(t, xt.rows())?;
    check_times(&ts).map_err(core_err)?;
    let train = Rows::of(train, "train")?;
    let (n, d) = train.shape();
    if d != xt.cols() {
        return Err(invalid(format!("x has dimension {} but train has {d}", xt.cols())));
    }
    let idx = indices(x1, xt.rows(), n)?;
    let m = count(m, "m")?;
    let mut stream = Stream::new(self::seed(seed)?);
    let refs = match mode {
        "paper" => efm::draw_refs(n, &idx, m, RefMode::Paper, &mut stream).map_err(core_err)?,
        "official" => efm::draw_refs(n, &idx, m, RefMode::Official, &mut stream).map_err(core_err)?,
        "biased" if m == 0 => return Err(invalid("biased EFM needs M >= 1 uniform references, got M = 0")),
        "biased" => efm::draw_biased(n, xt.rows(), m, &mut stream),
        other => return Err(invalid(format!("mode {other:?}: use \"official\", \"paper\" or \"biased\""))),
    };
    // Read only the training rows that serve as references, renumbered in order of index.
    let mut used: Vec<usize> = refs.0.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    let compact = train.select(&used);
    drop(train);
    if let Some(p) = compact.as_slice().iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!(
            "train: value at row {}, column {} is {} (NaN or inf); clean the data first",
            used[p / d.max(1)],
            p % d.max(1),
            compact.as_slice()[p]
        )));
    }
    let mut renumber = vec![0; n];
    used.iter().enumerate().for_each(|(k, &i)| renumber[i] = k);
    let refs =
        RefSets(refs.0.into_iter().map(|set| set.into_iter().map(|i| renumber[i]).collect()).collect());
    let u = py.detach(|| efm::estimate(&compact, &refs, &xt, &ts));
    Ok(to_numpy(py, u, float))
}

/// Per-sample exact nearest and second-nearest training distances, as the tuple
/// `(d1, d2, ratio, copy, nearest)` that `cfm.memorization` packs into a `Memorization`.
#[pyfunction]
#[pyo3(signature = (train, samples, threshold = metrics::COPY_THRESHOLD))]
#[allow(clippy::type_complexity)]
fn memorization<'py>(
    py: Python<'py>,
    train: &Bound<'py, PyAny>,
    samples: &Bound<'py, PyAny>,
    threshold: f64,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<i64>>,
)> {
    let train = Rows::of(train, "train")?.matrix();
    let samples = Rows::of(samples, "samples")?.matrix();
    let mem = py.detach(|| metrics::memorization(&samples, &train, threshold)).map_err(core_err)?;
    let column = |f: fn(&metrics::SampleDistances) -> f64| -> Bound<'py, PyArray1<f64>> {
        mem.samples.iter().map(f).collect::<Array1<f64>>().into_pyarray(py)
    };
    Ok((
        column(|s| s.d1),
        column(|s| s.d2),
        column(|s| s.ratio),
        mem.samples.iter().map(|s| s.copy).collect::<Array1<bool>>().into_pyarray(py),
        mem.samples.iter().map(|s| s.nearest as i64).collect::<Array1<i64>>().into_pyarray(py),
    ))
}

/// Fréchet distance between the Gaussian fits (mean, unbiased covariance) of the rows of `a`
/// and of `b` (FID when the rows are Inception features), in float64:
///
///     ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2}).
///
/// Each set needs at least 2 samples of the same dimension.
#[pyfunction]
fn frechet(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f64> {
    let (a, b) = (Rows::of(a, "a")?.matrix(), Rows::of(b, "b")?.matrix());
    py.detach(|| metrics::frechet_distance(&a, &b)).map_err(core_err)
}

/// Energy distance between the rows of `a` and of `b` (Székely & Rizzo), in float64:
///
///     2 E||X - Y|| - E||X - X'|| - E||Y - Y'||,
///
/// the within-set terms as unbiased U-statistics over pairs i != j (so the estimate can be
/// slightly negative for equal distributions). Each set needs at least 2 samples.
#[pyfunction]
fn energy(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f64> {
    let (a, b) = (Rows::of(a, "a")?.matrix(), Rows::of(b, "b")?.matrix());
    py.detach(|| metrics::energy_distance(&a, &b)).map_err(core_err)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("COPY_THRESHOLD", metrics::COPY_THRESHOLD)?;
    m.add_class::<PyClosedForm>()?;
    m.add_function(wrap_pyfunction!(velocity, m)?)?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(efm_target, m)?)?;
    m.add_function(wrap_pyfunction!(memorization, m)?)?;
    m.add_function(wrap_pyfunction!(frechet, m)?)?;
    m.add_function(wrap_pyfunction!(energy, m)?)?;
    Ok(())
}
