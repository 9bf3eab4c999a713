// serve_json_lines (see json_lines_server.h).
#include "core/cli/json_lines_server.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <exception>

#include "core/cli/requant_common.h"
#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

namespace {

// Whole lines from stdin: blocks for the first when none is buffered, then takes whatever else
// has already arrived without waiting. Returns false at end of input with nothing left.
class LineReader {
 public:
  bool read_available(std::deque<std::string>& lines) {
    bool block = true;
    for (;;) {
      if (!block) {
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP))) break;
      }
      char buf[65536];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        break;
      }
      partial_.append(buf, size_t(n));
      size_t start = 0;
      for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(partial_.substr(start, nl - start));
      partial_.erase(0, start);
      block = lines.empty();
    }
    if (eof_ && !partial_.empty()) {  // a last line without its newline still counts
      lines.push_back(partial_);
      partial_.clear();
    }
    return !lines.empty() || !eof_;
  }

 private:
  std::string partial_;
  bool eof_ = false;
};

}  // namespace

void emit_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  if (line.empty() || line.back() != '\n') std::fputc('\n', stdout);
  std::fflush(stdout);
}

void serve_json_lines(const JsonLineHandler& handle) {
  LineReader reader;
  std::deque<std::string> lines;
  int64_t line_no = 0;
  while (reader.read_available(lines)) {
    // Latest wins: everything but the newest waiting request is dropped, and said so. Blank lines
    // are no requests: one after a request neither supersedes it nor gets an answer.
    const auto blank = [](const std::string& l) { return l.find_first_not_of(" \t\r") == std::string::npos; };
    while (lines.size() > 1 && std::any_of(lines.begin() + 1, lines.end(), [&](const std::string& l) { return !blank(l); })) {
      ++line_no;
      if (blank(lines.front())) {
        lines.pop_front();
        continue;
      }
      json skipped{{"type", "superseded"}, {"id", nullptr}};
      try {
        const json j = json::parse(lines.front());
        if (j.is_object() && j.contains("id") && j["id"].is_number_integer()) skipped["id"] = j["id"];
      } catch (const json::exception&) {
      }
      emit_line(json_line(skipped));
      lines.pop_front();
    }
    if (lines.empty()) continue;
    const std::string line = lines.front();
    lines.pop_front();
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "request line " + std::to_string(line_no);
    int64_t id = 0;
    try {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::parse_error& e) {
        throw InputError(where, std::string("is not valid JSON (") + e.what() + ")");
      }
      emit_line(handle(j, where, id));
    } catch (const std::exception& e) {
      std::string message = e.what();
      message = message.substr(0, message.find('\n'));
      emit_line(json_line({{"type", "error"}, {"id", id}, {"message", message}}));
    }
  }
}

}  // namespace ms::cli
