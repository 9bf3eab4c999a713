// ZipReader over hand-built archives (classic and ZIP64 end records, comments with a decoy
// signature, padded local headers) and over a real torch.save file; every malformed field —
// counts, offsets, names, methods — refused with the file's name.
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "core/io/zip_reader.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {



void put(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void patch(std::string& s, std::size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

struct ZEntry {
  std::string name, data;
  uint16_t method = 0, flags = 0;
  uint16_t local_pad = 0;  // bytes of local extra field, as torch uses to align data
};

// A minimal zip writer (APPNOTE 4.3), CRCs left zero since the reader does not check them.
// zip64 = true saturates every classic field and writes ZIP64 extras and end records instead.
std::string build_zip(const std::vector<ZEntry>& entries, bool zip64 = false,
                      const std::string& comment = "") {
  std::string out, cd;
  for (const auto& e : entries) {
    const uint64_t offset = out.size();
    put(out, 0x04034b50, 4);
    put(out, 20, 2);
    put(out, e.flags, 2);
    put(out, e.method, 2);
    put(out, 0, 4);  // time, date
    put(out, 0, 4);  // crc
    put(out, e.data.size(), 4);
    put(out, e.data.size(), 4);
    put(out, e.name.size(), 2);
    put(out, e.local_pad, 2);
    out += e.name;
    if (e.local_pad >= 4) {
      put(out, 0x9999, 2);
      put(out, e.local_pad - 4, 2);
      out += std::string(e.local_pad - 4, '\0');
    } else {
      out += std::string(e.local_pad, '\0');
    }
    out += e.data;

    const uint64_t sat32 = zip64 ? 0xFFFFFFFF : 0;
    put(cd, 0x02014b50, 4);
    put(cd, 45, 2);
    put(cd, 45, 2);
    put(cd, e.flags, 2);
    put(cd, e.method, 2);
    put(cd, 0, 4);
    put(cd, 0, 4);
    put(cd, zip64 ? sat32 : e.data.size(), 4);
    put(cd, zip64 ? sat32 : e.data.size(), 4);
    put(cd, e.name.size(), 2);
    put(cd, zip64 ? 28 : 0, 2);
    put(cd, 0, 2);  // comment
    put(cd, 0, 2);  // disk
    put(cd, 0, 2);
    put(cd, 0, 4);
    put(cd, zip64 ? sat32 : offset, 4);
    cd += e.name;
    if (zip64) {
      put(cd, 1, 2);
      put(cd, 24, 2);
      put(cd, e.data.size(), 8);  // uncompressed
      put(cd, e.data.size(), 8);  // compressed
      put(cd, offset, 8);
    }
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const uint64_t rec = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, entries.size(), 8);
    put(out, entries.size(), 8);
    put(out, cd.size(), 8);
    put(out, cd_offset, 8);
    put(out, 0x07064b50, 4);
    put(out, 0, 4);
    put(out, rec, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, zip64 ? 0xFFFF : entries.size(), 2);
  put(out, zip64 ? 0xFFFF : entries.size(), 2);
  put(out, zip64 ? 0xFFFFFFFF : cd.size(), 4);
  put(out, zip64 ? 0xFFFFFFFF : cd_offset, 4);
  put(out, comment.size(), 2);
  return out + comment;
}

class Files {
 public:
  std::filesystem::path write(const std::string& name, const std::string& bytes) {
    const auto p = std::filesystem::path(dir_.path().toStdString()) / name;
    std::ofstream(p, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

 private:
  QTemporaryDir dir_;
};

std::string text_of(std::span<const std::byte> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

const std::vector<ZEntry> kTwo = {{"archive/data.pkl", "pickle bytes"},
                                  {"archive/data/0", std::string(16, 'w'), 0, 0, 37}};

}  // namespace

class TestZip : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void readsStoredEntries_data() {
    QTest::addColumn<bool>("zip64");
    QTest::addColumn<QString>("comment");
    QTest::newRow("classic") << false << "";
    QTest::newRow("zip64") << true << "";
    QTest::newRow("comment") << false << "a comment";
    // A fake end record inside the comment must not be taken for the real one.
    QTest::newRow("decoy in comment")
        << false << QString::fromLatin1("PK\x05\x06 decoy decoy decoy decoy!");
    QTest::newRow("zip64 + comment") << true << "zip64 comment";
  }
  void readsStoredEntries() {
    QFETCH(bool, zip64);
    QFETCH(QString, comment);
    Files files;
    const auto p = files.write("a.zip", build_zip(kTwo, zip64, comment.toLatin1().toStdString()));
    const ZipReader zip(MappedFile::open(p));
    QCOMPARE(zip.entries().size(), std::size_t(2));
    QCOMPARE(zip.entries()[1].name, std::string("archive/data/0"));
    QCOMPARE(text_of(zip.data(*zip.find("archive/data.pkl"))), std::string("pickle bytes"));
    QCOMPARE(text_of(zip.data(*zip.find("archive/data/0"))),
             std::string(16, 'w'));  // past the local pad
    QVERIFY(zip.find("archive/missing") == nullptr);
  }

  void readsTorchSaveArchive() {
    const ZipReader zip(MappedFile::open(kReaders / "state_dict.bin"));
    const ZipEntry* storage = zip.find("state_dict/data/0");
    QVERIFY(storage != nullptr);
    const auto bytes = zip.data(*storage);
    QCOMPARE(bytes.size(), std::size_t(80));  // 20 float32
    // torch.save pads local headers so that storages start 64-byte aligned in the file.
    QCOMPARE((bytes.data() - zip.file()->data()) % 64, std::ptrdiff_t(0));
    QVERIFY(zip.find("state_dict/data.pkl") != nullptr);
  }

  void emptyArchive() {
    Files files;
    const ZipReader zip(MappedFile::open(files.write("e.zip", build_zip({}))));
    QVERIFY(zip.entries().empty());
  }

  void refusesMalformed_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("problem");
    auto row = [](const char* name, const std::string& b, const char* problem) {
      QTest::newRow(name) << QByteArray(b.data(), static_cast<qsizetype>(b.size()))
                          << QString(problem);
    };
    const std::string good = build_zip(kTwo);
    const std::size_t eocd = good.size() - 22;
    const std::size_t cd = good.find(std::string("PK\x01\x02", 4));
    row("empty", "", "too short");
    row("random", std::string(300, 'r'), "no end-of-central-directory");
    row("truncated end", good.substr(0, good.size() - 3), "no end-of-central-directory");
    std::string b = good;
    patch(b, eocd + 10, 2000, 2);
    row("count too large", b, "2000 entries cannot fit");
    b = good;
    patch(b, eocd + 16, 0xFFFFFF00, 4);
    row("cd offset past end", b, "central directory lies outside");
    b = good;
    patch(b, eocd + 12, good.size(), 4);
    row("cd size past end", b, "central directory lies outside");
    b = good;
    patch(b, eocd + 4, 1, 2);
    row("multi-disk", b, "multi-disk");
    b = good;
    patch(b, cd, 0x12345678, 4);
    row("bad cd signature", b, "central directory entry 0 is malformed");
    b = good;
    patch(b, cd + 42, 0x7FFFFFFF, 4);
    row("local offset past end", b, "lies outside the file's data area");
    b = good;
    patch(b, cd + 20, 0x7FFFFFFF, 4);
    row("size past end", b, "lies outside the file's data area");
    b = good;
    patch(b, cd + 28, 0xFFFF, 2);
    row("name past cd", b, "runs past its end");
    b = good;
    patch(b, eocd + 10, 0xFFFF, 2);
    row("zip64 without locator", b, "ZIP64 locator is missing");
    std::string z = build_zip(kTwo, true);
    patch(z, z.size() - 22 - 20 + 8, z.size(), 8);
    row("zip64 record offset", z, "ZIP64 end record offset out of range");
    z = build_zip(kTwo, true);
    patch(z, z.size() - 22 - 20 - 56, 0, 4);
    row("zip64 record signature", z, "bad ZIP64 end record signature");
    for (const char* name :
         {"../evil", "/etc/passwd", "a/../../b", "a/..", "C:/x", "a\\b", "..", ""}) {
      row((std::string("name ") + name).c_str(), build_zip({{name, "x"}}), "unsafe entry name");
    }
    row("duplicate", build_zip({{"a/b", "1"}, {"a/b", "2"}}), "duplicate entry 'a/b'");
  }
  void refusesMalformed() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, problem);
    Files files;
    const auto p = files.write("bad.zip", bytes.toStdString());
    const QString msg = error_of([&] { ZipReader z(MappedFile::open(p)); });
    QVERIFY2(msg.startsWith(QString::fromStdString(p.string() + ": ")) && msg.contains(problem),
             qPrintable(msg));
  }

  void refusesUnreadableEntries() {
    Files files;
    std::vector<ZEntry> entries = {
        {"a/deflated", "xx", 8}, {"a/encrypted", "xx", 0, 1}, {"a/ok", "data"}};
    std::string bytes = build_zip(entries);
    const auto p = files.write("m.zip", bytes);
    const ZipReader zip(MappedFile::open(p));
    auto check = [&](const char* name, const char* problem) {
      const QString msg = error_of([&] { zip.data(*zip.find(name)); });
      QVERIFY2(msg.startsWith(QString::fromStdString(p.string() + ": ")) && msg.contains(problem),
               qPrintable(msg));
    };
    check("a/deflated", "compressed (method 8); only stored entries are supported");
    check("a/encrypted", "encrypted");
    QCOMPARE(text_of(zip.data(*zip.find("a/ok"))), std::string("data"));

    // A local header whose extra length pushes the data past the end of the file.
    std::string lying = build_zip({{"a/x", "data"}});
    patch(lying, 28, 0xFFFF, 2);
    const auto q = files.write("l.zip", lying);
    const ZipReader z2(MappedFile::open(q));
    const QString msg = error_of([&] { z2.data(z2.entries()[0]); });
    QVERIFY2(msg.startsWith(QString::fromStdString(q.string() + ": ")) &&
                 msg.contains("runs past the end"),
             qPrintable(msg));
    // A central entry pointing at something that is not a local header.
    std::string wrong = build_zip({{"a/x", "data"}});
    patch(wrong, 0, 0x11111111, 4);
    const auto r = files.write("w.zip", wrong);
    const ZipReader z3(MappedFile::open(r));
    QVERIFY(error_of([&] { z3.data(z3.entries()[0]); }).contains("bad local header for 'a/x'"));
  }
};

QTEST_APPLESS_MAIN(TestZip)
#include "tst_zip.moc"
