#!/usr/bin/env bash
# make deb: builds vessel_<version>_<arch>.deb and vessel-dbgsym_<version>_<arch>.deb with
# dpkg-deb from what `cmake --install` puts under /usr (the same rules as `make install`:
# stripped programs, man pages, bash and zsh completion), plus /etc/vessel/vessel.conf.
# The programs' debug info (scripts/split-debug.sh) goes into the -dbgsym package. Depends
# come from dpkg-shlibdeps (the libraries the programs link) plus what vessel runs.
# See docs/packaging.md.
#   scripts/make-deb.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-.}
version=$(sed -n 's/^project(vessel VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
[ -n "$version" ] || { echo "make-deb: no version in CMakeLists.txt" >&2; exit 1; }
[ -x "$build/bin/vessel" ] || { echo "make-deb: build first (no $build/bin/vessel)" >&2; exit 1; }

work=$(mktemp -d /tmp/vessel-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
pkg=$work/vessel
dbg=$work/vessel-dbgsym
DESTDIR=$pkg cmake --install "$build" --prefix /usr >/dev/null
mkdir -p "$dbg/usr/lib"
mv "$pkg/usr/lib/debug" "$dbg/usr/lib/debug"
rmdir --ignore-fail-on-non-empty "$pkg/usr/lib"
install -D -m 0644 packaging/vessel.conf "$pkg/etc/vessel/vessel.conf"
install -D -m 0644 packaging/copyright "$pkg/usr/share/doc/vessel/copyright"
install -D -m 0644 packaging/copyright "$dbg/usr/share/doc/vessel-dbgsym/copyright"

# The shared libraries the programs need, as Debian package names with versions.
mkdir -p "$work/shlibs/debian"
printf 'Source: vessel\n\nPackage: vessel\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$pkg/usr/bin/vessel" "$pkg/usr/bin/vessel-runtime" \
  "$pkg/usr/bin/vessel-monitor" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "make-deb: dpkg-shlibdeps found nothing" >&2; exit 1; }
# What vessel runs: CNI plugins for networks, iptables for NAT and isolation, newuidmap for
# rootless mappings; the busybox template is made from busybox-static, debian's by debootstrap.
# The libraries vessel dlopens on first use (src/image/lib*_shim.cc), which dpkg-shlibdeps
# cannot see: libcurl (pull, push), libarchive (tar streams), libcrypto (SHA-256).
depends="$shlibs, libcurl4, libarchive13, libssl3, containernetworking-plugins, iptables, uidmap"
recommends="busybox-static, slirp4netns, fuse-overlayfs"
suggests="debootstrap, skopeo, runc"

control() { # DIR PACKAGE DEPENDS SECTION DESCRIPTION
  local dir=$1 size
  mkdir -p "$dir/DEBIAN"
  size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
  {
    echo "Package: $2"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: Vessel developers <vessel@localhost>"
    echo "Installed-Size: $size"
    echo "Depends: $3"
    [ "$2" = vessel ] && echo "Recommends: $recommends" && echo "Suggests: $suggests"
    echo "Section: $4"
    echo "Priority: optional"
    echo "Description: $5"
  } >"$dir/DEBIAN/control"
  (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
    xargs -d '\n' md5sum) >"$dir/DEBIAN/md5sums"
}
control "$pkg" vessel "$depends" admin "Linux containers: an OCI runtime and a lifecycle manager
 vessel-runtime is an OCI runtime with runc's command line; vessel runs containers
 from images and templates (run, ps, logs, exec, volumes, networks, pull, push)."
echo /etc/vessel/vessel.conf >"$pkg/DEBIAN/conffiles"
control "$dbg" vessel-dbgsym "vessel (= $version)" debug "debug symbols for vessel
 The programs' debug info by build id, under /usr/lib/debug/.build-id."

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out/vessel_${version}_${arch}.deb" >/dev/null
dpkg-deb --root-owner-group -Zxz --build "$dbg" "$out/vessel-dbgsym_${version}_${arch}.deb" >/dev/null
echo "$out/vessel_${version}_${arch}.deb"
echo "$out/vessel-dbgsym_${version}_${arch}.deb"
