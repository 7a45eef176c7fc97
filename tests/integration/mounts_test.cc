// Mounts and the container's filesystem: mount options as the kernel shows them in
// /proc/self/mountinfo inside, rbind, propagation, read-only root, created destinations,
// masked and read-only paths, default and configured devices, sysctl.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "harness.h"

namespace itest {
namespace {

class MountsTest : public ContainerTest {
 protected:
  // Runs `script` then prints the mountinfo after a marker line; returns (script output,
  // mounts).
  std::pair<std::string, std::vector<MountInfo>> run_and_mountinfo(json cfg,
                                                                   const std::string& script,
                                                                   Result* res = nullptr) {
    cfg["process"]["args"] = {"sh", "-c",
                              script + "; echo @@MOUNTINFO@@; cat /proc/self/mountinfo"};
    Result r = run_container(cfg);
    if (res) *res = r;
    EXPECT_TRUE(r.ok()) << r.describe();
    auto pos = r.out.find("@@MOUNTINFO@@\n");
    if (pos == std::string::npos) return {r.out, {}};
    return {r.out.substr(0, pos), parse_mountinfo(r.out.substr(pos + 14))};
  }
  // Our own mount on the host, in this test's dir; unmounted at TearDown.
  void host_tmpfs(const std::string& where) {
    mkdirs(where);
    ASSERT_EQ(::mount("itest", where.c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
    defer([where] { ::umount2(where.c_str(), MNT_DETACH); });
  }
};

TEST_F(MountsTest, DefaultMountsAreThere) {
  auto [out, mi] = run_and_mountinfo(config({}), "true");
  struct Want {
    const char* mp;
    const char* fstype;
    std::vector<std::string> opts;
  };
  for (const Want& w : std::vector<Want>{{"/proc", "proc", {}},
                                         {"/dev", "tmpfs", {"nosuid"}},
                                         {"/dev/pts", "devpts", {"nosuid", "noexec"}},
                                         {"/dev/shm", "tmpfs", {"nosuid", "nodev", "noexec"}},
                                         {"/dev/mqueue", "mqueue", {"nosuid", "nodev", "noexec"}},
                                         {"/sys", "sysfs", {"ro", "nosuid", "nodev", "noexec"}}}) {
    auto m = find_mount(mi, w.mp);
    ASSERT_TRUE(m.has_value()) << "no mount at " << w.mp;
    EXPECT_EQ(m->fstype, w.fstype) << w.mp;
    for (const auto& o : w.opts)
      EXPECT_TRUE(has_option(m->mount_opts, o)) << w.mp << " lacks " << o;
  }
  auto dev = find_mount(mi, "/dev");
  EXPECT_TRUE(has_option(dev->super_opts, "mode=755")) << dev->super_opts;
  auto shm = find_mount(mi, "/dev/shm");
  EXPECT_TRUE(has_option(shm->super_opts, "size=65536k")) << shm->super_opts;
}

TEST_F(MountsTest, BindMountWithRoNosuidNodevNoexec) {
  const std::string src = dir() + "/data";
  mkdirs(src);
  write_text(src + "/hello", "hello from the host\n");
  // A hard link where it can be (same filesystem), else a copy: the test needs an executable.
  if (::link("/bin/busybox", (src + "/busybox").c_str()) != 0) {
    ASSERT_EQ(errno, EXDEV) << strerror(errno);
    ASSERT_TRUE(run_cmd({"cp", "/bin/busybox", src + "/busybox"}).ok());
  }
  json cfg = config({});
  cfg["mounts"].push_back(
      mount_entry("/data", "bind", src, {"bind", "ro", "nosuid", "nodev", "noexec"}));
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "cat /data/hello; touch /data/new 2>/dev/null && echo writable || echo read-only;"
      " /data/busybox true 2>/dev/null && echo exec-ok || echo exec-denied");
  auto m = find_mount(mi, "/data");
  ASSERT_TRUE(m.has_value()) << out;
  for (const char* o : {"ro", "nosuid", "nodev", "noexec"})
    EXPECT_TRUE(has_option(m->mount_opts, o)) << "/data lacks " << o << ": " << m->mount_opts;
  auto l = split_lines(out);
  ASSERT_EQ(l.size(), 3u) << out;
  EXPECT_EQ(l[0], "hello from the host");
  EXPECT_EQ(l[1], "read-only");
  EXPECT_EQ(l[2], "exec-denied");
  EXPECT_FALSE(exists(src + "/new"));
}

// The destination does not exist yet (it is created inside another tmpfs): runc keeps the
// mode of an existing destination directory instead of mode=, so this test avoids that case.
TEST_F(MountsTest, TmpfsWithSizeAndMode) {
  json cfg = config({});
  cfg["mounts"].push_back(mount_entry("/mnt", "tmpfs", "tmpfs", {"size=1m"}));
  cfg["mounts"].push_back(
      mount_entry("/mnt/scratch", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1m", "mode=1770"}));
  auto [out, mi] =
      run_and_mountinfo(cfg, "stat -c %a /mnt/scratch; touch /mnt/scratch/f && echo writable");
  auto m = find_mount(mi, "/mnt/scratch");
  ASSERT_TRUE(m.has_value()) << out;
  EXPECT_EQ(m->fstype, "tmpfs");
  EXPECT_TRUE(has_option(m->super_opts, "size=1024k")) << m->super_opts;
  EXPECT_TRUE(has_option(m->super_opts, "mode=1770")) << m->super_opts;
  EXPECT_TRUE(has_option(m->mount_opts, "nosuid")) << m->mount_opts;
  EXPECT_TRUE(has_option(m->mount_opts, "nodev")) << m->mount_opts;
  EXPECT_EQ(split_lines(out), (std::vector<std::string>{"1770", "writable"}));
}

// tmpcopyup (podman adds it to every --tmpfs and to the tmpfs mounts of --read-only): the
// tmpfs starts with a copy of what the directory held (owners, modes, symlinks), its root
// takes the directory's mode, and what the container writes there stays in the tmpfs.
TEST_F(MountsTest, TmpfsCopyUp) {
  std::string rootfs = make_private_rootfs();
  mkdirs(rootfs + "/data/sub");
  write_text(rootfs + "/data/sub/f", "hello\n", 0604);
  ASSERT_EQ(::chown((rootfs + "/data/sub/f").c_str(), 1000, 1000), 0) << strerror(errno);
  ASSERT_EQ(::symlink("sub/f", (rootfs + "/data/link").c_str()), 0) << strerror(errno);
  ASSERT_EQ(::chmod((rootfs + "/data").c_str(), 01777), 0) << strerror(errno);
  json cfg = config({});
  cfg["root"]["path"] = rootfs;
  cfg["mounts"].push_back(mount_entry("/data", "tmpfs", "tmpfs", {"nosuid", "nodev", "tmpcopyup"}));
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "cat /data/link; stat -c '%a %u:%g' /data /data/sub/f; readlink /data/link; "
      "echo new > /data/new && echo wrote");
  auto m = find_mount(mi, "/data");
  ASSERT_TRUE(m.has_value()) << out;
  EXPECT_EQ(m->fstype, "tmpfs");
  EXPECT_EQ(split_lines(out),
            (std::vector<std::string>{"hello", "1777 0:0", "604 1000:1000", "sub/f", "wrote"}));
  EXPECT_FALSE(exists(rootfs + "/data/new")) << "the write reached the rootfs";
  EXPECT_EQ(read_text(rootfs + "/data/sub/f"), "hello\n");
}

// rbind brings the submounts of the source along; bind does not.
TEST_F(MountsTest, RbindIncludesSubmountsBindDoesNot) {
  const std::string src = dir() + "/tree";
  mkdirs(src + "/sub");
  host_tmpfs(src + "/sub");
  write_text(src + "/sub/inner", "in the submount\n");
  json cfg = config({});
  cfg["mounts"].push_back(mount_entry("/data", "bind", src, {"rbind", "ro"}));
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", src, {"bind", "ro"}));
  auto [out, mi] = run_and_mountinfo(cfg, "cat /data/sub/inner; ls -A /mnt/sub | wc -l");
  EXPECT_TRUE(find_mount(mi, "/data").has_value());
  EXPECT_TRUE(find_mount(mi, "/data/sub").has_value()) << "rbind lost the submount";
  EXPECT_TRUE(find_mount(mi, "/mnt").has_value());
  EXPECT_FALSE(find_mount(mi, "/mnt/sub").has_value()) << "plain bind is recursive";
  EXPECT_EQ(split_lines(out), (std::vector<std::string>{"in the submount", "0"}));
}

// Mount propagation from the host into the container: rslave receives a mount made on the
// host after start, rprivate does not; rshared makes a peer group of its own.
TEST_F(MountsTest, PropagationSlavePrivateShared) {
  const std::string src = dir() + "/prop";
  host_tmpfs(src);
  ASSERT_EQ(::mount(nullptr, src.c_str(), nullptr, MS_SHARED, nullptr), 0) << strerror(errno);
  mkdirs(src + "/late");

  json cfg = config({});
  cfg["mounts"].push_back(mount_entry("/data", "bind", src, {"rbind", "rslave"}));
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", src, {"rbind", "rprivate"}));
  cfg["mounts"].push_back(mount_entry("/hooks", "tmpfs", "tmpfs", {"rshared"}));
  cfg["process"]["args"] = {
      "sh", "-c",
      "touch /shared/ready; while [ ! -e /shared/go ]; do sleep 0.05; done;"
      " cat /data/late/file 2>/dev/null || echo no-file; cat /mnt/late/file 2>/dev/null ||"
      " echo no-file; echo @@MOUNTINFO@@; cat /proc/self/mountinfo"};
  const std::string id = new_id();
  const std::string out = dir() + "/out";
  ASSERT_TRUE(create(id, write_bundle(cfg), {}, {.stdout_path = out}).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_until([&] { return exists(shared_dir() + "/ready"); }));
  host_tmpfs(src + "/late");
  write_text(src + "/late/file", "propagated\n");
  write_text(shared_dir() + "/go", "");
  ASSERT_TRUE(wait_status(id, "stopped"));
  std::string text = read_text(out);
  auto pos = text.find("@@MOUNTINFO@@\n");
  ASSERT_NE(pos, std::string::npos) << text;
  auto l = split_lines(text.substr(0, pos));
  auto mi = parse_mountinfo(text.substr(pos + 14));
  ASSERT_EQ(l.size(), 2u) << text;
  EXPECT_EQ(l[0], "propagated") << "rslave mount did not receive the host's new mount";
  EXPECT_EQ(l[1], "no-file") << "rprivate mount received the host's new mount";
  auto slave = find_mount(mi, "/data");
  ASSERT_TRUE(slave.has_value());
  EXPECT_TRUE(contains(slave->optional, "master:")) << "/data: " << slave->optional;
  EXPECT_FALSE(contains(slave->optional, "shared:")) << "/data: " << slave->optional;
  auto priv = find_mount(mi, "/mnt");
  ASSERT_TRUE(priv.has_value());
  EXPECT_TRUE(priv->optional.empty()) << "/mnt: " << priv->optional;
  auto shared = find_mount(mi, "/hooks");
  ASSERT_TRUE(shared.has_value());
  EXPECT_TRUE(contains(shared->optional, "shared:")) << "/hooks: " << shared->optional;
}

TEST_F(MountsTest, ReadonlyRootfs) {
  json cfg = config({});
  cfg["root"]["readonly"] = true;
  auto [out, mi] =
      run_and_mountinfo(cfg,
                        "touch /itest-file 2>/dev/null && echo writable || echo read-only; touch "
                        "/tmp/x 2>/dev/null && echo tmp-writable || echo tmp-read-only");
  auto root = find_mount(mi, "/");
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(has_option(root->mount_opts, "ro")) << root->mount_opts;
  EXPECT_EQ(split_lines(out), (std::vector<std::string>{"read-only", "tmp-read-only"}));
  EXPECT_FALSE(exists(shared_rootfs() + "/itest-file"));
}

TEST_F(MountsTest, WritableRootfs) {
  const std::string rootfs = make_private_rootfs();
  json cfg = config({});
  cfg["root"]["path"] = rootfs;
  cfg["root"]["readonly"] = false;
  auto [out, mi] = run_and_mountinfo(cfg, "echo hi > /itest-file && echo written");
  auto root = find_mount(mi, "/");
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(has_option(root->mount_opts, "rw")) << root->mount_opts;
  EXPECT_EQ(trim(out), "written");
  EXPECT_EQ(read_text(rootfs + "/itest-file"), "hi\n");
}

// A relative root.path is relative to the bundle.
TEST_F(MountsTest, RelativeRootPathIsResolvedAgainstTheBundle) {
  json cfg = config({"cat", "/etc/hostname"});
  std::string b = write_bundle(cfg);
  const std::string rootfs = make_private_rootfs();
  ASSERT_EQ(::rename(rootfs.c_str(), (b + "/rootfs").c_str()), 0);
  write_text(b + "/rootfs/etc/hostname", "bundle-relative\n");
  cfg["root"]["path"] = "rootfs";
  write_text(b + "/config.json", cfg.dump());
  const std::string id = new_id();
  Result r = rt({"run", "--bundle", b, id});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "bundle-relative\n");
}

TEST_F(MountsTest, MissingDestinationsAreCreated) {
  const std::string rootfs = make_private_rootfs();
  const std::string file_src = dir() + "/file-src";
  write_text(file_src, "bound file\n");
  json cfg = config({});
  cfg["root"]["path"] = rootfs;
  cfg["mounts"].push_back(mount_entry("/new/deep/dir", "tmpfs", "tmpfs", {"size=1m"}));
  cfg["mounts"].push_back(mount_entry("/etc/itest/bound-file", "bind", file_src, {"bind", "ro"}));
  auto [out, mi] = run_and_mountinfo(cfg, "cat /etc/itest/bound-file");
  EXPECT_TRUE(find_mount(mi, "/new/deep/dir").has_value());
  EXPECT_TRUE(find_mount(mi, "/etc/itest/bound-file").has_value());
  EXPECT_EQ(out, "bound file\n");
  struct stat st;
  ASSERT_EQ(::stat((rootfs + "/new/deep/dir").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(::stat((rootfs + "/etc/itest/bound-file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "a file bind mount needs a file as its mount point";
}

TEST_F(MountsTest, MaskedPaths) {
  json cfg = config({});
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "for f in /proc/kcore /proc/keys /proc/timer_list; do"
      "  if [ -e $f ]; then echo \"$f $(stat -c %t:%T $f) $(head -c 16 $f | wc -c)\"; fi; done;"
      " echo \"/sys/firmware $(ls -A /sys/firmware | wc -l)\";"
      " touch /sys/firmware/x 2>/dev/null && echo firmware-writable || echo firmware-ro");
  for (const auto& l : split_lines(out)) {
    if (l.rfind("/proc/", 0) == 0) {
      std::string path = l.substr(0, l.find(' '));
      if (!exists(path)) continue;  // masked only where the host has it
      EXPECT_EQ(l, path + " 1:3 0") << "masked file must be /dev/null";
    }
  }
  if (exists("/proc/kcore")) {
    EXPECT_TRUE(contains(out, "/proc/kcore 1:3 0\n")) << out;
  }
  EXPECT_TRUE(contains(out, "/proc/keys 1:3 0\n")) << out;
  EXPECT_TRUE(contains(out, "/sys/firmware 0\n")) << out;
  EXPECT_TRUE(contains(out, "firmware-ro")) << out;
  EXPECT_TRUE(find_mount(mi, "/proc/keys").has_value()) << "/proc/keys is not covered by a mount";
  EXPECT_TRUE(find_mount(mi, "/sys/firmware").has_value()) << "/sys/firmware is not masked";
}

TEST_F(MountsTest, ReadonlyPaths) {
  json cfg = config({});
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "echo renamed > /proc/sys/kernel/hostname 2>/dev/null && echo sys-writable ||"
      " echo sys-ro; hostname");
  for (const char* p : {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"}) {
    if (!exists(p)) continue;
    auto m = find_mount(mi, p);
    ASSERT_TRUE(m.has_value()) << p << " is not a read-only mount";
    EXPECT_TRUE(has_option(m->mount_opts, "ro")) << p << ": " << m->mount_opts;
  }
  EXPECT_EQ(split_lines(out), (std::vector<std::string>{"sys-ro", "vessel-itest"}));
}

TEST_F(MountsTest, DefaultDevicesAndDevSymlinks) {
  json cfg = config({});
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "for d in null zero full random urandom tty; do echo \"$d $(stat -c '%F %t:%T' /dev/$d)\";"
      " done; for l in fd stdin stdout stderr; do echo \"$l -> $(readlink /dev/$l)\"; done;"
      " echo \"ptmx $(readlink -f /dev/ptmx) $(stat -L -c '%t:%T' /dev/ptmx)\";"
      " echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c;"
      " head -c 3 /dev/urandom | wc -c; echo x > /dev/full 2>/dev/null || echo full-enospc");
  std::set<std::string> lines;
  for (const auto& l : split_lines(out)) lines.insert(l);
  for (const char* want :
       {"null character special file 1:3", "zero character special file 1:5",
        "full character special file 1:7", "random character special file 1:8",
        "urandom character special file 1:9", "tty character special file 5:0",
        "fd -> /proc/self/fd", "stdin -> /proc/self/fd/0", "stdout -> /proc/self/fd/1",
        "stderr -> /proc/self/fd/2", "null-ok", "3", "full-enospc"})
    EXPECT_TRUE(lines.count(want)) << "missing: " << want << "\n" << out;
  // /dev/ptmx: a symlink to pts/ptmx or a bind mount of /dev/pts/ptmx (5:2 either way).
  bool ptmx_ok = lines.count("ptmx /dev/pts/ptmx 5:2") || lines.count("ptmx /dev/ptmx 5:2");
  EXPECT_TRUE(ptmx_ok) << out;
}

TEST_F(MountsTest, ConfiguredDeviceNodesAreCreated) {
  json cfg = config({});
  cfg["linux"]["devices"] = {
      {{"path", "/dev/itest-null"},
       {"type", "c"},
       {"major", 1},
       {"minor", 3},
       {"fileMode", 0666},
       {"uid", 1000},
       {"gid", 10}},
      {{"path", "/dev/itest-fifo"}, {"type", "p"}, {"fileMode", 0600}},
  };
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "stat -c '%F %t:%T %a %u:%g' /dev/itest-null; stat -c '%F %a' /dev/itest-fifo;"
      " echo x > /dev/itest-null && echo write-ok");
  auto l = split_lines(out);
  ASSERT_EQ(l.size(), 3u) << out;
  EXPECT_EQ(l[0], "character special file 1:3 666 1000:10");
  EXPECT_EQ(l[1], "fifo 600");
  EXPECT_EQ(l[2], "write-ok");
}

TEST_F(MountsTest, SysctlIsAppliedInsideOnly) {
  const std::string host_fwd = read_text("/proc/sys/net/ipv4/ip_forward");
  json cfg = config({"sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax"});
  const std::string want_fwd = trim(host_fwd) == "1" ? "0" : "1";
  cfg["linux"]["sysctl"] = {{"net.ipv4.ip_forward", want_fwd}, {"kernel.msgmax", "12345"}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(r.out), (std::vector<std::string>{want_fwd, "12345"})) << r.describe();
  EXPECT_EQ(read_text("/proc/sys/net/ipv4/ip_forward"), host_fwd) << "the host's sysctl changed";
  EXPECT_NE(trim(read_text("/proc/sys/kernel/msgmax")), "12345") << "the host's sysctl changed";
}

// Idmapped mounts (uidMappings/gidMappings with "idmap"/"ridmap"). The sources live under
// dir(), on /tmp's filesystem (ext4 here), and on tmpfs mounts made by the test (tmpfs
// supports idmapped mounts since Linux 6.3), so no test depends on the host's choice alone.
class IdmapMountsTest : public MountsTest {
 protected:
  // tmpfs supports idmapped mounts from Linux 6.3; the sources live on the test dir's
  // filesystem (tmpfs in the v2 VM) and on tmpfs mounts of the test's own.
  static bool tmpfs_idmap_supported() {
    struct utsname u;
    int major = 0, minor = 0;
    if (::uname(&u) == 0) std::sscanf(u.release, "%d.%d", &major, &minor);
    return major > 6 || (major == 6 && minor >= 3);
  }
  static json map_one(uint32_t container_id, uint32_t host_id) {
    return json::array({{{"containerID", container_id}, {"hostID", host_id}, {"size", 1}}});
  }
  // A bind mount of `src` at `dest` on which files owned by 1000:1000 on disk show as 0:0.
  // The mount's mapping goes from the filesystem's ids (containerID) to the ids the mount
  // shows (hostID, kernel ids), as runc's and crun's idmapped mounts: {1000 -> 0}.
  static json idmapped(const std::string& dest, const std::string& src,
                       std::vector<std::string> options) {
    json m = mount_entry(dest, "bind", src, std::move(options));
    m["uidMappings"] = map_one(1000, 0);
    m["gidMappings"] = map_one(1000, 0);
    return m;
  }
  // A directory (and a file in it) owned by 1000:1000 on the host.
  static void owned_tree(const std::string& d) {
    mkdirs(d);
    write_text(d + "/owned", "x\n");
    ASSERT_EQ(::chown(d.c_str(), 1000, 1000), 0) << strerror(errno);
    ASSERT_EQ(::chown((d + "/owned").c_str(), 1000, 1000), 0) << strerror(errno);
  }
  static std::string owner(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return "missing";
    return std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
  }
  // `create` must fail naming `parts`, with no container, mount or process left over.
  void expect_create_fails(const json& cfg, const std::vector<std::string>& parts) {
    const std::string bundle = write_bundle(cfg);
    const std::string id = new_id("idmap");
    HostSnapshot before = snapshot();
    Result r = create(id, bundle);
    EXPECT_NE(r.exit_code(), 0) << "must fail" << r.describe();
    EXPECT_NE(rt({"state", id}).exit_code(), 0) << "a container exists after the failure";
    expect_nothing_left(before, id, cfg["linux"].value("cgroupsPath", ""));
    if (!runtime_is_runc()) {
      for (const auto& p : parts) EXPECT_TRUE(contains(r.err, p)) << p << r.describe();
    }
  }
};

TEST_F(IdmapMountsTest, FeaturesAdvertiseIdmap) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's features output";
  const auto& f = runtime_features();
  ASSERT_TRUE(f.has_value());
  auto opts = (*f)["mountOptions"].get<std::vector<std::string>>();
  EXPECT_EQ(std::count(opts.begin(), opts.end(), "idmap"), 1);
  EXPECT_EQ(std::count(opts.begin(), opts.end(), "ridmap"), 1);
}

TEST_F(IdmapMountsTest, BindMountShowsMappedOwners) {
  if (!tmpfs_idmap_supported()) GTEST_SKIP() << "tmpfs supports idmapped mounts from Linux 6.3";
  const std::string src = dir() + "/idmapped";
  owned_tree(src);
  json cfg = config({});
  cfg["mounts"].push_back(idmapped("/data", src, {"bind", "idmap"}));
  auto [out, mi] =
      run_and_mountinfo(cfg, "stat -c %u:%g /data/owned; touch /data/created && echo created");
  EXPECT_TRUE(contains(out, "0:0\n")) << out;
  EXPECT_TRUE(contains(out, "created\n")) << out;
  auto m = find_mount(mi, "/data");
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(has_option(m->mount_opts, "idmapped")) << m->mount_opts;
  // Written as root in the container, owned by the mapped id on the host.
  EXPECT_EQ(owner(src + "/created"), "1000:1000");
  EXPECT_EQ(owner(src + "/owned"), "1000:1000");
  EXPECT_FALSE(find_mount(parse_mountinfo(read_text("/proc/self/mountinfo")), "/data"));
}

TEST_F(IdmapMountsTest, MappingsWithoutOptionImplyIdmapOnTmpfsSource) {
  if (!tmpfs_idmap_supported()) GTEST_SKIP() << "tmpfs supports idmapped mounts from Linux 6.3";
  const std::string src = dir() + "/tmpfs-src";
  host_tmpfs(src);
  owned_tree(src);
  json cfg = config({});
  json m = idmapped("/data", src, {"bind", "ro"});  // no "idmap": the mappings imply it
  cfg["mounts"].push_back(m);
  auto [out, mi] = run_and_mountinfo(
      cfg, "stat -c %u:%g /data/owned; touch /data/x 2>/dev/null && echo writable || echo ro");
  EXPECT_TRUE(contains(out, "0:0\n")) << out;
  EXPECT_TRUE(contains(out, "ro\n")) << out;
  auto d = find_mount(mi, "/data");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(has_option(d->mount_opts, "ro")) << d->mount_opts;
  EXPECT_TRUE(has_option(d->mount_opts, "idmapped")) << d->mount_opts;
}

TEST_F(IdmapMountsTest, RidmapMapsSubmountsAndIdmapDoesNot) {
  if (!tmpfs_idmap_supported()) GTEST_SKIP() << "tmpfs supports idmapped mounts from Linux 6.3";
  const std::string src = dir() + "/tree";
  owned_tree(src);
  host_tmpfs(src + "/sub");
  owned_tree(src + "/sub");
  json cfg = config({});
  cfg["mounts"].push_back(idmapped("/r", src, {"rbind", "ridmap"}));
  cfg["mounts"].push_back(idmapped("/i", src, {"rbind", "idmap"}));
  auto [out, mi] = run_and_mountinfo(cfg,
                                     "echo r=$(stat -c %u /r/owned),$(stat -c %u /r/sub/owned);"
                                     " echo i=$(stat -c %u /i/owned),$(stat -c %u /i/sub/owned)");
  EXPECT_TRUE(contains(out, "r=0,0\n")) << out;
  EXPECT_TRUE(contains(out, "i=0,1000\n")) << out;
  for (const char* mp : {"/r", "/r/sub", "/i"}) {
    auto m = find_mount(mi, mp);
    ASSERT_TRUE(m.has_value()) << mp;
    EXPECT_TRUE(has_option(m->mount_opts, "idmapped")) << mp << ": " << m->mount_opts;
  }
  auto isub = find_mount(mi, "/i/sub");
  ASSERT_TRUE(isub.has_value());
  EXPECT_FALSE(has_option(isub->mount_opts, "idmapped")) << isub->mount_opts;
}

// A container with a user namespace (0 -> 100000): the tree is idmapped by the runtime before
// the container's init enters its namespace, which has no rights over the source.
json with_userns(json cfg) {
  cfg["linux"]["namespaces"].push_back({{"type", "user"}});
  cfg["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  cfg["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  return cfg;
}

TEST_F(IdmapMountsTest, UserNamespaceContainerUsesItsMappings) {
  if (!tmpfs_idmap_supported()) GTEST_SKIP() << "tmpfs supports idmapped mounts from Linux 6.3";
  // "idmap" without mappings of its own: the container's mappings, so the host's root-owned
  // files are the container root's, where a plain bind shows them unmapped (nobody).
  const std::string src = dir() + "/rootowned";
  mkdirs(src);
  write_text(src + "/owned", "x\n");
  write_text(src + "/user", "x\n");
  ASSERT_EQ(::chown((src + "/user").c_str(), 1000, 1000), 0) << strerror(errno);
  json cfg = with_userns(config({}));
  cfg["mounts"].push_back(mount_entry("/data", "bind", src, {"bind", "idmap"}));
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", src, {"bind"}));
  auto [out, mi] =
      run_and_mountinfo(cfg,
                        "echo uid_map=$(cat /proc/self/uid_map | tr -s ' ' ' '); "
                        "echo idmapped=$(stat -c %u:%g /data/owned),$(stat -c %u:%g /data/user); "
                        "echo plain=$(stat -c %u:%g /mnt/owned); "
                        "touch /data/created && echo created");
  EXPECT_TRUE(contains(out, "uid_map= 0 100000 65536\n")) << out;
  EXPECT_TRUE(contains(out, "idmapped=0:0,1000:1000\n")) << out;
  EXPECT_TRUE(contains(out, "plain=65534:65534\n")) << out;
  EXPECT_TRUE(contains(out, "created\n")) << out;
  auto m = find_mount(mi, "/data");
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(has_option(m->mount_opts, "idmapped")) << m->mount_opts;
  EXPECT_EQ(owner(src + "/created"), "0:0");
}

TEST_F(IdmapMountsTest, UserNamespaceContainerWithMountMappings) {
  if (!tmpfs_idmap_supported()) GTEST_SKIP() << "tmpfs supports idmapped mounts from Linux 6.3";
  // The mount's own mappings: on-disk 1000 -> kernel id 100000, which the container's user
  // namespace shows as its root.
  const std::string src = dir() + "/owned1000";
  owned_tree(src);
  json cfg = with_userns(config({}));
  json m = mount_entry("/data", "bind", src, {"rbind", "ridmap"});
  m["uidMappings"] = map_one(1000, 100000);
  m["gidMappings"] = map_one(1000, 100000);
  cfg["mounts"].push_back(m);
  auto [out, mi] = run_and_mountinfo(
      cfg, "stat -c %u:%g /data/owned; touch /data/created && echo created; id -u");
  EXPECT_TRUE(contains(out, "0:0\n")) << out;
  EXPECT_TRUE(contains(out, "created\n")) << out;
  auto d = find_mount(mi, "/data");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(has_option(d->mount_opts, "idmapped")) << d->mount_opts;
  EXPECT_EQ(owner(src + "/created"), "1000:1000");
}

TEST_F(IdmapMountsTest, JoinedUserNamespaceLendsItsMappings) {
  // "idmap" without mappings of its own in a container that joins another's user namespace:
  // the idmapping is that namespace's (0 -> 100000), so host root's files are its root's.
  if (!tmpfs_idmap_supported()) GTEST_SKIP() << "tmpfs supports idmapped mounts from Linux 6.3";
  const std::string owner_id = new_id("userowner");
  ASSERT_TRUE(create(owner_id, write_bundle(with_userns(config({"sleep", "1000"})))).ok());
  auto st = state(owner_id);
  ASSERT_TRUE(st.has_value());
  const std::string userns = "/proc/" + std::to_string((*st)["pid"].get<pid_t>()) + "/ns/user";
  const std::string src = dir() + "/joined";
  mkdirs(src);
  write_text(src + "/owned", "x\n");
  json cfg = config({});
  cfg["linux"]["namespaces"].push_back({{"type", "user"}, {"path", userns}});
  cfg["mounts"].push_back(mount_entry("/data", "bind", src, {"bind", "idmap"}));
  auto [out, mi] = run_and_mountinfo(cfg, "stat -c %u:%g /data/owned; id -u");
  EXPECT_TRUE(contains(out, "0:0\n0\n")) << out;
  auto d = find_mount(mi, "/data");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(has_option(d->mount_opts, "idmapped")) << d->mount_opts;
}

TEST_F(IdmapMountsTest, MappingsOnTmpfsFailCleanly) {
  json cfg = config({"true"});
  json m = mount_entry("/data", "tmpfs", "tmpfs", {"idmap"});
  m["uidMappings"] = map_one(0, 1000);
  m["gidMappings"] = map_one(0, 1000);
  cfg["mounts"].push_back(m);
  size_t index = cfg["mounts"].size() - 1;
  expect_create_fails(cfg, {"mounts[" + std::to_string(index) + "].uidMappings", "bind"});
}

TEST_F(IdmapMountsTest, IdmapWithoutMappingsOrUserNamespaceFails) {
  const std::string src = dir() + "/plain";
  mkdirs(src);
  json cfg = config({"true"});
  cfg["mounts"].push_back(mount_entry("/data", "bind", src, {"bind", "idmap"}));
  size_t index = cfg["mounts"].size() - 1;
  expect_create_fails(cfg, {"mounts[" + std::to_string(index) + "]", "user namespace"});
}

TEST_F(IdmapMountsTest, UnsupportedFilesystemFailsCleanly) {
  // procfs does not allow idmapped mounts.
  json cfg = config({"true"});
  json m = mount_entry("/data", "bind", "/proc/self", {"rbind", "idmap"});
  m["uidMappings"] = map_one(0, 1000);
  m["gidMappings"] = map_one(0, 1000);
  cfg["mounts"].push_back(m);
  expect_create_fails(cfg, {"does not support idmapped mounts"});
}

TEST_F(IdmapMountsTest, UnpairedMappingsAreRejected) {
  const std::string src = dir() + "/half";
  mkdirs(src);
  json cfg = config({"true"});
  json m = mount_entry("/data", "bind", src, {"bind", "idmap"});
  m["uidMappings"] = map_one(0, 1000);
  cfg["mounts"].push_back(m);
  expect_create_fails(cfg, {"uidMappings", "gidMappings"});
}

}  // namespace
}  // namespace itest
