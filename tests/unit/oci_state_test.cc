#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "oci/mount_options.h"
#include "oci/spec.h"
#include "oci/state.h"

namespace vessel::oci {
namespace {

using nlohmann::json;

State sample(const std::string& status, pid_t pid) {
  State s;
  s.oci_version = kSpecVersion;
  s.id = "c1";
  s.status = status;
  s.pid = pid;
  s.bundle = "/run/bundles/c1";
  return s;
}

TEST(OciState, RunningStateHasEveryRequiredField) {
  json j = state_to_json(sample("running", 4422));
  EXPECT_EQ(j["ociVersion"], "1.3.0");
  EXPECT_EQ(j["id"], "c1");
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["pid"], 4422);
  EXPECT_EQ(j["bundle"], "/run/bundles/c1");
  EXPECT_FALSE(j.contains("annotations"));
  EXPECT_EQ(j.size(), 5u);
}

TEST(OciState, PidPresentWhenCreatedOrRunning) {
  EXPECT_EQ(state_to_json(sample("created", 17))["pid"], 17);
  // Required by runtime.md even if the caller has no pid to give.
  EXPECT_TRUE(state_to_json(sample("created", 0)).contains("pid"));
  EXPECT_EQ(state_to_json(sample("creating", 9))["pid"], 9);
}

TEST(OciState, PidOmittedWhenThereIsNoProcess) {
  EXPECT_FALSE(state_to_json(sample("stopped", 0)).contains("pid"));
  EXPECT_FALSE(state_to_json(sample("creating", 0)).contains("pid"));
}

TEST(OciState, AnnotationsWhenPresent) {
  State s = sample("stopped", 0);
  s.annotations = {{"org.example.key", "value"}, {"b", ""}};
  json j = state_to_json(s);
  ASSERT_TRUE(j["annotations"].is_object());
  EXPECT_EQ(j["annotations"]["org.example.key"], "value");
  EXPECT_EQ(j["annotations"]["b"], "");
}

TEST(OciFeatures, VersionsAndHooks) {
  json f = features_json();
  EXPECT_EQ(f["ociVersionMin"], "1.0.0");
  EXPECT_EQ(f["ociVersionMax"], "1.3.0");
  EXPECT_EQ(f["hooks"], json({"prestart", "createRuntime", "createContainer", "startContainer",
                              "poststart", "poststop"}));
  EXPECT_EQ(f["annotations"]["io.github.vessel.version"], VESSEL_VERSION);
}

TEST(OciFeatures, MountOptionsAreTheSharedList) {
  json f = features_json();
  ASSERT_TRUE(f["mountOptions"].is_array());
  auto opts = f["mountOptions"].get<std::vector<std::string>>();
  EXPECT_EQ(opts, known_mount_options());
  EXPECT_EQ(std::set<std::string>(opts.begin(), opts.end()).size(), opts.size()) << "duplicates";
  for (const char* absent : {"mode=755", "size=64m"})
    EXPECT_EQ(std::count(opts.begin(), opts.end(), absent), 0) << absent;
  for (const char* present : {"ro", "rbind", "rro", "nosymfollow", "runbindable", "strictatime",
                              "tmpcopyup", "idmap", "ridmap"})
    EXPECT_TRUE(is_known_mount_option(present)) << present;
  EXPECT_FALSE(is_known_mount_option("rridmap"));
}

TEST(OciFeatures, DefaultSpecUsesOnlyKnownFlagOptions) {
  // Data options (key=value, and devpts' newinstance) go to the filesystem, not our table.
  for (bool rootless : {false, true}) {
    const json spec = default_spec(rootless);
    for (const auto& m : spec["mounts"])
      for (const auto& o : m.value("options", json::array())) {
        std::string opt = o.get<std::string>();
        if (opt.find('=') != std::string::npos || opt == "newinstance") continue;
        EXPECT_TRUE(is_known_mount_option(opt)) << opt;
      }
  }
}

TEST(OciFeatures, LinuxSection) {
  json l = features_json()["linux"];
  auto ns = l["namespaces"].get<std::vector<std::string>>();
  EXPECT_EQ(ns.size(), 8u);
  for (const auto& n : ns) EXPECT_TRUE(namespace_from_name(n).has_value()) << n;

  auto caps = l["capabilities"].get<std::vector<std::string>>();
  EXPECT_EQ(caps.size(), 41u);
  EXPECT_EQ(std::set<std::string>(caps.begin(), caps.end()).size(), caps.size());
  EXPECT_EQ(caps.front(), "CAP_CHOWN");
  EXPECT_EQ(caps.back(), "CAP_CHECKPOINT_RESTORE");
  for (const auto& c : caps) EXPECT_EQ(c.rfind("CAP_", 0), 0u) << c;

  EXPECT_EQ(l["cgroup"], json({{"v1", true},
                               {"v2", true},
                               {"systemd", VESSEL_HAVE_SYSTEMD != 0},
                               {"systemdUser", false},
                               {"rdma", false}}));
  EXPECT_EQ(l["seccomp"]["enabled"], false);
  // Supported by the runtime, whatever the host has (features-linux.md).
  EXPECT_EQ(l["apparmor"]["enabled"], true);
  EXPECT_EQ(l["selinux"]["enabled"], true);
  EXPECT_EQ(l["intelRdt"]["enabled"], false);
  // runc's shape: the runtime parses and uses mounts' uidMappings/gidMappings.
  EXPECT_EQ(l["mountExtensions"], json({{"idmap", {{"enabled", true}}}}));
}

}  // namespace
}  // namespace vessel::oci
