/* vessel-monitor: the part of a container's monitor that stays resident while the container
 * runs (the role conmon plays for podman). A plain C program, linked statically, with no
 * libstdc++, SQLite, fmt or JSON library: a container pays for its monitor for its whole life.
 *
 * The monitor is one process that runs two programs in turn (see docs/architecture.md):
 * vessel-monitor-ctl (C++, the manager's library) prepares and starts the container and
 * updates the store, then execs this program, which waits for the container, pumps its
 * stdio into ctr.log and to attached clients, and, once the container has exited, execs the
 * command line after "--" again with "--exit-code N" and one "--client-fd FD" per attached
 * client appended. vessel-monitor-ctl then records the exit and applies the restart policy.
 * The PID, the child-subreaper flag and the blocked signals carry over each exec.
 *
 *   vessel-monitor --dir DIR --init PID --attach FD [--log-max BYTES] [--log-files N]
 *                  [--hold FD] [--out FD] [--err FD] [--in FD] [--pty FD] [--client FD]...
 *                  -- NEXT-PROGRAM [ARG]...
 *
 * If the exec back fails, the exit code goes to DIR/exit, where the manager finds it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* The attach stream of manager/attach.h: [type:1][length:4, big endian][data]. */
enum {
  FRAME_STDIN = 0,
  FRAME_STDOUT = 1,
  FRAME_STDERR = 2,
  FRAME_EXITED = 3,
  FRAME_RESIZE = 6,
  FRAME_STDIN_EOF = 7,
};

#define MAX_CLIENTS 64
#define LOG_LINE_MAX 16384 /* a longer line is written in pieces */
/* ctr.log becomes ctr.log.1 past this many bytes (--log-max; 10 MiB by default) */
static unsigned long long g_log_max = 10ull << 20;
/* How many files the log keeps, ctr.log included (--log-files; 2 by default: ctr.log.1 too);
 * 1 starts ctr.log over. */
static unsigned g_log_files = 2;
#define LOG_FILES_MAX 100
#define DRAIN_MS 500 /* output still read after the init exits */
#define PATH_BUF 4200

static const char* g_dir;
static char g_log_path[PATH_BUF];
static int g_log_fd = -1;
static uint64_t g_log_written;
static int g_clients[MAX_CLIENTS];
static int g_nclients;

/* Buffers live in .bss: a page costs memory only once something was written to it. */
static char g_pending[2][LOG_LINE_MAX];
static size_t g_pending_len[2];
static char g_line[LOG_LINE_MAX * 6 + 128];
static char g_io[16384];

/* Small formatters instead of printf: its code and stack would be most of this program's
 * touched memory. Each returns the end of what it wrote. */
static char* put_str(char* o, const char* s) {
  size_t n = strlen(s);
  memcpy(o, s, n);
  return o + n;
}

static char* put_uint(char* o, unsigned long v, int width) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n < width) tmp[n++] = '0';
  while (n) *o++ = tmp[--n];
  return o;
}

static char* put_int(char* o, long v) {
  if (v < 0) {
    *o++ = '-';
    return put_uint(o, (unsigned long)-v, 0);
  }
  return put_uint(o, (unsigned long)v, 0);
}

/* 2026-12-06T11:35:00.123456789Z (NUL-terminated; buf holds 40 bytes). */
static void now_rfc3339(char* buf) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char* o = put_uint(buf, (unsigned long)tm.tm_year + 1900, 4);
  *o++ = '-';
  o = put_uint(o, (unsigned long)tm.tm_mon + 1, 2);
  *o++ = '-';
  o = put_uint(o, (unsigned long)tm.tm_mday, 2);
  *o++ = 'T';
  o = put_uint(o, (unsigned long)tm.tm_hour, 2);
  *o++ = ':';
  o = put_uint(o, (unsigned long)tm.tm_min, 2);
  *o++ = ':';
  o = put_uint(o, (unsigned long)tm.tm_sec, 2);
  *o++ = '.';
  o = put_uint(o, (unsigned long)ts.tv_nsec, 9);
  *o++ = 'Z';
  *o = 0;
}

/* DIR/name into buf (PATH_BUF bytes). */
static void dir_path(char* buf, const char* name) {
  size_t d = strnlen(g_dir, PATH_BUF - 64);
  memcpy(buf, g_dir, d);
  buf[d] = '/';
  strcpy(buf + d + 1, name);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void* data, size_t n) {
  const char* p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { /* a non-blocking terminal: wait until it takes more */
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, 1000) > 0) continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One line of the monitor's own log (DIR/monitor.log), in the text format of util/log. */
static void log_error(const char* what, int err) {
  char path[PATH_BUF], msg[1200];
  dir_path(path, "monitor.log");
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  char* o = put_str(msg, "time=");
  now_rfc3339(o);
  o += strlen(o);
  o = put_str(o, " level=error msg=\"vessel-monitor: ");
  size_t n = strnlen(what, 512);
  memcpy(o, what, n);
  o += n;
  if (err) {
    o = put_str(o, ": ");
    n = strnlen(strerror(err), 256);
    memcpy(o, strerror(err), n);
    o += n;
  }
  o = put_str(o, "\"\n");
  write_all(fd, msg, (size_t)(o - msg));
  close(fd);
}

/* ---- ctr.log: one JSON object per line, {"log":…,"stream":…,"time":…} ---- */

static void log_open(void) {
  struct stat st;
  g_log_fd = open(g_log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_log_written = g_log_fd >= 0 && fstat(g_log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Length of the valid UTF-8 sequence at s, or 0 where s starts an invalid one. */
static size_t utf8_seq(const unsigned char* s, size_t n) {
  unsigned c = s[0];
  size_t len;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4;
  else
    return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; ++i)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
      (c == 0xf4 && s[1] > 0x8f))
    return 0; /* overlong, surrogate or beyond U+10FFFF */
  return len;
}

/* Appends text as a JSON string body; invalid UTF-8 becomes U+FFFD. Returns the new end. */
static char* json_escape(char* o, const char* text, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char* s = (const unsigned char*)text;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c < 0x20) {
      *o++ = '\\';
      switch (c) {
        case '\b':
          *o++ = 'b';
          break;
        case '\f':
          *o++ = 'f';
          break;
        case '\n':
          *o++ = 'n';
          break;
        case '\r':
          *o++ = 'r';
          break;
        case '\t':
          *o++ = 't';
          break;
        default:
          memcpy(o, "u00", 3);
          o += 3;
          *o++ = hex[c >> 4];
          *o++ = hex[c & 15];
      }
    } else if (c < 0x80) {
      *o++ = (char)c;
    } else {
      size_t len = utf8_seq(s + i, n - i);
      if (len == 0) {
        memcpy(o, "\xef\xbf\xbd", 3);
        o += 3;
        len = 1;
      } else {
        memcpy(o, s + i, len);
        o += len;
      }
      i += len;
      continue;
    }
    ++i;
  }
  return o;
}

/* ctr.log.N-1 goes, each ctr.log.K becomes ctr.log.K+1, ctr.log becomes ctr.log.1. */
static void log_rotate(void) {
  close(g_log_fd);
  g_log_fd = -1;
  if (g_log_files <= 1) {
    g_log_fd = open(g_log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    g_log_written = 0;
    return;
  }
  char from[PATH_BUF], to[PATH_BUF], name[32];
  for (unsigned k = g_log_files - 1; k >= 1; --k) {
    *put_uint(put_str(name, "ctr.log."), k, 0) = 0;
    dir_path(to, name);
    if (k == 1) {
      rename(g_log_path, to);
      break;
    }
    *put_uint(put_str(name, "ctr.log."), k - 1, 0) = 0;
    dir_path(from, name);
    rename(from, to); /* over the oldest: it goes */
  }
  log_open();
}

static void log_line(int stream, const char* text, size_t n) {
  if (g_log_fd < 0) return;
  char* o = put_str(g_line, "{\"log\":\"");
  o = json_escape(o, text, n);
  o = put_str(
      o, stream ? "\",\"stream\":\"stderr\",\"time\":\"" : "\",\"stream\":\"stdout\",\"time\":\"");
  now_rfc3339(o);
  o = put_str(o + strlen(o), "\"}\n");
  size_t len = (size_t)(o - g_line);
  if (write_all(g_log_fd, g_line, len) != 0) return;
  g_log_written += len;
  if (g_log_written > g_log_max) log_rotate();
}

/* stream 0 = stdout, 1 = stderr: whole lines go out as they complete. */
static void log_add(int stream, const char* d, size_t n) {
  char* p = g_pending[stream];
  size_t* len = &g_pending_len[stream];
  while (n > 0) {
    const char* nl = memchr(d, '\n', n);
    size_t take = nl ? (size_t)(nl - d) + 1 : n;
    if (take > LOG_LINE_MAX - *len) take = LOG_LINE_MAX - *len;
    memcpy(p + *len, d, take);
    *len += take;
    d += take;
    n -= take;
    if (p[*len - 1] == '\n' || *len == LOG_LINE_MAX) {
      log_line(stream, p, *len);
      *len = 0;
    }
  }
}

static void log_flush(void) {
  for (int s = 0; s < 2; ++s)
    if (g_pending_len[s]) {
      log_line(s, g_pending[s], g_pending_len[s]);
      g_pending_len[s] = 0;
    }
}

/* ---- attached clients ---- */

static int send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_full(int fd, void* buf, size_t n) {
  char* p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void drop_client(int i) {
  close(g_clients[i]);
  g_clients[i] = g_clients[--g_nclients];
}

static void broadcast(int type, const char* data, size_t n) {
  unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < g_nclients;) {
    if (send_all(g_clients[i], (const char*)hdr, 5) != 0 || send_all(g_clients[i], data, n) != 0)
      drop_client(i);
    else
      ++i;
  }
}

struct streams {
  int out, err, in, pty;
};

/* One frame from client fd: stdin data, stdin EOF or a terminal size. -1: the client is gone. */
static int client_frame(int fd, struct streams* io) {
  unsigned char hdr[5];
  if (read_full(fd, hdr, 5) != 0) return -1;
  uint32_t len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
  if (len > (16u << 20)) return -1; /* not a peer we understand */
  int target = io->pty >= 0 ? io->pty : io->in;
  char small[64];
  size_t got = 0;
  while (got < len) {
    size_t chunk = len - got < sizeof g_io ? len - got : sizeof g_io;
    if (read_full(fd, g_io, chunk) != 0) return -1;
    if (hdr[0] == FRAME_STDIN && target >= 0) write_all(target, g_io, chunk);
    if (hdr[0] == FRAME_RESIZE && got < sizeof small - 1) {
      size_t keep = chunk < sizeof small - 1 - got ? chunk : sizeof small - 1 - got;
      memcpy(small + got, g_io, keep);
    }
    got += chunk;
  }
  if (hdr[0] == FRAME_STDIN_EOF) {
    if (io->pty >= 0) {
      char eof = 4; /* ^D */
      write_all(io->pty, &eof, 1);
    } else if (io->in >= 0) {
      close(io->in);
      io->in = -1;
    }
  } else if (hdr[0] == FRAME_RESIZE && io->pty >= 0) {
    small[len < sizeof small - 1 ? len : sizeof small - 1] = 0;
    char* end;
    unsigned long rows = strtoul(small, &end, 10);
    unsigned long cols = strtoul(end, NULL, 10);
    struct winsize ws = {0};
    ws.ws_row = (unsigned short)rows;
    ws.ws_col = (unsigned short)cols;
    ioctl(io->pty, TIOCSWINSZ, &ws);
  }
  return 0;
}

/* Reads what a stream has (non-blocking) into the log and to the clients; EOF closes it. */
static void pump(int* fd, int stream, int frame) {
  while (*fd >= 0) {
    ssize_t n = read(*fd, g_io, sizeof g_io);
    if (n > 0) {
      log_add(stream, g_io, (size_t)n);
      broadcast(frame, g_io, (size_t)n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close(*fd); /* EOF, or EIO from a terminal whose other side is closed */
    *fd = -1;
  }
}

/* --hold: an fd kept open while the container runs and closed by the exec back (a rootless
 * container's slirp4netns stops when the write end of its --exit-fd pipe closes). */
static int g_hold = -1;

static int cmp_int(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

/* Whatever else the process had open without O_CLOEXEC (a runtime's /dev/null, the caller's
 * fds) would stay open for the container's whole life: close everything not passed on. */
static void close_strays(const struct streams* io, int attach) {
  int keep[9 + MAX_CLIENTS];
  int n = 0;
  int fixed[] = {0, 1, 2, io->out, io->err, io->in, io->pty, attach};
  for (int i = 0; i < 8; ++i)
    if (fixed[i] >= 0) keep[n++] = fixed[i];
  for (int i = 0; i < g_nclients; ++i) keep[n++] = g_clients[i];
  if (g_log_fd >= 0) keep[n++] = g_log_fd;
  if (g_hold >= 0) keep[n++] = g_hold;
  qsort(keep, (size_t)n, sizeof keep[0], cmp_int);
  unsigned from = 0;
  for (int i = 0; i < n; ++i) {
    if ((unsigned)keep[i] > from) close_range(from, (unsigned)keep[i] - 1, 0);
    from = (unsigned)keep[i] + 1;
  }
  close_range(from, ~0u, 0);
}

static int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

static int parse_fd(const char* s) {
  char* end;
  long v = strtol(s, &end, 10);
  return *s && !*end && v >= 0 && v < 1 << 20 ? (int)v : -2;
}

static void usage(void) {
  static const char msg[] =
      "usage: vessel-monitor --dir DIR --init PID --attach FD [--log-max BYTES] [--log-files N]\n"
      "       [--hold FD] [--out FD] [--err FD] [--in FD] [--pty FD] [--client FD]... -- PROGRAM [ARG]...\n"
      "(run by vessel-monitor-ctl; not meant to be run by hand)\n";
  write_all(2, msg, sizeof msg - 1);
  exit(2);
}

int main(int argc, char** argv) {
  struct streams io = {-1, -1, -1, -1};
  int attach = -1, next = -1;
  pid_t init = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) {
      next = i + 1;
      break;
    }
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    int fd = parse_fd(v);
    if (strcmp(a, "--dir") == 0)
      g_dir = v;
    else if (strcmp(a, "--init") == 0)
      init = fd > 0 ? fd : 0;
    else if (strcmp(a, "--log-max") == 0) {
      char* end = NULL;
      unsigned long long max = strtoull(v, &end, 10);
      if (!*v || *end || max == 0) usage();
      g_log_max = max;
    } else if (strcmp(a, "--log-files") == 0) {
      if (fd < 1 || fd > LOG_FILES_MAX) usage();
      g_log_files = (unsigned)fd;
    } else if (fd < 0)
      usage();
    else if (strcmp(a, "--attach") == 0)
      attach = fd;
    else if (strcmp(a, "--hold") == 0)
      g_hold = fd;
    else if (strcmp(a, "--out") == 0)
      io.out = fd;
    else if (strcmp(a, "--err") == 0)
      io.err = fd;
    else if (strcmp(a, "--in") == 0)
      io.in = fd;
    else if (strcmp(a, "--pty") == 0)
      io.pty = fd;
    else if (strcmp(a, "--client") == 0 && g_nclients < MAX_CLIENTS)
      g_clients[g_nclients++] = fd;
    else
      usage();
  }
  if (!g_dir || init <= 0 || attach < 0 || next < 0 || next >= argc) usage();

  dir_path(g_log_path, "ctr.log");
  log_open();
  int own[] = {io.out, io.err, io.in, io.pty, attach};
  for (size_t i = 0; i < sizeof own / sizeof own[0]; ++i)
    if (own[i] >= 0) fcntl(own[i], F_SETFD, FD_CLOEXEC);
  for (int i = 0; i < g_nclients; ++i) fcntl(g_clients[i], F_SETFD, FD_CLOEXEC);
  if (g_hold >= 0) fcntl(g_hold, F_SETFD, FD_CLOEXEC);
  close_strays(&io, attach);
  int* outs[] = {&io.out, &io.err, &io.pty};
  for (int i = 0; i < 3; ++i)
    if (*outs[i] >= 0) fcntl(*outs[i], F_SETFL, fcntl(*outs[i], F_GETFL) | O_NONBLOCK);

  sigset_t sigs;
  sigemptyset(&sigs);
  int blocked[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE};
  for (int i = 0; i < 5; ++i) sigaddset(&sigs, blocked[i]);
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    log_error("signalfd", errno);
    return 1;
  }

  int exit_code = -1;
  int64_t drain_until = -1;
  for (;;) {
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
      if (p == init) exit_code = exit_code_of(status);
    if (exit_code >= 0) {
      if (drain_until < 0) drain_until = now_ms() + DRAIN_MS;
      if ((io.out < 0 && io.err < 0 && io.pty < 0) || now_ms() > drain_until) break;
    }
    struct pollfd pfds[6 + MAX_CLIENTS];
    int fds_of_clients[MAX_CLIENTS];
    nfds_t n = 0;
    pfds[n++] = (struct pollfd){sigfd, POLLIN, 0};
    pfds[n++] = (struct pollfd){attach, POLLIN, 0}; /* `vessel attach` connects here */
    for (int i = 0; i < 3; ++i)
      if (*outs[i] >= 0) pfds[n++] = (struct pollfd){*outs[i], POLLIN, 0};
    nfds_t first_client = n;
    for (int i = 0; i < g_nclients; ++i) pfds[n++] = (struct pollfd){g_clients[i], POLLIN, 0};
    if (poll(pfds, n, exit_code >= 0 ? 50 : -1) < 0 && errno != EINTR) {
      log_error("poll", errno);
      return 1;
    }
    if (pfds[1].revents & POLLIN) {
      int c = accept4(attach, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0 && g_nclients < MAX_CLIENTS)
        g_clients[g_nclients++] = c;
      else if (c >= 0)
        close(c);
    }
    if (pfds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == sizeof si) {
      }
    }
    /* Client input first (output below may drop clients that went away, so work from the
     * fds polled, not from indexes). */
    int ready = 0;
    for (nfds_t i = first_client; i < n; ++i)
      if (pfds[i].revents) fds_of_clients[ready++] = pfds[i].fd;
    for (int r = 0; r < ready; ++r) {
      if (client_frame(fds_of_clients[r], &io) == 0) continue;
      for (int i = 0; i < g_nclients; ++i)
        if (g_clients[i] == fds_of_clients[r]) {
          drop_client(i);
          break;
        }
    }
    pump(&io.out, 0, FRAME_STDOUT);
    pump(&io.err, 1, FRAME_STDERR);
    pump(&io.pty, 0, FRAME_STDOUT);
  }
  log_flush();

  /* Back to vessel-monitor-ctl, with the exit code and the attached clients. */
  char code[24];
  *put_int(code, exit_code) = 0;
  int extra = 2 + 2 * g_nclients;
  char** nargv = calloc((size_t)(argc - next + extra + 1), sizeof *nargv);
  static char client_args[MAX_CLIENTS][16];
  if (nargv) {
    int k = 0;
    for (int i = next; i < argc; ++i) nargv[k++] = argv[i];
    nargv[k++] = "--exit-code";
    nargv[k++] = code;
    for (int i = 0; i < g_nclients; ++i) {
      fcntl(g_clients[i], F_SETFD, 0);
      *put_int(client_args[i], g_clients[i]) = 0;
      nargv[k++] = "--client-fd";
      nargv[k++] = client_args[i];
    }
    fcntl(attach, F_SETFD, 0);
    execv(nargv[0], nargv);
  }
  int err = errno;
  log_error(argv[next], err);
  char path[PATH_BUF];
  dir_path(path, "exit");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    char line[24];
    char* e = put_int(line, exit_code);
    *e++ = '\n';
    write_all(fd, line, (size_t)(e - line));
    close(fd);
  }
  broadcast(FRAME_EXITED, code, strlen(code));
  return 1;
}
