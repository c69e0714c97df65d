#!/usr/bin/env bash
# Contract test of the facade: Schemathesis (pinned in hack/install-ci-deps.sh) in positive mode
# against /openapi.json of the facade on loopback, in front of the in-memory Kubernetes API, the
# Auth0 simulator and the real controller (crates/nexus-facade/examples/contract_server.rs).
# Bounded in examples and time. Fails unless >= 99% of the generated POST bodies are accepted
# (201) and no answer is a server error (5xx), and when a Schemathesis check fails.
#   NEXUS_ST_MAX_EXAMPLES  examples per operation and phase (default 300)
#   NEXUS_ST_MAX_TIME      time budget of the Schemathesis run in seconds (default 120: on a
#                          busy 2-core machine 60 s produced fewer than the 100 POST cases the
#                          gate needs)
#   NEXUS_ST_SEED          generation seed (default 20261010: the same cases every run)
#   NEXUS_ST_KEEP_BODIES   when set, the record of every case keeps its body (for inspection)
set -euo pipefail
cd "$(dirname "$0")/.."
max_examples="${NEXUS_ST_MAX_EXAMPLES:-300}"
max_time="${NEXUS_ST_MAX_TIME:-120}"
seed="${NEXUS_ST_SEED:-20261010}"
PYTHON="${PYTHON:-python3}"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --locked --quiet -p nexus-facade --example contract_server
./target/debug/examples/contract_server "$work/ready.json" $((max_time + 300)) 2>"$work/server.log" &
server=$!
for _ in $(seq 1 600); do
  [ -s "$work/ready.json" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "contract server exited before it was ready:"; cat "$work/server.log"; exit 1
  fi
  sleep 0.1
done
[ -s "$work/ready.json" ] || { echo "contract server not ready after 60 s"; cat "$work/server.log"; exit 1; }
field() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/ready.json" "$1"; }
base="$(field base)"

export NEXUS_ST_TENANT="$(field tenant)"
export NEXUS_ST_RESULTS="$work/results.ndjson"
export SCHEMATHESIS_HOOKS=schemathesis_hooks
export PYTHONPATH="$PWD/hack${PYTHONPATH:+:$PYTHONPATH}"
: > "$NEXUS_ST_RESULTS"

started=$(date +%s)
set +e
"$PYTHON" -m schemathesis.cli run "$base/openapi.json" \
  --mode positive \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --seed "$seed" \
  --workers 2 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --header "Authorization: Bearer $(field bearer)" \
  --header "ApplicationToken: $(field application_token)" \
  --request-timeout 60 \
  --warnings off \
  --no-color > "$work/st.log" 2>&1
st_status=$?
set -e
elapsed=$(( $(date +%s) - started ))
tail -n 25 "$work/st.log"

"$PYTHON" - "$NEXUS_ST_RESULTS" "$elapsed" "$st_status" <<'PY'
import json, sys
path, elapsed, st_status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
records = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
posts = [r for r in records if r["method"] == "POST"]
accepted = sum(1 for r in posts if r["status"] == 201)
server_errors = [r for r in records if r["status"] >= 500]
share = 100.0 * accepted / len(posts) if posts else 0.0
by_status = {}
for r in records:
    key = f'{r["method"]} {r["status"]}'
    by_status[key] = by_status.get(key, 0) + 1
print(f"schemathesis: {len(records)} cases in {elapsed} s; answers {dict(sorted(by_status.items()))}")
print(f"schemathesis: {accepted} of {len(posts)} generated POST bodies accepted ({share:.2f}%), "
      f"{len(server_errors)} server errors, schemathesis exit {st_status}")
for r in [r for r in posts if r["status"] != 201][:10]:
    print("  not accepted:", json.dumps(r, ensure_ascii=True)[:600])
ok = len(posts) >= 100 and share >= 99.0 and not server_errors and st_status == 0
if not ok:
    print("schemathesis: FAILED (need >= 100 POST cases, >= 99% accepted, 0 server errors, no failed check)")
    sys.exit(1)
PY
