// The loop the CLI's long-lived workers (`requant-serve`, `preview --serve`) share: read one JSON
// request per line on stdin, answer each with one JSON line on stdout, newest first. After each
// answer it takes every line already waiting and answers only the last one; each dropped line gets
// {"type": "superseded", "id"} (id null when the line had none), so a client that asks faster than
// the model runs never builds a backlog. A request that throws gets {"type": "error", "id",
// "message"} (the first line of the message) and the server keeps serving. End of input ends it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace ms::cli {

// Writes `line` to stdout, ending it with a newline unless it has one, and flushes (the client
// waits on whole lines).
void emit_line(const std::string& line);

// Answers one request: returns the reply line. `where` names the request for error
// messages ("request line 3"); set `id` as soon as it is known, so an error reply carries it.
using JsonLineHandler = std::function<std::string(const nlohmann::json& request, const std::string& where, int64_t& id)>;

// Serves stdin until end of input. A line that is not JSON is answered with an error naming it.
void serve_json_lines(const JsonLineHandler& handle);

}  // namespace ms::cli
