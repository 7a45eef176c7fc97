// The container process: args, env, cwd, user and groups, umask, rlimits, noNewPrivileges,
// capability sets, oomScoreAdj, hostname and domainname.
#include <sys/stat.h>

#include <map>
#include <sstream>

#include "harness.h"

namespace itest {
namespace {

class ProcessTest : public ContainerTest {
 protected:
  // "Key:\tvalue" lines of /proc/self/status printed by the container.
  static std::map<std::string, std::string> status_fields(const std::string& out) {
    std::map<std::string, std::string> m;
    for (const auto& l : split_lines(out)) {
      auto c = l.find(':');
      if (c != std::string::npos) m[l.substr(0, c)] = trim(l.substr(c + 1));
    }
    return m;
  }
  std::map<std::string, std::string> run_status(json cfg, Result* res = nullptr) {
    cfg["process"]["args"] = {"cat", "/proc/self/status"};
    Result r = run_container(cfg);
    EXPECT_TRUE(r.ok()) << r.describe();
    if (res) *res = r;
    return status_fields(r.out);
  }
};

TEST_F(ProcessTest, ArgsEnvAndCwd) {
  json cfg = config({"sh", "-c",
                     "printf '[%s]\\n' \"$0\" \"$1\" \"$2\"; echo \"FOO=$FOO\";"
                     " echo \"EMPTY=[${EMPTY-unset}]\"; echo \"HOME=$HOME\"; pwd",
                     "a  b", "c\"d'e", ""});
  cfg["process"]["env"] = {"PATH=/bin", "FOO=bar baz=qux", "EMPTY="};
  cfg["process"]["cwd"] = "/etc";
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(r.out),
            (std::vector<std::string>{"[a  b]", "[c\"d'e]", "[]", "FOO=bar baz=qux", "EMPTY=[]",
                                      // runc sets HOME from the user's /etc/passwd entry when
                                      // env does not have it.
                                      "HOME=/root", "/etc"}))
      << r.describe();
}

TEST_F(ProcessTest, ExplicitHomeIsKept) {
  json cfg = config({"sh", "-c", "echo $HOME"});
  cfg["process"]["env"] = {"PATH=/bin", "HOME=/somewhere"};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "/somewhere\n");
}

TEST_F(ProcessTest, UserUidGidAndAdditionalGids) {
  json cfg = config({"sh", "-c",
                     "id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups):' /proc/self/status; id;"
                     " echo HOME=$HOME"});
  cfg["process"]["user"] = {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10, 20}}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_EQ(l.size(), 8u) << r.describe();
  EXPECT_EQ(l[0], "1000");
  EXPECT_EQ(l[1], "1000");
  EXPECT_EQ(l[2], "1000 10 20");
  EXPECT_EQ(l[3], "Uid:\t1000\t1000\t1000\t1000");
  EXPECT_EQ(l[4], "Gid:\t1000\t1000\t1000\t1000");
  EXPECT_EQ(trim(l[5]), "Groups:\t10 20");
  EXPECT_EQ(l[6], "uid=1000(user) gid=1000(user) groups=10(wheel),20(games)");
  EXPECT_EQ(l[7], "HOME=/home") << "HOME from /etc/passwd";
}

// A uid without an /etc/passwd entry works too (numeric IDs are not looked up).
TEST_F(ProcessTest, UidWithoutPasswdEntry) {
  json cfg = config({"sh", "-c", "id -u; id -g; id -G; echo HOME=$HOME"});
  cfg["process"]["user"] = {{"uid", 4321}, {"gid", 4321}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(r.out), (std::vector<std::string>{"4321", "4321", "4321", "HOME=/"}))
      << r.describe();
}

TEST_F(ProcessTest, Umask) {
  json cfg = config({"sh", "-c", "umask; touch /shared/file; mkdir /shared/dir"});
  cfg["process"]["user"]["umask"] = 027;
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "0027");
  struct stat st;
  ASSERT_EQ(::stat((shared_dir() + "/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat((shared_dir() + "/dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
}

TEST_F(ProcessTest, DefaultUmaskIs0022) {
  Result r = run_container(config({"sh", "-c", "umask"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "0022");
}

TEST_F(ProcessTest, Rlimits) {
  json cfg = config(
      {"sh", "-c", "grep -E '^Max (open files|core file size|processes) ' /proc/self/limits"});
  cfg["process"]["rlimits"] = {
      {{"type", "RLIMIT_NOFILE"}, {"soft", 1024}, {"hard", 1024}},
      {{"type", "RLIMIT_CORE"}, {"soft", 4096}, {"hard", 8192}},
      {{"type", "RLIMIT_NPROC"}, {"soft", 500}, {"hard", 600}},
  };
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  std::map<std::string, std::vector<std::string>> lim;
  for (const auto& l : split_lines(r.out)) {
    std::istringstream is(l.substr(26));
    std::vector<std::string> w;
    std::string x;
    while (is >> x) w.push_back(x);
    lim[trim(l.substr(0, 26))] = w;
  }
  EXPECT_EQ(lim["Max open files"], (std::vector<std::string>{"1024", "1024", "files"}))
      << r.describe();
  EXPECT_EQ(lim["Max core file size"], (std::vector<std::string>{"4096", "8192", "bytes"}))
      << r.describe();
  EXPECT_EQ(lim["Max processes"], (std::vector<std::string>{"500", "600", "processes"}))
      << r.describe();
}

TEST_F(ProcessTest, NoNewPrivileges) {
  json on = config({});
  on["process"]["noNewPrivileges"] = true;
  EXPECT_EQ(run_status(on)["NoNewPrivs"], "1");
  json off = config({});
  off["process"]["noNewPrivileges"] = false;
  EXPECT_EQ(run_status(off)["NoNewPrivs"], "0");
}

// CAP_CHOWN (0), CAP_KILL (5), CAP_NET_BIND_SERVICE (10) -> 0x421.
TEST_F(ProcessTest, CapabilitySetsOfRoot) {
  json cfg = config({});
  const json caps = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  cfg["process"]["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
  auto s = run_status(cfg);
  EXPECT_EQ(s["CapBnd"], "0000000000000421");
  EXPECT_EQ(s["CapPrm"], "0000000000000421");
  EXPECT_EQ(s["CapEff"], "0000000000000421");
  EXPECT_EQ(s["CapInh"], "0000000000000000");
  EXPECT_EQ(s["CapAmb"], "0000000000000000");
}

TEST_F(ProcessTest, DefaultCapabilitySet) {
  // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
  auto s = run_status(config({}));
  EXPECT_EQ(s["CapBnd"], "0000000020000420");
  EXPECT_EQ(s["CapEff"], "0000000020000420");
  EXPECT_EQ(s["CapPrm"], "0000000020000420");
}

// A non-root user keeps only the ambient set across exec (busybox has no file caps).
TEST_F(ProcessTest, AmbientCapabilitiesOfNonRootUser) {
  json cfg = config({});
  cfg["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  const json nbs = {"CAP_NET_BIND_SERVICE"};
  const json both = {"CAP_KILL", "CAP_NET_BIND_SERVICE"};
  cfg["process"]["capabilities"] = {{"bounding", both},
                                    {"effective", both},
                                    {"permitted", both},
                                    {"inheritable", nbs},
                                    {"ambient", nbs}};
  auto s = run_status(cfg);
  EXPECT_EQ(s["CapBnd"], "0000000000000420");
  EXPECT_EQ(s["CapInh"], "0000000000000400");
  EXPECT_EQ(s["CapAmb"], "0000000000000400");
  EXPECT_EQ(s["CapPrm"], "0000000000000400");
  EXPECT_EQ(s["CapEff"], "0000000000000400");
}

TEST_F(ProcessTest, NonRootUserWithoutAmbientHasNoEffectiveCapabilities) {
  json cfg = config({});
  cfg["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  auto s = run_status(cfg);
  EXPECT_EQ(s["CapEff"], "0000000000000000");
  EXPECT_EQ(s["CapPrm"], "0000000000000000");
  EXPECT_EQ(s["CapBnd"], "0000000020000420");
}

TEST_F(ProcessTest, OomScoreAdj) {
  const std::string host = read_text("/proc/self/oom_score_adj");
  json cfg = config({"cat", "/proc/self/oom_score_adj"});
  cfg["process"]["oomScoreAdj"] = 500;
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "500");
  EXPECT_EQ(read_text("/proc/self/oom_score_adj"), host) << "the runtime changed our score";
}

TEST_F(ProcessTest, HostnameAndDomainname) {
  json cfg = config({"sh", "-c", "hostname; cat /proc/sys/kernel/domainname"});
  cfg["hostname"] = "box-1";
  cfg["domainname"] = "itest.example";
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  if (runtime_is_runc() && trim(r.out) == "box-1\n(none)")
    GTEST_SKIP() << "runc 1.1 does not implement domainname";
  EXPECT_EQ(split_lines(r.out), (std::vector<std::string>{"box-1", "itest.example"}));
}

}  // namespace
}  // namespace itest
