// Where the tests find the source tree, its fixtures, the built mambascope-cli and the reference
// Python (MAMBASCOPE_PYTHON: "" when not configured). Every test sees this header first (a
// -include in tests/CMakeLists.txt).
//
// Functions, not string definitions on the command line: a path in every test's compile flags
// made ccache miss all ~80 test files (and their moc files) in a clone at another path, which CI
// makes afresh, about 10 of its minutes. CMake writes the values into one generated file,
// BUILD/tests/test_paths.cpp, the only test file a new path recompiles.
#pragma once

namespace ms_test_paths {
const char* source_dir();
const char* fixtures_dir();
const char* cli();
const char* python();
}  // namespace ms_test_paths

#define MAMBASCOPE_SOURCE_DIR ::ms_test_paths::source_dir()
#define MAMBASCOPE_FIXTURES ::ms_test_paths::fixtures_dir()
#define MAMBASCOPE_CLI ::ms_test_paths::cli()
#define MAMBASCOPE_PYTHON ::ms_test_paths::python()
