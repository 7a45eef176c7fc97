#include "cgroups/detect.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include <algorithm>

#include "cgroups/paths.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cgroups {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::string_view line : split(text, '\n'))
    if (!line.empty()) out.push_back(line);
  return out;
}

bool is_cgroup2(const char* path) {
  struct statfs st;
  if (::statfs(path, &st) < 0) return false;
  return st.f_type == CGROUP2_SUPER_MAGIC;
}

bool under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

// Several mounts can show one hierarchy (bind mounts, a container's own view). The score
// prefers the mount the layout was probed at, then ones that contain our own cgroup, so that
// relative paths can be resolved; a later mount over the same point hides an earlier one, so
// ties go to the later line.
int mount_score(const MountEntry& m, const std::string& preferred, const std::string& cgroup_root,
                const std::string& own_path) {
  int score = 0;
  if (!preferred.empty() && m.mount_point == preferred) score += 4;
  if (under(m.mount_point, cgroup_root)) score += 2;
  if (path_within(own_path, m.root)) score += 1;
  return score;
}

const MountEntry* best_mount(const std::vector<MountEntry>& mounts, auto&& matches,
                             const std::string& preferred, const std::string& cgroup_root,
                             const std::string& own_path) {
  const MountEntry* best = nullptr;
  int best_score = -1;
  for (const MountEntry& m : mounts) {
    if (!matches(m)) continue;
    int score = mount_score(m, preferred, cgroup_root, own_path);
    if (score >= best_score) {
      best = &m;
      best_score = score;
    }
  }
  return best;
}

}  // namespace

bool Hierarchy::has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::v1:
      return "v1";
    case Layout::hybrid:
      return "hybrid";
    case Layout::v2:
      return "v2";
  }
  return "unknown";
}

Layout detect_layout() {
  struct statfs st;
  if (::statfs("/sys/fs/cgroup", &st) < 0) fail_errno("statfs /sys/fs/cgroup");
  if (st.f_type == CGROUP2_SUPER_MAGIC) return Layout::v2;
  if (is_cgroup2("/sys/fs/cgroup/unified")) return Layout::hybrid;
  return Layout::v1;
}

std::string decode_mount_escapes(std::string_view s) {
  // The kernel writes space, tab, newline and backslash in mount paths as \ooo octal.
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      std::string_view oct = s.substr(i + 1, 3);
      if (std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>((oct[0] - '0') * 64 + (oct[1] - '0') * 8 + (oct[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  for (std::string_view line : lines(text)) {
    std::vector<std::string_view> f = split(line, ' ');
    // 36 35 98:0 /root /mnt opts [optional...] - fstype source superopts
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || dash == f.end() || dash - f.begin() < 6 || f.end() - dash < 4)
      fail("malformed mountinfo line: {}", line);
    MountEntry m;
    m.root = decode_mount_escapes(f[3]);
    m.mount_point = decode_mount_escapes(f[4]);
    m.fs_type = std::string(dash[1]);
    for (std::string_view opt : split(dash[3], ',')) m.super_options.emplace_back(opt);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<ProcCgroupEntry> parse_proc_cgroup(std::string_view text) {
  std::vector<ProcCgroupEntry> out;
  for (std::string_view line : lines(text)) {
    // The path may itself contain ':', so only the first two separate fields.
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) fail("malformed /proc/self/cgroup line: {}", line);
    ProcCgroupEntry e;
    std::string_view id = line.substr(0, c1);
    if (id.empty() ||
        !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
      fail("malformed /proc/self/cgroup line: {}", line);
    e.id = std::stoi(std::string(id));
    std::string_view ctrls = line.substr(c1 + 1, c2 - c1 - 1);
    if (!ctrls.empty())
      for (std::string_view c : split(ctrls, ',')) e.controllers.emplace_back(c);
    e.path = std::string(line.substr(c2 + 1));
    out.push_back(std::move(e));
  }
  return out;
}

HostCgroups find_hierarchies(Layout layout, std::string_view mountinfo,
                             std::string_view proc_self_cgroup, const std::string& cgroup_root) {
  std::vector<MountEntry> mounts = parse_mountinfo(mountinfo);
  std::vector<ProcCgroupEntry> procs = parse_proc_cgroup(proc_self_cgroup);
  HostCgroups host;
  host.layout = layout;

  if (layout != Layout::v2) {
    for (const ProcCgroupEntry& e : procs) {
      if (e.controllers.empty()) continue;
      auto matches = [&](const MountEntry& m) {
        if (m.fs_type != "cgroup") return false;
        return std::all_of(e.controllers.begin(), e.controllers.end(), [&](const std::string& c) {
          return std::find(m.super_options.begin(), m.super_options.end(), c) !=
                 m.super_options.end();
        });
      };
      const MountEntry* m = best_mount(mounts, matches, "", cgroup_root, e.path);
      if (!m) continue;  // a hierarchy nobody mounted cannot be managed (nor escaped from)
      host.hierarchies.push_back({e.controllers, m->mount_point, m->root, e.path});
    }
    if (host.hierarchies.empty())
      fail("no cgroup v1 hierarchy is mounted (looked for the controllers in /proc/self/cgroup)");
  }

  if (layout != Layout::v1) {
    std::string own = "/";
    for (const ProcCgroupEntry& e : procs)
      if (e.id == 0 && e.controllers.empty()) own = e.path;
    std::string preferred = layout == Layout::v2 ? cgroup_root : cgroup_root + "/unified";
    auto matches = [](const MountEntry& m) { return m.fs_type == "cgroup2"; };
    const MountEntry* m = best_mount(mounts, matches, preferred, cgroup_root, own);
    if (!m) fail("no cgroup2 filesystem is mounted although {} looks like one", preferred);
    host.hierarchies.push_back({{}, m->mount_point, m->root, own});
  }
  return host;
}

HostCgroups probe_host() {
  Layout layout = detect_layout();
  return find_hierarchies(layout, read_file("/proc/self/mountinfo"),
                          read_file("/proc/self/cgroup"));
}

}  // namespace vessel::cgroups
