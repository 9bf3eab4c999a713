// Helpers shared by tests/cli/tst_cli_*.cpp: run the built mambascope-cli as a user would (QProcess,
// no shell), read fixtures, and build corrupt model directories by editing copies of good ones.
// Deliberately no knowledge of core/ beyond the npy reader: the CLI is tested from the outside.
#pragma once

#include <QByteArray>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace cli_test {

using nlohmann::json;

inline QString fixtures() { return QString::fromUtf8(MAMBASCOPE_FIXTURES); }
inline QString model_dir(const QString& name) { return fixtures() + "/models/" + name; }
inline QString shared_tokenizer() { return fixtures() + "/models/tokenizer.json"; }

struct CliResult {
  int exit_code = -1;
  bool crashed = false;
  bool timed_out = false;
  QByteArray out, err;
  QString describe() const {  // for failure messages
    return QStringLiteral("exit %1%2%3\n--- stdout:\n%4\n--- stderr:\n%5")
        .arg(exit_code)
        .arg(crashed ? " (crashed)" : "")
        .arg(timed_out ? " (timed out)" : "")
        .arg(QString::fromUtf8(out.left(2000)), QString::fromUtf8(err.left(2000)));
  }
};

// Runs mambascope-cli with `args` (no shell). stdin is closed; `cwd` defaults to the test's own;
// `in_child` runs in the child between fork and exec (e.g. to lower a resource limit). The
// default limit only catches a hung process: 5 minutes, 15 in a sanitized build (ASan slows
// LibTorch's start-up and our loops, and CI machines are shared).
#if defined(__SANITIZE_ADDRESS__)
constexpr int kCliTimeoutMs = 900000;
#else
constexpr int kCliTimeoutMs = 300000;
#endif
inline CliResult run_cli(const QStringList& args, const QString& cwd = {},
                         const std::function<void()>& in_child = {}, int timeout_ms = kCliTimeoutMs) {
  QProcess p;
  if (!cwd.isEmpty()) p.setWorkingDirectory(cwd);
  if (in_child) p.setChildProcessModifier(in_child);
  p.start(QString::fromUtf8(MAMBASCOPE_CLI), args);
  CliResult r;
  if (!p.waitForStarted(30000)) {
    r.err = QByteArray("could not start ") + MAMBASCOPE_CLI;
    return r;
  }
  p.closeWriteChannel();
  if (!p.waitForFinished(timeout_ms)) {
    r.timed_out = true;
    p.kill();
    p.waitForFinished(5000);
  }
  r.crashed = p.exitStatus() == QProcess::CrashExit;
  r.exit_code = r.crashed ? -1 : p.exitCode();
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

// run_cli with `--json --device cpu` appended, parsed; a failed run fails the current test (naming
// the command) and gives an empty object.
inline json run_cli_json(const QStringList& args) {
  const CliResult r = run_cli(args + QStringList{"--json", "--device", "cpu"});
  if (r.exit_code != 0) {
    QTest::qFail(qPrintable("failed: " + args.join(' ') + "\n" + r.describe()), __FILE__, __LINE__);
    return json::object();
  }
  return json::parse(r.out.toStdString());
}

inline QByteArray read_bytes(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}
inline bool write_bytes(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
  return f.write(bytes) == bytes.size();
}
inline json read_json(const QString& path) { return json::parse(read_bytes(path).toStdString()); }
inline bool write_json(const QString& path, const json& j) {
  return write_bytes(path, QByteArray::fromStdString(j.dump(2)));
}

// "1,2,3" for --ids, or "1 2 3" for comparing `tokenize` output.
inline QString join_ids(const json& ids, const QString& sep) {
  QStringList parts;
  for (const auto& v : ids) parts << QString::number(v.get<int64_t>());
  return parts.join(sep);
}

// Copies a directory (flat: fixture models have no sub-directories).
inline bool copy_dir(const QString& from, const QString& to) {
  if (!QDir().mkpath(to)) return false;
  const auto entries = QDir(from).entryInfoList(QDir::Files | QDir::Hidden);
  for (const QFileInfo& fi : entries)
    if (!QFile::copy(fi.absoluteFilePath(), to + "/" + fi.fileName())) return false;
  return true;
}

// Every entry under `dir` (hidden ones included) with its size: a failed command must leave this
// unchanged, temporary files included.
inline QStringList listing(const QString& dir) {
  QStringList out;
  QDirIterator it(dir, QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                  QDirIterator::Subdirectories);
  while (it.hasNext()) {
    it.next();
    out << QDir(dir).relativeFilePath(it.filePath()) + ":" + QString::number(it.fileInfo().size());
  }
  out.sort();
  return out;
}

// A safetensors file split into its parts: 8-byte little-endian header length, JSON header, data.
struct Safetensors {
  json header;
  QByteArray data;
};
inline uint64_t read_u64_le(const QByteArray& b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(b[i]);
  return n;
}
inline QByteArray u64_le(uint64_t n) {
  QByteArray b(8, '\0');
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return b;
}
inline Safetensors read_safetensors(const QString& path) {
  const QByteArray bytes = read_bytes(path);
  const auto n = static_cast<qsizetype>(read_u64_le(bytes));
  return {json::parse(bytes.mid(8, n).toStdString()), bytes.mid(8 + n)};
}
inline bool write_safetensors(const QString& path, const Safetensors& st) {
  const QByteArray header = QByteArray::fromStdString(st.header.dump());
  return write_bytes(path, u64_le(header.size()) + header + st.data);
}

// Exactly one line on stderr, newline-terminated.
inline bool one_line(const QByteArray& err) {
  return err.endsWith('\n') && err.count('\n') == 1;
}

}  // namespace cli_test
