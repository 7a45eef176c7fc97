// vessel commit, diff, history and build end to end: real containers from the busybox
// template, each test with its own store (--root) under a temp dir; images made here are run
// and looked at from inside, and nothing is left behind (containers, mounts).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>

#include "harness.h"

namespace itest {
namespace {

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-btest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      server_.kill_group(SIGTERM);
      server_.wait(10s);
    }
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "") << "containers left behind";
    EXPECT_EQ(own_mounts(), 0u) << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  json image_config(const std::string& name) {
    auto r = v({"image", "inspect", name});
    if (!r.ok()) return json();
    auto j = json::parse(r.out);
    return j.is_array() ? j.at(0) : j;
  }
  // A build context directory with these files (path -> content).
  std::string context(const std::string& name, const std::map<std::string, std::string>& files) {
    std::string ctx = dir_ + "/" + name;
    for (const auto& [path, content] : files) {
      auto slash = path.rfind('/');
      if (slash != std::string::npos)
        mkdirs(ctx + "/" + path.substr(0, slash));
      else
        mkdirs(ctx);
      write_text(ctx + "/" + path, content);
    }
    return ctx;
  }

  // Mounts under this test's directory (the host's other mounts are not ours to count).
  size_t own_mounts() {
    size_t n = 0;
    for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
      n += m.mount_point.rfind(dir_ + "/", 0) == 0;
    return n;
  }
  size_t entries(const std::string& path) {
    size_t n = 0;
    for (const auto& l : split_lines(run_cmd({"ls", "-A", path}).out)) n += !trim(l).empty();
    return n;
  }

  // Serves `dir` over HTTP on 127.0.0.1 (python3's http.server, stopped in TearDown); its URL.
  std::string serve(const std::string& dir) {
    write_text(
        dir_ + "/serve.py",
        "import functools, http.server, os, sys\n"
        "h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n"
        "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n"
        "open(sys.argv[2] + '.tmp', 'w').write(str(s.server_address[1]))\n"
        "os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
        "s.serve_forever()\n");
    SpawnOptions so;
    so.stdout_path = dir_ + "/serve.out";
    so.stderr_path = dir_ + "/serve.err";
    ::unlink((dir_ + "/port").c_str());
    server_ = spawn({"python3", dir_ + "/serve.py", dir, dir_ + "/port"}, so);
    if (!wait_until([&] { return exists(dir_ + "/port"); }, 20s)) {
      ADD_FAILURE() << "http.server did not start: " << read_text(dir_ + "/serve.err");
      return "";
    }
    return "http://127.0.0.1:" + trim(read_text(dir_ + "/port"));
  }

  std::string dir_, root_;
  Child server_;
};

TEST_F(BuildTest, CommitKeepsAddedChangedAndDeletedFiles) {
  auto r = v({"run", "--name", "c1", "busybox", "sh", "-c",
              "echo new > /root/added; echo changed >> /etc/passwd; rm /etc/os-release; "
              "rm -r /home; mkdir -p /opt/app; echo x > /opt/app/f; ln -s f /opt/app/l; "
              "chmod 0750 /opt/app"});
  ASSERT_TRUE(r.ok()) << r.describe();

  auto d = v({"diff", "c1"});
  ASSERT_TRUE(d.ok()) << d.describe();
  EXPECT_EQ(d.out,
            "C /etc\n"
            "D /etc/os-release\n"
            "C /etc/passwd\n"
            "D /home\n"
            "A /opt\n"
            "A /opt/app\n"
            "A /opt/app/f\n"
            "A /opt/app/l\n"
            "C /root\n"
            "A /root/added\n");

  auto c = v({"commit", "-m", "by hand", "--change", "CMD [\"cat\", \"/root/added\"]", "--change",
              "ENV FOO=bar", "--change", "WORKDIR /opt/app", "--change", "EXPOSE 8080", "c1",
              "mine:v1"});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_EQ(c.out.rfind("sha256:", 0), 0u) << c.out;

  // The default command, the env, the workdir; the deletions stay deleted.
  auto ran = v({"run", "--rm", "mine:v1"});
  EXPECT_EQ(ran.out, "new\n") << ran.describe();
  ran = v({"run", "--rm", "mine:v1", "sh", "-c",
           "echo $FOO; pwd; cat f; readlink l; stat -c %a .; tail -1 /etc/passwd; "
           "test -e /etc/os-release || echo gone; test -e /home || echo home-gone"});
  EXPECT_EQ(ran.out, "bar\n/opt/app\nx\nf\n750\nchanged\ngone\nhome-gone\n") << ran.describe();

  auto cfg = image_config("mine:v1");
  ASSERT_FALSE(cfg.is_null());
  // Committing a committed image's container again: an opaque directory (rm -r, mkdir again).
  ASSERT_TRUE(v({"run", "--name", "c2", "mine:v1", "sh", "-c",
                 "rm -r /opt/app && mkdir /opt/app && echo only > /opt/app/only"})
                  .ok());
  ASSERT_TRUE(v({"commit", "c2", "mine:v2"}).ok());
  ran = v({"run", "--rm", "mine:v2", "ls", "/opt/app"});
  EXPECT_EQ(ran.out, "only\n") << ran.describe();

  auto h = v({"history", "mine:v2"});
  ASSERT_TRUE(h.ok()) << h.describe();
  auto lines = split_lines(h.out);
  ASSERT_GE(lines.size(), 4u) << h.out;
  EXPECT_EQ(lines[0].rfind("IMAGE ID", 0), 0u) << h.out;
  EXPECT_TRUE(contains(lines[1], "vessel commit c2")) << h.out;
  EXPECT_TRUE(contains(lines[2], "vessel commit c1")) << h.out;
  EXPECT_TRUE(contains(lines[2], "by hand")) << h.out;
  EXPECT_TRUE(contains(lines[3], "vessel template build busybox")) << h.out;
  auto q = v({"history", "-q", "--no-trunc", "mine:v2"});
  EXPECT_EQ(split_lines(q.out).size(), 3u) << q.out;
  EXPECT_EQ(q.out.substr(0, 64).size(), 64u);

  // Bad input: one line, nothing made.
  auto bad = v({"commit", "--change", "RUN echo", "c1", "bad:1"});
  EXPECT_EQ(bad.exit_code(), 125) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "RUN cannot be changed")) << bad.err;
  EXPECT_FALSE(v({"image", "inspect", "bad:1"}).ok());
  bad = v({"diff", "nosuch"});
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_TRUE(contains(bad.err, "no such container")) << bad.err;
}

// Every instruction, multi-stage, ARG before and after FROM, .dockerignore, then the cache:
// an unchanged rebuild runs no RUN, a changed file reruns from its COPY, --no-cache reruns all.
TEST_F(BuildTest, BuildsEveryInstructionAndCachesSteps) {
  std::string ctx = context("ctx", {{"a.txt", "A\n"},
                                    {"dir/b.txt", "B\n"},
                                    {"dir/sub/c.txt", "C\n"},
                                    {"ignored.txt", "no\n"},
                                    {"dir/ignored.txt", "no\n"},
                                    {"one.conf", "1\n"},
                                    {"two.conf", "2\n"},
                                    {"tree/x/y", "Y\n"},
                                    {".dockerignore", "# comment\nignored.txt\n**/ignored.txt\n"}});
  ASSERT_TRUE(run_cmd({"tar", "-C", ctx + "/tree", "-czf", ctx + "/app.tgz", "x"}).ok());
  write_text(ctx + "/Containerfile",
             "# syntax=docker/dockerfile:1\n"
             "ARG BASE=busybox\n"
             "FROM ${BASE} AS builder\n"
             "ARG MSG=hello\n"
             "RUN echo \"$MSG\" > /built.txt && mkdir -p /out && echo art > /out/artifact\n"
             "FROM $BASE\n"
             "ARG VERSION=1.0\n"
             "ENV APP_HOME=/app \\\n"
             "    GREETING=\"hi there\"\n"
             "WORKDIR ${APP_HOME}\n"
             "COPY a.txt .\n"
             "COPY dir/ ./dir/\n"
             "COPY --chown=65534:65534 --chmod=0600 dir/b.txt /owned/b.txt\n"
             "COPY *.conf /etc/conf.d/\n"
             "COPY --from=builder /out/artifact /built.txt /from-builder/\n"
             "ADD app.tgz /opt/\n"
             "RUN echo visible-output && echo \"v=$VERSION\" > version && rm /etc/os-release\n"
             "USER nobody\n"
             "EXPOSE 8080 53/udp\n"
             "VOLUME /data\n"
             "LABEL org.test=yes version=${VERSION}\n"
             "STOPSIGNAL SIGINT\n"
             "HEALTHCHECK --interval=5s CMD true\n"
             "SHELL [\"/bin/sh\", \"-c\"]\n"
             "CMD [\"sh\", \"-c\", \"cat /app/a.txt\"]\n");
  auto b = v({"build", "--format", "docker", "-t", "app:1", "--build-arg", "VERSION=2.0", "--label",
              "extra=1", ctx},
             120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_FALSE(contains(b.err, "OCI image format")) << b.err;
  EXPECT_TRUE(contains(b.out, "STEP 1/22: FROM ${BASE} AS builder")) << b.out;
  EXPECT_TRUE(contains(b.out, "STEP 14/22: RUN echo visible-output")) << b.out;
  EXPECT_TRUE(contains(b.out, "visible-output\n")) << b.out;
  std::string id = trim(split_lines(b.out).back());
  EXPECT_EQ(id.size(), 64u) << b.out;

  auto ran = v({"run", "--rm", "app:1"});
  EXPECT_EQ(ran.out, "A\n") << ran.describe();
  ran = v({"run", "--rm", "app:1", "sh", "-c",
           "pwd; cat version; ls dir dir/sub; stat -c '%u:%g %a' /owned/b.txt; ls /etc/conf.d; "
           "cat /from-builder/artifact /from-builder/built.txt /opt/x/y; "
           "test -e /app/ignored.txt -o -e /app/dir/ignored.txt || echo ignored; "
           "test -e /etc/os-release || echo deleted; id -u; echo $GREETING"});
  EXPECT_EQ(ran.out,
            "/app\nv=2.0\ndir:\nb.txt\nsub\n\ndir/sub:\nc.txt\n65534:65534 600\none.conf\n"
            "two.conf\nart\nhello\nY\nignored\ndeleted\n65534\nhi there\n")
      << ran.describe();
  auto cfg = image_config("app:1")["Config"];
  EXPECT_EQ(cfg["User"], "nobody");
  EXPECT_EQ(cfg["WorkingDir"], "/app");
  EXPECT_TRUE(cfg["ExposedPorts"].contains("8080/tcp")) << cfg.dump();
  EXPECT_TRUE(cfg["ExposedPorts"].contains("53/udp")) << cfg.dump();
  EXPECT_TRUE(cfg["Volumes"].contains("/data")) << cfg.dump();
  EXPECT_EQ(cfg["Labels"]["org.test"], "yes");
  EXPECT_EQ(cfg["Labels"]["version"], "2.0");
  EXPECT_EQ(cfg["Labels"]["extra"], "1");
  EXPECT_EQ(cfg["StopSignal"], "SIGINT");
  EXPECT_EQ(cfg["Healthcheck"]["Test"], json({"CMD-SHELL", "true"}));
  EXPECT_EQ(cfg["Healthcheck"]["Interval"], 5000000000LL);
  EXPECT_EQ(cfg["Cmd"], json({"sh", "-c", "cat /app/a.txt"}));
  auto env = cfg["Env"].dump();
  EXPECT_TRUE(contains(env, "APP_HOME=/app")) << env;
  EXPECT_TRUE(contains(env, "GREETING=hi there")) << env;
  EXPECT_FALSE(contains(env, "VERSION")) << "ARGs are not kept: " << env;
  auto h = v({"history", "--no-trunc", "app:1"});
  EXPECT_TRUE(contains(h.out, "COPY --from=builder /out/artifact /built.txt /from-builder/"))
      << h.out;
  EXPECT_EQ(cfg["Shell"], json({"/bin/sh", "-c"}));

  // The default format, OCI, as podman's: HEALTHCHECK and SHELL have no place in an OCI
  // config; the build says so, once each, and makes the image without them (all from the cache).
  b = v({"build", "-t", "app:oci", "--build-arg", "VERSION=2.0", "--label", "extra=1", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_FALSE(contains(b.out, "visible-output\n")) << b.out;
  EXPECT_EQ(split_lines(trim(b.err)).size(), 2u) << b.err;
  EXPECT_TRUE(contains(b.err, "HEALTHCHECK: the OCI image format has no place for it")) << b.err;
  EXPECT_TRUE(contains(b.err, "SHELL: the OCI image format has no place for it")) << b.err;
  auto ocfg = image_config("app:oci")["Config"];
  EXPECT_FALSE(ocfg.contains("Healthcheck")) << ocfg.dump();
  EXPECT_FALSE(ocfg.contains("Shell")) << ocfg.dump();
  EXPECT_EQ(ocfg["StopSignal"], "SIGINT");
  EXPECT_EQ(v({"run", "--rm", "app:oci"}).out, "A\n");

  // The same again: everything from the cache, no RUN, the same image.
  b = v({"build", "-t", "app:1", "--build-arg", "VERSION=2.0", "--label", "extra=1", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_FALSE(contains(b.out, "visible-output\n")) << b.out;
  EXPECT_TRUE(contains(b.out, "--> Using cache")) << b.out;
  EXPECT_NE(trim(split_lines(b.out).back()), "");
  // Another build arg value: the RUN that sees it runs again.
  b = v({"build", "-t", "app:2", "--build-arg", "VERSION=3.0", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_TRUE(contains(b.out, "visible-output\n")) << b.out;
  // A changed file: its COPY and what follows run again.
  write_text(ctx + "/a.txt", "A2\n");
  b = v({"build", "-t", "app:1", "--build-arg", "VERSION=2.0", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_TRUE(contains(b.out, "visible-output\n")) << b.out;
  EXPECT_EQ(v({"run", "--rm", "app:1"}).out, "A2\n");
  // --no-cache: all of it, the builder stage too.
  b = v({"build", "--no-cache", "-q", "-t", "app:1", "--build-arg", "VERSION=2.0", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_EQ(trim(b.out).size(), 64u) << "-q prints the ID only: " << b.out;
  // --target: the first stage.
  b = v({"build", "-q", "--target", "builder", "-t", "stage:1", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_EQ(v({"run", "--rm", "stage:1", "cat", "/built.txt"}).out, "hello\n");
  // Build steps are not listed as images, but with -a.
  auto imgs = v({"images"});
  EXPECT_FALSE(contains(imgs.out, "<none>")) << imgs.out;
  EXPECT_TRUE(contains(v({"images", "-a"}).out, "<none>"));
}

// ADD of a URL, from a python3 http.server on 127.0.0.1: docker's rules (the file name from
// the URL unless the destination names one, mode 0600, Last-Modified as mtime, archives not
// unpacked, --chown and --chmod applied), a cache keyed by the content, and a failed download
// that names the URL and the HTTP status.
TEST_F(BuildTest, AddOfAUrlDownloadsWithDockersRules) {
  if (!run_cmd({"sh", "-c", "command -v python3"}).ok()) GTEST_SKIP() << "no python3";
  std::string srv = dir_ + "/srv";
  mkdirs(srv + "/tree");
  write_text(srv + "/hello.txt", "HELLO\n");
  write_text(srv + "/tree/x", "X\n");
  ASSERT_TRUE(run_cmd({"tar", "-C", srv, "-czf", srv + "/arch.tgz", "tree"}).ok());
  ASSERT_TRUE(run_cmd({"touch", "-d", "@981173045", srv + "/hello.txt"}).ok());
  std::string url = serve(srv);
  ASSERT_FALSE(url.empty());

  std::string ctx = context("url", {{"Containerfile",
                                     "FROM localhost/busybox:latest\n"
                                     "ADD " +
                                         url +
                                         "/hello.txt /dl/\n"
                                         "ADD " +
                                         url +
                                         "/hello.txt /dl/renamed.txt\n"
                                         "ADD --chown=65534:65534 " +
                                         url +
                                         "/arch.tgz /dl/\n"
                                         "ADD --chmod=0644 " +
                                         url + "/hello.txt?q=1 /dl/q/\n"}});
  auto b = v({"build", "-t", "url:1", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  std::string check =
      "stat -c '%n %a %u:%g %Y' /dl/hello.txt /dl/renamed.txt /dl/arch.tgz /dl/q/hello.txt; "
      "cat /dl/hello.txt; test -e /dl/tree || echo not-unpacked";
  auto ran = v({"run", "--rm", "--network", "none", "url:1", "sh", "-c", check});
  EXPECT_EQ(ran.out,
            "/dl/hello.txt 600 0:0 981173045\n/dl/renamed.txt 600 0:0 981173045\n"
            "/dl/arch.tgz 600 65534:65534 " +
                trim(run_cmd({"stat", "-c", "%Y", srv + "/arch.tgz"}).out) +
                "\n/dl/q/hello.txt 644 0:0 981173045\nHELLO\nnot-unpacked\n")
      << ran.describe();

  // Unchanged content: every step from the cache. Changed content: downloaded anew.
  auto cache_hits = [](const std::string& out) {
    size_t n = 0;
    for (const auto& l : split_lines(out)) n += contains(l, "--> Using cache");
    return n;
  };
  b = v({"build", "-t", "url:1", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_EQ(cache_hits(b.out), 4u) << b.out;
  write_text(srv + "/hello.txt", "CHANGED\n");
  b = v({"build", "-t", "url:1", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_EQ(cache_hits(b.out), 0u) << b.out;
  EXPECT_EQ(v({"run", "--rm", "--network", "none", "url:1", "cat", "/dl/hello.txt"}).out,
            "CHANGED\n");

  // A download that fails: the URL and the status, one line, nothing left.
  std::string bad = context("bad", {{"Containerfile",
                                     "FROM localhost/busybox:latest\n"
                                     "ADD " +
                                         url + "/missing /m\n"}});
  auto r = v({"build", "-t", "bad:1", bad}, 60s);
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "Containerfile:2: STEP 2/2: ADD " + url + "/missing /m: " + url +
                                  "/missing: HTTP status 404"))
      << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  EXPECT_FALSE(v({"image", "inspect", "bad:1"}).ok());
  EXPECT_EQ(entries(root_ + "/tmp"), 0u) << run_cmd({"ls", "-la", root_ + "/tmp"}).out;
}

// The file tree of a root filesystem: one line per path with its type, mode, owner, and for
// files the size and SHA-256, for links the target (no times).
std::string tree_of(const std::string& root) {
  auto r = run_cmd({"sh", "-c",
                    "cd '" + root +
                        "' && find . -mindepth 1 \\( -type f -printf '%P f %m %U:%G %s ' "
                        "-exec sh -c 'sha256sum < \"$1\" | cut -c1-16' _ {} \\; \\) -o "
                        "\\( ! -type f -printf '%P %y %m %U:%G %l\\n' \\) | sort"},
                   60s);
  return r.out;
}

// Missing, null, empty: the same.
json normalized(const json& cfg) {
  json out = json::object();
  for (const char* k : {"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                        "Labels", "StopSignal", "Healthcheck", "Shell"}) {
    json v = cfg.contains(k) ? cfg[k] : json();
    if (v.is_object() || v.is_array() || v.is_string())
      if (v.empty()) v = json();
    out[k] = v;
  }
  if (out["Labels"].is_object()) {
    out["Labels"].erase("io.buildah.version");
    if (out["Labels"].empty()) out["Labels"] = json();
  }
  return out;
}

// The same Containerfile built by vessel and by podman build (Debian's, offline, from the
// same base image: vessel's busybox loaded into podman from `vessel save`) gives the same
// files and the same config.
TEST_F(BuildTest, SameTreeAndConfigAsPodmanBuild) {
  if (!run_cmd({"sh", "-c", "command -v podman"}).ok()) GTEST_SKIP() << "podman is not installed";
  std::string ctx = context("cmp", {{"a.txt", "A\n"},
                                    {"dir/b.txt", "B\n"},
                                    {"tree/x/y", "Y\n"},
                                    {"one.conf", "1\n"},
                                    {"ignored.conf", "no\n"},
                                    {".dockerignore", "ignored.conf\n"}});
  ASSERT_EQ(::chmod((ctx + "/dir/b.txt").c_str(), 0751), 0);
  ASSERT_TRUE(
      run_cmd({"tar", "-C", ctx + "/tree", "--owner=0", "--group=0", "-czf", ctx + "/t.tgz", "x"})
          .ok());
  std::string srv = dir_ + "/srv";
  mkdirs(srv);
  write_text(srv + "/dl.txt", "downloaded\n");
  std::string url = serve(srv);
  ASSERT_FALSE(url.empty());
  // Every instruction vessel builds (ONBUILD aside, refused), two stages, meta ARG,
  // .dockerignore, a glob, ADD of a URL.
  write_text(ctx + "/Containerfile",
             "ARG BASE=localhost/busybox:latest\n"
             "FROM $BASE AS builder\n"
             "ARG MSG=hi\n"
             "RUN mkdir /out && echo \"$MSG\" > /out/art && chmod 0604 /out/art\n"
             "FROM $BASE\n"
             "ARG V=1\n"
             "ENV A=1 B=\"two words\"\n"
             "WORKDIR /app\n"
             "COPY a.txt dir/ ./\n"
             "COPY *.conf /etc/conf.d/\n"
             "COPY --chown=65534:65534 --chmod=0640 a.txt /owned.txt\n"
             "COPY --from=builder /out/art /from-builder/\n"
             "ADD t.tgz /opt/\n"
             "ADD " +
                 url +
                 "/dl.txt /dl/\n"
                 "ADD " +
                 url +
                 "/dl.txt /dl/named\n"
                 "RUN mkdir -p /srv/data && echo \"$V\" > /srv/data/v && chmod 0700 /srv/data && "
                 "rm /etc/os-release && rm -r /home && ln -s /srv/data /link\n"
                 "SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n"
                 "RUN echo shell > /shell.txt\n"
                 "USER nobody\n"
                 "EXPOSE 80 53/udp\n"
                 "VOLUME [\"/vol\"]\n"
                 "LABEL a=b c=\"d e\"\n"
                 "STOPSIGNAL SIGINT\n"
                 "HEALTHCHECK --interval=5s CMD true\n"
                 "ENTRYPOINT [\"/bin/sh\", \"-c\"]\n"
                 "CMD [\"echo hi\"]\n");
  auto b = v({"build", "-q", "-t", "cmp:1", "--build-arg", "V=7", ctx}, 120s);
  ASSERT_TRUE(b.ok()) << b.describe();

  // podman with everything private to the test's directory.
  std::string p = dir_ + "/podman";
  for (const char* d : {"/root", "/runroot", "/tmp"}) mkdirs(p + d);
  write_text(p + "/containers.conf",
             "[containers]\nnetns = \"none\"\n[engine]\ncgroup_manager = \"cgroupfs\"\n"
             "events_logger = \"file\"\nevents_logfile_path = \"" +
                 p + "/events.log\"\n");
  write_text(p + "/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + p +
                                      "/root\"\nrunroot = \"" + p + "/runroot\"\n");
  auto podman = [&](std::vector<std::string> args, Millis timeout = 120s) {
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
    return run_cmd(argv, timeout);
  };
  struct Reset {
    std::function<void()> f;
    ~Reset() { f(); }
  } reset{[&] { podman({"system", "reset", "-f"}); }};
  std::string archive = dir_ + "/busybox.tar";
  ASSERT_TRUE(v({"save", "--format", "docker-archive", "-o", archive, "busybox"}).ok());
  auto loaded = podman({"load", "-i", archive});
  ASSERT_TRUE(loaded.ok()) << loaded.describe();
  auto pb = podman(
      {"build", "--isolation", "chroot", "-q", "-t", "localhost/cmp:1", "--build-arg", "V=7", ctx},
      240s);
  ASSERT_TRUE(pb.ok()) << pb.describe();

  // Configs.
  auto pi = podman({"image", "inspect", "localhost/cmp:1"});
  ASSERT_TRUE(pi.ok()) << pi.describe();
  auto pcfg = normalized(json::parse(pi.out).at(0)["Config"]);
  auto vcfg = normalized(image_config("cmp:1")["Config"]);
  EXPECT_EQ(vcfg.dump(2), pcfg.dump(2));
  EXPECT_EQ(vcfg["StopSignal"], "SIGINT");
  EXPECT_TRUE(vcfg["Healthcheck"].is_null()) << "OCI images have no HEALTHCHECK, as podman's";

  // Trees: podman's image mounted, vessel's through a created (not started) container.
  auto pm = podman({"image", "mount", "localhost/cmp:1"});
  ASSERT_TRUE(pm.ok()) << pm.describe();
  std::string ptree = tree_of(trim(pm.out));
  podman({"image", "unmount", "localhost/cmp:1"});
  auto created = v({"create", "--name", "cmp", "cmp:1"});
  ASSERT_TRUE(created.ok()) << created.describe();
  std::string cid = json::parse(v({"inspect", "cmp"}).out).at(0)["Id"];
  std::string vtree = tree_of(root_ + "/containers/" + cid + "/rootfs");
  EXPECT_GT(split_lines(vtree).size(), 250u) << vtree;
  EXPECT_TRUE(contains(vtree, "owned.txt f 640 65534:65534 2 ")) << vtree;
  EXPECT_TRUE(contains(vtree, "dl/dl.txt f 600 0:0 11 ")) << vtree;
  EXPECT_TRUE(contains(vtree, "etc/conf.d/one.conf f ")) << vtree;
  EXPECT_FALSE(contains(vtree, "ignored.conf")) << vtree;
  EXPECT_TRUE(contains(vtree, "from-builder/art f 604 0:0 3 ")) << vtree;
  EXPECT_EQ(vtree, ptree);
}

TEST_F(BuildTest, BadContainerfilesFailWithFileAndLineAndLeaveNothing) {
  auto build = [&](const std::string& text, std::vector<std::string> extra = {}) {
    std::string ctx = context("bad", {{"ok.txt", "ok\n"}});
    write_text(ctx + "/Containerfile", text);
    std::vector<std::string> args = {"build", "-t", "bad:1"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(ctx);
    return v(args, 60s);
  };
  struct Case {
    std::string file;
    std::string error;
  } cases[] = {
      {"FROM busybox\nFOO bar\n", "vessel: Containerfile:2: unknown instruction \"FOO\"\n"},
      {"FROM busybox\nRUN <<EOF\nx\nEOF\n", "Containerfile:2: heredocs (<<EOF) are not supported"},
      {"FROM busybox\nCOPY ../x /x\n",
       "vessel: Containerfile:2: STEP 2/2: COPY ../x /x: COPY ../x: the path is outside the build "
       "context\n"},
      {"FROM busybox\nCOPY nosuch /x\n", "COPY nosuch: no such file or directory"},
      {"FROM --platform=linux/arm64 busybox\n", "Containerfile:1: STEP 1/1: FROM --platform"},
      {"FROM busybox\nCOPY --from=nostage /a /b\n", "--from=nostage: no such stage or image"},
      {"FROM busybox\nRUN echo partial > /f; exit 3\n",
       "vessel: Containerfile:2: STEP 2/2: RUN echo partial > /f; exit 3: exited with code 3\n"},
      {"FROM busybox\nCOPY http://example.com/x /x\n",
       "COPY of http://example.com/x is not supported (ADD downloads a URL)"},
      {"FROM busybox\nADD http://127.0.0.1:1/x /x\n",
       "STEP 2/2: ADD http://127.0.0.1:1/x /x: "
       "http://127.0.0.1:1/x: "},
  };
  for (const auto& c : cases) {
    auto r = build(c.file);
    EXPECT_EQ(r.exit_code(), 125) << c.file << r.describe();
    EXPECT_TRUE(contains(r.err, c.error)) << c.file << r.describe();
    EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.err;
  }
  auto r = build("FROM busybox AS a\n", {"--target", "b"});
  EXPECT_TRUE(contains(r.err, "--target b: no stage with that name")) << r.describe();
  // No container, no mount, no image left by the failures.
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_EQ(own_mounts(), 0u);
  EXPECT_FALSE(v({"image", "inspect", "bad:1"}).ok());
  EXPECT_EQ(entries(root_ + "/tmp"), 0u) << run_cmd({"ls", "-la", root_ + "/tmp"}).out;
}

}  // namespace
}  // namespace itest
