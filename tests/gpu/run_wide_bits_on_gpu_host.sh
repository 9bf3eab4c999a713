#!/usr/bin/env bash
# On the GPU host (the device tool copies the working tree; carry .deps from packaging/gpu-deps.sh):
# the CUDA paths at the wide widths (9..15 bits) and with static scales after transforms.
#   1. kernel_parity (the scan_quant kernel vs its CPU reference at 4, 8 and 12 state bits);
#   2. eval at A10 H12 and at W12 A8 H8 on the HF fixtures, CUDA against CPU (same scheme, same
#      windows: the metrics agree to float rounding);
#   3. quantize smooth-fused,rtn with static A8 scales (measured on the CPU reference), then eval
#      on CUDA and CPU.
# Results land in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/mambascope-gpu}
mkdir -p "$OUT"
TORCH=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH" \
  -DMAMBASCOPE_GUI=OFF -DMAMBASCOPE_TESTS=OFF -DMAMBASCOPE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 --target mambascope-cli kernel_parity > "$OUT/build.log" 2>&1 \
  || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
rm -f "$OUT/configure.log" "$OUT/build.log"
CLI=build-gpu/bin/mambascope-cli
TEXT=$OUT/text.txt
cat README.md core/engine/*.h > "$TEXT"

echo "== kernel parity"
build-gpu/bin/kernel_parity > "$OUT/kernel_parity.txt" 2>&1
grep -vE " ok " "$OUT/kernel_parity.txt" | head -20
grep -c " ok " "$OUT/kernel_parity.txt" | sed 's/^/checks ok: /'
grep -E "H12" "$OUT/kernel_parity.txt" | head -4

summary() { python3 -c 'import json,sys; e=json.load(sys.stdin)["end_to_end"]; print("%s ppl_q %.6f kl_mean %.6e kl_max %.4e top1 %.5f" % (sys.argv[1], e["perplexity_quant"], e["kl_mean"], e["kl_max"], e["top1_agreement"]))' "$1"; }
echo "== eval at wide widths, CUDA vs CPU"
for m in mamba1-hf mamba2-hf; do
  for flags in "--abits 10 --act-granularity token --hbits 12" "--abits 8 --hbits 15 --state-method channel"; do
    for dev in cuda cpu; do
      $CLI eval tests/fixtures/models/$m $flags --file "$TEXT" --max-tokens 2048 --ctx 512 --device $dev --json 2>"$OUT/err.txt" \
        | summary "$m [$flags] $dev" || tail -2 "$OUT/err.txt"
    done
  done
done
echo "== static A8 scales after smooth-fused, eval CUDA vs CPU"
for m in mamba1-hf mamba2-hf; do
  Q=$OUT/q-$m; rm -rf "$Q"
  $CLI quantize tests/fixtures/models/$m --method smooth-fused,rtn --wbits 8 --abits 8 --act-scale static \
    --act-granularity tensor --format packed --calib-file "$TEXT" --calib-seq-len 256 --out "$Q" 2>"$OUT/err.txt" >/dev/null \
    || { tail -2 "$OUT/err.txt"; continue; }
  for dev in cuda cpu; do
    $CLI eval tests/fixtures/models/$m --scheme "$Q/mambascope.json" --file "$TEXT" --max-tokens 2048 --ctx 512 \
      --device $dev --json 2>"$OUT/err.txt" | summary "$m smooth-fused W8A8 static $dev" || tail -2 "$OUT/err.txt"
  done
  rm -rf "$Q"
done
rm -f "$OUT/err.txt" "$TEXT"
