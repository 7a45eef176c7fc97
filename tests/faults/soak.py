#!/usr/bin/env python3
"""Soak: N lifecycles of vessel-runtime (create, start, delete --force of a running container)
and N `vessel run --rm --network none busybox true`, P at once, while a few long-lived
containers run; then the check that nothing leaked, and the figures.

Leaks looked for, before against after: open fds of the long-lived containers' monitors (and
of this host's vessel processes), mounts under the work directory, cgroups named after the run,
/run/netns entries, host links (veths), iptables rules (`iptables-save`, all tables), container
rows and runtime state directories. The monitors' RSS is sampled every few seconds during the
run: it must stay flat (the last sample within 10% or 512 KiB of the first).

  soak.py --vessel build/bin/vessel --runtime build/bin/vessel-runtime [-n 1000] [-p 50]
          [--long 4] [--json FILE]
"""
import argparse
import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from killpoints import cgroup_mounts, run  # noqa: E402


def count_lines(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return len([ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")])


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Soak:
    def __init__(self, args):
        self.args = args
        self.vessel = os.path.abspath(args.vessel)
        self.runtime = os.path.abspath(args.runtime)
        self.work = tempfile.mkdtemp(prefix="vessel-soak-")
        self.root = os.path.join(self.work, "store")
        self.rt_root = os.path.join(self.work, "rtstate")
        self.token = "vsoak%d" % os.getpid()
        self.hier = cgroup_mounts()
        self.failures = []
        self.lock = threading.Lock()
        self.samples = []  # (seconds, {monitor pid: (rss KiB, fds)})
        self.stop_sampling = threading.Event()

    def v(self, *argv, timeout=300):
        return run([self.vessel, "--root", self.root] + list(argv), timeout=timeout)

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    # --- what is on the host ------------------------------------------------------------
    def host_state(self):
        mounts = 0
        with open("/proc/self/mountinfo") as f:
            mounts = sum(1 for ln in f if self.work in ln)
        cgroups = 0
        for h in self.hier:
            try:
                cgroups += sum(1 for e in os.listdir(h) if self.token in e)
            except OSError:
                pass
        # The manager's containers (vessel-<ID>): their IDs are in the store's events log.
        ids = set()
        for log in ("events.log", "events.log.1"):
            try:
                with open(os.path.join(self.root, log)) as f:
                    ids.update(re.findall(r"[0-9a-f]{64}", f.read()))
            except OSError:
                pass
        for h in self.hier:
            cgroups += sum(1 for i in ids if os.path.isdir(os.path.join(h, "vessel-" + i)))
        netns = len(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else 0
        links = count_lines(["ip", "-o", "link", "show"])
        rules = count_lines(["iptables-save"]) if shutil.which("iptables-save") else 0
        rows = len(self.v("ps", "-aq").stdout.split())
        rtstate = len(os.listdir(self.rt_root)) if os.path.isdir(self.rt_root) else 0
        return {"mounts": mounts, "cgroups": cgroups, "netns": netns, "links": links,
                "iptables rules": rules, "container rows": rows, "runtime states": rtstate}

    # --- set-up ---------------------------------------------------------------------------
    def setup(self):
        r = self.v("template", "build", "busybox")
        if r.returncode != 0:
            sys.exit("template build: " + r.stderr)
        self.bundle = os.path.join(self.work, "bundle")
        rootfs = os.path.join(self.bundle, "rootfs")
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
        for a in ("sh", "sleep", "true"):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
        r = run([self.runtime, "spec"], cwd=self.bundle)
        with open(os.path.join(self.bundle, "config.json")) as f:
            self.config = json.load(f)
        self.config["process"]["terminal"] = False
        self.config["process"]["args"] = ["sleep", "1000"]
        self.config["root"] = {"path": "rootfs", "readonly": True}
        os.makedirs(self.rt_root)

    # --- the lifecycles -------------------------------------------------------------------
    def runtime_cycle(self, i):
        cid = "%s-%d" % (self.token, i)
        cfgdir = os.path.join(self.work, "bundles", cid)
        os.makedirs(cfgdir)
        cfg = json.loads(json.dumps(self.config))
        cfg["root"]["path"] = os.path.join(self.bundle, "rootfs")
        cfg["linux"]["cgroupsPath"] = "/" + cid
        with open(os.path.join(cfgdir, "config.json"), "w") as f:
            json.dump(cfg, f)
        rt = [self.runtime, "--root", self.rt_root]
        for step in (["create", "--bundle", cfgdir, cid], ["start", cid],
                     ["delete", "--force", cid]):
            r = run(rt + step, timeout=120)
            if r.returncode != 0:
                self.fail("runtime %s %s: %s" % (step[0], cid, r.stderr.strip()[-200:]))
                run(rt + ["delete", "--force", cid])
                break
        shutil.rmtree(cfgdir, ignore_errors=True)

    def manager_cycle(self, i):
        r = self.v("run", "--rm", "--network", "none", "busybox", "true")
        if r.returncode != 0:
            self.fail("vessel run --rm #%d: %s" % (i, r.stderr.strip()[-200:]))

    def batch(self, what, fn):
        n, p = self.args.n, self.args.p
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(max_workers=p) as ex:
            list(ex.map(fn, range(n)))
        secs = time.monotonic() - t0
        print("%-22s %5d in %6.1f s (%d at once): %.1f a second" % (what, n, secs, p, n / secs))
        sys.stdout.flush()
        return secs

    # --- the long-lived containers ----------------------------------------------------------
    def start_long(self):
        self.monitors = {}
        for i in range(self.args.long):
            name = "%s-long%d" % (self.token, i)
            r = self.v("run", "-d", "--name", name, "--network", "none", "busybox",
                       "sh", "-c", "while true; do echo tick; sleep 1; done")
            if r.returncode != 0:
                sys.exit("run -d: " + r.stderr)
            j = json.loads(self.v("inspect", name).stdout)[0]
            self.monitors[name] = j["State"]["MonitorPid"]

    def sampler(self):
        t0 = time.monotonic()
        while True:
            snap = {}
            for name, pid in self.monitors.items():
                snap[name] = (proc_status(pid, "VmRSS"), fd_count(pid))
            self.samples.append((time.monotonic() - t0, snap))
            if self.stop_sampling.wait(5):
                return

    # --- all of it ------------------------------------------------------------------------
    def main(self):
        self.setup()
        before = self.host_state()
        self.start_long()
        time.sleep(2)
        th = threading.Thread(target=self.sampler)
        th.start()
        fig = {"n": self.args.n, "parallel": self.args.p, "long_lived": self.args.long}
        try:
            fig["runtime_seconds"] = self.batch("vessel-runtime cycles", self.runtime_cycle)
            fig["manager_seconds"] = self.batch("vessel run --rm", self.manager_cycle)
            time.sleep(3)
        finally:
            self.stop_sampling.set()
            th.join()
        first, last = self.samples[0][1], self.samples[-1][1]
        rss = {}
        for name in self.monitors:
            (r0, f0), (r1, f1) = first[name], last[name]
            if r0 is None or r1 is None:
                self.fail("monitor of %s went away" % name)
                continue
            peak = max(s[1][name][0] or 0 for s in self.samples)
            rss[name] = {"rss_first_kib": r0, "rss_last_kib": r1, "rss_peak_kib": peak,
                         "fds_first": f0, "fds_last": f1}
            if r1 - r0 > max(512, r0 // 10):
                self.fail("monitor of %s grew from %d to %d KiB" % (name, r0, r1))
            if f1 != f0:
                self.fail("monitor of %s had %s fds, then %s" % (name, f0, f1))
        fig["monitors"] = rss
        fig["samples"] = len(self.samples)
        for name in self.monitors:
            self.v("rm", "-f", name)
        time.sleep(1)
        after = self.host_state()
        fig["before"], fig["after"] = before, after
        for k in before:
            if after[k] != before[k]:
                self.fail("%s: %d before, %d after" % (k, before[k], after[k]))
        fig["failures"] = self.failures
        print("monitors (RSS KiB first/peak/last, fds first/last):")
        for name, r in rss.items():
            print("  %s: %d/%d/%d KiB, %d/%d fds" % (name, r["rss_first_kib"], r["rss_peak_kib"],
                                                    r["rss_last_kib"], r["fds_first"],
                                                    r["fds_last"]))
        print("host before: %s" % before)
        print("host after:  %s" % after)
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump(fig, f, indent=1)
        return fig

    def close(self):
        for e in (os.listdir(self.rt_root) if os.path.isdir(self.rt_root) else []):
            run([self.runtime, "--root", self.rt_root, "delete", "--force", e])
        for i in self.v("ps", "-aq", "--no-trunc").stdout.split():
            self.v("rm", "-f", i)
        subprocess.run(["umount", "-R", "-l", self.work], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vessel", default="build/bin/vessel")
    ap.add_argument("--runtime", default="build/bin/vessel-runtime")
    ap.add_argument("-n", type=int, default=1000, help="lifecycles of each kind")
    ap.add_argument("-p", type=int, default=50, help="at once")
    ap.add_argument("--long", type=int, default=4, help="long-lived containers sampled")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak.py: run as root")
    s = Soak(args)
    try:
        s.main()
    finally:
        s.close()
    print("soak: %d failure(s)" % len(s.failures))
    for f in s.failures[:30]:
        print("  " + f)
    return 1 if s.failures else 0


if __name__ == "__main__":
    sys.exit(main())
