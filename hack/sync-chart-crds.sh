#!/usr/bin/env bash
# Copy the generated CRDs (crds/*.yaml, written by `nexus-operator crd`) into the Helm chart's
# crds/ directory, so the chart ships identical copies.
#
#   hack/sync-chart-crds.sh          copy (and remove chart copies whose source is gone)
#   hack/sync-chart-crds.sh --check  exit 1 if the chart's copies differ from crds/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/crds"
dst="$root/charts/nexus-operator/crds"
mode="${1:-sync}"

shopt -s nullglob
sources=("$src"/*.yaml)
if [ ${#sources[@]} -eq 0 ]; then
  echo "sync-chart-crds: no CRDs in crds/ yet (generate them with: cargo run -- crd); nothing to do" >&2
  exit 0
fi

case "$mode" in
  sync)
    mkdir -p "$dst"
    for f in "${sources[@]}"; do
      cp "$f" "$dst/$(basename "$f")"
    done
    for f in "$dst"/*.yaml; do
      [ -e "$src/$(basename "$f")" ] || rm -f "$f"
    done
    echo "sync-chart-crds: copied ${#sources[@]} CRD file(s) to charts/nexus-operator/crds/"
    ;;
  --check)
    status=0
    for f in "${sources[@]}"; do
      if ! cmp -s "$f" "$dst/$(basename "$f")"; then
        echo "sync-chart-crds: charts/nexus-operator/crds/$(basename "$f") differs from crds/$(basename "$f")" >&2
        status=1
      fi
    done
    for f in "$dst"/*.yaml; do
      if [ ! -e "$src/$(basename "$f")" ]; then
        echo "sync-chart-crds: charts/nexus-operator/crds/$(basename "$f") has no source in crds/" >&2
        status=1
      fi
    done
    if [ $status -ne 0 ]; then
      echo "sync-chart-crds: run hack/sync-chart-crds.sh and commit the result" >&2
    fi
    exit $status
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
