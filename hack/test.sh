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
export PATH=$TOOLS:$PATH
log "kubectl: $("$KUBECTL" version --client 2>/dev/null | head -1)"
log "cargo target dir: $CARGO_TARGET_DIR"

rustup component add rustfmt clippy >/dev/null 2>&1 || true
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
log "cargo test"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
set +e
cargo test --locked -- --test-threads="${MCP_TEST_THREADS:-4}" 2>&1 | tee "$results"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
exit "$status"
