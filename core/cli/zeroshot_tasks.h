// Zero-shot task files for `mambascope-cli zeroshot`, and the log-likelihood requests they make,
// following lm-evaluation-harness's definitions (lambada_openai; multiple-choice acc / acc_norm).
//
// A task file is JSON Lines, one item a line, all of one kind (blank lines skipped):
//   LAMBADA style:    {"text": "...full passage..."}
//       context = the text before its last space, continuation = " " + the last word.
//   multiple choice:  {"context": "...", "choices": ["...", "..."], "label": 1}
//       one continuation per choice: " " + choice (lm-eval's target delimiter; a choice that
//       already starts with a space is used as it is).
// Tokenization: context and continuation are tokenized separately and their ids concatenated
// (the context with --add-bos if given); an empty context becomes the end-of-text token, as in
// lm-eval.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace ms::cli {

enum class TaskKind { Lambada, MultipleChoice };

struct TaskItem {
  int64_t line = 0;                  // 1-based line in the file
  std::string context;
  std::vector<std::string> choices;  // LAMBADA: the one target word
  int64_t label = 0;                 // LAMBADA: 0
};

struct TaskFile {
  std::string name;  // the file's stem
  std::filesystem::path path;
  TaskKind kind = TaskKind::Lambada;
  std::vector<TaskItem> items;
};

// Reads and validates a task file; at most `limit` items (0: all). Bad input (not JSON, missing
// or mistyped keys, empty choices, label out of range, kinds mixed, no items) throws InputError
// "FILE: line N: problem".
TaskFile read_task_file(const std::filesystem::path& path, int64_t limit);

// One continuation to score: ids = context ids then continuation ids.
struct Request {
  size_t item = 0, choice = 0;
  std::vector<int32_t> ids;
  size_t context_len = 0;  // the continuation is ids[context_len..]
};

// The requests of every item and choice, in order. `bos`: prepend this id to each context
// (--add-bos), -1 for none; `eot` stands in for an empty context (-1: an empty context is an error).
std::vector<Request> task_requests(const TaskFile& task, const Tokenizer& tok, int32_t bos, int32_t eot);

// The continuation text of a choice (with the target delimiter).
std::string continuation_text(const std::string& choice);

}  // namespace ms::cli
