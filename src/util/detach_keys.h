// Detach keys: the key sequence that leaves an attached terminal (`run -it`, `attach`,
// `start -a`) with the container still running. Written as docker writes them: a comma-separated
// list of keys, each a single character ("a", "Q") or "ctrl-X" with X one of a-z, @, [, \, ], ^
// or _ ("ctrl-p,ctrl-q" is the default).
#pragma once

#include <string>

namespace vessel {

inline constexpr const char* kDefaultDetachKeys = "ctrl-p,ctrl-q";

// The bytes the keys send; throws a one-line error for a bad key ("" gives "": never detach).
std::string parse_detach_keys(const std::string& spec);

// Watches a terminal's input for the sequence. Bytes that start the sequence are held back until
// it either completes (the client detaches; the held bytes are dropped) or breaks off (they go
// through, with the byte that broke it).
class DetachScanner {
 public:
  explicit DetachScanner(std::string keys) : keys_(std::move(keys)) {}
  // Appends to `out` what goes to the container; true when the sequence completed (bytes after
  // it are dropped).
  bool feed(const char* data, size_t n, std::string& out);

 private:
  std::string keys_;
  size_t matched_ = 0;
};

}  // namespace vessel
