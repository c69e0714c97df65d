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
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled=true (otherwise every replica would reconcile)" }}
{{- end }}
{{- end }}
