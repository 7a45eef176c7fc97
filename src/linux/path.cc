#include "linux/path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "util/error.h"

namespace vessel::linux {
namespace {

std::deque<std::string> split(const std::string& path) {
  std::deque<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

UniqueFd dup_fd(int fd) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) fail_errno("dup");
  return UniqueFd(d);
}

}  // namespace

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

UniqueFd open_in_root(int rootfd, const std::string& path, Create create, mode_t mode) {
  std::vector<UniqueFd> stack;  // stack[0] is the root; back() is the current directory
  stack.push_back(dup_fd(rootfd));
  std::deque<std::string> todo = split(path);
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    const bool last = todo.empty();
    if (name == ".") continue;
    if (name == "..") {
      if (stack.size() == 1) fail("{}: the path escapes the root filesystem through \"..\"", path);
      stack.pop_back();
      continue;
    }
    int dir = stack.back().get();
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT || create == Create::none) fail_errno("{}: {}", path, name);
      if (last && create == Create::file) {
        int fd = ::openat(dir, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                          0644);
        if (fd < 0 && errno != EEXIST) fail_errno("{}: create file {}", path, name);
        if (fd >= 0) ::close(fd);
      } else if (::mkdirat(dir, name.c_str(), mode) < 0 && errno != EEXIST) {
        fail_errno("{}: create directory {}", path, name);
      }
      if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("{}: {}", path, name);
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) fail("{}: too many levels of symbolic links", path);
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(dir, name.c_str(), target, sizeof target - 1);
      if (n < 0) fail_errno("{}: readlink {}", path, name);
      target[n] = '\0';
      std::deque<std::string> parts = split(target);
      if (target[0] == '/') stack.resize(1);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) fail("{}: {} is not a directory", path, name);
    int fd = ::openat(dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail_errno("{}: open {}", path, name);
    stack.emplace_back(fd);
  }
  return std::move(stack.back());
}

}  // namespace vessel::linux
