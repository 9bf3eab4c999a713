// Calibration from the app (app/calibration_process.h): the CLI's progress lines parsed into
// progress with rate and ETA; real runs of the built mambascope-cli on the shipped demo Mamba-1,
// whose statistics file the app then reads (checked against numpy on the same file); cancel
// (SIGINT: partial statistics marked cancelled; twice: killed, nothing saved); a newer run
// superseding an older one; failures as one line. Needs the built CLI (target mambascope-cli) and
// the extracted texts (packaging/setup.sh).
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/calibration_process.h"
#include "core/model/stats_file.h"
#include "core/util/error.h"

using namespace ms;
using namespace ms::app;

namespace {

const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));

}  // namespace

class TestCalibrationProcess : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    QVERIFY2(QFileInfo(QString::fromUtf8(MAMBASCOPE_CLI)).isExecutable(), "build target mambascope-cli first");
    QVERIFY2(QFileInfo(kAusten).isFile(), "resources/texts/austen.txt missing: run resources/training/extract_texts.sh");
  }

  void parsesProgressLines() {
    const auto p = CalibrationProcess::parseProgressLine(QStringLiteral("calibrate: 50% (4096/8192 tokens, 2048 tok/s)\n"));
    QVERIFY(p);
    QCOMPARE(p->done, 4096);
    QCOMPARE(p->total, 8192);
    QCOMPARE(p->rate, 2048.0);
    QCOMPARE(p->fraction, 0.5);
    QCOMPARE(p->etaSeconds, 2.0);
    const auto start = CalibrationProcess::parseProgressLine(QStringLiteral("calibrate: 0% (0/100 tokens, 0 tok/s)"));
    QVERIFY(start);
    QCOMPARE(start->etaSeconds, -1.0);  // no rate yet: no ETA
    for (const char* other : {"wrote /tmp/s.safetensors: 2048 tokens, 24 activation and 6 state points",
                              "mambascope-cli: error: /m: no config.json", "calibrate [=====     ]  50%",
                              "calibrate: 50% (x/8192 tokens, 1 tok/s)"})
      QVERIFY2(!CalibrationProcess::parseProgressLine(QString::fromLatin1(other)), other);
  }

  void argumentsOfARequest() {
    CalibrationRequest r;
    r.model = QStringLiteral("/m");
    r.text = QStringLiteral("/t.txt");
    r.out = QStringLiteral("/s.safetensors");
    r.maxTokens = 2048;
    r.device = QStringLiteral("cpu");
    r.tokenizer = QStringLiteral("/tok.json");
    QCOMPARE(CalibrationProcess::arguments(r),
             (QStringList{"calibrate", "/m", "--file", "/t.txt", "--out", "/s.safetensors", "--seq-len", "512", "--batch",
                          "4", "--max-tokens", "2048", "--device", "cpu", "--tokenizer", "/tok.json"}));
    r.maxTokens = 0;
    r.device.clear();
    r.tokenizer.clear();
    QCOMPARE(CalibrationProcess::arguments(r).size(), 10);
  }

  void calibratesTheDemoModel() {
    CalibrationProcess process;
    QSignalSpy finished(&process, &CalibrationProcess::finished);
    QSignalSpy failed(&process, &CalibrationProcess::failed);
    const QString out = m_dir.filePath(QStringLiteral("demo.safetensors"));
    const auto id = process.start(request(out, 2048));
    QVERIFY(process.isRunning());
    QVERIFY2(finished.wait(120000), qPrintable(failed.isEmpty() ? QString() : failed.at(0).at(1).toString()));
    QCOMPARE(finished.at(0).at(0).toULongLong(), id);
    QCOMPARE(finished.at(0).at(1).toString(), out);
    QCOMPARE(finished.at(0).at(2).toBool(), false);
    QVERIFY(!process.isRunning());

    const auto stats = read_stats_file(out.toStdString());
    QCOMPARE(stats->tokens, 2048);
    QVERIFY(!stats->cancelled);
    QCOMPARE(stats->n_layers, 6);
    QCOMPARE(static_cast<int>(stats->series.size()), 4);
    QCOMPARE(static_cast<int>(stats->states.size()), 6);
    QCOMPARE(stats->states[0].rows, 512);
    QCOMPARE(stats->states[0].states, 16);
    QCOMPARE(stats->states[0].head_dim, 0);
    const ChannelMaxima& m = stats->find(Module::OutProj)->layers[3];
    QCOMPARE(static_cast<int>(m.hist.size()), 225);
    // Every activation value lands in one histogram bin: 2048 tokens × 512 channels.
    int64_t values = 0;
    for (const int64_t c : m.hist) values += c;
    QCOMPARE(values, int64_t{2048} * 512);

    // numpy on the same file: the state margins, one point's channel variance, the default layer.
    const QString script = QStringLiteral(R"PY(
import sys, numpy as np
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
def outliers(v):
    return int((v > v.mean() + 6 * v.std()).sum())
counts = []
for l in range(6):
    a = t[f"layers.{l}.ssm.state.absmax"].astype(np.float64)
    counts.append(outliers(a.max(axis=1)))
a3 = t["layers.3.ssm.state.absmax"]
print(repr(float(a3.max(axis=1)[100])), repr(float(a3.max(axis=0)[5])))
k = "layers.3.out_proj.input"
var = t[k + ".sumsq"] / t[k + ".count"] - (t[k + ".sum"] / t[k + ".count"]) ** 2
print(repr(float(var[328])), repr(float(var.max())))
print(int(np.argmax(np.array(counts))), counts[int(np.argmax(np.array(counts)))])
)PY");
    QProcess python;
    python.start(QString::fromUtf8(MAMBASCOPE_PYTHON), {QStringLiteral("-c"), script, out});
    QVERIFY(python.waitForFinished(60000));
    QVERIFY2(python.exitCode() == 0, python.readAllStandardError().constData());
    const QStringList lines = QString::fromUtf8(python.readAllStandardOutput()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 3);
    const QStringList state = lines[0].split(QLatin1Char(' '));
    const StateMaps& s3 = stats->states[3];
    QCOMPARE(s3.row_max.absmax[100], state[0].toFloat());   // a max of floats: exact
    QCOMPARE(s3.state_max[5], state[1].toFloat());
    const QStringList var = lines[1].split(QLatin1Char(' '));
    const double kVarTol = 1e-9;  // same fp64 formula, maybe another association order
    QVERIFY(std::abs(m.channel_var[328] - var[0].toDouble()) <= kVarTol * std::max(1.0, var[0].toDouble()));
    QVERIFY(std::abs(*std::max_element(m.channel_var.begin(), m.channel_var.end()) - var[1].toDouble()) <=
            kVarTol * std::max(1.0, var[1].toDouble()));
    const QStringList layer = lines[2].split(QLatin1Char(' '));
    QCOMPARE(static_cast<int>(stats->states[static_cast<std::size_t>(stats->state_layer_with_most_outliers())].row_max.outliers.size()),
             layer[1].toInt());
  }

  void cancelKeepsPartialStatistics() {
    CalibrationProcess process;
    QSignalSpy progress(&process, &CalibrationProcess::progressChanged);
    QSignalSpy finished(&process, &CalibrationProcess::finished);
    const QString out = m_dir.filePath(QStringLiteral("cancelled.safetensors"));
    process.start(request(out, 400000));  // minutes on two cores: cancel comes long before the end
    QVERIFY2(progress.wait(120000), "no progress line from the CLI");
    const auto p = progress.at(0).at(1).value<CalibrationProgress>();
    QVERIFY(p.total == 400000 && p.done > 0 && p.done < p.total && p.rate > 0.0 && p.etaSeconds > 0.0);
    process.cancel();
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.at(0).at(1).toString(), out);
    QCOMPARE(finished.at(0).at(2).toBool(), true);
    const auto stats = read_stats_file(out.toStdString());
    QVERIFY(stats->cancelled);
    QVERIFY2(stats->tokens >= p.done && stats->tokens < 400000, qPrintable(QString::number(stats->tokens)));
    QCOMPARE(static_cast<int>(stats->states.size()), 6);

    // Cancel twice: killed at once, nothing saved.
    const QString killed = m_dir.filePath(QStringLiteral("killed.safetensors"));
    process.start(request(killed, 400000));
    QVERIFY2(progress.wait(120000), "no progress line from the CLI");
    process.cancel();
    QVERIFY(process.isCancelling());
    process.cancel();
    QVERIFY(finished.wait(30000));
    QCOMPARE(finished.at(1).at(1).toString(), QString());
    QCOMPARE(finished.at(1).at(2).toBool(), true);
    QVERIFY(!QFile::exists(killed));
  }

  void newerRunSupersedes() {
    CalibrationProcess process;
    QSignalSpy finished(&process, &CalibrationProcess::finished);
    const auto first = process.start(request(m_dir.filePath(QStringLiteral("first.safetensors")), 400000));
    const auto second = process.start(request(m_dir.filePath(QStringLiteral("second.safetensors")), 512));
    QVERIFY(second > first);
    QVERIFY(finished.wait(120000));
    QTest::qWait(500);  // the killed first run's exit, if it reports anything, would arrive by now
    QCOMPARE(finished.size(), 1);
    QCOMPARE(finished.at(0).at(0).toULongLong(), second);
    QVERIFY(!QFile::exists(m_dir.filePath(QStringLiteral("first.safetensors"))));
    QCOMPARE(read_stats_file(m_dir.filePath(QStringLiteral("second.safetensors")).toStdString())->tokens, 512);
  }

  void failuresAreOneLine() {
    CalibrationProcess process;
    QSignalSpy failed(&process, &CalibrationProcess::failed);
    CalibrationRequest bad = request(m_dir.filePath(QStringLiteral("bad.safetensors")), 64);
    bad.model = m_dir.filePath(QStringLiteral("no-such-model"));
    process.start(bad);
    QVERIFY(failed.wait(60000));
    const QString message = failed.at(0).at(1).toString();
    QVERIFY2(message.contains(QStringLiteral("no-such-model")) && !message.contains(QLatin1Char('\n')), qPrintable(message));
    QVERIFY(!QFile::exists(bad.out));

    qputenv("MAMBASCOPE_CLI", "/nonexistent/mambascope-cli");
    process.start(request(m_dir.filePath(QStringLiteral("x.safetensors")), 64));
    QVERIFY(failed.wait(10000));
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    QVERIFY2(failed.at(1).at(1).toString().contains(QStringLiteral("/nonexistent/mambascope-cli")),
             qPrintable(failed.at(1).at(1).toString()));
  }

 private:
  CalibrationRequest request(const QString& out, qint64 tokens) const {
    CalibrationRequest r;
    r.model = kDemo;
    r.text = kAusten;
    r.out = out;
    r.maxTokens = tokens;
    r.device = QStringLiteral("cpu");
    return r;
  }
  QTemporaryDir m_dir;
};

QTEST_GUILESS_MAIN(TestCalibrationProcess)
#include "tst_calibration_process.moc"
