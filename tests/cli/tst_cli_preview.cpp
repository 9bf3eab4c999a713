// `mambascope-cli preview` on the demo Mamba-1 (resources/models/demo-mamba), the first 512 tokens
// of the shipped Austen text. BEFORE is checked against an independent path, `calibrate` on the
// same tokens (one sequence of 512): the channel absmax and the |x| histogram must be equal, the
// channel variances equal to fp64 rounding. AFTER is checked against what each method must keep or
// give, computed here from the JSON alone: an orthogonal rotation keeps the sum of channel variances
// (trace of the covariance) at out_proj.input; KLT makes every channel's variance trace(C)/n;
// SmoothQuant's after-absmax is before-absmax / s; SQNR = 10 log10(mean square / MSE); every
// histogram counts tokens × channels values. Bad input gives one line and exit 2. `preview --serve`
// answers requests with byte for byte the JSON of the one-shot runs, a bad request with an error
// line naming it (and keeps serving), and ends with its input.
#include <QtTest>

#include <QElapsedTimer>
#include <QProcess>

#include <cmath>
#include <cstring>

#include "cli_test_util.h"

using namespace cli_test;

namespace {

const QString kModel = QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/resources/models/demo-mamba";
const QString kText = QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/resources/texts/austen.txt";
constexpr int kTokens = 512;

json preview(const QStringList& extra) {
  const CliResult r = run_cli(QStringList{"preview", kModel, "--file", kText, "--max-tokens", QString::number(kTokens),
                                          "--device", "cpu", "--json"} + extra);
  if (r.exit_code != 0) {
    qWarning("%s", qPrintable(r.describe()));
    return json();
  }
  return json::parse(r.out.toStdString());
}

template <typename T>
std::vector<T> tensor_values(const Safetensors& st, const std::string& key) {
  const json& h = st.header.at(key);
  const auto begin = h.at("data_offsets")[0].get<qsizetype>(), end = h.at("data_offsets")[1].get<qsizetype>();
  std::vector<T> v(static_cast<size_t>(end - begin) / sizeof(T));
  std::memcpy(v.data(), st.data.constData() + begin, static_cast<size_t>(end - begin));
  return v;
}

// The next stdout line of a running server (empty after the timeout or its exit).
QByteArray next_line(QProcess& p, QByteArray& buffer, int timeout_ms = 120000) {
  QElapsedTimer t;
  t.start();
  for (;;) {
    if (const int nl = buffer.indexOf('\n'); nl >= 0) {
      const QByteArray line = buffer.left(nl);
      buffer.remove(0, nl + 1);
      return line;
    }
    if (t.elapsed() > timeout_ms) return {};
    if (!p.waitForReadyRead(1000) && p.state() == QProcess::NotRunning) return {};
    buffer += p.readAllStandardOutput();
  }
}

double sum(const json& a) {
  double s = 0;
  for (const auto& v : a) s += v.get<double>();
  return s;
}

}  // namespace

class TestCliPreview : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void beforeMatchesCalibrate() {
    QTemporaryDir dir;
    const QString stats = dir.path() + "/s.safetensors";
    const CliResult c = run_cli({"calibrate", kModel, "--file", kText, "--out", stats, "--max-tokens", QString::number(kTokens),
                                 "--seq-len", QString::number(kTokens), "--batch", "1", "--device", "cpu"});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    const Safetensors st = read_safetensors(stats);
    const json p = preview({"--point", "layers.5.out_proj.input", "--method", "hadamard"});
    QVERIFY(!p.is_null());
    QCOMPARE(p["tokens"].get<int>(), kTokens);
    const std::string k = "layers.5.out_proj.input";
    const auto absmax = tensor_values<float>(st, k + ".absmax");
    QCOMPARE(p["before"]["channel_absmax"].get<std::vector<float>>(), absmax);
    QCOMPARE(p["before"]["hist"].get<std::vector<int64_t>>(), tensor_values<int64_t>(st, k + ".hist"));
    const auto s1 = tensor_values<double>(st, k + ".sum"), s2 = tensor_values<double>(st, k + ".sumsq");
    const auto var = p["before"]["channel_var"].get<std::vector<double>>();
    QCOMPARE(var.size(), s1.size());
    double worst = 0;
    for (size_t j = 0; j < var.size(); ++j) {
      const double mean = s1[j] / kTokens, v = s2[j] / kTokens - mean * mean;
      worst = std::max(worst, std::abs(var[j] - v) / std::max(v, 1e-30));
    }
    qInfo("channel variance vs calibrate's sums: max relative difference %.3g", worst);
    QVERIFY(worst <= 1e-6);  // sumsq/n - mean² cancels: ~1e-16 · (E[x²] / var), var ≥ 1e-10 E[x²] here
  }

  void afterKeepsWhatEachMethodPromises() {
    const json h = preview({"--point", "layers.5.out_proj.input", "--method", "hadamard"});
    QVERIFY(!h.is_null());
    const double trace_before = sum(h["before"]["channel_var"]), trace_after = sum(h["after"]["channel_var"]);
    QVERIFY(std::abs(trace_after - trace_before) <= 1e-9 * trace_before);
    const int64_t channels = static_cast<int64_t>(h["before"]["channel_var"].size());
    for (const char* side : {"before", "after"}) {
      QCOMPARE(int64_t(sum(h[side]["hist"])), kTokens * channels);
      const json& e = h[side]["error"];
      QCOMPARE(e["sqnr_db"].get<double>(), 10 * std::log10(e["mean_square"].get<double>() / e["mse"].get<double>()));
    }
    qInfo("demo layers.5.out_proj.input, Hadamard: absmax CV %.3f -> %.3f, A8 SQNR %.2f -> %.2f dB",
          h["before"]["absmax_cv"].get<double>(), h["after"]["absmax_cv"].get<double>(),
          h["before"]["error"]["sqnr_db"].get<double>(), h["after"]["error"]["sqnr_db"].get<double>());
    QVERIFY(h["after"]["absmax_cv"].get<double>() < h["before"]["absmax_cv"].get<double>());
    QVERIFY(h["after"]["error"]["sqnr_db"].get<double>() > h["before"]["error"]["sqnr_db"].get<double>());

    const json klt = preview({"--point", "layers.5.out_proj.input", "--method", "klt"});
    QVERIFY(!klt.is_null());
    const double each = trace_before / static_cast<double>(channels);
    for (const auto& v : klt["after"]["channel_var"]) QVERIFY(std::abs(v.get<double>() - each) <= 1e-7 * each);

    const json sq = preview({"--point", "layers.5.in_proj.input", "--method", "smoothquant", "--alpha", "0.5"});
    QVERIFY(!sq.is_null());
    const auto before = sq["before"]["channel_absmax"].get<std::vector<float>>();
    const auto after = sq["after"]["channel_absmax"].get<std::vector<float>>();
    const auto s = sq["smoothing"].get<std::vector<double>>();
    QCOMPARE(s.size(), before.size());
    for (size_t j = 0; j < s.size(); ++j) QVERIFY(std::abs(after[j] - before[j] / s[j]) <= 1e-6 * (before[j] / s[j]) + 1e-30);
  }

  void stateComparesQuantizers() {
    const json d = preview({"--point", "layers.5.ssm.state", "--method", "dsq", "--bits", "4"});
    QVERIFY(!d.is_null());
    const json& errors = d["state_errors"];
    QCOMPARE(errors.size(), size_t(4));
    QCOMPARE(d["before"]["error"]["quantizer"].get<std::string>(), std::string("H4 tensor"));
    QCOMPARE(d["before"]["error"]["mse"].get<double>(), errors[0]["mse"].get<double>());
    QCOMPARE(d["after"]["error"]["mse"].get<double>(), errors[3]["mse"].get<double>());
    qInfo("demo layers.5.ssm.state H4: tensor %.2f dB, channel %.2f, state %.2f, DSQ %.2f",
          errors[0]["sqnr_db"].get<double>(), errors[1]["sqnr_db"].get<double>(), errors[2]["sqnr_db"].get<double>(),
          errors[3]["sqnr_db"].get<double>());
    QVERIFY(errors[3]["mse"].get<double>() < errors[0]["mse"].get<double>());  // layer 5 has outlier channels
  }

  void serverAnswersAsOneShotRuns() {
    const QStringList hadamard{"--point", "layers.5.out_proj.input", "--method", "hadamard", "--bits", "6"};
    const QStringList dsq{"--point", "layers.3.ssm.state", "--method", "dsq", "--bits", "4", "--baseline", "channel"};
    QByteArray one_shot[2];
    for (int i = 0; i < 2; ++i) {
      const CliResult r = run_cli(QStringList{"preview", kModel, "--file", kText, "--max-tokens", QString::number(kTokens),
                                              "--device", "cpu", "--json"} + (i == 0 ? hadamard : dsq));
      QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
      one_shot[i] = r.out.trimmed();
    }

    QProcess p;
    p.start(QString::fromUtf8(MAMBASCOPE_CLI),
            {"preview", kModel, "--serve", "--file", kText, "--max-tokens", QString::number(kTokens), "--device", "cpu"});
    QVERIFY(p.waitForStarted(30000));
    QByteArray buffer;
    const json ready = json::parse(next_line(p, buffer).toStdString(), nullptr, false);
    QVERIFY2(ready.is_object() && ready["type"] == "ready", p.readAllStandardError().constData());
    QCOMPARE(ready["tokens"].get<int>(), kTokens);
    const char* requests[2] = {
        R"({"id": 1, "point": "layers.5.out_proj.input", "method": "hadamard", "bits": 6})",
        R"({"id": 2, "point": "layers.3.ssm.state", "method": "dsq", "bits": 4, "baseline": "channel"})"};
    for (int i = 0; i < 2; ++i) {
      p.write(QByteArray(requests[i]) + '\n');
      const QByteArray line = next_line(p, buffer);
      const json reply = json::parse(line.toStdString(), nullptr, false);
      QVERIFY2(reply.is_object() && reply["type"] == "result", line.constData());
      QCOMPARE(reply["id"].get<int>(), i + 1);
      // The preview inside is the one-shot output to the byte (it closes the line's object).
      const QByteArray key = "\"preview\":";
      const qsizetype at = line.indexOf(key);
      QVERIFY(at > 0 && line.endsWith('}'));
      QCOMPARE(line.mid(at + key.size(), line.size() - at - key.size() - 1), one_shot[i]);
      qInfo("served %s in %.0f ms", reply["preview"]["method"].get<std::string>().c_str(), reply["ms"].get<double>());
    }
    p.write(R"({"id": 3, "point": "layers.99.out_proj.input", "method": "klt"})" "\n");
    const json error = json::parse(next_line(p, buffer).toStdString(), nullptr, false);
    QCOMPARE(error["type"].get<std::string>(), std::string("error"));
    QCOMPARE(error["id"].get<int>(), 3);
    QVERIFY2(error["message"].get<std::string>().find("layers") != std::string::npos, error.dump().c_str());
    p.closeWriteChannel();  // end of input ends the server
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
  }

  void badInputIsOneLine() {
    for (const QStringList& args : {QStringList{"--point", "layers.5.x_proj.input", "--method", "hadamard"},
                                    QStringList{"--point", "layers.5.out_proj.input", "--method", "dsq"},
                                    QStringList{"--point", "layers.99.out_proj.input", "--method", "klt"},
                                    QStringList{"--point", "nonsense", "--method", "klt"}}) {
      const CliResult r = run_cli(QStringList{"preview", kModel, "--max-tokens", "16", "--device", "cpu"} + args);
      QVERIFY2(r.exit_code == 2 && one_line(r.err) && r.out.isEmpty(), qPrintable(r.describe()));
    }
  }
};

QTEST_GUILESS_MAIN(TestCliPreview)
#include "tst_cli_preview.moc"
