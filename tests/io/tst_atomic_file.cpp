// AtomicFile: commit publishes the whole content, the temporary is anonymous until then, an
// uncommitted writer leaves nothing (no target, no temporary), a missing directory and a file-size limit (EFBIG, SIGXFSZ ignored) give one-line
// InputErrors naming the target.
#include <sys/resource.h>

#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <fstream>

#include "core/io/atomic_file.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {



int entries_in(const std::filesystem::path& d) {
  return static_cast<int>(std::distance(std::filesystem::directory_iterator(d), {}));
}

}  // namespace

class TestAtomicFile : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void commitPublishesContent() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    const auto target = d / "out.bin";
    {
      AtomicFile f(target);
      f.write("hello ");
      QVERIFY(!std::filesystem::exists(target));  // nothing visible before commit
      QCOMPARE(entries_in(d), 0);                 // the temporary is anonymous (O_TMPFILE)
      const std::string big(1 << 20, 'x');
      f.write(big.data(), big.size());
      f.commit();
    }
    const std::string got = read_all(target);
    QCOMPARE(got.size(), std::size_t(6 + (1 << 20)));
    QCOMPARE(got.substr(0, 6), std::string("hello "));
    QCOMPARE(entries_in(d), 1);
  }

  // The temporary lives in the target's directory (so rename(2) stays atomic) without a name: a
  // writer killed outright leaves nothing (tests/cli/tst_cli_faults.cpp kills one). The kernel
  // shows such a file as "<dir>/#<inode> (deleted)" among our descriptors.
  void temporaryIsAnonymousAndBesideTarget() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    AtomicFile f(d / "name.txt");
    f.write("x");
    QCOMPARE(entries_in(d), 0);
    int beside = 0;
    const std::string prefix = std::filesystem::canonical(d).string() + "/#";
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const std::string link = std::filesystem::read_symlink(fd.path(), ec).string();
      if (!ec && link.rfind(prefix, 0) == 0) ++beside;
    }
    QCOMPARE(beside, 1);
  }

  void destructorWithoutCommitRemovesTemporary() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    {
      AtomicFile f(d / "never.bin");
      f.write("partial");
    }
    QCOMPARE(entries_in(d), 0);
  }

  void commitReplacesExistingFileAndOthersStayIntact() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    write_file_atomic(d / "f.txt", "old content");
    {
      AtomicFile f(d / "f.txt");
      f.write("new");
      // An abandoned rewrite leaves the old file as it was.
    }
    QCOMPARE(read_all(d / "f.txt"), std::string("old content"));
    write_file_atomic(d / "f.txt", "new");
    QCOMPARE(read_all(d / "f.txt"), std::string("new"));
    QCOMPARE(entries_in(d), 1);
  }

  void twoWritersToOneTargetDoNotCollide() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    AtomicFile a(d / "t.txt");
    AtomicFile b(d / "t.txt");  // distinct temporaries (pid + counter)
    a.write("A");
    b.write("B");
    a.commit();
    b.commit();
    QCOMPARE(read_all(d / "t.txt"), std::string("B"));
    QCOMPARE(entries_in(d), 1);
  }

  void missingDirectoryIsNamed() {
    QTemporaryDir dir;
    const auto missing = std::filesystem::path(dir.path().toStdString()) / "no" / "such";
    const QString msg = error_of([&] { AtomicFile f(missing / "x.bin"); });
    QCOMPARE(msg, QString::fromStdString(missing.string() + ": output directory does not exist"));
  }

  void fileSizeLimitIsAnErrorNotASignal() {
    // RLIMIT_FSIZE makes write(2) fail with EFBIG once past the limit; the default SIGXFSZ action
    // would kill this process, so surviving this test is half of the assertion.
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    const auto target = d / "big.bin";
    rlimit old{};
    QCOMPARE(getrlimit(RLIMIT_FSIZE, &old), 0);
    rlimit small = old;
    small.rlim_cur = 4096;
    QCOMPARE(setrlimit(RLIMIT_FSIZE, &small), 0);
    const QString msg = error_of([&] {
      AtomicFile f(target);
      const std::string chunk(100000, 'z');
      f.write(chunk.data(), chunk.size());
      f.commit();
    });
    QCOMPARE(setrlimit(RLIMIT_FSIZE, &old), 0);
    QCOMPARE(msg,
             QString::fromStdString(target.string() + ": write failed: " + std::strerror(EFBIG)));
    QCOMPARE(entries_in(d), 0);  // temporary removed, no target
  }

  void writeAfterFailureOrCommitThrows() {
    QTemporaryDir dir;
    const auto target = std::filesystem::path(dir.path().toStdString()) / "w.bin";
    AtomicFile f(target);
    f.write("x");
    f.commit();
    const QString msg = error_of([&] { f.write("more"); });
    QVERIFY2(msg.startsWith(QString::fromStdString(target.string() + ": write failed")),
             qPrintable(msg));
    QCOMPARE(read_all(target), std::string("x"));
  }

  void emptyContentIsAValidFile() {
    QTemporaryDir dir;
    const auto target = std::filesystem::path(dir.path().toStdString()) / "empty";
    write_file_atomic(target, "");
    QVERIFY(std::filesystem::exists(target));
    QCOMPARE(std::filesystem::file_size(target), std::uintmax_t(0));
  }
};

QTEST_APPLESS_MAIN(TestAtomicFile)
#include "tst_atomic_file.moc"
