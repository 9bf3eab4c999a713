// tokenizer.json normalizers (see normalizer.h).
#include "core/tokenizer/normalizer.h"

#include <nlohmann/json.hpp>

#include "core/tokenizer/unicode.h"
#include "core/util/error.h"

namespace ms::tok {

Normalizer Normalizer::from_json(const nlohmann::json& j, const std::string& source) {
  Normalizer n;
  if (!j.is_null()) n.add(j, source);
  return n;
}

void Normalizer::add(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw InputError(source, "normalizer without a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      throw InputError(source, "normalizer Sequence without a \"normalizers\" list");
    for (const auto& sub : j["normalizers"]) add(sub, source);
  } else if (type == "NFC") {
    steps_.push_back(Step::NFC);
  } else if (type == "NFD") {
    steps_.push_back(Step::NFD);
  } else if (type == "NFKC") {
    steps_.push_back(Step::NFKC);
  } else if (type == "NFKD") {
    steps_.push_back(Step::NFKD);
  } else if (type == "Lowercase") {
    steps_.push_back(Step::Lowercase);
  } else {
    throw InputError(source, "unsupported normalizer '" + type + "'");
  }
}

std::string Normalizer::apply(std::string_view s) const {
  std::string out(s);
  for (Step step : steps_) {
    switch (step) {
      case Step::NFC: out = normalize(out, NormalForm::NFC); break;
      case Step::NFD: out = normalize(out, NormalForm::NFD); break;
      case Step::NFKC: out = normalize(out, NormalForm::NFKC); break;
      case Step::NFKD: out = normalize(out, NormalForm::NFKD); break;
      case Step::Lowercase: out = lowercase(out); break;
    }
  }
  return out;
}

}  // namespace ms::tok
