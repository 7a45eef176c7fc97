// Parity with runc 1.1 for mounts: the mode of a tmpfs mounted on an existing directory, proc
// and sysfs only on ordinary directories, read-only tmpfs and /dev made read-only after what is
// mounted and created inside them, and bind mounts in a container with a user namespace whose
// sources the container's root could not reach.
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "harness.h"

namespace itest {
namespace {

class ParityMountsTest : public ContainerTest {
 protected:
  // Runs `script`, then prints the mountinfo after a marker line; returns (script output,
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
  // `create` fails with `message` in its error (and `runc_words` in runc's, where given) and
  // leaves no state, cgroup, mount or process behind.
  Result expect_create_fails(const json& cfg, const std::string& message,
                             const std::string& runc_words = "") {
    const bool runc_too = !runc_words.empty();
    const std::string bundle = write_bundle(cfg);
    const std::string id = new_id("refused");
    HostSnapshot before = snapshot();
    Result r = create(id, bundle);
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_NE(r.exit_code(), 0) << "must fail" << r.describe();
    EXPECT_NE(rt({"state", id}).exit_code(), 0) << "a container exists after the failure";
    expect_nothing_left(before, id, cfg["linux"].value("cgroupsPath", ""));
    // runc's log quotes its message again: only the words are compared with it.
    if (runc_too) {
      EXPECT_TRUE(contains(r.err, runc_words)) << r.describe();
    }
    if (!runtime_is_runc()) {
      // The error is a logrus line: its quotes are escaped, so the message is read back out.
      EXPECT_TRUE(contains(log_messages(r.err), message))
          << "no \"" << message << "\"" << r.describe();
    }
    return r;
  }
  // Our own mount on the host, in this test's dir; unmounted at TearDown.
  void host_tmpfs(const std::string& where) {
    mkdirs(where);
    ASSERT_EQ(::mount("itest", where.c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
    defer([where] { ::umount2(where.c_str(), MNT_DETACH); });
  }
  static std::string mode_of(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return "missing";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%o", st.st_mode & 07777);
    return buf;
  }
  static json with_userns(json cfg) {
    cfg["linux"]["namespaces"].push_back({{"type", "user"}});
    cfg["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    cfg["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    return cfg;
  }
};

// ---------------------------------------------------------------------------------------------
// 7a. A tmpfs mounted on an existing directory takes that directory's mode, set-id and sticky
// bits included, unless the options carry mode=, which wins (runc 1.1.5 lets the directory win
// even then; the issue and later runtimes honour mode=). On a directory that did not exist the
// tmpfs keeps its own mode (1777 by default, or mode=), and the directory created in the rootfs for
// it is 0755.

TEST_F(ParityMountsTest, TmpfsTakesTheModeOfAnExistingDirectory) {
  const std::string rootfs = make_private_rootfs();
  const std::vector<std::pair<std::string, mode_t>> dirs = {
      {"d700", 0700}, {"d1777", 01777}, {"d2750", 02750}, {"dmode700", 0700}, {"dmode2755", 02755}};
  for (const auto& [name, mode] : dirs) {
    mkdirs(rootfs + "/" + name);
    ASSERT_EQ(::chmod((rootfs + "/" + name).c_str(), mode), 0) << strerror(errno);
  }
  json cfg = config({});
  cfg["root"]["path"] = rootfs;
  cfg["mounts"].push_back(mount_entry("/d700", "tmpfs", "tmpfs", {"size=1m"}));
  cfg["mounts"].push_back(mount_entry("/d1777", "tmpfs", "tmpfs", {"size=1m"}));
  cfg["mounts"].push_back(mount_entry("/d2750", "tmpfs", "tmpfs", {"nosuid"}));
  cfg["mounts"].push_back(mount_entry("/dmode700", "tmpfs", "tmpfs", {"mode=1777"}));
  cfg["mounts"].push_back(mount_entry("/dmode2755", "tmpfs", "tmpfs", {"mode=0710"}));
  cfg["mounts"].push_back(mount_entry("/new", "tmpfs", "tmpfs", {}));
  cfg["mounts"].push_back(mount_entry("/newmode", "tmpfs", "tmpfs", {"mode=0750"}));
  auto [out, mi] = run_and_mountinfo(
      cfg, "stat -c '%n %a' /d700 /d1777 /d2750 /dmode700 /dmode2755 /new /newmode");
  const bool mode_option_wins = !runtime_is_runc();
  EXPECT_EQ(split_lines(out),
            (std::vector<std::string>{"/d700 700", "/d1777 1777", "/d2750 2750",
                                      mode_option_wins ? "/dmode700 1777" : "/dmode700 700",
                                      mode_option_wins ? "/dmode2755 710" : "/dmode2755 2755",
                                      "/new 1777", "/newmode 750"}))
      << out;
  for (const char* mp : {"/d700", "/d2750", "/dmode2755", "/new", "/newmode"}) {
    auto m = find_mount(mi, mp);
    ASSERT_TRUE(m.has_value()) << "no mount at " << mp;
    EXPECT_EQ(m->fstype, "tmpfs") << mp;
  }
  // The covered directories are unchanged; the new ones were made 0755.
  EXPECT_EQ(mode_of(rootfs + "/d2750"), "2750");
  EXPECT_EQ(mode_of(rootfs + "/new"), "755");
  EXPECT_EQ(mode_of(rootfs + "/newmode"), "755");
}

// ---------------------------------------------------------------------------------------------
// 11. proc and sysfs go on ordinary directories only: a destination that is a symlink (even one
// to a directory inside the rootfs) or not a directory is refused, not followed, with nothing
// left behind.

constexpr const char* kOrdinaryDirectory = "must be mounted on ordinary directory";

TEST_F(ParityMountsTest, ProcOnASymlinkIsRefused) {
  const std::string rootfs = make_private_rootfs();
  ASSERT_EQ(::rmdir((rootfs + "/proc").c_str()), 0) << strerror(errno);
  mkdirs(rootfs + "/elsewhere");
  ASSERT_EQ(::symlink("/elsewhere", (rootfs + "/proc").c_str()), 0) << strerror(errno);
  json cfg = config({"true"});
  cfg["root"]["path"] = rootfs;
  Result r = expect_create_fails(cfg, "filesystem \"proc\" must be mounted on ordinary directory",
                                 kOrdinaryDirectory);
  if (!runtime_is_runc()) {
    EXPECT_TRUE(contains(r.err, "mounts[0]")) << r.describe();
  }
  EXPECT_EQ(read_text("/proc/self/mountinfo").find(rootfs + "/elsewhere"), std::string::npos);
  struct stat st;
  EXPECT_EQ(::lstat((rootfs + "/proc").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the symlink was replaced";
}

TEST_F(ParityMountsTest, SysfsOnARelativeSymlinkIsRefused) {
  const std::string rootfs = make_private_rootfs();
  ASSERT_EQ(::rmdir((rootfs + "/sys").c_str()), 0) << strerror(errno);
  mkdirs(rootfs + "/elsewhere");
  ASSERT_EQ(::symlink("elsewhere", (rootfs + "/sys").c_str()), 0) << strerror(errno);
  json cfg = config({"true"});
  cfg["root"]["path"] = rootfs;
  expect_create_fails(cfg, "filesystem \"sysfs\" must be mounted on ordinary directory",
                      kOrdinaryDirectory);
}

TEST_F(ParityMountsTest, ProcAndSysfsOnAFileAreRefused) {
  for (const char* fs : {"proc", "sys"}) {
    const std::string rootfs = make_private_rootfs();
    ASSERT_EQ(::rmdir((rootfs + "/" + fs).c_str()), 0) << strerror(errno);
    write_text(rootfs + "/" + fs, "a file\n");
    json cfg = config({"true"});
    cfg["root"]["path"] = rootfs;
    const std::string type = std::string(fs) == "sys" ? "sysfs" : "proc";
    expect_create_fails(cfg, "filesystem \"" + type + "\" must be mounted on ordinary directory",
                        kOrdinaryDirectory);
    EXPECT_EQ(read_text(rootfs + "/" + fs), "a file\n") << fs;
  }
}

// A destination that does not exist is still created (an ordinary directory, 0755).
TEST_F(ParityMountsTest, MissingProcDirectoryIsCreated) {
  const std::string rootfs = make_private_rootfs();
  ASSERT_EQ(::rmdir((rootfs + "/proc").c_str()), 0) << strerror(errno);
  json cfg = config({});
  cfg["root"]["path"] = rootfs;
  auto [out, mi] = run_and_mountinfo(cfg, "true");
  auto m = find_mount(mi, "/proc");
  ASSERT_TRUE(m.has_value()) << out;
  EXPECT_EQ(m->fstype, "proc");
  EXPECT_EQ(mode_of(rootfs + "/proc"), "755");
}

// ---------------------------------------------------------------------------------------------
// 13. A read-only tmpfs, /dev included, is mounted read-write, filled (nested mounts, device
// nodes, the console), then made read-only.

TEST_F(ParityMountsTest, ReadonlyDevGetsItsSubmountsAndDevices) {
  json cfg = config({});
  for (auto& m : cfg["mounts"])
    if (m["destination"] == "/dev") m["options"].push_back("ro");
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c;"
      " ls /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty >/dev/null &&"
      " echo devices; readlink /dev/ptmx; readlink /dev/fd;"
      " touch /dev/new 2>/dev/null && echo writable || echo read-only;"
      " touch /dev/shm/f && echo shm-writable");
  EXPECT_EQ(split_lines(out),
            (std::vector<std::string>{"null-ok", "4", "devices", "pts/ptmx", "/proc/self/fd",
                                      "read-only", "shm-writable"}))
      << out;
  auto dev = find_mount(mi, "/dev");
  ASSERT_TRUE(dev.has_value()) << out;
  EXPECT_EQ(dev->fstype, "tmpfs");
  EXPECT_TRUE(has_option(dev->mount_opts, "ro")) << dev->mount_opts;
  EXPECT_TRUE(has_option(dev->mount_opts, "nosuid")) << dev->mount_opts;
  for (const char* sub : {"/dev/pts", "/dev/shm", "/dev/mqueue"}) {
    auto m = find_mount(mi, sub);
    ASSERT_TRUE(m.has_value()) << "no mount at " << sub;
    EXPECT_TRUE(has_option(m->mount_opts, "rw")) << sub << ": " << m->mount_opts;
  }
}

// With a terminal, /dev/console is made on /dev before it turns read-only.
TEST_F(ParityMountsTest, ReadonlyDevStillGetsTheConsole) {
  // The console socket is only listened on: the pty master the runtime sends stays queued on it,
  // which keeps the terminal open while the container runs.
  const std::string sock = dir() + "/console.sock";
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0) << strerror(errno);
  defer([listener] { ::close(listener); });
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << strerror(errno);
  ASSERT_EQ(::listen(listener, 4), 0) << strerror(errno);
  json cfg = config({"sh", "-c",
                     "stat -c %F /dev/console > /shared/console;"
                     " grep -c ' /dev/console ' /proc/self/mountinfo >> /shared/console"});
  cfg["process"]["terminal"] = true;
  for (auto& m : cfg["mounts"])
    if (m["destination"] == "/dev") m["options"].push_back("ro");
  const std::string id = new_id("console");
  Result c = create(id, write_bundle(cfg), {"--console-socket", sock});
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  EXPECT_EQ(split_lines(read_text(shared_dir() + "/console")),
            (std::vector<std::string>{"character special file", "1"}));
}

TEST_F(ParityMountsTest, ReadonlyTmpfsWithANestedBindMount) {
  const std::string src = dir() + "/nested";
  mkdirs(src);
  write_text(src + "/f", "nested file\n");
  json cfg = config({});
  cfg["mounts"].push_back(mount_entry("/x", "tmpfs", "tmpfs", {"ro", "nosuid", "size=1m"}));
  cfg["mounts"].push_back(mount_entry("/x/y", "bind", src, {"bind"}));
  cfg["mounts"].push_back(mount_entry("/x/z", "tmpfs", "tmpfs", {"size=1m"}));
  auto [out, mi] = run_and_mountinfo(
      cfg,
      "cat /x/y/f; touch /x/new 2>/dev/null && echo x-writable || echo x-read-only;"
      " touch /x/z/new && echo z-writable");
  EXPECT_EQ(split_lines(out),
            (std::vector<std::string>{"nested file", "x-read-only", "z-writable"}))
      << out;
  auto x = find_mount(mi, "/x");
  ASSERT_TRUE(x.has_value()) << out;
  EXPECT_TRUE(has_option(x->mount_opts, "ro")) << x->mount_opts;
  EXPECT_TRUE(has_option(x->mount_opts, "nosuid")) << x->mount_opts;
  auto y = find_mount(mi, "/x/y");
  ASSERT_TRUE(y.has_value()) << out;
  EXPECT_TRUE(has_option(y->mount_opts, "rw")) << y->mount_opts;
}

// A read-only tmpfs on an existing directory takes its mode before it turns read-only.
TEST_F(ParityMountsTest, ReadonlyTmpfsOnAnExistingDirectoryKeepsItsMode) {
  const std::string rootfs = make_private_rootfs();
  mkdirs(rootfs + "/ro750");
  ASSERT_EQ(::chmod((rootfs + "/ro750").c_str(), 0750), 0) << strerror(errno);
  json cfg = config({});
  cfg["root"]["path"] = rootfs;
  cfg["mounts"].push_back(mount_entry("/ro750", "tmpfs", "tmpfs", {"ro"}));
  auto [out, mi] = run_and_mountinfo(cfg, "stat -c %a /ro750");
  EXPECT_EQ(split_lines(out), (std::vector<std::string>{"750"})) << out;
  auto m = find_mount(mi, "/ro750");
  ASSERT_TRUE(m.has_value()) << out;
  EXPECT_TRUE(has_option(m->mount_opts, "ro")) << m->mount_opts;
}

// ---------------------------------------------------------------------------------------------
// 5a. In a container with a user namespace, bind-mount sources are opened by the runtime on the
// host, so a source the container's root could not reach (under a root-only directory) works.
// runc 1.1.5 does so too (its nsexec opens the sources before the init enters the namespace).
// The destinations exist in the rootfs: the container's root may not create files there.

TEST_F(ParityMountsTest, UsernsBindSourcesUnderARootOnlyDirectory) {
  const std::string priv = dir() + "/root-only";
  mkdirs(priv + "/dir/sub");
  ASSERT_EQ(::chmod(priv.c_str(), 0700), 0) << strerror(errno);
  write_text(priv + "/dir/listed", "in the directory\n");
  write_text(priv + "/dir/sub/deeper", "deeper\n");
  write_text(priv + "/file", "a file\n");
  mkdirs(priv + "/plain");
  write_text(priv + "/plain/g", "plain\n");
  const std::string sub_mount = priv + "/dir/sub";
  host_tmpfs(sub_mount);
  write_text(sub_mount + "/on-tmpfs", "on the submount\n");
  json cfg = with_userns(config({}));
  cfg["mounts"].push_back(mount_entry("/data", "bind", priv + "/dir", {"rbind", "ro"}));
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", priv + "/plain", {"bind"}));
  cfg["mounts"].push_back(mount_entry("/etc/hostname", "bind", priv + "/file", {"bind", "ro"}));
  cfg["process"]["args"] = {"sh", "-c",
                            "ls /data; cat /data/sub/on-tmpfs; cat /mnt/g; cat /etc/hostname;"
                            " touch /data/new 2>/dev/null && echo writable || echo read-only;"
                            " echo @@MOUNTINFO@@; cat /proc/self/mountinfo"};
  Result r = run_container(cfg);
  if (runtime_is_runc() && !r.ok() && contains(r.err, "operation not permitted"))
    GTEST_SKIP() << "runc 1.1.5 remounts the read-only bind without the flags the kernel locked "
                    "on it (nosuid, nodev of a tmpfs /tmp), which fails: "
                 << r.err;
  ASSERT_TRUE(r.ok()) << r.describe();
  auto pos = r.out.find("@@MOUNTINFO@@\n");
  ASSERT_NE(pos, std::string::npos) << r.describe();
  EXPECT_EQ(split_lines(r.out.substr(0, pos)),
            (std::vector<std::string>{"listed", "sub", "on the submount", "plain", "a file",
                                      "read-only"}));
  auto mi = parse_mountinfo(r.out.substr(pos + 14));
  auto data = find_mount(mi, "/data");
  ASSERT_TRUE(data.has_value());
  EXPECT_TRUE(has_option(data->mount_opts, "ro")) << data->mount_opts;
  EXPECT_TRUE(find_mount(mi, "/data/sub").has_value()) << "rbind lost the submount";
  EXPECT_TRUE(find_mount(mi, "/mnt").has_value());
  auto file = find_mount(mi, "/etc/hostname");
  ASSERT_TRUE(file.has_value());
  EXPECT_TRUE(has_option(file->mount_opts, "ro")) << file->mount_opts;
}

// The bind mounts the runtime opens on the host get the propagation a bind made inside the
// container would have: with the default rslave root, a slave of the host's shared source
// (mounts on the host reach the container, never the other way), not a peer of it.
TEST_F(ParityMountsTest, UsernsBindOfASharedSourceIsASlave) {
  const std::string src = dir() + "/shared-src";
  host_tmpfs(src);
  ASSERT_EQ(::mount(nullptr, src.c_str(), nullptr, MS_SHARED, nullptr), 0) << strerror(errno);
  write_text(src + "/f", "x\n");
  json cfg = with_userns(config({}));
  cfg["mounts"].push_back(mount_entry("/data", "bind", src, {"rbind"}));
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", src, {"bind", "ro"}));
  auto [out, mi] = run_and_mountinfo(cfg, "cat /data/f");
  EXPECT_EQ(split_lines(out), (std::vector<std::string>{"x"}));
  for (const char* mp : {"/data", "/mnt"}) {
    auto m = find_mount(mi, mp);
    ASSERT_TRUE(m.has_value()) << mp;
    EXPECT_TRUE(contains(m->optional, "master:")) << mp << ": " << m->optional;
    EXPECT_FALSE(contains(m->optional, "shared:")) << mp << ": " << m->optional;
  }
}

// A missing source is still an error naming the mount, and leaves nothing behind.
TEST_F(ParityMountsTest, UsernsMissingBindSourceFailsCleanly) {
  json cfg = with_userns(config({"true"}));
  cfg["mounts"].push_back(mount_entry("/data", "bind", dir() + "/does-not-exist", {"bind"}));
  Result r = expect_create_fails(cfg, "mounts[7].source");
  if (!runtime_is_runc()) {
    EXPECT_TRUE(contains(r.err, "No such file or directory")) << r.err;
  }
}

}  // namespace
}  // namespace itest
