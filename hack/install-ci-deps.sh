#!/usr/bin/env bash
# Install the Python packages hack/chart-check.py and hack/schemathesis.sh need, at the versions
# they were tested with.
# Idempotent and quiet: pip does nothing when the pinned versions are already installed.
#   helm-python-sdk  Helm v4 Go SDK (libhelm_c) for Python: lint, render, schema validation
#   PyYAML           parse rendered manifests and values files
#   jsonschema       validate values.schema.json (draft-07) and the values files independently of Helm
#   lupa             Lua 5.1 runtime to execute the Argo CD health check in docs/gitops-health.md
#   schemathesis     property-based contract testing of the facade's /openapi.json
set -euo pipefail
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "helm-python-sdk==0.2.2" \
  "PyYAML==6.0.3" \
  "jsonschema==4.26.0" \
  "lupa==2.8" \
  "schemathesis==4.32.5"
