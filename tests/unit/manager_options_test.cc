// Flag parsing of `vessel run` and the image-config → config.json conversion.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "manager/options.h"
#include "manager/spec_builder.h"
#include "manager/store.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {
namespace {

using nlohmann::json;

TEST(ManagerOptions, ParseSize) {
  EXPECT_EQ(parse_size("-m", "64m"), 64 * 1024 * 1024);
  EXPECT_EQ(parse_size("-m", "64M"), 64 * 1024 * 1024);
  EXPECT_EQ(parse_size("-m", "512k"), 512 * 1024);
  EXPECT_EQ(parse_size("-m", "1g"), 1024LL * 1024 * 1024);
  EXPECT_EQ(parse_size("-m", "1gb"), 1024LL * 1024 * 1024);
  EXPECT_EQ(parse_size("-m", "100"), 100);
  EXPECT_EQ(parse_size("--memory-swap", "-1"), -1);
  for (const char* bad : {"", "12xb", "m", "-5", "1.5g", "99999999999999999g"}) {
    try {
      parse_size("--memory", bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--memory"), std::string::npos) << e.what();
    }
  }
}

TEST(ManagerOptions, ParseVolume) {
  auto b = parse_volume("/srv/data:/data:ro");
  EXPECT_EQ(b.type, "bind");
  EXPECT_EQ(b.source, "/srv/data");
  EXPECT_EQ(b.target, "/data");
  EXPECT_TRUE(b.readonly);
  auto n = parse_volume("cache:/var/cache");
  EXPECT_EQ(n.type, "volume");
  EXPECT_FALSE(n.readonly);
  EXPECT_EQ(parse_volume("/a:/b:z,rw").readonly, false);
  EXPECT_THROW(parse_volume("/only"), Error);
  EXPECT_THROW(parse_volume("/a:relative"), Error);
  EXPECT_THROW(parse_volume("/a:/b:bogus"), Error);
  EXPECT_THROW(parse_volume("../x:/b"), Error);  // not a path, not a valid volume name
  auto t = parse_tmpfs("/run:size=64m,mode=1777");
  EXPECT_EQ(t.type, "tmpfs");
  EXPECT_EQ(t.options, (std::vector<std::string>{"size=64m", "mode=1777"}));
  auto m = parse_mount("type=bind,source=/x,target=/y,readonly");
  EXPECT_EQ(m.type, "bind");
  EXPECT_TRUE(m.readonly);
  EXPECT_THROW(parse_mount("source=/x,target=/y"), Error);
  EXPECT_THROW(parse_mount("type=bind,source=rel,target=/y"), Error);
}

TEST(ManagerOptions, ParseRestart) {
  RunOptions o;
  parse_restart("on-failure:3", o);
  EXPECT_EQ(o.restart, "on-failure");
  EXPECT_EQ(o.restart_max, 3);
  parse_restart("always", o);
  EXPECT_EQ(o.restart, "always");
  EXPECT_EQ(o.restart_max, 0);
  EXPECT_THROW(parse_restart("always:3", o), Error);
  EXPECT_THROW(parse_restart("on-failure:x", o), Error);
  EXPECT_THROW(parse_restart("sometimes", o), Error);
}

TEST(ManagerOptions, RoundTripsThroughJson) {
  RunOptions o;
  o.image = "busybox";
  o.command = {"sh", "-c", "true"};
  o.memory = 64 << 20;
  o.cpus = 0.5;
  o.volumes.push_back(parse_volume("v1:/v"));
  o.restart = "on-failure";
  o.restart_max = 2;
  o.entrypoint = std::vector<std::string>{};
  json j = o;
  RunOptions back = j.get<RunOptions>();
  EXPECT_EQ(back.command, o.command);
  EXPECT_EQ(back.memory, o.memory);
  EXPECT_EQ(back.cpus, o.cpus);
  EXPECT_EQ(back.volumes.size(), 1u);
  EXPECT_EQ(back.restart_max, 2);
  ASSERT_TRUE(back.entrypoint.has_value());
  EXPECT_TRUE(back.entrypoint->empty());
  EXPECT_FALSE(back.pids_limit.has_value());
}

TEST(ManagerOptions, NormalizeImageName) {
  EXPECT_EQ(normalize_image_name("busybox"), "busybox:latest");
  EXPECT_EQ(normalize_image_name("localhost:5000/x"), "localhost:5000/x:latest");
  EXPECT_EQ(normalize_image_name("localhost:5000/x:1"), "localhost:5000/x:1");
  EXPECT_EQ(normalize_image_name("x@sha256:abc"), "x@sha256:abc");
}

class SpecBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-specb-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    mkdir_p(dir_ + "/etc");
    write_file_atomic(dir_ + "/etc/passwd",
                      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
                      0644);
    write_file_atomic(dir_ + "/etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\n", 0644);
    rootfd_ = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  void TearDown() override {
    ::close(rootfd_);
    remove_tree(dir_);
  }
  json build(const json& image_config, const RunOptions& o, const std::string& netns = "") {
    SpecInputs in;
    in.netns_path = netns;
    in.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    in.image_config = &image_config;
    in.options = &o;
    in.rootfs_fd = rootfd_;
    in.etc_dir = dir_ + "/etc";
    return build_spec(in);
  }
  std::string dir_;
  int rootfd_ = -1;
};

TEST_F(SpecBuilderTest, ImageConfigBecomesTheProcess) {
  json img = {{"os", "linux"},
              {"architecture", "amd64"},
              {"config",
               {{"Entrypoint", {"/entry"}},
                {"Cmd", {"--default"}},
                {"Env", {"PATH=/custom", "A=image"}},
                {"WorkingDir", "/work"},
                {"User", "app"},
                {"StopSignal", "SIGQUIT"},
                {"ExposedPorts", {{"80/tcp", json::object()}}},
                {"Labels", {{"maintainer", "me"}}}}}};
  RunOptions o;
  o.image = "x";
  o.env = {"A=user", "B=2"};
  json spec = build(img, o);
  EXPECT_EQ(spec["process"]["args"], json({"/entry", "--default"}));
  EXPECT_EQ(spec["process"]["cwd"], "/work");
  EXPECT_EQ(spec["process"]["user"]["uid"], 1000);
  EXPECT_EQ(spec["process"]["user"]["gid"], 1000);
  EXPECT_EQ(spec["process"]["user"]["additionalGids"], json({2000}));
  auto env = spec["process"]["env"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(env.begin(), env.end(), "PATH=/custom"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "A=user"), env.end());
  EXPECT_EQ(std::find(env.begin(), env.end(), "A=image"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "HOME=/home/app"), env.end());
  EXPECT_EQ(spec["annotations"]["org.opencontainers.image.stopSignal"], "SIGQUIT");
  EXPECT_EQ(spec["annotations"]["org.opencontainers.image.exposedPorts"], "80/tcp");
  EXPECT_EQ(spec["annotations"]["maintainer"], "me");
  EXPECT_EQ(spec["hostname"], "0123456789ab");
  EXPECT_EQ(spec["linux"]["cgroupsPath"],
            "/vessel-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");

  // A command replaces Cmd only; --entrypoint replaces both.
  o.command = {"--flag"};
  EXPECT_EQ(build(img, o)["process"]["args"], json({"/entry", "--flag"}));
  o.entrypoint = std::vector<std::string>{"/bin/sh"};
  o.command = {};
  EXPECT_EQ(build(img, o)["process"]["args"], json({"/bin/sh"}));
}

TEST_F(SpecBuilderTest, RunFlagsBecomeResourcesAndSecurity) {
  json img = {{"config", {{"Cmd", {"sh"}}}}};
  RunOptions o;
  o.image = "x";
  o.memory = 64 << 20;
  o.memory_swap = 128 << 20;
  o.cpus = 1.5;
  o.pids_limit = 20;
  o.cap_drop = {"ALL"};
  o.cap_add = {"net_admin"};
  o.read_only = true;
  o.user = "1234:5678";
  o.ulimits = {"nofile=100:200"};
  o.security_opt = {"no-new-privileges"};
  json spec = build(img, o);
  auto& res = spec["linux"]["resources"];
  EXPECT_EQ(res["memory"]["limit"], 64 << 20);
  EXPECT_EQ(res["memory"]["swap"], 128 << 20);
  EXPECT_EQ(res["cpu"]["quota"], 150000);
  EXPECT_EQ(res["cpu"]["period"], 100000);
  EXPECT_EQ(res["pids"]["limit"], 20);
  EXPECT_EQ(spec["process"]["capabilities"]["bounding"], json({"CAP_NET_ADMIN"}));
  EXPECT_TRUE(spec["root"]["readonly"].get<bool>());
  EXPECT_EQ(spec["process"]["user"]["uid"], 1234);
  EXPECT_EQ(spec["process"]["user"]["gid"], 5678);
  EXPECT_EQ(spec["process"]["rlimits"][0]["soft"], 100);
  EXPECT_EQ(spec["process"]["rlimits"][0]["hard"], 200);
  EXPECT_TRUE(spec["process"]["noNewPrivileges"].get<bool>());
  EXPECT_TRUE(spec["linux"].contains("seccomp"));

  o.security_opt = {"seccomp=unconfined"};
  EXPECT_FALSE(build(img, o)["linux"].contains("seccomp"));

  RunOptions bad = o;
  bad.memory_swap = 1 << 20;  // less than memory
  EXPECT_THROW(build(img, bad), Error);
  bad = o;
  bad.user = "nobody-here";
  EXPECT_THROW(build(img, bad), Error);

  // Bridge mode joins the namespace the monitor keeps; host mode has none of its own.
  RunOptions bridged = o;
  bridged.network = "bridge";
  bool joined = false;
  json bridged_spec = build(img, bridged, "/run/vessel/netns/x");
  for (const auto& ns : bridged_spec["linux"]["namespaces"])
    joined |= ns["type"] == "network" && ns.value("path", "") == "/run/vessel/netns/x";
  EXPECT_TRUE(joined);
  RunOptions host = o;
  host.network = "host";
  json host_spec = build(img, host);
  for (const auto& ns : host_spec["linux"]["namespaces"]) EXPECT_NE(ns["type"], "network");
  EXPECT_THROW(build(json{{"config", json::object()}}, RunOptions{}), Error) << "no command at all";
}

}  // namespace
}  // namespace vessel::manager
