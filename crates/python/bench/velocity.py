#!/usr/bin/env python3
"""Cost of the closed-form velocity from Python, against the Rust benchmark and NumPy.

For B = 256 queries at t = 0.5 against n standard normal float32 references in d dimensions
(the data of `benches/closed_form.rs`), prints the median milliseconds of:

- `cfm.ClosedForm(train).velocity(x, t)` with the field built once (what the Rust benchmark
  times: `ClosedForm::velocity` on a prepared field);
- `cfm.velocity(train, x, t)`, which also copies `train` and computes its norms on every call;
- the NumPy float32 matrix-product formulation of the official code (the formula of
  `../shared/bench/numpy_closed_form.py`, written out below), in the same run;

and, when criterion's results are found (`cargo bench -p cfm-bench --bench closed_form` with
`CFM_BENCH_SHAPES` covering the shapes), the Rust median and the Python overhead over it.

    python crates/python/bench/velocity.py [--criterion target/criterion] [--reps 15] [NxD ...]
"""

import argparse
import json
import os
import pathlib
import time

import numpy as np

import cfm

B, T = 256, 0.5
SHAPES = ["10000x64", "50000x64", "10000x784", "50000x784"]


def numpy_velocity(train, sq_norms, x, t):
    """u*(x, t) by two float32 matrix products and a row softmax (the ||x||^2 term of the
    logits is constant per row and dropped)."""
    c = np.float32(0.5 / (1 - t) ** 2)
    logits = x @ train.T
    logits *= np.float32(2 * t) * c
    logits -= np.float32(t * t) * c * sq_norms
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return (logits @ train - x) / np.float32(1 - t)


def median_ms(f, reps):
    f()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def criterion_ms(root, n, d):
    path = pathlib.Path(root) / f"closed_form_n{n}_d{d}" / "closed_form" / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"] / 1e6
    except (OSError, KeyError, ValueError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    p.add_argument("--criterion", default=str(default), help="criterion's output folder")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("shapes", nargs="*", default=SHAPES, help="NxD shapes")
    args = p.parse_args()

    print(f"numpy {np.__version__}, B = {B}, t = {T}, float32, median of {args.reps}; load {os.getloadavg()[0]:.2f}")
    print("| n | d | Rust (criterion) | cfm.ClosedForm.velocity | overhead | cfm.velocity (builds the field) | NumPy | NumPy / cfm |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        n, d = map(int, shape.split("x"))
        rng = np.random.default_rng(0)
        train = rng.standard_normal((n, d), dtype=np.float32)
        x = rng.standard_normal((B, d), dtype=np.float32)
        sq_norms = (train * train).sum(axis=1)
        field = cfm.ClosedForm(train)
        prepared = median_ms(lambda: field.velocity(x, T), args.reps)
        one_shot = median_ms(lambda: cfm.velocity(train, x, T), args.reps)
        numpy = median_ms(lambda: numpy_velocity(train, sq_norms, x, T), args.reps)
        rust = criterion_ms(args.criterion, n, d)
        rust_s, over = ("-", "-") if rust is None else (f"{rust:.2f}", f"{100 * (prepared / rust - 1):+.1f}%")
        print(f"| {n} | {d} | {rust_s} | {prepared:.2f} | {over} | {one_shot:.2f} | {numpy:.2f} | {numpy / prepared:.1f} |")


if __name__ == "__main__":
    main()
