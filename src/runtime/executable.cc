#include "runtime/executable.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "util/error.h"
#include "util/file.h"

namespace vessel::runtime {
namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
  return {};
}

std::string prefix(const std::string& context) { return context.empty() ? "" : context + ": "; }

// What may be exec'd, as Go's exec.LookPath decides (and so runc): not a directory, and
// executable by this process.
bool runnable(const struct stat& st, const std::string& path) {
  return !S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0 && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string go_error_text(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

[[noreturn]] void fail_execve(const std::string& path, int err) {
  throw Error(fmt::format("exec {}: {}", path, go_error_text(err)), err);
}

std::string find_executable(const oci::Process& p, const std::string& context) {
  const std::string& name = p.args[0];
  struct stat st;
  if (name.find('/') != std::string::npos) {
    // Relative to the working directory, which the caller has entered.
    if (::stat(name.c_str(), &st) < 0) {
      int err = errno;
      throw Error(fmt::format("{}exec: \"{}\": stat {}: {}", prefix(context), name, name,
                              go_error_text(err)),
                  err);
    }
    if (!runnable(st, name))
      throw Error(fmt::format("{}exec: \"{}\": {}", prefix(context), name, go_error_text(EACCES)),
                  EACCES);
    return name;
  }
  std::string path_var = env_value(p.env, "PATH");
  if (path_var.empty()) path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t i = 0;
  while (i <= path_var.size()) {
    size_t j = path_var.find(':', i);
    if (j == std::string::npos) j = path_var.size();
    std::string dir = path_var.substr(i, j - i);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::stat(candidate.c_str(), &st) == 0 && runnable(st, candidate)) return candidate;
    i = j + 1;
  }
  throw Error(
      fmt::format("{}exec: \"{}\": executable file not found in $PATH", prefix(context), name),
      ENOENT);
}

// Like other runtimes, HOME defaults to the user's home in the container's /etc/passwd
// (or "/" when the uid has no entry), unless process.env sets it.
std::vector<std::string> with_home(const oci::Process& p) {
  std::vector<std::string> env = p.env;
  for (const auto& e : env)
    if (e.rfind("HOME=", 0) == 0) return env;
  std::string home = "/";
  try {
    std::string passwd = read_file("/etc/passwd");
    size_t pos = 0;
    while (pos < passwd.size()) {
      size_t end = passwd.find('\n', pos);
      if (end == std::string::npos) end = passwd.size();
      std::string line = passwd.substr(pos, end - pos);
      pos = end + 1;
      std::vector<std::string> f;
      size_t i = 0;
      for (;;) {
        size_t j = line.find(':', i);
        f.push_back(line.substr(i, j == std::string::npos ? std::string::npos : j - i));
        if (j == std::string::npos) break;
        i = j + 1;
      }
      if (f.size() >= 6 && f[2] == std::to_string(p.user.uid)) {
        if (!f[5].empty()) home = f[5];
        break;
      }
    }
  } catch (const Error&) {
  }
  env.push_back("HOME=" + home);
  return env;
}

}  // namespace vessel::runtime
