// Helpers shared by the reader tests: capturing an InputError's message, the one-line error
// assertion every bad-input case makes, and whole-file reads and writes.
#pragma once

#include <QtTest>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <cstring>
#include <vector>

#include "core/io/tensor_view.h"
#include "core/util/error.h"

namespace ms::test {

inline const std::filesystem::path kReaders =
    std::filesystem::path(MAMBASCOPE_FIXTURES) / "readers";

// Runs f and returns the InputError message, or a marker that fails the caller's check.
template <class F>
QString error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return QString::fromStdString(e.what());
  } catch (const std::exception& e) {
    return QStringLiteral("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return QStringLiteral("NO ERROR");
}

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_all(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary).write(s.data(), static_cast<std::streamsize>(s.size()));
}

// A mapped tensor's elements, copied out (the mapping need not be aligned for T).
template <class T>
std::vector<T> values_of(const TensorView& v) {
  std::vector<T> out(v.nbytes / sizeof(T));
  std::memcpy(out.data(), v.data, v.nbytes);
  return out;
}

}  // namespace ms::test

// An InputError whose one-line message names `file` and contains `needle`.
#define EXPECT_INPUT_ERROR(expr, file, needle)                                              \
  do {                                                                                      \
    const QString msg_ = ms::test::error_of([&] { expr; });                                 \
    QVERIFY2(!msg_.startsWith("NO ERROR") && !msg_.startsWith("WRONG"), qPrintable(msg_));  \
    QVERIFY2(msg_.contains(QString::fromStdString(std::string(file))), qPrintable(msg_));   \
    QVERIFY2(msg_.contains(QString::fromStdString(std::string(needle))), qPrintable(msg_)); \
    QVERIFY2(!msg_.contains('\n'), qPrintable(msg_));                                       \
  } while (0)
