#!/usr/bin/env python3
"""Full disk: a store (--root) on a small tmpfs (size=) that fills during `pull`, `load`,
`commit` and `build`. Each command must fail with one clear line naming the lack of space,
leave no half-written blob, layer, scratch file or row, and give the space back.

For each command the filesystem is filled (a filler file) until only a little less room is
left than the command needs, the command runs, then the check: exit status non-zero, stderr one
line that says "No space left on device", the blobs, layers and images as before, <root>/tmp
empty, `vessel system check` clean, and the free space as before (within what SQLite's
write-ahead log may keep). Then the filler goes and the same command must succeed.

  full_disk.py --vessel build/bin/vessel [--commands pull,load,commit,build]
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from killpoints import run  # noqa: E402
from manager_kills import ManagerSweep  # noqa: E402

MiB = 1 << 20


class FullDisk(ManagerSweep):
    def __init__(self, args):
        args.every, args.sample, args.verbose = 1, 0, False
        super().__init__(args)
        self.small = os.path.join(self.work, "small")
        os.makedirs(self.small)
        r = run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "vessel-fulldisk",
                 self.small])
        if r.returncode != 0:
            sys.exit("mount tmpfs: " + r.stderr.strip())
        self.big_root = self.root  # busybox is made here, then saved and loaded
        self.failures = []
        self.passed = 0

    def avail(self):
        st = os.statvfs(self.small)
        return st.f_bavail * st.f_frsize

    def fill(self, leave):
        """A filler file that leaves `leave` bytes free."""
        path = os.path.join(self.small, "filler")
        if os.path.exists(path):
            os.unlink(path)
        size = self.avail() - leave
        if size > 0:
            with open(path, "wb") as f:
                os.posix_fallocate(f.fileno(), 0, size)
        return path

    def snapshot(self):
        def ls(sub):
            d = os.path.join(self.root, sub)
            return sorted(os.listdir(d)) if os.path.isdir(d) else []
        return {"blobs": ls("blobs/sha256"), "layers": ls("layers"), "tmp": ls("tmp"),
                "images": self.v("images", "-q").stdout.split()}

    def case(self, what, argv, leave, prepare=None, cleanup=None):
        if prepare:
            prepare()
        before = self.snapshot()
        filler = self.fill(leave)
        avail_before = self.avail()
        r = self.v(*argv)
        problems = []
        err = r.stderr.strip()
        if r.returncode == 0:
            problems.append("succeeded with %d KiB free" % (leave // 1024))
        elif len(err.splitlines()) != 1 or "No space left on device" not in err and "disk is full" not in err:
            problems.append("error is not one line naming the lack of space: %r" % err[-400:])
        after = self.snapshot()
        for k in ("blobs", "layers", "images"):
            if after[k] != before[k]:
                problems.append("%s changed: %s" % (
                    k, sorted(set(after[k]) ^ set(before[k]))[:3]))
        if after["tmp"]:
            problems.append("tmp/ holds %s" % after["tmp"][:3])
        rows = self.v("ps", "-aq").stdout.split()
        if cleanup is None and rows:
            problems.append("container rows left: %s" % rows)
        check = self.v("system", "check")
        if check.returncode != 0:
            problems.append("system check: " + check.stdout.strip().replace("\n", "; ")[:300])
        # SQLite's write-ahead log may keep what it wrote (a few pages).
        lost = avail_before - self.avail()
        if lost > 512 * 1024:
            problems.append("%d KiB not freed" % (lost // 1024))
        with open("/proc/self/mountinfo") as f:
            mounts = [ln for ln in f if self.root + "/" in ln]
        if mounts and cleanup is None:
            problems.append("%d mounts under the store" % len(mounts))
        os.unlink(filler)
        again = self.v(*argv)
        if again.returncode != 0:
            problems.append("with room again it failed: " + again.stderr.strip()[-300:])
        if cleanup:
            cleanup()
        print("%-7s %s%s" % (what, "ok: " + err if not problems else "FAILED: ",
                             "; ".join(problems)))
        sys.stdout.flush()
        if problems:
            self.failures.append((what, problems))
        else:
            self.passed += 1

    def drop_busybox(self):
        """No image at all: the command must write every blob."""
        for image in self.v("images", "-q").stdout.split():
            self.must("rmi", "-f", image)
        self.must("system", "check", "--repair")

    def main(self, commands):
        self.setup(["pull"] if "pull" in commands else [])
        self.root = os.path.join(self.small, "store")
        self.must("load", "-i", self.tar)  # busybox in the small store
        self.must("run", "--rm", "--network", "none", "busybox", "true")  # layers unpacked
        tar_size = os.path.getsize(self.tar)
        for cmd in commands:
            if cmd == "pull":
                image = "%s/faults/busybox:1" % self.host
                self.case("pull", ["pull", "--tls-verify=false", image], tar_size // 8,
                          prepare=self.drop_busybox,
                          cleanup=lambda: self.must("tag", image, "busybox"))
            elif cmd == "load":
                self.case("load", ["load", "-i", self.tar], tar_size // 2,
                          prepare=self.drop_busybox)
            elif cmd == "commit":
                self.must("run", "--name", "big", "--network", "none", "busybox", "sh", "-c",
                          "head -c 4194304 /dev/urandom > /big")
                self.case("commit", ["commit", "big", "committed:1"], 2 * MiB,
                          cleanup=lambda: (self.v("rmi", "-f", "committed:1"),
                                           self.v("rm", "-f", "big")))
            elif cmd == "build":
                ctx = os.path.join(self.work, "bigctx")
                os.makedirs(ctx, exist_ok=True)
                with open(os.path.join(ctx, "Containerfile"), "w") as f:
                    f.write("FROM busybox\nRUN head -c 3145728 /dev/urandom > /big\n")
                self.case("build", ["build", "--no-cache", "-q", "-t", "built:1", ctx],
                          4 * MiB, cleanup=lambda: self.v("rmi", "-f", "built:1"))

    def close(self):
        try:
            self.scrub()
        finally:
            subprocess.run(["umount", "-R", "-l", self.small], stderr=subprocess.DEVNULL)
            super().close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vessel", default="build/bin/vessel")
    ap.add_argument("--commands", default="pull,load,commit,build")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("full_disk.py: run as root")
    commands = args.commands.split(",")
    s = FullDisk(args)
    try:
        s.main(commands)
    finally:
        s.close()
    print("full disk: %d commands checked, %d failed" % (s.passed + len(s.failures),
                                                         len(s.failures)))
    return 1 if s.failures else 0


if __name__ == "__main__":
    sys.exit(main())
