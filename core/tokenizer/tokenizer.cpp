// HF tokenizer.json byte-level BPE (see tokenizer.h). The pipeline is HF's encode with
// add_special_tokens=False:
//   added-token split (raw) -> normalize each piece -> added-token split (normalized)
//   -> ByteLevel pre-tokenization of the plain pieces -> BPE of each word.
// The post-processor is not run: with add_special_tokens=False neither ByteLevel nor a template
// adds ids. "truncation" and "padding" of the file are ignored: callers get every id.
#include "core/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/tokenizer/added_vocab.h"
#include "core/tokenizer/bpe.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/unicode.h"
#include "core/util/error.h"

namespace ms {

namespace {
// Token strings from the file go into messages verbatim; a token may hold a newline, and an error
// is one line (found by tests/fuzz/fuzz_tokenizer_json). Control bytes become \xNN.
std::string one_line(std::string_view msg) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (const char c : msg) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += std::string("\\x") + hex[u >> 4] + hex[u & 15];
    else out += c;
  }
  return out;
}
}  // namespace

struct Tokenizer::Impl {
  std::string source;
  tok::Normalizer normalizer;
  tok::PreTokenizer pre_tokenizer;
  tok::BpeModel model;
  tok::AddedVocabulary added;
  bool byte_level_decoder = true;  // false: no decoder, tokens joined with spaces (HF's default)
  std::optional<int32_t> eos, bos;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) throw InputError(tokenizer_json.string(), "cannot open tokenizer file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(tokenizer_json.string(), "cannot read tokenizer file");
  return from_json(text.str(), tokenizer_json.string());
}

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text.begin(), json_text.end());
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e9999
    throw InputError(source, std::string("not a tokenizer.json (invalid JSON): ") + e.what());
  }
  // A field of the wrong JSON type deep inside (a number where a flag belongs) throws from the
  // JSON library; say so in one line naming the file (found by tests/fuzz/fuzz_tokenizer_json).
  try {
    if (!j.is_object()) throw InputError(source, "not a tokenizer.json (not a JSON object)");
    if (!j.contains("model") || j["model"].is_null())
      throw InputError(source, "not a tokenizer.json (no \"model\")");

    auto value = [&](const char* key) { return j.contains(key) ? j[key] : nlohmann::json(); };
    // Model first: its errors ("WordPiece is not supported") say the most.
    auto model = tok::BpeModel::from_json(j["model"], source);
    auto normalizer = tok::Normalizer::from_json(value("normalizer"), source);
    auto pre_tokenizer = tok::PreTokenizer::from_json(value("pre_tokenizer"), source);
    auto impl = std::unique_ptr<Impl>(new Impl{source, std::move(normalizer), std::move(pre_tokenizer),
                                               std::move(model), {}, true, {}, {}});
    impl->added = tok::AddedVocabulary::from_json(value("added_tokens"), impl->model,
                                                  impl->normalizer, source);

    const auto decoder = value("decoder");
    if (decoder.is_null()) {
      impl->byte_level_decoder = false;
    } else if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
      throw InputError(source, "unsupported decoder '" +
                                   (decoder.is_object() ? decoder.value("type", "?") : "?") +
                                   "' (only ByteLevel is supported)");
    }

    for (const char* name : {"<|endoftext|>", "</s>", "<eos>"})
      if (!impl->eos) impl->eos = impl->added.special_id(name);
    for (const char* name : {"<s>", "<bos>", "<|startoftext|>", "<|begin_of_text|>"})
      if (!impl->bos) impl->bos = impl->added.special_id(name);
    // GPT-NeoX declares one <|endoftext|> for both ends.
    if (!impl->bos) impl->bos = impl->added.special_id("<|endoftext|>");
    return Tokenizer(std::move(impl));
  } catch (const InputError& e) {
    throw InputError("", one_line(e.what()));
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (const auto at = what.find("] "); at != std::string::npos) what.erase(0, at + 2);
    throw InputError(source, "malformed tokenizer.json: " + what);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view utf8_text) const {
  if (const auto bad = tok::utf8_first_invalid(utf8_text); bad != std::string_view::npos)
    throw InputError(impl_->source, "text is not valid UTF-8 at byte " + std::to_string(bad));
  std::vector<int32_t> ids;
  std::vector<std::string> words;
  for (const auto& piece : impl_->added.split(utf8_text, impl_->normalizer)) {
    if (piece.id) {
      ids.push_back(*piece.id);
      continue;
    }
    words.clear();
    impl_->pre_tokenizer.split(piece.text, words);
    for (const auto& w : words) impl_->model.tokenize(w, ids);
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    const std::string* token = impl_->added.id_to_token(id);
    if (!token) token = impl_->model.id_to_token(id);
    if (!token)
      throw InputError(impl_->source, "id " + std::to_string(id) + " is not in the vocabulary (size " +
                                          std::to_string(vocab_size()) + ")");
    if (skip_special_tokens && impl_->added.is_special(*token)) continue;
    if (!impl_->byte_level_decoder) {
      if (!first) bytes += ' ';
      bytes += *token;
    } else if (!tok::byte_level_decode(*token, bytes)) {
      bytes += *token;  // not made of byte stand-ins (an added token): its text as it is
    }
    first = false;
  }
  return impl_->byte_level_decoder ? tok::utf8_lossy(bytes) : bytes;
}

std::size_t Tokenizer::vocab_size() const {
  return std::size_t(std::max(impl_->model.max_id(), impl_->added.max_id()) + 1);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const auto* t = impl_->added.id_to_token(id)) return *t;
  if (const auto* t = impl_->model.id_to_token(id)) return *t;
  return std::nullopt;
}

std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
const std::string& Tokenizer::source() const { return impl_->source; }

}  // namespace ms
