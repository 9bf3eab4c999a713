#!/usr/bin/env bash
# Runs every libFuzzer harness of tests/fuzz, one after another (they are single-threaded; on the
# 2-core CI machines one at a time leaves a core for the rest).
#
#   tests/fuzz/run.sh [SECONDS]        each harness for SECONDS (default 10), after replaying the
#                                      committed regression inputs (tests/fixtures/fuzz/<harness>/)
#   FUZZ_RUNS=1000000 tests/fuzz/run.sh  each harness for that many executions instead
#   FUZZ_ONLY="fuzz_zip fuzz_npy" ...    a subset; FUZZ_ARTIFACTS=DIR for logs and crashes
#   FUZZ_BUILD=DIR                     the build directory (default build-fuzz; configure it with
#                                      -DMAMBASCOPE_FUZZ=ON and clang, see packaging/setup.sh)
#
# Corpora grow in $FUZZ_BUILD/fuzz-corpus/<harness>/ (seeded by make_seeds.py from the fixtures);
# crashing inputs land in $FUZZ_BUILD/fuzz-artifacts/. Prints one line per harness with its
# execution count and exits 1 if any harness crashed; a crash becomes a regression input by
# copying it into tests/fixtures/fuzz/<harness>/ (and a test in tests/io/tst_hostile_inputs.cpp).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
SECONDS_EACH=${1:-10}
CORPUS=$BUILD/fuzz-corpus
ARTIFACTS=${FUZZ_ARTIFACTS:-$BUILD/fuzz-artifacts}
mkdir -p "$CORPUS" "$ARTIFACTS"

# Leaks are findings too; UB aborts (the build sets -fno-sanitize-recover). Harnesses write to
# /dev/shm, and a killed one leaves its scratch directory: remove those whose process is gone.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for d in /dev/shm/mambascope-fuzz-*; do
  [ -d "$d" ] || continue
  kill -0 "${d##*-}" 2>/dev/null || rm -rf "$d"
done

python3 "$ROOT/tests/fuzz/make_seeds.py" "$CORPUS" > /dev/null || exit 1

harnesses=${FUZZ_ONLY:-$(cd "$BUILD/bin" && ls fuzz_* 2>/dev/null | tr '\n' ' ')}
[ -n "$harnesses" ] || { echo "run.sh: no fuzz_* harnesses in $BUILD/bin (build them first)" >&2; exit 1; }

failed=0
printf '%-24s %12s %8s %s\n' harness executions seconds result
for h in $harnesses; do
  bin=$BUILD/bin/$h
  regress=$ROOT/tests/fixtures/fuzz/$h
  if [ -d "$regress" ]; then
    if ! "$bin" -runs=0 "$regress" > "$ARTIFACTS/$h.regressions.log" 2>&1; then
      printf '%-24s %12s %8s %s\n' "$h" - - "REGRESSION FAILED (see $ARTIFACTS/$h.regressions.log)"
      failed=1
      continue
    fi
  fi
  if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$SECONDS_EACH"); fi
  extra=()
  # Small tokenizer files keep this harness fast (make_seeds.py cuts the fixtures down).
  [ "$h" = fuzz_tokenizer_json ] && extra=(-max_len=8192)
  dict=()
  [ -f "$ROOT/tests/fuzz/$h.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$h.dict")
  start=$(date +%s.%N)
  nice "$bin" "${limit[@]}" "${dict[@]}" "${extra[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/$h-" "$CORPUS/$h" > "$ARTIFACTS/$h.log" 2>&1
  rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$ARTIFACTS/$h.log" | tail -1)
  if [ $rc -eq 0 ]; then result=ok; else result="CRASH (rc $rc, see $ARTIFACTS/$h.log)"; failed=1; fi
  printf '%-24s %12s %8.1f %s\n' "$h" "${execs:-?}" "$secs" "$result"
done
exit $failed
