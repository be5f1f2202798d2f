{{/*
What the code fixes, not a setting: each subgraph's port (service_kit::config::SUBGRAPH_PORTS)
and whom its code calls (`peer_url(...)` in each subgraphs/<name>/src: `router` is ROUTER_URL).
tools/deploy/check compares this with the code and with the rendered NetworkPolicies.
*/}}
{{- define "douyin-mall.topology" -}}
user: { port: 4001, calls: [] }
catalog: { port: 4002, calls: [] }
cart: { port: 4003, calls: [catalog] }
order: { port: 4004, calls: [catalog, cart, user] }
payment: { port: 4005, calls: [order] }
assistant: { port: 4006, calls: [router] }
{{- end }}

{{- define "douyin-mall.subgraphNames" -}}
[user, catalog, cart, order, payment, assistant]
{{- end }}

{{- define "douyin-mall.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "douyin-mall.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "douyin-mall.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "root" $ "component" "router"). */}}
{{- define "douyin-mall.labels" -}}
helm.sh/chart: {{ include "douyin-mall.chart" .root }}
{{ include "douyin-mall.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: douyin-mall
{{- end }}

{{/* What a Service and a NetworkPolicy select a workload's pods by. */}}
{{- define "douyin-mall.selectorLabels" -}}
app.kubernetes.io/name: {{ include "douyin-mall.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* `<fullname>-<component>`: the name of a workload's Deployment and Service. */}}
{{- define "douyin-mall.componentName" -}}
{{- printf "%s-%s" (include "douyin-mall.fullname" .root) .component }}
{{- end }}

{{/* The Service's full DNS name: the service registry. */}}
{{- define "douyin-mall.serviceHost" -}}
{{- printf "%s.%s.svc.%s" (include "douyin-mall.componentName" .) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* A subgraph's GraphQL URL (<NAME>_SUBGRAPH_URL); its /internal/* routes are siblings. */}}
{{- define "douyin-mall.subgraphUrl" -}}
{{- $topology := include "douyin-mall.topology" . | fromYaml }}
{{- $port := get (get $topology .component) "port" }}
{{- printf "http://%s:%v/graphql" (include "douyin-mall.serviceHost" .) $port }}
{{- end }}

{{/* The router's public GraphQL URL inside the cluster (ROUTER_URL). */}}
{{- define "douyin-mall.routerUrl" -}}
{{- printf "http://%s:%v/graphql" (include "douyin-mall.serviceHost" (dict "root" .root "component" "router")) .root.Values.router.port }}
{{- end }}

{{- define "douyin-mall.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* One subgraph's settings: subgraphDefaults with its entry of `subgraphs` merged over. */}}
{{- define "douyin-mall.subgraphValues" -}}
{{- $own := get .root.Values.subgraphs .component | default dict }}
{{- mergeOverwrite (deepCopy .root.Values.subgraphDefaults) (deepCopy $own) | toYaml }}
{{- end }}

{{/*
Every workload (the router and the subgraphs) with the settings the shared templates (HPA,
PDB, Service) use: name -> { port, replicaCount, autoscaling, podDisruptionBudget }.
*/}}
{{- define "douyin-mall.workloads" -}}
{{- $root := . }}
{{- $topology := include "douyin-mall.topology" . | fromYaml }}
{{- $all := dict "router" (dict "port" .Values.router.port "autoscaling" .Values.router.autoscaling "podDisruptionBudget" .Values.router.podDisruptionBudget "replicaCount" .Values.router.replicaCount) }}
{{- range $name := include "douyin-mall.subgraphNames" . | fromYamlArray }}
{{- $values := include "douyin-mall.subgraphValues" (dict "root" $root "component" $name) | fromYaml }}
{{- $_ := set $all $name (dict "port" (get (get $topology $name) "port") "autoscaling" $values.autoscaling "podDisruptionBudget" $values.podDisruptionBudget "replicaCount" $values.replicaCount) }}
{{- end }}
{{- toYaml $all }}
{{- end }}

{{/* A map of NAME: value as a container's env list (sorted by name). */}}
{{- define "douyin-mall.envMap" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* An env var from a referenced Secret; call with (dict "name" "REDIS_URL" "ref" .Values.secrets.redisUrl). */}}
{{- define "douyin-mall.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secrets: a Secret name for %s" .name) .ref.name }}
      key: {{ required (printf "secrets: a key for %s" .name) .ref.key }}
{{- end }}

{{/* Where referenced secret files are mounted. */}}
{{- define "douyin-mall.secretDir" -}}
/var/run/secrets/douyin-mall
{{- end }}

{{/* A projected-volume source for one referenced secret file. */}}
{{- define "douyin-mall.secretFile" -}}
- secret:
    name: {{ required (printf "secrets: a Secret name for %s" .path) .ref.name }}
    items:
      - key: {{ required (printf "secrets: a key for %s" .path) .ref.key }}
        path: {{ .path }}
{{- end }}

{{/* Pod placement and scheduling shared by every workload; call with (dict "root" $ "component" NAME "values" V). */}}
{{- define "douyin-mall.podScheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "douyin-mall.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "douyin-mall.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
{{- end }}
{{- end }}

{{/* Prometheus scrape annotations of a pod. */}}
{{- define "douyin-mall.metricsAnnotations" -}}
{{- if .root.Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}
