#!/usr/bin/env bash
# Renders resources/icons/mambascope.svg into the PNG sizes desktops ask for (hicolor theme), so
# the build and the package need no SVG renderer. Run after editing the SVG; commit the PNGs.
# Needs rsvg-convert (Debian: librsvg2-bin).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ICONS=$ROOT/resources/icons
command -v rsvg-convert >/dev/null || { echo "make-icons.sh: rsvg-convert not found (apt-get install librsvg2-bin)" >&2; exit 1; }
for size in 16 24 32 48 64 128 256 512; do
  rsvg-convert -w "$size" -h "$size" "$ICONS/mambascope.svg" -o "$ICONS/mambascope-$size.png"
done
echo "make-icons.sh: wrote $(ls "$ICONS"/mambascope-*.png | wc -l) PNGs into $ICONS"
