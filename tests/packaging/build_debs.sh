#!/usr/bin/env bash
# build_debs.sh BUILD_DIR [CPACK]: the CTest fixture that builds the .deb packages with CPack (what
# `cmake --build BUILD --target package` does, without rebuilding: the tests run after the build).
# Opt-in: CPack compresses 360 MB of LibTorch, minutes on 2 cores, and the clean-root test after it
# takes minutes more, which CI's budget does not have; MAMBASCOPE_TEST_PACKAGES=1 turns all three
# packaging tests on. Exit 0 built, 1 failed, 77 skipped.
set -euo pipefail
BUILD=$(cd "${1:?usage: build_debs.sh BUILD_DIR [CPACK]}" && pwd)
CPACK=${2:-cpack}
if [ "${MAMBASCOPE_TEST_PACKAGES:-0}" != 1 ]; then
  echo "SKIP: packaging tests are opt-in (minutes): MAMBASCOPE_TEST_PACKAGES=1 ctest --test-dir $BUILD -L packaging"
  exit 77
fi
start=$(date +%s)
(cd "$BUILD" && "$CPACK" -G DEB --config CPackConfig.cmake)
echo "packages built in $(( $(date +%s) - start )) s:"
ls -l "$BUILD"/packages/*.deb
