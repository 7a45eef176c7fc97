#include "linux/self_exec.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/file.h"

extern char** environ;

// Linux 6.3: with vm.memfd_noexec=1 a memfd made without MFD_EXEC cannot be executed. Older
// headers lack the flag; older kernels reject it with EINVAL, and then need no flag at all.
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

// open_tree(2) and mount_setattr(2) (Linux 5.2 and 5.12), spelled out for older headers.
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif

namespace vessel::linux {
namespace {

// Set across our own re-exec only, and removed first thing after it. It does not decide whether
// the process is protected (the seals do, and a forged value cannot switch the check off): it
// only turns a kernel that somehow does not report the seals after the re-exec into an error
// instead of an endless exec loop.
constexpr const char* kReexecMarker = "_VESSEL_SEALED_REEXEC";

constexpr int kBaseSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

UniqueFd create_memfd(const std::string& name) {
  int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    if (errno == EACCES)
      fail_errno(
          "memfd_create {} (vm.memfd_noexec=2 forbids the executable memfd vessel-runtime "
          "runs from to protect its binary from containers)",
          name);
    fail_errno("memfd_create {}", name);
  }
  return UniqueFd(fd);
}

// pread/write, for files sendfile cannot read from.
void copy_by_read(int src, int dst, off_t from, off_t size) {
  char buf[64 * 1024];
  for (off_t off = from; off < size;) {
    size_t want = static_cast<size_t>(std::min<off_t>(size - off, sizeof buf));
    ssize_t n = retry_eintr([&] { return ::pread(src, buf, want, off); });
    if (n < 0) fail_errno("copy the runtime binary: read at {}", off);
    if (n == 0) fail("copy the runtime binary: it ended at {} of {} bytes", off, size);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = retry_eintr([&] { return ::write(dst, buf + done, n - done); });
      if (w < 0) fail_errno("copy the runtime binary: write to the memfd");
      done += w;
    }
    off += n;
  }
}

// The whole file, in the kernel where it can: no user-space buffer, a few ms for tens of MB.
void copy_file(int src, int dst, off_t size) {
  off_t off = 0;
  while (off < size) {
    ssize_t n =
        retry_eintr([&] { return ::sendfile(dst, src, &off, static_cast<size_t>(size - off)); });
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) return copy_by_read(src, dst, off, size);
    if (n < 0) fail_errno("copy the runtime binary: sendfile at {}", off);
    if (n == 0) fail("copy the runtime binary: it ended at {} of {} bytes", off, size);
  }
}

// How much of the ELF file on fd exec and the dynamic loader read: the ELF and program headers
// and every segment's bytes. What follows (section headers, symbols, debug info: 97% of a
// RelWithDebInfo vessel-runtime, 75 MB) is for tools only; copying it would cost ~40x the time
// and the memory, which a foreground `run` holds for the container's life. Anything that is not
// a well-formed ELF file of this process's class is copied whole.
off_t loaded_size(int fd, off_t file_size) {
  ElfW(Ehdr) eh;
  if (::pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) return file_size;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != (sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32) ||
      eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM ||
      eh.e_phoff < sizeof eh)
    return file_size;
  const uint64_t table = uint64_t{eh.e_phnum} * sizeof(ElfW(Phdr));
  if (eh.e_phoff > static_cast<uint64_t>(file_size) ||
      table > static_cast<uint64_t>(file_size) - eh.e_phoff)
    return file_size;
  std::vector<ElfW(Phdr)> ph(eh.e_phnum);
  if (::pread(fd, ph.data(), table, static_cast<off_t>(eh.e_phoff)) != static_cast<ssize_t>(table))
    return file_size;
  uint64_t end = eh.e_phoff + table;
  for (const auto& p : ph) {
    if (p.p_offset > static_cast<uint64_t>(file_size) ||
        p.p_filesz > static_cast<uint64_t>(file_size) - p.p_offset)
      return file_size;
    end = std::max<uint64_t>(end, p.p_offset + p.p_filesz);
  }
  return static_cast<off_t>(end);
}

// The copy of a trimmed file has no section header table; say so, so that tools reading the copy
// (readelf, gdb on /proc/PID/exe) do not follow e_shoff past its end. The build id note, in a
// segment, still names the full binary for debuggers.
void drop_section_headers(int fd) {
  ElfW(Ehdr) eh;
  if (::pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh))
    fail_errno("copy the runtime binary: read back its ELF header");
  eh.e_shoff = 0;
  eh.e_shnum = 0;
  eh.e_shstrndx = SHN_UNDEF;
  if (::pwrite(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh))
    fail_errno("copy the runtime binary: rewrite its ELF header");
}

// Subcommands whose processes never enter a container, and so need no sealed copy. `start`
// only writes to the created init's start channel, `kill` signals, `delete` kills and removes
// state and cgroup (poststop hooks run on the host), `update`/`pause`/`resume`/`ps`/`events`
// act on the cgroup from outside, `state`/`list`/`spec`/`features` read or write files. All of
// them stay in the host's pid namespace, where a container with its own pid namespace cannot
// see them. create, run and exec fork into the container's namespaces and run this binary there
// until the user's execve. Anything not listed (a future subcommand, a typo) gets the copy:
// forgetting to list a new harmless subcommand costs a few ms, forgetting a dangerous one would
// reopen the hole. (A container in the host's pid namespace sees every host process, this
// binary's included in any subcommand; protecting this one binary would not make it safe.)
bool never_enters_container(std::string_view cmd) {
  static constexpr std::string_view kOutside[] = {
      "start",    "kill",  "delete", "state", "list",   "spec",
      "features", "pause", "resume", "ps",    "update", "events",
  };
  return std::find(std::begin(kOutside), std::end(kOutside), cmd) != std::end(kOutside);
}

struct MountAttr {  // struct mount_attr (MOUNT_ATTR_SIZE_VER0)
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

// The mount ID of the file open on fd, from /proc/self/fdinfo; -1 if unknown.
long long mount_id_of(int fd) {
  std::string info;
  try {
    info = read_file("/proc/self/fdinfo/" + std::to_string(fd));
  } catch (const Error&) {
    return -1;
  }
  size_t at = info.find("mnt_id:");
  if (at == std::string::npos) return -1;
  return std::strtoll(info.c_str() + at + 7, nullptr, 10);
}

// Whether a mount with this ID is in this process's mount namespace.
bool mount_in_own_namespace(long long id) {
  std::string table;
  try {
    table = read_file("/proc/self/mountinfo");
  } catch (const Error&) {
    return true;  // cannot tell: assume the worst
  }
  for (size_t line = 0; line < table.size();) {
    if (std::strtoll(table.c_str() + line, nullptr, 10) == id) return true;
    size_t nl = table.find('\n', line);
    if (nl == std::string::npos) break;
    line = nl + 1;
  }
  return false;
}

}  // namespace

int required_seals() { return kBaseSeals; }

UniqueFd open_readonly_detached_view(const std::string& path) {
  // A clone of the mount at `path` (a bind mount of just that file), in an anonymous mount
  // namespace of its own: no mount table sees it, so nothing propagates anywhere.
  UniqueFd tree(static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | O_CLOEXEC)));
  if (!tree) return {};
  MountAttr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return {};
  return tree;
}

bool is_detached_readonly(int fd) {
  struct statfs sf {};
  if (fd < 0 || ::fstatfs(fd, &sf) < 0 || !(sf.f_flags & ST_RDONLY)) return false;
  long long id = mount_id_of(fd);
  return id >= 0 && !mount_in_own_namespace(id);
}

bool is_protected_exe(int fd) { return is_sealed_copy(fd) || is_detached_readonly(fd); }

bool is_sealed_copy(int fd) {
  int seals = ::fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & kBaseSeals) == kBaseSeals;
}

UniqueFd make_sealed_copy(int src, const std::string& name) {
  struct stat st {};
  if (::fstat(src, &st) < 0) fail_errno("copy the runtime binary: fstat");
  if (!S_ISREG(st.st_mode) || st.st_size == 0)
    fail("copy the runtime binary: not a non-empty regular file (mode {:o}, {} bytes)", st.st_mode,
         st.st_size);
  const off_t size = loaded_size(src, st.st_size);
  UniqueFd copy = create_memfd(name);
  copy_file(src, copy.get(), size);
  if (size < st.st_size) drop_section_headers(copy.get());
  // F_SEAL_WRITE already stops every write; F_SEAL_FUTURE_WRITE (5.1) is kept where the kernel
  // knows it, as defence in depth. F_SEAL_SEAL in the same call: no seal can be added later.
  int seals = kBaseSeals;
#ifdef F_SEAL_FUTURE_WRITE
  seals |= F_SEAL_FUTURE_WRITE;
#endif
  if (::fcntl(copy.get(), F_ADD_SEALS, seals) < 0) {
    if (errno != EINVAL || seals == kBaseSeals || ::fcntl(copy.get(), F_ADD_SEALS, kBaseSeals) < 0)
      fail_errno("seal the memfd copy of the runtime binary");
  }
  if (!is_sealed_copy(copy.get()))
    fail("the memfd copy of the runtime binary did not keep its seals");
  return copy;
}

bool command_enters_container(int argc, char** argv) {
  // Global options that take the next argument as their value, in runc's and Go's spellings
  // (--root x, -root x); --opt=x is one argument. Must match cli/runtime/main.cc.
  static constexpr std::string_view kValued[] = {"root", "log", "log-format", "rootless", "criu"};
  for (int i = 1; i < argc && argv[i]; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return i + 1 < argc && argv[i + 1] && !never_enters_container(argv[i + 1]);
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') != std::string_view::npos) continue;
      std::string_view name = a.substr(a[1] == '-' ? 2 : 1);
      if (std::find(std::begin(kValued), std::end(kValued), name) != std::end(kValued)) ++i;
      continue;
    }
    return !never_enters_container(a);
  }
  return false;  // no subcommand: --help, --version or a usage error
}

void ensure_running_from_sealed_copy(int argc, char** argv) {
  const bool reexecuted = std::getenv(kReexecMarker) != nullptr;
  if (reexecuted) ::unsetenv(kReexecMarker);  // not for hooks or containers to inherit
  if (!command_enters_container(argc, argv)) return;

  // The file itself, not the marker, says we are protected: the environment is the caller's to
  // forge.
  UniqueFd self(retry_eintr([] { return ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC); }));
  if (!self) fail_errno("open /proc/self/exe to run vessel-runtime from a sealed copy");
  if (is_protected_exe(self.get())) {
    // exec from an fd names the process after the memfd ("memfd:vessel-ru"); give it back the
    // name that ps -C, pgrep and killall know it by, as exec by path would have set it.
    if (argc > 0 && argv[0] && *argv[0]) {
      const char* slash = std::strrchr(argv[0], '/');
      ::prctl(PR_SET_NAME, slash ? slash + 1 : argv[0]);
    }
    return;
  }
  if (reexecuted)
    fail(
        "vessel-runtime was re-executed from a protected view of its binary, but /proc/self/exe "
        "is neither a sealed memfd nor on a detached read-only mount; not running container "
        "processes from the host binary");

  if (::setenv(kReexecMarker, "1", 1) < 0) fail_errno("setenv {}", kReexecMarker);
  // First choice, no copy: the binary through a read-only bind mount of its own that is in no
  // mount namespace (open_tree(OPEN_TREE_CLONE) + mount_setattr). The exec closes the
  // close-on-exec tree fd, which takes the mount out of its anonymous namespace too: from then
  // on no process can make it writable or attach it anywhere (mount_setattr, open_tree and
  // move_mount refuse a mount that no namespace holds), and a write through /proc/PID/exe fails
  // with EROFS. It needs CAP_SYS_ADMIN over the mount namespace and Linux 5.12.
  if (UniqueFd view = open_readonly_detached_view("/proc/self/exe")) {
    ::fexecve(view.get(), argv, environ);  // execveat(AT_EMPTY_PATH) underneath
  }
  // Otherwise (rootless, an older kernel): a sealed memfd copy of the loaded segments.
  UniqueFd copy = make_sealed_copy(self.get(), "vessel-runtime");
  self.reset();  // the new image must hold nothing of the host binary (O_CLOEXEC does it too)
  // execveat(AT_EMPTY_PATH) underneath: the fd is close-on-exec, fine for an ELF binary.
  ::fexecve(copy.get(), argv, environ);
  int err = errno;
  ::unsetenv(kReexecMarker);
  throw_errno("execute the sealed memfd copy of vessel-runtime", err);
}

void ensure_running_from_sealed_copy_or_exit(int argc, char** argv) noexcept {
  try {
    ensure_running_from_sealed_copy(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vessel-runtime: protect the runtime binary (CVE-2019-5736): %s\n",
                 e.what());
    std::exit(1);
  }
}

}  // namespace vessel::linux
