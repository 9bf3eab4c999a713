#!/usr/bin/env bash
# Issue 6's app goals, measured (never asserted): cold start to first frame (≤ 1.5 s) and frames
# per second while dragging (60) on the demo Mamba-1, under Xvfb. Writes
# resources/reports/app-frames.json (or $OUT).
#
#   tests/bench/app_frames.sh BUILD_DIR       # BUILD_DIR/bin/mambascope, GUI build
#
# Cold start: `mambascope --frame-stats F --quit-after-frames 1` five times (median), from the
# kernel's process start (dynamic loading included) to the first presented frame and to the first
# frame showing the model; the first run's page-cache state (fincore over the app and the shared
# libraries it loads) is recorded, not forced. Drag: `--demo-drag 5` (the Error view, the
# Quantization dock's W slider moved a step every 16 ms while mambascope-cli requant-serve answers;
# see app/demo_drag.h). Needs mambascope-cli beside the app or in $MAMBASCOPE_CLI, xvfb-run, python3.
set -euo pipefail
BUILD=${1:?usage: app_frames.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
APP=$BUILD/bin/mambascope
OUT=${OUT:-$ROOT/resources/reports/app-frames.json}
RUNS=${RUNS:-5}
DRAG_SECONDS=${DRAG_SECONDS:-5}
[ -x "$APP" ] || { echo "app_frames.sh: $APP: not built (target mambascope)" >&2; exit 1; }
CLI=${MAMBASCOPE_CLI:-$BUILD/bin/mambascope-cli}
[ -x "$CLI" ] || { echo "app_frames.sh: $CLI: no mambascope-cli for the drag (build it, or set MAMBASCOPE_CLI)" >&2; exit 1; }
export MAMBASCOPE_CLI=$CLI

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Fresh settings for every run (default window 1400x900, no saved layout); the user's stay untouched.
export XDG_CONFIG_HOME=$WORK/config XDG_RUNTIME_DIR=$WORK/runtime
mkdir -p "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset QT_QPA_PLATFORM  # xcb under Xvfb: offscreen has no OpenGL windows
run_app() { xvfb-run -a -s "-screen 0 1600x1000x24" "$APP" "$@"; }

# The page cache before the first run: which share of the app's and its libraries' pages are resident.
ldd "$APP" | awk '/=> \//{print $3}' > "$WORK/files"
echo "$APP" >> "$WORK/files"
fincore --bytes --noheadings --output RES,SIZE $(cat "$WORK/files") > "$WORK/fincore" 2>/dev/null || true
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

for i in $(seq 1 "$RUNS"); do
  run_app --frame-stats "$WORK/cold-$i.json" --quit-after-frames 1 2>"$WORK/cold-$i.err" \
    || { cat "$WORK/cold-$i.err" >&2; exit 1; }
done
run_app --frame-stats "$WORK/drag.json" --demo-drag "$DRAG_SECONDS" 2>"$WORK/drag.err" \
  || { cat "$WORK/drag.err" >&2; exit 1; }
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK" "$RUNS" "$OUT" "$LOAD_BEFORE" "$LOAD_AFTER" <<'PY'
import json, os, platform, statistics, sys
work, runs, out, load_before, load_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

def p95(values):  # nearest rank
    values = sorted(values)
    return values[max(0, -(-95 * len(values) // 100) - 1)]

def med(values):
    return round(statistics.median(values), 3)

cold = [json.load(open(f"{work}/cold-{i}.json")) for i in range(1, runs + 1)]
keys = ["process_start_to_first_frame_ms", "process_start_to_first_model_frame_ms", "process_start_to_main_ms",
        "main_to_first_frame_ms", "main_to_first_model_frame_ms"]
resident = size = 0
for line in open(f"{work}/fincore"):
    r, s = line.split()
    resident, size = resident + int(r), size + int(s)

drag_run = json.load(open(f"{work}/drag.json"))
drag = drag_run["drag"]
frames = [f for f in drag_run["frames"]
          if "interval_ms" in f and drag["start_ms"] <= f["presented_ms"] - f["interval_ms"] and f["presented_ms"] <= drag["end_ms"]]
intervals = [f["interval_ms"] for f in frames]
parts = ["build_ms", "build_cpu_ms", "submit_ms", "submit_cpu_ms", "paint_end_to_presented_ms",
         "paint_end_to_presented_cpu_ms", "process_cpu_ms"]
model = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip()
        break
report = {
    "what": "mambascope on the demo Mamba-1 under Xvfb (tests/bench/app_frames.sh)",
    "machine": {"cpus": os.cpu_count(), "cpu": model, "load_average_before": load_before,
                "load_average_after": load_after, "kernel": platform.release()},
    "gl_renderer": drag_run.get("gl_renderer"), "gl_version": drag_run.get("gl_version"),
    "qt_platform": drag_run.get("qt_platform"),
    "cold_start": {
        "runs": runs,
        "first_run_page_cache": {"files": sum(1 for _ in open(f"{work}/files")), "resident_bytes": resident,
                                 "total_bytes": size,
                                 "resident_share": round(resident / size, 3) if size else None},
        **{f"median_{k}": med([c[k] for c in cold if k in c]) for k in keys},
        "per_run": [{k: c.get(k) for k in keys} for c in cold],
    },
    "drag": {
        **drag,
        "frames": len(frames),
        "median_interval_ms": med(intervals),
        "p95_interval_ms": p95(intervals),
        "fps_from_median_interval": round(1000 / statistics.median(intervals), 1),
        "fps_over_drag": round(len(frames) / ((drag["end_ms"] - drag["start_ms"]) / 1000), 1),
        **{f"median_{k}": med([f[k] for f in frames]) for k in parts},
        **{f"p95_{k}": p95([f[k] for f in frames]) for k in parts},
    },
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
os.replace(tmp, out)
c, d = report["cold_start"], report["drag"]
print(f"renderer: {report['gl_renderer']} ({report['gl_version']}), {report['machine']['cpus']} CPUs, load {load_before}")
print(f"cold start (median of {runs}): process start -> first frame {c['median_process_start_to_first_frame_ms']} ms, "
      f"-> model shown {c['median_process_start_to_first_model_frame_ms']} ms (before main {c['median_process_start_to_main_ms']} ms); "
      f"first run: {c['first_run_page_cache']['resident_share']} of the app's files in the page cache")
print(f"drag {d['end_ms'] - d['start_ms']:.0f} ms: {d['frames']} frames, interval median {d['median_interval_ms']} ms, "
      f"p95 {d['p95_interval_ms']} ms ({d['fps_from_median_interval']} fps); per frame: views {d['median_build_cpu_ms']} ms CPU, "
      f"GL submit {d['median_submit_ms']} ms, paint end -> presented {d['median_paint_end_to_presented_ms']} ms "
      f"({d['median_paint_end_to_presented_cpu_ms']} ms of it GUI-thread CPU), "
      f"process CPU {d['median_process_cpu_ms']} ms; {d['slider_steps']} slider steps, {d['results_during_drag']} results")
print(f"wrote {out}")
PY
