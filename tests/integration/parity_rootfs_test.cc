// Parity with runc 1.1 for the container's root: shared rootfs propagation, containers without
// a mount namespace, --no-pivot against a nested procfs mount, and the working directory of
// each kind of hook.
#include <sys/mount.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "harness.h"

namespace itest {
namespace {

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// Mount points of the test process's (the host's) mount namespace at or below `dir`.
std::vector<std::string> host_mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
    if (m.mount_point == dir || m.mount_point.rfind(dir + "/", 0) == 0)
      out.push_back(m.mount_point);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += " " + x;
  return s;
}

// ---------------------------------------------------------------------------------------------
// linux.rootfsPropagation

class ParityRootfsPropagationTest : public ContainerTest {};

TEST_F(ParityRootfsPropagationTest, EveryPropagationRuns) {
  // shared/rshared used to fail in pivot_root (EINVAL): the rootfs's parent mount was shared.
  for (const char* prop : {"rshared", "shared", "rslave", "slave", "rprivate", "private"}) {
    json cfg = config({"cat", "/proc/self/mountinfo"});
    cfg["linux"]["rootfsPropagation"] = prop;
    Result r = run_container(cfg);
    ASSERT_TRUE(r.ok()) << "rootfsPropagation " << prop << r.describe();
    EXPECT_TRUE(find_mount(parse_mountinfo(r.out), "/").has_value()) << prop << r.describe();
  }
}

// Kubernetes' Bidirectional propagation: with rshared, a volume bound from a shared host mount
// stays a peer of it (shared:N); with the default rslave it only receives (master:N).
TEST_F(ParityRootfsPropagationTest, RsharedKeepsAVolumeShared) {
  const std::string vol = dir() + "/vol";
  mkdirs(vol);
  ASSERT_EQ(::mount("tmpfs", vol.c_str(), "tmpfs", 0, "size=64k"), 0) << strerror(errno);
  defer([vol] { ::umount2(vol.c_str(), MNT_DETACH); });
  ASSERT_EQ(::mount("", vol.c_str(), nullptr, MS_SHARED, nullptr), 0) << strerror(errno);

  for (const char* prop : {"rshared", ""}) {
    json cfg = config({"cat", "/proc/self/mountinfo"});
    cfg["mounts"].push_back(mount_entry("/data", "bind", vol, {"rbind", "rw"}));
    if (*prop) cfg["linux"]["rootfsPropagation"] = prop;
    Result r = run_container(cfg);
    ASSERT_TRUE(r.ok()) << "rootfsPropagation \"" << prop << "\"" << r.describe();
    auto data = find_mount(parse_mountinfo(r.out), "/data");
    ASSERT_TRUE(data.has_value()) << r.describe();
    if (*prop) {
      EXPECT_TRUE(contains(data->optional, "shared:")) << prop << r.describe();
    } else {
      EXPECT_TRUE(contains(data->optional, "master:")) << "default rslave" << r.describe();
      EXPECT_FALSE(contains(data->optional, "shared:")) << "default rslave" << r.describe();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A spec without a mount namespace: the container shares the runtime's. As runc 1.1 does, the
// rootfs is set up and chrooted into; unlike runc, what was mounted for it is gone after delete.

class ParityRootfsNoMountNsTest : public ContainerTest {
 protected:
  // A private rootfs with a marker at its top, and a config without a mount namespace (nor
  // masked/read-only paths, which need one).
  json config_without_mount_ns(std::vector<std::string> args) {
    rootfs_ = make_private_rootfs();
    write_text(rootfs_ + "/rootfs-marker", "x\n");
    // What runc 1.1 leaves mounted on the host, so the test dir can be removed.
    defer([r = real_path(rootfs_)] {
      if (!host_mounts_under(r).empty()) ::umount2(r.c_str(), MNT_DETACH);
    });
    json cfg = config(std::move(args));
    cfg["root"]["path"] = rootfs_;
    json ns = json::array();
    for (const auto& n : cfg["linux"]["namespaces"])
      if (n["type"] != "mount") ns.push_back(n);
    cfg["linux"]["namespaces"] = ns;
    cfg["linux"]["maskedPaths"] = json::array();
    cfg["linux"]["readonlyPaths"] = json::array();
    return cfg;
  }
  std::string rootfs_;
};

TEST_F(ParityRootfsNoMountNsTest, RunsChrootedIntoTheRootfs) {
  json cfg = config_without_mount_ns(
      {"sh", "-c", "ls /; echo ns=$(readlink /proc/self/ns/mnt); cat /proc/self/mountinfo"});
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "rootfs-marker")) << "not in the rootfs" << r.describe();
  EXPECT_TRUE(contains(r.out, "ns=" + host_ns("mnt")))
      << "not the runtime's mount namespace" << r.describe();
  auto mounts = parse_mountinfo(r.out.substr(r.out.find("ns=")));
  EXPECT_TRUE(find_mount(mounts, "/proc").has_value()) << "the spec's mounts" << r.describe();
  auto root = find_mount(mounts, "/");
  ASSERT_TRUE(root.has_value()) << r.describe();
  // The rootfs itself stays writable for the host: only the container's view is read-only.
  write_text(rootfs_ + "/written-by-host", "x\n");
  EXPECT_TRUE(exists(rootfs_ + "/written-by-host"));
  const std::string rootfs = real_path(rootfs_);

  // Where runc 1.1 is seen to deviate (from the runtime-spec, or by leaving the host changed),
  // the test skips at the end saying so.
  std::string runc_deviations;
  if (!has_option(root->mount_opts, "ro")) {
    if (runtime_is_runc())
      runc_deviations += "; runc 1.1 ignores root.readonly without a mount namespace";
    else
      ADD_FAILURE() << "root.readonly" << r.describe();
  }
  if (!host_mounts_under(rootfs).empty()) {
    if (runtime_is_runc())
      runc_deviations += "; runc 1.1 leaves the container's mounts in the host's mount namespace";
    else
      ADD_FAILURE() << "left mounted on the host:" << joined(host_mounts_under(rootfs));
  }
  if (!runc_deviations.empty()) GTEST_SKIP() << runc_deviations.substr(2);
}

TEST_F(ParityRootfsNoMountNsTest, WithoutAnyNamespace) {
  json cfg = config_without_mount_ns({"sh", "-c", "ls /; readlink /proc/self/ns/pid"});
  cfg["linux"]["namespaces"] = json::array();
  cfg.erase("hostname");
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "rootfs-marker")) << r.describe();
  EXPECT_TRUE(contains(r.out, host_ns("pid"))) << r.describe();
}

TEST_F(ParityRootfsNoMountNsTest, MaskedPathsNeedAMountNamespace) {
  json cfg = config_without_mount_ns({"true"});
  cfg["linux"]["maskedPaths"] = {"/proc/kcore"};
  std::string id;
  Result r = run_container(cfg, {}, &id);
  EXPECT_FALSE(r.ok()) << "masked paths without a mount namespace would mask the host's"
                       << r.describe();
  if (!runtime_is_runc()) {
    EXPECT_TRUE(contains(r.err, "mount namespace")) << r.describe();
  }
  EXPECT_TRUE(host_mounts_under(rootfs_).empty()) << joined(host_mounts_under(rootfs_));
  EXPECT_TRUE(host_mounts_under(real_path(rootfs_)).empty());
}

TEST_F(ParityRootfsNoMountNsTest, AFailedCreateLeavesNothingMounted) {
  json cfg = config_without_mount_ns({"true"});
  // Fails after the rootfs bind and the first mounts are made in the host's mount table.
  cfg["mounts"].push_back(mount_entry("/data", "bind", dir() + "/missing-source", {"rbind"}));
  const std::string rootfs = real_path(rootfs_);
  Result r = run_container(cfg);
  ASSERT_FALSE(r.ok()) << r.describe();
  if (runtime_is_runc() && !host_mounts_under(rootfs).empty())
    GTEST_SKIP() << "runc 1.1 leaves the container's mounts in the host's mount namespace";
  EXPECT_TRUE(host_mounts_under(rootfs).empty())
      << "left mounted on the host:" << joined(host_mounts_under(rootfs));
}

TEST_F(ParityRootfsNoMountNsTest, ExecAndDeleteLeaveTheHostMountTableAsItWas) {
  json cfg = config_without_mount_ns({"sleep", "1000"});
  const std::string id = new_id("nomntns");
  const std::string rootfs = real_path(rootfs_);
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "running"));

  Result e = rt({"exec", id, "ls", "/"});
  ASSERT_TRUE(e.ok()) << e.describe();
  // runc 1.1 joins no mount namespace and leaves the process in the host's root (what is
  // left mounted is still checked below for it).
  const bool runc_exec_in_host_root = runtime_is_runc() && !contains(e.out, "rootfs-marker");
  if (!runc_exec_in_host_root) {
    EXPECT_TRUE(contains(e.out, "rootfs-marker")) << "exec is not in the rootfs" << e.describe();
  }
  EXPECT_FALSE(host_mounts_under(rootfs).empty()) << "the spec's mounts are on the rootfs";

  ASSERT_TRUE(rt({"delete", "--force", id}).ok());
  if (runtime_is_runc() && !host_mounts_under(rootfs).empty())
    GTEST_SKIP() << "runc 1.1 leaves the container's mounts in the host's mount namespace"
                 << (runc_exec_in_host_root ? "; its exec runs in the host's root" : "");
  EXPECT_TRUE(host_mounts_under(rootfs).empty())
      << "left mounted on the host:" << joined(host_mounts_under(rootfs));
}

// ---------------------------------------------------------------------------------------------
// --no-pivot: a process that gains CAP_SYS_ADMIN in a nested user namespace must not be able
// to mount a fresh procfs (the kernel allows that while a full procfs mount is visible in the
// mount namespace; the host's /proc stays in it below a chroot).

class ParityRootfsNoPivotTest : public ContainerTest {};

TEST_F(ParityRootfsNoPivotTest, NestedUsernsCannotMountProcfs) {
  if (host_ns("user").empty()) GTEST_SKIP() << "kernel without user namespaces";
  json cfg = config({"sh", "-c",
                     "mkdir -p /shared/p; "
                     "unshare --user --map-root-user --mount --pid --fork true && echo userns=ok; "
                     "unshare --user --map-root-user --mount --pid --fork "
                     "mount -t proc proc /shared/p && echo procfs=mounted; true"});
  // Mapping root needs CAP_SETFCAP (Docker's default set has it).
  for (const char* set : {"bounding", "effective", "permitted"})
    cfg["process"]["capabilities"][set].push_back("CAP_SETFCAP");
  for (bool no_pivot : {false, true}) {
    const std::string id = new_id("nopivot");
    std::vector<std::string> args = {"run"};
    if (no_pivot) args.push_back("--no-pivot");
    args.insert(args.end(), {"--bundle", write_bundle(cfg), id});
    Result r = rt(args);
    ASSERT_TRUE(r.ok()) << r.describe();
    if (!contains(r.out, "userns=ok"))
      GTEST_SKIP() << "no nested user namespaces here (e.g. user.max_user_namespaces=0)"
                   << r.describe();
    EXPECT_FALSE(contains(r.out, "procfs=mounted"))
        << (no_pivot ? "--no-pivot" : "pivot_root") << ": a fresh procfs was mounted"
        << r.describe();
  }
}

// ---------------------------------------------------------------------------------------------
// Hooks' working directory: createContainer the rootfs (in the container's mount namespace,
// before pivot_root), startContainer process.cwd, the others the bundle.

class ParityRootfsHooksTest : public ContainerTest {
 protected:
  json cwd_hook(const std::string& name, const std::string& out_dir) {
    return {{"path", "/bin/sh"},
            {"args", {"sh", "-c", "readlink /proc/self/cwd > " + out_dir + "/" + name}}};
  }
};

TEST_F(ParityRootfsHooksTest, EachHookKindRunsInItsDirectory) {
  const std::string out = dir() + "/cwd";
  mkdirs(out, 0777);
  json cfg = config({"true"});
  cfg["process"]["cwd"] = "/shared";
  cfg["hooks"] = {{"prestart", {cwd_hook("prestart", out)}},
                  {"createRuntime", {cwd_hook("createRuntime", out)}},
                  {"createContainer", {cwd_hook("createContainer", out)}},
                  {"startContainer", {cwd_hook("startContainer", "/shared")}},
                  {"poststart", {cwd_hook("poststart", out)}}};
  const std::string bundle = write_bundle(cfg);
  const std::string id = new_id("hookcwd");
  char here[PATH_MAX];
  ASSERT_NE(::getcwd(here, sizeof here), nullptr);
  ASSERT_NE(real_path(bundle), std::string(here)) << "the test must run outside the bundle";

  ASSERT_TRUE(create(id, bundle).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  ASSERT_TRUE(rt({"delete", id}).ok());

  EXPECT_EQ(trim(read_text(out + "/prestart")), real_path(bundle));
  EXPECT_EQ(trim(read_text(out + "/createRuntime")), real_path(bundle));
  EXPECT_EQ(trim(read_text(out + "/createContainer")), real_path(shared_rootfs()));
  EXPECT_EQ(trim(read_text(shared_dir() + "/startContainer")), "/shared");
  EXPECT_EQ(trim(read_text(out + "/poststart")), real_path(bundle));
}

TEST_F(ParityRootfsHooksTest, PoststopOfRunRunsInTheBundle) {
  const std::string out = dir() + "/cwd";
  mkdirs(out, 0777);
  json cfg = config({"true"});
  cfg["hooks"] = {{"poststop", {cwd_hook("poststop", out)}}};
  const std::string bundle = write_bundle(cfg);
  Result r = rt({"run", "--bundle", bundle, new_id("hookcwd")});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(read_text(out + "/poststop")), real_path(bundle));
}

}  // namespace
}  // namespace itest
