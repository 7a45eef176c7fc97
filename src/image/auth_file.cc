#include "image/auth_file.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/file.h"

namespace vessel::image {

using nlohmann::json;

namespace {

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += t[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    for (int s : {18, 12, 6}) out += t[(v >> s) & 63];
    out += '=';
  }
  return out;
}

json read_auth(const std::string& file) {
  if (!path_exists(file)) return json::object();
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    fail("auth file {}: not JSON: {}", file, e.what());
  }
  if (!j.is_object()) fail("auth file {}: not a JSON object", file);
  return j;
}

void write_auth(const std::string& file, const json& j) {
  std::string dir = file.substr(0, file.rfind('/'));
  if (!dir.empty() && !path_exists(dir)) {
    // Parents one by one: ~/.docker, $XDG_RUNTIME_DIR/containers.
    for (size_t p = dir.find('/', 1);; p = dir.find('/', p + 1)) {
      std::string part = p == std::string::npos ? dir : dir.substr(0, p);
      if (::mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) fail_errno("mkdir {}", part);
      if (p == std::string::npos) break;
    }
  }
  write_file_atomic(file, j.dump(1, '\t') + "\n", 0600);
}

// The keys of auths that name `host` (docker writes https://index.docker.io/v1/ for docker.io).
bool same_host(std::string key, const std::string& host) {
  key = normalize_registry(key);
  if (key == host) return true;
  auto hub = [](const std::string& k) {
    return k == "docker.io" || k == "index.docker.io" || k == "registry-1.docker.io" ||
           k == "index.docker.io/v1";
  };
  return hub(key) && hub(host);
}

}  // namespace

std::string auth_file_for_write(const std::string& authfile) {
  if (!authfile.empty()) return authfile;
  if (const char* e = std::getenv("REGISTRY_AUTH_FILE"); e && *e) return e;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    return std::string(x) + "/containers/auth.json";
  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) {
    home = h;
  } else if (struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) {
    home = pw->pw_dir;
  }
  if (home.empty()) fail("no auth file: set HOME or give --authfile");
  return home + "/.docker/config.json";
}

std::string normalize_registry(const std::string& registry) {
  std::string r = registry;
  for (const char* p : {"https://", "http://"})
    if (r.rfind(p, 0) == 0) r = r.substr(std::string(p).size());
  while (!r.empty() && r.back() == '/') r.pop_back();
  if (r.empty() || r.find_first_of(" \t\n@") != std::string::npos)
    fail("invalid registry \"{}\": expected HOST[:PORT]", registry);
  return r;
}

void store_credentials(const std::string& file, const std::string& host, const std::string& user,
                       const std::string& password) {
  json j = read_auth(file);
  if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = json::object();
  for (auto it = j["auths"].begin(); it != j["auths"].end();) {
    if (same_host(it.key(), host) && it.key() != host) {
      it = j["auths"].erase(it);
    } else {
      ++it;
    }
  }
  j["auths"][host] = {{"auth", base64(user + ":" + password)}};
  write_auth(file, j);
}

bool remove_credentials(const std::string& file, const std::string& host) {
  if (!path_exists(file)) return false;
  json j = read_auth(file);
  if (!j.contains("auths") || !j["auths"].is_object()) return false;
  bool removed = false;
  for (auto it = j["auths"].begin(); it != j["auths"].end();) {
    if (same_host(it.key(), host)) {
      it = j["auths"].erase(it);
      removed = true;
    } else {
      ++it;
    }
  }
  if (removed) write_auth(file, j);
  return removed;
}

}  // namespace vessel::image
