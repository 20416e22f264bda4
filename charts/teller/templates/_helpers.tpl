{{/* Names and labels shared by every object. */}}
{{- define "teller.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "teller.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "teller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (include "teller.fullname" .) .Values.serviceAccount.name }}{{ else }}{{ required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{- define "teller.image" -}}
{{- $image := ternary .Values.gpu.image .Values.image .Values.gpu.enabled -}}
{{ $image.repository }}:{{ $image.tag }}
{{- end }}

{{- define "teller.agentTokenSecret" -}}
{{- default (printf "%s-agent-token" (include "teller.fullname" .)) .Values.agentToken.existingSecret }}
{{- end }}

{{/* The canary percent as a string ("" when no canary is set); --set gives ints, values files floats. */}}
{{- define "teller.canary" -}}
{{- if not (kindIs "invalid" .Values.rollout.canaryPercent) }}{{ .Values.rollout.canaryPercent | int }}{{ end }}
{{- end }}

{{- define "teller.postgresName" -}}
{{ include "teller.fullname" . }}-postgres
{{- end }}

{{/* Non-root, no privilege escalation, read-only root filesystem: every container. */}}
{{- define "teller.containerSecurity" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The serving container's environment: settings, the audit database URL and the agent token from Secrets. */}}
{{- define "teller.env" -}}
- name: TELLER_SERVE__BUNDLE
  value: /mnt/models/bundle
- name: TELLER_RAG__KB_DIR
  value: /mnt/models/kb
- name: TELLER_SERVE__MAX_BATCH_SIZE
  value: {{ .Values.serve.maxBatchSize | quote }}
- name: TELLER_SERVE__BATCH_WAIT_TIMEOUT_S
  value: {{ .Values.serve.batchWaitTimeoutS | quote }}
- name: TELLER_SERVE__HANDOFF_CONFIDENCE
  value: {{ .Values.serve.handoffConfidence | quote }}
- name: TELLER_SERVE__CLASSIFIER_GPUS
  value: {{ ternary .Values.gpu.count 0 .Values.gpu.enabled | quote }}
- name: TELLER_SERVE__SPIN_THREADS
  value: {{ .Values.serve.spinThreads | quote }}
- name: TELLER_SERVE__RAY_THROUGHPUT_OPTIMIZED
  value: {{ .Values.serve.rayThroughputOptimized | quote }}
{{- /* Read by `ray start` and every Ray process it starts, before any Teller code runs. */}}
- name: RAY_SERVE_THROUGHPUT_OPTIMIZED
  value: {{ ternary "1" "0" .Values.serve.rayThroughputOptimized | quote }}
{{- /* That mode also turns on direct ingress, which leaves Serve's proxy on the head alone; each node keeps its own
proxy, so KubeRay's serve Service balances traffic over every node. */}}
- name: RAY_SERVE_ENABLE_DIRECT_INGRESS
  value: "0"
{{- $canary := include "teller.canary" . }}
- name: TELLER_SERVE__ROLE
  value: {{ ternary "canary" "champion" (and (ne $canary "") (lt (atoi (default "100" $canary)) 100)) }}
- name: TELLER_SERVE__TRAFFIC_PERCENT
  value: {{ default "100" $canary | quote }}
{{- if .Values.mlflow.trackingUri }}
- name: MLFLOW_TRACKING_URI
  value: {{ .Values.mlflow.trackingUri | quote }}
{{- end }}
- name: TELLER_SERVE__AGENT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "teller.agentTokenSecret" . }}
      key: {{ .Values.agentToken.key }}
{{- include "teller.databaseEnv" . }}
{{- end }}

{{/* The audit database URL: the chart's Postgres (password from its Secret) or an external URL from a Secret. */}}
{{- define "teller.databaseEnv" -}}
{{- if .Values.database.postgres.enabled }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "teller.postgresName" . }}
      key: password
- name: TELLER_SERVE__DATABASE_URL
  value: postgresql+psycopg://teller:$(POSTGRES_PASSWORD)@{{ include "teller.postgresName" . }}:5432/teller
{{- else }}
- name: TELLER_SERVE__DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required when database.postgres.enabled is false" .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
{{- end }}
{{- end }}
