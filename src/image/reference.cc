// Reference parsing: the grammar of the distribution spec (lowercase path components joined by
// '/', separators '.', '_', '__' or runs of '-'), docker's rule for telling a registry host from
// the first path component, and docker.io's "library/" default.
#include "image/reference.h"

#include <cctype>

#include "image/digest.h"
#include "util/error.h"

namespace vessel::image {

namespace {

constexpr char kDockerHub[] = "docker.io";
constexpr char kDockerHubApi[] = "registry-1.docker.io";

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (is_lower_alnum(c[i])) {
      ++i;
      continue;
    }
    // A separator: '.', '_', '__' or one or more '-', followed by an alphanumeric.
    size_t start = i;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (i == start || i >= c.size() || !is_lower_alnum(c[i])) return false;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

// host[:port], with a host of letters, digits, '.' and '-' or a bracketed IPv6 address.
bool valid_registry(std::string_view r) {
  if (r.empty()) return false;
  std::string_view host = r, port;
  if (r.front() == '[') {
    auto close = r.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : r.substr(1, close - 1))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    std::string_view rest = r.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = rest.substr(1);
    if (port.empty()) return false;
  } else {
    auto colon = r.find(':');
    if (colon != std::string_view::npos) {
      host = r.substr(0, colon);
      port = r.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty() || host.front() == '-' || host.back() == '-' || host.front() == '.' ||
        host.back() == '.')
      return false;
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string Reference::name() const { return registry + "/" + repository; }

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::stored_name() const {
  return tag.empty() ? name() + "@" + digest : name() + ":" + tag;
}

std::string Reference::api_host() const {
  return registry == kDockerHub ? std::string(kDockerHubApi) : registry;
}

std::string Reference::manifest_ref() const { return digest.empty() ? tag : digest; }

Reference parse_reference(std::string_view input) {
  auto bad = [&](std::string_view why) -> Error {
    return Error(fmt::format("invalid reference \"{}\": {}", input, why));
  };
  if (input.empty()) throw bad("empty");
  Reference r;
  std::string_view rest = input;

  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view d = rest.substr(at + 1);
    if (!is_valid_digest(d)) throw bad("the digest must be sha256:<64 lowercase hex digits>");
    r.digest = std::string(d);
    rest = rest.substr(0, at);
  }

  // The registry: a first component with '.' or ':' in it, or "localhost", followed by more.
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
        (!first.empty() && first.front() == '[')) {
      if (!valid_registry(first)) throw bad("invalid registry host");
      r.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }

  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view t = rest.substr(colon + 1);
    if (!valid_tag(t)) throw bad("invalid tag");
    r.tag = std::string(t);
    rest = rest.substr(0, colon);
  }

  if (rest.empty()) throw bad("no repository name");
  for (char c : rest)
    if (c >= 'A' && c <= 'Z') throw bad("repository name must be lowercase");
  size_t start = 0;
  while (true) {
    size_t end = rest.find('/', start);
    std::string_view comp = rest.substr(start, end == std::string_view::npos ? end : end - start);
    if (!valid_component(comp)) throw bad(fmt::format("invalid repository component \"{}\"", comp));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (rest.size() > 255) throw bad("repository name longer than 255 characters");
  r.repository = std::string(rest);

  if (r.registry.empty() || r.registry == "index.docker.io" || r.registry == kDockerHubApi)
    r.registry = kDockerHub;
  if (r.registry == kDockerHub && r.repository.find('/') == std::string::npos)
    r.repository = "library/" + r.repository;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

}  // namespace vessel::image
