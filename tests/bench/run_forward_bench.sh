#!/usr/bin/env bash
# The first benchmark of issue 3: CPU forward tokens/s of mambascope-cli and HF transformers on
# the same preset shapes, on the same machine, in the same run; and the cold start of both
# executables. Writes one JSON report (default build/bench-forward.json).
#   tests/bench/run_forward_bench.sh [--preset mamba-130m] [--seq-len 512] [--out F.json]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PRESET=mamba-130m SEQ=512 BATCH=1 OUT=$ROOT/build/bench-forward.json DEVICE=cpu DTYPE=fp32
BUILD=${MAMBASCOPE_BUILD_DIR:-$ROOT/build}
PY=${MAMBASCOPE_PYTHON:-$HOME/.cache/mambascope/venv-torch-2.11.0/bin/python}
while [ $# -gt 0 ]; do
  case $1 in
    --preset) PRESET=$2; shift 2 ;; --seq-len) SEQ=$2; shift 2 ;; --batch) BATCH=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;; --device) DEVICE=$2; shift 2 ;; --dtype) DTYPE=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
CLI=$BUILD/bin/mambascope-cli
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$CLI" bench forward --preset "$PRESET" --device "$DEVICE" --dtype "$DTYPE" --batch "$BATCH" \
  --seq-len "$SEQ" --out "$tmp/ours.json" >&2
"$PY" "$ROOT/tests/bench/bench_hf_forward.py" --preset "$PRESET" --device "$DEVICE" --dtype "$DTYPE" \
  --batch "$BATCH" --seq-len "$SEQ" > "$tmp/hf.json"
# Cold start: first run after dropping nothing we can drop as non-root is "warm-ish"; report the
# median of 5 runs of `--version` (process start, dynamic linking, static initialisers).
cold() { local t=(); for i in 1 2 3 4 5; do s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); t+=("$(echo "$e - $s" | bc)"); done; printf '%s\n' "${t[@]}" | sort -n | sed -n 3p; }
cli_start=$(cold "$CLI" --version)
gui_start=null
if [ -x "$BUILD/bin/mambascope" ]; then gui_start=$(QT_QPA_PLATFORM=offscreen cold "$BUILD/bin/mambascope" --version); fi
"$PY" - "$tmp/ours.json" "$tmp/hf.json" "$cli_start" "$gui_start" "$OUT" <<'PYEOF'
import json, sys
ours, hf = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rep = {"mambascope": ours, "hf_transformers": hf,
       "speedup": ours["tokens_per_s"] / hf["tokens_per_s"],
       "cold_start_s": {"mambascope-cli --version": float(sys.argv[3]),
                        "mambascope --version": None if sys.argv[4] == "null" else float(sys.argv[4])}}
json.dump(rep, open(sys.argv[5], "w"), indent=2)
print(json.dumps({"preset": ours["preset"], "ours_tok_s": round(ours["tokens_per_s"]),
                  "hf_tok_s": round(hf["tokens_per_s"]), "speedup": round(rep["speedup"], 2),
                  "cold_start_s": rep["cold_start_s"]}))
PYEOF
