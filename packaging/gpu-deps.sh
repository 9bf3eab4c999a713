#!/usr/bin/env bash
# The GPU host has no package registry (shared/BUILD-NOTES.md): download the few Debian packages
# that core/ needs beyond LibTorch here, unpack them into .deps/root (ignored by git), and carry that
# folder to the GPU host. cmake/MambaScopeDeps.cmake looks there first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/.deps
mkdir -p "$DEST/debs" "$DEST/root"
cd "$DEST/debs"
apt-get download nlohmann-json3-dev libcli11-dev libutf8proc-dev libutf8proc2 >/dev/null
for f in *.deb; do dpkg -x "$f" "$DEST/root"; done
# The -dev package's .so symlink points at the runtime library unpacked beside it.
echo "unpacked into $DEST/root:"; ls "$DEST/root/usr/lib/x86_64-linux-gnu" | head
