#!/usr/bin/env bash
# check_guide.sh BUILD_DIR: the user guide shows every view the built application offers.
#   - for every view `mambascope --help` lists, the picture packaging/make-screenshots.sh makes of it
#     exists, is a 1400x900 PNG (the script's size) and docs/USER-GUIDE.md shows it
#   - every picture the guide shows exists
# Exit 0 pass, 1 fail. A view added to the application without a picture in the guide fails here:
# run packaging/make-screenshots.sh and add the picture to the guide.
set -euo pipefail
BUILD=$(cd "${1:?usage: check_guide.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GUIDE=$SRC/docs/USER-GUIDE.md
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

png_size() {  # WIDTHxHEIGHT from the IHDR chunk (bytes 16..23, big-endian)
  local hex
  hex=$(od -An -tx1 -j16 -N8 "$1" | tr -d ' \n')
  echo "$((16#${hex:0:8}))x$((16#${hex:8:8}))"
}

pairs=$("$SRC/packaging/make-screenshots.sh" --list "$BUILD")
[ -n "$pairs" ] || { echo "FAIL: no views listed"; exit 1; }
while read -r view file; do
  pic=$SRC/resources/screenshots/$file
  if [ ! -f "$pic" ]; then fail "view $view: resources/screenshots/$file missing (packaging/make-screenshots.sh)"; continue; fi
  [ "$(head -c 8 "$pic" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || { fail "$file is not a PNG"; continue; }
  [ "$(png_size "$pic")" = 1400x900 ] || fail "$file is $(png_size "$pic"), make-screenshots.sh makes 1400x900"
  grep -qF "](../resources/screenshots/$file)" "$GUIDE" || fail "view $view: docs/USER-GUIDE.md does not show $file"
  echo "ok: $view -> $file"
done <<< "$pairs"
for ref in $(grep -o '](../resources/screenshots/[^)]*)' "$GUIDE" | sed 's/^](..\///; s/)$//'); do
  [ -f "$SRC/$ref" ] || fail "docs/USER-GUIDE.md shows $ref, which does not exist"
done
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "the guide shows all $(wc -l <<< "$pairs") pictures of the $(cut -d" " -f1 <<< "$pairs" | sort -u | wc -l) views"
