// The Docker Engine API's endpoints beyond the container lifecycle, driven by the real
// clients: docker CLI events, stats, cp, diff, export, commit, save/load, build, push/pull to a
// local docker-registry on 127.0.0.1; the Python SDK's streamed pull and logs; clients that go
// away mid-stream (events, stats, attach) leave no handler behind.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctime>
#include <thread>

#include "api_fixture.h"

namespace itest {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + 1)
    out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

// Threads of a process (the service runs one per connection).
int threads_of(pid_t pid) {
  int n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (!d) return -1;
  while (auto* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

class ApiToolsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!have("docker")) GTEST_SKIP() << "docker CLI (docker.io) not installed";
  }
  // Waits for the service to be back to `threads` threads (its connections' handlers ended).
  bool handlers_gone(int threads) {
    return wait_until([&] { return threads_of(service_.pid()) <= threads; });
  }
};

TEST_F(ApiToolsTest, EventsStreamARunsCreateStartDieWithFiltersSinceAndUntil) {
  int base_threads = threads_of(service_.pid());
  std::string since = std::to_string(time(nullptr) - 1);
  std::string out = dir_ + "/events.out";
  Child ev = spawn(docker_argv({"events", "--since", since, "--filter", "type=container",
                                "--format", "{{.Action}} {{.Actor.Attributes.name}}"}),
                   {out, dir_ + "/events.err", ""});
  auto run = docker({"run", "--rm", "--network", "none", "--name", "ev", "busybox", "true"});
  ASSERT_TRUE(run.ok()) << run.describe();
  EXPECT_TRUE(wait_until([&] {
    auto t = read_text(out);
    return contains(t, "create ev") && contains(t, "start ev") && contains(t, "die ev");
  })) << read_text(out)
      << read_text(dir_ + "/events.err");
  auto lines = split_lines(read_text(out));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "create ev");
  // A client that goes away mid-stream: its handler ends, the service answers on.
  ev.kill_group(SIGKILL);
  ev.wait();
  EXPECT_TRUE(handlers_gone(base_threads)) << threads_of(service_.pid());

  // since + until: the past, filtered, and the stream ends by itself.
  std::string until = std::to_string(time(nullptr) + 1);
  auto past = docker({"events", "--since", since, "--until", until, "--filter", "container=ev",
                      "--filter", "event=start", "--format", "{{.Type}} {{.Action}} {{.From}}"});
  ASSERT_TRUE(past.ok()) << past.describe();
  EXPECT_EQ(past.out, "container start localhost/busybox:latest\n");
  auto bad = curl({"/events?filters=%7B%22colour%22%3A%5B%22x%22%5D%7D"});
  EXPECT_EQ(bad.err, "400") << bad.out;
}

TEST_F(ApiToolsTest, StatsNoStreamPrintsSaneNumbersAndAStreamEndsWithItsClient) {
  ASSERT_TRUE(docker({"run", "-d", "--name", "st", "--network", "none", "-m", "64m", "busybox",
                      "sleep", "1000"})
                  .ok());
  auto s = docker({"stats", "--no-stream", "--format",
                   "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}|{{.MemPerc}}", "st"});
  ASSERT_TRUE(s.ok()) << s.describe() << read_text(dir_ + "/service.err");
  auto f = split(trim(s.out), '|');
  ASSERT_EQ(f.size(), 5u) << s.out;
  EXPECT_EQ(f[0], "st");
  EXPECT_TRUE(contains(f[1], " / 64MiB")) << f[1];
  EXPECT_FALSE(contains(f[1], "0B /")) << f[1];  // some memory is used
  EXPECT_EQ(f[2], "1");
  EXPECT_TRUE(f[3].size() > 1 && f[3].back() == '%' && f[3] != "--") << f[3];
  EXPECT_TRUE(f[4].size() > 1 && f[4].back() == '%' && f[4] != "0.00%") << f[4];
  auto j = curl({"/containers/st/stats?stream=false"});
  ASSERT_EQ(j.err, "200") << j.out;
  auto js = json::parse(j.out);
  EXPECT_GT(js["cpu_stats"].value("system_cpu_usage", 0ULL), 0u) << j.out;
  EXPECT_GT(js["precpu_stats"].value("system_cpu_usage", 0ULL), 0u) << j.out;
  EXPECT_GT(js["cpu_stats"]["cpu_usage"].value("total_usage", 0ULL), 0u) << j.out;
  EXPECT_EQ(js["memory_stats"].value("limit", 0ULL), 64ull << 20);
  EXPECT_EQ(js.value("name", ""), "/st");
  EXPECT_EQ(curl({"/containers/nope/stats?stream=false"}).err, "404");

  int base_threads = threads_of(service_.pid());
  std::string out = dir_ + "/stats.out";
  Child st = spawn(docker_argv({"stats", "--format", "{{.Name}} {{.PIDs}}", "st"}),
                   {out, dir_ + "/stats.err", ""});
  EXPECT_TRUE(wait_until([&] { return contains(read_text(out), "st 1"); }))
      << read_text(out) << read_text(dir_ + "/stats.err");
  st.kill_group(SIGKILL);
  st.wait();
  EXPECT_TRUE(handlers_gone(base_threads)) << threads_of(service_.pid());
  // An attach whose client goes away: the container runs on, the handler ends.
  Child at = spawn(docker_argv({"attach", "--no-stdin", "st"}));
  EXPECT_TRUE(wait_until([&] { return threads_of(service_.pid()) > base_threads; }));
  at.kill_group(SIGKILL);
  at.wait();
  EXPECT_TRUE(handlers_gone(base_threads)) << threads_of(service_.pid());
  EXPECT_EQ(trim(docker({"inspect", "--format", "{{.State.Status}}", "st"}).out), "running");
}

TEST_F(ApiToolsTest, CpDiffExportCommitSaveLoad) {
  ASSERT_TRUE(docker({"run", "-d", "--name", "fs", "--network", "none", "busybox", "sh", "-c",
                      "echo made > /made; rm /etc/motd 2>/dev/null; exec sleep 1000"})
                  .ok());
  ASSERT_TRUE(wait_until([&] { return docker({"exec", "fs", "test", "-f", "/made"}).ok(); }));
  // cp into the container: a file into a directory, and a directory under a new name.
  write_text(dir_ + "/in.txt", "from the host\n");
  mkdirs(dir_ + "/tree/sub");
  write_text(dir_ + "/tree/sub/leaf", "leaf\n");
  auto in = docker({"cp", dir_ + "/in.txt", "fs:/tmp/"});
  ASSERT_TRUE(in.ok()) << in.describe() << read_text(dir_ + "/service.err");
  EXPECT_EQ(docker({"exec", "fs", "cat", "/tmp/in.txt"}).out, "from the host\n");
  ASSERT_TRUE(docker({"cp", dir_ + "/tree", "fs:/copied"}).ok());
  EXPECT_EQ(docker({"exec", "fs", "cat", "/copied/sub/leaf"}).out, "leaf\n");
  // cp out of it: a file, and a directory.
  mkdirs(dir_ + "/out");
  auto out = docker({"cp", "fs:/made", dir_ + "/out/made.txt"});
  ASSERT_TRUE(out.ok()) << out.describe();
  EXPECT_EQ(read_text(dir_ + "/out/made.txt"), "made\n");
  ASSERT_TRUE(docker({"cp", "fs:/copied", dir_ + "/out/"}).ok());
  EXPECT_EQ(read_text(dir_ + "/out/copied/sub/leaf"), "leaf\n");
  auto missing = docker({"cp", "fs:/no/such/file", dir_ + "/out/"});
  EXPECT_FALSE(missing.ok());
  // (docker 20.10 prints "No such container:path: fs:/no/such/file", later ones our message.)
  EXPECT_TRUE(contains(missing.err, "/no/such/file")) << missing.describe();
  auto head = run_cmd(
      {"curl", "-sI", "--unix-socket", sock_, "http://localhost/containers/fs/archive?path=/made"});
  EXPECT_TRUE(contains(head.out, "X-Docker-Container-Path-Stat:")) << head.out;

  // diff: the writable layer's changes.
  auto diff = docker({"diff", "fs"});
  ASSERT_TRUE(diff.ok()) << diff.describe();
  EXPECT_TRUE(contains(diff.out, "A /made\n")) << diff.out;
  EXPECT_TRUE(contains(diff.out, "A /copied\n")) << diff.out;
  EXPECT_TRUE(contains(diff.out, "A /tmp/in.txt\n")) << diff.out;

  // system df: the container's writable layer has a size now.
  auto df = docker({"system", "df", "-v"});
  ASSERT_TRUE(df.ok()) << df.describe();
  EXPECT_TRUE(contains(df.out, "Containers space usage")) << df.out;
  auto dfj = json::parse(curl({"/system/df"}).out);
  ASSERT_EQ(dfj["Containers"].size(), 1u) << dfj.dump();
  EXPECT_GT(dfj["Containers"][0].value("SizeRw", 0LL), 0) << dfj.dump();

  // export: the whole root filesystem as a tar.
  auto ex = docker({"export", "-o", dir_ + "/fs.tar", "fs"});
  ASSERT_TRUE(ex.ok()) << ex.describe();
  auto list = run_cmd({"tar", "-tf", dir_ + "/fs.tar"});
  EXPECT_TRUE(contains(list.out, "made\n") && contains(list.out, "bin/busybox\n"))
      << list.describe();

  // commit, then run the new image.
  auto cm = docker({"commit", "-c", "ENV FROM_COMMIT=yes", "fs", "committed:1"});
  ASSERT_TRUE(cm.ok()) << cm.describe();
  EXPECT_TRUE(contains(cm.out, "sha256:")) << cm.out;
  auto rc = docker({"run", "--rm", "--network", "none", "committed:1", "sh", "-c",
                    "cat /made /copied/sub/leaf; echo $FROM_COMMIT"});
  EXPECT_EQ(rc.out, "made\nleaf\nyes\n") << rc.describe();

  // save, remove, load, run again.
  auto save = docker({"save", "-o", dir_ + "/img.tar", "committed:1"});
  ASSERT_TRUE(save.ok()) << save.describe();
  ASSERT_TRUE(docker({"rmi", "committed:1"}).ok());
  EXPECT_FALSE(docker({"image", "inspect", "committed:1"}).ok());
  auto load = docker({"load", "-i", dir_ + "/img.tar"});
  ASSERT_TRUE(load.ok()) << load.describe();
  EXPECT_TRUE(contains(load.out, "Loaded image: ")) << load.out;
  auto again = docker({"run", "--rm", "--network", "none", "committed:1", "cat", "/made"});
  EXPECT_EQ(again.out, "made\n") << again.describe();
  auto bad = curl({"/images/load", "POST", "not a tar"});
  EXPECT_EQ(bad.err, "400") << bad.out;
}

TEST_F(ApiToolsTest, BuildFromATarContext) {
  std::string ctx = dir_ + "/ctx";
  mkdirs(ctx);
  write_text(ctx + "/greeting", "built here\n");
  write_text(ctx + "/Dockerfile",
             "FROM busybox\nCOPY greeting /greeting\nRUN cat /greeting > /twice && cat /greeting "
             ">> /twice\nENV WHO=api\nCMD [\"sh\", \"-c\", \"cat /twice; echo $WHO\"]\n");
  auto b =
      run_cmd({"env", "DOCKER_HOST=unix://" + sock_, "DOCKER_CONFIG=" + dir_ + "/docker-config",
               "DOCKER_BUILDKIT=0", "docker", "build", "-t", "built:v1", ctx},
              120s);
  ASSERT_TRUE(b.ok()) << b.describe() << read_text(dir_ + "/service.err");
  EXPECT_TRUE(contains(b.out, "Successfully built")) << b.out;
  EXPECT_TRUE(contains(b.out, "Successfully tagged built:v1")) << b.out;
  auto r = docker({"run", "--rm", "--network", "none", "built:v1"});
  EXPECT_EQ(r.out, "built here\nbuilt here\napi\n") << r.describe();
  // A Dockerfile that fails: the error reaches the client, and it exits non-zero.
  write_text(ctx + "/Dockerfile", "FROM busybox\nRUN exit 3\n");
  auto bad =
      run_cmd({"env", "DOCKER_HOST=unix://" + sock_, "DOCKER_CONFIG=" + dir_ + "/docker-config",
               "DOCKER_BUILDKIT=0", "docker", "build", ctx},
              120s);
  EXPECT_FALSE(bad.ok()) << bad.describe();
}

TEST_F(ApiToolsTest, PushToALocalRegistryPullBackAndPythonStreams) {
  if (access("/usr/bin/docker-registry", X_OK) != 0) GTEST_SKIP() << "no docker-registry";
  mkdirs(dir_ + "/registry");
  int port = free_port();
  ASSERT_GT(port, 0);
  std::string host = "127.0.0.1:" + std::to_string(port);
  write_text(dir_ + "/registry.yml",
             "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " +
                 dir_ + "/registry\nhttp:\n  addr: " + host + "\n");
  SpawnOptions so;
  so.stdout_path = dir_ + "/registry.log";
  so.stderr_path = dir_ + "/registry.err";
  Child registry = spawn({"/usr/bin/docker-registry", "serve", dir_ + "/registry.yml"}, so);
  ASSERT_TRUE(wait_until([&] { return port_open(port); }, 20s)) << read_text(so.stderr_path);

  std::string name = host + "/tools/bb:1";
  ASSERT_TRUE(docker({"tag", "busybox", name}).ok());
  auto push = docker({"push", name}, 120s);
  ASSERT_TRUE(push.ok()) << push.describe();
  EXPECT_TRUE(contains(push.out, "1: digest: sha256:")) << push.out;
  auto tags = run_cmd({"curl", "-s", "http://" + host + "/v2/tools/bb/tags/list"});
  EXPECT_TRUE(contains(tags.out, "\"1\"")) << tags.describe();
  ASSERT_TRUE(docker({"rmi", name}).ok());
  auto pull = docker({"pull", name}, 120s);
  ASSERT_TRUE(pull.ok()) << pull.describe();
  auto r = docker({"run", "--rm", "--network", "none", name, "echo", "pulled"});
  EXPECT_EQ(r.out, "pulled\n") << r.describe();
  auto nopush = docker({"push", host + "/tools/nothing:1"});
  EXPECT_FALSE(nopush.ok());

  if (run_cmd({"python3", "-c", "import docker"}).ok()) {
    std::string script = dir_ + "/streams.py";
    write_text(script, R"PY(
import sys, docker
client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="1.41")
n = 0
last = None
for p in client.api.pull(sys.argv[2] + "/tools/bb", tag="1", stream=True, decode=True):
    n += 1
    last = p
    assert "error" not in p, p
print("pull", n >= 2, "Status:" in last.get("status", ""))
c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo line$i; done"],
                          detach=True, network_mode="none")
got = [l.decode().strip() for l in c.logs(stream=True, follow=True)]
print("logs", ",".join(got))
c.remove(force=True)
)PY");
    auto py = run_cmd({"python3", script, sock_, host}, 120s);
    ASSERT_TRUE(py.ok()) << py.describe() << read_text(dir_ + "/service.err");
    EXPECT_EQ(py.out, "pull True True\nlogs line1,line2,line3\n");
  }
  kill(registry.pid(), SIGTERM);
  registry.wait(10s);
}

}  // namespace
}  // namespace itest
