// `mambascope-cli requant-serve` (the app's worker for the live error preview), spoken to over
// its stdin/stdout protocol as the app does, on the tiny Mamba-1 fixture:
//   - the ready line describes the cached batch (ids equal `tokenize`'s first windows × seq-len);
//   - a setting's reply equals `eval --json` with the same bits on the same tokens (one window of
//     seq-len tokens = --ctx seq-len --max-tokens seq-len): end to end exactly, per point to 1e-12
//     (the server sums each point's error token by token, eval over the whole tensor);
//   - fewer state bits give a lower state SQNR and a larger KL;
//   - latest wins: three requests queued at once get two "superseded" lines and one result, the
//     newest; a bad request gets an error line naming the field and the server keeps serving;
//   - end of input ends the server with status 0.
// And `bench requant` writes its report (values not asserted: a benchmark).
#include "cli_test_util.h"

#include <QTemporaryDir>

#include <cmath>

using namespace cli_test;

namespace {

constexpr int kSeqLen = 32;

// Reads stdout lines of a running server until `count` lines arrived (or the timeout).
std::vector<json> read_lines(QProcess& p, QByteArray& buffer, size_t count, int timeout_ms = 120000) {
  std::vector<json> out;
  QElapsedTimer t;
  t.start();
  while (out.size() < count && t.elapsed() < timeout_ms) {
    int nl;
    while (out.size() < count && (nl = buffer.indexOf('\n')) >= 0) {
      out.push_back(json::parse(buffer.left(nl).toStdString()));
      buffer.remove(0, nl + 1);
    }
    if (out.size() < count && !p.waitForReadyRead(1000) && p.state() == QProcess::NotRunning) break;
    buffer += p.readAllStandardOutput();
  }
  return out;
}

bool same(double got, double want, const char* what, double rel = 0) {
  if (got == want || std::abs(got - want) <= rel * std::abs(want)) return true;
  qWarning("%s: got %.17g, expected %.17g", what, got, want);
  return false;
}

}  // namespace

class TestCliRequant : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString model_ = model_dir("mamba1-hf");
  QString text_;

 private Q_SLOTS:
  void initTestCase() {
    text_ = tmp_.filePath("text.txt");
    QVERIFY(write_bytes(text_, QByteArray::fromStdString(read_json(model_ + "/expected.json")["text"].get<std::string>())));
  }

  void serveMatchesEval() {
    QProcess p;
    p.start(QString::fromUtf8(MAMBASCOPE_CLI),
            {"requant-serve", model_, "--file", text_, "--windows", "1", "--seq-len", QString::number(kSeqLen),
             "--device", "cpu"});
    QVERIFY(p.waitForStarted(30000));
    QByteArray buf;
    std::vector<json> ready = read_lines(p, buf, 1);
    QVERIFY2(ready.size() == 1, p.readAllStandardError().constData());
    QCOMPARE(ready[0]["type"].get<std::string>(), std::string("ready"));
    QCOMPARE(ready[0]["windows"].get<int>(), 1);
    QCOMPARE(ready[0]["seq_len"].get<int>(), kSeqLen);
    QCOMPARE(ready[0]["points"].size(), size_t(10));  // 2 layers × (4 inputs + state)
    const CliResult tok = run_cli({"tokenize", model_, "--file", text_});
    QCOMPARE(tok.exit_code, 0);
    const QStringList ids = QString::fromUtf8(tok.out).trimmed().split(' ');
    QCOMPARE(ready[0]["ids"].size(), size_t(kSeqLen));
    for (int i = 0; i < kSeqLen; ++i) QCOMPARE(ready[0]["ids"][size_t(i)].get<int>(), ids[i].toInt());
    QCOMPARE(ready[0]["pieces"].size(), size_t(kSeqLen));

    p.write(R"({"id": 1, "abits": 8, "hbits": 8})" "\n");
    std::vector<json> r1 = read_lines(p, buf, 1);
    QCOMPARE(r1.size(), size_t(1));
    QCOMPARE(r1[0]["type"].get<std::string>(), std::string("result"));
    QCOMPARE(r1[0]["id"].get<int>(), 1);
    QCOMPARE(r1[0]["kl"].size(), size_t(kSeqLen - 1));
    QCOMPARE(r1[0]["token_sqnr"].size(), size_t(10 * kSeqLen));

    const CliResult ev = run_cli({"eval", model_, "--file", text_, "--abits", "8", "--hbits", "8", "--ctx",
                                  QString::number(kSeqLen), "--max-tokens", QString::number(kSeqLen), "--json",
                                  "--device", "cpu"});
    QVERIFY2(ev.exit_code == 0, qPrintable(ev.describe()));
    const json want = json::parse(ev.out.toStdString());
    for (const char* key : {"tokens", "kl_mean", "kl_p90", "kl_max", "top1_agreement", "perplexity_float",
                            "perplexity_quant"})
      QVERIFY(same(r1[0]["end_to_end"][key].get<double>(), want["end_to_end"][key].get<double>(), key));
    QCOMPARE(r1[0]["points"].size(), want["points"].size());
    for (size_t i = 0; i < want["points"].size(); ++i) {
      QCOMPARE(r1[0]["points"][i]["point"], want["points"][i]["point"]);
      QVERIFY(same(r1[0]["points"][i]["mse"].get<double>(), want["points"][i]["mse"].get<double>(),
                   want["points"][i]["point"].get<std::string>().c_str(), 1e-12));
    }

    // Fewer state bits: the state's SQNR falls and the output drifts further.
    p.write(R"({"id": 2, "abits": 8, "hbits": 4})" "\n");
    std::vector<json> r2 = read_lines(p, buf, 1);
    QCOMPARE(r2.size(), size_t(1));
    QCOMPARE(r2[0]["id"].get<int>(), 2);
    QCOMPARE(r2[0]["points"][3]["point"].get<std::string>(), std::string("layers.0.ssm.state"));
    QVERIFY(r2[0]["points"][3]["sqnr_db"].get<double>() < r1[0]["points"][3]["sqnr_db"].get<double>());
    QVERIFY(r2[0]["end_to_end"]["kl_mean"].get<double>() > r1[0]["end_to_end"]["kl_mean"].get<double>());

    // A bad request: an error line naming the field, and the server goes on.
    p.write(R"({"id": 3, "abits": 17})" "\n");  // 12 is a width now (2..16)
    std::vector<json> r3 = read_lines(p, buf, 1);
    QCOMPARE(r3.size(), size_t(1));
    QCOMPARE(r3[0]["type"].get<std::string>(), std::string("error"));
    QCOMPARE(r3[0]["id"].get<int>(), 3);
    QVERIFY2(r3[0]["message"].get<std::string>().find("abits: 17 is outside 2..16") != std::string::npos,
             r3[0].dump().c_str());
    p.write(R"({"id": 4})" "\n");
    std::vector<json> r4 = read_lines(p, buf, 1);
    QCOMPARE(r4.size(), size_t(1));
    QCOMPARE(r4[0]["end_to_end"]["kl_max"].get<double>(), 0.0);  // 16 bits everywhere: exact

    p.closeWriteChannel();
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
  }

  // Requests written before the server reads its first line are all queued when it does: only
  // the newest is evaluated, the others are answered "superseded" in order.
  void latestWins() {
    QProcess p;
    p.start(QString::fromUtf8(MAMBASCOPE_CLI),
            {"requant-serve", model_, "--file", text_, "--windows", "2", "--seq-len", "16", "--device", "cpu"});
    QVERIFY(p.waitForStarted(30000));
    p.write(R"({"id": 10, "wbits": 8})" "\n" R"({"id": 11, "wbits": 6})" "\n" R"({"id": 12, "wbits": 4})" "\n");
    QByteArray buf;
    std::vector<json> lines = read_lines(p, buf, 4);
    QCOMPARE(lines.size(), size_t(4));
    QCOMPARE(lines[0]["type"].get<std::string>(), std::string("ready"));
    QCOMPARE(lines[1]["type"].get<std::string>(), std::string("superseded"));
    QCOMPARE(lines[1]["id"].get<int>(), 10);
    QCOMPARE(lines[2]["type"].get<std::string>(), std::string("superseded"));
    QCOMPARE(lines[2]["id"].get<int>(), 11);
    QCOMPARE(lines[3]["type"].get<std::string>(), std::string("result"));
    QCOMPARE(lines[3]["id"].get<int>(), 12);
    QCOMPARE(lines[3]["weights"].size(), size_t(2 * 4));
    QCOMPARE(lines[3]["kl"].size(), size_t(2 * 15));
    p.closeWriteChannel();
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitCode(), 0);
  }

  void badModelIsOneLine() {
    const CliResult r = run_cli({"requant-serve", tmp_.filePath("nope"), "--file", text_});
    QCOMPARE(r.exit_code, 1);
    QCOMPARE(r.err.count('\n'), 1);
    QVERIFY(r.err.contains("nope"));
  }

  void benchWritesAReport() {
    const QString out = tmp_.filePath("bench.json");
    const CliResult r = run_cli({"bench", "requant", "--preset", "tiny-mamba", "--device", "cpu", "--batch", "1",
                                 "--seq-len", "8", "--out", out});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const json j = read_json(out);
    QCOMPARE(j["bench"].get<std::string>(), std::string("requant"));
    QCOMPARE(j["tokens"].get<int>(), 8);
    QVERIFY(j["settings"].size() >= 10);
    QVERIFY(j["median_ms"].get<double>() > 0);
  }
};

QTEST_GUILESS_MAIN(TestCliRequant)
#include "tst_cli_requant.moc"
