#!/usr/bin/env bash
# Runs the whole test suite on Debian 12 from a plain Rust toolchain: installs what the
# tests need, then formatting and lint checks, then every unit and end-to-end test against
# the real binary with real kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

TOOLS=$(hack/install-test-deps.sh)
export KUBECTL=$TOOLS/kubectl HELM=$TOOLS/helm
export MCP_PYTHON=$MCP_CACHE/tools/pyk8s/bin/python
export CLUSTERADM=$MCP_CACHE/tools/bin/clusteradm OCM_AGENT=$MCP_CACHE/tools/bin/registration-operator
export KUBE_PEER=$MCP_CACHE/tools/bin/kube-peer OCM_HUB=$MCP_CACHE/tools/bin/ocm-hub
export PATH=$TOOLS:$PATH
log "kubectl: $("$KUBECTL" version --client 2>/dev/null | head -1)"
log "cargo target dir: $CARGO_TARGET_DIR"

rustup component add rustfmt clippy >/dev/null 2>&1 || true
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
log "cargo test --no-run (builds every test and the binary they drive)"
cargo test --locked --no-run
log "Nix files: parse, and evaluation of the NixOS module, VM-test nodes and flake (NIXPKGS_LIB=${NIXPKGS_LIB:-unset})"
MCP_BIN=$CARGO_TARGET_DIR/debug/multicluster-controlplane hack/nix-check.sh

log "cargo test"
results=$(mktemp)
# Tests whose prerequisite is missing record themselves here (tests/common::skip); under
# CI=true they fail instead.
export MCP_SKIP_LOG
MCP_SKIP_LOG=$(mktemp)
trap 'rm -f "$results" "$MCP_SKIP_LOG"' EXIT
set +e
cargo test --locked --no-fail-fast -- --test-threads="${MCP_TEST_THREADS:-4}" 2>&1 | tee "$results"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite, summed over every test binary, and the skips named.
skipped=$(sort -u "$MCP_SKIP_LOG" | grep -c . || true)
awk -v s="$skipped" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$results"
if [ "$skipped" -gt 0 ]; then
    sort -u "$MCP_SKIP_LOG" | awk -F'\t' '{ printf "  skipped: %s: %s\n", $1, $2 }'
fi
exit "$status"
