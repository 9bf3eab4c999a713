#!/usr/bin/env bash
# The calibration benchmark of issue 4, ON THE GPU HOST from the repository root, in one run on one
# GPU: our engine (`mambascope-cli bench calibrate`) against HF transformers with per-channel absmax
# hooks, with the peer kernels (mamba_ssm + causal-conv1d, built by build_peers_on_gpu.sh from the
# carried .peers) and, for a few small presets, without them. Writes into $OUT (default
# /tmp/mambascope-bench): ours-*.json, hf-*.jsonl, and the merged bench-calibrate.json and
# bench-calibrate.md (the README table).
#   tests/bench/run_calibrate_bench.sh [--presets LIST] [--configs fp32:8:1024,bf16:8:1024]
#       [--torch-presets mamba-130m,mamba2-130m] [--torch-dtypes fp32] [--iters 3] [--warmup 1]
#       [--cli build-gpu/bin/mambascope-cli] [--build] [--skip-ours] [--skip-hf] [--device cuda]
# --build configures and builds build-gpu's mambascope-cli first (as tests/gpu/run_on_gpu_host.sh
# does: Release, CUDA on, no Qt, no tests), carrying .deps as well.
# A config is DTYPE:BATCH:SEQ_LEN. --torch-presets '' skips HF's torch-only path (slow: its
# Mamba-1 scan is a Python loop over tokens). Expect about 6 minutes for the defaults on an H100.
# --device cpu is a dry run of the plumbing on a CPU machine (tiny presets; HF without kernels).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-/tmp/mambascope-bench}
PY=${MAMBASCOPE_PYTHON:-python3}
PRESETS=mamba-130m,mamba-370m,mamba-1.4b,mamba-2.8b,mamba2-130m,mamba2-370m,mamba2-1.3b,mamba2-2.7b
CONFIGS=fp32:8:1024,bf16:8:1024
TORCH_PRESETS=mamba-130m,mamba2-130m TORCH_DTYPES=fp32
ITERS=3 WARMUP=1 CLI=$ROOT/build-gpu/bin/mambascope-cli SKIP_OURS=0 SKIP_HF=0 DEVICE=cuda BUILD=0
while [ $# -gt 0 ]; do
  case $1 in
    --presets) PRESETS=$2; shift 2 ;; --configs) CONFIGS=$2; shift 2 ;;
    --torch-presets) TORCH_PRESETS=$2; shift 2 ;; --torch-dtypes) TORCH_DTYPES=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;; --warmup) WARMUP=$2; shift 2 ;; --cli) CLI=$2; shift 2 ;;
    --build) BUILD=1; shift ;; --skip-ours) SKIP_OURS=1; shift ;; --skip-hf) SKIP_HF=1; shift ;; --device) DEVICE=$2; shift 2 ;;
    *) echo "run_calibrate_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[bench +$(( $(date +%s) - start ))s] $*"; }
if [ "$DEVICE" = cpu ]; then
  echo "cpu ($(nproc) cores), dry run" | tee "$OUT/gpu.txt"; KPEERS=off
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  KPEERS=on
fi

if [ "$SKIP_HF" = 0 ] && [ "$DEVICE" != cpu ]; then
  stamp "peer kernels"
  "$ROOT/tests/bench/build_peers_on_gpu.sh" 2>&1 | tee "$OUT/peers.log" | grep -E '^\[peers\]|rror'
  if [ "${PIPESTATUS[0]}" != 0 ]; then
    # Still measure, on whatever HF resolves; each row's "paths" and fast_path say what ran.
    echo "WARNING: peer kernels not fully active (see $OUT/peers.log); HF runs with --peers auto"
    KPEERS=auto
  fi
  export TRITON_CACHE_AUTOTUNING=1  # Triton >= 3.4 keeps the SSD kernels' tuning across processes
  export PYTHONPATH=$ROOT/.peers/site${PYTHONPATH:+:$PYTHONPATH}
fi

if [ "$BUILD" = 1 ] && [ "$SKIP_OURS" = 0 ]; then
  stamp "building mambascope-cli into build-gpu"
  TORCH=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  { cmake -S "$ROOT" -B "$ROOT/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH" \
      -DMAMBASCOPE_GUI=OFF -DMAMBASCOPE_TESTS=OFF -DMAMBASCOPE_CUDA=ON \
    && cmake --build "$ROOT/build-gpu" -j "$(nproc)" --target mambascope-cli; } > "$OUT/build.log" 2>&1 \
    || { grep -E "error|FAILED" "$OUT/build.log" | head -20; echo "run_calibrate_bench.sh: build failed ($OUT/build.log)" >&2; exit 1; }
fi

# Our options beyond the agreed interface only where this build's CLI knows them.
OURS_EXTRA=()
if [ "$SKIP_OURS" = 0 ]; then
  [ -x "$CLI" ] || { echo "run_calibrate_bench.sh: $CLI: not built (tests/gpu/run_on_gpu_host.sh builds build-gpu)" >&2; exit 1; }
  help=$("$CLI" bench --help 2>&1)
  for opt in device:$DEVICE iters:$ITERS warmup:$WARMUP; do
    grep -q -- "--${opt%%:*}" <<<"$help" && OURS_EXTRA+=("--${opt%%:*}" "${opt#*:}")
  done
fi

IFS=, read -ra CFGS <<<"$CONFIGS"
IFS=, read -ra PLIST <<<"$PRESETS"
for cfg in "${CFGS[@]}"; do
  IFS=: read -r dt b l <<<"$cfg"
  if [ "$SKIP_OURS" = 0 ]; then
    for p in "${PLIST[@]}"; do
      f=$OUT/ours-$p-$dt-b$b-l$l.json
      stamp "ours $p $dt B=$b L=$l"
      "$CLI" bench calibrate --preset "$p" --dtype "$dt" --batch "$b" --seq-len "$l" "${OURS_EXTRA[@]}" \
        --out "$f" > "$OUT/ours-$p-$dt-b$b-l$l.log" 2>&1 || { echo "  failed:"; tail -3 "$OUT/ours-$p-$dt-b$b-l$l.log"; }
    done
  fi
  if [ "$SKIP_HF" = 0 ]; then
    # One process per config: the import and Triton's autotuning are paid once for all presets.
    stamp "hf+kernels $dt B=$b L=$l"
    "$PY" "$ROOT/tests/bench/bench_hf_calibrate.py" --preset "$PRESETS" --dtype "$dt" --batch "$b" \
      --seq-len "$l" --iters "$ITERS" --warmup "$WARMUP" --peers "$KPEERS" --device "$DEVICE" \
      > "$OUT/hf-kernels-$dt-b$b-l$l.jsonl" 2> "$OUT/hf-kernels-$dt-b$b-l$l.log"
    grep -E '^hf |rror' "$OUT/hf-kernels-$dt-b$b-l$l.log"
    if [ -n "$TORCH_PRESETS" ] && [[ ",$TORCH_DTYPES," == *",$dt,"* ]]; then
      stamp "hf torch-only $dt B=$b L=$l"
      "$PY" "$ROOT/tests/bench/bench_hf_calibrate.py" --preset "$TORCH_PRESETS" --dtype "$dt" --batch "$b" \
        --seq-len "$l" --iters "$ITERS" --warmup "$WARMUP" --peers off --device "$DEVICE" \
        > "$OUT/hf-torch-$dt-b$b-l$l.jsonl" 2> "$OUT/hf-torch-$dt-b$b-l$l.log"
      grep -E '^hf |rror' "$OUT/hf-torch-$dt-b$b-l$l.log"
    fi
  fi
done
stamp "merge"
"$PY" "$ROOT/tests/bench/merge_calibrate_bench.py" "$OUT" --peers-versions "$ROOT/.peers/VERSIONS"
stamp "done: $OUT/bench-calibrate.json, $OUT/bench-calibrate.md"
