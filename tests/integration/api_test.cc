// The Docker Engine API of `vessel system service`, driven by the real clients: Debian's
// docker CLI (its daemon is never started), the Docker SDK for Python, curl for the error
// cases. Each test has its own store and socket; the test binary runs in a private network
// namespace, so the containers' networks stay in it.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "api_fixture.h"

namespace itest {
namespace {

TEST_F(ApiTest, DockerCliRunsAContainerThroughItsLife) {
  if (!have("docker")) GTEST_SKIP() << "docker CLI (docker.io) not installed";
  auto ver = docker({"version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"});
  ASSERT_TRUE(ver.ok()) << ver.describe();
  EXPECT_EQ(trim(ver.out), "1.41 linux");

  auto run = docker({"run", "-d", "--name", "web", "--label", "role=test", "busybox", "sh", "-c",
                     "echo hello; echo oops >&2; exec sleep 1000"});
  ASSERT_TRUE(run.ok()) << run.describe() << read_text(dir_ + "/service.err");
  std::string id = trim(run.out);
  EXPECT_EQ(id.size(), 64u) << run.out;

  // The same container, seen by the vessel CLI.
  EXPECT_TRUE(contains(v({"ps"}).out, "web"));
  auto ps = docker({"ps", "--format", "{{.Names}} {{.Status}}"});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  EXPECT_TRUE(contains(ps.out, "web Up")) << ps.out;
  auto filtered = docker({"ps", "-q", "--filter", "label=role=other"});
  EXPECT_EQ(trim(filtered.out), "");

  ASSERT_TRUE(wait_until([&] { return contains(docker({"logs", "web"}).out, "hello"); }));
  auto logs = docker({"logs", "web"});
  EXPECT_EQ(logs.out, "hello\n");
  EXPECT_EQ(logs.err, "oops\n");

  auto ex = docker({"exec", "web", "sh", "-c", "echo $((6*7)); echo to-err >&2; exit 3"});
  EXPECT_EQ(ex.exit_code(), 3) << ex.describe();
  EXPECT_EQ(ex.out, "42\n");
  EXPECT_EQ(ex.err, "to-err\n");
  auto ex_env =
      docker({"exec", "-e", "GREETING=hi", "-w", "/etc", "web", "sh", "-c", "echo $GREETING $PWD"});
  EXPECT_EQ(ex_env.out, "hi /etc\n") << ex_env.describe();

  auto st =
      docker({"inspect", "--format", "{{.State.Status}} {{.Name}} {{.Config.Labels.role}}", "web"});
  EXPECT_EQ(trim(st.out), "running /web test") << st.describe();

  auto top = docker({"top", "web"});
  EXPECT_TRUE(contains(top.out, "sleep 1000")) << top.describe();

  auto images = docker({"images", "--format", "{{.Repository}}"});
  EXPECT_TRUE(contains(images.out, "busybox")) << images.describe();

  ASSERT_TRUE(docker({"stop", "-t", "1", "web"}).ok());
  EXPECT_EQ(trim(docker({"inspect", "--format", "{{.State.Status}}", "web"}).out), "exited");
  auto rm = docker({"rm", "web"});
  EXPECT_TRUE(rm.ok()) << rm.describe();
  EXPECT_EQ(trim(docker({"ps", "-aq"}).out), "");
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
}

TEST_F(ApiTest, DockerCliRunsInTheForegroundWithExitCodeAndRemove) {
  if (!have("docker")) GTEST_SKIP() << "docker CLI (docker.io) not installed";
  auto r = docker({"run", "--rm", "--network", "none", "busybox", "sh", "-c",
                   "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code(), 7) << r.describe();
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  ASSERT_TRUE(wait_until([&] { return trim(v({"ps", "-aq"}).out).empty(); }));
}

TEST_F(ApiTest, DockerCliVolumesAndNetworks) {
  if (!have("docker")) GTEST_SKIP() << "docker CLI (docker.io) not installed";
  ASSERT_TRUE(docker({"volume", "create", "data"}).ok());
  EXPECT_TRUE(contains(docker({"volume", "ls", "--format", "{{.Name}}"}).out, "data"));
  EXPECT_TRUE(contains(v({"volume", "ls"}).out, "data"));
  auto w = docker({"run", "--rm", "--network", "none", "-v", "data:/data", "busybox", "sh", "-c",
                   "echo kept > /data/f"});
  ASSERT_TRUE(w.ok()) << w.describe();
  auto rd = docker(
      {"run", "--rm", "--network", "none", "-v", "data:/data:ro", "busybox", "cat", "/data/f"});
  EXPECT_EQ(rd.out, "kept\n") << rd.describe();
  ASSERT_TRUE(docker({"volume", "rm", "data"}).ok());
  EXPECT_FALSE(contains(v({"volume", "ls"}).out, "data"));

  auto nc = docker({"network", "create", "--subnet", "10.91.77.0/24", "backend"});
  ASSERT_TRUE(nc.ok()) << nc.describe();
  EXPECT_TRUE(contains(docker({"network", "ls", "--format", "{{.Name}}"}).out, "backend"));
  auto sub =
      docker({"network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", "backend"});
  EXPECT_EQ(trim(sub.out), "10.91.77.0/24") << sub.describe();
  ASSERT_TRUE(
      docker({"run", "-d", "--name", "db", "--network", "backend", "busybox", "sleep", "1000"})
          .ok());
  auto ip =
      docker({"inspect", "--format", "{{.NetworkSettings.Networks.backend.IPAddress}}", "db"});
  EXPECT_TRUE(contains(ip.out, "10.91.77.")) << ip.describe();
  auto ping = docker(
      {"run", "--rm", "--network", "backend", "busybox", "ping", "-c", "1", "-W", "2", "db"});
  EXPECT_TRUE(ping.ok()) << ping.describe();
  auto busy = docker({"network", "rm", "backend"});
  EXPECT_FALSE(busy.ok());
  ASSERT_TRUE(docker({"rm", "-f", "db"}).ok());
  ASSERT_TRUE(docker({"network", "rm", "backend"}).ok());
  EXPECT_FALSE(contains(v({"network", "ls"}).out, "backend"));
}

TEST_F(ApiTest, ErrorsGetDockersStatusCodes) {
  auto bad = curl({"/v1.41/containers/create", "POST", "{not json"});
  EXPECT_EQ(bad.err, "400");
  EXPECT_TRUE(contains(json::parse(bad.out).value("message", ""), "invalid JSON")) << bad.out;
  auto missing = curl({"/containers/nope/json"});
  EXPECT_EQ(missing.err, "404");
  EXPECT_EQ(json::parse(missing.out).value("message", ""), "No such container: nope");
  auto noimg = curl({"/containers/create", "POST", R"({"Image":"no-such-image:1"})"});
  EXPECT_EQ(noimg.err, "404") << noimg.out;
  auto route = curl({"/v1.41/nothing/here"});
  EXPECT_EQ(route.err, "404");
  auto ver = curl({"/v1.24/version"});
  EXPECT_EQ(ver.err, "200");
  EXPECT_EQ(json::parse(ver.out).value("ApiVersion", ""), "1.41");
  auto create = curl({"/containers/create?name=twice", "POST",
                      R"({"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}})"});
  EXPECT_EQ(create.err, "201") << create.out;
  auto dup = curl({"/containers/create?name=twice", "POST", R"({"Image":"busybox"})"});
  EXPECT_EQ(dup.err, "409") << dup.out;
  auto bad_field = curl({"/containers/create", "POST",
                         R"({"Image":"busybox","Cmd":"x","HostConfig":{"Memory":"lots"}})"});
  EXPECT_EQ(bad_field.err, "400") << bad_field.out;
  auto kill = curl({"/containers/twice/kill", "POST"});
  EXPECT_EQ(kill.err, "409") << kill.out;
  if (have("docker")) {
    auto rm = docker({"rm", "nope"});
    EXPECT_FALSE(rm.ok());
    EXPECT_TRUE(contains(rm.err, "No such container: nope")) << rm.describe();
  }
  // Nothing was left by the failed creates.
  EXPECT_EQ(split_lines(trim(v({"ps", "-aq"}).out)).size(), 1u);
}

TEST_F(ApiTest, PythonSdkCreatesStartsWaitsReadsLogsAndRemoves) {
  if (!run_cmd({"python3", "-c", "import docker"}).ok())
    GTEST_SKIP() << "python3-docker not installed";
  std::string script = dir_ + "/sdk.py";
  write_text(script, R"PY(
import sys, docker
client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="1.41")
assert client.ping()
c = client.containers.create("busybox", ["sh", "-c", "echo from-sdk; echo e >&2; exit 5"],
                             name="sdk", network_mode="none", labels={"k": "v"},
                             mem_limit="64m", environment={"A": "b"})
c.start()
res = c.wait()
print("exit", res["StatusCode"])
print("logs", c.logs(stdout=True, stderr=False).decode().strip())
c.reload()
print("status", c.status, c.labels["k"], c.attrs["HostConfig"]["Memory"])
out = client.containers.run("busybox", ["sh", "-c", "echo $A"], environment={"A": "run"},
                            network_mode="none", remove=True)
print("run", out.decode().strip())
c.remove()
s = client.containers.run("busybox", ["sleep", "1000"], detach=True, network_mode="none")
r = s.exec_run(["sh", "-c", "echo plain; echo err >&2; exit 4"])
print("exec", r.exit_code, r.output.decode().strip().replace("\n", ","))
r = s.exec_run(["sh", "-c", "test -t 1 && echo tty"], tty=True)
print("exectty", r.exit_code, r.output.decode().strip())
s.remove(force=True)
print("left", len(client.containers.list(all=True)))
)PY");
  auto r = run_cmd({"python3", script, sock_}, 60s);
  ASSERT_TRUE(r.ok()) << r.describe() << read_text(dir_ + "/service.err");
  EXPECT_EQ(r.out,
            "exit 5\nlogs from-sdk\nstatus exited v 67108864\nrun run\nexec 4 plain,err\nexectty 0 "
            "tty\nleft 0\n");
}

TEST_F(ApiTest, DockerComposeUpPsLogsExecDown) {
  if (!have("docker-compose")) GTEST_SKIP() << "docker-compose not installed";
  std::string proj = dir_ + "/proj";
  mkdirs(proj);
  write_text(proj + "/docker-compose.yml", R"YML(version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web-up; mkdir -p /www && echo hello-compose > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["18080:80"]
    volumes: ["webdata:/data"]
    environment:
      ROLE: web
    restart: unless-stopped
    stop_grace_period: 1s
    networks: [back]
  client:
    image: busybox
    command: ["sh", "-c", "echo client-$$ROLE; exec sleep 1000"]
    environment:
      ROLE: client
    depends_on: [web]
    stop_grace_period: 1s
    networks: [back]
networks:
  back: {}
volumes:
  webdata: {}
)YML");
  auto compose = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"env",
                                     "DOCKER_HOST=unix://" + sock_,
                                     "DOCKER_CONFIG=" + dir_ + "/docker-config",
                                     "docker-compose",
                                     "--project-directory",
                                     proj,
                                     "-f",
                                     proj + "/docker-compose.yml",
                                     "-p",
                                     "proj"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, 90s);
  };
  auto up = compose({"up", "-d"});
  ASSERT_TRUE(up.ok()) << up.describe() << read_text(dir_ + "/service.err");
  auto ps = compose({"ps"});
  EXPECT_TRUE(contains(ps.out, "proj_web_1") && contains(ps.out, "proj_client_1")) << ps.describe();
  EXPECT_EQ(split_lines(trim(ps.out)).size(), 4u) << ps.out;  // header, rule, two containers
  EXPECT_TRUE(contains(ps.out, "0.0.0.0:18080->80/tcp")) << ps.out;
  EXPECT_TRUE(wait_until([&] {
    auto l = compose({"logs", "--no-color"}).out;
    return contains(l, "web-up") && contains(l, "client-client");
  }));
  auto get = compose({"exec", "-T", "client", "wget", "-qO-", "http://proj_web_1/"});
  EXPECT_EQ(get.out, "hello-compose\n") << get.describe();
  // By the service's name: compose gives it as a network alias (NetworkingConfig).
  auto by_service = compose({"exec", "-T", "client", "wget", "-qO-", "http://web/"});
  EXPECT_EQ(by_service.out, "hello-compose\n") << by_service.describe();
  auto published = run_cmd({"curl", "-s", "http://127.0.0.1:18080/"});
  EXPECT_EQ(published.out, "hello-compose\n") << published.describe();
  EXPECT_TRUE(contains(v({"volume", "ls"}).out, "proj_webdata"));
  EXPECT_TRUE(contains(v({"network", "ls"}).out, "proj_back"));
  auto down = compose({"down", "-v"});
  ASSERT_TRUE(down.ok()) << down.describe();
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_FALSE(contains(v({"volume", "ls"}).out, "proj_webdata"));
  EXPECT_FALSE(contains(v({"network", "ls"}).out, "proj_back"));
}

TEST_F(ApiTest, ClientsThatDisconnectLeaveNothingRunning) {
  if (!have("docker")) GTEST_SKIP() << "docker CLI (docker.io) not installed";
  ASSERT_TRUE(
      docker({"run", "-d", "--name", "bg", "--network", "none", "busybox", "sleep", "1000"}).ok());
  // An exec whose client goes away mid-stream is ended.
  Child ex = spawn(docker_argv({"exec", "bg", "sh", "-c", "echo started; exec sleep 777"}));
  auto sleeping = [&] { return contains(v({"exec", "bg", "ps"}).out, "sleep 777"); };
  ASSERT_TRUE(wait_until(sleeping));
  ex.kill_group(SIGKILL);
  ex.wait();
  EXPECT_TRUE(wait_until([&] { return !sleeping(); })) << v({"exec", "bg", "ps"}).out;
  // A follower of the logs that goes away: the container runs on, the service still answers.
  Child follow = spawn(docker_argv({"logs", "-f", "bg"}));
  std::this_thread::sleep_for(300ms);
  follow.kill_group(SIGKILL);
  follow.wait();
  EXPECT_EQ(trim(docker({"inspect", "--format", "{{.State.Status}}", "bg"}).out), "running");
  EXPECT_TRUE(docker({"rm", "-f", "bg"}).ok());
}

TEST_F(ApiTest, ServiceExitsWhenIdleAndRefusesABadSocket) {
  std::string sock2 = dir_ + "/idle.sock";
  auto r = v({"system", "service", "--socket", "unix://" + sock2, "--timeout", "1"}, 15s);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_FALSE(exists(sock2));
  auto bad = v({"system", "service", "--socket", "tcp://127.0.0.1:2375"});
  EXPECT_EQ(bad.exit_code(), 125);
  EXPECT_TRUE(contains(bad.err, "invalid --socket")) << bad.describe();
  auto busy = v({"system", "service", "--socket", "unix://" + sock_, "--timeout", "1"});
  EXPECT_EQ(busy.exit_code(), 125);
  EXPECT_TRUE(contains(busy.err, "another service is listening")) << busy.describe();
}

}  // namespace
}  // namespace itest
