// libarchive, loaded on first use. Only image work (pull, load, save, import, export, build, cp,
// commit, the API's archive routes) reads or writes tar streams, but linking libarchive made every
// `vessel` command load it and the ten libraries behind it (libxml2, ICU, nettle, acl, lzma,
// zstd, lz4, bz2, ...): about 2-3 ms of CPU in the dynamic loader for each `vessel` process,
// `vessel run` and `vessel ps` included. These definitions stand in for the libarchive functions
// vessel calls (generated from archive.h and archive_entry.h, one per function used) and forward
// to libarchive.so.13, opened with dlopen the first time one is called. The executable does not
// export them, so libarchive's own internal calls stay inside libarchive.
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>

#include "util/dynamic_library.h"
#include "util/error.h"

namespace {

constexpr const char* kSoname = "libarchive.so.13";

void* library() {
  // Thread-safe once; a failure throws, and the next call tries again.
  static void* lib = vessel::open_library("libarchive", kSoname, "to read and write tar archives");
  return lib;
}

// The function `name` of libarchive (each stand-in looks its function up once).
template <typename F>
F fn(const char* name) {
  return reinterpret_cast<F>(vessel::library_symbol(library(), kSoname, name));
}

}  // namespace

extern "C" time_t archive_entry_atime(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_atime)>("archive_entry_atime");
  return f(a0);
}
extern "C" int archive_entry_atime_is_set(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_atime_is_set)>("archive_entry_atime_is_set");
  return f(a0);
}
extern "C" long archive_entry_atime_nsec(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_atime_nsec)>("archive_entry_atime_nsec");
  return f(a0);
}
extern "C" void archive_entry_copy_stat(struct archive_entry* a0, const struct stat* a1) {
  static const auto f = fn<decltype(&archive_entry_copy_stat)>("archive_entry_copy_stat");
  f(a0, a1);
}
extern "C" __LA_MODE_T archive_entry_filetype(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_filetype)>("archive_entry_filetype");
  return f(a0);
}
extern "C" void archive_entry_free(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_free)>("archive_entry_free");
  f(a0);
}
extern "C" la_int64_t archive_entry_gid(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_gid)>("archive_entry_gid");
  return f(a0);
}
extern "C" const char* archive_entry_hardlink(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_hardlink)>("archive_entry_hardlink");
  return f(a0);
}
extern "C" time_t archive_entry_mtime(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_mtime)>("archive_entry_mtime");
  return f(a0);
}
extern "C" int archive_entry_mtime_is_set(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_mtime_is_set)>("archive_entry_mtime_is_set");
  return f(a0);
}
extern "C" long archive_entry_mtime_nsec(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_mtime_nsec)>("archive_entry_mtime_nsec");
  return f(a0);
}
extern "C" struct archive_entry* archive_entry_new() {
  static const auto f = fn<decltype(&archive_entry_new)>("archive_entry_new");
  return f();
}
extern "C" const char* archive_entry_pathname(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_pathname)>("archive_entry_pathname");
  return f(a0);
}
extern "C" __LA_MODE_T archive_entry_perm(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_perm)>("archive_entry_perm");
  return f(a0);
}
extern "C" dev_t archive_entry_rdev(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_rdev)>("archive_entry_rdev");
  return f(a0);
}
extern "C" void archive_entry_set_filetype(struct archive_entry* a0, unsigned int a1) {
  static const auto f = fn<decltype(&archive_entry_set_filetype)>("archive_entry_set_filetype");
  f(a0, a1);
}
extern "C" void archive_entry_set_gid(struct archive_entry* a0, la_int64_t a1) {
  static const auto f = fn<decltype(&archive_entry_set_gid)>("archive_entry_set_gid");
  f(a0, a1);
}
extern "C" void archive_entry_set_hardlink(struct archive_entry* a0, const char* a1) {
  static const auto f = fn<decltype(&archive_entry_set_hardlink)>("archive_entry_set_hardlink");
  f(a0, a1);
}
extern "C" void archive_entry_set_mtime(struct archive_entry* a0, time_t a1, long a2) {
  static const auto f = fn<decltype(&archive_entry_set_mtime)>("archive_entry_set_mtime");
  f(a0, a1, a2);
}
extern "C" void archive_entry_set_pathname(struct archive_entry* a0, const char* a1) {
  static const auto f = fn<decltype(&archive_entry_set_pathname)>("archive_entry_set_pathname");
  f(a0, a1);
}
extern "C" void archive_entry_set_perm(struct archive_entry* a0, __LA_MODE_T a1) {
  static const auto f = fn<decltype(&archive_entry_set_perm)>("archive_entry_set_perm");
  f(a0, a1);
}
extern "C" void archive_entry_set_size(struct archive_entry* a0, la_int64_t a1) {
  static const auto f = fn<decltype(&archive_entry_set_size)>("archive_entry_set_size");
  f(a0, a1);
}
extern "C" void archive_entry_set_symlink(struct archive_entry* a0, const char* a1) {
  static const auto f = fn<decltype(&archive_entry_set_symlink)>("archive_entry_set_symlink");
  f(a0, a1);
}
extern "C" void archive_entry_set_uid(struct archive_entry* a0, la_int64_t a1) {
  static const auto f = fn<decltype(&archive_entry_set_uid)>("archive_entry_set_uid");
  f(a0, a1);
}
extern "C" la_int64_t archive_entry_size(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_size)>("archive_entry_size");
  return f(a0);
}
extern "C" int archive_entry_size_is_set(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_size_is_set)>("archive_entry_size_is_set");
  return f(a0);
}
extern "C" const char* archive_entry_symlink(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_symlink)>("archive_entry_symlink");
  return f(a0);
}
extern "C" la_int64_t archive_entry_uid(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_uid)>("archive_entry_uid");
  return f(a0);
}
extern "C" void archive_entry_unset_atime(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_unset_atime)>("archive_entry_unset_atime");
  f(a0);
}
extern "C" void archive_entry_unset_birthtime(struct archive_entry* a0) {
  static const auto f =
      fn<decltype(&archive_entry_unset_birthtime)>("archive_entry_unset_birthtime");
  f(a0);
}
extern "C" void archive_entry_unset_ctime(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_unset_ctime)>("archive_entry_unset_ctime");
  f(a0);
}
extern "C" void archive_entry_xattr_add_entry(struct archive_entry* a0, const char* a1,
                                              const void* a2, size_t a3) {
  static const auto f =
      fn<decltype(&archive_entry_xattr_add_entry)>("archive_entry_xattr_add_entry");
  f(a0, a1, a2, a3);
}
extern "C" int archive_entry_xattr_next(struct archive_entry* a0, const char** a1, const void** a2,
                                        size_t* a3) {
  static const auto f = fn<decltype(&archive_entry_xattr_next)>("archive_entry_xattr_next");
  return f(a0, a1, a2, a3);
}
extern "C" int archive_entry_xattr_reset(struct archive_entry* a0) {
  static const auto f = fn<decltype(&archive_entry_xattr_reset)>("archive_entry_xattr_reset");
  return f(a0);
}
extern "C" const char* archive_error_string(struct archive* a0) {
  static const auto f = fn<decltype(&archive_error_string)>("archive_error_string");
  return f(a0);
}
extern "C" la_ssize_t archive_read_data(struct archive* a0, void* a1, size_t a2) {
  static const auto f = fn<decltype(&archive_read_data)>("archive_read_data");
  return f(a0, a1, a2);
}
extern "C" int archive_read_data_block(struct archive* a0, const void** a1, size_t* a2,
                                       la_int64_t* a3) {
  static const auto f = fn<decltype(&archive_read_data_block)>("archive_read_data_block");
  return f(a0, a1, a2, a3);
}
extern "C" int archive_read_free(struct archive* a0) {
  static const auto f = fn<decltype(&archive_read_free)>("archive_read_free");
  return f(a0);
}
extern "C" struct archive* archive_read_new() {
  static const auto f = fn<decltype(&archive_read_new)>("archive_read_new");
  return f();
}
extern "C" int archive_read_next_header(struct archive* a0, struct archive_entry** a1) {
  static const auto f = fn<decltype(&archive_read_next_header)>("archive_read_next_header");
  return f(a0, a1);
}
extern "C" int archive_read_open2(struct archive* a0, void* a1, archive_open_callback* a2,
                                  archive_read_callback* a3, archive_skip_callback* a4,
                                  archive_close_callback* a5) {
  static const auto f = fn<decltype(&archive_read_open2)>("archive_read_open2");
  return f(a0, a1, a2, a3, a4, a5);
}
extern "C" int archive_read_open_fd(struct archive* a0, int a1, size_t a2) {
  static const auto f = fn<decltype(&archive_read_open_fd)>("archive_read_open_fd");
  return f(a0, a1, a2);
}
extern "C" int archive_read_open_filename(struct archive* a0, const char* a1, size_t a2) {
  static const auto f = fn<decltype(&archive_read_open_filename)>("archive_read_open_filename");
  return f(a0, a1, a2);
}
extern "C" int archive_read_support_filter_all(struct archive* a0) {
  static const auto f =
      fn<decltype(&archive_read_support_filter_all)>("archive_read_support_filter_all");
  return f(a0);
}
extern "C" int archive_read_support_format_raw(struct archive* a0) {
  static const auto f =
      fn<decltype(&archive_read_support_format_raw)>("archive_read_support_format_raw");
  return f(a0);
}
extern "C" int archive_read_support_format_tar(struct archive* a0) {
  static const auto f =
      fn<decltype(&archive_read_support_format_tar)>("archive_read_support_format_tar");
  return f(a0);
}
extern "C" void archive_set_error(struct archive* a, int err, const char* fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  static const auto f = fn<decltype(&archive_set_error)>("archive_set_error");
  f(a, err, "%s", text);
}
extern "C" int archive_write_add_filter(struct archive* a0, int a1) {
  static const auto f = fn<decltype(&archive_write_add_filter)>("archive_write_add_filter");
  return f(a0, a1);
}
extern "C" int archive_write_add_filter_gzip(struct archive* a0) {
  static const auto f =
      fn<decltype(&archive_write_add_filter_gzip)>("archive_write_add_filter_gzip");
  return f(a0);
}
extern "C" int archive_write_close(struct archive* a0) {
  static const auto f = fn<decltype(&archive_write_close)>("archive_write_close");
  return f(a0);
}
extern "C" la_ssize_t archive_write_data(struct archive* a0, const void* a1, size_t a2) {
  static const auto f = fn<decltype(&archive_write_data)>("archive_write_data");
  return f(a0, a1, a2);
}
extern "C" int archive_write_free(struct archive* a0) {
  static const auto f = fn<decltype(&archive_write_free)>("archive_write_free");
  return f(a0);
}
extern "C" int archive_write_header(struct archive* a0, struct archive_entry* a1) {
  static const auto f = fn<decltype(&archive_write_header)>("archive_write_header");
  return f(a0, a1);
}
extern "C" struct archive* archive_write_new() {
  static const auto f = fn<decltype(&archive_write_new)>("archive_write_new");
  return f();
}
extern "C" int archive_write_open2(struct archive* a0, void* a1, archive_open_callback* a2,
                                   archive_write_callback* a3, archive_close_callback* a4,
                                   archive_free_callback* a5) {
  static const auto f = fn<decltype(&archive_write_open2)>("archive_write_open2");
  return f(a0, a1, a2, a3, a4, a5);
}
extern "C" int archive_write_open_fd(struct archive* a0, int a1) {
  static const auto f = fn<decltype(&archive_write_open_fd)>("archive_write_open_fd");
  return f(a0, a1);
}
extern "C" int archive_write_open_filename(struct archive* a0, const char* a1) {
  static const auto f = fn<decltype(&archive_write_open_filename)>("archive_write_open_filename");
  return f(a0, a1);
}
extern "C" int archive_write_set_bytes_in_last_block(struct archive* a0, int a1) {
  return fn<decltype(&archive_write_set_bytes_in_last_block)>(
      "archive_write_set_bytes_in_last_block")(a0, a1);
}
extern "C" int archive_write_set_filter_option(struct archive* a0, const char* a1, const char* a2,
                                               const char* a3) {
  return fn<decltype(&archive_write_set_filter_option)>("archive_write_set_filter_option")(a0, a1,
                                                                                           a2, a3);
}
extern "C" int archive_write_set_format_pax_restricted(struct archive* a0) {
  return fn<decltype(&archive_write_set_format_pax_restricted)>(
      "archive_write_set_format_pax_restricted")(a0);
}
extern "C" int archive_write_set_format_raw(struct archive* a0) {
  static const auto f = fn<decltype(&archive_write_set_format_raw)>("archive_write_set_format_raw");
  return f(a0);
}
