#!/usr/bin/env bash
# Run on the GPU host (the device tool copies the working tree there; carry .deps, made by
# packaging/gpu-deps.sh). Builds mambascope-cli without Qt against the host's torch, checks CUDA
# parity with the HF fixtures, and benchmarks the forward of ours and of HF side by side.
# Everything lands in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/mambascope-gpu}
mkdir -p "$OUT"
TORCH=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH" \
  -DMAMBASCOPE_GUI=OFF -DMAMBASCOPE_TESTS=OFF -DMAMBASCOPE_CUDA=ON > "$OUT/configure.log" 2>&1 \
  || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 1; }
CLI=build-gpu/bin/mambascope-cli
python3 tests/gpu/parity.py $CLI tests/fixtures/models --device cuda 2>&1 | tee "$OUT/parity.txt"
for spec in "mamba-130m fp32 8 1024" "mamba-130m bf16 8 1024" "mamba2-130m fp32 8 1024" \
            "mamba2-130m bf16 8 1024"; do
  set -- $spec
  $CLI bench forward --preset $1 --dtype $2 --batch $3 --seq-len $4 --iters 3 --device cuda \
    --out "$OUT/ours-$1-$2.json" --json 2>/dev/null | python3 -c 'import json,sys; j=json.load(sys.stdin); print("ours", j["preset"], j["dtype"], j["device"], round(j["tokens_per_s"]), "tok/s")'
  python3 tests/bench/bench_hf_forward.py --preset $1 --dtype $2 --batch $3 --seq-len $4 --device cuda \
    > "$OUT/hf-$1-$2.json" 2>/dev/null && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("hf  ", j["preset"], j["dtype"], j["device"], round(j["tokens_per_s"]), "tok/s")' "$OUT/hf-$1-$2.json"
done
for p in mamba-130m mamba2-130m; do
  $CLI bench forward --preset $p --device cpu --batch 1 --seq-len 512 --out "$OUT/ours-cpu-$p.json" --json 2>/dev/null \
    | python3 -c 'import json,sys; j=json.load(sys.stdin); print("ours", j["preset"], j["device"], round(j["tokens_per_s"]), "tok/s")'
  python3 tests/bench/bench_hf_forward.py --preset $p --device cpu --batch 1 --seq-len 512 > "$OUT/hf-cpu-$p.json" 2>/dev/null \
    && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("hf  ", j["preset"], "cpu", j["threads"], "threads", round(j["tokens_per_s"]), "tok/s")' "$OUT/hf-cpu-$p.json"
done
for i in 1 2 3; do /usr/bin/time -f "cold start --version %e s, %M KB" $CLI --version; done 2>&1 | tail -3
/usr/bin/time -f "device probe (cuda) %e s, %M KB" $CLI info tests/fixtures/models/mamba1-hf > /dev/null
