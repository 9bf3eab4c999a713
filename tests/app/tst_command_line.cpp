// The command line of `mambascope`: defaults, every option, and one-line usage errors.
#include <QtTest>

#include "app/command_line.h"

using ms::app::parseCommandLine;

class TestCommandLine : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void defaults() {
    const auto cl = parseCommandLine({"mambascope"});
    QVERIFY(cl.error.isEmpty());
    QVERIFY(cl.model.isEmpty());
    QCOMPARE(cl.view, QStringLiteral("structure"));
    QCOMPARE(cl.size, QSize(1400, 900));
    QVERIFY(!cl.help && !cl.version);
    QVERIFY(cl.helpText.contains(QStringLiteral("Usage: mambascope")));
    QVERIFY(cl.helpText.contains(QStringLiteral("--screenshot <file>")));
  }

  void screenshotMode() {
    const auto cl = parseCommandLine({"mambascope", "/m", "--screenshot", "/tmp/s.png", "--view", "structure",
                                      "--size", "1000x700", "--select", "layers.3.out_proj.input"});
    QVERIFY2(cl.error.isEmpty(), qPrintable(cl.error));
    QCOMPARE(cl.model, QStringLiteral("/m"));
    QCOMPARE(cl.screenshot, QStringLiteral("/tmp/s.png"));
    QCOMPARE(cl.size, QSize(1000, 700));
    QCOMPARE(cl.select, QStringLiteral("layers.3.out_proj.input"));
  }

  void channelMaximaWithStats() {
    const auto cl = parseCommandLine({"mambascope", "/m", "--view", "channel-maxima", "--stats", "/s.safetensors",
                                      "--layer", "3", "--screenshot", "/tmp/c.png"});
    QVERIFY2(cl.error.isEmpty(), qPrintable(cl.error));
    QCOMPARE(cl.view, QStringLiteral("channel-maxima"));
    QCOMPARE(cl.stats, QStringLiteral("/s.safetensors"));
    QCOMPARE(cl.layer, 3);
    QCOMPARE(parseCommandLine({"mambascope", "/m"}).layer, -1);
  }

  void statisticsViewsCalibrateWithoutStats() {
    // No --stats: the statistics views calibrate in the app, on the flags' text, tokens and device.
    const auto cl = parseCommandLine({"mambascope", "/m", "--view", "state-heatmap", "--text", "/t.txt", "--max-tokens",
                                      "4096", "--device", "cpu", "--tokenizer", "/tok.json", "--screenshot", "/s.png"});
    QVERIFY2(cl.error.isEmpty(), qPrintable(cl.error));
    QCOMPARE(cl.view, QStringLiteral("state-heatmap"));
    QCOMPARE(cl.text, QStringLiteral("/t.txt"));
    QCOMPARE(cl.maxTokens, 4096);
    QCOMPARE(cl.device, QStringLiteral("cpu"));
    QCOMPARE(cl.tokenizer, QStringLiteral("/tok.json"));
    QVERIFY(cl.stats.isEmpty());
    for (const char* view : {"channel-maxima", "state-heatmap", "distributions"}) {
      QVERIFY(parseCommandLine({"mambascope", "/m", "--view", view}).error.isEmpty());
      QVERIFY(ms::app::viewNeedsStats(QString::fromLatin1(view)));
    }
    QVERIFY(!ms::app::viewNeedsStats(QStringLiteral("structure")));
    // The error view previews on its own batch (requant-serve): no calibration first.
    QVERIFY(parseCommandLine({"mambascope", "/m", "--view", "error"}).error.isEmpty());
    QVERIFY(!ms::app::viewNeedsStats(QStringLiteral("error")));
    QCOMPARE(parseCommandLine({"mambascope", "/m"}).maxTokens, 0);  // 0: the app's default
  }

  void helpAndVersion() {
    QVERIFY(parseCommandLine({"mambascope", "--help"}).help);
    QVERIFY(parseCommandLine({"mambascope", "-h"}).help);
    QVERIFY(parseCommandLine({"mambascope", "--version"}).version);
  }

  void defaultModelWhenNoneGiven() {
    QCOMPARE(parseCommandLine({"mambascope"}, "/demo").model, QStringLiteral("/demo"));
    const auto shot = parseCommandLine({"mambascope", "--screenshot", "/tmp/s.png"}, "/demo");
    QVERIFY2(shot.error.isEmpty(), qPrintable(shot.error));
    QCOMPARE(shot.model, QStringLiteral("/demo"));
    QCOMPARE(parseCommandLine({"mambascope", "/m"}, "/demo").model, QStringLiteral("/m"));
  }

  void usageErrors_data() {
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("unknown view") << QStringList{"mambascope", "/m", "--view", "heatmap"} << "heatmap";
    QTest::newRow("bad size") << QStringList{"mambascope", "/m", "--size", "big"} << "--size";
    QTest::newRow("bad point") << QStringList{"mambascope", "/m", "--select", "layers.x.in_proj"} << "--select";
    QTest::newRow("screenshot without model") << QStringList{"mambascope", "--screenshot", "/tmp/s.png"} << "MODEL";
    QTest::newRow("two models") << QStringList{"mambascope", "/a", "/b"} << "one MODEL";
    QTest::newRow("bad token count") << QStringList{"mambascope", "/m", "--max-tokens", "0"} << "--max-tokens";
    QTest::newRow("bad device") << QStringList{"mambascope", "/m", "--device", "tpu"} << "--device";
    QTest::newRow("bad layer") << QStringList{"mambascope", "/m", "--layer", "-2"} << "--layer";
    QTest::newRow("unknown option") << QStringList{"mambascope", "--frobnicate"} << "frobnicate";
  }
  void usageErrors() {
    QFETCH(QStringList, arguments);
    QFETCH(QString, mentions);
    const auto cl = parseCommandLine(arguments);
    QVERIFY2(cl.error.contains(mentions), qPrintable(cl.error));
    QVERIFY(!cl.error.contains(QLatin1Char('\n')));
  }
};

QTEST_GUILESS_MAIN(TestCommandLine)
#include "tst_command_line.moc"
