#!/usr/bin/env bash
# check_debs.sh BUILD_DIR: checks the .deb packages in BUILD_DIR/packages without root.
#   - every package exists, carries the project version, and holds the files it must
#   - the desktop entry and AppStream metadata validate; the newest release there, CHANGELOG.md and
#     both programs' --version all say the project version
#   - dpkg-shlibdeps finds no Debian 12 library package the hand-written Depends lists leave out
#   - unpacked side by side into a scratch directory (a relocated install), mambascope-cli runs on
#     the demo model with the bundled LibTorch alone and gives the demo model's known continuation
# Exit 0 pass, 1 fail (each failure on one line), 77 skip (not asked for with
# MAMBASCOPE_TEST_PACKAGES=1, no packages built).
set -euo pipefail
BUILD=$(cd "${1:?usage: check_debs.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VERSION=$(sed -n 's/^project(MambaScope VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
ARCH=$(dpkg --print-architecture)
PKGS=$BUILD/packages
if [ "${MAMBASCOPE_TEST_PACKAGES:-0}" != 1 ]; then
  echo "SKIP: packaging tests are opt-in (minutes): MAMBASCOPE_TEST_PACKAGES=1 ctest -L packaging"
  exit 77
fi
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

deb() {  # the file of package $1 (architecture-independent ones end in _all)
  local f
  for f in "$PKGS/$1_${VERSION}_${ARCH}.deb" "$PKGS/$1_${VERSION}_all.deb"; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
}
if [ -z "$(deb mambascope-cli)" ]; then
  echo "SKIP: no packages in $PKGS (build them: cmake --build $BUILD --target package)"
  exit 77
fi

# --- Each package: there, versioned, with its files -------------------------------------------------
declare -A MUST=(
  [mambascope]="./usr/bin/mambascope ./usr/share/applications/io.github.mambascope.MambaScope.desktop
    ./usr/share/metainfo/io.github.mambascope.MambaScope.metainfo.xml
    ./usr/share/icons/hicolor/scalable/apps/io.github.mambascope.MambaScope.svg
    ./usr/share/icons/hicolor/16x16/apps/io.github.mambascope.MambaScope.png
    ./usr/share/icons/hicolor/48x48/apps/io.github.mambascope.MambaScope.png
    ./usr/share/icons/hicolor/256x256/apps/io.github.mambascope.MambaScope.png
    ./usr/share/icons/hicolor/512x512/apps/io.github.mambascope.MambaScope.png
    ./usr/share/man/man1/mambascope.1.gz ./usr/share/doc/mambascope/copyright"
  [mambascope-cli]="./usr/bin/mambascope-cli ./usr/share/man/man1/mambascope-cli.1.gz
    ./usr/share/doc/mambascope-cli/copyright"
  [mambascope-data]="./usr/share/mambascope/models/demo-mamba/config.json
    ./usr/share/mambascope/models/demo-mamba/model.safetensors ./usr/share/mambascope/models/demo-mamba/tokenizer.json
    ./usr/share/mambascope/models/demo-mamba2/model.safetensors
    ./usr/share/mambascope/texts/austen.txt ./usr/share/mambascope/texts/moby-dick.txt
    ./usr/share/doc/mambascope-data/copyright"
  [mambascope-libtorch]="./usr/lib/mambascope/torch/lib/libtorch_cpu.so ./usr/lib/mambascope/torch/lib/libc10.so
    ./usr/lib/mambascope/torch/lib/libgomp.so.1 ./usr/share/doc/mambascope-libtorch/copyright
    ./usr/share/doc/mambascope-libtorch/torch-LICENSE ./usr/share/doc/mambascope-libtorch/torch-NOTICE
    ./usr/share/doc/mambascope-libtorch/NVIDIA-License.txt"
)
for p in "${!MUST[@]}"; do
  f=$(deb "$p")
  if [ -z "$f" ]; then fail "package $p ${VERSION} missing in $PKGS"; continue; fi
  [ "$(dpkg-deb -f "$f" Version)" = "$VERSION" ] || fail "$p: Version $(dpkg-deb -f "$f" Version), project says $VERSION"
  listing=$(dpkg-deb -c "$f" | awk '{ print $6 }')
  for want in ${MUST[$p]}; do
    grep -qxF "$want" <<< "$listing" || fail "$p lacks $want"
  done
  ok "$p: $(du -k "$f" | cut -f1) KiB packed, $(dpkg-deb -f "$f" Installed-Size) KiB installed"
done
# Every file must be readable by every user (a 0600 file in the checkout once made the demo weights
# root-only), and only the two programs executable.
for p in "${!MUST[@]}"; do
  f=$(deb "$p")
  [ -n "$f" ] || continue
  bad=$(dpkg-deb -c "$f" | awk '$1 ~ /^-/ && substr($1, 8, 1) != "r" { print $6 }')
  [ -z "$bad" ] || fail "$p: not world-readable: $(head -3 <<< "$bad" | tr '\n' ' ')"
  exe=$(dpkg-deb -c "$f" | awk '$1 ~ /^-..x/ { print $6 }' | grep -v '^\./usr/bin/' || true)
  [ -z "$exe" ] || fail "$p: executable files outside /usr/bin: $(head -3 <<< "$exe" | tr '\n' ' ')"
done
# Nothing of the CUDA part may reach the CPU packages (that is what keeps them lean).
if dpkg-deb -c "$(deb mambascope-libtorch)" | grep -E 'libtorch_cuda|libcublas|libcudnn'; then
  fail "mambascope-libtorch carries CUDA libraries"
fi

# --- One version everywhere -------------------------------------------------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for p in mambascope mambascope-cli mambascope-data mambascope-libtorch; do dpkg-deb -x "$(deb "$p")" "$scratch"; done
[ "$("$scratch/usr/bin/mambascope-cli" --version)" = "mambascope-cli $VERSION" ] || fail "mambascope-cli --version: $("$scratch/usr/bin/mambascope-cli" --version)"
[ "$("$scratch/usr/bin/mambascope" --version)" = "mambascope $VERSION" ] || fail "mambascope --version: $("$scratch/usr/bin/mambascope" --version)"
meta=$scratch/usr/share/metainfo/io.github.mambascope.MambaScope.metainfo.xml
newest=$(grep -m1 -o '<release version="[^"]*"' "$meta" | cut -d'"' -f2)
[ "$newest" = "$VERSION" ] || fail "metainfo's newest release is $newest, project says $VERSION"
grep -q "^## \[$VERSION\]" "$SRC/CHANGELOG.md" || fail "CHANGELOG.md has no '## [$VERSION]' section"
ok "version $VERSION in CMakeLists, packages, --version, metainfo and CHANGELOG"

if command -v desktop-file-validate >/dev/null && command -v appstreamcli >/dev/null; then
  desktop-file-validate "$scratch/usr/share/applications/io.github.mambascope.MambaScope.desktop" | grep -v ': hint:' \
    && fail "desktop entry does not validate"
  appstreamcli validate --no-net "$meta" >/dev/null || fail "metainfo does not validate (appstreamcli validate --no-net)"
  ok "desktop entry and AppStream metadata validate"
else
  fail "desktop-file-validate or appstreamcli missing (packaging/setup.sh installs desktop-file-utils and appstream)"
fi

# --- Declared dependencies cover what the binaries link -----------------------------------------------
# dpkg-shlibdeps needs a debian/control to run; our private LibTorch directory is named with -l.
mkdir -p "$scratch/debian" && printf 'Source: mambascope\n\nPackage: mambascope\nArchitecture: any\n' > "$scratch/debian/control"
# Libraries of our own private directories have no Debian package: --ignore-missing-info lets
# them pass, while every system library still maps to the package that ships it.
declare -A ELF=([mambascope]="usr/bin/mambascope" [mambascope-cli]="usr/bin/mambascope-cli"
                [mambascope-libtorch]="$(cd "$scratch" && find usr/lib/mambascope -name '*.so*' -type f | tr '\n' ' ')")
for p in mambascope mambascope-cli mambascope-libtorch; do
  # shellcheck disable=SC2086  # a list of relative paths without spaces
  if ! shlibs=$(cd "$scratch" && dpkg-shlibdeps -O --ignore-missing-info -l"$scratch/usr/lib/mambascope/torch/lib" \
                  -l"$scratch/usr/lib/mambascope/nvidia/cu13/lib" ${ELF[$p]} 2>&1); then
    fail "dpkg-shlibdeps on $p: $(head -1 <<< "$shlibs")"
    continue
  fi
  needed=$(sed -n 's/^shlibs:Depends=//p' <<< "$shlibs" | tr ',' '\n' | sed 's/(.*//; s/ //g' | grep -v '^$' || true)
  # The package names in Depends, alternatives included, one a line.
  declared=$(dpkg-deb -f "$(deb "$p")" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g')
  for n in $needed; do
    # libgomp.so.1 is bundled (the wheel's own); dpkg-shlibdeps names the system's copy's package.
    [ "$p" = mambascope-libtorch ] && [ "$n" = libgomp1 ] && continue
    grep -qxF "$n" <<< "$declared" || fail "$p links a library of $n, which Depends does not name"
  done
  echo "   $p links: $(echo $needed)"
  ok "$p: Depends covers $(echo $needed | wc -w) packages dpkg-shlibdeps finds"
done

# --- The relocated install runs on its own LibTorch ------------------------------------------------
cli=$scratch/usr/bin/mambascope-cli
missing=$(ldd "$cli" | grep 'not found' || true)
[ -z "$missing" ] || fail "mambascope-cli: unresolved libraries: $missing"
torch=$(ldd "$cli" | awk '$1 == "libtorch_cpu.so" { print $3 }')
[[ "$torch" == "$scratch/"* ]] || fail "mambascope-cli loads libtorch_cpu.so from '$torch', not from its package"
info=$("$cli" info "$scratch/usr/share/mambascope/models/demo-mamba" 2>&1) || fail "mambascope-cli info failed: $info"
grep -qE '^parameters +3\.7 M \(3676928\)$' <<< "$info" || fail "info on the demo model: $(grep parameters <<< "$info")"
# The greedy continuation README.md quotes (the training run's); whitespace folded.
got=$("$cli" generate "$scratch/usr/share/mambascope/models/demo-mamba" --prompt "It is a truth universally acknowledged" -n 40 2>&1 |
     tr -s ' \n' ' ' | sed 's/ $//' || true)
want=". I have been a great deal of good, and I am sure I shall not be able to begin a subject in the world. I have not been in the habit of"
[ "$got" = "$want" ] || fail "generate on the demo model: '$got'"
ok "relocated mambascope-cli: libtorch_cpu from the package, info and generate on the demo model as expected"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all package checks passed"
