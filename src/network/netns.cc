#include "network/netns.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/magic.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "util/error.h"
#include "util/fd.h"

namespace vessel::network {

// Runs in the child, after unshare: async-signal-safe only.
int bring_loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  int rc = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = rc == 0 ? 0 : errno;
  ::close(s);
  return e;
}

void create_netns(const std::string& path) {
  UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!f) fail_errno("creating network namespace file {}", path);
  f.reset();
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) fail_errno("pipe2");
  UniqueFd rd(report[0]), wr(report[1]);
  // A child unshares and binds its namespace at `path`: the caller's own namespaces do not
  // change, and the mount is visible to it (only the network namespace was unshared).
  pid_t pid = ::fork();
  if (pid < 0) {
    ::unlink(path.c_str());
    fail_errno("fork");
  }
  if (pid == 0) {
    int err[2] = {0, 0};
    if (::unshare(CLONE_NEWNET) != 0) {
      err[0] = 1;
      err[1] = errno;
    } else if ((err[1] = bring_loopback_up()) != 0) {
      err[0] = 2;
    } else if (::mount("/proc/self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      err[0] = 3;
      err[1] = errno;
    }
    ssize_t ignored = ::write(wr.get(), err, sizeof err);
    (void)ignored;
    ::_exit(err[0]);
  }
  wr.reset();
  int err[2] = {0, 0};
  ssize_t n = retry_eintr([&] { return ::read(rd.get(), err, sizeof err); });
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof err || err[0] != 0) {
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    static const char* steps[] = {"", "unshare(CLONE_NEWNET)", "bringing up lo", "bind mount"};
    throw_errno(fmt::format("creating network namespace {}: {}", path,
                            steps[n == sizeof err && err[0] >= 0 && err[0] <= 3 ? err[0] : 0]),
                n == sizeof err ? err[1] : EIO);
  }
}

bool netns_exists(const std::string& path) {
  struct statfs sf {};
  return ::statfs(path.c_str(), &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

void remove_netns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    fail_errno("unmounting network namespace {}", path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    fail_errno("removing network namespace file {}", path);
}

void delete_bridge(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) fail("invalid bridge name \"{}\"", name);
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) fail_errno("socket");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) {
    if (errno == ENODEV) return;
    fail_errno("bridge {}: reading its flags", name);
  }
  ifr.ifr_flags &= ~IFF_UP;
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) fail_errno("bridge {}: setting it down", name);
  char buf[IFNAMSIZ] = {};
  std::memcpy(buf, name.c_str(), name.size());
  if (::ioctl(s.get(), SIOCBRDELBR, buf) != 0 && errno != ENXIO && errno != ENODEV)
    fail_errno("deleting bridge {}", name);
}

}  // namespace vessel::network
