#include "util/file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

namespace vessel {

UniqueFd open_or_throw(const std::string& path, int flags, mode_t mode) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
  if (fd < 0) fail_errno("open {}", path);
  return UniqueFd(fd);
}

std::string read_fd(int fd) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n < 0) fail_errno("read");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string read_file(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  try {
    return read_fd(fd.get());
  } catch (const Error& e) {
    fail("read {}: {}", path, e.what());
  }
}

void write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = retry_eintr([&] { return ::write(fd, p, len); });
    if (n < 0) fail_errno("write");
    p += n;
    len -= static_cast<size_t>(n);
  }
}

bool send_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = retry_eintr([&] { return ::send(fd, p, len, MSG_NOSIGNAL); });
    if (n < 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

void write_file(const std::string& path, const std::string& data, int flags) {
  UniqueFd fd = open_or_throw(path, flags, 0644);
  ssize_t n = retry_eintr([&] { return ::write(fd.get(), data.data(), data.size()); });
  if (n < 0) fail_errno("write {} to {}", data, path);
  if (static_cast<size_t>(n) != data.size()) fail("short write to {}", path);
}

void write_file_atomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    UniqueFd fd = open_or_throw(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    try {
      write_all(fd.get(), data.data(), data.size());
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename " + tmp + " to " + path, err);
  }
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

void mkdir_p(const std::string& path, mode_t mode) {
  if (path.empty()) return;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (part.empty()) continue;
    if (::mkdir(part.c_str(), mode) < 0 && errno != EEXIST) fail_errno("mkdir {}", part);
  }
}

void remove_tree(const std::string& path) {
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p); };
  if (::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
    fail_errno("remove {}", path);
}

std::string own_program_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/'));
}

}  // namespace vessel
