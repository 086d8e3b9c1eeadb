#!/usr/bin/env bash
# The CUDA build (`--features cuda`), compiled on a machine without a GPU: NVIDIA's compiler and
# headers from the Python package index, pinned, in a virtual environment outside the repository
# (reused while its pins are unchanged), then `cargo check` of the binary with the feature in
# its own target folder, so that the CPU build in target/release is left alone. Build scripts
# run under `cargo check`, so nvcc compiles candle's kernels (PTX and the MoE static library);
# nothing is linked, which would need the driver's libcuda. See docs/cuda-ci.md.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

# One toolkit release, CUDA 13.4 (nvcc, its NVVM back end, the runtime headers and libcudart,
# the crt headers), the newest that cudarc 0.19.10 knows, and CCCL's headers of the matching
# 3.4 series (nvidia-cuda-cccl 13.3.4.3.1 is CCCL 3.4.3 for CUDA 13; CUDA 13.3 came with 3.3).
# candle's kernels include nothing else (no cuBLAS or cuRAND headers: cudarc's bindings are
# pre-generated).
packages=(
    nvidia-cuda-nvcc==13.4.92
    nvidia-nvvm==13.4.92
    nvidia-cuda-crt==13.4.92
    nvidia-cuda-runtime==13.4.92
    nvidia-cuda-cccl==13.3.4.3.1
)
venv=${CFM_CUDA_VENV:-$HOME/.cache/cfm-cuda-venv}
stamp="$venv/cfm-cuda-packages.txt"
if [[ ! -f $stamp || "$(cat "$stamp")" != "${packages[*]}" ]]; then
    if [[ -e $venv && ! -f $venv/pyvenv.cfg ]]; then
        echo "$venv exists and is not a virtual environment: remove it or set CFM_CUDA_VENV" >&2
        exit 1
    fi
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        if [[ $(id -u) = 0 ]] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        fi
        python3 -m venv "$venv"
    fi
    # --no-deps: the list above is the whole closure (pip check verifies it), nothing unpinned.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${packages[@]}"
    if ! broken=$("$venv/bin/python" -m pip check --disable-pip-version-check); then
        echo "$broken" >&2
        exit 1
    fi
    # candle-kernels' build script reruns when its sources change, not its compiler: a new
    # toolkit starts from an empty target folder, so that every kernel goes through it.
    rm -rf target/cuda-check
    printf '%s' "${packages[*]}" >"$stamp"
    echo "cuda check: toolkit installed in $venv in $((SECONDS - start)) s"
fi
cuda="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13"
if [[ ! -x $cuda/bin/nvcc || ! -f $cuda/include/cuda.h ]]; then
    echo "no nvcc or cuda.h under $cuda: remove $venv and rerun" >&2
    exit 1
fi

# nvcc on the PATH (candle-kernels' build runs `nvcc`); the toolkit root with include/cuda.h for
# bindgen_cuda and cudarc. CUDARC_CUDA_VERSION names the toolkit's release for cudarc (which
# otherwise parses `nvcc --version`, and panics on a release newer than it knows, 13.5 for
# cudarc 0.19.10). With no GPU to query, CUDA_COMPUTE_CAP picks the architecture: 90 (H100)
# compiles every branch of candle's kernels (they are guarded by __CUDA_ARCH__ >= 530, 800
# and 890).
export PATH="$cuda/bin:$PATH" CUDA_ROOT="$cuda" CUDA_PATH="$cuda" CUDA_HOME="$cuda"
export CUDARC_CUDA_VERSION=13040 CUDA_COMPUTE_CAP=90
export CARGO_TARGET_DIR="$PWD/target/cuda-check"
nvcc --version | tail -n 2 | head -n 1
cargo check --release -q -p cfm-cli --features cuda
echo "cuda check: cargo check --features cuda passed in $((SECONDS - start)) s"
