// Layer unpacking of hostile tars (absolute paths, "..", links out of the root, whiteouts,
// devices, huge headers): whatever the archive says, nothing may appear outside the target.
// The first byte picks the whiteout mode; the rest is the archive (tar, gzip or zstd).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "image/layer.h"

namespace {

// The entries of `dir`, sorted by the caller; only "." and ".." are skipped.
size_t count_entries(const std::string& dir) {
  size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") ++n;
    }
    ::closedir(d);
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  fuzz::Scratch scratch;
  // scratch/layer.tar, scratch/sandbox/{target, sentinel}: the sandbox must hold exactly
  // these two afterwards, and scratch itself only layer.tar and sandbox.
  std::string archive = scratch.path() + "/layer.tar";
  std::string sandbox = scratch.path() + "/sandbox";
  std::string target = sandbox + "/target";
  vessel::write_file(archive, std::string(reinterpret_cast<const char*>(data + 1), size - 1),
                     O_WRONLY | O_CREAT | O_TRUNC);
  ::mkdir(sandbox.c_str(), 0755);
  ::mkdir(target.c_str(), 0755);
  vessel::write_file(sandbox + "/sentinel", "x", O_WRONLY | O_CREAT | O_TRUNC);
  vessel::image::UnpackOptions opts;
  opts.whiteouts =
      (data[0] & 1) ? vessel::image::WhiteoutMode::Apply : vessel::image::WhiteoutMode::Overlay;
  opts.same_owner = (data[0] & 2) != 0;
  opts.interpret_whiteouts = (data[0] & 4) == 0;
  opts.max_entries = 10'000;
  fuzz::expect_clean_errors([&] { vessel::image::unpack_layer(archive, target, opts); });
  if (count_entries(sandbox) != 2 || count_entries(scratch.path()) != 2 ||
      vessel::read_file(sandbox + "/sentinel") != "x") {
    std::fprintf(stderr, "fuzz: the layer wrote outside its target\n");
    std::abort();
  }
  return 0;
}
