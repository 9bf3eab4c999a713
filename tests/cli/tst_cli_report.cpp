// The export report (issue 7): what `quantize` writes into report.json and report.html, checked
// against numbers computed independently, on the demo Mamba-1 (real text, real outliers):
//   - end-to-end metrics on --eval-file: the float perplexity is `perplexity` of the source model,
//     the quantized one `perplexity` of the exported checkpoint, and every end-to-end number and
//     per-point error equals what `eval --scheme mambascope.json` measures on the same text;
//   - outlier channels per point and the channel-maxima figure's data equal the 6σ rule applied in
//     numpy to a statistics file that `calibrate` made from the same tokens; the state heatmap's
//     columns are numpy's max over the same channel bins;
//   - the page has its sections and figures and references nothing outside itself;
//   - --no-eval and the default held-out slice are recorded as such.
#include "cli_test_util.h"

#include <QTemporaryDir>

#include <cmath>

using namespace cli_test;

namespace {

const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));
const QString kMoby = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/moby-dick.txt"));
constexpr int kCalibTokens = 2048, kSeqLen = 512;

// Two runs of the same fp32 CPU code on the same tokens: only the summation order of a reduction
// may differ between processes (thread count), so numbers agree to a few ulps of fp64 sums.
constexpr double kSameRunRel = 1e-9;

bool close(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)) + 1e-300; }

json run_json(const QStringList& args) {
  const CliResult r = run_cli(args + QStringList{"--json"});
  if (r.exit_code != 0) {
    QTest::qFail(qPrintable("failed: " + args.join(' ') + "\n" + r.describe()), __FILE__, __LINE__);
    return json::object();
  }
  return json::parse(r.out.toStdString());
}

}  // namespace

class TestCliReport : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString evalText_, withEval_, statsFile_;

  QString quantize(const QString& name, const QStringList& flags) {
    const QString out = tmp_.filePath(name);
    const CliResult r = run_cli(QStringList{"quantize", kDemo, "--method", "rtn", "--wbits", "4", "--format", "hf",
                                            "--out", out, "--calib-tokens", QString::number(kCalibTokens),
                                            "--calib-seq-len", QString::number(kSeqLen)} + flags);
    if (r.exit_code != 0) {
      QTest::qFail(qPrintable("quantize " + flags.join(' ') + ": " + r.describe()), __FILE__, __LINE__);
      return {};
    }
    return out;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    QVERIFY2(QFileInfo(kAusten).isFile(), "resources/texts missing: run resources/training/extract_texts.sh");
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
    // A short evaluation text used whole, so that `perplexity` (which has no --max-tokens) sees
    // exactly the tokens the report measured.
    evalText_ = tmp_.filePath("eval.txt");
    QByteArray text = read_bytes(kMoby).mid(20000, 6000);  // whole lines: no UTF-8 sequence cut
    text = text.mid(text.indexOf('\n') + 1);
    text.truncate(text.lastIndexOf('\n') + 1);
    QVERIFY(write_bytes(evalText_, text));
    withEval_ = quantize("with-eval", {"--eval-file", evalText_, "--eval-tokens", "0", "--eval-ctx", "512"});
    QVERIFY(!withEval_.isEmpty());
  }

  void endToEndEqualsPerplexityAndEval() {
    const json report = read_json(withEval_ + "/report.json");
    QCOMPARE(report["evaluation"]["status"].get<std::string>(), std::string("measured"));
    const json& e = report["end_to_end"];
    const json pf = run_json({"perplexity", kDemo, "--file", evalText_, "--ctx", "512", "--device", "cpu"});
    const json pq = run_json({"perplexity", withEval_, "--file", evalText_, "--ctx", "512", "--device", "cpu"});
    QVERIFY2(close(e["perplexity_float"].get<double>(), pf["perplexity"].get<double>(), kSameRunRel), e.dump().c_str());
    QVERIFY2(close(e["perplexity_quant"].get<double>(), pq["perplexity"].get<double>(), kSameRunRel), e.dump().c_str());
    QCOMPARE(e["tokens"].get<int64_t>(), pf["tokens"].get<int64_t>());
    // W4 costs something on this model: a report of zeros would pass the equalities above.
    QVERIFY2(e["perplexity_quant"].get<double>() > e["perplexity_float"].get<double>() * 1.001, e.dump().c_str());

    const json ev = run_json({"eval", kDemo, "--scheme", withEval_ + "/mambascope.json", "--file", evalText_, "--ctx",
                              "512", "--device", "cpu"});
    for (const char* k : {"perplexity_float", "perplexity_quant", "delta_perplexity", "kl_mean", "kl_p50", "kl_p90",
                          "kl_p99", "kl_max", "top1_agreement"})
      QVERIFY2(close(e[k].get<double>(), ev["end_to_end"][k].get<double>(), kSameRunRel),
               qPrintable(QString("%1: report %2, eval %3").arg(k).arg(e[k].get<double>(), 0, 'g', 17)
                              .arg(ev["end_to_end"][k].get<double>(), 0, 'g', 17)));
    QVERIFY(e["kl_mean"].get<double>() > 0);
    QCOMPARE(e["windows"].get<int64_t>(), ev["end_to_end"]["windows"].get<int64_t>());
    // Per-point activation and state errors: the same points in the same order, the same values.
    const json& rp = report["points"];
    const json& ep = ev["points"];
    QCOMPARE(rp.size(), ep.size());
    QVERIFY(rp.size() == 6 * 5);  // 6 layers × (4 Linear inputs + the state)
    for (std::size_t i = 0; i < rp.size(); ++i) {
      QCOMPARE(rp[i]["point"], ep[i]["point"]);
      QCOMPARE(rp[i]["count"], ep[i]["count"]);
      QVERIFY2(close(rp[i]["mse"].get<double>(), ep[i]["mse"].get<double>(), kSameRunRel), rp[i].dump().c_str());
    }
  }

  void outliersEqualNumpyOnCalibrateStatistics() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: no independent reference");
    // The same tokens as the report's statistics: the first kCalibTokens of Austen in sequences of kSeqLen.
    statsFile_ = tmp_.filePath("stats.safetensors");
    const CliResult c = run_cli({"calibrate", kDemo, "--file", kAusten, "--out", statsFile_, "--max-tokens",
                                 QString::number(kCalibTokens), "--seq-len", QString::number(kSeqLen), "--device", "cpu"});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    // numpy: the 6σ rule on each point's channel absmax (state: each channel's max over its states).
    const QString script = QStringLiteral(R"(
import json, sys, numpy as np
from safetensors.numpy import load_file
t = load_file(sys.argv[1]); out = {}
for k, v in t.items():
    if not k.endswith('.absmax'): continue
    p = k[:-len('.absmax')]
    a = v.astype(np.float64)
    if p.endswith('ssm.state'):
        full = a.reshape(a.shape[0], -1) if a.ndim == 2 else a.reshape(-1, a.shape[-1])
        a = full.max(axis=1)
        per = -(-full.shape[0] // 256)
        cols = -(-full.shape[0] // per)
        pad = np.zeros((cols * per, full.shape[1])); pad[:full.shape[0]] = full
        out[p + '#map'] = pad.reshape(cols, per, -1).max(axis=1).T.ravel().tolist()
    m, s = a.mean(), a.std()
    o = [int(i) for i in np.argsort(-a, kind='stable') if a[i] > m + 6 * s]
    out[p] = {'absmax': a.tolist(), 'mean': m, 'std': s, 'outliers': o}
json.dump(out, sys.stdout)
)");
    QProcess py;
    py.start(QString::fromUtf8(MAMBASCOPE_PYTHON), {"-c", script, statsFile_});
    QVERIFY(py.waitForFinished(120000));
    QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
    const json ref = json::parse(py.readAllStandardOutput().toStdString());

    const json report = read_json(withEval_ + "/report.json");
    QCOMPARE(report["calibration"]["status"].get<std::string>(), std::string("collected"));
    QCOMPARE(report["calibration"]["tokens"].get<int64_t>(), int64_t(kCalibTokens));
    const json& points = report["outliers"]["points"];
    QCOMPARE(points.size(), std::size_t(6 * 5));
    std::size_t total = 0;
    for (const json& p : points) {
      const std::string name = p["point"].get<std::string>();
      QVERIFY2(ref.contains(name), name.c_str());
      const json& r = ref[name];
      QCOMPARE(p["channels"].get<std::size_t>(), r["absmax"].size());
      QVERIFY2(close(p["mean"].get<double>(), r["mean"].get<double>(), 1e-6), name.c_str());
      QVERIFY2(close(p["std"].get<double>(), r["std"].get<double>(), 1e-6), name.c_str());
      QCOMPARE(p["count"].get<std::size_t>(), r["outliers"].size());
      for (std::size_t k = 0; k < p["top"].size(); ++k) {
        QCOMPARE(p["top"][k]["channel"].get<int64_t>(), r["outliers"][k].get<int64_t>());
        QCOMPARE(p["top"][k]["absmax"].get<double>(), r["absmax"][r["outliers"][k].get<std::size_t>()].get<double>());
      }
      total += r["outliers"].size();
    }
    QCOMPARE(report["outliers"]["total"].get<std::size_t>(), total);
    QVERIFY(total > 0);  // the demo model has them (README: channel 328 of layers.3.out_proj.input)

    // The channel-maxima figure: one point's whole absmax vector and its outliers.
    const json& cm = report["views"]["channel_maxima"];
    const json& r = ref[cm["point"].get<std::string>()];
    QCOMPARE(cm["absmax"].size(), r["absmax"].size());
    for (std::size_t c = 0; c < r["absmax"].size(); ++c) QCOMPARE(cm["absmax"][c].get<double>(), r["absmax"][c].get<double>());
    QCOMPARE(cm["outliers"], r["outliers"]);
    QVERIFY(!cm["outliers"].empty());  // the point with the most outliers has some
    // The state heatmap: [states × columns], each column numpy's max over the same channels.
    const json& sh = report["views"]["state_heatmap"];
    const json& map = ref[sh["point"].get<std::string>() + "#map"];
    QCOMPARE(sh["absmax"].size(), map.size());
    QCOMPARE(sh["states"].get<int64_t>() * sh["columns"].get<int64_t>(), int64_t(map.size()));
    for (std::size_t i = 0; i < map.size(); ++i) QCOMPARE(sh["absmax"][i].get<double>(), map[i].get<double>());
  }

  void htmlHasSectionsAndNoExternalReference() {
    const QString html = QString::fromUtf8(read_bytes(withEval_ + "/report.html"));
    for (const char* section : {"What was exported", "What it cost", "Weight error per layer", "id='point-errors'",
                                "id='outliers'", "id='state'", "Channel maxima of", "perplexity", "top-1 agreement",
                                "KL(float"})
      QVERIFY2(html.contains(QLatin1String(section)), section);
    QCOMPARE(html.count("<svg"), 4);  // weight SQNR, point SQNR, channel maxima, state map
    QCOMPARE(html.count("<svg"), html.count("</svg>"));
    // Self-contained: nothing fetched or linked, not even an SVG namespace URL.
    for (const char* ref : {"http:", "https:", "src=", "href=", "url(", "@import", "<script", "<link", "<img"})
      QVERIFY2(!html.contains(QLatin1String(ref)), ref);
    // The calibration text and its token count are on the page.
    QVERIFY(html.contains("austen.txt") && html.contains(QString::number(kCalibTokens) + " tokens of"));
    // The numbers on the page are report.json's.
    const json e = read_json(withEval_ + "/report.json")["end_to_end"];
    QVERIFY(html.contains(QString::number(e["perplexity_quant"].get<double>(), 'f', 3)));
  }

  void noEvalIsRecorded() {
    const QString out = quantize("no-eval", {"--no-eval"});
    const json report = read_json(out + "/report.json");
    QCOMPARE(report["evaluation"]["status"].get<std::string>(), std::string("skipped"));
    QCOMPARE(report["evaluation"]["reason"].get<std::string>(), std::string("--no-eval"));
    QVERIFY(!report.contains("end_to_end") && !report.contains("points"));
    QVERIFY(report["outliers"]["total"].get<int>() > 0);  // statistics still come
    QVERIFY(QString::fromUtf8(read_bytes(out + "/report.html")).contains("skipped: --no-eval"));
  }

  void heldOutSliceFollowsTheCalibrationTokens() {
    const QString out = quantize("held-out", {"--eval-tokens", "700", "--eval-ctx", "256"});
    const json report = read_json(out + "/report.json");
    const json& ev = report["evaluation"];
    QCOMPARE(ev["status"].get<std::string>(), std::string("measured"));
    QCOMPARE(ev["text"]["first_token"].get<int64_t>(), int64_t(kCalibTokens));
    QCOMPARE(ev["text"]["tokens"].get<int64_t>(), int64_t(700));
    // 700 tokens in windows of 256: 256 + 256 + 188, each predicting all but its first token.
    QCOMPARE(report["end_to_end"]["windows"].get<int64_t>(), int64_t(3));
    QCOMPARE(report["end_to_end"]["tokens"].get<int64_t>(), int64_t(700 - 3));
  }
};

QTEST_GUILESS_MAIN(TestCliReport)
#include "tst_cli_report.moc"
