#!/usr/bin/env bash
# Runs ON THE GPU HOST, from the repository root (the device tool copies the working tree; carry
# .peers, made here by tests/bench/prepare_peers.sh). Builds the forward kernels of mamba_ssm
# (selective_scan fp32/bf16/fp16) and causal-conv1d for sm_90 against the host's torch, with one
# nvcc process per file in parallel, into .peers/site (objects in $TMPDIR); a build
# carried from a machine with the same torch is reused. Then it checks each kernel against the
# package's own reference on the GPU and prints which functions HF transformers will call.
# Exit status 0 only when HF's Mamba-1 and Mamba-2 fast paths are both active.
#   tests/bench/build_peers_on_gpu.sh [--force] [--arch 9.0] [--jobs N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${MAMBASCOPE_PYTHON:-python3}
[ -d "$ROOT/.peers/site/mamba_ssm" ] || { echo "build_peers_on_gpu.sh: $ROOT/.peers: missing (run tests/bench/prepare_peers.sh on a machine with PyPI and carry .peers)" >&2; exit 1; }
[ -d /usr/local/cuda/bin ] && export PATH=/usr/local/cuda/bin:$PATH
# Only a build needs these; a carried build for this torch is reused without them.
if command -v nvcc >/dev/null; then echo "[peers] $(nvcc --version | tail -1); $(nproc) cores"
else echo "[peers] nvcc not found: a build would fail (carried builds are still used)"; fi
command -v ninja >/dev/null || echo "[peers] ninja not found: a build would fail (torch's extension builder needs it)"
exec "$PY" "$ROOT/tests/bench/build_peers.py" --peers "$ROOT/.peers" --jobs "$(nproc)" "$@"
