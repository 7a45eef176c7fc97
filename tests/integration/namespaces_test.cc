// Namespaces: new ones differ from the host's, shared ones are the host's, joined ones (by
// path) are exactly the namespace named, user namespaces map IDs, time namespaces shift clocks.
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "harness.h"

namespace itest {
namespace {

class NamespacesTest : public ContainerTest {
 protected:
  // Prints "<name> <readlink /proc/self/ns/name>" for each name.
  static std::string print_ns(const std::vector<std::string>& names) {
    std::string s = "for n in";
    for (const auto& n : names) s += " " + n;
    return s + "; do echo \"$n $(readlink /proc/self/ns/$n)\"; done";
  }
  static std::map<std::string, std::string> parse_ns(const std::string& out) {
    std::map<std::string, std::string> m;
    for (const auto& l : split_lines(out)) {
      auto sp = l.find(' ');
      if (sp != std::string::npos) m[l.substr(0, sp)] = l.substr(sp + 1);
    }
    return m;
  }
  static void set_namespaces(json& cfg, const std::vector<json>& nss) {
    cfg["linux"]["namespaces"] = json::array();
    for (const auto& n : nss) cfg["linux"]["namespaces"].push_back(n);
  }
  static void set_ns_path(json& cfg, const std::string& type, const std::string& path) {
    for (auto& n : cfg["linux"]["namespaces"])
      if (n["type"] == type) n["path"] = path;
  }
  static std::string ns_link_of(pid_t pid, const std::string& name) {
    char buf[256];
    std::string p = "/proc/" + std::to_string(pid) + "/ns/" + name;
    ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
  }
};

TEST_F(NamespacesTest, NewNamespacesDifferFromTheHost) {
  const std::vector<std::string> names = {"pid", "net", "ipc", "uts", "mnt", "cgroup"};
  json cfg = config({"sh", "-c", print_ns(names)});
  set_namespaces(cfg, {{{"type", "pid"}},
                       {{"type", "network"}},
                       {{"type", "ipc"}},
                       {{"type", "uts"}},
                       {{"type", "mount"}},
                       {{"type", "cgroup"}}});
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  auto inside = parse_ns(r.out);
  for (const auto& n : names) {
    const std::string host = host_ns(n);
    ASSERT_FALSE(host.empty()) << "kernel lacks " << n << " namespaces";
    ASSERT_TRUE(inside.count(n)) << r.describe();
    EXPECT_NE(inside[n], host) << n << " namespace is the host's";
    EXPECT_EQ(inside[n].substr(0, inside[n].find(':')), host.substr(0, host.find(':')))
        << inside[n];
  }
}

// Namespaces not listed are shared with the runtime (here: user, cgroup, time).
// runc brings `lo` up in a network namespace it creates (programs expect 127.0.0.1 to answer);
// the kernel creates it down.
TEST_F(NamespacesTest, NewNetworkNamespaceHasLoopbackUp) {
  json cfg = config({"sh", "-c", "ip -o link show lo; ip -o addr show lo"});
  set_namespaces(
      cfg, {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "mount"}}, {{"type", "uts"}}});
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, ",UP")) << r.out;
  EXPECT_TRUE(contains(r.out, "inet 127.0.0.1/8")) << r.out;
}

TEST_F(NamespacesTest, UnlistedNamespacesAreTheHosts) {
  std::vector<std::string> names = {"user", "cgroup"};
  if (!host_ns("time").empty()) names.push_back("time");
  Result r = run_container(config({"sh", "-c", print_ns(names)}));
  ASSERT_TRUE(r.ok()) << r.describe();
  auto inside = parse_ns(r.out);
  for (const auto& n : names) EXPECT_EQ(inside[n], host_ns(n)) << n;
}

TEST_F(NamespacesTest, UserNamespaceMapsIds) {
  if (host_ns("user").empty()) GTEST_SKIP() << "kernel without user namespaces";
  const std::string id = new_id("userns");
  json cfg =
      config({"sh", "-c",
              print_ns({"user"}) + "; cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g;"
                                   " stat -c %u:%g /bin/busybox"});
  cfg["linux"]["namespaces"].push_back({{"type", "user"}});
  cfg["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  cfg["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  const std::string out = dir() + "/out";
  Result c = create(id, write_bundle(cfg), {}, {.stdout_path = out});
  ASSERT_TRUE(c.ok()) << c.describe();

  // From the host: the container process runs as host uid/gid 100000.
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  const pid_t pid = (*st)["pid"].get<pid_t>();
  std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
  EXPECT_TRUE(contains(status, "\nUid:\t100000\t100000\t100000\t100000\n")) << status;
  EXPECT_TRUE(contains(status, "\nGid:\t100000\t100000\t100000\t100000\n")) << status;
  EXPECT_NE(ns_link_of(pid, "user"), host_ns("user"));

  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  auto l = split_lines(read_text(out));
  ASSERT_GE(l.size(), 6u) << read_text(out);
  EXPECT_NE(l[0], "user " + host_ns("user"));
  auto norm = [](const std::string& s) {
    std::istringstream is(s);
    std::string a, b, c;
    is >> a >> b >> c;
    return a + " " + b + " " + c;
  };
  EXPECT_EQ(norm(l[1]), "0 100000 65536") << "uid_map";
  EXPECT_EQ(norm(l[2]), "0 100000 65536") << "gid_map";
  EXPECT_EQ(l[3], "0") << "id -u";
  EXPECT_EQ(l[4], "0") << "id -g";
  // Host root owns the rootfs; it is not mapped, so it shows as the overflow ID.
  EXPECT_EQ(l[5], "65534:65534") << "owner of /bin/busybox";
}

TEST_F(NamespacesTest, TimeNamespaceWithOffsets) {
  if (host_ns("time").empty()) GTEST_SKIP() << "kernel without time namespaces";
  const auto& f = runtime_features();
  if (f && f->contains("linux") && (*f)["linux"].contains("namespaces")) {
    const auto& nss = (*f)["linux"]["namespaces"];
    if (std::find(nss.begin(), nss.end(), "time") == nss.end())
      GTEST_SKIP() << "the runtime's `features` does not list the time namespace (" << nss.dump()
                   << ")";
  }
  const long offset = 10L * 365 * 24 * 3600;
  json cfg = config({"sh", "-c", print_ns({"time"}) + "; cat /proc/uptime"});
  cfg["linux"]["namespaces"].push_back({{"type", "time"}});
  cfg["linux"]["timeOffsets"] = {{"boottime", {{"secs", offset}, {"nanosecs", 0}}},
                                 {"monotonic", {{"secs", offset}, {"nanosecs", 0}}}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 2u) << r.describe();
  EXPECT_NE(l[0], "time " + host_ns("time"));
  double up = std::stod(l[1]);
  EXPECT_GE(up, static_cast<double>(offset)) << "boottime offset not applied: " << l[1];
}

// A network namespace kept by a bind mount (what `ip netns add` makes), joined by path.
TEST_F(NamespacesTest, JoinsPersistentNetworkNamespaceByPath) {
  const std::string nsfile = dir() + "/netns";
  write_text(nsfile, "");
  Result u = run_cmd({"unshare", "--net=" + nsfile, "true"});
  if (u.exit_code() == 127) GTEST_SKIP() << "no unshare(1) on the host";
  ASSERT_TRUE(u.ok()) << u.describe();
  defer([nsfile] { ::umount2(nsfile.c_str(), MNT_DETACH); });
  struct stat st;
  ASSERT_EQ(::stat(nsfile.c_str(), &st), 0);
  const std::string want = "net:[" + std::to_string(st.st_ino) + "]";
  ASSERT_NE(want, host_ns("net"));

  json cfg = config({"sh", "-c", print_ns({"net"})});
  set_ns_path(cfg, "network", nsfile);
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(parse_ns(r.out)["net"], want) << r.describe();
}

// Joining the namespaces of a running process (a pod's sandbox container).
TEST_F(NamespacesTest, JoinsNamespacesOfRunningContainer) {
  const std::string sandbox = new_id("sandbox");
  ASSERT_TRUE(create(sandbox, write_bundle(config({"sleep", "1000"}))).ok());
  ASSERT_TRUE(rt({"start", sandbox}).ok());
  auto st = state(sandbox);
  ASSERT_TRUE(st.has_value());
  const pid_t spid = (*st)["pid"].get<pid_t>();

  json cfg = config({"sh", "-c", "echo $$; " + print_ns({"pid", "net", "ipc", "uts", "mnt"})});
  const std::string proc = "/proc/" + std::to_string(spid) + "/ns/";
  set_ns_path(cfg, "pid", proc + "pid");
  set_ns_path(cfg, "network", proc + "net");
  set_ns_path(cfg, "ipc", proc + "ipc");
  cfg.erase("hostname");  // joining uts below: do not rename the sandbox
  set_ns_path(cfg, "uts", proc + "uts");
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_FALSE(l.empty());
  EXPECT_NE(l[0], "1") << "joined PID namespace already has its PID 1 (the sandbox)";
  auto inside = parse_ns(r.out);
  for (const char* n : {"pid", "net", "ipc", "uts"})
    EXPECT_EQ(inside[n], ns_link_of(spid, n)) << n << " not joined";
  EXPECT_NE(inside["mnt"], ns_link_of(spid, "mnt")) << "the mount namespace must be new";
  EXPECT_NE(inside["mnt"], host_ns("mnt"));
}

// A helper process that is not a container (unshare(1)), its network namespace joined.
TEST_F(NamespacesTest, JoinsNetworkNamespaceOfHelperProcess) {
  Child helper = spawn({"unshare", "--net", "--", "sleep", "1000"});
  ASSERT_GT(helper.pid(), 0);
  std::string link;
  bool ready = wait_until([&] {
    link = ns_link_of(helper.pid(), "net");
    return !link.empty() && link != host_ns("net");
  });
  if (!ready && !helper.running()) GTEST_SKIP() << "unshare(1) does not work here";
  ASSERT_TRUE(ready);
  json cfg = config({"sh", "-c", print_ns({"net"})});
  set_ns_path(cfg, "network", "/proc/" + std::to_string(helper.pid()) + "/ns/net");
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(parse_ns(r.out)["net"], link);
  helper.kill_group(SIGKILL);
  helper.wait();
}

}  // namespace
}  // namespace itest

namespace itest {
namespace {

json with_new_userns(json cfg) {
  cfg["linux"]["namespaces"].push_back({{"type", "user"}});
  cfg["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  cfg["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  return cfg;
}

void set_path(json& cfg, const std::string& type, const std::string& path) {
  for (auto& n : cfg["linux"]["namespaces"])
    if (n["type"] == type) n["path"] = path;
}

// A new user namespace while joining a network namespace the host owns: the container must
// join first and create its user namespace after (otherwise it has no right to join).
TEST_F(NamespacesTest, NewUserNamespaceWithJoinedNetworkNamespace) {
  if (host_ns("user").empty()) GTEST_SKIP() << "kernel without user namespaces";
  const std::string nsfile = dir() + "/netns";
  write_text(nsfile, "");
  Result u = run_cmd({"unshare", "--net=" + nsfile, "true"});
  if (u.exit_code() == 127) GTEST_SKIP() << "no unshare(1) on the host";
  ASSERT_TRUE(u.ok()) << u.describe();
  defer([nsfile] { ::umount2(nsfile.c_str(), MNT_DETACH); });
  struct stat st;
  ASSERT_EQ(::stat(nsfile.c_str(), &st), 0);

  json cfg = with_new_userns(
      config({"sh", "-c", "echo $$; readlink /proc/self/ns/net; cat /proc/self/uid_map"}));
  set_path(cfg, "network", nsfile);
  Result r = run_container(cfg);
  if (runtime_is_runc() && !r.ok()) GTEST_SKIP() << "runc 1.1 cannot mount sysfs here";
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 3u) << r.describe();
  EXPECT_EQ(l[0], "1") << "a new pid namespace, made after the user namespace";
  EXPECT_EQ(l[1], "net:[" + std::to_string(st.st_ino) + "]");
  EXPECT_TRUE(contains(l[2], "100000")) << l[2];
}

// Joining the user namespace of a running container while creating every other namespace.
TEST_F(NamespacesTest, JoinedUserNamespaceWithNewNamespaces) {
  if (host_ns("user").empty()) GTEST_SKIP() << "kernel without user namespaces";
  const std::string owner = new_id("userowner");
  ASSERT_TRUE(create(owner, write_bundle(with_new_userns(config({"sleep", "1000"})))).ok());
  ASSERT_TRUE(rt({"start", owner}).ok());
  auto st = state(owner);
  ASSERT_TRUE(st.has_value());
  const std::string userns = "/proc/" + std::to_string((*st)["pid"].get<pid_t>()) + "/ns/user";

  json cfg = config({"sh", "-c", "echo $$; readlink /proc/self/ns/user; id -u"});
  cfg["linux"]["namespaces"].push_back({{"type", "user"}, {"path", userns}});
  Result r = run_container(cfg);
  if (runtime_is_runc() && !r.ok()) GTEST_SKIP() << "runc 1.1 wants mappings for a joined userns";
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 3u) << r.describe();
  EXPECT_EQ(l[0], "1");
  char link[256] = {};
  ASSERT_GT(::readlink(userns.c_str(), link, sizeof link - 1), 0);
  EXPECT_EQ(l[1], link);
  EXPECT_EQ(l[2], "0") << "root of the joined namespace";
}

}  // namespace
}  // namespace itest
