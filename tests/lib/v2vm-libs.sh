# Sourced by the scripts that run a build in ../shared/tools/v2vm: the guest is a Debian
# minbase of the same release, so the shared libraries the programs need go along in a folder
# (LD_LIBRARY_PATH in the guest) instead of a guest image of their own.
#   v2vm_copy_libs DEST PROGRAM...
# copies what each PROGRAM links (ldd) and the libraries vessel dlopens on first use (libarchive,
# libcrypto, libcurl, libsystemd: ldd cannot see them), with what those link, except glibc's
# own, which the guest has.
v2vm_copy_libs() {
  local dest=$1 lib soname path cache
  shift
  rm -rf "$dest" && mkdir -p "$dest"
  # Read whole: under pipefail, awk's early exit could kill ldconfig with SIGPIPE.
  cache=$(/sbin/ldconfig -p)
  {
    for bin in "$@"; do
      if [ -x "$bin" ]; then ldd "$bin" | awk '$3 ~ /^\// {print $3}'; fi
    done
    for soname in libarchive.so.13 libcrypto.so.3 libcurl.so.4 libsystemd.so.0; do
      path=$(awk -v n="$soname" '$1 == n && /x86-64/ {print $NF; exit}' <<<"$cache")
      [ -n "$path" ] || continue
      echo "$path"
      ldd "$path" | awk '$3 ~ /^\// {print $3}'
    done
  } | sort -u | while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) ;;  # the guest's glibc
      *) cp -L "$lib" "$dest/" ;;
    esac
  done
}
