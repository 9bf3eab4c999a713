// `calibrate --max-gpu-mem` and `--devices` from the outside, on a machine without a GPU: junk
// sizes are refused in one line naming the flag and nothing is written; on the CPU the bound is
// ignored with a note and the statistics are those of a run without it (same bytes); --devices
// takes CUDA devices only, never a repeat, and not together with --device.
#include "tests/cli/cli_test_util.h"

using namespace cli_test;

namespace {
QByteArray read_all(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}
QStringList calibrate_args(const QString& out) {
  const QString model = model_dir("mamba1-hf");
  return {"calibrate", model, "--file", model + "/ppl.txt", "--out", out, "--seq-len", "64", "--batch", "2"};
}
}  // namespace

class TestCliScale : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void junk_sizes_are_refused_data() {
    QTest::addColumn<QString>("size");
    for (const char* s : {"lots", "8X", "0", "-1G", "1.2.3M", "G"}) QTest::newRow(s) << s;
  }
  void junk_sizes_are_refused() {
    QFETCH(QString, size);
    QTemporaryDir tmp;
    const QString out = tmp.path() + "/s.safetensors";
    const CliResult r = run_cli(calibrate_args(out) + QStringList{"--device", "cpu", "--max-gpu-mem", size});
    QVERIFY2(r.exit_code != 0 && !r.crashed, qPrintable(r.describe()));
    const QString err = QString::fromUtf8(r.err).trimmed();
    QVERIFY2(err.contains("--max-gpu-mem") && err.contains(size) && !err.contains('\n'), qPrintable(r.describe()));
    QVERIFY(!QFile::exists(out));
  }

  void cpu_ignores_the_bound_with_a_note() {
    QTemporaryDir tmp;
    const QString plain = tmp.path() + "/plain.safetensors", bounded = tmp.path() + "/bounded.safetensors";
    const CliResult a = run_cli(calibrate_args(plain) + QStringList{"--device", "cpu"});
    QVERIFY2(a.exit_code == 0, qPrintable(a.describe()));
    const CliResult b = run_cli(calibrate_args(bounded) + QStringList{"--device", "cpu", "--max-gpu-mem", "1M"});
    QVERIFY2(b.exit_code == 0, qPrintable(b.describe()));
    QVERIFY2(b.err.contains("note: --max-gpu-mem ignored: calibrating on the CPU"), qPrintable(b.describe()));
    QVERIFY(!a.err.contains("--max-gpu-mem"));
    const QByteArray x = read_all(plain), y = read_all(bounded);
    QVERIFY(x.size() > 10000);
    QCOMPARE(x, y);  // the CPU reference is deterministic: the flag changed nothing
  }

  void devices_are_checked_data() {
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<QString>("message");
    QTest::newRow("cpu") << QStringList{"--devices", "cpu"} << "--devices takes CUDA devices";
    QTest::newRow("empty") << QStringList{"--devices", "cuda:0,"} << "--devices";
    QTest::newRow("repeat") << QStringList{"--devices", "cuda:1,cuda:1"} << "repeated";
    QTest::newRow("with --device") << QStringList{"--devices", "cuda:0", "--device", "cpu"} << "excludes";
    QTest::newRow("bad merge") << QStringList{"--merge", "gpu"} << "--merge";
  }
  void devices_are_checked() {
    QFETCH(QStringList, extra);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const QString out = tmp.path() + "/s.safetensors";
    const CliResult r = run_cli(calibrate_args(out) + extra);
    QVERIFY2(r.exit_code != 0 && !r.crashed, qPrintable(r.describe()));
    QVERIFY2(QString::fromUtf8(r.err).contains(message), qPrintable(r.describe()));
    QVERIFY(!QFile::exists(out));
  }

  void help_documents_the_flags() {
    const CliResult r = run_cli({"calibrate", "--help"});
    QCOMPARE(r.exit_code, 0);
    for (const char* flag : {"--max-gpu-mem", "--devices", "--merge"})
      QVERIFY2(r.out.contains(flag), flag);
  }
};

QTEST_GUILESS_MAIN(TestCliScale)
#include "tst_cli_scale.moc"
