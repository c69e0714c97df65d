#!/usr/bin/env bash
# Runs the test suite many times in a row while another process keeps one core busy, to show
# that the tests do not depend on the machine's speed (issue 9: "the whole suite passes 20 times
# in a row while another process keeps one core busy").
#
#   hack/repeat-tests.sh [-n RUNS] [cargo test selection...]
#   hack/repeat-tests.sh -n 20                       # the whole workspace (the default)
#   hack/repeat-tests.sh -n 20 -p auth0-sim -p auth0-mgmt
#
# Builds the selected test binaries once (`cargo test --no-run`: unit, integration and bench
# harnesses that `cargo test` runs), then runs RUNS rounds; each round runs every binary once, in
# its package's directory as cargo does (so one round is one `cargo test` of the selection,
# without the build). `yes > /dev/null` keeps a core busy the whole time and is stopped on exit.
# Prints every round's duration and, per binary, the passes, the total and the slowest run. Logs
# of failed runs stay in $TMPDIR/repeat-tests.*; the exit status is non-zero if any run failed.
set -euo pipefail

runs=20
if [[ "${1:-}" == "-n" ]]; then
  runs=$2
  shift 2
fi
[[ $# -gt 0 ]] || set -- --workspace

logs=$(mktemp -d "${TMPDIR:-/tmp}/repeat-tests.XXXXXX")
# "package dir<TAB>test binary" of every test harness cargo built (profile.test: a binary the
# build needs, such as the operator for its CLI tests, is not a test).
mapfile -t bins < <(
  cargo test --locked --no-run --message-format=json "$@" 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"])
' | sort -u
)
[[ ${#bins[@]} -gt 0 ]] || { echo "no test binaries built for: $*" >&2; exit 1; }

yes > /dev/null &
busy=$!
trap 'kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null || true' EXIT
echo "one core kept busy by pid $busy; $runs rounds of ${#bins[@]} test binaries ($*); logs in $logs"

declare -A pass total slowest
for entry in "${bins[@]}"; do
  name=$(basename "${entry#*$'\t'}")
  pass[$name]=0 total[$name]=0 slowest[$name]=0
done
failed=0
for round in $(seq 1 "$runs"); do
  round_started=$(date +%s%N)
  round_failed=0
  for entry in "${bins[@]}"; do
    dir=${entry%%$'\t'*}
    bin=${entry#*$'\t'}
    name=$(basename "$bin")
    t0=$(date +%s%N)
    if (cd "$dir" && "$bin") > "$logs/$name.$round.log" 2>&1; then
      pass[$name]=$((pass[$name] + 1))
      rm -f "$logs/$name.$round.log"
    else
      failed=1 round_failed=1
      echo "  round $round: $name FAILED (log: $logs/$name.$round.log)"
      grep -E '^test .* FAILED$' "$logs/$name.$round.log" | sed "s|^|    |" || true
    fi
    took=$(( ($(date +%s%N) - t0) / 1000000 ))
    total[$name]=$((total[$name] + took))
    (( took > slowest[$name] )) && slowest[$name]=$took
  done
  awk -v r="$round" -v t="$(( ($(date +%s%N) - round_started) / 1000000 ))" -v f="$round_failed" \
    'BEGIN { printf "round %2d: %6.1f s%s\n", r, t / 1000, f ? "  FAILED" : "" }'
done

echo
for entry in "${bins[@]}"; do
  name=$(basename "${entry#*$'\t'}")
  awk -v n="$name" -v p="${pass[$name]}" -v r="$runs" -v t="${total[$name]}" -v s="${slowest[$name]}" \
    'BEGIN { printf "%-40s %3d/%d passed  total %7.1f s  slowest run %6.2f s\n", n, p, r, t / 1000, s / 1000 }'
done
exit "$failed"
