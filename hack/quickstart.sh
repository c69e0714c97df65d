#!/usr/bin/env bash
# The README quickstart, end to end, on a machine without a cluster or kubeconfig:
#   1. `cargo run -- dev` (or "$NEXUS_OPERATOR" dev) brings everything up;
#   2. its `export KUBECONFIG=...` line points kubectl at the embedded API;
#   3. kubectl apply -f examples/authclient-dev.yaml && kubectl wait --for=condition=Ready authclient/hello;
#   4. the `curl` it prints creates a client through the REST facade (201 with a client secret).
#
# Needs kubectl and curl on the PATH ($KUBECTL picks another kubectl). Every flag of `dev` can be
# set through its environment variable (NEXUS_DEV_SIM_LISTEN, NEXUS_DEV_FACADE_ADDR,
# NEXUS_METRICS_ADDR, ...). Gives up after $QUICKSTART_TIMEOUT seconds (default 180).
# Run by crates/nexus-operator/tests/kubectl.rs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

kubectl_bin=${KUBECTL:-kubectl}
timeout_s=${QUICKSTART_TIMEOUT:-180}
work=$(mktemp -d)
dev_pid=
cleanup() {
  if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -TERM "$dev_pid" 2>/dev/null || true
    wait "$dev_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "quickstart FAILED: $*" >&2
  echo "--- nexus-operator dev output ---" >&2
  cat "$work/dev.log" >&2 || true
  exit 1
}

# A machine with no cluster: no kubeconfig anywhere, no in-cluster environment.
export HOME="$work/home"
mkdir -p "$HOME"
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT

if [ -n "${NEXUS_OPERATOR:-}" ]; then
  run=("$NEXUS_OPERATOR")
else
  run=(cargo run --quiet --)
fi
"${run[@]}" dev >"$work/dev.log" 2>&1 &
dev_pid=$!

# The banner ends with the curl's body line.
deadline=$((SECONDS + timeout_s))
until grep -q "^      -d '" "$work/dev.log"; do
  kill -0 "$dev_pid" 2>/dev/null || fail "dev exited before it was up"
  [ "$SECONDS" -lt "$deadline" ] || fail "dev was not up within ${timeout_s}s"
  sleep 0.2
done

export_line=$(grep -m1 '^    export KUBECONFIG=' "$work/dev.log") || fail "no export KUBECONFIG line"
eval "$export_line"
echo "quickstart: $export_line"

"$kubectl_bin" apply -f examples/authclient-dev.yaml &&
  "$kubectl_bin" wait --for=condition=Ready authclient/hello --timeout=60s ||
  fail "kubectl apply + wait"
"$kubectl_bin" get authclients
"$kubectl_bin" get secret hello-auth0 >/dev/null || fail "no Secret hello-auth0"

# The printed curl, exactly as printed, its continuation lines joined, plus output options.
curl_cmd=$(sed -n '/^    curl /,/^      -d /p' "$work/dev.log" | sed 's/[[:space:]]*\\$//' | tr '\n' ' ')
[ -n "$curl_cmd" ] || fail "no curl printed"
status=$(bash -c "$curl_cmd -o '$work/response.json' -w '%{http_code}'") || fail "the printed curl failed"
[ "$status" = 201 ] || fail "the printed curl answered $status: $(cat "$work/response.json")"
grep -q '"secret"' "$work/response.json" || fail "no client secret in the 201 body"
echo "quickstart: the printed curl created a client (201)"

kill -TERM "$dev_pid"
wait "$dev_pid" || fail "dev did not exit cleanly on SIGTERM"
dev_pid=
echo "quickstart: ok"
