// `mambascope-cli --help` lists every command on one line: packaging/make-man.sh takes the command
// names from the first word of each line under "Subcommands:" (a two-line summary once broke the
// package build with "unknown command 'Example:'"), and every command's own --help must work.
#include "cli_test_util.h"

using namespace cli_test;

class TestCliHelp : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void every_command_is_one_line_with_its_own_help() {
    const CliResult top = run_cli({"--help"});
    QVERIFY2(top.exit_code == 0, qPrintable(top.describe()));
    const QStringList lines = QString::fromUtf8(top.out).split('\n');
    const qsizetype start = lines.indexOf(QStringLiteral("Subcommands:"));
    QVERIFY2(start >= 0, qPrintable(top.describe()));
    QStringList commands;
    for (qsizetype i = start + 1; i < lines.size() && !lines[i].trimmed().isEmpty(); ++i) {
      // A command line is "  name   summary"; a continuation would start with blanks only.
      QVERIFY2(lines[i].startsWith(QStringLiteral("  ")) && !lines[i].startsWith(QStringLiteral("   ")),
               qPrintable("not one line per command: '" + lines[i] + "'"));
      commands << lines[i].trimmed().section(' ', 0, 0);
    }
    for (const char* must : {"info", "calibrate", "quantize", "eval", "sweep", "bench", "check", "preview"})
      QVERIFY2(commands.contains(QString::fromLatin1(must)), qPrintable(commands.join(' ')));
    for (const QString& c : commands) {
      const CliResult r = run_cli({c, "--help"});
      QVERIFY2(r.exit_code == 0 && r.out.contains("Usage:"), qPrintable(c + ": " + r.describe()));
    }
  }
};

QTEST_GUILESS_MAIN(TestCliHelp)
#include "tst_cli_help.moc"
