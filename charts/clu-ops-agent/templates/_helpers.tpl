{{/* The labels every object of the release carries. */}}
{{- define "clu.labels" -}}
app.kubernetes.io/name: clu-ops-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The labels that select the agent's pods. */}}
{{- define "clu.selector" -}}
app.kubernetes.io/name: clu-ops-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The agent's configuration file: `config` with `modules` merged in. */}}
{{- define "clu.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "modules" .Values.modules -}}
{{- toYaml $config -}}
{{- end }}
