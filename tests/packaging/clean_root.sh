#!/usr/bin/env bash
# clean_root.sh BUILD_DIR: installs the CPU .deb packages into a fresh Debian 12 root (debootstrap
# --variant=minbase) with apt, as a user would, then
#   - runs mambascope-cli info and generate on the installed demo model, and both --version
#   - has the application open the installed demo model by itself (no argument) in a headless
#     screenshot under Xvfb, which shows that it finds /usr/share/mambascope and that its
#     dependencies draw a window
#   - purges the packages and checks that exactly their files went, and nothing else changed
# Needs root (chroot) and debootstrap, and the Debian mirror for apt. The pristine root is cached
# as a tarball (MAMBASCOPE_CLEAN_ROOT_CACHE, default ~/.cache/mambascope/clean-root-bookworm.tar);
# each run unpacks a fresh copy. Exit 0 pass, 1 fail, 77 skip (no root, no debootstrap, no packages).
set -euo pipefail
BUILD=$(cd "${1:?usage: clean_root.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VERSION=$(sed -n 's/^project(MambaScope VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
MIRROR=${MAMBASCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${MAMBASCOPE_CLEAN_ROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mambascope/clean-root-bookworm.tar}

if [ "${MAMBASCOPE_TEST_PACKAGES:-0}" != 1 ]; then
  echo "SKIP: packaging tests are opt-in (minutes): MAMBASCOPE_TEST_PACKAGES=1 ctest -L packaging"
  exit 77
fi
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (chroot, mount); run as root or with sudo"; exit 77; }
command -v debootstrap >/dev/null || [ -f "$CACHE" ] ||
  { echo "SKIP: debootstrap not installed (apt-get install debootstrap)"; exit 77; }
debs=()
for p in mambascope mambascope-cli mambascope-libtorch; do debs+=("$BUILD/packages/${p}_${VERSION}_$(dpkg --print-architecture).deb"); done
debs+=("$BUILD/packages/mambascope-data_${VERSION}_all.deb")
for d in "${debs[@]}"; do
  [ -f "$d" ] || { echo "SKIP: $d missing (build the packages: cmake --build $BUILD --target package)"; exit 77; }
done

t0=$(date +%s)
step() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
work=$(mktemp -d /var/tmp/mambascope-clean-root.XXXXXX)
root=$work/root
# Unmount before deleting, and never delete through a mount point still in place.
cleanup() {
  for m in "$root/dev/shm" "$root/proc"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  if mountpoint -q "$root/proc" 2>/dev/null || mountpoint -q "$root/dev/shm" 2>/dev/null; then
    echo "clean_root.sh: $root still has mounts; left in place" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

if [ ! -f "$CACHE" ]; then
  step "debootstrap bookworm (minbase) from $MIRROR; cached as $CACHE"
  mkdir -p "$(dirname "$CACHE")"
  debootstrap --variant=minbase bookworm "$work/base" "$MIRROR" > "$work/debootstrap.log" 2>&1 ||
    { tail -5 "$work/debootstrap.log"; echo "FAIL: debootstrap failed"; exit 1; }
  tar -C "$work/base" -cf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
  rm -rf "$work/base"
fi
step "unpacking a fresh root from $CACHE"
mkdir "$root"
tar -C "$root" -xf "$CACHE"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t tmpfs shm "$root/dev/shm"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

step "apt-get update"
in_root apt-get update -qq
# Before: every file outside apt's and dpkg's own state, to compare with after the purge.
snapshot() { in_root find /usr /etc /opt /srv -xdev \( -type f -o -type l \) | sort; }
mkdir "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
step "apt-get install ${debs[*]##*/} (+ xvfb for the screenshot)"
# Xvfb and Mesa come first, so that the snapshot taken after them is the state without MambaScope.
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  xvfb xauth libgl1-mesa-dri > "$work/apt-xvfb.log" 2>&1 || { tail -5 "$work/apt-xvfb.log"; fail "installing xvfb"; }
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  $(for d in "${debs[@]}"; do echo "/tmp/debs/${d##*/}"; done) > "$work/apt.log" 2>&1 ||
  { tail -20 "$work/apt.log"; echo "FAIL: apt-get install of the packages failed"; exit 1; }
step "installed; $(in_root dpkg-query -W -f '${Installed-Size}\n' mambascope mambascope-cli mambascope-data mambascope-libtorch |
                   awk '{ s += $1 } END { printf "%.0f MiB", s / 1024 }') of MambaScope"

# --- It runs ---------------------------------------------------------------------------------------
[ "$(in_root mambascope-cli --version)" = "mambascope-cli $VERSION" ] || fail "mambascope-cli --version"
[ "$(in_root mambascope --version)" = "mambascope $VERSION" ] || fail "mambascope --version"
# As an unprivileged user (nobody), as people run it: every installed file must be readable.
info=$(chroot --userspec=65534:65534 "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
       mambascope-cli info /usr/share/mambascope/models/demo-mamba 2>&1) || fail "info as nobody: $info"
echo "$info"
grep -qE '^parameters +3\.7 M \(3676928\)$' <<< "$info" || fail "info: parameters line differs"
grep -qE '^architecture +mamba$' <<< "$info" || fail "info: architecture line differs"
got=$(in_root mambascope-cli generate /usr/share/mambascope/models/demo-mamba --prompt "It is a truth universally acknowledged" \
      -n 40 2>&1 | tr -s ' \n' ' ' | sed 's/ $//' || true)
want=". I have been a great deal of good, and I am sure I shall not be able to begin a subject in the world. I have not been in the habit of"
[ "$got" = "$want" ] || fail "generate: '$got'"
for b in mambascope mambascope-cli; do
  in_root ldd "/usr/bin/$b" | grep 'not found' && fail "$b: unresolved libraries"
done
in_root man -w mambascope-cli >/dev/null 2>&1 || [ -f "$root/usr/share/man/man1/mambascope-cli.1.gz" ] || fail "no man page"
in_root xvfb-run -a -s "-screen 0 1600x1000x24" mambascope --screenshot /tmp/demo.png --size 1400x900 > "$work/shot.log" 2>&1 ||
  { cat "$work/shot.log"; fail "mambascope --screenshot (the installed demo model) failed"; }
if [ -s "$root/tmp/demo.png" ] && [ "$(head -c 8 "$root/tmp/demo.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then
  step "screenshot of the installed demo model: $(stat -c %s "$root/tmp/demo.png") bytes"
  cp "$root/tmp/demo.png" "$BUILD/clean-root-screenshot.png"
else
  fail "no PNG from mambascope --screenshot"
fi

# --- It goes away cleanly --------------------------------------------------------------------------
# The "before" state is the one with MambaScope installed minus exactly its own files.
before=$(snapshot)
ours=$(in_root dpkg-query -L mambascope mambascope-cli mambascope-data mambascope-libtorch | sort -u)
step "apt-get purge"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq mambascope mambascope-cli mambascope-data \
  mambascope-libtorch > "$work/purge.log" 2>&1 || { tail -5 "$work/purge.log"; fail "apt-get purge failed"; }
after=$(snapshot)
gone=$(comm -23 <(echo "$before") <(echo "$after"))
came=$(comm -13 <(echo "$before") <(echo "$after"))
ours_files=$(comm -12 <(echo "$ours") <(echo "$before"))
[ -z "$came" ] || fail "files appeared on purge: $(head -3 <<< "$came")"
[ "$gone" = "$ours_files" ] || fail "purge removed other files than the packages': $(diff <(echo "$gone") <(echo "$ours_files") | head -5)"
for d in /usr/lib/mambascope /usr/share/mambascope /usr/share/doc/mambascope; do
  [ ! -e "$root$d" ] || fail "$d left behind"
done
in_root dpkg -l | grep -q mambascope && fail "dpkg still lists a mambascope package"
step "purged: $(wc -l <<< "$ours_files") files removed, nothing else touched"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
step "clean-root install, run and purge passed"
