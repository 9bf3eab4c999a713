# Reliability builds (issue 9). Both are off by default and meant for their own build directories
# (packaging/setup.sh --test builds build-test with the first and build-fuzz with the second):
#
#   MAMBASCOPE_SANITIZE  every C/C++ target built with AddressSanitizer + UndefinedBehaviorSanitizer
#                        (gcc or clang). UB aborts instead of printing and carrying on, so a test
#                        that hits it fails. LibTorch itself is not instrumented: the sanitized
#                        suite proves our code, not torch's.
#   MAMBASCOPE_FUZZ      the libFuzzer harnesses of tests/fuzz (clang only), with ASan + UBSan and
#                        -fsanitize=fuzzer-no-link on every library so coverage reaches the readers.
#
# Run sanitized binaries with the options in tests/fuzz/run.sh (ASAN_OPTIONS/UBSAN_OPTIONS) or the
# defaults; leaks are reported at exit.
option(MAMBASCOPE_SANITIZE "Build with AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
option(MAMBASCOPE_FUZZ "Build the libFuzzer harnesses in tests/fuzz (needs clang)" OFF)

if(MAMBASCOPE_SANITIZE OR MAMBASCOPE_FUZZ)
  # -fno-sanitize=vptr: the vptr check needs the RTTI of every polymorphic type it meets, and
  # LibTorch's c10 types seen through our headers trip it falsely in a sanitized-ours,
  # plain-torch build. -fno-sanitize-recover makes every UBSan report fatal.
  set(_ms_san -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all
              -fno-omit-frame-pointer)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_ms_san}>")
  add_link_options(-fsanitize=address,undefined)
endif()

if(MAMBASCOPE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MAMBASCOPE_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  # Coverage instrumentation for every library; only the harnesses link the fuzzer's main().
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>")
endif()
