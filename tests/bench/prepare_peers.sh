#!/usr/bin/env bash
# Runs HERE (a machine with PyPI), not on the GPU host. Fetches the public source distributions of
# the peer kernels that HF transformers calls when they are importable (mamba-ssm, causal-conv1d)
# and einops (mamba_ssm imports it) into the ignored folder .peers/, trimmed to what a
# forward-only build and HF's forward path need. The GPU host has no registry, so the lead carries
# .peers/ there and runs tests/bench/build_peers_on_gpu.sh. Nothing under .peers/ is committed.
#   tests/bench/prepare_peers.sh [--mamba-ssm VER] [--causal-conv1d VER]
# Layout made:
#   .peers/site/        one PYTHONPATH entry: mamba_ssm/, causal_conv1d/, einops/ (and, once
#                       built, selective_scan_cuda*.so, causal_conv1d_cuda*.so)
#   .peers/csrc/        selective_scan/ and causal_conv1d/ sources, backward kernels removed
#   .peers/licenses/    the upstream LICENSE files
#   .peers/VERSIONS     what was fetched, with the sdists' SHA-256
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${MAMBASCOPE_PYTHON:-$HOME/.cache/mambascope/venv-torch-2.11.0/bin/python}
# Pinned so that the build script's file list and the stubs' signatures match what was studied.
MAMBA_VER=2.3.2.post1 CONV_VER=1.7.0 EINOPS_VER=0.8.2
while [ $# -gt 0 ]; do
  case $1 in
    --mamba-ssm) MAMBA_VER=$2; shift 2 ;; --causal-conv1d) CONV_VER=$2; shift 2 ;;
    *) echo "prepare_peers.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
DEST=$ROOT/.peers
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dl=$tmp/dl; mkdir -p "$dl"

# `pip download` of an sdist prepares its metadata by running setup.py, which imports torch and
# wheel: use this venv's torch (no build isolation), a throwaway wheel on PYTHONPATH, and the
# packages' own switches that skip compiling anything at that step.
"$PY" -m pip download -q --only-binary :all: --no-deps "wheel" -d "$tmp/wheel" >/dev/null
export PYTHONPATH=$(ls "$tmp"/wheel/wheel-*.whl) MAMBA_SKIP_CUDA_BUILD=TRUE CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE
export PATH=/usr/local/cuda/bin:$PATH
"$PY" -m pip download -q --no-build-isolation --no-binary :all: --no-deps \
  "mamba-ssm==$MAMBA_VER" "causal-conv1d==$CONV_VER" -d "$dl"
"$PY" -m pip download -q --only-binary :all: --no-deps "einops==$EINOPS_VER" -d "$dl"
unset PYTHONPATH

rm -rf "$DEST.new"; mkdir -p "$DEST.new"/{site,csrc,licenses,src}
N=$DEST.new
tar xzf "$dl/mamba_ssm-$MAMBA_VER.tar.gz" -C "$N/src"
tar xzf "$dl/causal_conv1d-$CONV_VER.tar.gz" -C "$N/src"
M=$N/src/mamba_ssm-$MAMBA_VER C=$N/src/causal_conv1d-$CONV_VER
[ -f "$M/csrc/selective_scan/selective_scan_fwd_kernel.cuh" ] && [ -f "$C/csrc/causal_conv1d_fwd.cu" ] \
  || { echo "prepare_peers.sh: unexpected sdist layout (versions $MAMBA_VER / $CONV_VER)" >&2; exit 1; }
mv "$M/mamba_ssm" "$C/causal_conv1d" "$N/site/"
cp "$M/LICENSE" "$N/licenses/mamba_ssm-LICENSE"; cp "$C/LICENSE" "$N/licenses/causal_conv1d-LICENSE"
# Forward-only: the backward kernels are most of the compile time and are never called by a
# no-grad forward; build_peers_on_gpu.sh links stubs that raise in their place.
mkdir -p "$N/csrc/selective_scan" "$N/csrc/causal_conv1d"
for f in "$M"/csrc/selective_scan/*; do
  case $(basename "$f") in selective_scan_bwd_*) ;; *) mv "$f" "$N/csrc/selective_scan/" ;; esac
done
for f in "$C"/csrc/*; do
  case $(basename "$f") in causal_conv1d_bwd.cu) ;; *) mv "$f" "$N/csrc/causal_conv1d/" ;; esac
done
rm -rf "$N/src"
# mamba_ssm/__init__.py imports every module of the package (Mamba-3's Triton kernels, the HF hub
# mixin, the CUDA scan); one failing import there makes transformers treat ALL of mamba_ssm as
# absent, and would tie the Triton Mamba-2 path to the CUDA build. transformers 5.17 finds the
# functions it needs by their submodule paths (ops.selective_scan_interface,
# ops.triton.ssd_combined, ops.triton.selective_state_update), so a package root that imports
# nothing is enough. The original is kept beside it.
mv "$N/site/mamba_ssm/__init__.py" "$N/site/mamba_ssm/__init__.py.orig"
printf '# Trimmed by MambaScope tests/bench/prepare_peers.sh: see __init__.py.orig.\n__version__ = "%s"\n' \
  "$MAMBA_VER" > "$N/site/mamba_ssm/__init__.py"
"$PY" - "$dl/einops-$EINOPS_VER-py3-none-any.whl" "$N/site" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
EOF
find "$N" -name __pycache__ -prune -exec rm -rf {} +
{
  for f in "$dl"/*; do echo "$(basename "$f") sha256 $(sha256sum "$f" | cut -d' ' -f1)"; done
  echo "fetched $(date -u +%FT%TZ) by tests/bench/prepare_peers.sh"
} > "$N/VERSIONS"
rm -rf "$DEST"; mv "$N" "$DEST"
echo "prepared $DEST ($(du -sh "$DEST" | cut -f1)):"; cat "$DEST/VERSIONS"
