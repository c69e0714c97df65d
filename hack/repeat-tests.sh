#!/usr/bin/env bash
# Runs test binaries many times in a row while another process keeps one core busy, to show
# that tests do not depend on the machine's speed (issue 9: "20 times in a row under a busy core").
#
#   hack/repeat-tests.sh [-n RUNS] [cargo test selection...]
#   hack/repeat-tests.sh -n 20 -p auth0-sim -p auth0-mgmt
#   hack/repeat-tests.sh -n 20 --workspace
#
# Builds the selected test binaries once (`cargo test --no-run`), then runs each binary RUNS
# times with `yes > /dev/null` in the background (stopped on exit), and prints per binary the
# passes, the total and the slowest run. Logs of failed runs stay in $TMPDIR/repeat-tests.*.
set -euo pipefail

runs=20
if [[ "${1:-}" == "-n" ]]; then
  runs=$2
  shift 2
fi
[[ $# -gt 0 ]] || set -- --workspace

logs=$(mktemp -d "${TMPDIR:-/tmp}/repeat-tests.XXXXXX")
# "package dir<TAB>test binary": each binary runs in its package's directory, as under cargo.
mapfile -t bins < <(
  cargo test --locked --no-run --message-format=json "$@" 2>/dev/null |
    grep '"reason":"compiler-artifact"' | grep '"test":true' |
    sed -n 's|.*"manifest_path":"\([^"]*\)/Cargo.toml".*"executable":"\([^"]*\)".*|\1\t\2|p' |
    sort -u
)
[[ ${#bins[@]} -gt 0 ]] || { echo "no test binaries built for: $*" >&2; exit 1; }

yes > /dev/null &
busy=$!
trap 'kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null || true' EXIT
echo "one core kept busy by pid $busy; $runs runs of ${#bins[@]} test binaries; logs in $logs"

failed=0
for entry in "${bins[@]}"; do
  dir=${entry%%$'\t'*}
  bin=${entry#*$'\t'}
  name=$(basename "$bin")
  pass=0
  slowest=0
  started=$(date +%s%N)
  for i in $(seq 1 "$runs"); do
    t0=$(date +%s%N)
    if (cd "$dir" && "$bin") > "$logs/$name.$i.log" 2>&1; then
      pass=$((pass + 1))
      rm -f "$logs/$name.$i.log"
    else
      failed=1
      grep -E '^test .* FAILED$' "$logs/$name.$i.log" | sed "s|^|  run $i: |" || true
    fi
    took=$(( ($(date +%s%N) - t0) / 1000000 ))
    (( took > slowest )) && slowest=$took
  done
  total=$(( ($(date +%s%N) - started) / 1000000 ))
  awk -v n="$name" -v p="$pass" -v r="$runs" -v t="$total" -v s="$slowest" \
    'BEGIN { printf "%-40s %3d/%d passed  total %6.1f s  slowest run %5.2f s\n", n, p, r, t / 1000, s / 1000 }'
done
exit "$failed"
