#!/usr/bin/env python3
"""Fault injection for the manager: SIGKILL `vessel` at a syscall of `run`, `rm`, `pull`,
`load` or `build`, do what a user would do next, and check that nothing is left.

Kill points come as in killpoints.py: a reference run under strace records the manager's own
syscalls (no -f: the monitor, the runtime and the containers run untraced), then kill point k
reruns the command with `strace --inject=NAME:signal=KILL:when=N` (the k-th call).

What the user does next, per command:
  run -d   `vessel rm -f NAME` (if `ps -a` lists it)
  rm -f    `vessel rm -f NAME` again (it may say there is no such container)
  pull     the same pull again (must succeed)
  load     the same load again (must succeed)
  build    the same build again (must succeed)
then, for every command, `vessel system check` without --repair must find nothing (in
particular no orphan-blob: complete blobs of a killed command whose image was never recorded
must be gone by then, removed by the next command through their claims, util/blob_claims.h),
then the check: no mount under the work directory, no cgroup of any
container ID the run produced (IDs are read from the trace and the store), no process whose
command line names the store or the run's marker, no network namespace of those IDs, no row
(`ps -a` empty, images as expected), nothing under the runtime's state root, <root>/tmp empty,
and `vessel system check` finds no problem (no half-written blob, orphan layer or stale row).

  manager_kills.py --vessel build/bin/vessel [--commands run,rm,pull,load,build]
                   [--sample N] [--every N] [--no-blob-points] [-v]

Besides every Nth syscall (or N evenly spread), the kill points include the syscall right after
each rename of a blob into the store (a complete blob no image uses yet); with --sample only the
first and the last of those.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from killpoints import SYSCALL_RE, cgroup_mounts, run  # noqa: E402

ID_RE = re.compile(r"[0-9a-f]{64}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ManagerSweep:
    def __init__(self, args):
        self.args = args
        self.vessel = os.path.abspath(args.vessel)
        self.work = tempfile.mkdtemp(prefix="vessel-mfaults-")
        self.root = os.path.join(self.work, "store")
        self.marker = str(800000 + os.getpid() % 99999)
        self.hierarchies = cgroup_mounts()
        self.ids = set()
        self.points = 0
        self.kills = 0
        self.leaks = []
        self.repaired = 0  # kill points after which `system check` found something to repair
        self.registry = None
        self.counter = 0

    # --- set-up ---------------------------------------------------------------------------
    def v(self, *argv, timeout=180):
        return run([self.vessel, "--root", self.root] + list(argv), timeout=timeout)

    def must(self, *argv):
        r = self.v(*argv)
        if r.returncode != 0:
            raise RuntimeError("vessel %s: %s" % (" ".join(argv), r.stderr.strip()))
        return r

    def setup(self, commands):
        self.must("template", "build", "busybox")
        self.tar = os.path.join(self.work, "busybox.tar")
        self.must("save", "-o", self.tar, "busybox")
        self.context = os.path.join(self.work, "context")
        os.makedirs(self.context)
        with open(os.path.join(self.context, "Containerfile"), "w") as f:
            f.write("FROM busybox\nRUN echo %s > /marker\nCOPY file /file\n" % self.marker)
        with open(os.path.join(self.context, "file"), "w") as f:
            f.write("content\n")
        if "pull" in commands:
            self.start_registry()

    def start_registry(self):
        if not os.access("/usr/bin/docker-registry", os.X_OK) or not shutil.which("skopeo"):
            sys.exit("manager_kills.py: pull needs docker-registry and skopeo")
        port = free_port()
        self.host = "127.0.0.1:%d" % port
        storage = os.path.join(self.work, "registry")
        os.makedirs(storage)
        cfg = os.path.join(self.work, "registry.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s\nhttp:\n  addr: %s\n" % (storage, self.host))
        log = open(os.path.join(self.work, "registry.log"), "w")
        self.registry = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        oci = os.path.join(self.work, "busybox-oci.tar")
        self.must("save", "--format", "oci-archive", "-o", oci, "busybox")
        r = run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                 "oci-archive:" + oci, "docker://%s/faults/busybox:1" % self.host], timeout=180)
        if r.returncode != 0:
            sys.exit("skopeo copy: " + r.stderr.strip())

    # --- the commands ---------------------------------------------------------------------
    def name(self):
        self.counter += 1
        return "mk%s-%d" % (self.marker, self.counter)

    def prepare(self, cmd, name):
        """The store as the command expects it; returns the command's argv."""
        if cmd == "run":
            return ["run", "-d", "--name", name, "--network", "none", "busybox",
                    "sleep", self.marker]
        if cmd == "rm":
            self.must("run", "-d", "--name", name, "--network", "none", "busybox",
                      "sleep", self.marker)
            return ["rm", "-f", name]
        if cmd == "pull":
            return ["pull", "--tls-verify=false", "%s/faults/busybox:1" % self.host]
        if cmd == "load":
            return ["load", "-i", self.tar]
        if cmd == "build":
            return ["build", "--no-cache", "-q", "-t", "built:" + name, self.context]
        raise ValueError(cmd)

    def next_step(self, cmd, name, argv):
        """What a user does after the kill; returns a complaint or None."""
        if cmd == "run":
            if name in self.v("ps", "-a", "--format", "{{.Names}}").stdout.split():
                r = self.v("rm", "-f", name)
                if r.returncode != 0:
                    return "rm -f after the kill failed: " + r.stderr.strip()
            return None
        if cmd == "rm":
            r = self.v("rm", "-f", name)
            if r.returncode != 0 and "no such container" not in r.stderr:
                return "rm -f again failed: " + r.stderr.strip()
            return None
        r = self.v(*argv)
        if r.returncode != 0:
            return "%s again failed: %s" % (cmd, r.stderr.strip().splitlines()[-1:])
        return None

    def reset(self, cmd, name):
        """Back to the state before the command (the check has run)."""
        if cmd == "pull":
            self.v("rmi", "-f", "%s/faults/busybox:1" % self.host)
        elif cmd == "build":
            self.v("rmi", "-f", "built:" + name)
        elif cmd == "load":
            pass  # loading busybox again over itself is the command
        self.v("system", "check", "--repair")

    def traced(self, argv, inject=None):
        out = os.path.join(self.work, "trace")
        st = ["strace", "-qq", "-o", out]
        if inject:
            st += ["--inject=%s:signal=KILL:when=%d" % inject]
        r = run(st + ["--", self.vessel, "--root", self.root] + argv, timeout=300)
        with open(out, errors="replace") as f:
            text = f.read()
        os.unlink(out)
        self.ids.update(ID_RE.findall(text))
        return r, text

    # --- the check ------------------------------------------------------------------------
    def collect_ids(self):
        for d in (os.path.join(self.root, "containers"),):
            if os.path.isdir(d):
                self.ids.update(e for e in os.listdir(d) if ID_RE.fullmatch(e))
        r = self.v("ps", "-aq", "--no-trunc")
        self.ids.update(ID_RE.findall(r.stdout))

    def leftovers(self, cmd):
        found = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if self.work in line:
                    found.append("mount: " + line.split(" - ")[0].split()[4])
        for h in self.hierarchies:
            for i in self.ids:
                if os.path.isdir(os.path.join(h, "vessel-" + i)):
                    found.append("cgroup: %s/vessel-%s" % (h, i[:12]))
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) in (os.getpid(), self.registry and self.registry.pid):
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open("/proc/%s/stat" % p) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if (self.root in cmdline or "sleep " + self.marker in cmdline) and state != "Z":
                found.append("process %s: %s" % (p, cmdline.strip()[:120]))
        if os.path.isdir("/run/netns"):
            for e in os.listdir("/run/netns"):
                if any(i[:12] in e for i in self.ids):
                    found.append("netns: /run/netns/" + e)
        rows = self.v("ps", "-aq").stdout.split()
        if rows:
            found.append("container rows: %s" % rows)
        for sub in ("containers", "tmp"):
            d = os.path.join(self.root, sub)
            if os.path.isdir(d) and os.listdir(d):
                found.append("%s/: %s" % (sub, os.listdir(d)[:4]))
        rt = os.path.join(self.root, "run", "runtime")
        if os.path.isdir(rt) and os.listdir(rt):
            found.append("runtime state: %s" % os.listdir(rt)[:4])
        check = self.v("system", "check")
        if check.returncode != 0:
            found.append("system check: " + check.stdout.strip().replace("\n", "; ")[:300])
        return found

    def settle(self, cmd):
        deadline = time.monotonic() + 5
        while True:
            left = self.leftovers(cmd)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)

    def scrub(self):
        """Cleans up by hand after a leak, so the next point starts clean."""
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    c = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if self.root in c or "sleep " + self.marker in c:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.3)
        for i in self.v("ps", "-aq", "--no-trunc").stdout.split():
            self.v("rm", "-f", i)
        self.v("system", "check", "--repair")

    # --- the sweep ------------------------------------------------------------------------
    def choose(self, n, named):
        pts = list(range(1, n + 1, self.args.every))
        k = self.args.sample
        if k and len(pts) > k:
            pts = sorted({pts[(i * (len(pts) - 1)) // (k - 1)] for i in range(k)}) if k > 1 \
                else [pts[len(pts) // 2]]
            named = sorted({named[0], named[-1]}) if named else []  # the first and the last
        return sorted(set(pts) | set(named))

    def after_blob_renames(self, lines):
        """Named kill points: the syscall right after each rename of a blob into
        <root>/blobs/sha256 (a complete blob that no image uses yet)."""
        blobs = os.path.join(self.root, "blobs", "sha256") + "/"
        out, k = [], 0
        for line in lines:
            m = SYSCALL_RE.match(line)
            if not m:
                continue
            k += 1
            if m.group(1).startswith("rename") and blobs in line and "= 0" in line:
                out.append(k + 1)
        return out

    def sweep(self, cmd):
        # Twice: the first run unpacks the image's layers, which the runs below find done.
        for _ in range(2):
            name = self.name()
            argv = self.prepare(cmd, name)
            r, text = self.traced(argv)
            if r.returncode != 0:
                raise RuntimeError("%s failed without a kill: %s" % (cmd, r.stderr.strip()))
            calls = [m.group(1) for m in map(SYSCALL_RE.match, text.splitlines()) if m]
            named = [k for k in self.after_blob_renames(text.splitlines()) if k <= len(calls)]
            if cmd in ("run", "rm"):
                self.v("rm", "-f", name)
            self.collect_ids()
            left = self.settle(cmd)
            self.reset(cmd, name)
            if left:
                self.leaks.append((cmd, 0, "reference run", left))
        points = self.choose(len(calls), named if self.args.blob_points else [])
        killed = leaks_before = len(self.leaks)
        killed = 0
        for k in points:
            sc = calls[k - 1]
            nth = calls[:k].count(sc)
            name = self.name()
            try:
                argv = self.prepare(cmd, name)
            except RuntimeError as e:
                self.leaks.append((cmd, k, sc, ["set-up failed: %s" % e]))
                self.scrub()
                continue
            r, text = self.traced(argv, (sc, nth))
            if "+++ killed by SIGKILL" in text:
                killed += 1
            self.collect_ids()
            complaint = self.next_step(cmd, name, argv)
            self.collect_ids()
            # Nothing for `system check --repair` to do after the next command: no orphan
            # blob (a killed command's complete blobs), layer, row or scratch file.
            pre = self.v("system", "check")
            left = self.settle(cmd)
            if pre.returncode != 0:
                self.repaired += 1
                left = ["system check after the next command: " +
                        pre.stdout.strip().replace("\n", "; ")[:300]] + left
            if complaint:
                left = [complaint] + left
            self.points += 1
            if left:
                self.leaks.append((cmd, k, "%s#%d" % (sc, nth), left))
                if self.args.verbose:
                    print("  LEAK %s at %d (%s#%d): %s" % (cmd, k, sc, nth, left[:3]))
                self.scrub()
            self.reset(cmd, name)
        self.kills += killed
        print("%-6s %5d syscalls, %4d kill points, %4d killed, leaks at %d" %
              (cmd, len(calls), len(points), killed, len(self.leaks) - leaks_before))
        sys.stdout.flush()

    # --- two at once ----------------------------------------------------------------------
    def claimed(self):
        """Digests in live or dead claim files (util/blob_claims.h), by file."""
        d = os.path.join(self.root, "blobs", "pending")
        out = {}
        for n in os.listdir(d) if os.path.isdir(d) else []:
            try:
                with open(os.path.join(d, n)) as f:
                    out[n] = set(f.read().split())
            except OSError:
                pass
        return out

    def blobs(self):
        d = os.path.join(self.root, "blobs", "sha256")
        return {"sha256:" + n for n in os.listdir(d) if len(n) == 64}

    def two_at_once(self):
        """A build held right after it renamed its first blob into place (strace delays that
        rename's return: the blob is complete, no image uses it yet) while a second build is
        killed at the same point; then the next command (`vessel images`) must remove the dead
        build's blobs and keep the live one's, `system check` must find nothing (the live
        build's blobs are claimed, not orphans) and `image prune` must not take them; the held
        build then finishes and its image is complete."""
        problems = []
        name = self.name()
        r, text = self.traced(self.prepare("build", name))
        self.reset("build", name)
        if r.returncode != 0:
            return ["reference build failed: " + r.stderr.strip()]
        lines = text.splitlines()
        points = self.after_blob_renames(lines)  # 1-based: the syscall after each blob rename
        calls = [m.group(1) for m in map(SYSCALL_RE.match, lines) if m]
        if not points or points[0] > len(calls):
            return ["no blob rename in the reference build"]
        k_rename = points[0] - 1
        sc = calls[k_rename - 1]  # the rename (held: strace delays its return)
        nth_sc = calls[:k_rename].count(sc)
        after = calls[k_rename]  # the syscall right after it (the other build is killed there)
        nth_after = calls[:k_rename + 1].count(after)

        live_name = self.name()
        live = subprocess.Popen(
            ["strace", "-qq", "-o", "/dev/null",
             "--inject=%s:delay_exit=%d:when=%d" % (sc, self.args.hold * 1000000, nth_sc), "--",
             self.vessel, "--root", self.root] + self.prepare("build", live_name),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        live_blobs = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and live.poll() is None:
            held = set().union(*self.claimed().values()) if self.claimed() else set()
            live_blobs = held & self.blobs()
            if live_blobs:
                break
            time.sleep(0.05)
        if not live_blobs:
            live.kill()
            live.wait()
            return ["the held build stored no claimed blob (exit %s)" % live.returncode]
        dead_name = self.name()
        before = self.blobs()
        self.traced(self.prepare("build", dead_name), (after, nth_after))
        dead_claims = {n: c for n, c in self.claimed().items() if not (c & live_blobs)}
        dead_blobs = (self.blobs() - before) - live_blobs
        if not dead_blobs:
            problems.append("the killed build left no complete blob (kill point %s#%d)" %
                            (after, nth_after))
        self.v("images")  # the next ordinary command
        gone = dead_blobs & self.blobs()
        if gone:
            problems.append("the killed build's blobs are still there after the next command: %s"
                            % sorted(gone)[:3])
        left = [n for n in dead_claims if os.path.exists(
            os.path.join(self.root, "blobs", "pending", n))]
        if left:
            problems.append("the killed build's claim files are still there: %s" % left)
        if live_blobs - self.blobs():
            problems.append("the next command removed the live build's blobs")
        check = self.v("system", "check")
        if check.returncode != 0:
            problems.append("system check while the build is held: " +
                            check.stdout.strip().replace("\n", "; ")[:300])
        self.v("image", "prune", "-f")
        if live_blobs - self.blobs():
            problems.append("image prune removed the live build's blobs")
        if live.poll() is not None:
            problems.append("the held build went on before the checks were done (raise --hold)")
        out, err = live.communicate(timeout=300)
        if live.returncode != 0:
            problems.append("the held build failed: " + err.strip()[-300:])
        check = self.v("system", "check")
        if check.returncode != 0:
            problems.append("system check after the held build: " +
                            check.stdout.strip().replace("\n", "; ")[:300])
        r = self.v("run", "--rm", "--network", "none", "built:" + live_name, "cat", "/marker")
        if r.returncode != 0 or r.stdout.strip() != self.marker:
            problems.append("the held build's image does not run: " + r.stderr.strip())
        for n in (live_name, dead_name):
            self.reset("build", n)
        print("two at once (build held after its first blob, another killed there): %d blobs "
              "held, %d left by the killed one, %s" % (len(live_blobs), len(dead_blobs),
                                                     "; ".join(problems) or "ok"))
        return problems

    def close(self):
        try:
            self.scrub()
        finally:
            if self.registry:
                self.registry.terminate()
                self.registry.wait()
            subprocess.run(["umount", "-R", "-l", self.work], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vessel", default="build/bin/vessel")
    ap.add_argument("--commands", default="run,rm,pull,load,build")
    ap.add_argument("--every", type=int, default=1, help="every Nth syscall")
    ap.add_argument("--sample", type=int, default=0, help="at most N kill points per command")
    ap.add_argument("--no-blob-points", dest="blob_points", action="store_false",
                    help="without the kill points right after a blob is renamed into place "
                         "(with --sample: the first and the last of them)")
    ap.add_argument("--two-at-once", action="store_true",
                    help="also: a build held after its first blob while another is killed there")
    ap.add_argument("--hold", type=int, default=30, help="seconds the held build waits")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("manager_kills.py: run as root")
    if not shutil.which("strace"):
        sys.exit("manager_kills.py: strace is not installed")
    commands = args.commands.split(",")
    s = ManagerSweep(args)
    try:
        s.setup(commands)
        for cmd in commands:
            s.sweep(cmd)
        if args.two_at_once:
            for p in s.two_at_once():
                s.leaks.append(("build", 0, "two at once", [p]))
    finally:
        s.close()
    print("vessel: %d kill points tried, %d killed the manager, %d left something behind "
          "(%d of them something for system check --repair after the next command)" %
          (s.points, s.kills, len(s.leaks), s.repaired))
    for cmd, k, name, left in s.leaks[:40]:
        print("  %s, kill point %d (%s): %s" % (cmd, k, name, "; ".join(left[:4])))
    return 1 if s.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
