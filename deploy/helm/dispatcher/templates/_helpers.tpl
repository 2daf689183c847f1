{{/* Chart name, 63 characters at most. */}}
{{- define "dispatcher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release and chart, 63 characters at most. */}}
{{- define "dispatcher.fullname" -}}
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

{{- define "dispatcher.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels; pass (dict "ctx" $ "component" "frontend"). */}}
{{- define "dispatcher.labels" -}}
helm.sh/chart: {{ include "dispatcher.chart" .ctx }}
{{ include "dispatcher.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: dispatcher
{{- end }}

{{- define "dispatcher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dispatcher.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A model's name made fit for Kubernetes names: lowercase letters, digits and dashes. */}}
{{- define "dispatcher.modelKey" -}}
{{- regexReplaceAll "[^a-z0-9-]+" (lower .) "-" | trunc 30 | trimSuffix "-" }}
{{- end }}

{{/* Name of one model's vLLM Deployment and Service; pass (dict "ctx" $ "model" $model). */}}
{{- define "dispatcher.vllmName" -}}
{{- printf "%s-vllm-%s" (include "dispatcher.fullname" .ctx | trunc 24 | trimSuffix "-") (include "dispatcher.modelKey" .model.name) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dispatcher.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "dispatcher.postgresName" -}}
{{- printf "%s-postgresql" (include "dispatcher.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The secret and key holding the PostgreSQL password. */}}
{{- define "dispatcher.postgresSecret" -}}
{{- if .Values.postgresql.internal.enabled -}}
{{- default (include "dispatcher.postgresName" .) .Values.postgresql.internal.existingSecret }}
{{- else -}}
{{- required "postgresql.external.existingSecret is required when postgresql.internal.enabled is false" .Values.postgresql.external.existingSecret }}
{{- end }}
{{- end }}

{{- define "dispatcher.postgresPasswordKey" -}}
{{- if .Values.postgresql.internal.enabled }}{{ .Values.postgresql.internal.passwordKey }}{{ else }}{{ .Values.postgresql.external.passwordKey }}{{ end }}
{{- end }}

{{/* Environment giving ConnectionStrings__Postgres; the password stays in its Secret ($(PGPASSWORD) is expanded by Kubernetes). */}}
{{- define "dispatcher.postgresEnv" -}}
{{- $pg := .Values.postgresql }}
{{- $host := ternary (include "dispatcher.postgresName" .) $pg.external.host $pg.internal.enabled }}
{{- $port := ternary 5432 (int $pg.external.port) $pg.internal.enabled }}
{{- $db := ternary $pg.internal.database $pg.external.database $pg.internal.enabled }}
{{- $user := ternary $pg.internal.username $pg.external.username $pg.internal.enabled }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "dispatcher.postgresSecret" . }}
      key: {{ include "dispatcher.postgresPasswordKey" . }}
- name: ConnectionStrings__Postgres
  value: {{ printf "Host=%s;Port=%d;Database=%s;Username=%s;Password=$(PGPASSWORD)" (required "postgresql.external.host is required when postgresql.internal.enabled is false" $host) $port $db $user | quote }}
{{- end }}

{{- define "dispatcher.siloName" -}}
{{- printf "%s-silo" (include "dispatcher.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Orleans cluster's ids: the release's name unless set. */}}
{{- define "dispatcher.clusterId" -}}
{{- default (include "dispatcher.fullname" .) .Values.silo.clusterId }}
{{- end }}

{{/* The labels Orleans' Kubernetes hosting puts on (and looks for on) the silo pods. */}}
{{- define "dispatcher.orleansLabels" -}}
orleans/serviceId: {{ include "dispatcher.clusterId" . | quote }}
orleans/clusterId: {{ include "dispatcher.clusterId" . | quote }}
{{- end }}

{{/* The cluster settings every silo and Frontend (an Orleans client) shares, with the database connection. */}}
{{- define "dispatcher.clusterEnv" -}}
- name: ORLEANS_SERVICE_ID
  value: {{ include "dispatcher.clusterId" . | quote }}
- name: ORLEANS_CLUSTER_ID
  value: {{ include "dispatcher.clusterId" . | quote }}
- name: Dispatcher__Cluster__ServiceId
  value: {{ include "dispatcher.clusterId" . | quote }}
- name: Dispatcher__Cluster__ClusterId
  value: {{ include "dispatcher.clusterId" . | quote }}
{{- if .Values.silo.tls.enabled }}
- name: Dispatcher__Cluster__Tls__CertificatePath
  value: /etc/dispatcher/tls/tls.crt
- name: Dispatcher__Cluster__Tls__KeyPath
  value: /etc/dispatcher/tls/tls.key
- name: Dispatcher__Cluster__Tls__CaPath
  value: /etc/dispatcher/tls/ca.crt
{{- end }}
{{- end }}

{{/* The cluster's TLS Secret, mounted where clusterEnv points (silos, and frontends that are their clients). */}}
{{- define "dispatcher.tlsVolumeMount" -}}
{{- if .Values.silo.tls.enabled }}
- name: cluster-tls
  mountPath: /etc/dispatcher/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "dispatcher.tlsVolume" -}}
{{- if .Values.silo.tls.enabled }}
- name: cluster-tls
  secret:
    secretName: {{ required "silo.tls.secretName must name the Secret with tls.crt, tls.key and ca.crt" .Values.silo.tls.secretName }}
{{- end }}
{{- end }}
