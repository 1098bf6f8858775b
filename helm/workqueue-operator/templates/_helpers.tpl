{{/* Names and labels shared by the templates. */}}

{{- define "workqueue-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workqueue-operator.fullname" -}}
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

{{- define "workqueue-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workqueue-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "workqueue-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "workqueue-operator.labels" -}}
helm.sh/chart: {{ include "workqueue-operator.chart" . }}
{{ include "workqueue-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: workqueue-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "workqueue-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "workqueue-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "workqueue-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The namespaces the operator watches when rbac.namespaced (default: the release's). */}}
{{- define "workqueue-operator.watchedNamespaces" -}}
{{- $namespaces := .Values.rbac.namespaces | default (list .Release.Namespace) }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{/* The namespaces that get a NetworkPolicy for their managers. */}}
{{- define "workqueue-operator.policyNamespaces" -}}
{{- $namespaces := .Values.networkPolicy.namespaces }}
{{- if not $namespaces }}
{{- if .Values.rbac.namespaced }}
{{- $namespaces = include "workqueue-operator.watchedNamespaces" . | fromJsonArray }}
{{- else }}
{{- $namespaces = list .Release.Namespace }}
{{- end }}
{{- end }}
{{- toJson (uniq $namespaces) }}
{{- end }}
