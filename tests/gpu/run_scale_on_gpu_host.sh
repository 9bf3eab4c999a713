#!/usr/bin/env bash
# Issue 4 item 5 on the GPU host (the device tool copies the working tree; carry .deps from
# packaging/gpu-deps.sh): layer streaming under --max-gpu-mem and the NCCL merge of several GPUs.
#   tests/gpu/run_scale_on_gpu_host.sh [all|build|stream,codestral,multi]
# The device tool allows 10 minutes a command: run `build` first, then each step in its own call
# (the warm machine keeps build-gpu/). `all` is for a host without that limit.
# stream:    random mamba-2.8b (bf16 on disk, fp32 compute), calibrated resident (no flag), again
#            resident (the run-to-run floor of the kernels' fp64 atomics) and with --max-gpu-mem 8G
#            (streaming) on the same tokens: extrema, counts and histograms must be identical,
#            fp64 sums equal to reordering (tests/gpu/compare_exact.py); tok/s and peak GPU memory.
# codestral: random mamba-codestral-7b (bf16) streamed under 8G, and resident for the comparison.
# multi:     with 2+ GPUs: mamba-130m on cuda:0,cuda:1 (NCCL), the same with --merge host, and on
#            cuda:0 alone, same tokens; then the two GPUs streaming under a small bound.
# Results: $OUT/scale-summary.json, one log and one --json line per run. Checkpoints are deleted
# after each step (the host has 64 GiB of disk). Each run is time-boxed (STEP_TIMEOUT, 150 s).
set -uo pipefail
WHAT=${1:-all}
OUT=${OUT:-/tmp/mambascope-gpu}
STEP_TIMEOUT=${STEP_TIMEOUT:-150}
mkdir -p "$OUT"
want() { [ "$WHAT" = all ] || [[ ",$WHAT," == *",$1,"* ]]; }
say() { echo "[$(date +%T)] $*"; }
TORCH=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
NGPU=$(nvidia-smi -L | wc -l)
say "build (build-gpu, as tests/gpu/run_calib_on_gpu_host.sh)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH" \
  -DMAMBASCOPE_GUI=OFF -DMAMBASCOPE_TESTS=OFF -DMAMBASCOPE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
grep "NCCL:" "$OUT/configure.log"
cmake --build build-gpu -j 16 --target mambascope-cli > "$OUT/build.log" 2>&1 \
  || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
CLI=$PWD/build-gpu/bin/mambascope-cli
[ "$WHAT" = build ] && { say "built: $($CLI --version)"; exit 0; }
TOK=tests/fixtures/models/tokenizer.json
W=$(mktemp -d /tmp/scale.XXXX)
trap 'rm -rf "$W"' EXIT
# ~460k tokens (the fixture tokenizer; ids < 400, valid for every preset): enough for every run below.
python3 -c 'import random; r=random.Random(7); w="the of and to in is was that it for on with as by at from this be are an not or have had but what all were when we there can one more so if out about up into them some could time only new like".split(); print(" ".join(r.choice(w) for _ in range(200000)))' > "$W/text.txt"

# run NAME ARGS...: one calibration, time-boxed, with the GPUs' memory sampled every 100 ms;
# leaves $OUT/NAME.json (calibrate --json plus the sampled peak per GPU) and $OUT/NAME.log.
run() {
  local name=$1; shift
  nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 100 > "$W/mem.csv" 2>/dev/null &
  local smi=$!
  timeout "$STEP_TIMEOUT" "$CLI" calibrate "$@" --tokenizer "$TOK" --file "$W/text.txt" --json \
    > "$W/out.json" 2> "$OUT/$name.log"
  local rc=$?
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  python3 - "$W/out.json" "$W/mem.csv" "$OUT/$name.json" "$rc" <<'PY'
import json, sys
out, mem, dest, rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
try: j = json.loads(open(out).read().strip().splitlines()[-1])
except Exception: j = {}
peak = {}
for line in open(mem):
    try: i, used = [int(x) for x in line.split(",")]
    except ValueError: continue
    peak[i] = max(peak.get(i, 0), used)
j.update({"exit": rc, "nvidia_smi_peak_mib": peak})
json.dump(j, open(dest, "w"), indent=1)
print(f"   exit {rc}; {j.get('tokens', '?')} tokens, {round(j.get('tokens_per_s', 0))} tok/s "
      f"(steady {round(j.get('steady_tokens_per_s', 0))}), layers {j.get('layers', '?')}, "
      f"peak MiB per GPU {peak}")
PY
  grep -E "streaming|resident|note|error|rror" "$OUT/$name.log" | head -3 | sed 's/^/   /'
  return $rc
}
compare() {  # compare NAME A B
  echo "   compare $1:"
  python3 tests/gpu/compare_exact.py "$2" "$3" --json "$OUT/compare-$1.json" | sed 's/^/     /'
}

if want stream; then
  say "== mamba-2.8b: resident vs streaming (--max-gpu-mem 8G), fp32 compute"
  timeout 240 $CLI init-random --preset mamba-2.8b --dtype bf16 --seed 28 --out "$W/m28" > /dev/null 2>"$OUT/init-m28.log" \
    || { echo "init-random failed"; tail -2 "$OUT/init-m28.log"; }
  ARGS=("$W/m28" --device cuda --dtype fp32 --seq-len 2048 --batch 8 --max-tokens 65536)
  say "resident";          run m28-resident  "${ARGS[@]}" --out "$W/res.st"
  say "resident again";    run m28-resident2 "${ARGS[@]}" --out "$W/res2.st"
  say "streaming (8G)";    run m28-stream    "${ARGS[@]}" --out "$W/str.st" --max-gpu-mem 8G
  say "refused (1G)";      run m28-refused   "${ARGS[@]}" --out "$W/ref.st" --max-gpu-mem 1G
  compare m28-rerun  "$W/res2.st" "$W/res.st"
  compare m28-stream "$W/str.st" "$W/res.st"
  rm -rf "$W/m28" "$W"/*.st
fi

if want codestral; then
  say "== mamba-codestral-7b (bf16): streaming under 8G, and resident"
  timeout 300 $CLI init-random --preset mamba-codestral-7b --dtype bf16 --seed 7 --out "$W/cs" > /dev/null 2>"$OUT/init-cs.log" \
    || { echo "init-random failed"; tail -2 "$OUT/init-cs.log"; }
  du -sh "$W/cs" 2>/dev/null
  ARGS=("$W/cs" --device cuda --dtype bf16 --seq-len 1024 --batch 4 --max-tokens 16384)
  say "streaming (8G)"; run cs-stream   "${ARGS[@]}" --out "$W/cs-str.st" --max-gpu-mem 8G
  say "resident";       run cs-resident "${ARGS[@]}" --out "$W/cs-res.st"
  compare cs-stream "$W/cs-str.st" "$W/cs-res.st"
  rm -rf "$W/cs" "$W"/*.st
fi

if want multi; then
  if [ "$NGPU" -lt 2 ]; then
    say "== multi: skipped ($NGPU GPU visible)"
  else
    say "== mamba-130m on two GPUs (NCCL) vs one"
    $CLI init-random --preset mamba-130m --seed 13 --out "$W/m130" > /dev/null 2>&1
    ARGS=("$W/m130" --dtype fp32 --seq-len 1024 --batch 8 --max-tokens 262144)
    say "cuda:0";                   run m130-one  "${ARGS[@]}" --device cuda:0 --out "$W/one.st"
    say "cuda:0,cuda:1 (nccl)";     run m130-two  "${ARGS[@]}" --devices cuda:0,cuda:1 --out "$W/two.st"
    say "cuda:0,cuda:1 (host)";     run m130-host "${ARGS[@]}" --devices cuda:0,cuda:1 --merge host --out "$W/host.st"
    say "cuda:0,cuda:1 streaming";  run m130-two-stream "${ARGS[@]}" --devices cuda:0,cuda:1 --max-gpu-mem 800M --out "$W/two-str.st"
    compare m130-two-vs-one  "$W/two.st" "$W/one.st"
    compare m130-two-vs-host "$W/two.st" "$W/host.st"
    compare m130-two-stream-vs-one "$W/two-str.st" "$W/one.st"
    rm -rf "$W/m130" "$W"/*.st
  fi
fi

python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
summary = {"gpus": open(os.path.join(out, "gpu.txt")).read().strip().splitlines(), "runs": {}, "compares": {}}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    name = os.path.basename(f)[:-5]
    if name == "scale-summary": continue
    j = json.load(open(f))
    (summary["compares"] if name.startswith("compare-") else summary["runs"])[name.replace("compare-", "")] = j
json.dump(summary, open(os.path.join(out, "scale-summary.json"), "w"), indent=1)
print("summary:", os.path.join(out, "scale-summary.json"))
for n, c in summary["compares"].items(): print(f"  {n}: {'identical up to fp64 reordering' if c.get('ok') else 'DIFFERENT'}")
PY
