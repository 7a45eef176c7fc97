#!/bin/sh
# Runs every libFuzzer target for SECONDS each (or RUNS inputs each when SECONDS is "runs=N"),
# starting from the seed corpus in tests/fuzz/corpus/<target> (never written: new inputs go to
# a scratch corpus). A crash, a leak or an unexpected exception fails the run and leaves the
# input in $BIN/../fuzz-artifacts/. Prints the executions of each target.
#   tests/fuzz/run.sh BUILD-FUZZ/bin SECONDS|runs=N [TARGET...]
set -u
bin=$1
budget=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=${*:-spec reference cni layer image template}
artifacts=$(cd "$bin/.." && pwd)/fuzz-artifacts
mkdir -p "$artifacts"
case $budget in
  runs=*) limit="-runs=${budget#runs=}" ;;
  *) limit="-max_total_time=$budget" ;;
esac
# Undefined behaviour is a finding too: stop at the first report, as ASan does.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=0
total=0
for t in $targets; do
  work=$(mktemp -d /tmp/vessel-fuzz-corpus-XXXXXX)
  log=$work.log
  # ASan's leak check runs too; the layer and image targets write under /tmp.
  "$bin/fuzz-$t" $limit -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  runs=${runs:-0}
  total=$((total + runs))
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz-$t: FAILED (exit $rc) after $runs executions; input in $artifacts/"
    tail -40 "$log"
  else
    echo "fuzz-$t: $runs executions, no crash"
  fi
  rm -rf "$work" "$log"
done
echo "fuzz: $total executions in all"
exit $failed
