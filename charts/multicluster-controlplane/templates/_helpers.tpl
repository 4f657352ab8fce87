{{/* Labels every object carries. */}}
{{- define "mcp.labels" -}}
app.kubernetes.io/name: multicluster-controlplane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "mcp.selector" -}}
app: multicluster-controlplane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Cluster-scoped objects carry the release namespace: several releases, one per
namespace, do not collide. */}}
{{- define "mcp.clusterName" -}}
open-cluster-management:multicluster-controlplane:{{ .Release.Namespace }}
{{- end }}

{{/* At most one way of exposing the hub. */}}
{{- define "mcp.validate" -}}
{{- $exposed := 0 }}
{{- range (list .Values.route.enabled .Values.loadbalancer.enabled .Values.nodeport.enabled) }}
{{- if . }}{{ $exposed = add1 $exposed }}{{ end }}
{{- end }}
{{- if gt $exposed 1 }}
{{- fail "route, loadbalancer and nodeport: enable at most one of them" }}
{{- end }}
{{- if and .Values.nodeport.enabled (not .Values.nodeport.port) }}
{{- fail "nodeport.port must be set when nodeport is enabled" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (ne .Values.etcd.mode "external") }}
{{- fail "replicas > 1 needs etcd.mode=external (the embedded store is one process's)" }}
{{- end }}
{{- if and (eq .Values.etcd.mode "external") (not .Values.etcd.servers) }}
{{- fail "etcd.servers must list the etcd client URLs when etcd.mode is external" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not (and .Values.apiserver.ca .Values.apiserver.serviceAccountKey)) }}
{{- fail "replicas > 1 share one hub identity: set apiserver.ca, apiserver.cakey and apiserver.serviceAccountKey" }}
{{- end }}
{{- if and (eq .Values.etcd.mode "external") (not (and .Values.apiserver.ca .Values.apiserver.serviceAccountKey)) }}
{{- fail "etcd.mode=external keeps the hub's data outside the pod: set apiserver.ca, apiserver.cakey and apiserver.serviceAccountKey so that a replaced pod keeps the identity its data was written with" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.enableDelegatingAuthentication) }}
{{- fail "serviceMonitor.enabled needs enableDelegatingAuthentication=true: Prometheus presents a token of the hosting cluster, which the hub checks with that cluster" }}
{{- end }}
{{- if and .Values.apiserver.ca (not .Values.apiserver.cakey) }}
{{- fail "apiserver.cakey must be set together with apiserver.ca" }}
{{- end }}
{{- end }}

{{/* The hub's feature gates from "Name=bool,..." (the Go chart's `features`). */}}
{{- define "mcp.featureGates" -}}
{{- $known := list "ManagedClusterAutoApproval" "DefaultClusterSet" }}
{{- $gates := dict }}
{{- range (splitList "," .Values.features) }}
{{- $pair := splitList "=" (trim .) }}
{{- if and (ne (trim .) "") (ne (len $pair) 2) }}
{{- fail (printf "features: %q is not Name=true|false" .) }}
{{- end }}
{{- if eq (len $pair) 2 }}
{{- $name := trim (index $pair 0) }}
{{- if not (has $name $known) }}
{{- fail (printf "features: unknown gate %q (known: %s)" $name (join ", " $known)) }}
{{- end }}
{{- $_ := set $gates $name (eq (lower (trim (index $pair 1))) "true") }}
{{- end }}
{{- end }}
{{- toJson $gates }}
{{- end }}

{{/* The hub's configuration (config/schema.ncl is its contract). */}}
{{- define "mcp.config" -}}
{{- $users := list }}
{{- range (splitList "," .Values.autoApprovalBootstrapUsers) }}{{ if trim . }}{{ $users = append $users (trim .) }}{{ end }}{{ end }}
{{- $apiserver := dict "port" 9443 "bindAddress" "0.0.0.0" "externalHostname" .Values.apiserver.externalHostname }}
{{- if .Values.apiserver.externalHostname }}
{{- $_ := set $apiserver "externalPort" (int (ternary .Values.nodeport.port .Values.apiserver.externalPort .Values.nodeport.enabled)) }}
{{- end }}
{{- if .Values.apiserver.ca }}
{{- $_ := set $apiserver "caFile" "/etc/multicluster-controlplane/ca.crt" }}
{{- $_ := set $apiserver "caKeyFile" "/etc/multicluster-controlplane/ca.key" }}
{{- end }}
{{- if .Values.apiserver.serviceAccountKey }}
{{- $_ := set $apiserver "serviceAccountKeyFile" "/etc/multicluster-controlplane/sa.key" }}
{{- end }}
{{- if .Values.enableDelegatingAuthentication }}
{{- $_ := set $apiserver "delegatingAuthentication" (dict "enabled" true) }}
{{- end }}
{{- $etcd := dict "mode" .Values.etcd.mode }}
{{- if eq .Values.etcd.mode "external" }}
{{- $_ := set $etcd "servers" .Values.etcd.servers }}
{{- $_ := set $etcd "prefix" (printf "/%s" .Release.Namespace) }}
{{- $_ := set $etcd "caFile" "/etc/multicluster-controlplane/etcd-ca.crt" }}
{{- $_ := set $etcd "certFile" "/etc/multicluster-controlplane/etcd.crt" }}
{{- $_ := set $etcd "keyFile" "/etc/multicluster-controlplane/etcd.key" }}
{{- end }}
{{- $controllers := dict "featureGates" (include "mcp.featureGates" . | fromJson) "autoApprovalBootstrapUsers" $users }}
{{- if .Values.enableSelfManagement }}
{{- $_ := set $controllers "selfManagement" (dict "enabled" true "clusterName" (default "local-cluster" .Values.selfManagementClusterName)) }}
{{- end }}
{{- $config := dict "dataDirectory" "/var/lib/multicluster-controlplane" "apiserver" $apiserver "etcd" $etcd "controllers" $controllers "logging" (dict "level" .Values.logLevel "format" "json") }}
{{- toPrettyJson $config }}
{{- end }}
