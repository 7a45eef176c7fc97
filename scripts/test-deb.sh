#!/usr/bin/env bash
# make deb-test: installs vessel_<version>_<arch>.deb into a clean Debian 12 root (debootstrap
# minbase from Debian's archive, a few minutes), runs `vessel run --rm busybox true` in it, then
# `apt remove` and checks that every file the package installed is gone (the conffile stays
# until purge). The root lives in a temp dir that is removed at the end. The container runs in
# private mount, network and pid namespaces, so nothing touches the host's network or mounts.
#   [BASE_ROOT=DIR] scripts/test-deb.sh PACKAGE.deb   (BASE_ROOT: a minbase root to copy instead)
set -euo pipefail
deb=$(realpath "$1")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/vessel-debroot.XXXXXX)
trap 'rm -rf --one-file-system "$root"' EXIT
step() { echo "== $*"; }

if [ -n "${BASE_ROOT:-}" ]; then # a debootstrapped root made earlier, copied (not changed)
  step "copy $BASE_ROOT to $root"
  cp -a "$BASE_ROOT/." "$root/"
else
  step "debootstrap bookworm minbase into $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -20 "$root.log"; rm -f "$root.log"; exit 1; }
  rm -f "$root.log"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"

in_root() { # the chroot with /proc, /sys and /dev, in a private mount namespace
  unshare --mount --propagation private -- sh -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
      mount -t tmpfs tmpfs "$r/run" && exec chroot "$r" "$@"' sh "$root" "$@"
}

step "apt install ./$(basename "$deb")"
in_root sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/$(basename "$deb") >/dev/null"
files=$root.files
trap 'rm -rf --one-file-system "$root"; rm -f "$files"' EXIT
in_root dpkg -L vessel | sort >"$files"

step "vessel run --rm busybox true (private network namespace)"
unshare --mount --net --pid --fork --propagation private -- sh -c '
  r=$1
  ip link set lo up
  mount --bind "$r" "$r"   # the root a container runtime expects: a mount point
  mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
    mount -t tmpfs tmpfs "$r/run"
  chroot "$r" vessel run --rm busybox true && echo "run: ok" &&
    chroot "$r" vessel run --rm busybox sh -c "echo hello from \$(hostname)" &&
    chroot "$r" sh -c "man -w vessel-run >/dev/null 2>&1 || test -f /usr/share/man/man1/vessel-run.1.gz" &&
    chroot "$r" test -f /usr/share/bash-completion/completions/vessel &&
    chroot "$r" vessel info >/dev/null' sh "$root"

step "apt remove vessel"
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq vessel >/dev/null"
left=0
while read -r f; do
  [ -f "$root$f" ] || continue
  case $f in /etc/vessel/vessel.conf) continue ;; esac
  echo "left behind: $f"
  left=1
done <"$files"
[ -f "$root/etc/vessel/vessel.conf" ] || { echo "the conffile went on remove"; left=1; }
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq vessel >/dev/null"
[ ! -e "$root/etc/vessel/vessel.conf" ] || { echo "purge kept /etc/vessel/vessel.conf"; left=1; }
[ $left = 0 ] && echo "deb-test: ok"
exit $left
