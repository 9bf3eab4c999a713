// The shipped demo models (resources/models/, trained by resources/training/train_demo.py) keep
// the promises the README makes for them: they open cleanly, greedy continuations are English
// words, and on held-out text (the opening of Moby Dick) our engine's perplexity equals HF
// transformers' (tests/fixtures/gen_demo_ppl.py, committed in tests/fixtures/cli/demo-ppl.json)
// and is at most half that of a unigram model on the same tokenizer (the figure the training
// report records for the whole book). The whole book is 410 k tokens, ten minutes a model on our
// CPU: the training report holds that figure, the test a 30 kB slice. The text comes from a Debian
// package through packaging/setup.sh; without it the perplexity test skips loudly.
#include <QCryptographicHash>
#include <QRegularExpression>

#include "tests/cli/cli_test_util.h"

using namespace cli_test;

namespace {
const QString kResources = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources"));
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

    QFile moby(kResources + "/texts/moby-dick.txt");
    if (!moby.open(QIODevice::ReadOnly))
      QSKIP("NO TEXT: resources/texts/moby-dick.txt missing (packaging/setup.sh extracts it)");
    const json reference = read_json((QString::fromUtf8(MAMBASCOPE_FIXTURES) + QStringLiteral("/cli/demo-ppl.json")));
    // The reference's slice: up to and including the first newline at or after byte cut_at.
    const QByteArray book = moby.readAll();
    const qsizetype newline = book.indexOf('\n', reference["cut_at"].get<qsizetype>());
    QVERIFY(newline > 0);
    const QByteArray slice = book.left(newline + 1);
    QCOMPARE(slice.size(), reference["slice_bytes"].get<qsizetype>());
    QVERIFY2(QCryptographicHash::hash(slice, QCryptographicHash::Sha256).toHex().toStdString() ==
                 reference["sha256"].get<std::string>(),
             "resources/texts/moby-dick.txt differs from the text the reference was measured on");
    QTemporaryDir tmp;
    const QString file = tmp.path() + "/moby-opening.txt";
    QVERIFY(write_bytes(file, slice));
    CliResult ppl = run_cli({"perplexity", dir, "--file", file, "--ctx", "1024", "--json", "--device", "cpu"});
    QVERIFY2(ppl.exit_code == 0, qPrintable(ppl.describe()));
    const json got = json::parse(ppl.out.toStdString());
    const json& want = reference["models"][name.toStdString()];
    QCOMPARE(got["text_tokens"].get<int64_t>(), want["tokens"].get<int64_t>());  // our tokenizer = HF's
    QCOMPARE(got["tokens"].get<int64_t>(), want["predicted"].get<int64_t>());    // the same windows
    const double value = got["perplexity"].get<double>(), hf = want["perplexity"].get<double>();
    // fp32 both; they agree to 3e-9 (our scan against HF's sequential PyTorch reference).
    QVERIFY2(std::abs(value / hf - 1) < 1e-6, qPrintable(QString("perplexity %1, HF %2").arg(value, 0, 'g', 9).arg(hf, 0, 'g', 9)));
    const double unigram = read_json(kResources + "/training/training-report.json")["data"]["unigram_ppl_moby"].get<double>();
    QVERIFY2(value <= 0.5 * unigram, qPrintable(QString("perplexity %1, unigram %2").arg(value).arg(unigram)));
  }
};

QTEST_GUILESS_MAIN(TestDemoModels)
#include "tst_demo_models.moc"
