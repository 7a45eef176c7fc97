#include "util/blob_claims.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>

#include "util/error.h"
#include "util/file.h"

namespace vessel {
namespace {

constexpr std::string_view kPrefix = "claims-p";

// Field 22 of /proc/PID/stat (start time in clock ticks since boot); empty if the process is gone.
std::string start_time(pid_t pid) {
  std::string stat;
  try {
    stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const Error&) {
    return {};
  }
  size_t p = stat.rfind(')');
  if (p == std::string::npos) return {};
  // After ") ": field 3 (state) onwards; the start time is field 22.
  int field = 2;
  size_t at = p + 1;
  while (at < stat.size() && field < 22) {
    at = stat.find(' ', at);
    if (at == std::string::npos) return {};
    ++at;
    ++field;
  }
  size_t end = stat.find(' ', at);
  return stat.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// A claim file's process is gone: no such PID, or the PID is now another process.
bool claim_is_stale(std::string_view name) {
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = name.substr(kPrefix.size());
  size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return false;
  size_t end = rest.find('-', dash + 1);
  if (end == std::string_view::npos) return false;
  pid_t pid = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dash, pid);
  if (ec != std::errc() || ptr != rest.data() + dash || pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string started = start_time(pid);
  return !started.empty() && started != rest.substr(dash + 1, end - dash - 1);
}

std::vector<std::string> claim_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n.substr(0, kPrefix.size()) == kPrefix) out.emplace_back(n);
    }
    ::closedir(d);
  }
  return out;
}

UniqueFd lock_dir(const std::string& dir, int how) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) fail_errno("open {}", dir);
  if (retry_eintr([&] { return ::flock(fd.get(), how); }) < 0) fail_errno("lock {}", dir);
  return fd;
}

}  // namespace

std::string claim_file_name() {
  static std::atomic<unsigned> counter{0};
  return std::string(kPrefix) + std::to_string(::getpid()) + "-" + start_time(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

BlobClaims::~BlobClaims() {
  if (!path_.empty() && owner_ == ::getpid()) ::unlink(path_.c_str());
}

void BlobClaims::release() {
  std::lock_guard lock(mu_);
  if (!path_.empty() && owner_ == ::getpid()) ::unlink(path_.c_str());
  path_.clear();
  owner_ = 0;
  fd_.reset();
  added_.clear();
}

void BlobClaims::add(const std::string& digest) {
  std::lock_guard lock(mu_);
  if (owner_ != ::getpid()) {  // first claim (or a forked child's own first claim)
    fd_.reset();
    added_.clear();
    mkdir_p(dir_, 0700);
    path_ = dir_ + "/" + claim_file_name();
    owner_ = ::getpid();
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd_) fail_errno("create claim file {}", path_);
  }
  if (added_.count(digest)) return;
  // Shared: claims of several writers go in together; a cleanup (exclusive) sees a claim whole
  // or runs before it.
  UniqueFd held = lock_dir(dir_, LOCK_SH);
  std::string line = digest + "\n";
  write_all(fd_.get(), line.data(), line.size());
  added_.insert(digest);
}

ClaimsLock::ClaimsLock(const std::string& dir) {
  mkdir_p(dir, 0700);
  lock_ = lock_dir(dir, LOCK_EX);
  std::set<std::string> dead;
  for (const std::string& name : claim_files(dir)) {
    std::string text;
    try {
      text = read_file(dir + "/" + name);
    } catch (const Error&) {
      continue;  // gone meanwhile: its owner ended normally
    }
    bool is_stale = claim_is_stale(name);
    if (is_stale) stale_files.push_back(dir + "/" + name);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) break;  // a line cut short: its blob was never renamed
      std::string d = text.substr(pos, end - pos);
      pos = end + 1;
      if (d.empty()) continue;
      (is_stale ? dead : live).insert(d);
    }
  }
  for (const auto& d : dead)
    if (!live.count(d)) stale.insert(d);
}

bool has_stale_claims(const std::string& dir) {
  for (const std::string& name : claim_files(dir))
    if (claim_is_stale(name)) return true;
  return false;
}

}  // namespace vessel
