#!/usr/bin/env bash
# Builds hack/ocm-hub (our multi-call wrapper around the upstream OCM hub controllers:
# `ocm-hub registration controller`, `work manager`, `placement controller`,
# `addon manager`, from open-cluster-management.io/ocm v1.2.0) into
# $MCP_TOOLS/bin/ocm-hub, for tests that run a real upstream hub (tests/upstream_hub.rs).
#
# The Go toolchain and the module and build caches are the ones hack/install-go-peers.sh
# sets up (it runs first), so the ocm packages already compiled for registration-operator
# are reused. The modules are pinned by hack/ocm-hub/go.mod and go.sum.
#
# Idempotent: skipped when the binary was built from the same hack/ocm-hub sources (a
# sha256 of them is kept beside it in ocm-hub.sha256); a second run takes 0.15 s
# (most of it install-go-peers.sh's own checks).
# Measured on 2 cores: 11 s right after install-go-peers.sh had built registration-operator
# (the same ~1,950 packages at the same versions, all in the build cache); the binary is
# 131 MB. With a cold build cache expect about registration-operator's 7.5 minutes.
#
# Progress goes to stderr; stdout gets the binary's path.
#
# Environment:
#   MCP_TOOLS   tools dir (default $MCP_CACHE/tools = ~/.cache/multicluster-controlplane/tools)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/ocm-hub" && pwd)
MCP_TOOLS=${MCP_TOOLS:-$MCP_CACHE/tools}
export MCP_TOOLS

# The toolchain and caches (and clusteradm, which the tests use with this hub).
"$(dirname "$0")/install-go-peers.sh" >/dev/null

MCP_TOOLS=$(cd "$MCP_TOOLS" && pwd)
BIN=$MCP_TOOLS/bin/ocm-hub
STAMP=$BIN.sha256

# One build at a time (two CI steps or a developer and CI sharing the cache).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$MCP_TOOLS/.install-ocm-hub.lock"
    flock 9
fi

# The same environment as install-go-peers.sh: everything under $MCP_TOOLS, pinned
# toolchain, static binary.
export GOROOT=$MCP_TOOLS/go
export GOPATH=$MCP_TOOLS/gopath
export GOMODCACHE=$MCP_TOOLS/gomodcache
export GOCACHE=$MCP_TOOLS/gocache
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -modcacherw"
export CGO_ENABLED=0
export PATH=$GOROOT/bin:$PATH
GO=$GOROOT/bin/go

# The sources' fingerprint: every file of hack/ocm-hub (names and contents) and the Go
# version that compiles them.
sources_sum() {
    {
        "$GO" env GOVERSION
        (cd "$SRC" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}
want=$(sources_sum)

if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    log "ocm-hub already built from these sources ($BIN)"
    echo "$BIN"
    exit 0
fi

log "building ocm-hub (upstream OCM hub controllers) from $SRC; this takes minutes"
start=$SECONDS
tmp=$BIN.tmp.$$
trap 'rm -f "$tmp"' EXIT
# -mod=readonly: go.mod and go.sum are committed; a build never rewrites them.
(cd "$SRC" && "$GO" build -mod=readonly -o "$tmp" .)
"$tmp" registration controller --help >/dev/null ||
    { log "the built ocm-hub does not run"; exit 1; }
mv -f "$tmp" "$BIN"
trap - EXIT
echo "$want" >"$STAMP"
log "built ocm-hub in $((SECONDS - start))s ($(du -h "$BIN" | cut -f1))"
echo "$BIN"
