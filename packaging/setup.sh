#!/usr/bin/env bash
# Installs what MambaScope needs, then configures and builds into build/. Idempotent: a second run
# installs nothing and rebuilds only what changed.
#
#   packaging/setup.sh            install + build (build/)
#   packaging/setup.sh --test     install + build the whole project with AddressSanitizer and
#                                 UndefinedBehaviorSanitizer (build-test/), run the whole test suite
#                                 there, then a short run of every libFuzzer harness (clang,
#                                 build-fuzz/): what CI runs
#   packaging/setup.sh --test --no-sanitizers
#                                 the same suite on the plain build (build/), without the fuzzing
#   packaging/setup.sh --no-gui   build only mambascope-cli (no Qt), as on the GPU host
#   packaging/setup.sh --fuzz     only the libFuzzer stage of --test
#
# What comes from where (README.md has the table of why):
#   Debian packages  Qt 6, Dear ImGui, stb, utf8proc, nlohmann-json, CLI11, Xvfb, Mesa, ccache, fonts
#   PyPI             one pinned torch wheel (its LibTorch: headers, libs, share/cmake) plus the
#                    reference packages the tests compare against (transformers, tokenizers,
#                    safetensors, gguf, numpy), in a virtual environment OUTSIDE the clone, keyed
#                    by the torch version, so fresh clones (CI) reuse it
#   the machine      the CUDA toolkit, when /usr/local/cuda or nvcc exists
#   R packages       Jane Austen's novels and Moby Dick, extracted into resources/texts/ (not
#                    committed): the demo model's training, calibration and held-out texts
#   (packaging)      help2man (man pages), desktop-file-utils and appstream (validators),
#                    debootstrap (the clean-root install test); README.md "Install"
set -euo pipefail

TORCH_VERSION=2.11.0
PY_PACKAGES=("torch==${TORCH_VERSION}" "transformers==5.17.0" "tokenizers==0.23.2"
             "safetensors==0.8.0" "gguf==0.19.0" "numpy==2.4.6")
DEB_PACKAGES=(build-essential cmake ninja-build pkg-config ccache git
              qt6-base-dev libqt6opengl6-dev libgl-dev libimgui-dev libstb-dev
              libutf8proc-dev nlohmann-json3-dev libcli11-dev
              xvfb xauth libgl1-mesa-dri fonts-dejavu-core python3 python3-venv
              r-base-core r-cran-janeaustenr r-cran-tokenizers
              clang libclang-rt-14-dev lld
              help2man desktop-file-utils appstream debootstrap)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MAMBASCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mambascope}
VENV=$CACHE/venv-torch-$TORCH_VERSION
BUILD=${MAMBASCOPE_BUILD_DIR:-$ROOT/build}
RUN_TESTS=0
SANITIZE=ON
FUZZ_ONLY=0
GUI=ON
for arg in "$@"; do
  case $arg in
    --test) RUN_TESTS=1 ;;
    --no-sanitizers) SANITIZE=OFF ;;
    --fuzz) FUZZ_ONLY=1 ;;
    --no-gui) GUI=OFF ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# Each step says how far into the run it starts (CI's budget is 25 minutes: the log shows where it goes).
say() { printf '\033[1m==> [%4ds] %s\033[0m\n' "$SECONDS" "$*" >&2; }

install_debian_packages() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all present"
    return
  fi
  say "Debian packages: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_python_venv() {
  # A marker holding the exact package list: a half-finished install is redone, a complete one
  # is left alone (the torch wheel and its CUDA libraries are several GB).
  local marker=$VENV/.mambascope-packages want
  want=$(printf '%s\n' "${PY_PACKAGES[@]}")
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then
    say "Python venv: $VENV up to date"
    return
  fi
  say "Python venv: installing ${PY_PACKAGES[*]} into $VENV (once; a few GB)"
  mkdir -p "$CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "${PY_PACKAGES[@]}"
  printf '%s' "$want" > "$marker"
}

# configure_and_build DIR [CMAKE_ARGS...]
configure_and_build() {
  local dir=$1 torch_cmake cuda_flag=OFF
  shift
  torch_cmake=$("$VENV/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
    cuda_flag=ON
  fi
  export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  # Paths relative to the clone and no working directory in the hash: a fresh clone elsewhere (CI)
  # and every build directory reuse the same cached objects (-g would otherwise key them by path).
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
  # Without time_macros (and pch_defines) ccache refuses every compilation that uses a precompiled
  # header ("could_not_use_precompiled_header"): core's and the CLI's LibTorch files, the slowest
  # ones, were rebuilt on every run. The ctime/mtime entries let it hash the .gch that the same
  # build has just written.
  export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
  # The build machines have 2 cores and a torch translation unit needs ~1.5 GB: two jobs at most.
  local jobs
  jobs=$(nproc)
  [ "$jobs" -gt 2 ] || jobs=2
  say "Configuring $dir (GUI $GUI, CUDA $cuda_flag${*:+, $*})"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$torch_cmake" -DMAMBASCOPE_GUI=$GUI -DMAMBASCOPE_CUDA=$cuda_flag \
    -DMAMBASCOPE_PYTHON="$VENV/bin/python" "$@" > "$CACHE/configure.log" 2>&1 \
    || { cat "$CACHE/configure.log" >&2; exit 1; }
  say "Building $dir (ccache in $CCACHE_DIR)"
  cmake --build "$dir" -j "$jobs"
}

# run_tests DIR: the whole CTest suite. In a sanitized build every report is fatal: ASan (leaks
# included, minus tests/fuzz/lsan.supp's libraries that we do not build) and UBSan abort the
# process, so the test that met it fails.
run_tests() {
  local dir=$1
  say "Running the test suite in $dir"
  # GL tests need an X server; Xvfb gives Mesa's llvmpipe (shared/BUILD-NOTES.md).
  local xvfb=()
  if [ "$GUI" = ON ] && [ -z "${DISPLAY:-}" ]; then
    xvfb=(xvfb-run -a -s "-screen 0 1600x1000x24")
  fi
  # QTEST_FUNCTION_TIMEOUT: Qt Test's own watchdog (5 min a test function by default) would stop
  # the slow export tests of a sanitized build on a loaded machine; CTest's TIMEOUT still applies.
  QTEST_FUNCTION_TIMEOUT=${QTEST_FUNCTION_TIMEOUT:-1800000} \
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/fuzz/lsan.supp:print_suppressions=0} \
    "${xvfb[@]}" ctest --test-dir "$dir" --output-on-failure -j 2
}

run_fuzz() {
  # Issue 9: every reader's libFuzzer harness (tests/fuzz), built by clang into build-fuzz/ (only
  # mambascope_io and the harnesses: the readers are torch-free), a short run each.
  local torch_cmake jobs fuzz=$ROOT/build-fuzz
  torch_cmake=$("$VENV/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  jobs=$(nproc)
  [ "$jobs" -gt 2 ] || jobs=2
  say "libFuzzer harnesses, a short run each ($fuzz)"
  cmake -S "$ROOT" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$torch_cmake" \
    -DMAMBASCOPE_GUI=OFF -DMAMBASCOPE_CUDA=OFF -DMAMBASCOPE_PYTHON="$VENV/bin/python" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DMAMBASCOPE_TESTS=OFF -DMAMBASCOPE_FUZZ=ON > "$CACHE/configure-fuzz.log" 2>&1 \
    || { cat "$CACHE/configure-fuzz.log" >&2; exit 1; }
  local harnesses
  harnesses=$(cd "$ROOT/tests/fuzz" && ls fuzz_*.cpp | sed 's/\.cpp$//')
  # shellcheck disable=SC2086
  cmake --build "$fuzz" -j "$jobs" --target $harnesses
  FUZZ_BUILD=$fuzz "$ROOT/tests/fuzz/run.sh" "${MAMBASCOPE_FUZZ_SECONDS:-5}"
}

install_debian_packages
install_python_venv
if [ "$FUZZ_ONLY" -eq 1 ]; then
  run_fuzz
  exit 0
fi
say "Texts: resources/texts/"
"$ROOT/resources/training/extract_texts.sh"
if [ "$RUN_TESTS" -eq 1 ] && [ "$SANITIZE" = ON ]; then
  # One build for the whole suite, with our code sanitized (LibTorch, Qt and Mesa are not).
  TEST_BUILD=${MAMBASCOPE_TEST_BUILD_DIR:-$ROOT/build-test}
  configure_and_build "$TEST_BUILD" -DMAMBASCOPE_SANITIZE=ON
  run_tests "$TEST_BUILD"
  run_fuzz
  say "Done: every test passed under ASan + UBSan ($TEST_BUILD), and every fuzz harness ran"
  exit 0
fi
configure_and_build "$BUILD"
if [ "$RUN_TESTS" -eq 1 ]; then run_tests "$BUILD"; fi
say "Done: $BUILD/bin/mambascope-cli$([ "$GUI" = ON ] && echo " and $BUILD/bin/mambascope")"
