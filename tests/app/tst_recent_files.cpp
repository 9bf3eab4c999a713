// RecentFiles: newest first, one entry per file however it is spelled, limited, persisted.
#include <QTemporaryDir>
#include <QtTest>

#include "app/recent_files.h"

using ms::app::RecentFiles;

class TestRecentFiles : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void orderDedupLimitAndPersistence() {
    QTemporaryDir dir;
    const QString ini = dir.filePath(QStringLiteral("settings.ini"));
    {
      QSettings settings(ini, QSettings::IniFormat);
      RecentFiles recent(&settings, 3);
      recent.add(QStringLiteral("/models/a"));
      recent.add(QStringLiteral("/models/b/"));
      recent.add(QStringLiteral("/models/c"));
      recent.add(QStringLiteral("/models/./a"));   // same as /models/a: moves to the front
      QCOMPARE(recent.paths(), (QStringList{"/models/a", "/models/c", "/models/b"}));
      recent.add(QStringLiteral("/models/d"));     // over the limit: the oldest goes
      QCOMPARE(recent.paths(), (QStringList{"/models/d", "/models/a", "/models/c"}));
      recent.remove(QStringLiteral("/models/a/"));
      QCOMPARE(recent.paths(), (QStringList{"/models/d", "/models/c"}));
    }
    QSettings reread(ini, QSettings::IniFormat);
    RecentFiles recent(&reread, 3);
    QCOMPARE(recent.paths(), (QStringList{"/models/d", "/models/c"}));
    recent.clear();
    QVERIFY(recent.paths().isEmpty());
  }

  void relativePathsBecomeAbsolute() {
    QTemporaryDir dir;
    QSettings settings(dir.filePath(QStringLiteral("s.ini")), QSettings::IniFormat);
    RecentFiles recent(&settings);
    recent.add(QStringLiteral("relative/model"));
    QCOMPARE(recent.paths().size(), 1);
    QVERIFY(QDir::isAbsolutePath(recent.paths().first()));
    QVERIFY(recent.paths().first().endsWith(QStringLiteral("/relative/model")));
  }
};

QTEST_GUILESS_MAIN(TestRecentFiles)
#include "tst_recent_files.moc"
