# The reproduction suite's entry points: thin wrappers over cargo and the `cfm` binary.
# Everything builds with the release profile, so tests and experiments share one build.

set shell := ["bash", "-euo", "pipefail", "-c"]

cfm := "cargo run --release -q -p cfm-cli --"

# List the recipes
default:
    @just --list

# Regenerate every figure (tables, SVGs, manifest) at a profile: smoke, quick (default) or paper.
# Installs Debian's dataset-fashion-mnist first when it is missing and apt can be used (root, or
# sudo without a password); elsewhere its cells are reported NOT RUN with the fix.
reproduce profile="quick" *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{profile}}" != smoke ] && [ -z "${CFM_DATA_DIR:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "Fashion-MNIST is missing and there is no apt-get: download it from https://github.com/zalandoresearch/fashion-mnist into <dir>/fashion-mnist and pass --data-dir <dir>; its cells are NOT RUN" >&2
        elif [ "$(id -u)" = 0 ]; then
            apt-get install -y dataset-fashion-mnist || (apt-get update && apt-get install -y dataset-fashion-mnist) || true
        elif sudo -n true 2>/dev/null; then
            sudo -n apt-get install -y dataset-fashion-mnist || (sudo -n apt-get update && sudo -n apt-get install -y dataset-fashion-mnist) || true
        else
            echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' (its cells are NOT RUN until then)" >&2
        fi
    fi
    {{cfm}} reproduce --profile {{profile}} {{args}}

# Submit the uncached cells to Slurm, one array task per cell, then a job that collects the
# figures (e.g. `just slurm --profile paper --cache /shared/cache --gres gpu:1 --dry-run`)
slurm *args:
    {{cfm}} slurm {{args}}

# Check the paper's claims against the results tables in figures/data
verify:
    {{cfm}} verify

# Write paper/REPRODUCTION.md and the README's claims table from figures/ (also run by reproduce)
report:
    {{cfm}} report

# Unit, property and snapshot tests
test:
    cargo test --release --workspace

# Lints: clippy with warnings as errors, and formatting
lint:
    cargo clippy --release --workspace --all-targets -- -D warnings
    cargo fmt --all --check

# Regenerate the untrained figures in a scratch dir, compare with figures/data, then verify
check-figures:
    #!/usr/bin/env bash
    set -euo pipefail
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    {{cfm}} reproduce --profile quick --without-training --out "$tmp" --cache "$tmp/cache" --quiet
    {{cfm}} compare --expected figures/data --actual "$tmp/data"
    # The claims that fail at the quick profile are findings, reported with their numbers in
    # paper/REPRODUCTION.md; any other verdict turning to FAIL, or an error, fails the check.
    {{cfm}} verify --known-failures C5,C6,C7,C8a

# Criterion benchmarks, then the closed-form table (e.g. `just bench 10000x64,50000x784`); the
# backend table too once `just bench-backends` has run
bench shapes="":
    {{ if shapes == "" { "" } else { "CFM_BENCH_SHAPES=" + shapes } }} cargo bench --workspace --bench closed_form --bench training -- --noplot
    cargo run --release -q -p cfm-bench --bin bench-table

# The closed form at t = 0.02 against its two products, timed call by call in alternation
# (default: n = 1k at d = 2, 64 and 784, 1000 pairs, the default tolerance; e.g. `just bench-pairs 1000x3072 50 1e-3`)
bench-pairs shapes="1000x2,1000x64,1000x784" pairs="1000" tol="":
    cargo run --release -q -p cfm-bench --bin dense-pairs -- {{shapes}} {{pairs}} {{tol}}

# The matrix products under gemm, faer and OpenBLAS (installs Debian's libopenblas-dev when
# missing, as root or with sudo), then the tables. Its extra features rebuild part of the tree once.
bench-backends:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! ldconfig -p | grep -q 'libopenblas\.so '; then
        if [ "$(id -u)" = 0 ]; then apt-get install -y libopenblas-dev; else sudo -n apt-get install -y libopenblas-dev; fi
    fi
    cargo bench -p cfm-bench --features backends --bench backends -- --noplot
    cargo run --release -q -p cfm-bench --bin bench-table
