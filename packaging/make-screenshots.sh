#!/usr/bin/env bash
# Regenerates the pictures of README.md and the user guide: headless screenshots of every view
# `mambascope --help` lists, into resources/screenshots/ (commit them afterwards).
#
#   packaging/make-screenshots.sh [BUILD_DIR]     (default: build/, as packaging/setup.sh makes it)
#   packaging/make-screenshots.sh --list [BUILD_DIR]   only print "VIEW FILE" per picture (for tests)
#
# Each picture has a recipe below (the ones README.md describes: its numbers come from these
# pictures); a view without one gets <view>.png of the demo Mamba-1. The statistics views
# calibrate in the app on its default text and budget, except the channel-maxima picture, which
# README.md describes at 50,000 tokens: one mambascope-cli run feeds it. Without a display, Xvfb
# is used (packages xvfb, xauth).
set -euo pipefail
LIST=0
if [ "${1:-}" = --list ]; then LIST=1; shift; fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
APP=$BUILD/bin/mambascope
CLI=$BUILD/bin/mambascope-cli
TEXT=$ROOT/resources/texts/austen.txt
OUT=$ROOT/resources/screenshots
SIZE=1400x900
[ -x "$APP" ] || { echo "make-screenshots.sh: $APP not built (cmake --build $BUILD)" >&2; exit 1; }

# The views, from the application's own help line "--view <name> ... : a, b, c (default: ...)".
views=$("$APP" --help | tr '\n' ' ' | sed -n 's/.*--view <name> *[^:]*: \([a-z0-9, -]*\) (default.*/\1/p' | tr -d ' ' | tr ',' ' ')
[ -n "$views" ] || { echo "make-screenshots.sh: cannot read the view names from mambascope --help" >&2; exit 1; }

# Recipes: FILE|MODEL|VIEW|EXTRA ARGUMENTS ("@STATS" stands for the 50,000-token statistics file).
RECIPES=(
  "demo-mamba-structure.png|demo-mamba|structure|"
  "channel-maxima.png|demo-mamba|channel-maxima|--stats @STATS --layer 3"
  "state-heatmap.png|demo-mamba|state-heatmap|"
  "state-heatmap-mamba2.png|demo-mamba2|state-heatmap|"
  "distributions.png|demo-mamba|distributions|"
  "distributions-hadamard.png|demo-mamba|distributions|--method hadamard"
  "distributions-klt.png|demo-mamba|distributions|--method klt"
  "error-view.png|demo-mamba|error|"
)
# Pictures beyond one per view (not in --list, so not bound to the guide's per-view check): the
# teaching tour's steps 2 (outlier) and 6 (Hadamard's before/after) in presentation mode, at a
# projector's size.
EXTRA=(
  "teaching-tour.png|demo-mamba|channel-maxima|--tour 2 --presentation --size 1920x1080"
  "teaching-tour-hadamard.png|demo-mamba|distributions|--tour 6 --presentation --size 1920x1080"
)
pictures=()   # the recipes of the views the application lists, plus a default for views without one
for v in $views; do
  found=0
  for r in "${RECIPES[@]}"; do
    IFS='|' read -r file model view extra <<< "$r"
    [ "$view" = "$v" ] && { pictures+=("$r"); found=1; }
  done
  [ "$found" -eq 1 ] || pictures+=("$v.png|demo-mamba|$v|")
done
if [ "$LIST" -eq 1 ]; then
  for r in "${pictures[@]}"; do IFS='|' read -r file model view extra <<< "$r"; echo "$view $file"; done
  exit 0
fi
[ -x "$CLI" ] || { echo "make-screenshots.sh: $CLI not built (cmake --build $BUILD)" >&2; exit 1; }
[ -f "$TEXT" ] || { echo "make-screenshots.sh: $TEXT missing (resources/training/extract_texts.sh)" >&2; exit 1; }

xvfb=()
[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || xvfb=(xvfb-run -a -s "-screen 0 1600x1000x24")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stats=$tmp/demo-stats.safetensors
if printf '%s\n' "${pictures[@]}" | grep -q '@STATS'; then
  echo "calibrating the demo model on 50,000 tokens of $TEXT ..."
  "$CLI" calibrate "$ROOT/resources/models/demo-mamba" --file "$TEXT" --out "$stats" --max-tokens 50000 \
    --seq-len 512 --batch 4 --device cpu >/dev/null
fi

mkdir -p "$OUT"
for r in "${pictures[@]}" "${EXTRA[@]}"; do
  IFS='|' read -r file model view extra <<< "$r"
  # shellcheck disable=SC2086  # the extra arguments are words without spaces
  args=(--view "$view" --size "$SIZE" ${extra//@STATS/$stats})
  # Written beside the target first: a failed picture leaves the previous one in place.
  "${xvfb[@]}" "$APP" "$ROOT/resources/models/$model" "${args[@]}" --screenshot "$tmp/$file"
  mv "$tmp/$file" "$OUT/$file"
  echo "$view ($model) -> resources/screenshots/$file"
done
