#include "util/detach_keys.h"

#include <cctype>

#include "util/error.h"

namespace vessel {

std::string parse_detach_keys(const std::string& spec) {
  std::string out;
  if (spec.empty()) return out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string key =
        spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto bad = [&] {
      fail(
          "invalid detach keys \"{}\": \"{}\" is not a key (a character, or ctrl-X with X one of "
          "a-z @ [ \\ ] ^ _)",
          spec, key);
    };
    if (key.size() == 1) {
      out += key[0];
    } else if (key.size() == 6 && key.compare(0, 5, "ctrl-") == 0) {
      char c = key[5];
      if (c >= 'a' && c <= 'z')
        out += static_cast<char>(c - 'a' + 1);
      else if (c >= 'A' && c <= 'Z')
        out += static_cast<char>(c - 'A' + 1);
      else if (c == '@')
        out += '\0';
      else if (c >= '[' && c <= '_')
        out += static_cast<char>(c - '[' + 27);
      else
        bad();
    } else {
      bad();
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

bool DetachScanner::feed(const char* data, size_t n, std::string& out) {
  if (keys_.empty()) {
    out.append(data, n);
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    char c = data[i];
    if (c == keys_[matched_]) {
      if (++matched_ == keys_.size()) {
        matched_ = 0;
        return true;
      }
      continue;
    }
    // The sequence broke off: what was held goes through, then this byte starts over.
    out.append(keys_, 0, matched_);
    matched_ = 0;
    if (c == keys_[0]) {
      if (keys_.size() == 1) return true;
      matched_ = 1;
    } else {
      out += c;
    }
  }
  return false;
}

}  // namespace vessel
