// The restricted unpickler on its own: values from Python's pickler (protocols 2..5, bytes kept as
// hex with the Python expression that made them), shared and cyclic memo references, every
// refused opcode and malformed length, limits, and each prefix / byte flip of torch's data.pkl.
#include <QtTest>
#include <random>

#include "core/io/unpickler.h"
#include "core/io/zip_reader.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {

const std::string kWhere = "test.pkl";


std::vector<std::byte> from_hex(const char* hex) {
  std::vector<std::byte> out;
  for (const char* p = hex; p[0] && p[1]; p += 2)
    out.push_back(static_cast<std::byte>(std::stoi(std::string(p, 2), nullptr, 16)));
  return out;
}
std::vector<std::byte> from_text(const std::string& s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}
PickleDocument load(const std::vector<std::byte>& b, const UnpickleLimits& limits = {}) {
  return unpickle(b, kWhere, limits);
}

// pickle.dumps({'a':1,'b':1.5,'c':None,'d':True,'e':[1,2],'f':-300,'g':-5,'h':b'xy','i':(1,2,3),
//               'j':'\u00e9','k':2**40,'l':-2**63,'m':False,'n':65535,'o':()}, protocol=P)
const char* const kValuesP3 =
    "80037d71002858010000006171014b015801000000627102473ff800000000000058010000006371034e5801000000"
    "6471048858010000"
    "006571055d7106284b014b026558010000006671074ad4feffff58010000006771084afbffffff5801000000687109"
    "43027879710a5801"
    "00000069710b4b014b024b0387710c58010000006a710d5802000000c3a9710e58010000006b710f8a060000000000"
    "015801000000"
    "6c71108a08000000000000008058010000006d71118958010000006e71124dffff58010000006f711329752e";
const char* const kValuesP4 =
    "80049589000000000000007d94288c0161944b018c016294473ff80000000000008c0163944e8c016494888c016594"
    "5d94284b014b02"
    "658c0166944ad4feffff8c0167944afbffffff8c01689443027879948c0169944b014b024b0387948c016a948c02c3"
    "a9948c016b948a"
    "060000000000018c016c948a0800000000000000808c016d94898c016e944dffff8c016f9429752e";
const char* const kValuesP5 =
    "80059589000000000000007d94288c0161944b018c016294473ff80000000000008c0163944e8c016494888c016594"
    "5d94284b014b02"
    "658c0166944ad4feffff8c0167944afbffffff8c01689443027879948c0169944b014b024b0387948c016a948c02c3"
    "a9948c016b948a"
    "060000000000018c016c948a0800000000000000808c016d94898c016e944dffff8c016f9429752e";

// A string literal with its embedded NULs (std::string(const char*) would stop at the first).
template <std::size_t N>
std::string L(const char (&s)[N]) {
  return std::string(s, N - 1);
}

const std::string kOd =
    "\x80\x02"
    "ccollections\nOrderedDict\n";  // pushes the allowed global

}  // namespace

class TestUnpickler : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void valuesFromPython_data() {
    QTest::addColumn<QString>("hex");
    QTest::newRow("protocol 3") << kValuesP3;
    QTest::newRow("protocol 4") << kValuesP4;
    QTest::newRow("protocol 5") << kValuesP5;
  }
  void valuesFromPython() {
    QFETCH(QString, hex);
    const auto bytes = from_hex(hex.toLatin1().constData());
    const PickleDocument doc = load(bytes);
    const PickleValue& r = doc.root();
    QCOMPARE(r.kind, PickleKind::Dict);
    QCOMPARE(r.entries.size(), std::size_t(15));
    QCOMPARE(r.get("a")->integer, int64_t(1));
    QCOMPARE(r.get("b")->kind, PickleKind::Float);
    QCOMPARE(r.get("b")->real, 1.5);
    QCOMPARE(r.get("c")->kind, PickleKind::None);
    QCOMPARE(r.get("d")->boolean, true);
    QCOMPARE(r.get("m")->kind, PickleKind::Bool);
    QCOMPARE(r.get("m")->boolean, false);
    const PickleValue* e = r.get("e");
    QCOMPARE(e->kind, PickleKind::List);
    QCOMPARE(e->items.size(), std::size_t(2));
    QCOMPARE(e->items[1]->integer, int64_t(2));
    QCOMPARE(r.get("f")->integer, int64_t(-300));
    QCOMPARE(r.get("g")->integer, int64_t(-5));
    QCOMPARE(r.get("h")->kind, PickleKind::Bytes);
    QCOMPARE(r.get("h")->text, std::string("xy"));
    QCOMPARE(r.get("i")->kind, PickleKind::Tuple);
    QCOMPARE(r.get("i")->items[2]->integer, int64_t(3));
    QCOMPARE(r.get("j")->text, std::string("\xc3\xa9"));  // UTF-8 kept as bytes
    QCOMPARE(r.get("k")->integer, int64_t(1) << 40);
    QCOMPARE(r.get("l")->integer, INT64_MIN);
    QCOMPARE(r.get("n")->integer, int64_t(65535));
    QCOMPARE(r.get("o")->items.size(), std::size_t(0));
    QVERIFY(r.get("zz") == nullptr);
  }

  void negativeLong1IsSignExtended() {
    // LONG1 of 6 bytes 00 00 00 00 00 ff = -2**40
    const PickleDocument doc = load(from_text(L("\x80\x02\x8a\x06\0\0\0\0\0\xff.")));
    QCOMPARE(doc.root().integer, -(int64_t(1) << 40));
    QCOMPARE(load(from_text(L("\x80\x02\x8a\x00."))).root().integer, int64_t(0));
  }

  void memoSharesAndCyclesAreSafe() {
    // x = [1]; pickle.dumps([x, x], protocol=2): both items are the same node.
    const PickleDocument shared = load(from_hex("80025d7100285d71014b01616801652e"));
    QCOMPARE(shared.root().items.size(), std::size_t(2));
    QCOMPARE(shared.root().items[0], shared.root().items[1]);
    // l = []; l.append(l): a cycle through the memo; held in the arena, so no leak, no crash.
    const PickleDocument cyc = load(from_hex("80025d71006800612e"));
    QCOMPARE(cyc.root().items.size(), std::size_t(1));
    QCOMPARE(cyc.root().items[0], &cyc.root());
  }

  void repeatedKeyReplacesLikePython() {
    // {} then SETITEM 'a'=1, SETITEM 'a'=2  -> {'a': 2}
    const PickleDocument d = load(from_text(L("\x80\x02}X\x01\0\0\0aK\x01sX\x01\0\0\0aK\x02s.")));
    QCOMPARE(d.root().entries.size(), std::size_t(1));
    QCOMPARE(d.root().get("a")->integer, int64_t(2));
  }

  void deepNestingDoesNotRecurse() {
    // 100000 nested lists: [[[...]]] built with EMPTY_LIST x N then APPEND x (N-1).
    const int n = 100000;
    std::string s = "\x80\x02" + std::string(n, ']') + std::string(n - 1, 'a') + ".";
    const PickleDocument d = load(from_text(s));
    QCOMPARE(d.root().kind, PickleKind::List);
  }

  void refuses_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("problem");
    auto row = [](const char* name, const std::string& b, const char* problem) {
      QTest::newRow(name) << QByteArray(b.data(), static_cast<qsizetype>(b.size()))
                          << QString(problem);
    };
    row("empty input", L(""), "truncated");
    row("no STOP", L("\x80\x02N"), "truncated");
    row("STOP on empty stack", L("\x80\x02."), "STOP with an empty stack");
    row("protocol 6", L("\x80\x06N."), "pickle protocol 6 not supported");
    row("os.system GLOBAL",
        L("\x80\x02"
          "cos\nsystem\n."),
        "refused global 'os.system'");
    row("posix.system GLOBAL",
        L("\x80\x02"
          "cposix\nsystem\n."),
        "refused global 'posix.system'");
    row("builtins.getattr",
        L("\x80\x02"
          "cbuiltins\ngetattr\n."),
        "refused global 'builtins.getattr'");
    row("torch.load",
        L("\x80\x02"
          "ctorch\nload\n."),
        "refused global 'torch.load'");
    row("lookalike module",
        L("\x80\x02"
          "ctorch._utils._rebuild_tensor_v2\nx\n."),
        "refused global");
    row("STACK_GLOBAL", L("\x80\x04\x8c\x02os\x8c\x06system\x93."), "refused global 'os.system'");
    row("STACK_GLOBAL non-str", std::string("\x80\x04K\x01K\x02\x93.", 8),
        "STACK_GLOBAL of non-strings");
    row("GLOBAL unterminated",
        L("\x80\x02"
          "ccollections\nOrderedDict"),
        "unterminated GLOBAL line");
    row("NEWOBJ", kOd + ")\x81.", "opcode NEWOBJ refused");
    row("NEWOBJ_EX", kOd + ")}\x92.", "opcode NEWOBJ_EX refused");
    row("INST", L("\x80\x02(icollections\nOrderedDict\n."), "opcode INST refused");
    row("OBJ", "\x80\x02(" + kOd.substr(2) + "o.", "opcode OBJ refused");
    row("EXT1", L("\x80\x02\x82\x01."), "extension registry opcodes refused");
    row("PERSID", L("\x80\x02P0\n."), "text persistent ids refused");
    row("text INT", L("\x80\x02I1\n."), "unsupported opcode 0x49");
    row("BUILD on list",
        L("\x80\x02]N"
          "b."),
        "BUILD on a non-dict refused");
    row("REDUCE non-global", L("\x80\x02X\x01\0\0\0a)R."), "REDUCE on a non-global refused");
    row("REDUCE args not tuple", kOd + "]R.", "REDUCE arguments are not a tuple");
    row("rebuild arg count",
        L("\x80\x02"
          "ctorch._utils\n_rebuild_tensor_v2\n)R."),
        "expects 6 or 7 arguments");
    row("rebuild non-storage",
        L("\x80\x02"
          "ctorch._utils\n_rebuild_tensor_v2\n(NK\x00)))\x89}tR."),
        "not a storage");
    row("param of non-tensor",
        L("\x80\x02"
          "ctorch._utils\n_rebuild_parameter\nN\x88}\x87R."),
        "data is not a tensor");
    row("APPEND to dict",
        L("\x80\x02}N"
          "a."),
        "APPEND on a non-list refused");
    row("APPENDS to dict",
        L("\x80\x02}(N"
          "e."),
        "APPENDS on a non-list refused");
    row("SETITEM on list",
        L("\x80\x02]NN"
          "s."),
        "SETITEM on a non-dict refused");
    row("SETITEMS odd",
        L("\x80\x02}(N"
          "u."),
        "SETITEMS with an odd number");
    row("DICT odd",
        L("\x80\x02(N"
          "d."),
        "DICT with an odd number");
    row("TUPLE without MARK", L("\x80\x02Nt."), "no MARK");
    row("POP empty",
        L("\x80\x02"
          "0."),
        "stack underflow");
    row("pop below MARK", L("\x80\x02N(a."), "stack underflow");
    row("TUPLE2 underflow", L("\x80\x02N\x86."), "stack underflow");
    row("memo get undefined", L("\x80\x02h\x05."), "memo key 5 not defined");
    row("BINUNICODE 4 GB",
        L("\x80\x02X\xff\xff\xff\xff"
          "abc."),
        "exceeds the remaining input");
    row("BINUNICODE8 2^62", std::string("\x80\x04\x8d\0\0\0\0\0\0\0\x40.", 12),
        "exceeds the remaining input");
    row("BINBYTES8 huge", std::string("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xff", 11),
        "exceeds the remaining input");
    row("LONG1 9 bytes",
        L("\x80\x02\x8a\x09"
          "123456789."),
        "integer wider than 64 bits");
    row("LONG4 huge", L("\x80\x02\x8b\xff\xff\xff\xff."), "integer wider than 64 bits");
    row("FRAME truncated", L("\x80\x04\x95\x01\x00"), "truncated");
    row("persid not tuple", L("\x80\x02NQ."), "persistent id is not a 5-tuple");
    row("persid not storage", L("\x80\x02(X\x01\0\0\0xNNNNtQ."), "is not a 'storage'");
    row("persid bad type",
        L("\x80\x02(X\x07\0\0\0storage"
          "ccollections\nOrderedDict\nX\x01\0\0\0"
          "0"
          "X\x03\0\0\0cpuK\x01tQ."),
        "names no torch storage type");
    row("persid negative numel",
        L("\x80\x02(X\x07\0\0\0storage"
          "ctorch\nFloatStorage\nX\x01\0\0\0"
          "0"
          "X\x03\0\0\0cpuJ\xff\xff\xff\xfftQ."),
        "numel is not a non-negative integer");
  }
  void refuses() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, problem);
    const QString msg = error_of([&] { load(from_text(bytes.toStdString())); });
    QVERIFY2(msg.startsWith(QString::fromStdString(kWhere + ": pickle offset ")) &&
                 msg.contains(problem),
             qPrintable(msg));
    QVERIFY(!msg.contains('\n'));
  }

  void limitsAreEnforced() {
    UnpickleLimits small;
    small.max_memo = 2;
    small.max_stack = 3;
    QVERIFY(error_of([&] {
              load(from_text("\x80\x02Nq\x01q\x02q\x03."), small);
            }).contains("memo larger than the limit"));
    QVERIFY(error_of([&] {
              load(from_text("\x80\x02NNNN."), small);
            }).contains("stack deeper than the limit"));
    QVERIFY(error_of([&] { load(from_text("\x80\x02((((."), small); }).contains("too many MARKs"));
    UnpickleLimits few;
    few.max_nodes = 3;
    QVERIFY(error_of([&] {
              load(from_text("\x80\x02N0N0N0N0."), few);
            }).contains("more values than the limit"));
    // Re-putting the same memo key is not growth.
    QCOMPARE(load(from_text("\x80\x02Nq\x01q\x01q\x01."), small).root().kind, PickleKind::None);
  }

  void torchDataPklPrefixesAndFlips() {
    const ZipReader zip(MappedFile::open(kReaders / "state_dict.bin"));
    const auto span = zip.data(*zip.find("state_dict/data.pkl"));
    const std::vector<std::byte> full(span.begin(), span.end());
    const PickleDocument doc = load(full);
    QCOMPARE(doc.root().kind, PickleKind::Dict);
    QCOMPARE(doc.root().entries.size(), std::size_t(7));
    const PickleValue* emb = doc.root().get("backbone.embedding.weight");
    QCOMPARE(emb->kind, PickleKind::Tensor);
    QCOMPARE(emb->tensor.size, (std::vector<int64_t>{5, 4}));
    QCOMPARE(emb->tensor.stride, (std::vector<int64_t>{4, 1}));
    QCOMPARE(emb->tensor.storage->storage.key, std::string("0"));
    QCOMPARE(emb->tensor.storage->storage.numel, int64_t(20));
    QCOMPARE(emb->tensor.storage->storage.location, std::string("cpu"));
    QCOMPARE(doc.root().get("backbone.layers.0.mixer.D")->tensor.storage_offset, int64_t(4));
    QCOMPARE(doc.root().get("backbone.layers.0.mixer.A_log")->tensor.storage->storage.dtype,
             DType::BF16);
    // The tied head is the very same tensor node (memo BINGET).
    QCOMPARE(doc.root().get("lm_head.weight"), emb);

    for (std::size_t n = 0; n < full.size(); ++n) {
      const std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      const QString msg = error_of([&] { load(cut); });
      QVERIFY2(msg.startsWith(QString::fromStdString(kWhere)),
               qPrintable(QString("prefix %1: %2").arg(n).arg(msg)));
    }
    std::mt19937 rng(7);
    for (int iter = 0; iter < 5000; ++iter) {
      std::vector<std::byte> m = full;
      for (int f = 0; f < 1 + static_cast<int>(rng() % 3); ++f)
        m[rng() % m.size()] = static_cast<std::byte>(rng() & 0xff);
      const QString msg = error_of([&] { load(m); });
      QVERIFY2(!msg.startsWith("WRONG"), qPrintable(msg));
    }
  }
};

QTEST_APPLESS_MAIN(TestUnpickler)
#include "tst_unpickler.moc"
