/* syscall-probe NR...: makes each raw syscall NR (decimal or 0x hex, e.g. an x32 number with
 * bit 30 set) with all arguments 0 and prints "NR ERRNO" per line, ERRNO 0 when it returned
 * success. Built static, so it runs in the integration tests' busybox containers, to show what
 * a seccomp filter answers for syscalls no busybox applet makes on its own. Only syscalls the
 * filter refuses should be probed: an allowed one really runs (with zero arguments). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* end = NULL;
    long nr = (long)strtoul(argv[i], &end, 0);
    if (!end || *end != '\0') {
      fprintf(stderr, "syscall-probe: not a number: %s\n", argv[i]);
      return 2;
    }
    errno = 0;
    long rc = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
    printf("%s %d\n", argv[i], rc == -1 ? errno : 0);
  }
  return 0;
}
