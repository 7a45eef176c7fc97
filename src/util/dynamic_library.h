// Libraries that only some commands need, opened with dlopen on first use instead of linked
// (the image layer's libarchive, libcrypto and libcurl shims): a process that never calls them
// never loads them.
#pragma once

namespace vessel {

// dlopen(soname) with RTLD_NOW | RTLD_LOCAL, or an error "loading WHAT (SONAME, needed
// NEEDED_FOR): dlerror".
void* open_library(const char* what, const char* soname, const char* needed_for);

// dlsym(lib, name), or an error "SONAME has no NAME".
void* library_symbol(void* lib, const char* soname, const char* name);

}  // namespace vessel
