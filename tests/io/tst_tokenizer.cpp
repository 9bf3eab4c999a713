// core/tokenizer against HF tokenizers 0.23.2: every case of tests/fixtures/tokenizer/cases.json
// (written by tests/fixtures/gen_tokenizer_fixtures.py) must give exactly HF's ids and decodes.
// Also: round trips, the cost of very long words, and the error messages.
#include <QtTest/QtTest>

#include <atomic>
#include <chrono>
#include <thread>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "core/util/error.h"

namespace {

const std::string kDir = std::string(MAMBASCOPE_FIXTURES) + "/tokenizer/";

std::string slice(const std::vector<int32_t>& v, std::size_t at) {
  std::ostringstream o;
  o << "[";
  const std::size_t b = at >= 3 ? at - 3 : 0;
  for (std::size_t i = b; i < std::min(v.size(), at + 5); ++i) o << (i > b ? " " : "") << v[i];
  o << "] (" << v.size() << " ids)";
  return o.str();
}

// Printable form of a text for failure messages: escapes control characters, cuts long ones.
std::string show(const std::string& s) {
  std::ostringstream o;
  for (std::size_t i = 0; i < std::min<std::size_t>(s.size(), 80); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) o << "\\x" << std::hex << int(c) << std::dec;
    else o << s[i];
  }
  if (s.size() > 80) o << "... (" << s.size() << " bytes)";
  return o.str();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ms::InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

}  // namespace

class TstTokenizer : public QObject {
  Q_OBJECT

 private:
  std::map<std::string, ms::Tokenizer> tokenizers_;
  const ms::Tokenizer& tokenizer(const std::string& file) {
    auto it = tokenizers_.find(file);
    if (it == tokenizers_.end()) it = tokenizers_.emplace(file, ms::Tokenizer::from_file(kDir + file)).first;
    return it->second;
  }

 private Q_SLOTS:
  void golden_ids_and_decodes() {
    std::ifstream in(kDir + "cases.json");
    QVERIFY2(in, "tests/fixtures/tokenizer/cases.json missing: run gen_tokenizer_fixtures.py");
    const auto doc = nlohmann::json::parse(in);
    std::size_t total = 0, failed = 0;
    std::map<std::string, std::pair<int, int>> per_file;  // file -> (passed, total)
    for (const auto& c : doc.at("cases")) {
      const std::string file = c.at("tokenizer");
      const std::string text = c.at("text");
      const auto expected = c.at("ids").get<std::vector<int32_t>>();
      const auto& tok = tokenizer(file);
      ++total;
      ++per_file[file].second;
      std::string why;
      const auto ids = tok.encode(text);
      if (ids != expected) {
        std::size_t at = 0;
        while (at < ids.size() && at < expected.size() && ids[at] == expected[at]) ++at;
        why = "ids differ at " + std::to_string(at) + ": ours " + slice(ids, at) + ", HF " +
              slice(expected, at);
      } else if (tok.decode(ids) != c.at("decode").get<std::string>()) {
        why = "decode differs: ours '" + show(tok.decode(ids)) + "'";
      } else if (tok.decode(ids, true) != c.at("decode_skip").get<std::string>()) {
        why = "decode(skip_special_tokens) differs: ours '" + show(tok.decode(ids, true)) + "'";
      }
      if (!why.empty()) {
        if (++failed <= 25) qWarning("%s '%s': %s", file.c_str(), show(text).c_str(), why.c_str());
        continue;
      }
      ++per_file[file].first;
    }
    for (const auto& [file, counts] : per_file)
      qInfo("%-20s %d/%d cases identical to HF", file.c_str(), counts.first, counts.second);
    QVERIFY2(total > 3000, "too few cases in cases.json");
    QVERIFY2(failed == 0, (std::to_string(failed) + " of " + std::to_string(total) +
                           " cases differ from HF tokenizers").c_str());
  }

  void character_classes_match_oniguruma() {
    // \s, \p{L} and \p{N} of the GPT-2 regex, as the Oniguruma inside HF tokenizers classifies
    // every code point (character_classes.json), against utf8proc plus our own tables.
    std::ifstream in(kDir + "character_classes.json");
    QVERIFY(in);
    const auto doc = nlohmann::json::parse(in);
    const std::pair<const char*, bool (*)(char32_t)> classes[] = {
        {"White_Space", ms::tok::is_white_space}, {"L", ms::tok::is_letter}, {"N", ms::tok::is_number}};
    for (const auto& [name, ours] : classes) {
      std::vector<bool> hf(0x110000, false);
      for (const auto& r : doc.at(name))
        for (uint32_t c = r.at(0); c <= r.at(1).get<uint32_t>(); ++c) hf[c] = true;
      int mismatches = 0;
      for (char32_t c = 0; c < 0x110000; ++c) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        if (ours(c) != hf[c] && ++mismatches <= 10)
          qWarning("%s: U+%04X is %s for Oniguruma, %s for us", name, unsigned(c),
                   hf[c] ? "in" : "out", ours(c) ? "in" : "out");
      }
      QVERIFY2(mismatches == 0, (std::string(name) + ": " + std::to_string(mismatches) +
                                 " code points classified unlike Oniguruma").c_str());
    }
  }

  void round_trip_of_nfc_text() {
    // Text already in NFC and without added tokens decodes back to itself.
    const auto& tok = tokenizer("neox_pairs.json");
    const std::vector<std::string> texts = {
        "", "hello world", "  \n  \t\t x   ", "caf\u00e9 na\u00efve", "\u6211\u4eec\u7684\u6a21\u578b",
        "\U0001F44D\U0001F3FD \U0001F468\u200D\U0001F469\u200D\U0001F467", std::string("\0\x01\x1f\x7f", 4),
        "\u0085\u2028\u00a0\u3000", "it's 'LL 42 3.14", std::string(3000, ' ') + "x",
        "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88"};
    for (const auto& t : texts) QCOMPARE(tok.decode(tok.encode(t)), t);
  }

  void long_words_are_not_quadratic() {
    // Budget: a 100k-character word in well under a second on a laptop core; 2 s leaves room for
    // sanitizer and debug builds. A quadratic merge would take minutes.
    constexpr double kBudgetSeconds = 2.0;
    const auto& tok = tokenizer("neox_pairs.json");
    std::string word;
    uint32_t state = 12345;
    for (int i = 0; i < 100000; ++i) {
      state = state * 1664525u + 1013904223u;
      word += char('a' + (state >> 16) % 26);
    }
    std::string glued;  // a real word repeated: many merges, all overlapping
    while (glued.size() < 100000) glued += "quantization";
    for (const std::string& t : {word, glued, std::string(100000, 'a'), std::string(100000, ' '),
                                 std::string(50000, '\t') + "x"}) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto ids = tok.encode(t);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      qInfo("%zu bytes -> %zu ids in %.3f s", t.size(), ids.size(), s);
      QVERIFY2(s < kBudgetSeconds, ("encode took " + std::to_string(s) + " s").c_str());
      QCOMPARE(tok.decode(ids), t);
    }
  }

  void concurrent_encodes_agree() {
    // encode is const and shares the BPE cache between threads; results must not depend on that.
    const auto& tok = tokenizer("neox_strings.json");
    std::vector<std::string> texts;
    for (int i = 0; i < 200; ++i)
      texts.push_back("word" + std::to_string(i) + " Mamba's state  \t caf\u00e9 " + std::to_string(i * 7919));
    std::vector<std::vector<int32_t>> expected;
    for (const auto& t : texts) expected.push_back(tok.encode(t));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k)
      threads.emplace_back([&, k] {
        for (int r = 0; r < 20; ++r)
          for (std::size_t i = (k * 37) % texts.size(), n = 0; n < texts.size();
               ++n, i = (i + 1) % texts.size())
            if (tok.encode(texts[i]) != expected[i]) ++mismatches;
      });
    for (auto& t : threads) t.join();
    QCOMPARE(mismatches.load(), 0);
  }

  void special_ids_and_sizes() {
    const auto& tok = tokenizer("neox_pairs.json");
    QCOMPARE(tok.eos_id(), std::optional<int32_t>(0));
    QCOMPARE(tok.bos_id(), std::optional<int32_t>(0));
    QCOMPARE(tok.token_to_id("<|padding|>"), std::optional<int32_t>(1));
    QCOMPARE(tok.id_to_token(0), std::optional<std::string>("<|endoftext|>"));
    QCOMPARE(tok.encode("a<|endoftext|>b").at(1), 0);
    // 23 NeoX space tokens (2..24 spaces) after the model's vocabulary.
    const auto spaces = tok.token_to_id(std::string(24, ' '));
    QVERIFY(spaces.has_value());
    QCOMPARE(tok.vocab_size(), std::size_t(*spaces + 23));
    QCOMPARE(tok.decode(std::vector<int32_t>{0, *spaces, 0}, true), std::string(24, ' '));
  }

  void lossy_decode_of_broken_bytes() {
    // "â" is the stand-in of byte 0xE2, the lead of a three-byte sequence: alone it is invalid
    // UTF-8 and decodes to U+FFFD, as String::from_utf8_lossy does.
    const auto& tok = tokenizer("neox_pairs.json");
    const auto lead = tok.token_to_id("\u00e2"), a = tok.token_to_id("a");
    QVERIFY(lead && a);
    QCOMPARE(tok.decode(std::vector<int32_t>{*lead, *a}), std::string("\xEF\xBF\xBD" "a"));
    QCOMPARE(tok.decode(std::vector<int32_t>{*a, *lead}), std::string("a\xEF\xBF\xBD"));
  }

  void invalid_utf8_names_the_byte() {
    const auto& tok = tokenizer("neox_pairs.json");
    const std::string src = tok.source();
    const std::vector<std::pair<std::string, int>> bad = {
        {"ab\xff" "cd", 2}, {"\x80", 0}, {"ok\xe2\x82", 2}, {"x\xed\xa0\x80", 1},  // surrogate
        {"\xc0\xaf", 0},                                                           // overlong
        {"abc\xf4\x90\x80\x80", 3},                                                // > U+10FFFF
        {"\xc3\xa9\xc3", 2}};
    for (const auto& [text, at] : bad)
      QCOMPARE(error_of([&] { tok.encode(text); }),
               src + ": text is not valid UTF-8 at byte " + std::to_string(at));
  }

  void decode_of_unknown_id_throws() {
    const auto& tok = tokenizer("neox_pairs.json");
    const auto n = int32_t(tok.vocab_size());
    QVERIFY(error_of([&] { tok.decode(std::vector<int32_t>{0, n}); }).find("not in the vocabulary") !=
            std::string::npos);
    QVERIFY(error_of([&] { tok.decode(std::vector<int32_t>{-1}); }).find("-1") != std::string::npos);
  }

  void load_errors_name_file_and_feature() {
    auto load = [](const std::string& json) {
      return error_of([&] { ms::Tokenizer::from_json(json, "mem.json"); });
    };
    auto has = [](const std::string& msg, const std::string& what) {
      if (msg.rfind("mem.json: ", 0) == 0 && msg.find(what) != std::string::npos) return true;
      qWarning("message '%s' lacks '%s'", msg.c_str(), what.c_str());
      return false;
    };
    const std::string bpe = R"("model":{"type":"BPE","vocab":{"a":0},"merges":[]})";
    const std::string bl = R"("pre_tokenizer":{"type":"ByteLevel"})";
    QVERIFY(has(load("{not json"), "invalid JSON"));
    QVERIFY(has(load("[1,2]"), "not a JSON object"));
    QVERIFY(has(load("{}"), "no \"model\""));
    QVERIFY(has(load(R"({"model":{"type":"WordPiece","vocab":{}}})"), "WordPiece"));
    QVERIFY(has(load(R"({"model":{"type":"Unigram","vocab":[]}})"), "Unigram"));
    QVERIFY(has(load("{" + bpe + R"(,"pre_tokenizer":{"type":"Metaspace"}})"), "Metaspace"));
    QVERIFY(has(load("{" + bpe + "," + bl + R"(,"normalizer":{"type":"BertNormalizer"}})"),
                "BertNormalizer"));
    QVERIFY(has(load("{" + bpe + "," + bl + R"(,"decoder":{"type":"WordPiece"}})"), "decoder"));
    QVERIFY(has(load("{" + bpe + R"(,"pre_tokenizer":{"type":"Sequence","pretokenizers":[)"
                     R"({"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"Isolated"},)"
                     R"({"type":"ByteLevel","use_regex":false}]}})"),
                "Split pattern"));
    QVERIFY(has(load(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]},)" + bl + "}"),
                "not in the vocabulary"));
    const std::string missing = kDir + "no_such_tokenizer.json";
    const auto msg = error_of([&] { ms::Tokenizer::from_file(missing); });
    QVERIFY2(msg.find(missing) != std::string::npos, msg.c_str());
    // A minimal valid file loads and encodes.
    const auto tok = ms::Tokenizer::from_json("{" + bpe + "," + bl + "}", "mem.json");
    QCOMPARE(tok.encode("aa"), (std::vector<int32_t>{0, 0}));
  }
};

QTEST_APPLESS_MAIN(TstTokenizer)
#include "tst_tokenizer.moc"
