// vessel.conf (manager/config.h): each key changes what vessel does, checked with real
// containers; unknown keys and bad values are one line naming the file, the line and the key;
// `vessel info` shows where each setting came from. (The registries.* keys are checked against
// a real registry in registry_test.cc.)
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "harness.h"

namespace itest {
namespace {

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-ctest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    conf_ = dir_ + "/vessel.conf";
    write_text(conf_, "");
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  // vessel --config conf_ [--root root_] ARGS
  Result v(const std::vector<std::string>& args, bool with_root = true) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--config", conf_};
    if (with_root) argv.insert(argv.end(), {"--root", root_});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, 60s);
  }
  void busybox() {
    auto b = v({"template", "build", "busybox"});
    ASSERT_TRUE(b.ok()) << b.describe();
  }

  std::string dir_, root_, conf_;
};

TEST_F(ConfigTest, StorageRootAndRunrootComeFromTheFile) {
  std::string root = dir_ + "/from-conf", runroot = dir_ + "/run-conf";
  write_text(conf_, "[storage]\nroot = \"" + root + "\"\nrunroot = \"" + runroot + "\"\n");
  auto b = v({"template", "build", "busybox"}, false);
  ASSERT_TRUE(b.ok()) << b.describe();
  auto r = v({"run", "-d", "--network", "none", "busybox", "sleep", "60"}, false);
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string id = trim(r.out);
  EXPECT_TRUE(exists(root + "/containers/" + id)) << "the store is storage.root";
  EXPECT_TRUE(exists(runroot + "/runtime/" + id)) << "the runtime state is under storage.runroot";
  EXPECT_FALSE(exists(root_)) << "--root's default store was not used";
  EXPECT_TRUE(v({"rm", "-f", id}, false).ok());
  // --root wins over the file.
  auto images = v({"images", "-q"});
  ASSERT_TRUE(images.ok()) << images.describe();
  EXPECT_EQ(trim(images.out), "") << "a new store under --root";
}

TEST_F(ConfigTest, StorageDriverVfs) {
  write_text(conf_, "[storage]\ndriver = \"vfs\"\n");
  busybox();
  auto r = v({"create", "--network", "none", "busybox", "true"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto s = v({"start", "-a", trim(r.out)});
  EXPECT_TRUE(s.ok()) << s.describe();
  EXPECT_EQ(read_text(root_ + "/containers/" + trim(r.out) + "/storage-driver"), "vfs\n");
  // The flag wins over the file.
  auto o = run_cmd({VESSEL_MANAGER_BIN, "--config", conf_, "--root", root_, "--storage-driver",
                    "overlay", "create", "--network", "none", "busybox", "true"});
  ASSERT_TRUE(o.ok()) << o.describe();
  auto s2 = v({"start", "-a", trim(o.out)});
  EXPECT_TRUE(s2.ok()) << s2.describe();
  EXPECT_EQ(read_text(root_ + "/containers/" + trim(o.out) + "/storage-driver"), "overlay\n");
}

TEST_F(ConfigTest, DefaultSubnetOfTheDefaultNetwork) {
  write_text(conf_, "[network]\ndefault_subnet = \"10.98.7.0/24\"\n");
  busybox();
  // A network namespace of its own: the suite's namespace may already have the default
  // network's bridge with the built-in subnet (from earlier tests), which CNI then refuses.
  auto r = run_cmd({"unshare", "--net", VESSEL_MANAGER_BIN, "--config", conf_, "--root", root_,
                    "run", "--rm", "busybox", "ip", "-4", "addr", "show", "eth0"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "inet 10.98.7.")) << r.out;
}

TEST_F(ConfigTest, DefaultNetworkIsJoinedWithoutNetworkFlag) {
  busybox();
  auto n = v({"network", "create", "--subnet", "10.97.3.0/24", "cfgnet"});
  ASSERT_TRUE(n.ok()) << n.describe();
  write_text(conf_, "[network]\ndefault_network = \"cfgnet\"\n");
  auto r = v({"run", "--rm", "busybox", "ip", "-4", "addr", "show", "eth0"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "inet 10.97.3.")) << r.out;
  auto none = v({"run", "--rm", "--network", "none", "busybox", "ip", "-4", "addr"});
  ASSERT_TRUE(none.ok()) << none.describe();
  EXPECT_FALSE(contains(none.out, "10.97.3.")) << "--network wins over the file";
}

TEST_F(ConfigTest, DefaultUlimitsUnlessTheFlagGivesThem) {
  write_text(conf_, "[containers]\nulimits = [\"nofile=1111:2222\", \"nproc=333:444\"]\n");
  busybox();
  auto r = v({"run", "--rm", "--network", "none", "busybox", "sh", "-c",
              "ulimit -n; ulimit -Hn; ulimit -u"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(trim(r.out)), (std::vector<std::string>{"1111", "2222", "333"}));
  auto f = v({"run", "--rm", "--network", "none", "--ulimit", "nofile=555:666", "busybox", "sh",
              "-c", "ulimit -n; ulimit -u"});
  ASSERT_TRUE(f.ok()) << f.describe();
  EXPECT_EQ(split_lines(trim(f.out)), (std::vector<std::string>{"555", "333"}));
}

TEST_F(ConfigTest, DefaultUsernsAutoUnlessTheFlagSaysHost) {
  write_text(conf_, "[containers]\nuserns = \"auto\"\n");
  // The container's root (a mapped id) must reach its rootfs by path: the temp dir is 0700.
  std::string parent = root_.substr(0, root_.rfind('/'));
  ASSERT_EQ(::chmod(parent.c_str(), 0711), 0);
  busybox();
  auto r = v({"run", "--rm", "--network", "none", "busybox", "cat", "/proc/self/uid_map"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto f = split_ws(trim(r.out));
  ASSERT_EQ(f.size(), 3u) << r.out;
  EXPECT_EQ(f[0], "0");
  EXPECT_NE(f[1], "0") << "container root is not host root";
  EXPECT_EQ(f[2], "65536");
  auto h = v({"run", "--rm", "--network", "none", "--userns", "host", "busybox", "cat",
              "/proc/self/uid_map"});
  ASSERT_TRUE(h.ok()) << h.describe();
  EXPECT_EQ(split_ws(trim(h.out)), (std::vector<std::string>{"0", "0", "4294967295"}));
  write_text(conf_, "[containers]\nuserns = \"private\"\n");
  auto bad = v({"run", "--rm", "--network", "none", "busybox", "true"});
  EXPECT_EQ(bad.exit_code(), 125);
  EXPECT_TRUE(contains(bad.err, "containers.userns: must be host or auto")) << bad.describe();
}

TEST_F(ConfigTest, CdiSpecDirsAreWhereDevicesComeFrom) {
  mkdirs(dir_ + "/cdi");
  write_text(dir_ + "/cdi/vessel-test.yaml",
             "cdiVersion: \"0.6.0\"\nkind: vessel.test/conf\ndevices:\n  - name: null0\n"
             "    containerEdits:\n      env: [FROM_CONF_DIR=1]\n"
             "      deviceNodes: [{path: /dev/vessel-conf-null, hostPath: /dev/null}]\n");
  busybox();
  std::vector<std::string> run = {
      "run",       "--rm",
      "--network", "none",
      "--device",  "vessel.test/conf=null0",
      "busybox",   "sh",
      "-c",        "stat -c '%t:%T' /dev/vessel-conf-null; echo $FROM_CONF_DIR"};
  // Without the key the spec is not found (the default directories do not hold it).
  auto before = v(run);
  EXPECT_NE(before.exit_code(), 0) << before.describe();
  EXPECT_TRUE(contains(before.err, "unknown CDI device \"vessel.test/conf=null0\"")) << before.err;
  write_text(conf_,
             "[containers]\ncdi_spec_dirs = [\"" + dir_ + "/none\", \"" + dir_ + "/cdi\"]\n");
  auto r = v(run);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "1:3\n1\n");
  write_text(conf_, "[containers]\ncdi_spec_dirs = [\"relative/dir\"]\n");
  auto bad = v(run);
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_TRUE(contains(bad.err, conf_ + ":2: containers.cdi_spec_dirs:")) << bad.describe();
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
}

TEST_F(ConfigTest, LogMaxSizeRotatesTheLog) {
  write_text(conf_, "[containers]\nlog_max_size = \"2k\"\n");
  busybox();
  auto r = v({"run", "--network", "none", "--name", "chatty", "busybox", "sh", "-c",
              "i=0; while [ $i -lt 100 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); "
              "done"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto id = trim(v({"ps", "-aq", "--no-trunc"}).out);
  std::string log = root_ + "/containers/" + id + "/ctr.log";
  EXPECT_TRUE(exists(log + ".1")) << "rotated past 2 KiB";
  EXPECT_LT(read_text(log).size(), 2048u + 200u);
}

TEST_F(ConfigTest, UnknownKeysAndBadValuesNameFileLineAndKey) {
  auto check = [&](const std::string& text, const std::string& want) {
    write_text(conf_, text);
    auto r = v({"images"});
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_EQ(trim(r.err), "vessel: " + conf_ + ":" + want) << r.describe();
    EXPECT_EQ(split_lines(trim(r.err)).size(), 1u);
  };
  check("[storage]\ndriver = \"vfs\"\nbogus = 1\n", "3: unknown key \"storage.bogus\"");
  check("\n[storage]\ndriver = \"zfs\"\n",
        "3: storage.driver: must be overlay, fuse-overlayfs or vfs (value \"zfs\")");
  check("[network]\ndefault_subnet = \"10.1.2.3\"\n",
        "2: network.default_subnet: must be an IPv4 subnet such as 10.90.0.0/16 (value "
        "\"10.1.2.3\")");
  check("[containers]\nulimits = \"nofile=1\"\n",
        "2: containers.ulimits: must be an array of strings");
  check("[nosuch]\nx = 1\n", "2: unknown key \"nosuch.x\"");
  write_text(conf_, "[storage\n");
  auto syntax = v({"images"});
  EXPECT_EQ(syntax.exit_code(), 125);
  EXPECT_TRUE(contains(syntax.err, conf_ + ":1: ")) << syntax.err;
  EXPECT_FALSE(exists(root_)) << "nothing was made";
  auto missing = run_cmd({VESSEL_MANAGER_BIN, "--config", dir_ + "/nope.conf", "images"});
  EXPECT_EQ(missing.exit_code(), 125);
  EXPECT_EQ(trim(missing.err), "vessel: --config " + dir_ + "/nope.conf: no such file");
}

TEST_F(ConfigTest, InfoShowsEachSettingAndItsOriginAndVersionTheCommit) {
  write_text(conf_, "# vessel\n[storage]\ndriver = \"vfs\"\n[containers]\nlog_max_size = \"5m\"\n");
  auto r = v({"info", "--format", "json"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto j = json::parse(r.out);
  EXPECT_EQ(j["settings"]["storage.driver"]["value"], "vfs");
  EXPECT_EQ(j["settings"]["storage.driver"]["origin"], conf_ + ":3");
  EXPECT_EQ(j["settings"]["containers.log_max_size"]["origin"], conf_ + ":5");
  EXPECT_EQ(j["settings"]["storage.root"]["value"], root_);
  EXPECT_EQ(j["settings"]["storage.root"]["origin"], "--root");
  EXPECT_EQ(j["settings"]["network.default_subnet"]["origin"], "default");
  EXPECT_EQ(j["config_files"], json::array({conf_}));
  EXPECT_FALSE(j["host"]["kernel"].get<std::string>().empty());
  EXPECT_FALSE(j["host"]["cgroup_version"].get<std::string>().empty());
  EXPECT_TRUE(contains(j["host"]["runtime"].get<std::string>(), "vessel-runtime version"))
      << j["host"].dump();
  auto text = v({"system", "info"});
  ASSERT_TRUE(text.ok()) << text.describe();
  EXPECT_TRUE(contains(text.out, "storage.driver")) << text.out;
  EXPECT_TRUE(contains(text.out, conf_ + ":3")) << text.out;
  EXPECT_TRUE(contains(text.out, "cgroup version:")) << text.out;

  auto ver = v({"version"});
  ASSERT_TRUE(ver.ok()) << ver.describe();
  EXPECT_TRUE(contains(ver.out, "vessel version ")) << ver.out;
  EXPECT_TRUE(contains(ver.out, "commit: ")) << ver.out;
  EXPECT_FALSE(contains(ver.out, "commit: unknown")) << ver.out;
  EXPECT_TRUE(contains(ver.out, "runtime: vessel-runtime version")) << ver.out;
}

TEST_F(ConfigTest, SystemPruneRemovesWhatNothingUses) {
  busybox();
  ASSERT_TRUE(v({"create", "--network", "none", "--name", "stopped", "busybox", "true"}).ok());
  ASSERT_TRUE(v({"network", "create", "unused"}).ok());
  ASSERT_TRUE(v({"volume", "create", "spare"}).ok());
  auto noforce = v({"system", "prune"});
  EXPECT_EQ(noforce.exit_code(), 125) << noforce.describe();
  EXPECT_TRUE(contains(noforce.err, "give -f")) << noforce.err;
  EXPECT_TRUE(contains(v({"ps", "-a"}).out, "stopped")) << "nothing removed without -f";

  auto p = v({"system", "prune", "-f"});
  ASSERT_TRUE(p.ok()) << p.describe();
  EXPECT_TRUE(contains(p.out, "stopped")) << p.out;
  EXPECT_TRUE(contains(p.out, "unused")) << p.out;
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_FALSE(contains(v({"network", "ls"}).out, "unused"));
  EXPECT_TRUE(contains(v({"volume", "ls"}).out, "spare")) << "volumes only with --volumes";
  EXPECT_FALSE(trim(v({"images", "-q"}).out).empty()) << "tagged images only with -a";

  auto all = v({"system", "prune", "-a", "--volumes", "-f"});
  ASSERT_TRUE(all.ok()) << all.describe();
  EXPECT_FALSE(contains(v({"volume", "ls"}).out, "spare"));
  EXPECT_EQ(trim(v({"images", "-q"}).out), "");
}

}  // namespace
}  // namespace itest
