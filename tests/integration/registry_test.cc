// `vessel pull` and `vessel push` against a real registry: docker-registry (distribution) run
// as a child on a free 127.0.0.1 port with its storage in the test's temp dir, images put there
// with skopeo. Checks: pull + run, pull by digest, http refused without --tls-verify=false,
// clear errors, a corrupted blob rejected with nothing registered, an interrupted download
// resumed with a Range request, push checked by skopeo, and htpasswd (basic) auth.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "harness.h"

namespace itest {
namespace {

constexpr char kRegistryBin[] = "/usr/bin/docker-registry";
constexpr Millis kPullTimeout = 120s;

std::string which(const std::string& prog) {
  auto r = run_cmd({"/bin/sh", "-c", "command -v " + prog});
  return r.ok() ? trim(r.out) : "";
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    if (access(kRegistryBin, X_OK) != 0) GTEST_SKIP() << "docker-registry is not installed";
    if (which("skopeo").empty()) GTEST_SKIP() << "skopeo is not installed";
    char tmpl[] = "/tmp/vessel-rtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    start_registry("");
  }

  void TearDown() override {
    if (registry_.pid() > 0) {
      kill(registry_.pid(), SIGTERM);
      registry_.wait(10s);
    }
    if (!dir_.empty() && !getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  // Starts docker-registry on a free port; `auth_htpasswd` non-empty: basic auth with it.
  void start_registry(const std::string& auth_htpasswd) {
    if (registry_.pid() > 0) {
      kill(registry_.pid(), SIGTERM);
      registry_.wait(10s);
    }
    storage_ = dir_ + "/registry";
    mkdirs(storage_);
    port_ = free_port();
    ASSERT_GT(port_, 0);
    host_ = "127.0.0.1:" + std::to_string(port_);
    std::string cfg =
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
        "    rootdirectory: " +
        storage_ + "\n  delete:\n    enabled: true\nhttp:\n  addr: " + host_ + "\n";
    if (!auth_htpasswd.empty())
      cfg += "auth:\n  htpasswd:\n    realm: vessel-test\n    path: " + auth_htpasswd + "\n";
    write_text(dir_ + "/registry.yml", cfg);
    log_ = dir_ + "/registry.log";
    SpawnOptions o;
    o.stdout_path = log_;
    o.stderr_path = dir_ + "/registry.err";
    registry_ = spawn({kRegistryBin, "serve", dir_ + "/registry.yml"}, o);
    ASSERT_TRUE(wait_until([&] { return port_open(port_); }, 20s))
        << "docker-registry did not start: " << read_text(dir_ + "/registry.err");
  }

  Result v(const std::string& root, const std::vector<std::string>& args,
           Millis timeout = kPullTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }

  Result skopeo(std::vector<std::string> args) {
    args.insert(args.begin(), {"skopeo", "--insecure-policy"});
    return run_cmd(args, kPullTimeout);
  }

  // The busybox template, saved as an oci-archive and copied by skopeo to host_/`repo`.
  void put_busybox(const std::string& repo) {
    auto b = v(root_, {"template", "build", "busybox"});
    ASSERT_TRUE(b.ok()) << b.describe();
    std::string tar = dir_ + "/busybox.tar";
    auto s = v(root_, {"save", "--format", "oci-archive", "-o", tar, "busybox"});
    ASSERT_TRUE(s.ok()) << s.describe();
    auto c = skopeo({"copy", "--dest-tls-verify=false", "oci-archive:" + tar,
                     "docker://" + host_ + "/" + repo});
    ASSERT_TRUE(c.ok()) << c.describe();
  }

  json raw_manifest(const std::string& repo) {
    auto r = skopeo({"inspect", "--tls-verify=false", "--raw", "docker://" + host_ + "/" + repo});
    EXPECT_TRUE(r.ok()) << r.describe();
    return r.ok() ? json::parse(r.out) : json();
  }

  std::string blob_data_path(const std::string& digest) {
    std::string hex = digest.substr(7);
    return storage_ + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  }

  json images(const std::string& root) {
    auto r = v(root, {"images", "--format", "json"});
    EXPECT_TRUE(r.ok()) << r.describe();
    return r.ok() ? json::parse(r.out) : json::array();
  }

  static size_t count_lines(const std::string& s) {
    size_t n = 0;
    for (const auto& l : split_lines(s)) n += !trim(l).empty();
    return n;
  }

  std::string dir_, root_, storage_, host_, log_;
  int port_ = 0;
  Child registry_;
};

TEST_F(RegistryTest, PullRunAndPullByDigest) {
  put_busybox("test/busybox:v1");
  std::string ref = host_ + "/test/busybox:v1";
  std::string root2 = dir_ + "/store2";
  auto p = v(root2, {"pull", "--tls-verify=false", ref});
  ASSERT_TRUE(p.ok()) << p.describe();
  EXPECT_EQ(trim(p.out).size(), 64u) << p.out;  // the image ID
  EXPECT_TRUE(contains(p.err, "Copying blob sha256:")) << p.err;
  EXPECT_TRUE(contains(p.err, " done")) << p.err;
  auto list = images(root2);
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_TRUE(contains(list.dump(), ref)) << list.dump();

  auto r = v(root2, {"run", "--rm", ref, "echo", "hi"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "hi");

  // A second pull finds every blob present.
  auto again = v(root2, {"pull", "--tls-verify=false", ref});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_TRUE(contains(again.err, "already exists")) << again.err;

  // By digest (podman's "--tls-verify false" spelling), into another store.
  auto insp = skopeo({"inspect", "--tls-verify=false", "docker://" + ref});
  ASSERT_TRUE(insp.ok()) << insp.describe();
  std::string digest = json::parse(insp.out)["Digest"];
  std::string by_digest = host_ + "/test/busybox@" + digest;
  std::string root3 = dir_ + "/store3";
  auto d = v(root3, {"pull", "--tls-verify", "false", by_digest});
  ASSERT_TRUE(d.ok()) << d.describe();
  auto r3 = v(root3, {"run", "--rm", by_digest, "echo", "by-digest"});
  EXPECT_TRUE(r3.ok()) << r3.describe();
  EXPECT_EQ(trim(r3.out), "by-digest");
  auto inspect = v(root3, {"image", "inspect", by_digest});
  EXPECT_TRUE(inspect.ok()) << inspect.describe();

  // A digest the registry does not have.
  std::string wrong = host_ + "/test/busybox@sha256:" + std::string(64, '0');
  auto w = v(root3, {"pull", "--tls-verify=false", wrong});
  EXPECT_FALSE(w.ok());
  EXPECT_TRUE(contains(w.err, "manifest unknown")) << w.err;
}

TEST_F(RegistryTest, DockerManifestIsPulledAndStoredAsOci) {
  auto b = v(root_, {"template", "build", "busybox"});
  ASSERT_TRUE(b.ok()) << b.describe();
  std::string tar = dir_ + "/busybox.tar";
  ASSERT_TRUE(v(root_, {"save", "--format", "oci-archive", "-o", tar, "busybox"}).ok());
  std::string ref = host_ + "/test/docker:v1";
  auto c = skopeo({"copy", "--format", "v2s2", "--dest-tls-verify=false", "oci-archive:" + tar,
                   "docker://" + ref});
  ASSERT_TRUE(c.ok()) << c.describe();
  json m = raw_manifest("test/docker:v1");
  ASSERT_EQ(m.value("mediaType", ""), "application/vnd.docker.distribution.manifest.v2+json");
  auto insp = skopeo({"inspect", "--tls-verify=false", "docker://" + ref});
  ASSERT_TRUE(insp.ok()) << insp.describe();
  std::string digest = json::parse(insp.out)["Digest"];

  std::string root2 = dir_ + "/store2";
  auto p = v(root2, {"pull", "--tls-verify=false", host_ + "/test/docker@" + digest});
  ASSERT_TRUE(p.ok()) << p.describe();
  auto r = v(root2, {"run", "--rm", host_ + "/test/docker@" + digest, "echo", "from-docker"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "from-docker");
  // What is stored is an OCI manifest: save writes it out as it is.
  std::string dir = dir_ + "/out";
  auto s = v(root2, {"save", "--format", "oci-dir", "-o", dir, host_ + "/test/docker@" + digest});
  ASSERT_TRUE(s.ok()) << s.describe();
  json index = json::parse(read_text(dir + "/index.json"));
  EXPECT_EQ(index["manifests"][0].value("mediaType", ""),
            "application/vnd.oci.image.manifest.v1+json");
}

TEST_F(RegistryTest, ErrorsAreOneClearLineAndRegisterNothing) {
  put_busybox("test/busybox:v1");
  std::string root2 = dir_ + "/store2";
  // http without --tls-verify=false.
  auto p = v(root2, {"pull", host_ + "/test/busybox:v1"});
  EXPECT_EQ(p.exit_code(), 125) << p.describe();
  EXPECT_TRUE(contains(p.err, "--tls-verify=false")) << p.err;
  EXPECT_EQ(count_lines(p.err), 1u) << p.err;

  auto missing = v(root2, {"pull", "--tls-verify=false", host_ + "/test/nothere:v1"});
  EXPECT_EQ(missing.exit_code(), 125);
  EXPECT_EQ(trim(missing.err), "vessel: manifest unknown: " + host_ + "/test/nothere:v1");

  auto tag = v(root2, {"pull", "--tls-verify=false", host_ + "/test/busybox:nope"});
  EXPECT_EQ(trim(tag.err), "vessel: manifest unknown: " + host_ + "/test/busybox:nope");

  auto host = v(root2, {"pull", "no-such-host.invalid/x:1"});
  EXPECT_EQ(host.exit_code(), 125);
  EXPECT_TRUE(contains(host.err, "unknown host: no-such-host.invalid")) << host.err;
  EXPECT_EQ(count_lines(host.err), 1u) << host.err;

  auto bad = v(root2, {"pull", "Not/Valid"});
  EXPECT_EQ(bad.exit_code(), 125);
  EXPECT_TRUE(contains(bad.err, "invalid reference")) << bad.err;

  EXPECT_EQ(images(root2).size(), 0u);
}

TEST_F(RegistryTest, CorruptedBlobIsRejectedAndNotRegistered) {
  put_busybox("test/busybox:v1");
  json m = raw_manifest("test/busybox:v1");
  ASSERT_FALSE(m.is_null());
  std::string layer = m["layers"][0]["digest"];
  std::string data = blob_data_path(layer);
  std::string bytes = read_text(data);
  ASSERT_FALSE(bytes.empty()) << data;
  bytes[bytes.size() / 2] ^= 0x55;  // same size, other content
  write_text(data, bytes);

  std::string root2 = dir_ + "/store2";
  auto p = v(root2, {"pull", "--tls-verify=false", host_ + "/test/busybox:v1"});
  EXPECT_EQ(p.exit_code(), 125) << p.describe();
  EXPECT_TRUE(contains(p.err, "vessel: blob " + layer + ": digest mismatch")) << p.err;
  EXPECT_EQ(images(root2).size(), 0u);
  EXPECT_FALSE(exists(root2 + "/blobs/sha256/" + layer.substr(7)));
  EXPECT_FALSE(exists(root2 + "/tmp/pull-" + layer.substr(7) + ".partial"));
}

TEST_F(RegistryTest, InterruptedPullResumesWithARangeRequest) {
  put_busybox("test/busybox:v1");
  json m = raw_manifest("test/busybox:v1");
  ASSERT_FALSE(m.is_null());
  std::string layer = m["layers"][0]["digest"];
  std::string bytes = read_text(blob_data_path(layer));
  ASSERT_GT(bytes.size(), 1000u);
  size_t half = bytes.size() / 2;

  // What an interrupted pull leaves: the first half in <store>/tmp/pull-<hex>.partial.
  std::string root2 = dir_ + "/store2";
  ASSERT_TRUE(v(root2, {"images"}).ok());
  mkdirs(root2 + "/tmp", 0700);
  write_text(root2 + "/tmp/pull-" + layer.substr(7) + ".partial", bytes.substr(0, half), 0600);

  auto p = v(root2, {"pull", "--tls-verify=false", host_ + "/test/busybox:v1"});
  ASSERT_TRUE(p.ok()) << p.describe();
  auto r = v(root2, {"run", "--rm", host_ + "/test/busybox:v1", "echo", "resumed"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "resumed");
  // The access log (combined format) shows a 206 answer with the second half only.
  std::string log = read_text(log_) + read_text(dir_ + "/registry.err");
  std::string want = "/blobs/" + layer + " HTTP/1.1\" 206 " + std::to_string(bytes.size() - half);
  EXPECT_TRUE(contains(log, want)) << "no \"" << want << "\" in\n" << log;
  EXPECT_FALSE(exists(root2 + "/tmp/pull-" + layer.substr(7) + ".partial"));
}

TEST_F(RegistryTest, PushIsSeenBySkopeoAndPullsBack) {
  auto b = v(root_, {"template", "build", "busybox"});
  ASSERT_TRUE(b.ok()) << b.describe();
  std::string dest = host_ + "/pushed/bb:v2";
  auto p = v(root_, {"push", "--tls-verify=false", "busybox", dest});
  ASSERT_TRUE(p.ok()) << p.describe();
  std::string digest = trim(p.out);
  EXPECT_EQ(digest.rfind("sha256:", 0), 0u) << p.out;

  auto insp = skopeo({"inspect", "--tls-verify=false", "docker://" + dest});
  ASSERT_TRUE(insp.ok()) << insp.describe();
  json j = json::parse(insp.out);
  EXPECT_EQ(j["Digest"], digest);
  EXPECT_EQ(j["Os"], "linux");

  // Again: every blob is there already.
  auto again = v(root_, {"push", "--tls-verify", "false", "busybox", dest});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_TRUE(contains(again.err, "already exists")) << again.err;

  // Plain http needs the flag here too.
  auto refused = v(root_, {"push", "busybox", dest});
  EXPECT_EQ(refused.exit_code(), 125);
  EXPECT_TRUE(contains(refused.err, "--tls-verify=false")) << refused.err;

  std::string root2 = dir_ + "/store2";
  auto pull = v(root2, {"pull", "--tls-verify=false", dest});
  ASSERT_TRUE(pull.ok()) << pull.describe();
  auto r = v(root2, {"run", "--rm", dest, "echo", "round", "trip"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "round trip");
}

TEST_F(RegistryTest, BasicAuthWithCredsAndAuthFile) {
  // docker-registry's htpasswd files must hold bcrypt hashes.
  auto hash = run_cmd({"python3", "-c",
                       "import crypt,warnings; "
                       "print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))"});
  if (!hash.ok() || trim(hash.out).rfind("$2", 0) != 0)
    GTEST_SKIP() << "no bcrypt from python3's crypt module: " << hash.describe();
  std::string htpasswd = dir_ + "/htpasswd";
  write_text(htpasswd, "tester:" + trim(hash.out) + "\n");
  start_registry(htpasswd);

  auto b = v(root_, {"template", "build", "busybox"});
  ASSERT_TRUE(b.ok()) << b.describe();
  std::string dest = host_ + "/auth/bb:v1";
  auto anon = v(root_, {"push", "--tls-verify=false", "busybox", dest});
  EXPECT_EQ(anon.exit_code(), 125);
  EXPECT_TRUE(contains(anon.err, "authentication required")) << anon.err;
  auto wrong = v(root_, {"push", "--tls-verify=false", "--creds", "tester:nope", "busybox", dest});
  EXPECT_EQ(wrong.exit_code(), 125) << wrong.describe();
  auto p = v(root_, {"push", "--tls-verify=false", "--creds", "tester:s3cret", "busybox", dest});
  ASSERT_TRUE(p.ok()) << p.describe();

  std::string root2 = dir_ + "/store2";
  auto denied = v(root2, {"pull", "--tls-verify=false", dest});
  EXPECT_EQ(denied.exit_code(), 125);
  EXPECT_EQ(images(root2).size(), 0u);
  std::string authfile = dir_ + "/auth.json";
  // base64("tester:s3cret")
  write_text(authfile, R"({"auths": {")" + host_ + R"(": {"auth": "dGVzdGVyOnMzY3JldA=="}}})");
  auto ok = v(root2, {"pull", "--tls-verify=false", "--authfile", authfile, dest});
  ASSERT_TRUE(ok.ok()) << ok.describe();
  auto r = v(root2, {"run", "--rm", dest, "echo", "authed"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "authed");
}

// build --format docker makes a Docker schema 2 image (manifest, config and layer media types),
// the default an OCI one; push and save carry them as they are, as podman's do: the manifest
// podman build --format docker (Debian's, offline) pushes has the same media types.
TEST_F(RegistryTest, BuildFormatDockerPushesAndSavesSchema2) {
  ASSERT_TRUE(v(root_, {"template", "build", "busybox"}).ok());
  std::string ctx = dir_ + "/ctx";
  mkdirs(ctx);
  write_text(ctx + "/f", "F\n");
  write_text(ctx + "/Containerfile",
             "FROM localhost/busybox:latest\nCOPY f /f\nHEALTHCHECK CMD true\nCMD [\"sh\"]\n");
  auto b = v(root_, {"build", "-q", "--format", "docker", "-t", "fmt:docker", ctx});
  ASSERT_TRUE(b.ok()) << b.describe();
  b = v(root_, {"build", "-q", "-t", "fmt:oci", ctx});
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_TRUE(contains(b.err, "HEALTHCHECK")) << b.describe();
  EXPECT_FALSE(v(root_, {"build", "--format", "v2s1", "-t", "fmt:x", ctx}).ok());

  for (std::string tag : {"docker", "oci"}) {
    auto p = v(root_, {"push", "--tls-verify=false", "fmt:" + tag, host_ + "/fmt:" + tag});
    ASSERT_TRUE(p.ok()) << p.describe();
  }
  json dm = raw_manifest("fmt:docker");
  EXPECT_EQ(dm["mediaType"], "application/vnd.docker.distribution.manifest.v2+json") << dm;
  EXPECT_EQ(dm["config"]["mediaType"], "application/vnd.docker.container.image.v1+json") << dm;
  ASSERT_EQ(dm["layers"].size(), 2u) << dm;
  for (const auto& l : dm["layers"])
    EXPECT_EQ(l["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip") << dm;
  json om = raw_manifest("fmt:oci");
  EXPECT_EQ(om["mediaType"], "application/vnd.oci.image.manifest.v1+json") << om;
  EXPECT_EQ(om["config"]["mediaType"], "application/vnd.oci.image.config.v1+json") << om;
  for (const auto& l : om["layers"])
    EXPECT_EQ(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip") << om;
  // The docker image's config keeps HEALTHCHECK; the OCI one has none.
  auto dc = skopeo(
      {"inspect", "--tls-verify=false", "--config", "--raw", "docker://" + host_ + "/fmt:docker"});
  ASSERT_TRUE(dc.ok()) << dc.describe();
  EXPECT_TRUE(json::parse(dc.out)["config"].contains("Healthcheck")) << dc.out;
  auto oc = skopeo(
      {"inspect", "--tls-verify=false", "--config", "--raw", "docker://" + host_ + "/fmt:oci"});
  ASSERT_TRUE(oc.ok()) << oc.describe();
  EXPECT_FALSE(json::parse(oc.out)["config"].contains("Healthcheck")) << oc.out;

  // save: an oci-archive holds the docker manifest as it is.
  std::string tar = dir_ + "/fmt.tar";
  ASSERT_TRUE(v(root_, {"save", "--format", "oci-archive", "-o", tar, "fmt:docker"}).ok());
  auto sr = skopeo({"inspect", "--raw", "oci-archive:" + tar});
  ASSERT_TRUE(sr.ok()) << sr.describe();
  EXPECT_EQ(json::parse(sr.out)["mediaType"], dm["mediaType"]) << sr.out;
  EXPECT_EQ(json::parse(sr.out)["config"]["mediaType"], dm["config"]["mediaType"]) << sr.out;
  // pulled back (converted to OCI in the store as every docker image is), it runs.
  std::string other = dir_ + "/other";
  auto pl = v(other, {"pull", "--tls-verify=false", host_ + "/fmt:docker"});
  ASSERT_TRUE(pl.ok()) << pl.describe();
  auto ran = v(other, {"run", "--rm", "--network", "none", host_ + "/fmt:docker", "cat", "/f"});
  EXPECT_EQ(ran.out, "F\n") << ran.describe();

  // podman build --format docker of the same Containerfile, pushed: the same media types.
  if (which("podman").empty()) GTEST_SKIP() << "podman is not installed";
  std::string p = dir_ + "/podman";
  for (const char* d : {"/root", "/runroot", "/tmp"}) mkdirs(p + d);
  write_text(p + "/containers.conf",
             "[containers]\nnetns = \"none\"\n[engine]\ncgroup_manager = \"cgroupfs\"\n"
             "events_logger = \"file\"\nevents_logfile_path = \"" +
                 p + "/events.log\"\n");
  write_text(p + "/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + p +
                                      "/root\"\nrunroot = \"" + p + "/runroot\"\n");
  auto podman = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"env",
                                     "CONTAINERS_CONF=" + p + "/containers.conf",
                                     "CONTAINERS_STORAGE_CONF=" + p + "/storage.conf",
                                     "TMPDIR=" + p + "/tmp",
                                     "podman",
                                     "--root",
                                     p + "/root",
                                     "--runroot",
                                     p + "/runroot",
                                     "--storage-driver",
                                     "vfs",
                                     "--cgroup-manager",
                                     "cgroupfs",
                                     "--events-backend",
                                     "file"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, 240s);
  };
  struct Reset {
    std::function<void()> f;
    ~Reset() { f(); }
  } reset{[&] { podman({"system", "reset", "-f"}); }};
  std::string base = dir_ + "/busybox.tar";
  ASSERT_TRUE(v(root_, {"save", "--format", "docker-archive", "-o", base, "busybox"}).ok());
  auto loaded = podman({"load", "-i", base});
  ASSERT_TRUE(loaded.ok()) << loaded.describe();
  auto pb = podman({"build", "--isolation", "chroot", "-q", "--format", "docker", "-t",
                    "localhost/fmt:podman", ctx});
  ASSERT_TRUE(pb.ok()) << pb.describe();
  auto pp = podman(
      {"push", "--tls-verify=false", "localhost/fmt:podman", "docker://" + host_ + "/fmt:podman"});
  ASSERT_TRUE(pp.ok()) << pp.describe();
  json pm = raw_manifest("fmt:podman");
  EXPECT_EQ(pm["mediaType"], dm["mediaType"]) << pm;
  EXPECT_EQ(pm["config"]["mediaType"], dm["config"]["mediaType"]) << pm;
  ASSERT_EQ(pm["layers"].size(), dm["layers"].size()) << pm;
  for (size_t i = 0; i < pm["layers"].size(); ++i)
    EXPECT_EQ(pm["layers"][i]["mediaType"], dm["layers"][i]["mediaType"]) << pm;
}

// vessel login/logout against docker-registry with htpasswd: wrong credentials are refused
// and stored nowhere; good ones go into the auth file (0600) that pull then uses; logout
// takes them out again.
TEST_F(RegistryTest, LoginChecksAndStoresCredentialsLogoutRemovesThem) {
  auto hash = run_cmd({"python3", "-c",
                       "import crypt,warnings; "
                       "print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))"});
  if (!hash.ok() || trim(hash.out).rfind("$2", 0) != 0)
    GTEST_SKIP() << "no bcrypt from python3's crypt module: " << hash.describe();
  std::string htpasswd = dir_ + "/htpasswd";
  write_text(htpasswd, "tester:" + trim(hash.out) + "\n");
  start_registry(htpasswd);
  auto b = v(root_, {"template", "build", "busybox"});
  ASSERT_TRUE(b.ok()) << b.describe();
  std::string dest = host_ + "/login/bb:v1";
  auto p = v(root_, {"push", "--tls-verify=false", "--creds", "tester:s3cret", "busybox", dest});
  ASSERT_TRUE(p.ok()) << p.describe();

  std::string authfile = dir_ + "/auth/config.json";
  auto login = [&](const std::vector<std::string>& extra, const std::string& stdin_text) {
    write_text(dir_ + "/stdin", stdin_text);
    SpawnOptions o;
    o.stdin_path = dir_ + "/stdin";
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN,   "--root",     root_,   "login",
                                     "--tls-verify=false", "--authfile", authfile};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(host_);
    return run_cmd(argv, kPullTimeout, o);
  };
  auto wrong = login({"-u", "tester", "--password-stdin"}, "nope\n");
  EXPECT_EQ(wrong.exit_code(), 125) << wrong.describe();
  EXPECT_TRUE(contains(wrong.err, "authentication failed")) << wrong.err;
  EXPECT_FALSE(exists(authfile)) << "nothing stored for refused credentials";
  auto nouser = login({"--password-stdin"}, "s3cret\n");
  EXPECT_EQ(nouser.exit_code(), 125);
  EXPECT_TRUE(contains(nouser.err, "-u")) << nouser.err;

  auto ok = login({"-u", "tester", "--password-stdin"}, "s3cret\n");
  ASSERT_TRUE(ok.ok()) << ok.describe();
  EXPECT_TRUE(contains(ok.out, "Login Succeeded")) << ok.out;
  struct stat st {};
  ASSERT_EQ(stat(authfile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto j = json::parse(read_text(authfile));
  EXPECT_EQ(j["auths"][host_]["auth"], "dGVzdGVyOnMzY3JldA==");  // base64("tester:s3cret")

  std::string root2 = dir_ + "/store2";
  auto pulled = v(root2, {"pull", "--tls-verify=false", "--authfile", authfile, dest});
  ASSERT_TRUE(pulled.ok()) << pulled.describe();
  // The default auth file is the one pull reads first ($REGISTRY_AUTH_FILE here).
  auto env_login =
      run_cmd({"env", "REGISTRY_AUTH_FILE=" + dir_ + "/env-auth.json", VESSEL_MANAGER_BIN, "login",
               "--tls-verify=false", "-u", "tester", "-p", "s3cret", host_});
  ASSERT_TRUE(env_login.ok()) << env_login.describe();
  auto env_pull =
      run_cmd({"env", "REGISTRY_AUTH_FILE=" + dir_ + "/env-auth.json", VESSEL_MANAGER_BIN, "--root",
               dir_ + "/store3", "pull", "--tls-verify=false", dest},
              kPullTimeout);
  EXPECT_TRUE(env_pull.ok()) << env_pull.describe();

  auto out = v(root_, {"logout", "--authfile", authfile, host_});
  ASSERT_TRUE(out.ok()) << out.describe();
  EXPECT_FALSE(json::parse(read_text(authfile))["auths"].contains(host_));
  auto again = v(root_, {"logout", "--authfile", authfile, host_});
  EXPECT_EQ(again.exit_code(), 125);
  EXPECT_TRUE(contains(again.err, "not logged in")) << again.err;
  auto denied = v(dir_ + "/store4", {"pull", "--tls-verify=false", "--authfile", authfile, dest});
  EXPECT_EQ(denied.exit_code(), 125) << denied.describe();
}

// vessel.conf's [registries]: insecure (plain http without --tls-verify=false), search (a
// short name tried on each registry), mirrors (a registry's images fetched from its mirror).
TEST_F(RegistryTest, ConfigInsecureSearchAndMirrors) {
  put_busybox("conf/bb:v1");
  std::string conf = dir_ + "/vessel.conf";
  auto vc = [&](const std::string& root, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--config", conf, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, kPullTimeout);
  };
  write_text(conf, "");
  auto refused = vc(dir_ + "/s1", {"pull", host_ + "/conf/bb:v1"});
  EXPECT_EQ(refused.exit_code(), 125) << "https is required by default: " << refused.describe();

  write_text(conf, "[registries]\ninsecure = [\"" + host_ + "\"]\n");
  auto insecure = vc(dir_ + "/s1", {"pull", host_ + "/conf/bb:v1"});
  EXPECT_TRUE(insecure.ok()) << insecure.describe();

  write_text(conf, "[registries]\ninsecure = [\"" + host_ + "\"]\nsearch = [\"127.0.0.1:1\", \"" +
                       host_ + "\"]\n");
  auto search = vc(dir_ + "/s2", {"pull", "conf/bb:v1"});
  ASSERT_TRUE(search.ok()) << search.describe();
  auto imgs = images(dir_ + "/s2");
  ASSERT_EQ(imgs.size(), 1u);
  EXPECT_TRUE(contains(imgs.dump(), host_ + "/conf/bb:v1")) << imgs.dump();

  // docker.io mirrored by the local registry: no network needed, the name stays docker.io's.
  put_busybox("library/mirrored:v1");
  write_text(conf, "[registries]\ninsecure = [\"" + host_ +
                       "\"]\n[registries.mirrors]\n\"docker.io\" = [\"" + host_ + "\"]\n");
  auto mirrored = vc(dir_ + "/s3", {"pull", "docker.io/library/mirrored:v1"});
  ASSERT_TRUE(mirrored.ok()) << mirrored.describe();
  EXPECT_TRUE(contains(images(dir_ + "/s3").dump(), "docker.io/library/mirrored:v1"));
}

// Pull and push progress: redrawn in place (escape sequences) on a terminal (a pty from script(1)),
// one line per layer with its size otherwise, nothing with -q.
TEST_F(RegistryTest, PullProgressOnATerminalLinesOtherwiseNothingWithQuiet) {
  if (which("script").empty()) GTEST_SKIP() << "script(1) (bsdutils) is not installed";
  put_busybox("progress/bb:v1");
  std::string ref = host_ + "/progress/bb:v1";
  auto plain = v(dir_ + "/p1", {"pull", "--tls-verify=false", ref});
  ASSERT_TRUE(plain.ok()) << plain.describe();
  EXPECT_TRUE(contains(plain.err, "Copying blob ")) << plain.err;
  EXPECT_TRUE(contains(plain.err, " done (")) << "a line per layer with its size: " << plain.err;
  EXPECT_FALSE(contains(plain.err, "\033[")) << "no terminal codes into a pipe";

  auto quiet = v(dir_ + "/p2", {"pull", "-q", "--tls-verify=false", ref});
  ASSERT_TRUE(quiet.ok()) << quiet.describe();
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(split_lines(trim(quiet.out)).size(), 1u) << "only the image ID: " << quiet.out;

  std::string cmd =
      std::string(VESSEL_MANAGER_BIN) + " --root " + dir_ + "/p3 pull --tls-verify=false " + ref;
  auto tty = run_cmd({"script", "-qec", cmd, "/dev/null"}, kPullTimeout);
  ASSERT_TRUE(tty.ok()) << tty.describe();
  EXPECT_TRUE(contains(tty.out, "\033[")) << "redrawn in place: " << tty.out;
  EXPECT_TRUE(contains(tty.out, "Copying blob ")) << tty.out;
  EXPECT_TRUE(contains(tty.out, " done (")) << tty.out;

  // push: the same, each blob with its size (and its speed on a terminal).
  auto pushed = v(dir_ + "/p1", {"push", "--tls-verify=false", ref, host_ + "/progress/pushed:v1"});
  ASSERT_TRUE(pushed.ok()) << pushed.describe();
  EXPECT_TRUE(contains(pushed.err, "Copying blob ")) << pushed.err;
  EXPECT_TRUE(contains(pushed.err, " done (")) << pushed.err;
  EXPECT_FALSE(contains(pushed.err, "\033["));
  auto pq = v(dir_ + "/p1", {"push", "-q", "--tls-verify=false", ref, host_ + "/progress/q:v1"});
  ASSERT_TRUE(pq.ok()) << pq.describe();
  EXPECT_EQ(pq.err, "");
  std::string pcmd = std::string(VESSEL_MANAGER_BIN) + " --root " + dir_ +
                     "/p3 push --tls-verify=false " + ref + " " + host_ + "/progress/tty:v1";
  auto ptty = run_cmd({"script", "-qec", pcmd, "/dev/null"}, kPullTimeout);
  ASSERT_TRUE(ptty.ok()) << ptty.describe();
  EXPECT_TRUE(contains(ptty.out, "\033[")) << "redrawn in place: " << ptty.out;
  EXPECT_TRUE(contains(ptty.out, "/s)")) << "the speed: " << ptty.out;
}

}  // namespace
}  // namespace itest
