#include "runtime/criu_common.h"

#include <fcntl.h>
#include <sched.h>

#include <algorithm>

#include "linux/criu.h"
#include "util/error.h"

namespace vessel::runtime {

std::string require_criu(const CriuCommonOptions& o, const char* command) {
  std::string criu = linux::criu::find_criu(o.criu);
  if (auto why = linux::criu::unavailable_reason(criu))
    fail("{}: CRIU cannot work here: {}", command, *why);
  return criu;
}

linux::criu::Opts criu_base_opts(const CriuCommonOptions& o, const char* command) {
  using linux::criu::CgroupMode;
  linux::criu::Opts opts;
  opts.tcp_established = o.tcp_established;
  opts.ext_unix_sk = o.ext_unix_sk;
  opts.shell_job = o.shell_job;
  opts.file_locks = o.file_locks;
  opts.lazy_pages = o.lazy_pages;
  opts.log_level = 4;
  const std::string& m = o.manage_cgroups_mode;
  if (m.empty() || m == "soft")
    opts.manage_cgroups_mode = CgroupMode::soft;
  else if (m == "full")
    opts.manage_cgroups_mode = CgroupMode::full;
  else if (m == "strict")
    opts.manage_cgroups_mode = CgroupMode::strict;
  else if (m == "ignore")
    opts.manage_cgroups_mode = CgroupMode::ignore;
  else
    fail("{}: --manage-cgroups-mode must be soft, full, strict or ignore, not \"{}\"", command, m);
  opts.manage_cgroups = true;
  if (!o.empty_ns.empty()) {
    if (o.empty_ns != "network")
      fail("{}: --empty-ns supports only \"network\", not \"{}\"", command, o.empty_ns);
    opts.empty_ns = CLONE_NEWNET;
  }
  return opts;
}

std::vector<const oci::Mount*> bind_mounts(const oci::Spec& spec) {
  std::vector<const oci::Mount*> out;
  for (const auto& m : spec.mounts) {
    bool bind = m.type == "bind" || std::any_of(m.options.begin(), m.options.end(), [](auto& o) {
                  return o == "bind" || o == "rbind";
                });
    if (bind) out.push_back(&m);
  }
  return out;
}

void check_joined_namespaces(const oci::Spec& spec, const char* command) {
  for (const auto& ns : spec.linux.namespaces) {
    if (ns.path.empty()) continue;
    if (ns.type == oci::NamespaceType::network || ns.type == oci::NamespaceType::pid) continue;
    fail(
        "{}: the container joined the {} namespace {}; CRIU can take joined network and pid "
        "namespaces only",
        command, oci::namespace_name(ns.type), ns.path);
  }
}

UniqueFd open_directory(const std::string& path, const char* flag) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_errno("{} {}", flag, path);
  return UniqueFd(fd);
}

}  // namespace vessel::runtime
