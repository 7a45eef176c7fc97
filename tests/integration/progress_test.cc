// Progress of `vessel save`, `load` and `build` (util/progress.h), as pull's in registry_test.cc:
// on a terminal (a pty from script(1)) a bar per blob or layer redrawn in place, finished with
// its size and speed; into a pipe one plain line per blob or layer with its size; nothing
// with -q.
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    if (access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "script(1) is not installed";
    char tmpl[] = "/tmp/vessel-progress-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto b = v("s1", {"template", "build", "busybox"});
    ASSERT_TRUE(b.ok()) << b.describe();
  }
  void TearDown() override {
    if (!dir_.empty() && !getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  Result v(const std::string& store, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", dir_ + "/" + store};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, 120s);
  }
  // The same in a pty: stdout and stderr together, as a terminal shows them.
  Result tty(const std::string& store, const std::string& args) {
    std::string cmd =
        std::string(VESSEL_MANAGER_BIN) + " --root " + dir_ + "/" + store + " " + args;
    return run_cmd({"script", "-qec", cmd, "/dev/null"}, 120s);
  }
  // Plain lines: "LABEL done (SIZE)", no terminal codes.
  void expect_plain(const Result& r, const std::string& label) {
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_TRUE(contains(r.err, label)) << r.err;
    EXPECT_TRUE(contains(r.err, " done (")) << "a line per item with its size: " << r.err;
    EXPECT_FALSE(contains(r.err, "\033[")) << "no terminal codes into a pipe";
    for (const auto& line : split_lines(trim(r.err)))
      EXPECT_TRUE(line.rfind(label, 0) == 0 && contains(line, " done (")) << line;
  }
  void expect_terminal(const Result& r, const std::string& label) {
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_TRUE(contains(r.out, "\033[")) << "redrawn in place: " << r.out;
    EXPECT_TRUE(contains(r.out, label)) << r.out;
    EXPECT_TRUE(contains(r.out, " done (")) << r.out;
    EXPECT_TRUE(contains(r.out, "/s)")) << "the speed: " << r.out;
  }

  std::string dir_;
};

TEST_F(ProgressTest, SaveAndLoadShowEachBlob) {
  std::string oci = dir_ + "/bb.tar", docker = dir_ + "/bb-docker.tar";
  expect_plain(v("s1", {"save", "-o", oci, "busybox"}), "Writing blob ");
  auto quiet = v("s1", {"save", "-q", "--format", "docker-archive", "-o", docker, "busybox"});
  EXPECT_TRUE(quiet.ok()) << quiet.describe();
  EXPECT_EQ(quiet.err, "");
  expect_terminal(tty("s1", "save -o " + dir_ + "/bb2.tar busybox"), "Writing blob ");

  expect_plain(v("s2", {"load", "-i", oci}), "Copying blob ");
  auto lq = v("s3", {"load", "-q", "-i", docker});
  EXPECT_TRUE(lq.ok()) << lq.describe();
  EXPECT_EQ(lq.err, "");
  EXPECT_TRUE(contains(lq.out, "Loaded image: ")) << lq.out;
  expect_terminal(tty("s4", "load -i " + docker), "Copying blob ");
  auto images = v("s4", {"images"});
  EXPECT_TRUE(contains(images.out, "busybox")) << images.describe();
}

TEST_F(ProgressTest, BuildShowsEachLayerWritten) {
  std::string ctx = dir_ + "/ctx";
  mkdirs(ctx);
  write_text(ctx + "/Containerfile",
             "FROM busybox\nRUN dd if=/dev/zero of=/big bs=1024 count=2048 2>/dev/null\n"
             "RUN echo two > /two\n");
  auto plain = v("s1", {"build", "--no-cache", "-t", "p:1", ctx});
  expect_plain(plain, "Writing layer");
  EXPECT_EQ(split_lines(trim(plain.err)).size(), 2u) << "one line per layer: " << plain.err;
  auto quiet = v("s1", {"build", "-q", "--no-cache", "-t", "p:2", ctx});
  EXPECT_TRUE(quiet.ok()) << quiet.describe();
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(split_lines(trim(quiet.out)).size(), 1u) << "only the image ID: " << quiet.out;
  expect_terminal(tty("s1", "build --no-cache -t p:3 " + ctx), "Writing layer");
}

}  // namespace
}  // namespace itest
