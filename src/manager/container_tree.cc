#include "manager/container_tree.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

namespace {

constexpr int kMaxLinks = 40;  // as the kernel's walk

// The components of `path`, without empty ones and ".".
std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string c = path.substr(i, j - i);
    if (!c.empty() && c != ".") out.push_back(std::move(c));
    i = j + 1;
  }
  return out;
}

}  // namespace

ContainerTree::ContainerTree(int root, const std::vector<Mount>& mounts) : root_(root) {
  // Each destination as the runtime reached it: through the symlinks of the root filesystem
  // and the mounts made before it.
  for (const auto& m : mounts) {
    Mount c = m;
    c.destination = walk(m.destination, true, true, mounts_.size()).path;
    mounts_.push_back(std::move(c));
  }
}

ContainerTree::Resolved ContainerTree::resolve(const std::string& path, bool follow) const {
  return walk(path, follow, false, mounts_.size());
}

ContainerTree::Resolved ContainerTree::walk(const std::string& path, bool follow, bool missing_ok,
                                            size_t mounts_seen) const {
  struct Level {
    UniqueFd fd;
    std::string path;  // "" for "/"
    bool readonly = false;
    const Mount* mount = nullptr;
  };
  Resolved out;
  std::vector<Level> stack(1);
  stack[0].fd.reset(::fcntl(root_, F_DUPFD_CLOEXEC, 3));
  if (!stack[0].fd) {
    out.error = errno;
    return out;
  }
  std::deque<std::string> todo = components(path);
  int links = 0;
  while (!todo.empty()) {
    std::string comp = std::move(todo.front());
    todo.pop_front();
    if (comp == "..") {  // never above "/"; out of a mount back to where it is mounted
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    const bool last = todo.empty();
    const Level& here = stack.back();
    std::string cpath = here.path + "/" + comp;
    const Mount* m = nullptr;
    for (size_t i = std::min(mounts_seen, mounts_.size()); i-- > 0;) {
      if (mounts_[i].destination == cpath) {
        m = &mounts_[i];
        break;
      }
    }
    // A mount's source is a host path the administrator named (trusted); anything else is
    // one component below a directory fd, never followed.
    UniqueFd fd(m ? ::open(m->source.c_str(), O_PATH | O_CLOEXEC)
                  : ::openat(here.fd.get(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      if (missing_ok && err == ENOENT) {
        std::string p = cpath;
        for (const auto& c : todo) {
          if (c == "..") {
            size_t s = p.rfind('/');
            p = s == std::string::npos ? "" : p.substr(0, s);
          } else {
            p += "/" + c;
          }
        }
        out.path = p.empty() ? "/" : p;
      }
      out.error = err;
      return out;
    }
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) {
      out.error = errno;
      return out;
    }
    if (!m && S_ISLNK(st.st_mode) && (!last || follow)) {
      if (++links > kMaxLinks) {
        out.error = ELOOP;
        return out;
      }
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(fd.get(), "", target, sizeof target - 1);
      if (n < 0) {
        out.error = errno;
        return out;
      }
      if (n == 0) {
        out.error = ENOENT;
        return out;
      }
      std::deque<std::string> parts = components(std::string(target, static_cast<size_t>(n)));
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (target[0] == '/') stack.resize(1);  // absolute: from the container's "/"
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) {
      out.error = ENOTDIR;
      return out;
    }
    bool ro = here.readonly || (m && m->readonly);
    stack.push_back(Level{std::move(fd), std::move(cpath), ro, m});
  }
  Level& end = stack.back();
  out.fd = std::move(end.fd);
  out.path = end.path.empty() ? "/" : end.path;
  out.readonly = end.readonly;
  out.mount = end.mount;
  return out;
}

std::vector<ContainerTree::Mount> container_bind_mounts(const std::string& config_json_path) {
  std::vector<ContainerTree::Mount> out;
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(read_file(config_json_path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", config_json_path, e.what());
  }
  if (!spec.contains("mounts") || !spec["mounts"].is_array()) return out;
  for (const auto& m : spec["mounts"]) {
    if (!m.is_object() || !m.contains("destination") || !m.contains("source")) continue;
    bool bind = m.value("type", "") == "bind";
    bool ro = false;
    if (m.contains("options") && m["options"].is_array()) {
      for (const auto& o : m["options"]) {
        if (!o.is_string()) continue;
        if (o == "bind" || o == "rbind") bind = true;
        if (o == "ro") ro = true;
        if (o == "rw") ro = false;
      }
    }
    if (!bind) continue;
    out.push_back({m["destination"].get<std::string>(), m["source"].get<std::string>(), ro});
  }
  return out;
}

}  // namespace vessel::manager
