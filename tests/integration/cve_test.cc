// Regression tests for container-escape CVEs of other runtimes: each performs the attack from
// inside (or with a hostile rootfs) and checks that it fails and the host is unchanged.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>

#include "harness.h"

namespace itest {
namespace {

class CveTest : public ContainerTest {
 protected:
  std::string sha256(const std::string& path) {
    Result r = run_cmd({"sha256sum", path});
    EXPECT_TRUE(r.ok()) << r.describe();
    return r.out.substr(0, 64);
  }
  // RUNTIME --root <state dir> args..., with `runtime` instead of the one under test.
  Result rt_with(const std::string& runtime, std::vector<std::string> args) {
    args.insert(args.begin(), {runtime, "--root", state_root()});
    return run_cmd(args);
  }
  pid_t pid_of(const std::string& id) {
    auto st = state(id);
    return st && st->contains("pid") ? (*st)["pid"].get<pid_t>() : -1;
  }
  std::map<std::string, std::string> status_fields(const std::string& text) {
    std::map<std::string, std::string> out;
    for (const auto& l : split_lines(text)) {
      size_t c = l.find(':');
      if (c != std::string::npos) out[l.substr(0, c)] = trim(l.substr(c + 1));
    }
    return out;
  }
};

// CVE-2019-5736. Until its execve, a container's init (and an exec'd process) runs the
// runtime's binary inside the container's pid namespace; a process of the container that can
// open its /proc/PID/exe keeps the host binary, and rewrites it through /proc/self/fd/N once
// no process runs it any more. Container A is the attacker; container B joins A's pid
// namespace and stays `created`, so its init is visible in A running the runtime; then B is
// started and processes are exec'd into A while the attacker keeps scanning. The attacked
// binary is a copy of the runtime, so a successful attack harms nothing else.
TEST_F(CveTest, Cve2019_5736RuntimeBinaryOutOfReach) {
  std::string runtime = dir() + "/rt-copy";
  ASSERT_TRUE(run_cmd({"cp", runtime_path(), runtime}).ok());
  const std::string before = sha256(runtime);
  // For every process whose command line is the runtime's: open its exe for reading (kept by a
  // background sleep, to be reopened for writing later), open it for writing, list and open
  // its fds. Each success is logged.
  write_text(shared_dir() + "/attack.sh", R"SH(
n=0
while [ ! -e /shared/stop ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = 1 ] && continue
    c=$(tr '\0' ' ' < $d/cmdline 2>/dev/null)
    case "$c" in *rt-copy*) ;; *) continue ;; esac
    echo "seen $p $c" >> /shared/seen
    # What an open of its exe reaches: the runtime's file is a failure; a sealed copy
    # (memfd) is harmless unless a write through it succeeds below; the container's own
    # program (the process exec'd meanwhile) is nothing.
    t=$( (exec 4< $d/exe && readlink /proc/self/fd/4) 2>/dev/null)
    case "$t" in *rt-copy*) echo "read-exe $p $t" >> /shared/log ;; esac
    echo >> $d/exe 2>/dev/null && echo "write-exe $p" >> /shared/log
    sleep 100000 3< $d/exe 2>/dev/null &
    h=$!
    sleep 0.05
    t=$(readlink /proc/$h/fd/3 2>/dev/null)
    case "$t" in
      *rt-copy*) echo "held $p $h $t" >> /shared/log; echo $h >> /shared/holders ;;
      *memfd*) echo "held-copy $p $h $t" >> /shared/copies; echo $h >> /shared/holders ;;
      *) kill $h 2>/dev/null ;;
    esac
    # fds 0-2 are the container's own stdio; anything else would be the runtime's.
    for f in $d/fd/*; do
      case "${f##*/}" in 0|1|2) continue ;; esac
      [ -e "$f" ] && cat "$f" > /dev/null 2>&1 < /dev/null && echo "open-fd $f $(readlink $f)" >> /shared/log
    done
  done
  n=$((n+1)); echo $n > /shared/rounds
done
for h in $(cat /shared/holders 2>/dev/null); do
  echo pwned >> /proc/$h/fd/3 && echo "wrote via $h" >> /shared/log
done
echo finished > /shared/finished
sleep 1000
)SH");
  auto rounds = [&] {
    std::string s = trim(read_text(shared_dir() + "/rounds"));
    return s.empty() ? 0 : std::stoi(s);
  };
  json a = config({"sh", "/shared/attack.sh"});
  std::string ida = new_id("attacker");
  Result ra = rt_with(runtime, {"run", "-d", "-b", write_bundle(a), ida});
  ASSERT_TRUE(ra.ok()) << ra.describe();
  pid_t apid = pid_of(ida);
  ASSERT_GT(apid, 0);

  json b = config({"sleep", "1000"});
  for (auto& ns : b["linux"]["namespaces"])
    if (ns["type"] == "pid") ns["path"] = "/proc/" + std::to_string(apid) + "/ns/pid";
  std::string idb = new_id("victim");
  Result cb = rt_with(runtime, {"create", "-b", write_bundle(b), idb});
  ASSERT_TRUE(cb.ok()) << cb.describe();
  // The attacker must have seen B's init (the scenario is real), then had a few more rounds.
  EXPECT_TRUE(wait_until([&] { return contains(read_text(shared_dir() + "/seen"), "create"); }))
      << "the attacker never saw the created container's init";
  int r0 = rounds();
  wait_until([&] { return rounds() >= r0 + 3; });

  ASSERT_TRUE(rt_with(runtime, {"start", idb}).ok());
  for (int i = 0; i < 10; ++i) {
    Result e = rt_with(runtime, {"exec", ida, "true"});
    EXPECT_TRUE(e.ok()) << e.describe();
  }
  write_text(shared_dir() + "/stop", "");
  EXPECT_TRUE(wait_until([&] { return exists(shared_dir() + "/finished"); }))
      << "the attacker did not finish";

  std::string log = read_text(shared_dir() + "/log");
  EXPECT_EQ(log, "") << "the container reached the runtime binary or its fds";
  EXPECT_EQ(sha256(runtime), before) << "the runtime binary was modified from inside";
}

// Names any fd but 0, 1, 2 the shell has (a glob or ls would open one of its own).
constexpr const char* kFdCheck =
    "for n in 3 4 5 6 7 8 9 10 11 12 13 14 15 16 20 30 63 64 100 251 255; do "
    "[ -e /proc/$$/fd/$n ] && echo leak $n $(readlink /proc/$$/fd/$n); done; echo checked";

// CVE-2024-21626: no fd of the runtime (or of its caller) reaches the container, and a cwd
// naming one (/proc/self/fd/N) cannot put the container on a host directory. The runtime is
// started with host directories open on fds 5 and 7, as a leaky caller would.
TEST_F(CveTest, Cve2024_21626NoHostFdsAndCwdStaysInside) {
  std::string host = dir() + "/hostdir";
  mkdirs(host);
  write_text(host + "/HOST_SECRET", "secret\n");
  auto leaky = [&](const std::vector<std::string>& args) {
    std::vector<std::string> cmd = {"/bin/sh",   "-c",           "exec 5<\"$0\" 7</; exec \"$@\"",
                                    host,        runtime_path(), "--root",
                                    state_root()};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return run_cmd(cmd);
  };

  // The init: exactly 0, 1, 2 (the shell's own view, no ls in between).
  json cfg = config({"sh", "-c", kFdCheck});
  Result r = leaky({"run", "-b", write_bundle(cfg), new_id("fds")});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "checked") << r.describe();

  for (const char* cwd : {"/proc/self/fd/5", "/proc/self/fd/7", "/proc/self/fd/3",
                          "/proc/self/fd/4", "/proc/self/fd/6", "/proc/1/fd/5"}) {
    SCOPED_TRACE(cwd);
    json c = config({"sh", "-c", "ls; pwd; ls ..; cat HOST_SECRET"});
    c["process"]["cwd"] = cwd;
    Result rc = leaky({"run", "-b", write_bundle(c), new_id("cwd")});
    EXPECT_FALSE(contains(rc.out, "HOST_SECRET")) << rc.describe();
    EXPECT_FALSE(contains(rc.out, "secret")) << rc.describe();
    EXPECT_FALSE(contains(rc.out, "vessel-itest")) << rc.describe();
  }

  // exec: the same two checks.
  json s = config({"sleep", "1000"});
  std::string id = new_id("fds-exec");
  ASSERT_TRUE(leaky({"run", "-d", "-b", write_bundle(s), id}).ok());
  Result e = leaky({"exec", id, "sh", "-c", kFdCheck});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(trim(e.out), "checked") << e.describe();
  for (const char* cwd : {"/proc/self/fd/5", "/proc/self/fd/7", "/proc/self/fd/3",
                          "/proc/self/fd/4", "/proc/self/fd/6"}) {
    SCOPED_TRACE(cwd);
    Result ec = leaky({"exec", "--cwd", cwd, id, "sh", "-c", "ls; pwd; ls ..; cat HOST_SECRET"});
    EXPECT_FALSE(contains(ec.out, "HOST_SECRET")) << ec.describe();
    EXPECT_FALSE(contains(ec.out, "secret")) << ec.describe();
    EXPECT_FALSE(contains(ec.out, "vessel-itest")) << ec.describe();
  }
}

// CVE-2021-30465 style: a mount destination that is a symlink out of the rootfs, absolute or
// through "..": the mount lands inside the rootfs or create fails; the host dir is untouched.
TEST_F(CveTest, Cve2021_30465MountThroughSymlinkStaysInside) {
  std::string host = dir() + "/host_target";
  mkdirs(host);
  std::string rootfs = make_private_rootfs();
  ASSERT_EQ(::symlink(host.c_str(), (rootfs + "/mnt/abs").c_str()), 0);
  // Enough ".." to reach / from rootfs/mnt, then down to the host dir.
  std::string up;
  for (size_t i = 0; i < 20; ++i) up += "../";
  ASSERT_EQ(::symlink((up + host.substr(1)).c_str(), (rootfs + "/mnt/rel").c_str()), 0);
  for (const char* link : {"/mnt/abs", "/mnt/rel"}) {
    SCOPED_TRACE(link);
    size_t mounts = host_mount_count();
    json cfg = config(
        {"sh", "-c",
         std::string("touch ") + link + "/PWNED; grep -c ' " + host + " ' /proc/self/mountinfo"});
    cfg["root"]["path"] = rootfs;
    cfg["mounts"].push_back({{"destination", link}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    Result r = run_container(cfg);
    EXPECT_FALSE(exists(host + "/PWNED")) << r.describe();
    EXPECT_EQ(host_mount_count(), mounts) << "a mount reached the host" << r.describe();
  }
}

// CVE-2022-29162: without inheritable capabilities in the spec, CapInh is 0 in the init and
// in exec'd processes, --cap included (an inheritable set would let a program with file
// capabilities gain them).
TEST_F(CveTest, Cve2022_29162NoInheritableCapabilities) {
  json cfg = config({"sh", "-c", "grep Cap /proc/self/status; sleep 1000"});
  std::string id = new_id("capinh");
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  pid_t pid = pid_of(id);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(status_fields(read_text("/proc/" + std::to_string(pid) + "/status"))["CapInh"],
            "0000000000000000");
  for (std::vector<std::string> extra : {std::vector<std::string>{},
                                         {"--cap", "CAP_NET_RAW"},
                                         {"--cap", "CAP_SYS_ADMIN", "-u", "1000"}}) {
    std::vector<std::string> args = {"exec"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {id, "cat", "/proc/self/status"});
    Result r = rt(args);
    ASSERT_TRUE(r.ok()) << r.describe();
    auto f = status_fields(r.out);
    EXPECT_EQ(f["CapInh"], "0000000000000000") << r.describe();
    EXPECT_EQ(f["CapAmb"], "0000000000000000") << "ambient needs inheritable" << r.describe();
  }
}

// CVE-2025-31133: the container's /dev/null replaced by a symlink to another file (here one
// of the rootfs, standing for any file) before create. Masking must not bind that file over
// the masked paths: /proc/kcore is the null device, or create fails.
TEST_F(CveTest, Cve2025_31133MaskingUsesTheRealNullDevice) {
  std::string rootfs = make_private_rootfs();
  write_text(rootfs + "/etc/secret", "SECRET-CONTENT\n");
  std::string devdir = dir() + "/dev";
  mkdirs(devdir);
  for (const char* target : {"/etc/secret", "/etc", "../etc/secret"}) {
    SCOPED_TRACE(target);
    ::unlink((devdir + "/null").c_str());
    ASSERT_EQ(::symlink(target, (devdir + "/null").c_str()), 0);
    json cfg = config({"sh", "-c", "cat /proc/kcore; stat -L -c '%F %t:%T' /proc/kcore"});
    cfg["root"]["path"] = rootfs;
    // /dev is the (hostile) directory itself, so the runtime makes no device nodes there.
    for (auto& m : cfg["mounts"])
      if (m["destination"] == "/dev") m = mount_entry("/dev", "bind", devdir, {"rbind", "rw"});
    Result r = run_container(cfg);
    EXPECT_FALSE(contains(r.out, "SECRET-CONTENT")) << r.describe();
    if (r.ok()) {
      EXPECT_TRUE(contains(r.out, "character special file 1:3")) << r.describe();
    } else if (!runtime_is_runc()) {
      EXPECT_TRUE(contains(r.err, "maskedPaths") || contains(r.err, "/dev/null")) << r.describe();
    }
  }
}

// CVE-2025-52565: /dev/console as a symlink to a procfs file must not carry the console's
// bind mount there; the pty is mounted on /dev/console itself.
TEST_F(CveTest, Cve2025_52565ConsoleSymlinkIsNotFollowed) {
  std::string rootfs = make_private_rootfs();
  std::string devdir = dir() + "/dev";
  mkdirs(devdir);
  ASSERT_EQ(::symlink("/proc/sys/kernel/domainname", (devdir + "/console").c_str()), 0);
  ASSERT_EQ(::symlink("pts/ptmx", (devdir + "/ptmx").c_str()), 0);
  json cfg = config({"sh", "-c",
                     "grep -c ' /proc/sys/kernel/domainname ' /proc/self/mountinfo; "
                     "grep -c ' /dev/console ' /proc/self/mountinfo; true"});
  cfg["root"]["path"] = rootfs;
  cfg["process"]["terminal"] = true;
  cfg["linux"]["maskedPaths"] = json::array();
  for (auto& m : cfg["mounts"])
    if (m["destination"] == "/dev") m = mount_entry("/dev", "bind", devdir, {"rbind", "rw"});
  Result r = run_container(cfg);
  if (runtime_is_runc() && !r.ok()) GTEST_SKIP() << "runc needs a terminal: " << r.describe();
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 2u) << r.describe();
  EXPECT_EQ(trim(l[0]), "0") << "the console was mounted over a procfs file" << r.describe();
  EXPECT_EQ(trim(l[1]), "1") << "no console on /dev/console" << r.describe();
}

// CVE-2025-52881 style: sysctl writes go to the container's procfs only. A file bind-mounted
// over the sysctl's procfs file must not receive the value; and a rootfs whose /proc is a
// symlink gets nothing written into the rootfs: proc is not mounted through the symlink (it
// goes on ordinary directories only, as with runc), so the container is refused.
TEST_F(CveTest, Cve2025_52881SysctlWritesStayInProcfs) {
  std::string victim = dir() + "/victim";
  write_text(victim, "untouched\n");
  json cfg = config({"cat", "/proc/sys/kernel/domainname"});
  cfg["mounts"].push_back(mount_entry("/proc/sys/kernel/domainname", "bind", victim, {"bind"}));
  cfg["linux"]["sysctl"] = {{"kernel.domainname", "evil"}};
  Result r = run_container(cfg);
  if (runtime_is_runc() && read_text(victim) != "untouched\n")
    GTEST_SKIP() << "runc 1.1 writes through the mount (fixed in later runc)";
  EXPECT_EQ(read_text(victim), "untouched\n") << r.describe();
  if (!runtime_is_runc()) {
    EXPECT_FALSE(r.ok()) << r.describe();
  }

  std::string rootfs = make_private_rootfs();
  mkdirs(rootfs + "/data/fakeproc");
  remove_tree(rootfs + "/proc");
  ASSERT_EQ(::symlink("/data/fakeproc", (rootfs + "/proc").c_str()), 0);
  json c2 = config({"cat", "/proc/sys/kernel/domainname"});
  c2["root"]["path"] = rootfs;
  c2["linux"]["sysctl"] = {{"kernel.domainname", "in-procfs"}};
  Result r2 = run_container(c2);
  EXPECT_FALSE(r2.ok()) << r2.describe();
  EXPECT_TRUE(contains(r2.err, "must be mounted on ordinary directory")) << r2.describe();
  EXPECT_FALSE(exists(rootfs + "/data/fakeproc/sys")) << "written into the rootfs";
}

// /proc and /sys with the default masked and read-only paths: /proc/kcore reads nothing,
// /proc/sys is read-only; with CAP_SYS_ADMIN a remount may make it writable, but the
// namespaced hostname written there is the container's, the host's is unchanged.
TEST_F(CveTest, ProcAndSysHardening) {
  char host_name[256] = {};
  ::gethostname(host_name, sizeof host_name - 1);
  json cfg = config({"sh", "-c",
                     "echo kcore=$(cat /proc/kcore 2>/dev/null | wc -c); "
                     "echo pwned > /proc/sys/kernel/hostname && echo WROTE-SYS; "
                     "ls /sys/firmware | wc -l; true"});
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "kcore=0")) << r.describe();
  EXPECT_FALSE(contains(r.out, "WROTE-SYS")) << r.describe();
  EXPECT_TRUE(contains(r.err, "Read-only file system")) << r.describe();

  json adm = config({"sh", "-c",
                     "mount -o remount,rw /proc/sys; echo remount=$?; "
                     "echo from-container > /proc/sys/kernel/hostname; hostname; true"});
  for (auto* set : {"bounding", "effective", "permitted"})
    adm["process"]["capabilities"][set].push_back("CAP_SYS_ADMIN");
  Result a = run_container(adm);
  ASSERT_TRUE(a.ok()) << a.describe();
  char after[256] = {};
  ::gethostname(after, sizeof after - 1);
  EXPECT_STREQ(after, host_name) << a.describe();
}

}  // namespace
}  // namespace itest
