#!/usr/bin/env bash
# The Python package (crates/python), as a user installs it: a virtual environment outside the
# repository, `pip install ./crates/python`, then its lints and its pytest suite. Nothing is
# written in the repository outside the ignored target/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check maturin numpy pytest
# The crate is its own workspace (see the root Cargo.toml); its build shares the root target
# folder, so that dependencies already built there with the same features are reused, and
# pyo3 is configured for the venv's interpreter in both the build and clippy.
export CARGO_TARGET_DIR="$PWD/target" PYO3_PYTHON="$py"
"$py" -m pip install --quiet --disable-pip-version-check ./crates/python
cargo fmt --manifest-path crates/python/Cargo.toml --check
cargo clippy --release --manifest-path crates/python/Cargo.toml --all-targets -- -D warnings
# `cfm.sample` against `cfm sample`, when the binary is built (check-figures builds it).
if [[ -x target/release/cfm ]]; then
    export CFM_BIN="$PWD/target/release/cfm"
fi
PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -q -p no:cacheprovider crates/python/tests
