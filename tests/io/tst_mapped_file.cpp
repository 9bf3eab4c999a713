// MappedFile and release_mapped_pages (issue 9's peak-memory fix): released pages of a mapping read
// back the file's bytes, and memory that is not a mapping of ours is never touched (MADV_DONTNEED on
// ordinary memory would zero it: a transform pipeline once lost its weights that way).
#include <unistd.h>

#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/io/mapped_file.h"

using namespace ms;

class TestMappedFile : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void releasedPagesReadBackFromTheFile() {
    QTemporaryDir dir;
    const std::filesystem::path file = dir.filePath("w.bin").toStdString();
    std::vector<unsigned char> bytes(std::size_t(3) << 20);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 131 + 7);
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto m = MappedFile::open(file);
    QCOMPARE(m->size(), bytes.size());
    QVERIFY(std::memcmp(m->data(), bytes.data(), bytes.size()) == 0);  // every page resident now
    release_mapped_pages(m->data() + 100, bytes.size() - 200);         // unaligned ends
    QVERIFY(std::memcmp(m->data(), bytes.data(), bytes.size()) == 0);  // paged back in, same bytes
  }

  void ordinaryMemoryIsNeverTouched() {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> heap(64 * page, 0xAB);
    release_mapped_pages(heap.data(), heap.size());
    QCOMPARE(std::count(heap.begin(), heap.end(), 0xAB), static_cast<long>(heap.size()));
  }

  void aRangeReachingPastAMappingIsLeftAlone() {
    QTemporaryDir dir;
    const std::filesystem::path file = dir.filePath("small.bin").toStdString();
    const std::string text(std::size_t(1) << 16, 'm');
    std::ofstream(file, std::ios::binary) << text;
    auto m = MappedFile::open(file);
    release_mapped_pages(m->data(), m->size() * 2);  // not wholly inside: no advice at all
    QVERIFY(std::memcmp(m->data(), text.data(), text.size()) == 0);
  }
};

QTEST_GUILESS_MAIN(TestMappedFile)
#include "tst_mapped_file.moc"
