#include "linux/seccomp_cache.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::linux {
namespace {

constexpr char kMagic[8] = {'V', 'S', 'E', 'C', 'B', 'P', 'F', '1'};
constexpr size_t kMaxFile = 1 << 20;
// Distinct profiles are few; past this many files the directory is emptied before a new one.
constexpr size_t kMaxEntries = 64;

// The main program's NT_GNU_BUILD_ID, as hex; "" when it has none.
std::string own_build_id() {
  std::string id;
  ::dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* out) -> int {
        // The first object is the main program.
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const char* name = p + sizeof(ElfW(Nhdr));
            const char* desc = name + ((n->n_namesz + 3) & ~3u);
            const char* next = desc + ((n->n_descsz + 3) & ~3u);
            if (next > end) break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
                std::memcmp(name, "GNU", 4) == 0) {
              static const char hex[] = "0123456789abcdef";
              auto* s = static_cast<std::string*>(out);
              for (unsigned k = 0; k < n->n_descsz; ++k) {
                auto b = static_cast<unsigned char>(desc[k]);
                s->push_back(hex[b >> 4]);
                s->push_back(hex[b & 15]);
              }
              return 1;
            }
            p = next;
          }
        }
        return 1;
      },
      &id);
  return id;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string file_for(const std::string& dir, const std::string& key) {
  return fmt::format("{}/{:016x}.bpf", dir, fnv1a(key));
}

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

bool get_u32(const std::string& in, size_t& at, uint32_t& v) {
  if (in.size() - at < 4) return false;
  std::memcpy(&v, in.data() + at, 4);
  at += 4;
  return true;
}

// The directory, made if missing; false unless it is ours and writable by nobody else.
bool usable_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return false;
  struct stat st;
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
         (st.st_mode & 022) == 0;
}

void trim(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  if (names.size() < kMaxEntries) return;
  for (const auto& n : names) ::unlink((dir + "/" + n).c_str());
}

}  // namespace

std::string seccomp_cache_key(const nlohmann::json& seccomp) {
  static const std::string build_id = own_build_id();
  if (build_id.empty()) return {};
  struct utsname u;
  if (::uname(&u) < 0) return {};
  const scmp_version* v = seccomp_version();
  return fmt::format("build-id {}\nkernel {}\nlibseccomp {}.{}.{}\n{}", build_id, u.release,
                     v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0, seccomp.dump());
}

std::optional<std::vector<sock_filter>> seccomp_cache_get(const std::string& dir,
                                                          const std::string& key) {
  const std::string path = file_for(dir, key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  struct stat st;
  if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 022) != 0 || static_cast<size_t>(st.st_size) > kMaxFile)
    return std::nullopt;
  std::string data;
  try {
    data = read_fd(fd.get());
  } catch (const std::exception&) {
    return std::nullopt;
  }
  size_t at = sizeof kMagic;
  uint32_t key_len = 0, count = 0;
  if (data.size() < at || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0 ||
      !get_u32(data, at, key_len) || data.size() - at < key_len ||
      data.compare(at, key_len, key) != 0 || key_len != key.size())
    return std::nullopt;
  at += key_len;
  if (!get_u32(data, at, count) || count == 0 || count > BPF_MAXINSNS ||
      data.size() - at != count * sizeof(sock_filter))
    return std::nullopt;
  std::vector<sock_filter> program(count);
  std::memcpy(program.data(), data.data() + at, count * sizeof(sock_filter));
  return program;
}

void seccomp_cache_put(const std::string& dir, const std::string& key,
                       const std::vector<sock_filter>& program) {
  if (program.empty() || program.size() > BPF_MAXINSNS) return;
  try {
    if (!usable_dir(dir)) return;
    trim(dir);
    std::string data(kMagic, sizeof kMagic);
    put_u32(data, static_cast<uint32_t>(key.size()));
    data += key;
    put_u32(data, static_cast<uint32_t>(program.size()));
    data.append(reinterpret_cast<const char*>(program.data()),
                program.size() * sizeof(sock_filter));
    write_file_atomic(file_for(dir, key), data, 0600);
  } catch (const std::exception& e) {
    log::debug(fmt::format("seccomp cache: not stored in {}: {}", dir, e.what()));
  }
}

}  // namespace vessel::linux
