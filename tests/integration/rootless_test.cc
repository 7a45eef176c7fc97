// Rootless containers: vessel-runtime run by an unprivileged user (nobody, through setpriv),
// with `spec --rootless`, state under $XDG_RUNTIME_DIR, the caller's own id mapped directly or
// subordinate ids through newuidmap/newgidmap, and a cgroup only where one is delegated.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "harness.h"

namespace itest {
namespace {

constexpr uid_t kUser = 65534;  // nobody, which every Debian has
const std::string kUserName = "nobody";

class RootlessTest : public ContainerTest {
 protected:
  void SetUp() override {
    ContainerTest::SetUp();
    if (IsSkipped()) return;
    if (runtime_is_runc()) GTEST_SKIP() << "vessel's rootless mode";
    if (run_cmd({"setpriv", "--version"}).exit_code() != 0) GTEST_SKIP() << "no setpriv(1)";
    xdg_ = dir() + "/xdg";
    mkdirs(xdg_, 0700);
    ASSERT_EQ(::chown(xdg_.c_str(), kUser, kUser), 0) << strerror(errno);
    user_shared_ = dir() + "/user-shared";
    mkdirs(user_shared_, 0777);
    ::chmod(user_shared_.c_str(), 0777);
  }

  // The runtime as the unprivileged user. `subids`, when set, is what /etc/subuid and
  // /etc/subgid hold for it (bound over them in a private mount namespace).
  Result rt_user(const std::vector<std::string>& args,
                 const std::optional<std::string>& subids = std::nullopt) {
    std::vector<std::string> argv;
    if (subids) {
      const std::string file = dir() + "/subids";
      write_text(file, *subids);
      argv = {"unshare",
              "-m",
              "sh",
              "-c",
              "mount --bind \"$0\" /etc/subuid && mount --bind \"$0\" /etc/subgid && exec \"$@\"",
              file};
    }
    for (const std::string& a : {std::string("setpriv"), "--reuid=" + std::to_string(kUser),
                                 "--regid=" + std::to_string(kUser), std::string("--clear-groups"),
                                 std::string("env"), "XDG_RUNTIME_DIR=" + xdg_, runtime_path()})
      argv.push_back(a);
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv);
  }

  // A container the user runs; deleted (as root, from the user's state root) at TearDown.
  std::string user_id(const std::string& tag) {
    std::string id = new_id(tag);
    defer([this, id] {
      run_cmd({runtime_path(), "--root", state_dir(), "delete", "--force", id});
    });
    return id;
  }

  std::string state_dir() const { return xdg_ + "/vessel-runtime"; }

  // `spec --rootless` as the user, with our rootfs, `args`, no terminal, and the user's shared
  // dir at /shared.
  json rootless_spec(std::vector<std::string> args) {
    const std::string bundle = dir() + "/spec-bundle";
    mkdirs(bundle, 0755);
    EXPECT_EQ(::chown(bundle.c_str(), kUser, kUser), 0) << strerror(errno);
    ::unlink((bundle + "/config.json").c_str());
    Result r = rt_user({"spec", "--rootless", "-b", bundle});
    EXPECT_TRUE(r.ok()) << r.describe();
    json cfg = json::parse(read_text(bundle + "/config.json"));
    cfg["root"]["path"] = shared_rootfs();
    cfg["process"]["terminal"] = false;
    cfg["process"]["args"] = std::move(args);
    cfg["mounts"].push_back(mount_entry("/shared", "bind", user_shared_, {"rbind", "rw"}));
    return cfg;
  }

  static std::string owner(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return "missing";
    return std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
  }

  std::string xdg_, user_shared_;
};

TEST_F(RootlessTest, SpecRootlessRunsAsTheUser) {
  json cfg = rootless_spec({"sh", "-c",
                            "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                            "grep NoNewPrivs /proc/self/status; touch /shared/made && echo made"});
  // What `spec --rootless` wrote: a user namespace mapping the caller onto root, no network
  // namespace of its own, no resources.
  bool userns = false, netns = false;
  for (const auto& ns : cfg["linux"]["namespaces"]) {
    userns |= ns["type"] == "user";
    netns |= ns["type"] == "network";
  }
  EXPECT_TRUE(userns);
  EXPECT_FALSE(netns);
  EXPECT_EQ(cfg["linux"]["uidMappings"][0]["hostID"], kUser);
  EXPECT_FALSE(cfg["linux"].contains("resources"));

  const std::string id = user_id("rl");
  Result r = rt_user({"run", "--bundle", write_bundle(cfg), id});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 5u) << r.describe();
  EXPECT_EQ(trim(l[0]), "0      65534          1") << r.out;
  EXPECT_EQ(trim(l[1]), "0      65534          1") << r.out;
  EXPECT_EQ(l[2], "0") << r.out;
  EXPECT_TRUE(contains(r.out, "NoNewPrivs:\t1")) << r.out;
  EXPECT_TRUE(contains(r.out, "made\n")) << r.out;
  // Root in the container, the unprivileged user on the host.
  EXPECT_EQ(owner(user_shared_ + "/made"), "65534:65534");
  // No cgroup could be made (nothing is delegated here): a warning, not a failure.
  EXPECT_TRUE(contains(r.err, "without a cgroup")) << r.describe();
  EXPECT_FALSE(exists(state_dir() + "/" + id)) << "state left behind";
  EXPECT_TRUE(cgroup_dirs("/" + id).empty()) << "a cgroup was made";
}

TEST_F(RootlessTest, LifecycleCommandsAsTheUser) {
  json cfg = rootless_spec({"sleep", "1000"});
  const std::string id = user_id("rlc");
  HostSnapshot before = snapshot();
  Result c = rt_user({"create", "--bundle", write_bundle(cfg), id});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_TRUE(exists(state_dir() + "/" + id));
  Result s = rt_user({"state", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  json st = json::parse(s.out);
  EXPECT_EQ(st["status"], "created");
  const pid_t pid = st["pid"].get<pid_t>();
  const std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
  EXPECT_TRUE(contains(status, "\nUid:\t65534\t65534\t65534\t65534\n")) << status;
  ASSERT_TRUE(rt_user({"start", id}).ok());
  Result l = rt_user({"list", "-q"});
  EXPECT_TRUE(contains(l.out, id + "\n")) << l.describe();
  EXPECT_EQ(json::parse(rt_user({"state", id}).out)["status"], "running");
  // Without a cgroup, ps lists the container's pid namespace.
  Result ps = rt_user({"ps", "--format", "json", id});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  EXPECT_EQ(json::parse(ps.out), json::array({pid})) << ps.out;
  Result e = rt_user({"exec", id, "sh", "-c", "id -u; cat /proc/self/uid_map"});
  EXPECT_TRUE(e.ok()) << e.describe();
  EXPECT_TRUE(contains(e.out, "0\n")) << e.out;
  EXPECT_TRUE(contains(e.out, "65534")) << e.out;
  // Without a cgroup, --all reaches the init, whose end takes the pid namespace with it.
  Result k = rt_user({"kill", "--all", id, "KILL"});
  EXPECT_TRUE(k.ok()) << k.describe();
  EXPECT_TRUE(wait_until([&] {
    return json::parse(rt_user({"state", id}).out)["status"] == "stopped";
  }));
  Result d = rt_user({"delete", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  expect_nothing_left(before, id, "/" + id);
  EXPECT_FALSE(exists(state_dir() + "/" + id));
}

TEST_F(RootlessTest, SubordinateIdsThroughNewuidmap) {
  if (run_cmd({"sh", "-c", "command -v newuidmap && command -v newgidmap"}).exit_code() != 0)
    GTEST_SKIP() << "no newuidmap/newgidmap (package uidmap)";
  json cfg = rootless_spec(
      {"sh", "-c", "cat /proc/self/uid_map; id -u; id -g; touch /shared/sub && echo made"});
  json maps = json::array({{{"containerID", 0}, {"hostID", kUser}, {"size", 1}},
                           {{"containerID", 1}, {"hostID", 200000}, {"size", 65536}}});
  cfg["linux"]["uidMappings"] = maps;
  cfg["linux"]["gidMappings"] = maps;
  cfg["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  const std::string id = user_id("rls");
  Result r = rt_user({"run", "--bundle", write_bundle(cfg), id}, kUserName + ":200000:65536\n");
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 5u) << r.describe();
  EXPECT_EQ(trim(l[1]), "1     200000      65536") << r.out;
  EXPECT_EQ(l[2], "1000") << r.out;
  EXPECT_EQ(l[3], "1000") << r.out;
  // Container uid 1000 is host uid 200000 + 999.
  EXPECT_EQ(owner(user_shared_ + "/sub"), "200999:200999");
}

TEST_F(RootlessTest, MappingsBeyondOwnIdsWithoutSubordinateIdsFail) {
  if (run_cmd({"sh", "-c", "command -v newuidmap"}).exit_code() != 0)
    GTEST_SKIP() << "no newuidmap (package uidmap)";
  json cfg = rootless_spec({"true"});
  cfg["linux"]["uidMappings"] =
      json::array({{{"containerID", 0}, {"hostID", 300000}, {"size", 10}}});
  const std::string id = user_id("rlf");
  HostSnapshot before = snapshot();
  Result r = rt_user({"run", "--bundle", write_bundle(cfg), id}, "");
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "linux.uidMappings")) << r.describe();
  EXPECT_TRUE(contains(r.err, "newuidmap")) << r.describe();
  expect_nothing_left(before, id, "/" + id);
  EXPECT_FALSE(exists(state_dir() + "/" + id));
}

// A cgroup v2 subtree delegated to the user (chowned, as systemd's Delegate=yes does): the
// container gets its cgroup and limits there. On a hybrid host the runtime runs in a private
// mount namespace with cgroup2 on /sys/fs/cgroup, so it sees a pure v2 layout.
TEST_F(RootlessTest, DelegatedCgroupV2SubtreeGetsLimits) {
  std::string unified;
  for (const auto& mp : cgroup_mount_points())
    if (exists(mp + "/cgroup.controllers") && (unified.empty() || mp == "/sys/fs/cgroup"))
      unified = mp;
  if (unified.empty()) GTEST_SKIP() << "no cgroup2 mount";
  const bool pure_v2 = unified == "/sys/fs/cgroup";
  const std::string name = "vessel-itest-deleg-" + std::to_string(::getpid());
  const std::string deleg = unified + "/" + name;
  ASSERT_EQ(::mkdir(deleg.c_str(), 0755), 0) << strerror(errno);
  ASSERT_EQ(::mkdir((deleg + "/runner").c_str(), 0755), 0) << strerror(errno);
  defer([deleg] {
    ::rmdir((deleg + "/c").c_str());
    ::rmdir((deleg + "/runner").c_str());
    ::rmdir(deleg.c_str());
  });
  for (const char* f : {"", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads",
                        "/runner", "/runner/cgroup.procs"})
    ASSERT_EQ(::chown((deleg + f).c_str(), kUser, kUser), 0) << f << ": " << strerror(errno);
  const std::string controllers = read_text(deleg + "/cgroup.controllers");
  const bool pids = contains(controllers, "pids");

  json cfg = rootless_spec({"sleep", "1000"});
  cfg["linux"]["cgroupsPath"] = "/" + name + "/c";
  if (pids) cfg["linux"]["resources"] = {{"pids", {{"limit", 42}}}};
  const std::string id = user_id("rld");
  const std::string bundle = write_bundle(cfg);
  // The runtime starts in the delegated "runner" cgroup: moving a process between cgroups
  // needs write access to their common ancestor, which is the delegated one.
  auto in_delegated_cgroup = [&](const std::string& args) {
    // Inside the namespace the delegated cgroup is /sys/fs/cgroup/<name> either way.
    std::string script = "echo $$ > /sys/fs/cgroup/" + name + "/runner/cgroup.procs && ";
    if (!pure_v2) script = "mount -t cgroup2 none /sys/fs/cgroup && " + script;
    script +=
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_RUNTIME_DIR=" + xdg_ +
        " " + runtime_path() + " " + args;
    return run_cmd({"unshare", "-m", "sh", "-c", script});
  };
  Result c = in_delegated_cgroup("create --bundle " + bundle + " " + id);
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_FALSE(contains(c.err, "without a cgroup")) << c.describe();
  json st = json::parse(rt_user({"state", id}).out);
  const pid_t pid = st["pid"].get<pid_t>();
  const std::string own = read_text("/proc/" + std::to_string(pid) + "/cgroup");
  EXPECT_TRUE(contains(own, "0::/" + name + "/c\n")) << own;
  EXPECT_EQ(owner(deleg + "/c"), "65534:65534");
  if (pids) {
    EXPECT_EQ(trim(read_text(deleg + "/c/pids.max")), "42");
  }
  Result d = in_delegated_cgroup("delete --force " + id);
  EXPECT_TRUE(d.ok()) << d.describe();
  EXPECT_FALSE(exists(deleg + "/c")) << "the container's cgroup is left";
}

}  // namespace
}  // namespace itest
