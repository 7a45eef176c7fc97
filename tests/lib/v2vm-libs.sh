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

# The host half of a script that runs itself in the VM: checks that the build has PROGRAMS,
# copies the libraries of BINS (default: the runtime, the tests, vessel and vessel-monitor-ctl)
# to $build/v2vm-NAME-libs, and re-runs SCRIPT there as root (V2VM=1, with BUILD and LIBS, and
# KEY=VALUE for each --env), in a VM whose image adds PACKAGES (comma-separated; its own cache,
# /var/cache/v2vm-NAME by default, since the packages are part of the cache key).
#   v2vm_run_self NAME PACKAGES TIMEOUT SCRIPT "PROGRAMS" [--env KEY=VALUE]... [-- ARGS...]
# Needs $repo and $build; honours V2VM_TOOL, V2VM_CACHE, V2VM_TIMEOUT and BINS.
v2vm_run_self() {
  local name=$1 packages=$2 timeout=$3 script=$4 programs=$5 bin v2vm libs
  shift 5
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1" "$2"); shift 2; done
  [ "${1:-}" = -- ] && shift
  for bin in $programs; do
    [ -x "$build/bin/$bin" ] || { echo "$(basename "$script"): no $build/bin/$bin (build first)" >&2; exit 2; }
  done
  libs=$build/v2vm-$name-libs
  # shellcheck disable=SC2046
  v2vm_copy_libs "$libs" $(for bin in ${BINS:-vessel-runtime vessel-integration-tests vessel vessel-monitor-ctl}; do
    echo "$build/bin/$bin"; done)
  v2vm=${V2VM_TOOL:-$repo/../shared/tools/v2vm}
  [ -x "$v2vm" ] || v2vm=/work/shared/tools/v2vm
  cd "$repo"
  exec env V2VM_EXTRA_PACKAGES="$packages" V2VM_CACHE="${V2VM_CACHE:-/var/cache/v2vm-$name}" \
    "$v2vm" --mem 2G --timeout "${V2VM_TIMEOUT:-$timeout}" \
    --share "$repo" --cwd "$repo" --env BUILD="$build" --env LIBS="$libs" "${envs[@]}" \
    -- bash "$script" "$@"
}
