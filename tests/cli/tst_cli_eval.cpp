// `mambascope-cli eval` and `sweep`, run as a user would, on the tiny Mamba-1 and Mamba-2 fixtures:
//   - the float side of eval is exactly `perplexity`; with a W4 scheme from `quantize --format hf`
//     the quantized side is exactly `perplexity` of the exported checkpoint, and the per-weight
//     errors are those of quantize's report.json;
//   - with --hbits 4 (DSQ) the quantized perplexity is that of the logits of the independent torch
//     loop of tests/fixtures/gen_fq_fixtures.py (state quantized inside the recurrence);
//   - sweep ranks units by mean KL, most damaging first, and covers exactly the quantized points;
//   - bad usage is refused with one line.
#include "cli_test_util.h"

#include "core/io/npy.h"

#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <set>

using namespace cli_test;

namespace {

// Perplexity from logits [T, V] and ids, in fp64 (the contract's protocol for one window).
double perplexity_from_logits(const ms::NpyArray& logits, const json& ids) {
  const int64_t T = logits.shape[0], V = logits.shape[1];
  double nll = 0;
  for (int64_t t = 0; t + 1 < T; ++t) {
    const float* row = logits.data.data() + t * V;
    double mx = row[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
    nll -= double(row[ids[size_t(t + 1)].get<int64_t>()]) - mx - std::log(sum);
  }
  return std::exp(nll / double(T - 1));
}

}  // namespace

class TestCliEval : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  // The fixture's test text (expected.json), whose ids the Python loop ran on.
  QString text_of(const QString& model) {
    const QString file = tmp_.filePath(QFileInfo(model).fileName() + ".txt");
    if (!QFileInfo::exists(file))
      write_bytes(file, QByteArray::fromStdString(read_json(model + "/expected.json")["text"].get<std::string>()));
    return file;
  }

 private Q_SLOTS:
  // W4 RTN through quantize: eval's quantized perplexity is perplexity of the export; its float
  // perplexity is perplexity of the original; the weight errors are the report's.
  void weightsMatchTheExport() {
    for (const QString name : {"mamba1-hf", "mamba2-hf"}) {
      const QString model = model_dir(name), text = text_of(model);
      const QString out = tmp_.filePath(name + "-w4");
      const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits",
                                   "4", "--granularity", "group:4", "--asym", "--out", out});
      QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
      const json e = run_cli_json({"eval", model, "--scheme", out + "/mambascope.json", "--file", text, "--ctx", "32"});
      const json pf = run_cli_json({"perplexity", model, "--file", text, "--ctx", "32"});
      const json pq = run_cli_json({"perplexity", out, "--file", text, "--ctx", "32"});
      const json& ee = e["end_to_end"];
      QCOMPARE(ee["perplexity_float"].get<double>(), pf["perplexity"].get<double>());
      // The export went through safetensors and a second load; both paths compute in fp32 with the
      // same kernels on the same values.
      QVERIFY2(std::abs(ee["perplexity_quant"].get<double>() / pq["perplexity"].get<double>() - 1) < 1e-6,
               qPrintable(QString::number(ee["perplexity_quant"].get<double>(), 'g', 12) + " vs " +
                          QString::number(pq["perplexity"].get<double>(), 'g', 12)));
      QCOMPARE(ee["tokens"].get<int64_t>(), pf["tokens"].get<int64_t>());
      QVERIFY(ee["kl_mean"].get<double>() > 0);
      QVERIFY(ee["top1_agreement"].get<double>() < 1.0 + 1e-12);
      const json report = read_json(out + "/report.json");
      QCOMPARE(e["weights"].size(), report["weights"].size());
      for (size_t i = 0; i < report["weights"].size(); ++i) {
        QCOMPARE(e["weights"][i]["point"], report["weights"][i]["key"]);
        QCOMPARE(e["weights"][i]["mse"].get<double>(), report["weights"][i]["mse"].get<double>());
      }
      QCOMPARE(e["scheme"]["weights"]["bits"].get<int>(), 4);
      QCOMPARE(e["scheme"]["weights"]["group_size"].get<int>(), 4);
      QCOMPARE(e["scheme_text"].get<std::string>(), std::string("W4 group:4 asym rtn, A16, H16"));
    }
  }

  // H4 DSQ inside the recurrence vs the independent torch loop's logits, both families; the point
  // table has the state's error, and per-tensor H4 does more damage than DSQ here.
  void stateMatchesPython() {
    for (const QString name : {"mamba1-hf", "mamba2-hf"}) {
      const QString model = model_dir(name), text = text_of(model);
      const json ids = read_json(model + "/expected.json")["ids"];
      const ms::NpyArray py = ms::read_npy_f32(
          (fixtures() + "/fq/" + name.left(6) + "_h4_dsq.npy").toStdString());
      const double want = perplexity_from_logits(py, ids);
      const json e = run_cli_json({"eval", model, "--hbits", "4", "--file", text});
      const double got = e["end_to_end"]["perplexity_quant"].get<double>();
      qInfo("%s H4 DSQ perplexity: eval %.9g, Python loop %.9g", qPrintable(name), got, want);
      QVERIFY(std::abs(got / want - 1) < 1e-5);
      QCOMPARE(e["scheme"]["state"]["method"].get<std::string>(), std::string("dsq"));
      bool saw_state = false;
      for (const json& p : e["points"])
        if (p["point"] == "layers.1.ssm.state") {
          saw_state = true;
          QVERIFY(p["sqnr_db"].is_number() && p["mse"].get<double>() > 0);
        }
      QVERIFY(saw_state);
      const json t = run_cli_json({"eval", model, "--hbits", "4", "--state-method", "tensor", "--file", text,
                               "--no-point-metrics"});
      QVERIFY(t["points"].empty());
      qInfo("%s H4 KL mean: dsq %g, per tensor %g", qPrintable(name),
            e["end_to_end"]["kl_mean"].get<double>(), t["end_to_end"]["kl_mean"].get<double>());
    }
  }

  void textOutput() {
    const QString model = model_dir("mamba1-hf");
    const CliResult r = run_cli({"eval", model, "--hbits", "6", "--abits", "8", "--file", text_of(model),
                                 "--device", "cpu"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const QString out = QString::fromUtf8(r.out);
    QVERIFY(out.contains("scheme: W16, A8 dynamic token, H6 dsq abs.mean.sqrt"));
    QVERIFY(out.contains("perplexity: float "));
    QVERIFY(out.contains("KL(float || quantized) per token: mean "));
    QVERIFY(out.contains("top-1 agreement: "));
    QVERIFY(out.contains("layers.1.out_proj.input"));
  }

  // Units cover exactly the quantized points and come most damaging first.
  void sweepRanks() {
    const QString model = model_dir("mamba1-hf"), text = text_of(model);
    const json byLayer = run_cli_json({"sweep", model, "--hbits", "4", "--state-method", "tensor", "--file", text});
    QCOMPARE(byLayer["units"].size(), size_t(2));
    const QString out = tmp_.filePath("sweep-w4");
    QCOMPARE(run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits", "4", "--out", out}).exit_code, 0);
    const json byPoint = run_cli_json({"sweep", model, "--scheme", out + "/mambascope.json", "--hbits", "4",
                                   "--file", text, "--by", "point"});
    // 2 layers x (in_proj, x_proj, dt_proj, out_proj weights + the state).
    QCOMPARE(byPoint["units"].size(), size_t(10));
    std::set<std::string> names;
    double last = INFINITY;
    for (const json& u : byPoint["units"]) {
      names.insert(u["unit"].get<std::string>());
      const double kl = u["kl_mean"].get<double>();
      QVERIFY(kl <= last);
      QVERIFY(kl > 0);
      last = kl;
      QCOMPARE(u["perplexity_float"].get<double>(), byPoint["perplexity_float"].get<double>());
    }
    QVERIFY(names.count("layers.0.in_proj.weight") && names.count("layers.1.ssm.state"));
    QCOMPARE(byPoint["units"][0]["rank"].get<int>(), 1);
  }

  void refusals() {
    const QString model = model_dir("mamba1-hf"), text = text_of(model);
    auto refused = [&](const QStringList& args, int code, const QString& needle) {
      const CliResult r = run_cli(args + QStringList{"--device", "cpu"});
      QVERIFY2(r.exit_code == code && one_line(r.err) && QString::fromUtf8(r.err).contains(needle),
               qPrintable(r.describe()));
    };
    refused({"eval", model, "--file", text}, 2, "give --scheme");
    const QString bad = tmp_.filePath("bad.json");
    write_bytes(bad, "{ not json");
    refused({"eval", model, "--scheme", bad, "--file", text}, 1, bad + ": is not valid JSON");
    const QString awq = tmp_.filePath("awq.json");
    write_json(awq, json{{"methods", {"awq", "rtn"}}, {"weights", {{"method", "rtn"}, {"bits", 4}}}});
    refused({"eval", model, "--scheme", awq, "--file", text}, 1, awq + ": methods names an unknown method 'awq'");
    const QString wrong = tmp_.filePath("wrong.json");
    write_json(wrong, json{{"state", {{"bits", 4}, {"method", "minmax"}}}});
    refused({"eval", model, "--scheme", wrong, "--file", text}, 1, "state.method");
    refused({"eval", model, "--abits", "8", "--act-scale", "static", "--act-granularity", "tensor",
             "--file", text}, 2, "--stats");
    refused({"eval", model, "--abits", "8", "--act-scale", "static", "--file", text}, 2,
            "--act-granularity tensor");
    refused({"sweep", model, "--hbits", "16", "--file", text}, 2, "quantizes nothing");
  }
};

QTEST_GUILESS_MAIN(TestCliEval)
#include "tst_cli_eval.moc"
