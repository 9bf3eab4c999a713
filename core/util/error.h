// Typed errors of the core. Every message is one line that names the file (or tensor key) and the
// problem; `main` turns them into exit codes (InputError -> 1, UsageError -> 2). Library code never
// exits.
#pragma once

#include <stdexcept>
#include <string>

namespace ms {

// Bad input or a failed operation: a file that cannot be read, a lying header, a wrong shape.
class InputError : public std::runtime_error {
 public:
  // `where` is a path or a tensor key; the message reads "where: problem".
  InputError(const std::string& where, const std::string& problem)
      : std::runtime_error(where.empty() ? problem : where + ": " + problem) {}
};

// The user asked for something that does not make sense (bad flag value, missing option).
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& problem) : std::runtime_error(problem) {}
};

// An operation was cancelled through its cancel predicate.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace ms
