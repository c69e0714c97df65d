#!/usr/bin/env python3
"""Render and lint charts/nexus-operator with the real Helm engine, and check what it produces.

Helm's Go SDK is used through the `helm-python-sdk` wheel (import `helm_python`), so no helm binary
and no cluster are needed. Install the dependencies with `bash hack/install-ci-deps.sh`.

    python3 hack/chart-check.py            # run every check
    python3 hack/chart-check.py --values-table   # print the values table for docs/helm.md

Every check prints `ok - ...` or `FAIL - ...`; the last line is `chart: N passed, M failed` and the
exit status is non-zero when anything failed.
"""

from __future__ import annotations

import copy
import filecmp
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
CHART_DIR = ROOT / "charts" / "nexus-operator"
API_CALLS = ROOT / "crates" / "nexus-operator" / "tests" / "rbac" / "api-calls.txt"
TOP_CRDS = ROOT / "crds"
CHART_CRDS = CHART_DIR / "crds"
HELM_DOC = ROOT / "docs" / "helm.md"
HEALTH_DOC = ROOT / "docs" / "gitops-health.md"
DOCKERFILE = ROOT / "Dockerfile"

RELEASE = "nexus-operator"
NAMESPACE = "nexus-system"

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
CLUSTER_SCOPED_KINDS = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
# The scopes of tests/rbac/api-calls.txt (its header says what each mode grants for each).
SCOPES = {"cluster", "served", "served-namespaces", "credentials", "facade-credentials", "release", "lease"}
USERS = {"controller", "facade"}
# A grant: (namespace, or None for cluster-wide; apiGroup ("core" for ""); resource; verb;
# resourceName, or "*" for every name).
Grant = tuple
# Schema objects that mirror a Kubernetes type (EnvVar) rather than a structure the chart defines.
FREE_FORM_SCHEMA_PATHS = {"extraEnv[]"}
# The reasons come from the script's own `permanent` and `progressing` tables, which
# crates/nexus-crd/tests/gitops_health.rs proves equal to the reason enums (ReadyReason::health,
# TenantReason::health): one source of truth, checked there; evaluated here.

try:
    import helm_python as helm
    import jsonschema
    import yaml
except ImportError as exc:  # pragma: no cover - environment problem, not a check
    print(f"chart-check: missing dependency ({exc}); run: bash hack/install-ci-deps.sh", file=sys.stderr)
    print("chart: 0 passed, 1 failed")
    sys.exit(1)


# --------------------------------------------------------------------------------------------
# Check bookkeeping


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok - {name}")
        else:
            self.failed += 1
            print(f"FAIL - {name}" + (f": {detail}" if detail else ""))
        return ok

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run fn; an exception is a failed check named `name`."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every error is a check failure
            self.check(name, False, f"{type(exc).__name__}: {exc}")
            traceback.print_exc(limit=3)
            return None


C = Checks()


# --------------------------------------------------------------------------------------------
# Helpers


def load_values_file(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CHART_DIR / "ci" / name).read_text())
    return data or {}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(chart: "helm.Chart", values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render the chart and return its objects (NOTES.txt excluded)."""
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise ValueError(f"{path}: rendered a document that is not a Kubernetes object: {doc!r}")
            doc["__template__"] = path
            objects.append(doc)
    return objects


def notes(chart: "helm.Chart", values: dict[str, Any]) -> str:
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next((t for p, t in manifests.items() if p.endswith("NOTES.txt")), "")


def by_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    if len(found) != 1:
        raise AssertionError(f"expected exactly one {kind}, found {len(found)}")
    return found[0]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = one(objects, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "operator")


def env_map(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def parse_api_calls() -> list[dict[str, Any]]:
    """The lines of tests/rbac/api-calls.txt: scope, apiGroup, resource, verb, users."""
    lines: list[dict[str, Any]] = []
    for number, raw in enumerate(API_CALLS.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"{API_CALLS.name}:{number}: expected `scope apiGroup resource verb users`, got {raw!r}")
        scope, group, resource, verb, users = parts
        user_set = set(users.split(","))
        if scope not in SCOPES or not user_set <= USERS:
            raise ValueError(f"{API_CALLS.name}:{number}: unknown scope or user in {raw!r}")
        lines.append({"number": number, "scope": scope, "group": group, "resource": resource, "verb": verb, "users": user_set})
    return lines


def fullname(merged: dict[str, Any]) -> str:
    """The chart's `nexus-operator.fullname` for RELEASE."""
    if merged["fullnameOverride"]:
        return merged["fullnameOverride"][:63].rstrip("-")
    name = merged["nameOverride"] or "nexus-operator"
    return (RELEASE if name in RELEASE else f"{RELEASE}-{name}")[:63].rstrip("-")


def expected_grants(merged: dict[str, Any]) -> set[Grant]:
    """What api-calls.txt grants for these values (the table in its header)."""
    served = merged["watchNamespaces"]
    namespaced = bool(served)
    facade = merged["facade"]["enabled"]
    lease = merged["leaderElection"]["leaseName"] or fullname(merged)
    grants: set[Grant] = set()
    for line in parse_api_calls():
        if line["users"] == {"facade"} and not facade:
            continue
        scope, g, r, v = line["scope"], line["group"], line["resource"], line["verb"]
        if scope == "cluster" or (not namespaced and scope in ("served", "served-namespaces", "credentials", "facade-credentials")):
            grants.add((None, g, r, v, "*"))
        elif scope == "served":
            grants |= {(ns, g, r, v, "*") for ns in served}
        elif scope == "served-namespaces":
            grants |= {(None, g, r, v, ns) for ns in served}
        elif scope == "credentials":
            grants |= {(c["namespace"], g, r, v, c["name"]) for c in merged["credentialsSecrets"]}
        elif scope == "facade-credentials":
            grants.add((NAMESPACE, g, r, v, merged["facade"]["credentialsSecret"]))
        elif scope == "release":
            grants.add((NAMESPACE, g, r, v, "*"))
        elif scope == "lease":
            grants.add((NAMESPACE, g, r, v, lease))
    return grants


def granted(rules: list[dict[str, Any]], namespace: str | None) -> tuple[set[Grant], list[str]]:
    """Expand RBAC rules bound in `namespace` (None: cluster-wide) into grants; also report
    forbidden shapes."""
    triples: set[Grant] = set()
    problems: list[str] = []
    for rule in rules:
        if rule.get("nonResourceURLs"):
            problems.append(f"nonResourceURLs granted: {rule['nonResourceURLs']}")
        groups = rule.get("apiGroups") or []
        resources = rule.get("resources") or []
        verbs = rule.get("verbs") or []
        for field, items in (("apiGroups", groups), ("resources", resources), ("verbs", verbs)):
            if any("*" in str(i) for i in items):
                problems.append(f"wildcard in {field}: {items}")
        names = rule.get("resourceNames") or ["*"]
        for group in groups:
            for resource in resources:
                for verb in verbs:
                    for name in names:
                        triples.add((namespace, "core" if group == "" else group, resource, verb, name))
    return triples, problems


def fmt(grants: Iterable[Grant]) -> str:
    def one(g: Grant) -> str:
        where = "cluster-wide" if g[0] is None else f"in {g[0]}"
        name = "" if g[4] == "*" else f" (name {g[4]})"
        return f"{g[1]} {g[2]} {g[3]}{name} {where}"

    return ", ".join(one(g) for g in sorted(grants, key=lambda g: (g[0] or "", *g[1:]))) or "(none)"


# --------------------------------------------------------------------------------------------
# values.yaml documentation: every value has a `# --` comment (directly or on an enclosing block)


def documented_values() -> tuple[list[tuple[str, str, str]], list[str]]:
    """Return ([(path, default, description)], [undocumented leaf paths]) from values.yaml."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    defaults = yaml.safe_load("\n".join(lines)) or {}
    key_re = re.compile(r"^(\s*)([A-Za-z0-9_.\-/]+):(.*)$")
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    rows: list[tuple[str, str, str]] = []
    undocumented: list[str] = []
    comment: list[str] = []
    in_list_indent: int | None = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if text.startswith("--"):
                comment = [text[2:].strip()]
            elif comment:
                comment.append(text)
            continue
        indent = len(line) - len(line.lstrip())
        if in_list_indent is not None:
            if indent > in_list_indent or stripped.startswith("-"):
                comment = []
                continue
            in_list_indent = None
        match = key_re.match(line)
        if not match or stripped.startswith("-"):
            comment = []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match.group(2)
        inline = match.group(3).strip()
        path = ".".join([s[1] for s in stack] + [key])
        inherited = any(s[2] for s in stack)
        own = bool(comment)
        # Does the key open a block (children on the following lines)?
        following = next(
            (l for l in lines[index + 1 :] if l.strip() and not l.strip().startswith("#")), ""
        )
        follow_indent = len(following) - len(following.lstrip())
        opens_list = inline == "" and following.strip().startswith("-") and follow_indent >= indent
        has_children = inline == "" and (follow_indent > indent or opens_list)
        if own and not inherited:
            value: Any = defaults
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            default = json.dumps(value)
            rows.append((path, default, " ".join(comment)))
        if not has_children and not own and not inherited:
            undocumented.append(path)
        if opens_list:
            in_list_indent = indent
        else:
            stack.append((indent, key, own or inherited))
        comment = []
    return rows, undocumented


def values_table() -> str:
    rows, _ = documented_values()
    out = ["| value | default | description |", "|---|---|---|"]
    for path, default, description in rows:
        if len(default) > 60:
            default = "see values.yaml"
        description = description.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        out.append(f"| `{path}` | `{default}` | {description} |")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Checks


def check_chart_metadata(chart: "helm.Chart") -> None:
    meta = chart.metadata
    C.check("Chart.yaml: apiVersion v2", meta.get("apiVersion") == "v2", str(meta.get("apiVersion")))
    C.check("Chart.yaml: type application", meta.get("type") == "application", str(meta.get("type")))
    C.check("Chart.yaml: appVersion 0.1.0", meta.get("appVersion") == "0.1.0", str(meta.get("appVersion")))


def check_lint(values_files: list[str]) -> None:
    for name in values_files:
        values = load_values_file(name)
        report = helm.lint(str(CHART_DIR), values, strict=True, namespace=NAMESPACE)
        bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems = [f"[{m['severity']}] {m['path']}: {m['error'].strip()}" for m in bad]
        problems += [e.strip() for e in report.get("errors", [])]
        C.check(f"helm lint --strict with ci/{name}", not problems, "; ".join(problems))


def check_schema(chart: "helm.Chart", values_files: list[str]) -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    try:
        jsonschema.Draft7Validator.check_schema(schema)
        C.check("values.schema.json is a valid draft-07 schema", True)
    except jsonschema.SchemaError as exc:
        C.check("values.schema.json is a valid draft-07 schema", False, exc.message)
    C.check(
        "values.schema.json declares draft-07",
        schema.get("$schema") == "http://json-schema.org/draft-07/schema#",
        str(schema.get("$schema")),
    )

    # additionalProperties: false on every object the chart defines (free-form k8s objects excepted).
    loose: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            if node.get("additionalProperties") is not False:
                loose.append(path or "(root)")
            for key, sub in node["properties"].items():
                walk(sub, f"{path}.{key}" if path else key)
        for key in ("items",):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{path}[]")

    walk(schema, "")
    loose = [p for p in loose if p not in FREE_FORM_SCHEMA_PATHS]
    C.check("values.schema.json: additionalProperties false on every defined object", not loose, ", ".join(loose))

    defaults = chart.values
    validator = jsonschema.Draft7Validator(schema)
    for name in values_files:
        merged = deep_merge(defaults, load_values_file(name))
        errors = sorted(validator.iter_errors(merged), key=lambda e: list(e.path))
        C.check(
            f"jsonschema: defaults + ci/{name} are valid",
            not errors,
            "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors),
        )
        try:
            chart.validate_schema(merged)
            C.check(f"helm schema validation: defaults + ci/{name} are valid", True)
        except helm.HelmError as exc:
            C.check(f"helm schema validation: defaults + ci/{name} are valid", False, str(exc))


def expect_render_failure(chart: "helm.Chart", name: str, values: dict[str, Any], needle: str) -> None:
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        C.check(f"render fails: {name}", needle in str(exc), f"error does not mention {needle!r}: {exc}")
        return
    C.check(f"render fails: {name}", False, "rendered without error")


def check_bad_values(chart: "helm.Chart") -> None:
    expect_render_failure(chart, 'replicas: "two" (schema)', {"replicas": "two"}, "replicas")
    expect_render_failure(chart, "unknown top-level key (schema)", {"replica": 2}, "replica")
    expect_render_failure(chart, "unknown nested key (schema)", {"facade": {"enable": True}}, "enable")
    expect_render_failure(chart, "logFormat: yaml (schema)", {"logFormat": "yaml"}, "logFormat")
    expect_render_failure(
        chart, "facade enabled without credentialsSecret", {"facade": {"enabled": True}}, "credentialsSecret"
    )
    expect_render_failure(
        chart,
        "facade issuer without audience/jwksUrl",
        {"facade": {"enabled": True, "credentialsSecret": "x", "issuer": "https://issuer/"}},
        "must be set together",
    )
    expect_render_failure(
        chart,
        "replicas 2 without leader election",
        {"replicas": 2, "leaderElection": {"enabled": False}},
        "leaderElection",
    )
    expect_render_failure(
        chart, "ingress without facade", {"facade": {"ingress": {"enabled": True}}}, "facade.enabled"
    )
    creds = [{"namespace": "nexus-system", "name": "acme-m2m"}]
    expect_render_failure(
        chart, "watchNamespaces without credentialsSecrets", {"watchNamespaces": ["team-a"]}, "credentialsSecrets"
    )
    expect_render_failure(
        chart, "credentialsSecrets without watchNamespaces", {"credentialsSecrets": creds}, "watchNamespaces"
    )
    expect_render_failure(
        chart,
        "watchNamespace and watchNamespaces together",
        {"watchNamespace": "team-a", "watchNamespaces": ["team-b"], "credentialsSecrets": creds},
        "watchNamespaces only",
    )
    expect_render_failure(
        chart, "watchNamespaces: invalid name (schema)", {"watchNamespaces": ["Team_A"], "credentialsSecrets": creds}, "watchNamespaces"
    )
    expect_render_failure(
        chart,
        "watchNamespaces: duplicate (schema)",
        {"watchNamespaces": ["team-a", "team-a"], "credentialsSecrets": creds},
        "watchNamespaces",
    )
    expect_render_failure(
        chart,
        "credentialsSecrets without a name (schema)",
        {"watchNamespaces": ["team-a"], "credentialsSecrets": [{"namespace": "nexus-system"}]},
        "name",
    )


def check_common(label: str, chart: "helm.Chart", objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    merged = chart.merge_values(values)
    version = chart.metadata["appVersion"]
    chart_label = f"{chart.metadata['name']}-{chart.metadata['version']}"

    # Labels and namespaces on every object.
    missing: list[str] = []
    wrong_ns: list[str] = []
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels") or {}
        name = f"{obj['kind']}/{obj['metadata'].get('name')}"
        absent = [k for k in STANDARD_LABELS if not labels.get(k)]
        if absent:
            missing.append(f"{name} lacks {absent}")
        elif (
            labels["app.kubernetes.io/instance"] != RELEASE
            or labels["app.kubernetes.io/managed-by"] != "Helm"
            or labels["app.kubernetes.io/version"] != version
            or labels["helm.sh/chart"] != chart_label
        ):
            missing.append(f"{name} has wrong label values {labels}")
        namespace = obj["metadata"].get("namespace")
        rbac_namespaces = {NAMESPACE, *merged["watchNamespaces"], *(c["namespace"] for c in merged["credentialsSecrets"])}
        if obj["kind"] in CLUSTER_SCOPED_KINDS:
            if namespace is not None:
                wrong_ns.append(f"{name} is cluster-scoped but has namespace {namespace}")
        elif obj["kind"] in ("Role", "RoleBinding"):
            if namespace not in rbac_namespaces:
                wrong_ns.append(f"{name} namespace {namespace!r} is neither the release, a served nor a credentials namespace")
        elif namespace != NAMESPACE:
            wrong_ns.append(f"{name} namespace {namespace!r}")
    C.check(f"[{label}] every object has the standard labels", not missing, "; ".join(missing))
    C.check(
        f"[{label}] namespaced objects are in the release namespace (Roles: also served and credentials namespaces)",
        not wrong_ns,
        "; ".join(wrong_ns),
    )

    names = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    C.check(f"[{label}] no duplicate objects", len(names) == len(set(names)), str(names))

    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]
    pod_spec = pod["spec"]
    container = operator_container(objects)

    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = pod["metadata"].get("labels") or {}
    C.check(
        f"[{label}] Deployment selector matches pod labels",
        bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items()),
        f"{selector} vs {pod_labels}",
    )
    C.check(
        f"[{label}] pod template has the standard labels",
        all(pod_labels.get(k) for k in STANDARD_LABELS),
        str(pod_labels),
    )

    # Restricted pod security.
    psc = pod_spec.get("securityContext") or {}
    csc = container.get("securityContext") or {}
    run_as_non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    run_as_user = csc.get("runAsUser", psc.get("runAsUser"))
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    problems = []
    if run_as_non_root is not True:
        problems.append("runAsNonRoot is not true")
    if run_as_user != 65532:
        problems.append(f"runAsUser {run_as_user}")
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if csc.get("privileged"):
        problems.append("privileged")
    if (csc.get("capabilities") or {}).get("drop") != ["ALL"] or (csc.get("capabilities") or {}).get("add"):
        problems.append(f"capabilities {csc.get('capabilities')}")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"seccompProfile {seccomp}")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(field):
            problems.append(field)
    C.check(f"[{label}] pod and container security contexts are restricted", not problems, "; ".join(problems))

    # Probes on the probe listener's port, its own (not the metrics port, whose connections
    # anyone allowed to scrape could hold).
    probe = lambda kind: (container.get(kind) or {}).get("httpGet", {})
    probes_ok = (
        probe("livenessProbe").get("path") == "/healthz"
        and probe("startupProbe").get("path") == "/healthz"
        and probe("readinessProbe").get("path") == "/readyz"
        and all(probe(kind).get("port") == "probes" for kind in ("startupProbe", "livenessProbe", "readinessProbe"))
    )
    C.check(f"[{label}] startup and liveness /healthz, readiness /readyz on the probe port", probes_ok)
    container_ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    C.check(
        f"[{label}] the probe port is a container port of its own",
        container_ports.get("probes") == merged["probes"]["port"]
        and len(set(container_ports.values())) == len(container_ports),
        str(container_ports),
    )

    resources = container.get("resources") or {}
    C.check(
        f"[{label}] resource requests and memory limit set",
        bool(resources.get("requests", {}).get("cpu"))
        and bool(resources.get("requests", {}).get("memory"))
        and bool(resources.get("limits", {}).get("memory")),
        str(resources),
    )

    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    C.check(
        f"[{label}] /tmp is an emptyDir",
        "/tmp" in mounts and "emptyDir" in volumes.get(mounts["/tmp"], {}),
        str(mounts),
    )
    C.check(
        f"[{label}] terminationGracePeriodSeconds set for graceful shutdown",
        pod_spec.get("terminationGracePeriodSeconds") == merged["terminationGracePeriodSeconds"]
        and pod_spec.get("terminationGracePeriodSeconds", 0) >= 10,
        str(pod_spec.get("terminationGracePeriodSeconds")),
    )
    C.check(f"[{label}] container runs `run`", container.get("args") == ["run"] and "command" not in container)

    env = env_map(container)
    downward = (
        env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"
        and env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        == "metadata.namespace"
    )
    C.check(f"[{label}] POD_NAME and POD_NAMESPACE come from the downward API", downward)
    expected_env = {
        "NEXUS_CLUSTER_ID": merged["clusterId"],
        "NEXUS_LOG_FORMAT": merged["logFormat"],
        "NEXUS_METRICS_ADDR": f"0.0.0.0:{merged['metrics']['port']}",
        "NEXUS_PROBE_ADDR": f"0.0.0.0:{merged['probes']['port']}",
        "NEXUS_PROBE_MAX_CONNECTIONS": str(merged["probes"]["maxConnections"]),
        "NEXUS_LEADER_ELECTION": str(merged["leaderElection"]["enabled"]).lower(),
        "NEXUS_LEASE_NAMESPACE": NAMESPACE,
        "NEXUS_FACADE": str(merged["facade"]["enabled"]).lower(),
    }
    served = ",".join(merged["watchNamespaces"]) or merged["watchNamespace"]
    if served:
        expected_env["NEXUS_WATCH_NAMESPACES"] = served
    elif "NEXUS_WATCH_NAMESPACES" in env:
        expected_env["NEXUS_WATCH_NAMESPACES (should be unset)"] = None
    wrong = {k: env.get(k, {}).get("value") for k, v in expected_env.items() if env.get(k, {}).get("value") != v}
    if merged["logLevel"]:
        if env.get("RUST_LOG", {}).get("value") != merged["logLevel"]:
            wrong["RUST_LOG"] = env.get("RUST_LOG", {}).get("value")
    elif "RUST_LOG" in env:
        wrong["RUST_LOG (should be unset)"] = env["RUST_LOG"].get("value")
    C.check(f"[{label}] operator env matches values", not wrong, str(wrong))
    names_list = [e["name"] for e in container.get("env", [])]
    C.check(f"[{label}] no duplicate env names", len(names_list) == len(set(names_list)), str(names_list))

    image = container["image"]
    if merged["image"]["digest"]:
        image_ok = image == f"{merged['image']['repository']}@{merged['image']['digest']}"
    else:
        image_ok = image == f"{merged['image']['repository']}:{merged['image']['tag'] or version}"
    C.check(f"[{label}] image reference", image_ok, image)

    # ServiceAccount wiring.
    sa_name = pod_spec.get("serviceAccountName")
    sas = [o["metadata"]["name"] for o in by_kind(objects, "ServiceAccount")]
    if merged["serviceAccount"]["create"]:
        C.check(f"[{label}] pod uses the chart's ServiceAccount", sa_name in sas, f"{sa_name} not in {sas}")
    else:
        C.check(
            f"[{label}] pod uses the existing ServiceAccount serviceAccount.name",
            not sas and sa_name == (merged["serviceAccount"]["name"] or "default"),
            f"{sa_name}, rendered {sas}",
        )
    C.check(
        f"[{label}] operator mounts its API token",
        pod_spec.get("automountServiceAccountToken") is True,
        str(pod_spec.get("automountServiceAccountToken")),
    )

    check_rbac(label, objects, merged, sa_name)

    # Service ports and facade.
    service = one(objects, "Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    cports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    facade = merged["facade"]["enabled"]
    C.check(
        f"[{label}] Service selects the operator pods",
        service["spec"]["selector"] == selector,
        f"{service['spec']['selector']} vs {selector}",
    )
    C.check(
        f"[{label}] metrics port on Service and container",
        "metrics" in ports and cports.get("metrics") == merged["metrics"]["port"],
        f"{ports} {cports}",
    )
    C.check(
        f"[{label}] facade port on Service and container only when facade.enabled={facade}",
        ("facade" in ports) == facade and ("facade" in cports) == facade,
        f"service ports {sorted(ports)}, container ports {sorted(cports)}",
    )
    facade_env = sorted(k for k in env if k.startswith("NEXUS_FACADE_"))
    C.check(
        f"[{label}] facade settings in env only when facade.enabled={facade}",
        bool(facade_env) == facade,
        str(facade_env),
    )

    # Optional objects.
    sm_enabled = merged["metrics"]["serviceMonitor"]["enabled"]
    sms = by_kind(objects, "ServiceMonitor")
    C.check(f"[{label}] ServiceMonitor present iff enabled ({sm_enabled})", len(sms) == int(sm_enabled))
    if sms:
        endpoint = sms[0]["spec"]["endpoints"][0]
        C.check(
            f"[{label}] ServiceMonitor scrapes /metrics on the Service's metrics port",
            endpoint.get("port") == "metrics"
            and endpoint.get("path") == "/metrics"
            and sms[0]["spec"]["selector"]["matchLabels"] == selector
            and sms[0]["apiVersion"] == "monitoring.coreos.com/v1",
        )

    np_enabled = merged["networkPolicy"]["enabled"]
    nps = by_kind(objects, "NetworkPolicy")
    C.check(f"[{label}] NetworkPolicy present iff enabled ({np_enabled})", len(nps) == int(np_enabled))
    if nps:
        spec = nps[0]["spec"]
        ingress_ports = sorted(p["port"] for rule in spec.get("ingress", []) for p in rule.get("ports", []))
        expected_ports = sorted([merged["metrics"]["port"]] + ([merged["facade"]["port"]] if facade else []))
        C.check(
            f"[{label}] NetworkPolicy opens no rule to the probe port",
            merged["probes"]["port"] not in ingress_ports,
            str(ingress_ports),
        )
        C.check(
            f"[{label}] NetworkPolicy ingress only to metrics/facade ports",
            ingress_ports == expected_ports and all(rule.get("ports") for rule in spec.get("ingress", [])),
            f"{ingress_ports} != {expected_ports}",
        )
        egress_ports = {(p.get("protocol", "TCP"), p["port"]) for rule in spec.get("egress", []) for p in rule.get("ports", [])}
        needed = {("UDP", 53), ("TCP", 53), ("TCP", 443)} | {("TCP", p) for p in merged["networkPolicy"]["apiServer"]["ports"]}
        C.check(
            f"[{label}] NetworkPolicy egress allows DNS, API server and HTTPS",
            needed <= egress_ports
            and all(rule.get("ports") for rule in spec.get("egress", []))
            and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"},
            f"egress ports {sorted(egress_ports)}",
        )
        C.check(
            f"[{label}] NetworkPolicy selects the operator pods",
            spec["podSelector"]["matchLabels"] == selector,
        )

    replicas = merged["replicas"]
    pdb_expected = merged["podDisruptionBudget"]["enabled"] and replicas > 1
    pdbs = by_kind(objects, "PodDisruptionBudget")
    C.check(
        f"[{label}] PodDisruptionBudget present iff enabled and replicas > 1 ({pdb_expected})",
        len(pdbs) == int(pdb_expected),
    )
    if pdbs:
        C.check(
            f"[{label}] PodDisruptionBudget minAvailable and selector",
            pdbs[0]["spec"].get("minAvailable") == merged["podDisruptionBudget"]["minAvailable"]
            and pdbs[0]["spec"]["selector"]["matchLabels"] == selector
            and (not isinstance(pdbs[0]["spec"]["minAvailable"], int) or pdbs[0]["spec"]["minAvailable"] < replicas),
            str(pdbs[0]["spec"]),
        )

    ingress_expected = facade and merged["facade"]["ingress"]["enabled"]
    ingresses = by_kind(objects, "Ingress")
    C.check(f"[{label}] Ingress present iff facade and ingress enabled ({ingress_expected})", len(ingresses) == int(ingress_expected))
    if ingresses:
        backends = [
            p["backend"]["service"]
            for rule in ingresses[0]["spec"]["rules"]
            for p in rule["http"]["paths"]
        ]
        C.check(
            f"[{label}] Ingress routes to the facade port of the Service",
            bool(backends)
            and all(b["name"] == service["metadata"]["name"] and b["port"].get("name") == "facade" for b in backends),
            str(backends),
        )

    if merged["leaderElection"]["enabled"]:
        C.check(
            f"[{label}] lease name env matches the Role's resourceNames",
            not by_kind(objects, "Role")
            or any(
                env.get("NEXUS_LEASE_NAME", {}).get("value") in (rule.get("resourceNames") or [])
                for role in by_kind(objects, "Role")
                for rule in role["rules"]
            ),
        )

    affinity = pod_spec.get("affinity") or {}
    if replicas > 1 and not merged["affinity"] and merged["podAntiAffinity"] == "soft":
        C.check(
            f"[{label}] soft pod anti-affinity spreads replicas",
            bool(affinity.get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution")),
            str(affinity),
        )


def check_rbac(label: str, objects: list[dict[str, Any]], merged: dict[str, Any], sa_name: str) -> None:
    if not merged["rbac"]["create"]:
        rbac = [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]
        C.check(f"[{label}] rbac.create=false renders no RBAC objects", not rbac, str([o["kind"] for o in rbac]))
        return

    namespaced = bool(merged["watchNamespaces"])
    mode = "namespaced" if namespaced else "cluster-wide"
    expected = expected_grants(merged)
    cluster_roles = {r["metadata"]["name"]: r for r in by_kind(objects, "ClusterRole")}
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in by_kind(objects, "Role")}
    problems: list[str] = []
    for cr in cluster_roles.values():
        if cr.get("aggregationRule"):
            problems.append(f"aggregationRule on ClusterRole {cr['metadata']['name']}")

    # What the bindings grant, and where.
    total: set[Grant] = set()
    binding_problems: list[str] = []
    bound: set[tuple[str, str | None, str]] = set()
    bindings = by_kind(objects, "ClusterRoleBinding") + by_kind(objects, "RoleBinding")
    for binding in bindings:
        where = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        ref_kind, ref_name = binding["roleRef"]["kind"], binding["roleRef"]["name"]
        role = cluster_roles.get(ref_name) if ref_kind == "ClusterRole" else roles.get((where, ref_name))
        if role is None:
            binding_problems.append(f"{binding['kind']} {where}/{binding['metadata']['name']} refers to missing {ref_kind} {ref_name}")
            continue
        bound.add((ref_kind, role["metadata"].get("namespace"), ref_name))
        grants, shape = granted(role.get("rules", []), where)
        total |= grants
        problems += shape
        subjects = binding.get("subjects") or []
        if subjects != [{"kind": "ServiceAccount", "name": sa_name, "namespace": NAMESPACE}]:
            binding_problems.append(f"{binding['metadata']['name']} subjects {subjects}")
    rendered_roles = {("ClusterRole", None, n) for n in cluster_roles} | {("Role", ns, n) for ns, n in roles}
    if rendered_roles - bound:
        binding_problems.append(f"unbound roles {sorted(rendered_roles - bound, key=str)}")
    C.check(f"[{label}] RBAC rules have no wildcards or nonResourceURLs", not problems, "; ".join(problems))
    C.check(
        f"[{label}] (Cluster)RoleBindings bind each role to the operator ServiceAccount only",
        not binding_problems,
        "; ".join(binding_problems),
    )

    missing = expected - total
    extra = total - expected
    C.check(f"[{label}] {mode} RBAC grants every call of tests/rbac/api-calls.txt where it is made", not missing, f"missing: {fmt(missing)}")
    C.check(f"[{label}] {mode} RBAC grants nothing beyond tests/rbac/api-calls.txt", not extra, f"extra: {fmt(extra)}")
    if namespaced:
        cluster_secrets = {g for g in total if g[0] is None and g[1] == "core" and g[2] == "secrets"}
        C.check(f"[{label}] namespaced RBAC: no cluster-wide access to Secrets", not cluster_secrets, fmt(cluster_secrets))
        unnamed = {
            g for g in total
            if g[1] == "core" and g[2] == "secrets" and g[4] == "*" and g[0] not in merged["watchNamespaces"]
        }
        C.check(
            f"[{label}] namespaced RBAC: Secrets outside the served namespaces only by name",
            not unnamed,
            fmt(unnamed),
        )


def check_crds(chart: "helm.Chart") -> None:
    top = sorted(TOP_CRDS.glob("*.yaml")) if TOP_CRDS.is_dir() else []
    if not top:
        print("skip - CRD copies: crds/*.yaml does not exist yet (generated by `nexus-operator crd`); not compared")
        return
    copies = sorted(CHART_CRDS.glob("*.yaml")) if CHART_CRDS.is_dir() else []
    top_names = [p.name for p in top]
    copy_names = [p.name for p in copies]
    C.check(
        "chart crds/ holds the same files as crds/",
        top_names == copy_names,
        f"crds/: {top_names}, chart: {copy_names} (run hack/sync-chart-crds.sh)",
    )
    different = [p.name for p in top if (CHART_CRDS / p.name).exists() and not filecmp.cmp(p, CHART_CRDS / p.name, shallow=False)]
    C.check("chart CRD copies are identical to crds/", not different, f"differ: {different} (run hack/sync-chart-crds.sh)")
    kinds = set()
    for path in copies:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kinds.add((doc.get("kind"), doc.get("spec", {}).get("group"), doc.get("spec", {}).get("names", {}).get("kind")))
    C.check(
        "chart CRDs define AuthClient, AuthResourceServer and AuthTenant in auth.nexus.dev",
        {
            ("CustomResourceDefinition", "auth.nexus.dev", "AuthClient"),
            ("CustomResourceDefinition", "auth.nexus.dev", "AuthResourceServer"),
            ("CustomResourceDefinition", "auth.nexus.dev", "AuthTenant"),
        }
        <= kinds,
        str(sorted(map(str, kinds))),
    )
    loaded = {c.get("filename") or c.get("name") for c in chart.crds}
    C.check("Helm loads the chart CRDs", len(chart.crds) >= len(copies), str(loaded))


def check_notes(chart: "helm.Chart") -> None:
    text = notes(chart, {})
    C.check(
        "NOTES.txt explains checking the operator, creating an AuthTenant, listing AuthClients",
        "rollout status" in text and "AuthTenant" in text and "kubectl get authclients" in text,
    )
    text = notes(chart, {"facade": {"enabled": True, "credentialsSecret": "creds"}})
    C.check("NOTES.txt mentions the facade when enabled", "/v1/tenants/" in text)
    text = notes(chart, load_values_file("namespaced-values.yaml"))
    C.check(
        "NOTES.txt names the served namespaces and the readable credentials Secrets in the namespaced mode",
        "team-orders, team-billing" in text and "nexus-system/acme-auth0-m2m" in text and "CredentialsForbidden" in text,
        text,
    )


def check_values_docs() -> None:
    rows, undocumented = documented_values()
    C.check("values.yaml: every value has a `# --` comment", not undocumented, ", ".join(undocumented))
    if HELM_DOC.exists():
        doc = HELM_DOC.read_text()
        absent = [path for path, _, _ in rows if f"`{path}`" not in doc]
        C.check(
            "docs/helm.md values table lists every value",
            not absent,
            f"absent: {absent} (regenerate with python3 hack/chart-check.py --values-table)",
        )
    else:
        C.check("docs/helm.md exists", False)


def check_dockerfile(chart: "helm.Chart") -> None:
    if not DOCKERFILE.exists():
        C.check("Dockerfile exists", False)
        return
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    uid = chart.values["securityContext"]["runAsUser"]
    C.check(
        "Dockerfile final USER matches the chart's runAsUser",
        bool(users) and users[-1].split(":")[0] == str(uid),
        f"USER {users[-1] if users else None} vs runAsUser {uid}",
    )
    C.check(
        'Dockerfile ENTRYPOINT ["/nexus-operator"] and CMD ["run"]',
        re.search(r'^ENTRYPOINT\s+\["/nexus-operator"\]', text, re.M) is not None
        and re.search(r'^CMD\s+\["run"\]', text, re.M) is not None,
    )
    C.check(
        "Dockerfile builds the production profile with --locked and without the dev feature",
        re.search(r"cargo build --profile production --locked .*--no-default-features", text) is not None
        and "target/production/nexus-operator" in text,
    )


def check_health_lua() -> None:
    try:
        import lupa.lua51 as lua51  # Argo CD runs health checks with gopher-lua (Lua 5.1)
    except ImportError:
        C.check("lupa (Lua 5.1) available for the Argo CD health check test", False, "pip install lupa")
        return
    text = HEALTH_DOC.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    configmaps = [d for b in blocks for d in yaml.safe_load_all(b) if isinstance(d, dict) and d.get("kind") == "ConfigMap"]
    if not C.check("docs/gitops-health.md has an argocd-cm ConfigMap", len(configmaps) == 1):
        return
    data = configmaps[0].get("data", {})
    for kind in ("AuthClient", "AuthResourceServer", "AuthTenant"):
        key = f"resource.customizations.health.auth.nexus.dev_{kind}"
        script = data.get(key)
        if not C.check(f"argocd-cm has {key}", bool(script)):
            continue

        def status(obj: dict[str, Any]) -> tuple[str, str]:
            runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
            runtime.globals()["obj"] = runtime.table_from(obj, recursive=True)
            result = runtime.execute(script)
            return result["status"], result["message"]

        def reasons(table: str) -> list[str]:
            body = re.search(r"local %s = \{(.*?)\}" % table, script, re.S)
            return re.findall(r"(\w+)\s*=\s*true", body.group(1)) if body else []

        permanent, progressing = reasons("permanent"), reasons("progressing")
        C.check(f"Argo CD health Lua for {kind} has permanent and progressing reason tables", bool(permanent) and bool(progressing))

        def obj(generation: int, observed: int | None, ready: str | None, reason: str = "") -> dict[str, Any]:
            o: dict[str, Any] = {"apiVersion": "auth.nexus.dev/v1alpha1", "kind": kind, "metadata": {"name": "x", "generation": generation}}
            status_: dict[str, Any] = {}
            if observed is not None:
                status_["observedGeneration"] = observed
            if ready is not None:
                status_["conditions"] = [
                    {"type": "Other", "status": "False", "reason": "Whatever", "message": "m"},
                    {"type": "Ready", "status": ready, "reason": reason, "message": "details"},
                ]
            if status_ or observed is not None:
                o["status"] = status_
            return o

        cases: list[tuple[str, dict[str, Any], str]] = [
            ("no status", obj(1, None, None), "Progressing"),
            ("observed and Ready=True", obj(3, 3, "True", "Synced"), "Healthy"),
            ("stale generation with Ready=True", obj(4, 3, "True", "Synced"), "Progressing"),
            ("no Ready condition", obj(2, 2, None), "Progressing"),
            ("Ready=False RateLimited", obj(2, 2, "False", "RateLimited"), "Progressing"),
            ("Ready=False Auth0Unavailable", obj(2, 2, "False", "Auth0Unavailable"), "Progressing"),
            ("Ready=False TenantNotReady", obj(2, 2, "False", "TenantNotReady"), "Progressing"),
            ("Ready=False Deleting", obj(2, 2, "False", "Deleting"), "Progressing"),
            ("Ready=Unknown", obj(2, 2, "Unknown", "Reconciling"), "Progressing"),
            ("stale generation with Ready=False InvalidSpec", obj(5, 4, "False", "InvalidSpec"), "Progressing"),
        ] + [(f"Ready=False {r}", obj(2, 2, "False", r), "Degraded") for r in permanent] + [
            (f"Ready=False {r}", obj(2, 2, "False", r), "Progressing") for r in progressing
        ]
        wrong = []
        for name, o, want in cases:
            try:
                got, _ = status(o)
            except Exception as exc:  # noqa: BLE001
                got = f"error {exc}"
            if got != want:
                wrong.append(f"{name}: got {got}, want {want}")
        C.check(f"Argo CD health Lua for {kind}: {len(cases)} cases", not wrong, "; ".join(wrong))


# --------------------------------------------------------------------------------------------


def main() -> int:
    if "--values-table" in sys.argv[1:]:
        print(values_table())
        return 0

    print(f"chart-check: Helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__})")
    chart = C.run("load chart", lambda: helm.Chart.load(str(CHART_DIR)))
    if chart is None:
        print(f"chart: {C.passed} passed, {C.failed} failed")
        return 1
    C.check("load chart", True)

    values_files = sorted(p.name for p in (CHART_DIR / "ci").glob("*.yaml"))
    C.check(
        "ci/ has default-values.yaml, all-features-values.yaml and namespaced-values.yaml (both RBAC modes)",
        {"default-values.yaml", "all-features-values.yaml", "namespaced-values.yaml"} <= set(values_files),
        str(values_files),
    )

    C.run("chart metadata", lambda: check_chart_metadata(chart))
    C.run("helm lint", lambda: check_lint(values_files))
    C.run("values schema", lambda: check_schema(chart, values_files))
    C.run("bad values", lambda: check_bad_values(chart))

    scenarios: list[tuple[str, dict[str, Any]]] = [(f"ci/{n}", load_values_file(n)) for n in values_files]
    scenarios += [
        ("replicas=1", {"replicas": 1}),
        ("facade only", {"facade": {"enabled": True, "credentialsSecret": "nexus-facade-credentials"}}),
        ("rbac.create=false", {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "custom"}}),
        ("custom fullname", {"fullnameOverride": "auth-operator", "image": {"tag": "0.1.0-rc.1"}}),
        (
            "namespaced without the facade",
            {
                "watchNamespaces": ["team-a"],
                "credentialsSecrets": [{"namespace": "nexus-system", "name": "acme-m2m"}],
                "leaderElection": {"leaseName": "custom-lease"},
            },
        ),
        (
            "namespaced, rbac.create=false",
            {"watchNamespaces": ["team-a", "team-b"], "rbac": {"create": False}},
        ),
        ("deprecated watchNamespace (cluster-wide RBAC)", {"watchNamespace": "team-a"}),
    ]
    for label, values in scenarios:
        objects = C.run(f"[{label}] render", lambda v=values: render(chart, v))
        if objects is None:
            continue
        C.check(f"[{label}] render", True, "")
        C.run(f"[{label}] checks", lambda l=label, o=objects, v=values: check_common(l, chart, o, v))

    C.run("CRD copies", lambda: check_crds(chart))
    C.run("NOTES.txt", lambda: check_notes(chart))
    C.run("values documentation", check_values_docs)
    C.run("Dockerfile", lambda: check_dockerfile(chart))
    C.run("Argo CD health check", check_health_lua)

    print(f"chart: {C.passed} passed, {C.failed} failed")
    return 0 if C.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
