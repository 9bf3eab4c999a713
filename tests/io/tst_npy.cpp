// .npy: files written by numpy read to exact values ('<f4', '<f8' converted, 0-d); our writer's
// header is 64-byte aligned and numpy reads it back; unsupported and corrupt files are refused
// with the file's name; MappedFile maps an empty file.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "core/io/mapped_file.h"
#include "core/io/npy.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {

const std::filesystem::path kNpy = std::filesystem::path(MAMBASCOPE_FIXTURES) / "readers" / "npy";



}  // namespace

class TestNpy : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void readsNumpyFiles() {
    const NpyArray a = read_npy_f32(kNpy / "f4_2x3.npy");
    QCOMPARE(a.shape, (std::vector<int64_t>{2, 3}));
    QCOMPARE(a.data, (std::vector<float>{-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f}));
    const NpyArray b = read_npy_f32(kNpy / "f8_4.npy");
    QCOMPARE(b.shape, (std::vector<int64_t>{4}));
    QCOMPARE(b.data, (std::vector<float>{1.0f, -2.5f, static_cast<float>(1e-3), 3.0e38f}));
    const NpyArray c = read_npy_f32(kNpy / "f4_scalar.npy");
    QVERIFY(c.shape.empty());
    QCOMPARE(c.data, std::vector<float>{7.5f});
  }

  void writerHeaderIsAligned_data() {
    QTest::addColumn<QList<qint64>>("shape");
    QTest::newRow("2x3") << QList<qint64>{2, 3};
    QTest::newRow("1-d") << QList<qint64>{5};
    QTest::newRow("0-d") << QList<qint64>{};
    QTest::newRow("empty") << QList<qint64>{0, 7};
    QTest::newRow("4-d") << QList<qint64>{1, 2, 3, 4};
  }
  void writerHeaderIsAligned() {
    QFETCH(QList<qint64>, shape);
    std::vector<int64_t> s(shape.begin(), shape.end());
    int64_t n = 1;
    for (auto d : s) n *= d;
    std::vector<float> data(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(i) * 0.5f - 3.0f;
    QTemporaryDir dir;
    const auto file = std::filesystem::path(dir.path().toStdString()) / "x.npy";
    write_npy_f32(file, data.data(), s);
    const std::string bytes = read_all(file);
    QCOMPARE(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    const std::size_t hlen =
        static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    QCOMPARE((10 + hlen) % 64, std::size_t(0));
    QCOMPARE(bytes[10 + hlen - 1], '\n');
    QCOMPARE(bytes.size(), 10 + hlen + 4 * data.size());
    const NpyArray back = read_npy_f32(file);
    QCOMPARE(back.shape, s);
    QCOMPARE(back.data, data);
  }

  void writtenFileLoadsInNumpy() {
    const QString py = QString::fromUtf8(MAMBASCOPE_PYTHON);
    if (py.isEmpty() || !QFileInfo::exists(py))
      QSKIP("MAMBASCOPE_PYTHON not set: numpy cross-check skipped");
    QTemporaryDir dir;
    const auto one = std::filesystem::path(dir.path().toStdString()) / "one.npy";
    const auto two = std::filesystem::path(dir.path().toStdString()) / "two.npy";
    const float v[6] = {1.5f, -2.0f, 0.25f, 8.0f, 0.0f, -1.0f};
    write_npy_f32(one, v, {5});
    write_npy_f32(two, v, {3, 2});
    QProcess p;
    p.start(py, {"-c",
                 "import sys, numpy as np; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]);"
                 "print(a.dtype, a.shape, a.tolist(), b.shape, b.tolist())",
                 QString::fromStdString(one.string()), QString::fromStdString(two.string())});
    QVERIFY(p.waitForFinished(60000));
    QVERIFY2(p.exitCode() == 0, qPrintable(p.readAllStandardError()));
    QCOMPARE(QString::fromUtf8(p.readAllStandardOutput()).trimmed(),
             QStringLiteral("float32 (5,) [1.5, -2.0, 0.25, 8.0, 0.0] (3, 2) [[1.5, -2.0], [0.25, "
                            "8.0], [0.0, -1.0]]"));
  }

  void refusesUnsupportedFiles_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("problem");
    QTest::newRow("fortran") << "fortran.npy"
                             << "Fortran-order";
    QTest::newRow("big endian") << "big_endian.npy"
                                << "unsupported dtype '>f4'";
    QTest::newRow("int32") << "int32.npy"
                           << "unsupported dtype '<i4'";
    QTest::newRow("absent") << "absent.npy"
                            << "cannot open";
  }
  void refusesUnsupportedFiles() {
    QFETCH(QString, file);
    QFETCH(QString, problem);
    const auto path = kNpy / file.toStdString();
    const QString msg = error_of([&] { read_npy_f32(path); });
    QVERIFY2(msg.startsWith(QString::fromStdString(path.string())) && msg.contains(problem),
             qPrintable(msg));
  }

  void refusesCorruptFiles_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("problem");
    const std::string good = read_all(kNpy / "f4_2x3.npy");
    auto row = [](const char* name, const std::string& b, const char* problem) {
      QTest::newRow(name) << QByteArray(b.data(), static_cast<qsizetype>(b.size()))
                          << QString(problem);
    };
    row("empty", "", "bad magic");
    row("bad magic", "\x93NUMPX" + good.substr(6), "bad magic");
    row("version 9", good.substr(0, 6) + "\x09" + good.substr(7), "unsupported .npy version 9");
    row("header past end", good.substr(0, 8) + "\xff\xff" + good.substr(10, 20),
        "header length exceeds");
    row("truncated data", good.substr(0, good.size() - 1),
        "data is 23 bytes but the shape needs 24");
    row("extra data", good + "x", "data is 25 bytes");
    row("no header", good.substr(0, 9), "bad magic");
    std::string huge = good;
    const auto pos = huge.find("(2, 3)");
    huge.replace(pos, 6, "(99999999999999999999, 3)");
    huge[8] = static_cast<char>(huge.size() - good.size() + static_cast<unsigned char>(good[8]));
    row("huge dim", huge, "dimension too large");
    std::string neg = good;
    neg.replace(neg.find("(2, 3)"), 6, "(-2, 3)");
    row("negative dim", neg, "non-negative integer");
  }
  void refusesCorruptFiles() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, problem);
    QTemporaryDir dir;
    const auto path = std::filesystem::path(dir.path().toStdString()) / "bad.npy";
    write_all(path, bytes.toStdString());
    const QString msg = error_of([&] { read_npy_f32(path); });
    QVERIFY2(msg.startsWith(QString::fromStdString(path.string())) && msg.contains(problem),
             qPrintable(msg));
  }

  void writerRefusesBadShape() {
    QTemporaryDir dir;
    const auto path = std::filesystem::path(dir.path().toStdString()) / "bad.npy";
    const float v = 1.0f;
    const QString msg = error_of([&] { write_npy_f32(path, &v, {-1}); });
    QVERIFY2(msg.startsWith(QString::fromStdString(path.string())) && msg.contains("bad shape"),
             qPrintable(msg));
    QVERIFY(!std::filesystem::exists(path));
  }

  void mappedFileHandlesEmptyAndDirectories() {
    QTemporaryDir dir;
    const auto empty = std::filesystem::path(dir.path().toStdString()) / "empty";
    write_all(empty, "");
    const auto m = MappedFile::open(empty);
    QCOMPARE(m->size(), std::size_t(0));
    QCOMPARE(m->path(), empty);
    const auto d = std::filesystem::path(dir.path().toStdString());
    const QString msg = error_of([&] { MappedFile::open(d); });
    QCOMPARE(msg, QString::fromStdString(d.string() + ": cannot open: not a regular file"));
  }
};

QTEST_APPLESS_MAIN(TestNpy)
#include "tst_npy.moc"
