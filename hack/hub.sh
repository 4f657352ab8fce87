#!/usr/bin/env bash
# Builds and starts a hub with embedded storage on this machine (Debian 12, as root or
# with sudo), listening on 127.0.0.1:9443 with its data in ./.ocm. Extra arguments go to
# `multicluster-controlplane server` (e.g. --port 7443, --config hub.ncl).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
install_build_deps
log "building (the first build compiles RocksDB and takes a while)"
cargo build --locked --bin multicluster-controlplane
exec "$CARGO_TARGET_DIR/debug/multicluster-controlplane" server \
    --data-dir "${MCP_DATA_DIR:-$PWD/.ocm}" --bind-address 127.0.0.1 "$@"
