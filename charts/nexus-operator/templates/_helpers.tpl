{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "nexus-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or <release> when the release name already contains the chart name. */}}
{{- define "nexus-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* helm.sh/chart label value. */}}
{{- define "nexus-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (Deployment selectors are immutable). */}}
{{- define "nexus-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexus-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "nexus-operator.labels" -}}
{{ include "nexus-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nexus-operator
helm.sh/chart: {{ include "nexus-operator.chart" . }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "nexus-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nexus-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Lease name used for leader election. */}}
{{- define "nexus-operator.leaseName" -}}
{{- default (include "nexus-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Container image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "nexus-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The served namespaces for NEXUS_WATCH_NAMESPACES (comma-separated; empty: all). */}}
{{- define "nexus-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- .Values.watchNamespace }}
{{- end }}
{{- end }}

{{/*
  Rules of the served namespaces (the `served` lines of tests/rbac/api-calls.txt): in the
  ClusterRole in the cluster-wide mode, in a Role in each of watchNamespaces in the namespaced mode.
  A namespaced kind the operator serves is added here.
*/}}
{{- define "nexus-operator.servedRules" -}}
# AuthClients: the controller's watch and cache, the finalizer (JSON patch){{ if .Values.facade.enabled }}; the facade
# creates them (POST), reads them, replaces a refused spec (patch) and waits for Ready (watch){{ end }}.
- apiGroups: ["auth.nexus.dev"]
  resources: ["authclients"]
  verbs: [{{ if .Values.facade.enabled }}"get", "create", {{ end }}"list", "watch", "patch"]
# AuthResourceServers (Auth0 APIs): the controller's watch and cache, the finalizer (patch).
- apiGroups: ["auth.nexus.dev"]
  resources: ["authresourceservers"]
  verbs: ["list", "watch", "patch"]
# Status is written with server-side apply (no read of the subresource).
- apiGroups: ["auth.nexus.dev"]
  resources: ["authclients/status", "authresourceservers/status"]
  verbs: ["patch"]
# Each AuthClient's Secret: created (never overwriting a foreign one), then server-side applied;
# owned Secrets watched by label selector; a GET after a 409 on create{{ if .Values.facade.enabled }} and by the facade{{ end }}.
{{- if not .Values.watchNamespaces }}
# Cluster-wide, this also covers each AuthTenant's credentials Secret (watched by name){{ if .Values.facade.enabled }} and
# the facade's Secret{{ end }}.
{{- end }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Events on the AuthClients and AuthResourceServers (kube's Recorder writes events.k8s.io/v1;
# patch extends a series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Facade JWT settings are all-or-nothing; the facade needs its credentials Secret. */}}
{{- define "nexus-operator.validateValues" -}}
{{- if .Values.facade.enabled }}
{{- $f := .Values.facade }}
{{- if not $f.credentialsSecret }}
{{- fail "facade.credentialsSecret is required when facade.enabled=true (a Secret in the release namespace with the hashed ApplicationTokens and Basic users)" }}
{{- end }}
{{- if and (or $f.issuer $f.audience $f.jwksUrl) (not (and $f.issuer $f.audience $f.jwksUrl)) }}
{{- fail "facade.issuer, facade.audience and facade.jwksUrl must be set together (or all left empty for Basic-only authentication)" }}
{{- end }}
{{- end }}
{{- if and .Values.facade.ingress.enabled (not .Values.facade.enabled) }}
{{- fail "facade.ingress.enabled=true needs facade.enabled=true" }}
{{- end }}
{{- if and .Values.watchNamespace .Values.watchNamespaces }}
{{- fail "set watchNamespaces only (watchNamespace is its deprecated single-namespace form with cluster-wide RBAC)" }}
{{- end }}
{{- if and .Values.watchNamespaces .Values.rbac.create (not .Values.credentialsSecrets) }}
{{- fail "watchNamespaces is set (namespaced RBAC) but credentialsSecrets is empty: list the credentials Secret of every AuthTenant ([{namespace, name}]) so the operator may read them" }}
{{- end }}
{{- if and .Values.credentialsSecrets (not .Values.watchNamespaces) }}
{{- fail "credentialsSecrets only applies with watchNamespaces (the namespaced RBAC mode); the cluster-wide mode reads every Secret" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled=true (otherwise every replica would reconcile)" }}
{{- end }}
{{- end }}
