#include "util/dynamic_library.h"

#include <dlfcn.h>

#include "util/error.h"

namespace vessel {

void* open_library(const char* what, const char* soname, const char* needed_for) {
  void* lib = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) fail("loading {} ({}, needed {}): {}", what, soname, needed_for, ::dlerror());
  return lib;
}

void* library_symbol(void* lib, const char* soname, const char* name) {
  void* p = ::dlsym(lib, name);
  if (!p) fail("{} has no {}", soname, name);
  return p;
}

}  // namespace vessel
