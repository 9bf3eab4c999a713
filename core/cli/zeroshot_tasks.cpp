#include "core/cli/zeroshot_tasks.h"

#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

namespace {

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

TaskItem parse_item(const json& j, TaskKind& kind, bool first, const std::function<void(const std::string&)>& fail) {
  if (!j.is_object()) fail("not a JSON object");
  TaskItem item;
  TaskKind this_kind = TaskKind::Lambada;  // fail() throws on every path that leaves it unset
  if (j.contains("text")) {
    this_kind = TaskKind::Lambada;
    if (!j["text"].is_string()) fail("\"text\" is not a string");
    const std::string text = j["text"].get<std::string>();
    const size_t space = text.rfind(' ');
    if (space == std::string::npos || space + 1 == text.size() || space == 0)
      fail("\"text\" needs a context, a space and a last word");
    item.context = text.substr(0, space);
    item.choices = {text.substr(space + 1)};
  } else if (j.contains("context") || j.contains("choices") || j.contains("label")) {
    this_kind = TaskKind::MultipleChoice;
    for (const char* key : {"context", "choices", "label"})
      if (!j.contains(key)) fail(std::string("missing \"") + key + "\"");
    if (!j["context"].is_string()) fail("\"context\" is not a string");
    if (!j["choices"].is_array() || j["choices"].empty()) fail("\"choices\" is not a non-empty array");
    if (!j["label"].is_number_integer()) fail("\"label\" is not an integer");
    item.context = j["context"].get<std::string>();
    for (const json& c : j["choices"]) {
      if (!c.is_string() || c.get<std::string>().empty()) fail("every choice must be a non-empty string");
      item.choices.push_back(c.get<std::string>());
    }
    item.label = j["label"].get<int64_t>();
    if (item.label < 0 || item.label >= static_cast<int64_t>(item.choices.size()))
      fail("label " + std::to_string(item.label) + " is out of range (" + std::to_string(item.choices.size()) +
           " choices)");
  } else {
    fail("needs \"text\" (LAMBADA style) or \"context\", \"choices\" and \"label\" (multiple choice)");
  }
  if (first) kind = this_kind;
  else if (kind != this_kind) fail("mixes LAMBADA-style and multiple-choice items");
  return item;
}

}  // namespace

std::string continuation_text(const std::string& choice) {
  return !choice.empty() && choice[0] == ' ' ? choice : " " + choice;
}

TaskFile read_task_file(const std::filesystem::path& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot read the task file");
  TaskFile t;
  t.path = path;
  t.name = path.stem().string();
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (blank(line)) continue;
    const auto fail = [&](const std::string& problem) {
      throw InputError(path.string(), "line " + std::to_string(number) + ": " + problem);
    };
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      fail("not valid JSON");
    }
    TaskItem item = parse_item(j, t.kind, t.items.empty(), fail);
    item.line = number;
    t.items.push_back(std::move(item));
    if (limit > 0 && static_cast<int64_t>(t.items.size()) >= limit) break;
  }
  if (in.bad()) throw InputError(path.string(), "read error");
  if (t.items.empty()) throw InputError(path.string(), "no items");
  return t;
}

std::vector<Request> task_requests(const TaskFile& task, const Tokenizer& tok, int32_t bos, int32_t eot) {
  std::vector<Request> out;
  for (size_t i = 0; i < task.items.size(); ++i) {
    const TaskItem& item = task.items[i];
    std::vector<int32_t> context = tok.encode(item.context);
    if (context.empty()) {
      if (eot < 0)
        throw InputError(task.path.string(), "line " + std::to_string(item.line) +
                                                 ": empty context and the tokenizer has no end-of-text token");
      context = {eot};
    }
    if (bos >= 0) context.insert(context.begin(), bos);
    for (size_t c = 0; c < item.choices.size(); ++c) {
      Request r{i, c, context, context.size()};
      const std::vector<int32_t> cont = tok.encode(continuation_text(item.choices[c]));
      if (cont.empty())
        throw InputError(task.path.string(), "line " + std::to_string(item.line) + ": a continuation has no tokens");
      r.ids.insert(r.ids.end(), cont.begin(), cont.end());
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace ms::cli
