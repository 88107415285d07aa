{{/*
The chart name, or nameOverride.
*/}}
{{- define "connectivity-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name when it already contains
the chart name, else "<release>-<chart>". Truncated to 63 characters (DNS label limit).
*/}}
{{- define "connectivity-operator.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "connectivity-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "connectivity-operator.labels" -}}
helm.sh/chart: {{ include "connectivity-operator.chart" . }}
app.kubernetes.io/name: {{ include "connectivity-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: connectivity-operator
{{- end }}

{{/*
Labels that select the manager pods (immutable in the Deployment: never change them).
*/}}
{{- define "connectivity-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "connectivity-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end }}

{{/*
The manager's ServiceAccount.
*/}}
{{- define "connectivity-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "connectivity-operator.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The manager image: repository@digest when image.digest is set (the digest pins the multi-arch
index, so the tag is ignored), else repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "connectivity-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The name of the metrics port: https when metrics are secure, http otherwise.
*/}}
{{- define "connectivity-operator.metricsPortName" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end }}
{{- end }}

{{/*
The metrics Service's name: "<fullname>-metrics-service", within the 63 characters of a DNS label.
*/}}
{{- define "connectivity-operator.metricsServiceName" -}}
{{- printf "%s-metrics-service" (include "connectivity-operator.fullname" . | trunc 47 | trimSuffix "-") }}
{{- end }}
