// Bad bundles: each one fails non-zero AND leaves nothing behind (no state under --root, no
// cgroup, no mount, no process). For vessel-runtime the error message must also name the
// JSON path at fault; runc's messages are not checked.
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

class ErrorsTest : public ContainerTest {
 protected:
  // Creates (or runs) a container from `bundle`, expects failure and a clean host.
  Result expect_fails_cleanly(const std::string& bundle, const std::string& cgroups_path,
                              const std::vector<std::string>& vessel_message_parts,
                              const std::string& command = "create") {
    const std::string id = new_id("err");
    HostSnapshot before = snapshot();
    Result r = rt({command, "--bundle", bundle, id});
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_NE(r.exit_code(), 0) << "must fail" << r.describe();
    EXPECT_NE(rt({"state", id}).exit_code(), 0) << "a container exists after the failure";
    expect_nothing_left(before, id, cgroups_path);
    EXPECT_FALSE(exists(shared_dir() + "/started")) << "the program ran";
    if (!runtime_is_runc()) {
      for (const auto& part : vessel_message_parts)
        EXPECT_TRUE(contains(r.err, part))
            << "the error message does not name \"" << part << "\"" << r.describe();
    }
    return r;
  }
  json cfg_() { return config({"touch", "/shared/started"}); }
};

TEST_F(ErrorsTest, InvalidJson) {
  json cfg = cfg_();
  std::string raw = cfg.dump();
  raw.resize(raw.size() / 2);  // truncated
  expect_fails_cleanly(write_raw_bundle(raw), cfg["linux"]["cgroupsPath"], {"config.json"});
}

TEST_F(ErrorsTest, InvalidJsonWithRun) {
  json cfg = cfg_();
  expect_fails_cleanly(write_raw_bundle("{\"ociVersion\": \"1.0.2\", "),
                       cfg["linux"]["cgroupsPath"], {"config.json"}, "run");
}

TEST_F(ErrorsTest, MissingConfigJson) {
  const std::string b = dir() + "/empty-bundle";
  mkdirs(b);
  expect_fails_cleanly(b, "", {"config.json"});
}

// A label for an LSM the host does not have is refused (runc's rule), not silently dropped:
// the container would otherwise run unconfined. Where the LSM is on, the label is applied.
TEST_F(ErrorsTest, LsmLabelsNeedTheirLsm) {
  bool apparmor = contains(read_text("/sys/module/apparmor/parameters/enabled"), "Y");
  json cfg = cfg_();
  cfg["process"]["apparmorProfile"] = "unconfined";
  if (!apparmor) {
    expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"],
                         {"process.apparmorProfile", "AppArmor is not enabled"});
  } else {
    cfg["process"]["args"] = json({"sh", "-c", "cat /proc/self/attr/current > /shared/label"});
    Result r = run_container(cfg);
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_TRUE(contains(read_text(shared_dir() + "/label"), "unconfined"));
  }
  if (!exists("/sys/fs/selinux/enforce")) {
    json se = cfg_();
    se["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0";
    expect_fails_cleanly(write_bundle(se), se["linux"]["cgroupsPath"],
                         {"process.selinuxLabel", "SELinux is not enabled"});
    json ml = cfg_();
    ml["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0";
    expect_fails_cleanly(write_bundle(ml), ml["linux"]["cgroupsPath"],
                         {"linux.mountLabel", "SELinux is not enabled"});
  }
}

TEST_F(ErrorsTest, UnknownNamespaceType) {
  json cfg = cfg_();
  cfg["linux"]["namespaces"].push_back({{"type", "bogus"}});
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {"linux.namespaces"});
}

TEST_F(ErrorsTest, NamespacePathThatIsNotANamespace) {
  json cfg = cfg_();
  const std::string notns = dir() + "/not-a-namespace";
  write_text(notns, "");
  for (auto& n : cfg["linux"]["namespaces"])
    if (n["type"] == "network") n["path"] = notns;
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {"linux.namespaces"});
}

TEST_F(ErrorsTest, MissingRootfs) {
  json cfg = cfg_();
  cfg["root"]["path"] = dir() + "/no-such-rootfs";
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {"root.path"});
}

TEST_F(ErrorsTest, RelativeCwd) {
  json cfg = cfg_();
  cfg["process"]["cwd"] = "relative/dir";
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {"process.cwd"});
}

TEST_F(ErrorsTest, RelativeCwdWithRun) {
  json cfg = cfg_();
  cfg["process"]["cwd"] = "tmp";
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {"process.cwd"}, "run");
}

// runc looks the program up at create time and fails there.
TEST_F(ErrorsTest, ProgramNotFound) {
  json cfg = cfg_();
  cfg["process"]["args"] = {"/no/such/program"};
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {"/no/such/program"});
}

TEST_F(ErrorsTest, UnknownMountType) {
  json cfg = cfg_();
  cfg["mounts"].push_back(mount_entry("/mnt", "no-such-fs", "none"));
  const std::string where = "mounts[" + std::to_string(cfg["mounts"].size() - 1) + "]";
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {where});
}

TEST_F(ErrorsTest, BindMountOfMissingSource) {
  json cfg = cfg_();
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", dir() + "/no-such-source", {"rbind"}));
  const std::string where = "mounts[" + std::to_string(cfg["mounts"].size() - 1) + "]";
  expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {where});
}

// linux.resources values that only the cgroup layer can refuse (the kernel, or what the host
// offers): create fails, nothing is left behind, and the message is one line that starts like
// the spec's own errors, "config.json: linux.resources.<field>: ". Cases that do not apply to
// the host's cgroup layout are left out.
TEST_F(ErrorsTest, ResourceErrorsFromTheCgroupLayerNameConfigJson) {
  auto root = find_mount(parse_mountinfo(read_text("/proc/self/mountinfo")), "/sys/fs/cgroup");
  const bool v2 = root && root->fstype == "cgroup2";
  bool net_cls_mounted = false;
  for (const MountInfo& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
    net_cls_mounted =
        net_cls_mounted || (m.fstype == "cgroup" && has_option(m.super_opts, "net_cls"));
  // A block device number no host has (majors stop at 4095).
  const json no_such_disk = {{{"major", 4095}, {"minor", 1048575}, {"rate", 1048576}}};

  struct Case {
    json resources;
    std::string prefix;
  };
  std::vector<Case> cases = {
      {{{"unified", {{"../memory.max", "1"}}}},
       "config.json: linux.resources.unified.../memory.max: "},
      {{{"cpu", {{"cpus", "99999"}}}}, "config.json: linux.resources.cpu.cpus: "},
      {{{"blockIO", {{"throttleReadBpsDevice", no_such_disk}}}},
       "config.json: linux.resources.blockIO.throttle"},
      {{{"hugepageLimits", {{{"pageSize", "3MB"}, {"limit", 1048576}}}}},
       "config.json: linux.resources.hugepageLimits[0].pageSize: "},
      {{{"rdma", {{"nodev0", {{"hcaHandles", 1}}}}}}, "config.json: linux.resources.rdma"},
  };
  if (v2)
    cases.push_back({{{"unified", {{"memory.nosuchfile", "1"}}}},
                     "config.json: linux.resources.unified.memory.nosuchfile: "});
  else
    cases.push_back(
        {{{"unified", {{"memory.high", "1"}}}}, "config.json: linux.resources.unified: "});
  if (!v2 && !net_cls_mounted)
    cases.push_back(
        {{{"network", {{"classID", 1048577}}}}, "config.json: linux.resources.network.classID: "});

  for (const Case& c : cases) {
    SCOPED_TRACE(c.resources.dump());
    json cfg = cfg_();
    cfg["linux"]["resources"] = c.resources;
    Result r = expect_fails_cleanly(write_bundle(cfg), cfg["linux"]["cgroupsPath"], {c.prefix});
    if (runtime_is_runc()) continue;
    // One line, where the message (after the log's own prefix) starts with the JSON path.
    int lines = 0;
    for (const std::string& line : split_lines(r.err)) {
      size_t at = line.find(c.prefix);
      if (at == std::string::npos) continue;
      ++lines;
      EXPECT_TRUE(at == 0 || line[at - 1] == ' ' || line[at - 1] == '"') << line;
    }
    EXPECT_EQ(lines, 1) << r.describe();
  }
}

// Mount destinations that try to leave the rootfs. The host outside the rootfs must never be
// touched. runc confines them (it resolves the path inside the rootfs and mounts there);
// vessel-runtime refuses a ".." that leaves the root, naming the mount.
class EscapeTest : public ErrorsTest {
 protected:
  void SetUp() override {
    ErrorsTest::SetUp();
    outside_ = dir() + "/outside";
    mkdirs(outside_);
    rootfs_ = make_private_rootfs();
  }
  // Runs a container with a tmpfs at `dest` that writes a marker into it.
  void check(const std::string& dest, const std::string& confined_path, bool must_fail) {
    json cfg = config({"sh", "-c", "touch /shared/started"});
    cfg["root"]["path"] = rootfs_;
    cfg["root"]["readonly"] = false;
    cfg["mounts"].push_back(mount_entry(dest, "tmpfs", "tmpfs", {"size=1m"}));
    const std::string where = "mounts[" + std::to_string(cfg["mounts"].size() - 1) + "]";
    const std::string cg = cfg["linux"]["cgroupsPath"];
    const std::string b = write_bundle(cfg);
    const std::string id = new_id("esc");
    HostSnapshot before = snapshot();
    Result r = rt({"run", "--bundle", b, id});
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_FALSE(exists(outside_ + "/created-by-runtime"))
        << "the runtime created a directory OUTSIDE the rootfs" << r.describe();
    if (r.exit_code() != 0) {
      // Failure: clean, and (vessel) the message names the mount.
      expect_nothing_left(before, id, cg);
      EXPECT_FALSE(exists(shared_dir() + "/started"));
      if (!runtime_is_runc()) {
        EXPECT_TRUE(contains(r.err, where)) << r.describe();
      }
      fprintf(stderr, "[itest] mount destination %s: refused\n", dest.c_str());
      return;
    }
    EXPECT_FALSE(must_fail) << "mount destination " << dest << " was accepted" << r.describe();
    fprintf(stderr, "[itest] mount destination %s: confined to the rootfs\n", dest.c_str());
    // Success: the mount landed inside the rootfs.
    EXPECT_TRUE(exists(rootfs_ + confined_path))
        << "the mount point is not inside the rootfs at " << confined_path;
    expect_nothing_left(before, id, cg);
  }
  std::string outside_, rootfs_;
};

TEST_F(EscapeTest, DestinationWithDotDot) {
  const std::string dest = "/../../../../../../../../.." + outside_ + "/created-by-runtime";
  check(dest, outside_ + "/created-by-runtime", !runtime_is_runc());
}

TEST_F(EscapeTest, DestinationThroughRelativeSymlinkPointingOutside) {
  std::string up;
  for (int i = 0; i < 16; ++i) up += "../";
  ASSERT_EQ(::symlink((up + outside_.substr(1)).c_str(), (rootfs_ + "/escape").c_str()), 0);
  check("/escape/created-by-runtime", outside_ + "/created-by-runtime", !runtime_is_runc());
}

// An absolute symlink is resolved against the container's root: confined (or refused).
TEST_F(EscapeTest, DestinationThroughAbsoluteSymlinkPointingOutside) {
  ASSERT_EQ(::symlink(outside_.c_str(), (rootfs_ + "/escape").c_str()), 0);
  check("/escape/created-by-runtime", outside_ + "/created-by-runtime", false);
}

}  // namespace
}  // namespace itest
