#include "manager/build_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "image/digest.h"
#include "image/layer.h"
#include "linux/path.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

namespace {

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= p.size()) {
    auto slash = p.find('/', start);
    std::string c = p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!c.empty() && c != ".") out.push_back(c);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& c) {
  std::string out;
  for (const auto& s : c) out += (out.empty() ? "" : "/") + s;
  return out;
}

// "a/./b/../c" -> "a/c"; nullopt when ".." climbs above the start.
std::optional<std::string> clean_relative(const std::string& p) {
  std::vector<std::string> out;
  for (const auto& c : split_path(p)) {
    if (c == "..") {
      if (out.empty()) return std::nullopt;
      out.pop_back();
    } else {
      out.push_back(c);
    }
  }
  return join(out);
}

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> dir_names(int dirfd) {
  std::vector<std::string> out;
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) fail_errno("reading a directory");
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    fail_errno("reading a directory");
  }
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

UniqueFd reopen(int path_fd, int flags) {
  UniqueFd fd(::open(linux::fd_path(path_fd).c_str(), flags | O_CLOEXEC));
  if (!fd) fail_errno("reopening {}", linux::fd_path(path_fd));
  return fd;
}

struct Source {
  UniqueFd fd;  // O_PATH, the source itself (symlinks at the top followed)
  struct stat st {};
  std::string rel;  // relative to the source root, for .dockerignore and messages
};

std::vector<Source> resolve_sources(const CopySpec& spec) {
  std::vector<Source> out;
  char real_root[PATH_MAX];
  if (!::realpath(spec.source_root.c_str(), real_root)) fail_errno("{}", spec.source_root);
  std::string root = real_root;
  UniqueFd rootfd = open_or_throw(root, O_PATH | O_DIRECTORY);
  for (const auto& s : spec.sources) {
    auto rel = clean_relative(s);
    if (!rel) fail("{} {}: the path is outside the build context", spec.what, s);
    std::vector<std::string> matches;
    if (has_glob(*rel) && !spec.source_is_rootfs) {
      std::vector<std::string> partial = {""};
      for (const auto& comp : split_path(*rel)) {
        std::vector<std::string> next;
        for (const auto& p : partial) {
          if (!has_glob(comp)) {
            next.push_back(p.empty() ? comp : p + "/" + comp);
            continue;
          }
          std::string dir = p.empty() ? root : root + "/" + p;
          UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
          if (!dfd) continue;
          for (const auto& n : dir_names(dfd.get()))
            if (::fnmatch(comp.c_str(), n.c_str(), 0) == 0)
              next.push_back(p.empty() ? n : p + "/" + n);
        }
        partial = next;
      }
      for (const auto& m : partial)
        if (!spec.ignore || !spec.ignore->ignored(m)) matches.push_back(m);
      if (matches.empty())
        fail("{} {}: no source files were specified (nothing matches)", spec.what, s);
    } else {
      matches.push_back(*rel);
    }
    for (const auto& m : matches) {
      Source src;
      src.rel = m;
      if (spec.source_is_rootfs) {
        try {
          src.fd = linux::open_in_root(rootfd.get(), "/" + m, linux::Create::none);
        } catch (const Error& e) {
          fail("{} --from {}: {}", spec.what, s, e.what());
        }
      } else {
        std::string host = m.empty() ? root : root + "/" + m;
        char real[PATH_MAX];
        if (!::realpath(host.c_str(), real))
          fail("{} {}: no such file or directory in the build context", spec.what, s);
        std::string r = real;
        if (r != root && r.rfind(root + "/", 0) != 0)
          fail("{} {}: the path is outside the build context", spec.what, s);
        src.fd.reset(::open(r.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!src.fd) fail_errno("{} {}", spec.what, s);
      }
      if (::fstat(src.fd.get(), &src.st) != 0) fail_errno("{} {}", spec.what, s);
      out.push_back(std::move(src));
    }
  }
  return out;
}

// A local archive ADD unpacks: tar, or tar compressed with gzip, bzip2, xz or zstd.
bool is_archive(int path_fd, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_size < 6) return false;
  UniqueFd fd = reopen(path_fd, O_RDONLY);
  unsigned char b[512] = {0};
  ssize_t n = ::pread(fd.get(), b, sizeof b, 0);
  if (n < 6) return false;
  if (b[0] == 0x1f && b[1] == 0x8b) return true;
  if (b[0] == 'B' && b[1] == 'Z' && b[2] == 'h') return true;
  if (b[0] == 0xfd && b[1] == '7' && b[2] == 'z' && b[3] == 'X' && b[4] == 'Z') return true;
  if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return true;
  return n >= 262 && std::string(reinterpret_cast<char*>(b) + 257, 5) == "ustar";
}

// ---- digest ----

void digest_entry(image::Sha256& h, int path_fd, const struct stat& st, const std::string& rel,
                  const CopySpec& spec, bool top) {
  if (!top && spec.ignore && !spec.source_is_rootfs && spec.ignore->ignored(rel)) return;
  h.update(rel.data(), rel.size() + 1);
  std::string meta =
      fmt::format("{:o} {} {} {}\n", st.st_mode, st.st_size, spec.source_is_rootfs ? st.st_uid : 0,
                  spec.source_is_rootfs ? st.st_gid : 0);
  h.update(meta.data(), meta.size());
  if (S_ISREG(st.st_mode)) {
    UniqueFd fd = reopen(path_fd, O_RDONLY);
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) fail_errno("reading {}", rel);
      if (n == 0) break;
      h.update(buf, static_cast<size_t>(n));
    }
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = ::readlinkat(path_fd, "", target, sizeof target);
    if (n > 0) h.update(target, static_cast<size_t>(n));
  } else if (S_ISDIR(st.st_mode)) {
    UniqueFd dfd = reopen(path_fd, O_RDONLY | O_DIRECTORY);
    for (const auto& n : dir_names(dfd.get())) {
      UniqueFd child(::openat(dfd.get(), n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      struct stat cst {};
      if (!child || ::fstatat(dfd.get(), n.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0) continue;
      digest_entry(h, child.get(), cst, rel.empty() ? n : rel + "/" + n, spec, false);
    }
  }
}

// ---- copy ----

struct Copier {
  int rootfd;
  const CopySpec& spec;

  std::pair<uid_t, gid_t> owner(const struct stat& st) const {
    uid_t u = spec.source_is_rootfs ? st.st_uid : 0;
    gid_t g = spec.source_is_rootfs ? st.st_gid : 0;
    // An ordinary user's build: container root is the user, and other ids (subordinate ids
    // on the host) cannot be given outside the user namespace; what COPY makes is root's.
    if (::geteuid() != 0) return {::geteuid(), ::getegid()};
    return {spec.uid.value_or(u), spec.gid.value_or(g)};
  }
  mode_t mode(const struct stat& st) const { return spec.chmod.value_or(st.st_mode & 07777); }

  void note(const std::string& dst) const {
    if (spec.chown_later && ::geteuid() != 0 &&
        (spec.uid.value_or(0) != 0 || spec.gid.value_or(0) != 0))
      spec.chown_later->push_back(dst);
  }

  static std::pair<std::string, std::string> split(const std::string& path) {
    auto slash = path.rfind('/');
    return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
  }

  void set_attrs(int fd, const struct stat& st) {
    auto [u, g] = owner(st);
    if (::fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) fail_errno("chown");
    if (!S_ISLNK(st.st_mode) && ::chmod(linux::fd_path(fd).c_str(), mode(st)) != 0)
      fail_errno("chmod");
    struct timespec times[2] = {st.st_mtim, st.st_mtim};
    if (!S_ISLNK(st.st_mode)) ::utimensat(AT_FDCWD, linux::fd_path(fd).c_str(), times, 0);
  }

  // Copies the source into `dst` (absolute in the root). `contents_only`: a directory's
  // entries go into dst, which is not given the directory's attributes.
  void copy(int src_fd, const struct stat& st, const std::string& rel, const std::string& dst,
            bool top, bool contents_only) {
    if (!top && spec.ignore && !spec.source_is_rootfs && spec.ignore->ignored(rel)) return;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd dfd = linux::open_in_root(rootfd, dst, linux::Create::dir, 0755);
      struct stat dst_st {};
      if (::fstat(dfd.get(), &dst_st) != 0 || !S_ISDIR(dst_st.st_mode))
        fail("{}: {} exists and is not a directory", spec.what, dst);
      UniqueFd sdir = reopen(src_fd, O_RDONLY | O_DIRECTORY);
      for (const auto& n : dir_names(sdir.get())) {
        UniqueFd child(::openat(sdir.get(), n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat cst {};
        if (!child || ::fstatat(sdir.get(), n.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0)
          fail_errno("{} {}/{}", spec.what, rel, n);
        copy(child.get(), cst, rel.empty() ? n : rel + "/" + n, (dst == "/" ? "" : dst) + "/" + n,
             false, false);
      }
      if (!contents_only) {
        set_attrs(dfd.get(), st);
        note(dst);
      }
      return;
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) return;  // no devices, fifos, sockets
    auto [parent, name] = split(dst);
    UniqueFd pfd = linux::open_in_root(rootfd, parent, linux::Create::dir, 0755);
    struct stat old {};
    if (::fstatat(pfd.get(), name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(old.st_mode))
        fail("{} {}: cannot overwrite the directory {} with a file", spec.what, rel, dst);
      if (::unlinkat(pfd.get(), name.c_str(), 0) != 0)
        fail_errno("{}: removing {}", spec.what, dst);
    }
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(src_fd, "", target, sizeof target - 1);
      if (n < 0) fail_errno("{}: readlink {}", spec.what, rel);
      target[n] = 0;
      if (::symlinkat(target, pfd.get(), name.c_str()) != 0)
        fail_errno("{}: symlink {}", spec.what, dst);
      auto [u, g] = owner(st);
      ::fchownat(pfd.get(), name.c_str(), u, g, AT_SYMLINK_NOFOLLOW);
      struct timespec times[2] = {st.st_mtim, st.st_mtim};
      ::utimensat(pfd.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW);
      note(dst);
      return;
    }
    UniqueFd in = reopen(src_fd, O_RDONLY);
    UniqueFd out(::openat(pfd.get(), name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) fail_errno("{}: creating {}", spec.what, dst);
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(in.get(), buf, sizeof buf);
      if (n < 0) fail_errno("{}: reading {}", spec.what, rel);
      if (n == 0) break;
      write_all(out.get(), buf, static_cast<size_t>(n));
    }
    auto [u, g] = owner(st);
    if (::fchown(out.get(), u, g) != 0) fail_errno("{}: chown {}", spec.what, dst);
    if (::fchmod(out.get(), mode(st)) != 0) fail_errno("{}: chmod {}", spec.what, dst);
    struct timespec times[2] = {st.st_mtim, st.st_mtim};
    ::futimens(out.get(), times);
    note(dst);
  }
};

std::string base_name(const std::string& rel, const std::string& fallback) {
  auto comps = split_path(rel);
  return comps.empty() ? fallback : comps.back();
}

}  // namespace

IgnoreRules IgnoreRules::load(const std::string& context) {
  IgnoreRules r;
  std::string path = context + "/.dockerignore";
  if (!path_exists(path)) return r;
  std::string text = read_file(path);
  size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
    Rule rule;
    if (line[0] == '!') {
      rule.exclude = false;
      line = line.substr(1);
    }
    auto cleaned = clean_relative(line);
    if (!cleaned || cleaned->empty()) continue;
    rule.pattern = *cleaned;
    r.rules_.push_back(rule);
  }
  return r;
}

namespace {

// Go's filepath.Match per component, plus "**" for any number of components.
bool match_components(const std::vector<std::string>& pat, size_t pi,
                      const std::vector<std::string>& path, size_t si) {
  if (pi == pat.size()) return si == path.size();
  if (pat[pi] == "**") {
    for (size_t k = si; k <= path.size(); ++k)
      if (match_components(pat, pi + 1, path, k)) return true;
    return false;
  }
  if (si == path.size()) return false;
  if (::fnmatch(pat[pi].c_str(), path[si].c_str(), 0) != 0) return false;
  return match_components(pat, pi + 1, path, si + 1);
}

}  // namespace

bool IgnoreRules::ignored(const std::string& rel) const {
  if (rules_.empty()) return false;
  auto path = split_path(rel);
  bool out = false;
  for (const auto& rule : rules_) {
    auto pat = split_path(rule.pattern);
    // A pattern matches the path or one of its parent directories.
    bool m = false;
    for (size_t n = 1; n <= path.size() && !m; ++n)
      m = match_components(pat, 0, std::vector<std::string>(path.begin(), path.begin() + n), 0);
    if (m) out = rule.exclude;
  }
  return out;
}

mode_t parse_chmod(const std::string& s) {
  if (s.empty() || s.size() > 4 || s.find_first_not_of("01234567") != std::string::npos)
    fail("--chmod={}: an octal mode such as 0755", s);
  return static_cast<mode_t>(std::stoul(s, nullptr, 8));
}

std::string copy_digest(const CopySpec& spec) {
  image::Sha256 h;
  auto sources = resolve_sources(spec);
  for (const auto& s : sources) digest_entry(h, s.fd.get(), s.st, s.rel, spec, true);
  std::string opts =
      fmt::format("{}|{}|{}|{}|{}", spec.dest, spec.uid ? static_cast<long>(*spec.uid) : -1L,
                  spec.gid ? static_cast<long>(*spec.gid) : -1L,
                  spec.chmod ? static_cast<long>(*spec.chmod) : 0L, spec.add);
  h.update(opts.data(), opts.size());
  return h.digest();
}

void copy_into(int rootfd, const CopySpec& spec) {
  auto sources = resolve_sources(spec);
  bool dest_dir = !spec.dest.empty() && spec.dest.back() == '/';
  std::string dest = spec.dest;
  while (dest.size() > 1 && dest.back() == '/') dest.pop_back();
  if (sources.size() > 1 && !dest_dir)
    fail("{} {}: with more than one source, the destination must be a directory ending in /",
         spec.what, spec.dest);
  if (!dest_dir && sources.size() == 1 && !S_ISDIR(sources[0].st.st_mode)) {
    // An existing directory at dest takes the file inside.
    try {
      UniqueFd d = linux::open_in_root(rootfd, dest, linux::Create::none);
      struct stat st {};
      dest_dir = ::fstat(d.get(), &st) == 0 && S_ISDIR(st.st_mode);
    } catch (const Error&) {
    }
  }
  Copier c{rootfd, spec};
  for (const auto& s : sources) {
    if (spec.add && is_archive(s.fd.get(), s.st)) {
      UniqueFd d = linux::open_in_root(rootfd, dest, linux::Create::dir, 0755);
      image::UnpackOptions uo;
      uo.whiteouts = image::WhiteoutMode::Apply;
      uo.interpret_whiteouts = false;
      image::unpack_layer(linux::fd_path(s.fd.get()), linux::fd_path(d.get()), uo);
      continue;
    }
    if (S_ISDIR(s.st.st_mode)) {
      c.copy(s.fd.get(), s.st, s.rel, dest, true, true);
    } else {
      std::string target =
          dest_dir ? (dest == "/" ? "" : dest) + "/" + base_name(s.rel, "file") : dest;
      c.copy(s.fd.get(), s.st, s.rel, target, true, false);
    }
  }
}

}  // namespace vessel::manager
