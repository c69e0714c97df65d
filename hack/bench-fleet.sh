#!/usr/bin/env bash
# The fleet benchmark (issue 11: 10,000 AuthClients created, then a restart) of the binary the
# container image ships: the `production` profile without the `dev` feature (no simulator, no
# in-memory API; see Cargo.toml and the Dockerfile). `cargo bench --bench fleet` alone measures
# the default-feature release build instead, whose larger code costs about 7 MiB more RSS.
#
#   hack/bench-fleet.sh                   # 10,000 AuthClients
#   hack/bench-fleet.sh --clients 2000
#
# The first run builds the production profile from scratch (several minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --profile production --no-default-features -p nexus-operator --bin nexus-operator
bin="$(mktemp -d)/nexus-operator"
cp target/production/nexus-operator "$bin"
NEXUS_BENCH_BINARY="$bin" cargo bench --locked -p nexus-operator --bench fleet -- "$@"
