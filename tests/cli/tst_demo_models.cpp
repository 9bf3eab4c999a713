// The shipped demo models (resources/models/, trained by resources/training/train_demo.py) keep
// the promises the README makes for them: they open cleanly, their held-out perplexity on Moby
// Dick is at most half that of a unigram model on the same tokenizer (the figure recorded in
// resources/training/training-report.json), and greedy continuations are English words. The text
// comes from a Debian package through packaging/setup.sh; without it the perplexity test skips
// loudly.
#include <QRegularExpression>

#include "tests/cli/cli_test_util.h"

using namespace cli_test;

namespace {
const QString kResources = QStringLiteral(MAMBASCOPE_SOURCE_DIR "/resources");
}

class TestDemoModels : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  // The demo tokenizer, trained with HF tokenizers, gives HF's ids through our tokenizer
  // (cases from resources/training/make_tokenizer_check.py).
  void tokenizer_matches_hf() {
    json cases = read_json(kResources + "/training/tokenizer-check.json");
    QVERIFY(cases.size() >= 8);
    QTemporaryDir tmp;
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string text = cases[i]["text"];
      const QString file = tmp.path() + QString("/case%1.txt").arg(i);
      QVERIFY(write_bytes(file, QByteArray::fromStdString(text)));
      CliResult r = run_cli({"tokenize", kResources + "/models/demo-mamba", "--file", file, "--json"});
      QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
      const auto got = json::parse(r.out.toStdString())["ids"];
      QVERIFY2(got == cases[i]["ids"], qPrintable(QString("case %1 differs").arg(i)));
    }
  }

  void models_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("architecture");
    QTest::newRow("demo-mamba") << "demo-mamba" << "mamba";
    QTest::newRow("demo-mamba2") << "demo-mamba2" << "mamba2";
  }

  void models() {
    QFETCH(QString, name);
    QFETCH(QString, architecture);
    const QString dir = kResources + "/models/" + name;
    CliResult check = run_cli({"check", dir});
    QVERIFY2(check.exit_code == 0, qPrintable(check.describe()));
    CliResult info = run_cli({"info", dir, "--json"});
    QVERIFY2(info.exit_code == 0, qPrintable(info.describe()));
    json j = json::parse(info.out.toStdString());
    QCOMPARE(QString::fromStdString(j["architecture"]), architecture);
    QVERIFY(j["parameters"].get<int64_t>() > 2'000'000 && j["parameters"].get<int64_t>() < 10'000'000);
    QVERIFY(!j["tokenizer"].is_null());

    CliResult gen = run_cli({"generate", dir, "--prompt", "It is a truth universally acknowledged",
                             "-n", "30", "--device", "cpu"});
    QVERIFY2(gen.exit_code == 0, qPrintable(gen.describe()));
    const QString text = QString::fromUtf8(gen.out);
    const auto words = text.split(QRegularExpression("\\s+"), Qt::SkipEmptyParts);
    QVERIFY2(words.size() >= 15, qPrintable(text));
    int alphabetic = 0;
    for (const QString& w : words)
      alphabetic += QRegularExpression("^[\"'(]?[A-Za-z]+[.,;:!?\"')-]*$").match(w).hasMatch();
    QVERIFY2(alphabetic >= words.size() * 8 / 10, qPrintable(text));

    const QString moby = kResources + "/texts/moby-dick.txt";
    if (!QFileInfo::exists(moby))
      QSKIP("NO TEXT: resources/texts/moby-dick.txt missing (packaging/setup.sh extracts it)");
    json report = read_json(kResources + "/training/training-report.json");
    const double unigram = report["data"]["unigram_ppl_moby"].get<double>();
    CliResult ppl = run_cli({"perplexity", dir, "--file", moby, "--ctx", "1024", "--json",
                             "--device", "cpu"});
    QVERIFY2(ppl.exit_code == 0, qPrintable(ppl.describe()));
    const double value = json::parse(ppl.out.toStdString())["perplexity"].get<double>();
    QVERIFY2(value <= 0.5 * unigram, qPrintable(QString("perplexity %1, unigram %2").arg(value).arg(unigram)));
    // The training run measured the same text with bf16 Linears; fp32 here agrees within 1%.
    const double trained = report["models"][name.toStdString()]["moby_ppl_ctx1024"].get<double>();
    QVERIFY2(std::abs(value / trained - 1) < 0.01, qPrintable(QString("%1 vs %2").arg(value).arg(trained)));
  }
};

QTEST_GUILESS_MAIN(TestDemoModels)
#include "tst_demo_models.moc"
