#!/usr/bin/env bash
# Issue 4 on the GPU host (the device tool copies the working tree; carry .deps from
# packaging/gpu-deps.sh): build mambascope-cli and kernel_parity without Qt, check every kernel
# against its CPU reference, check the fused calibration against the reference (observer) path
# on the HF fixtures and on random real-shape presets, then benchmark `bench calibrate`.
#   tests/gpu/run_calib_on_gpu_host.sh [all|parity,reference,bench] [BENCH_SPECS...]
# parity: kernels vs CPU references, fused vs reference path on the fixtures; reference: fused
# statistics vs the float64 reference (tests/cli/hf_stats_ref.py) on random models; bench;
# oom: a calibration that cannot fit the GPU fails in one clear line, and the GPU works after it.
# BENCH_SPECS: "preset dtype batch seq_len" (default: the 130m shapes). Results land in $OUT.
set -uo pipefail
WHAT=${1:-all}; shift || true
OUT=${OUT:-/tmp/mambascope-gpu}
mkdir -p "$OUT"
TORCH=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH" \
  -DMAMBASCOPE_GUI=OFF -DMAMBASCOPE_TESTS=OFF -DMAMBASCOPE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 --target mambascope-cli kernel_parity > "$OUT/build.log" 2>&1 \
  || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
CLI=build-gpu/bin/mambascope-cli
TEXT=$OUT/calib.txt
# A calibration text without the (ignored) extracted novels: the README and the methods notes.
cat README.md core/engine/*.h > "$TEXT"

want() { [ "$WHAT" = all ] || [[ ",$WHAT," == *",$1,"* ]]; }
if want parity; then
  echo "== kernel parity"
  build-gpu/bin/kernel_parity 2>&1 | tee "$OUT/kernel_parity.txt" | grep -vE " ok " || true
  tail -1 "$OUT/kernel_parity.txt"
  echo "== fused vs reference calibration (fixtures: fp32 must agree to 1e-4)"
  for m in tests/fixtures/models/*/; do
    name=$(basename "$m")
    tok=(); [ -f "$m/tokenizer.json" ] || tok=(--tokenizer tests/fixtures/models/tokenizer.json)
    for dt in fp32 bf16; do
      for eng in fused reference; do
        $CLI calibrate "$m" "${tok[@]}" --file "$TEXT" --out "$OUT/$name-$dt-$eng.safetensors" \
          --seq-len 96 --batch 4 --dtype $dt --device cuda --engine $eng 2>"$OUT/err.txt" >/dev/null \
          || { echo "$name $dt $eng failed:"; tail -2 "$OUT/err.txt"; }
      done
      rtol=1e-4; [ $dt = bf16 ] && rtol=5e-2
      echo "-- $name $dt"
      python3 tests/gpu/compare_stats.py "$OUT/$name-$dt-fused.safetensors" "$OUT/$name-$dt-reference.safetensors" \
        --rtol $rtol --hist-moved 5e-3 | sed 's/^/   /'
    done
  done
  rm -f "$OUT"/*.safetensors "$OUT/err.txt"
fi
if want reference; then
  echo "== fused CUDA statistics vs the float64 reference (HF in float64 + the recurrence; random models not in the repo)"
  W=$(mktemp -d)
  head -c 2500 README.md > "$W/a.txt"; head -c 1200 core/engine/calib_stats.h > "$W/b.txt"
  for spec in "tiny-mamba 31" "tiny-mamba2 32" "mamba-130m 33" "mamba2-130m 34"; do
    read -r preset seed <<<"$spec"  # not `set --`: the bench specs live in $@
    $CLI init-random --preset $preset --seed $seed --out "$W/$preset" >/dev/null 2>&1
    $CLI calibrate "$W/$preset" --tokenizer tests/fixtures/models/tokenizer.json --file "$W/a.txt" --file "$W/b.txt" \
      --seq-len 96 --batch 3 --dtype fp32 --device cuda --engine fused --out "$W/$preset.st" 2>"$W/err" >/dev/null \
      || { echo "$preset: calibrate failed: $(tail -1 "$W/err")"; continue; }
    echo "-- $preset (fused, fp32)"
    python3 tests/cli/hf_stats_ref.py "$W/$preset" tests/fixtures/models/tokenizer.json "$W/$preset.st" \
      --file "$W/a.txt" --file "$W/b.txt" --seq-len 96 --rtol 1e-3 2>/dev/null | sed 's/^/   /'
  done 2>&1 | tee "$OUT/stats-vs-float64.txt"
  rm -rf "$W"
fi

if want oom; then
  echo "== CUDA out of memory during calibration (issue 9)"
  W=$(mktemp -d)
  $CLI init-random --preset mamba-2.8b --dtype bf16 --out "$W/m" >/dev/null 2>&1
  # ~3 M tokens of common words in one sequence: its in_proj output alone is over 100 GB in fp32.
  python3 -c 'import random; r=random.Random(1); w="the of and to in is was that it for on with as by at from this be are".split(); print(" ".join(r.choice(w) for _ in range(3000000)))' > "$W/big.txt"
  /usr/bin/time -f "%e s" $CLI calibrate "$W/m" --tokenizer tests/fixtures/models/tokenizer.json --file "$W/big.txt" \
    --seq-len 3000000 --batch 1 --dtype fp32 --device cuda --out "$W/s.st" >/dev/null 2>"$W/err"
  rc=$?
  echo "exit $rc; stderr:"; grep -v "^Command exited" "$W/err" | tail -3 | sed "s/^/   /"
  [ -e "$W/s.st" ] && echo "FAIL: a statistics file was written" || echo "no output file: ok"
  ls -A "$W" | tr '\n' ' '; echo
  nvidia-smi --query-gpu=memory.used --format=csv,noheader | sed 's/^/GPU memory used after: /'
  echo "-- the same model and text at a sensible size, right after"
  $CLI calibrate "$W/m" --tokenizer tests/fixtures/models/tokenizer.json --file "$W/big.txt" --max-tokens 16384 \
    --seq-len 2048 --batch 8 --dtype bf16 --device cuda --out "$W/s.st" >/dev/null 2>"$W/err" \
    && echo "calibrate after OOM: ok ($(stat -c %s "$W/s.st") bytes)" || { echo "FAIL after OOM:"; tail -2 "$W/err"; }
  rm -rf "$W"
fi

if want bench; then
  echo "== bench calibrate"
  [ $# -gt 0 ] || set -- "mamba-130m bf16 8 1024" "mamba-130m fp32 8 1024" "mamba2-130m bf16 8 1024" "mamba2-130m fp32 8 1024"
  for spec in "$@"; do
    set -- $spec
    $CLI bench calibrate --preset $1 --dtype $2 --batch $3 --seq-len $4 --iters ${ITERS:-8} --device cuda \
      --out "$OUT/calib-$1-$2-b$3-l$4.json" --json 2>"$OUT/err.txt" \
      | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["preset"], j["dtype"], "B", j["batch"], "L", j["seq_len"], j["engine"], round(j["tokens_per_s"]), "tok/s; peak", round(j.get("peak_gpu_bytes",0)/2**30,2), "GiB")' \
      || tail -3 "$OUT/err.txt"
    grep -A40 "fused calibration profile" "$OUT/err.txt" || true
  done
fi
