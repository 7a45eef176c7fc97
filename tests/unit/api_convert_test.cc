// The Docker API's container create body -> vessel's RunOptions (src/api/convert.cc), and the
// mapping of manager errors to docker's status codes.
#include <gtest/gtest.h>

#include "api/convert.h"
#include "api/http.h"
#include "api/routes.h"

namespace vessel::api {
namespace {

using nlohmann::json;

TEST(ApiConvert, CreateBodyToRunOptions) {
  json body = json::parse(R"({
    "Image": "busybox", "Cmd": ["sh", "-c", "true"], "Entrypoint": [""], "Env": ["A=b"],
    "WorkingDir": "/tmp", "User": "1000:1000", "Tty": true, "OpenStdin": true,
    "Labels": {"k": "v"}, "StopSignal": "SIGINT", "StopTimeout": 3,
    "HostConfig": {
      "Binds": ["/srv:/data:ro", "vol:/vol"],
      "Mounts": [{"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 448}},
                 {"Type": "volume", "Target": "/anon"}],
      "Tmpfs": {"/run": "size=64k"},
      "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostPort": ""}]},
      "NetworkMode": "backend", "Memory": 67108864, "NanoCpus": 500000000, "PidsLimit": 50,
      "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
      "Privileged": false, "CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"], "AutoRemove": false,
      "Init": true, "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}],
      "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rw"}],
      "ExtraHosts": ["db:10.0.0.5"], "Dns": ["1.1.1.1"]
    }})");
  auto o = run_options_from(body, "/web");
  EXPECT_EQ(o.name, "web");
  EXPECT_EQ(o.image, "busybox");
  EXPECT_EQ(o.command, (std::vector<std::string>{"sh", "-c", "true"}));
  ASSERT_TRUE(o.entrypoint.has_value());
  EXPECT_TRUE(o.entrypoint->empty());
  EXPECT_EQ(o.env, std::vector<std::string>{"A=b"});
  EXPECT_EQ(o.workdir, "/tmp");
  EXPECT_EQ(o.user, "1000:1000");
  EXPECT_TRUE(o.tty);
  EXPECT_TRUE(o.interactive);
  EXPECT_EQ(o.labels.at("k"), "v");
  EXPECT_EQ(o.stop_signal, "SIGINT");
  EXPECT_EQ(o.stop_timeout, 3);
  ASSERT_EQ(o.volumes.size(), 5u);
  EXPECT_EQ(o.volumes[0].type, "bind");
  EXPECT_TRUE(o.volumes[0].readonly);
  EXPECT_EQ(o.volumes[1].type, "volume");
  EXPECT_EQ(o.volumes[2].type, "tmpfs");
  EXPECT_EQ(o.volumes[2].options, (std::vector<std::string>{"size=1048576", "mode=700"}));
  EXPECT_EQ(o.volumes[3].type, "volume");  // anonymous
  EXPECT_EQ(o.volumes[4].target, "/run");
  ASSERT_EQ(o.publish.size(), 2u);
  EXPECT_EQ(o.networks, std::vector<std::string>{"backend"});
  EXPECT_EQ(o.memory.value_or(0), 67108864);
  EXPECT_DOUBLE_EQ(o.cpus.value_or(0), 0.5);
  EXPECT_EQ(o.pids_limit.value_or(0), 50);
  EXPECT_EQ(o.restart, "on-failure");
  EXPECT_EQ(o.restart_max, 3);
  EXPECT_EQ(o.cap_add, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(o.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_TRUE(o.init);
  EXPECT_EQ(o.ulimits, std::vector<std::string>{"nofile=100:200"});
  EXPECT_EQ(o.devices, std::vector<std::string>{"/dev/null:/dev/n:rw"});
  EXPECT_EQ(o.add_hosts, std::vector<std::string>{"db:10.0.0.5"});
  EXPECT_EQ(o.dns, std::vector<std::string>{"1.1.1.1"});
}

int status_of(const json& body) {
  try {
    run_options_from(body, "");
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST(ApiConvert, BadCreateBodiesAre400) {
  EXPECT_EQ(status_of(json::array()), 400);
  EXPECT_EQ(status_of(json::object()), 400);  // no Image
  EXPECT_EQ(status_of({{"Image", 3}}), 400);
  EXPECT_EQ(status_of({{"Image", "x"}, {"Cmd", {1, 2}}}), 400);
  EXPECT_EQ(status_of({{"Image", "x"}, {"HostConfig", {{"Memory", "lots"}}}}), 400);
  EXPECT_EQ(
      status_of({{"Image", "x"}, {"HostConfig", {{"PortBindings", {{"http", json::array()}}}}}}),
      400);
  EXPECT_EQ(status_of({{"Image", "x"}, {"HostConfig", {{"LogConfig", {{"Type", "syslog"}}}}}}),
            400);
  EXPECT_EQ(
      status_of({{"Image", "x"},
                 {"HostConfig", {{"AutoRemove", true}, {"RestartPolicy", {{"Name", "always"}}}}}}),
      400);
  EXPECT_EQ(status_of({{"Image", "x"},
                       {"HostConfig", {{"Mounts", {{{"Type", "npipe"}, {"Target", "/x"}}}}}}}),
            400);
  EXPECT_EQ(status_of({{"Image", "x"}, {"Cmd", "echo"}}), 0);  // a string is one argument
}

TEST(ApiConvert, ManagerErrorsMapToDockerStatuses) {
  EXPECT_EQ(status_for("no such container: x"), 404);
  EXPECT_EQ(status_for("image not known: x"), 404);
  EXPECT_EQ(status_for("container web is already running"), 409);
  EXPECT_EQ(status_for("volume v is in use by container 123"), 409);
  EXPECT_EQ(status_for("invalid --dns \"x\": not an IP address"), 400);
  EXPECT_EQ(status_for("mount failed: Permission denied"), 500);
}

TEST(ApiConvert, Times) {
  EXPECT_EQ(unix_time("1970-01-01T00:01:40.5Z"), 100);
  EXPECT_EQ(unix_time(""), 0);
  EXPECT_EQ(docker_time(""), "0001-01-01T00:00:00Z");
}

}  // namespace
}  // namespace vessel::api
