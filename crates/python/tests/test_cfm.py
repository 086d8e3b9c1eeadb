"""The `cfm` package against a NumPy float64 implementation written here.

Accuracy statements:
- velocity: the core guarantees softmax weights within total variation 1e-4 of the exact ones,
  so ``(1 - t) ||u - u_ref|| <= 1e-4 R + 1e-5 (R + ||x||)`` with ``R = max_i ||x_i||``; we check
  the relative norm ``(1 - t) ||u - u_ref|| / (R + ||x||) <= 2e-4`` for every query.
- distances (memorization, energy, Fréchet): the package computes on the float32 values of its
  inputs, so the reference takes the same float32 values, in float64; tolerance 1e-6 relative
  (distances) or 1e-5 relative (Fréchet, through two eigen-decompositions).
"""

import os
import subprocess

import numpy as np
import pytest

import cfm

# ---------------------------------------------------------------------------------------------
# NumPy float64 reference


def f32(a):
    """The float32 values the package computes on, as float64."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def softmax(logits):
    w = np.exp(logits - logits.max())
    return w / w.sum()


def u_star(train, x, t):
    """Proposition 1 in float64, one query at a time (distances by differences, no expansion)."""
    train, x = f32(train), f32(x)
    ts = np.broadcast_to(np.asarray(t, dtype=np.float64), (len(x),))
    out = np.empty_like(x)
    for b, (xb, tb) in enumerate(zip(x, ts)):
        sq = ((xb - tb * train) ** 2).sum(axis=1)
        w = softmax(-sq / (2 * (1 - tb) ** 2))
        out[b] = (w @ train - xb) / (1 - tb)
    return out


def posterior(train, xt, t):
    """lambda(x_t, t): the distribution of the generating point given x_t."""
    sq = ((f32(xt) - t * f32(train)) ** 2).sum(axis=1)
    return softmax(-sq / (2 * (1 - t) ** 2))


def estimate(train, refs, xt, t):
    """u*_M over the reference indices `refs` (eqs. 7-8), in float64."""
    b = f32(train)[refs]
    sq = ((f32(xt) - t * b) ** 2).sum(axis=1)
    w = softmax(-sq / (2 * (1 - t) ** 2))
    return (w @ b - f32(xt)) / (1 - t)


def image_like(n, d, rng):
    """Data in [-1, 1]: a few clusters pushed through tanh."""
    centers = rng.standard_normal((8, d))
    return np.tanh(centers[rng.integers(0, 8, n)] + 0.7 * rng.standard_normal((n, d))).astype(np.float32)


def queries(train, b, t, kind, rng):
    """Noise, points on the path to a training point, or points between two training points."""
    n, d = train.shape
    i, j = rng.integers(0, n, b), rng.integers(0, n, b)
    z = rng.standard_normal((b, d))
    if kind == "noise":
        x = z
    elif kind == "path":
        x = (1 - t) * z + t * train[i]
    else:
        x = t * 0.5 * (train[i] + train[j]) + 1e-4 * (1 - t) * z
    return x.astype(np.float32)


def scaled_error(u, ref, x, train, t):
    """Per-query ``(1 - t) ||u - u_ref|| / (R + ||x||)``."""
    r = np.sqrt((f32(train) ** 2).sum(axis=1).max())
    err = np.linalg.norm(np.asarray(u, dtype=np.float64) - ref, axis=1)
    return (1 - np.asarray(t)) * err / (r + np.linalg.norm(f32(x), axis=1))


# ---------------------------------------------------------------------------------------------
# velocity


@pytest.mark.parametrize("d,n", [(2, 2000), (64, 2000), (784, 1000)])
def test_velocity_matches_float64_reference(d, n):
    rng = np.random.default_rng(d)
    train = image_like(n, d, rng)
    field = cfm.ClosedForm(train)
    assert (field.n, field.dim) == (n, d)
    for t in [0.0, 0.3, 0.9, 0.99, 0.999]:
        for kind in ["noise", "path", "tie"]:
            x = queries(train, 24, t, kind, rng)
            u = field.velocity(x, t)
            assert u.shape == x.shape and u.dtype == np.float32
            worst = scaled_error(u, u_star(train, x, t), x, train, t).max()
            assert worst <= 2e-4, f"d = {d}, t = {t}, {kind}: scaled error {worst:.2e}"


def test_velocity_per_row_times_dtypes_and_layouts():
    rng = np.random.default_rng(1)
    train = image_like(500, 16, rng)
    x = queries(train, 40, 0.5, "path", rng)
    t = np.linspace(0.0, 0.999, 40)
    ref = u_star(train, x, t)
    u32 = cfm.velocity(train, x, t)
    assert u32.dtype == np.float32
    assert scaled_error(u32, ref, x, train, t).max() <= 2e-4
    # float64 in, float64 out; the same float32 computation underneath.
    u64 = cfm.velocity(train.astype(np.float64), x.astype(np.float64), t)
    assert u64.dtype == np.float64
    np.testing.assert_array_equal(u64, u32.astype(np.float64))
    # Fortran order, (B, 1) times, float32 times, lists: the same values.
    np.testing.assert_array_equal(cfm.velocity(np.asfortranarray(train), np.asfortranarray(x), t[:, None]), u32)
    np.testing.assert_array_equal(cfm.velocity(train, x, t.astype(np.float32)), cfm.velocity(train, x, t.astype(np.float32).tolist()))
    # A scalar time equals the same time on every row.
    np.testing.assert_array_equal(cfm.velocity(train, x, 0.7), cfm.velocity(train, x, np.full(40, 0.7)))
    # Strided views are read as they are.
    np.testing.assert_array_equal(cfm.velocity(train[::2], x[:, :], 0.5), cfm.velocity(train[::2].copy(), x, 0.5))


class ArrayLike:
    """An object with `__array__` only, as a CPU torch tensor is for NumPy."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


def test_array_likes_are_accepted():
    rng = np.random.default_rng(2)
    train = image_like(100, 3, rng)
    x = queries(train, 5, 0.5, "noise", rng)
    want = cfm.velocity(train, x, 0.5)
    np.testing.assert_array_equal(cfm.velocity(ArrayLike(train), ArrayLike(x), 0.5), want)
    np.testing.assert_array_equal(cfm.velocity(train.tolist(), x, 0.5), cfm.velocity(train.astype(np.float64), x, 0.5))


# ---------------------------------------------------------------------------------------------
# EFM target


def draw(weights, rng, size):
    return rng.choice(len(weights), size=size, p=weights)


def z_score(estimates, exact):
    """||mean - exact|| over its Monte-Carlo standard error sqrt(tr Cov / R): ~1 when unbiased."""
    r = len(estimates)
    return np.linalg.norm(estimates.mean(axis=0) - exact) / np.sqrt(estimates.var(axis=0, ddof=1).sum() / r)


@pytest.fixture
def small():
    """20 points in 2-D, a fixed x_t at t = 0.6, its posterior and u*."""
    rng = np.random.default_rng(4)
    train = (2 * rng.standard_normal((20, 2))).astype(np.float32)
    t = 0.6
    xt = np.array([[0.3, -0.4]], dtype=np.float32)
    return train, t, xt, posterior(train, xt[0], t), u_star(train, xt, t)[0]


def test_efm_paper_mode_is_unbiased(small):
    train, t, xt, lam, exact = small
    draws = 2000
    x1 = draw(lam, np.random.default_rng(5), draws)
    x = np.repeat(xt, draws, axis=0)
    u = cfm.efm_target(x, t, x1, train, 4, "paper", seed=6)
    assert u.shape == (draws, 2) and u.dtype == np.float32
    assert z_score(u.astype(np.float64), exact) < 4
    # Each row is u*_M over its own references: x1 first, then 3 distinct others.
    assert np.all(np.isfinite(u))


def test_efm_official_mode_is_unbiased(small):
    train, t, xt, lam, exact = small
    rng = np.random.default_rng(7)
    # Row 0 is the query with x1 from its posterior; the rest of the minibatch is uniform.
    rows = []
    for seed in range(2000):
        x1 = np.concatenate([draw(lam, rng, 1), rng.integers(0, 20, 3)])
        x = np.concatenate([xt, queries(train, 3, t, "path", rng)])
        rows.append(cfm.efm_target(x, t, x1, train, 2, "official", seed=seed)[0])
    assert z_score(np.array(rows, dtype=np.float64), exact) < 4


def test_efm_biased_mode_is_biased_at_small_m(small):
    train, t, xt, lam, exact = small
    draws = 2000
    x1 = draw(lam, np.random.default_rng(8), draws)
    u = cfm.efm_target(np.repeat(xt, draws, axis=0), t, x1, train, 2, "biased", seed=9)
    assert z_score(u.astype(np.float64), exact) > 10


def test_efm_limits_and_reference_sets():
    rng = np.random.default_rng(10)
    train = image_like(30, 5, rng)
    x1 = rng.integers(0, 30, 6)
    x0 = rng.standard_normal((6, 5))
    t = np.linspace(0.1, 0.95, 6)
    x = ((1 - t[:, None]) * x0 + t[:, None] * train[x1]).astype(np.float32)
    # M = 1 (paper) is the CFM target (x1 - x_t) / (1 - t) = x1 - x0.
    cfm_target = (f32(train)[x1] - f32(x)) / (1 - t[:, None])
    np.testing.assert_allclose(cfm.efm_target(x, t, x1, train, 1, "paper", seed=0), cfm_target, rtol=1e-5, atol=1e-5)
    # M = n (paper) is u*.
    full = cfm.efm_target(x, t, x1, train, 30, "paper", seed=0)
    assert scaled_error(full, u_star(train, x, t), x, train, t).max() <= 1e-5
    # Official with M = 0: the softmax over the minibatch alone (duplicates count twice).
    x1[1] = x1[0]
    got = cfm.efm_target(x, t, x1, train, 0, "official", seed=0)
    want = np.array([estimate(train, x1, x[b], t[b]) for b in range(6)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Same seed, same draws; another seed, other extras.
    a = cfm.efm_target(x, t, x1, train, 8, "official", seed=3)
    np.testing.assert_array_equal(a, cfm.efm_target(x, t, x1, train, 8, "official", seed=3))
    assert not np.array_equal(a, cfm.efm_target(x, t, x1, train, 8, "official", seed=4))
    # float64 in, float64 out.
    assert cfm.efm_target(x.astype(np.float64), 0.5, x1, train, 2, seed=1).dtype == np.float64


# ---------------------------------------------------------------------------------------------
# sampling


def test_sample_is_seeded_and_memorizes():
    rng = np.random.default_rng(11)
    train = image_like(50, 8, rng)
    s = cfm.sample(train, 64, steps=1000, seed=5)
    assert s.shape == (64, 8) and s.dtype == np.float32
    np.testing.assert_array_equal(s, cfm.ClosedForm(train).sample(64, steps=1000, seed=5))
    assert not np.array_equal(s, cfm.sample(train, 64, steps=1000, seed=6))
    # Integrating u* returns training points (claim C4).
    assert cfm.memorization(train, s).copy.all()
    assert cfm.sample(train.astype(np.float64), 3, solver="rk4", steps=20).dtype == np.float64
    assert np.all(np.isfinite(cfm.sample(train, 3, solver="dopri5", t_max=0.99)))


@pytest.mark.skipif(not os.environ.get("CFM_BIN"), reason="set CFM_BIN to a built `cfm` binary")
def test_sample_equals_the_cli(tmp_path):
    train = image_like(40, 3, np.random.default_rng(12))
    np.save(tmp_path / "train.npy", train)
    for solver in ["euler", "heun"]:
        out = tmp_path / f"{solver}.npy"
        subprocess.run(
            [os.environ["CFM_BIN"], "sample", "--train", tmp_path / "train.npy", "--n", "16", "--steps", "50",
             "--solver", solver, "--seed", "7", "--out", out],
            check=True,
        )
        np.testing.assert_array_equal(np.load(out), cfm.sample(train, 16, steps=50, solver=solver, seed=7))


# ---------------------------------------------------------------------------------------------
# metrics


def test_memorization_matches_brute_force():
    rng = np.random.default_rng(13)
    train = image_like(300, 16, rng)
    samples = np.concatenate([
        train[:20],                                                   # exact copies
        train[20:40] + 1e-3 * rng.standard_normal((20, 16)),          # near copies
        image_like(40, 16, rng),                                      # fresh points
    ]).astype(np.float32)
    got = cfm.memorization(train, samples)
    dist = np.sqrt(((f32(samples)[:, None, :] - f32(train)[None]) ** 2).sum(axis=2))
    order = np.argsort(dist, axis=1)
    d1 = dist[np.arange(len(samples)), order[:, 0]]
    d2 = dist[np.arange(len(samples)), order[:, 1]]
    tol = 1e-6 + 2.0**-23 * d2
    assert np.all(np.abs(got.d1 - d1) <= tol) and np.all(np.abs(got.d2 - d2) <= tol)
    np.testing.assert_array_equal(got.nearest, order[:, 0])
    ratio = np.where(d1 == 0, 0.0, d1 / d2)
    np.testing.assert_allclose(got.ratio, ratio, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got.copy, ratio < 1 / 3)
    assert got.copy[:40].all() and got.d1[:20].max() == 0
    assert got.fraction_memorized == pytest.approx(got.copy.mean())
    assert got.d1.dtype == np.float64 and got.copy.dtype == bool and got.nearest.dtype == np.int64
    # A stricter threshold flags fewer samples.
    assert cfm.memorization(train, samples, threshold=1e-6).copy.sum() == 20


def frechet_reference(a, b):
    """||mu_a - mu_b||^2 + tr(S_a + S_b) - 2 tr sqrt(S_a S_b), the last via the (real,
    non-negative) eigenvalues of S_a S_b."""
    a, b = f32(a), f32(b)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = np.sqrt(np.clip(np.linalg.eigvals(sa @ sb).real, 0, None)).sum()
    return ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * cross


def energy_reference(a, b):
    a, b = f32(a), f32(b)

    def pd(p, q):
        return np.sqrt(((p[:, None, :] - q[None]) ** 2).sum(axis=2))

    n, m = len(a), len(b)
    return 2 * pd(a, b).mean() - pd(a, a).sum() / (n * (n - 1)) - pd(b, b).sum() / (m * (m - 1))


def test_frechet_and_energy_match_numpy():
    rng = np.random.default_rng(14)
    a = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6))
    b = 0.5 + rng.standard_normal((300, 6))
    assert cfm.frechet(a, b) == pytest.approx(frechet_reference(a, b), rel=1e-5)
    assert cfm.energy(a, b) == pytest.approx(energy_reference(a, b), rel=1e-6)
    assert cfm.frechet(a, a) == pytest.approx(0.0, abs=1e-6)
    assert isinstance(cfm.energy(a.astype(np.float32), b), float)


# ---------------------------------------------------------------------------------------------
# bad input


def raises(fn, *args, match, **kwargs):
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)


def test_bad_inputs_raise_value_error_with_the_message():
    rng = np.random.default_rng(15)
    train = image_like(20, 4, rng)
    x = queries(train, 3, 0.5, "noise", rng)
    nan = train.copy()
    nan[1, 2] = np.nan
    # The core's messages, as the CLI prints them after "error: ".
    raises(cfm.velocity, nan, x, 0.5, match=r"reference points: value at row 1, column 2 is NaN")
    raises(cfm.velocity, train, np.where(x > 0, np.inf, x), 0.5, match=r"queries: value at row \d, column \d is inf")
    raises(cfm.velocity, train, x, 1.0, match=r"t = 1 is outside \[0, 1\)")
    raises(cfm.velocity, train, x, -0.5, match=r"t = -0.5 is outside \[0, 1\)")
    raises(cfm.velocity, train, x, np.nan, match=r"t = NaN is outside \[0, 1\)")
    raises(cfm.velocity, train, x[:, :3], 0.5, match="queries have dimension 3 but the reference points have 4")
    raises(cfm.velocity, np.zeros((0, 4), np.float32), x, 0.5, match="at least one reference point")
    # The package's own checks.
    raises(cfm.velocity, train, x[0], 0.5, match=r"x must be a 2-D array .* shape \[4\]")
    raises(cfm.velocity, train.astype(np.int64), x, 0.5, match="train has dtype int64; pass float32 or float64")
    raises(cfm.velocity, train, x.astype(np.float16), 0.5, match="x has dtype float16")
    raises(cfm.velocity, train, x, [0.5, 0.5], match=r"one time per row of x \(3\), got shape \[2\]")
    raises(cfm.sample, train, 0, match="n = 0")
    raises(cfm.sample, train, 4, solver="midpoint", match="solver \"midpoint\"")
    raises(cfm.sample, train, 4, steps=0, match="number of steps must be at least 1")
    raises(cfm.sample, train, 4, seed=-1, match=r"seed = -1 must be an integer in \[0, 2\*\*64\)")
    raises(cfm.sample, train, 4, solver="dopri5", t_max=1.0, match="t_max")
    x1 = np.array([0, 5, 19])
    raises(cfm.efm_target, x, 0.5, x1, train, 21, "paper", seed=0, match="M = 21")
    raises(cfm.efm_target, x, 0.5, x1, train, 0, "paper", seed=0, match="M = 0")
    raises(cfm.efm_target, x, 0.5, x1, train, 21, "official", seed=0, match="M = 21")
    raises(cfm.efm_target, x, 0.5, x1, train, 0, "biased", seed=0, match="M = 0")
    raises(cfm.efm_target, x, 0.5, x1, train, 2, "batch", seed=0, match="mode \"batch\"")
    raises(cfm.efm_target, x, 0.5, np.array([0, 5, 20]), train, 2, seed=0, match="x1 index 20 is out of range")
    raises(cfm.efm_target, x, 0.5, np.array([0, -1, 2]), train, 2, seed=0, match="x1 index -1 is out of range")
    raises(cfm.efm_target, x, 0.5, x1.astype(np.float32), train, 2, seed=0, match="integer indices")
    raises(cfm.efm_target, x, 0.5, x1[:2], train, 2, seed=0, match="x1 has 2 indices for 3 rows")
    raises(cfm.efm_target, x, 1.0, x1, train, 2, seed=0, match=r"t = 1 is outside \[0, 1\)")
    raises(cfm.efm_target, x, 0.5, x1, nan, 20, "paper", seed=0, match="train: value at row 1, column 2 is NaN")
    raises(cfm.efm_target, x[:, :3], 0.5, x1, train, 2, seed=0, match="x has dimension 3 but train has 4")
    raises(cfm.memorization, train[:1], x, match="at least 2 training points")
    raises(cfm.memorization, train, x, threshold=0.0, match="threshold 0 is outside")
    raises(cfm.memorization, train, x[:, :3], match="queries have dimension 3 and reference points 4")
    raises(cfm.frechet, train[:1], x, match="at least 2 samples")
    raises(cfm.energy, train, x[:, :3], match="dimension 4 and 3")
