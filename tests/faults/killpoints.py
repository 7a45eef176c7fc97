#!/usr/bin/env python3
"""Fault injection: SIGKILL an OCI runtime at a syscall of one command, clean up as an engine
would (`delete --force ID`), and check that nothing is left on the host.

For each command (create, start, exec, delete, run -d) a reference run under strace records the
order of the runtime's syscalls; kill point k is then the k-th syscall of that run, reached with
strace's `--inject=NAME:signal=KILL:when=N` (N: the occurrence of NAME among the first k calls;
strace 6.1 counts injections per syscall). Only the runtime's own process is traced (no -f), so
the container's processes run untraced and the kill hits the command itself.

After each kill and the cleanup, the check looks for: mounts (mountinfo lines naming the run's
paths), the container's cgroup in every hierarchy (v1 and unified), entries under --root,
processes (any /proc/PID/cmdline with the run's token), and named network namespaces with the
token. Exit status 0 when no leak was found (and the cleanup never failed).

  killpoints.py --runtime build/bin/vessel-runtime [--commands create,start] [--sample 10]
                [--every 1] [--runc]  (the same sweep with /usr/sbin/runc, for comparison)
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SYSCALL_RE = re.compile(r"^(?:\[pid\s+\d+\] )?([a-z_0-9]+)\(")


def run(argv, timeout=60, **kw):
    """Runs argv with its output in files: a container started by it inherits them, and a
    pipe would stay open as long as the container runs."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=timeout, **kw)
        out.seek(0)
        err.seek(0)
        r.stdout, r.stderr = out.read(), err.read()
        return r


def cgroup_mounts():
    """Mount points of every cgroup hierarchy (v1 and cgroup2)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0]
            if fstype in ("cgroup", "cgroup2"):
                out.append(left.split()[4])
    return sorted(set(out))


class Sweep:
    def __init__(self, args):
        self.args = args
        self.runtime = os.path.abspath(args.runtime)
        self.token = "vfault%d" % os.getpid()
        self.work = tempfile.mkdtemp(prefix="vessel-faults-")
        self.root = os.path.join(self.work, "state")
        self.bundle = os.path.join(self.work, "bundle")
        self.hierarchies = cgroup_mounts()
        self.counter = 0
        self.points = 0
        self.kills = 0
        self.leaks = []
        self._make_bundle()

    # --- set-up -----------------------------------------------------------------------
    def _make_bundle(self):
        rootfs = os.path.join(self.bundle, "rootfs")
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
        for a in ("sh", "sleep", "true"):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
        r = run([self.runtime, "spec"], cwd=self.bundle)
        if r.returncode != 0:
            sys.exit("%s spec: %s" % (self.runtime, r.stderr.strip()))
        with open(os.path.join(self.bundle, "config.json")) as f:
            self.config = json.load(f)
        self.config["process"]["terminal"] = False
        # A number nobody else runs: found in /proc/PID/cmdline of any process we leave.
        self.config["process"]["args"] = ["sleep", str(900000 + os.getpid() % 99999)]
        self.config["root"] = {"path": "rootfs", "readonly": True}

    def _config_for(self, cid):
        cfg = dict(self.config)
        cfg["linux"] = dict(cfg["linux"])
        cfg["linux"]["cgroupsPath"] = "/" + cid
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(cfg, f)

    def new_id(self):
        self.counter += 1
        return "%s-%d" % (self.token, self.counter)

    def rt(self, *argv, timeout=60):
        return run([self.runtime, "--root", self.root] + list(argv), timeout=timeout)

    # --- commands -----------------------------------------------------------------------
    # Each command: (what must exist before, the argv that is traced).
    def prepare(self, cmd, cid):
        self._config_for(cid)
        if cmd in ("start", "exec", "delete"):
            r = self.rt("create", "--bundle", self.bundle, cid)
            if r.returncode != 0:
                raise RuntimeError("create %s: %s" % (cid, r.stderr.strip()))
        if cmd in ("exec", "delete"):
            r = self.rt("start", cid)
            if r.returncode != 0:
                raise RuntimeError("start %s: %s" % (cid, r.stderr.strip()))

    def argv_of(self, cmd, cid):
        marker = self.config["process"]["args"][1]
        return {
            "create": ["create", "--bundle", self.bundle, cid],
            "start": ["start", cid],
            "exec": ["exec", "-d", cid, "sleep", marker],
            "delete": ["delete", "--force", cid],
            "run": ["run", "-d", "--bundle", self.bundle, cid],
        }[cmd]

    def traced(self, cmd, cid, inject=None):
        out = os.path.join(self.work, "trace")
        argv = ["strace", "-qq", "-o", out]
        if inject:
            argv += ["--inject=%s:signal=KILL:when=%d" % inject]
        argv += ["--", self.runtime, "--root", self.root] + self.argv_of(cmd, cid)
        r = run(argv, timeout=120)
        with open(out, errors="replace") as f:
            text = f.read()
        os.unlink(out)
        return r, text

    # --- the check ----------------------------------------------------------------------
    def leftovers(self, cid):
        found = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if self.work in line or cid in line:
                    found.append("mount: " + line.strip())
        for h in self.hierarchies:
            if os.path.isdir(os.path.join(h, cid)):
                found.append("cgroup: " + os.path.join(h, cid))
        if os.path.isdir(self.root):
            for e in os.listdir(self.root):
                found.append("state: " + os.path.join(self.root, e))
        marker = self.config["process"]["args"][1]
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open("/proc/%s/stat" % p) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if (cid in cmdline or marker in cmdline) and state != "Z":
                found.append("process %s: %s" % (p, cmdline.strip()))
        if os.path.isdir("/run/netns"):
            for e in os.listdir("/run/netns"):
                if self.token in e:
                    found.append("netns: /run/netns/" + e)
        return found

    def settle(self, cid):
        """Leftovers, waiting up to 3 s for dying processes to go."""
        deadline = time.monotonic() + 3
        while True:
            left = self.leftovers(cid)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    # --- the sweep ----------------------------------------------------------------------
    def reference(self, cmd):
        cid = self.new_id()
        self.prepare(cmd, cid)
        r, text = self.traced(cmd, cid)
        if r.returncode != 0:
            raise RuntimeError("%s %s failed untraced-by-faults: %s" % (cmd, cid, r.stderr))
        calls = []
        for line in text.splitlines():
            m = SYSCALL_RE.match(line)
            if m:
                calls.append(m.group(1))
        self.rt("delete", "--force", cid)
        left = self.settle(cid)
        if left:
            self.leaks.append((cmd, 0, "reference run", left))
        return calls

    def choose(self, n):
        pts = list(range(1, n + 1, self.args.every))
        if self.args.sample and len(pts) > self.args.sample:
            k = self.args.sample
            pts = sorted({pts[(i * (len(pts) - 1)) // (k - 1)] for i in range(k)}) if k > 1 \
                else [pts[len(pts) // 2]]
        return pts

    def sweep(self, cmd):
        calls = self.reference(cmd)
        points = self.choose(len(calls))
        killed = 0
        for k in points:
            name = calls[k - 1]
            nth = calls[:k].count(name)
            cid = self.new_id()
            try:
                self.prepare(cmd, cid)
            except RuntimeError as e:
                self.leaks.append((cmd, k, name, ["set-up failed: %s" % e]))
                self.rt("delete", "--force", cid)
                continue
            r, text = self.traced(cmd, cid, (name, nth))
            if "+++ killed by SIGKILL" in text:
                killed += 1
            cleanup = self.rt("delete", "--force", cid)
            left = self.settle(cid)
            if cleanup.returncode != 0:
                left = ["delete --force failed: " + cleanup.stderr.strip()] + left
            self.points += 1
            if left:
                self.leaks.append((cmd, k, "%s#%d" % (name, nth), left))
                if self.args.verbose:
                    print("  LEAK %s at %d (%s#%d): %s" % (cmd, k, name, nth, left[:3]))
                # Clean up by hand, so the next point starts from a clean host.
                self.scrub(cid)
        self.kills += killed
        print("%-7s %4d syscalls, %4d kill points, %4d killed, leaks at %d" %
              (cmd, len(calls), len(points), killed,
               sum(1 for l in self.leaks if l[0] == cmd)))
        sys.stdout.flush()

    def scrub(self, cid):
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    c = f.read().decode(errors="replace")
            except OSError:
                continue
            if cid in c or self.config["process"]["args"][1] in c:
                try:
                    os.kill(int(p), 9)
                except OSError:
                    pass
        time.sleep(0.2)
        for h in self.hierarchies:
            d = os.path.join(h, cid)
            if os.path.isdir(d):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        shutil.rmtree(os.path.join(self.root, cid), ignore_errors=True)

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runtime", default="build/bin/vessel-runtime")
    ap.add_argument("--runc", action="store_true", help="sweep /usr/sbin/runc instead")
    ap.add_argument("--commands", default="create,start,exec,delete,run")
    ap.add_argument("--every", type=int, default=1, help="every Nth syscall")
    ap.add_argument("--sample", type=int, default=0, help="at most N kill points per command")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.runc:
        args.runtime = shutil.which("runc") or "/usr/sbin/runc"
    if os.geteuid() != 0:
        sys.exit("killpoints.py: run as root")
    if not shutil.which("strace"):
        sys.exit("killpoints.py: strace is not installed")
    s = Sweep(args)
    try:
        for cmd in args.commands.split(","):
            s.sweep(cmd)
    finally:
        s.close()
    print("%s: %d kill points tried, %d killed the runtime, %d left something behind" %
          (os.path.basename(args.runtime), s.points, s.kills, len(s.leaks)))
    for cmd, k, name, left in s.leaks[:40]:
        print("  %s, kill point %d (%s): %s" % (cmd, k, name, "; ".join(left[:4])))
    return 1 if s.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
