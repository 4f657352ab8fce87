# Shared by the hack/ scripts: where caches live and how system packages get installed.
# shellcheck shell=bash

# Build cache and downloaded tools live outside the clone so fresh clones (CI) reuse them.
MCP_CACHE=${MCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multicluster-controlplane}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$MCP_CACHE/target}
mkdir -p "$MCP_CACHE"

log() { printf '==> %s\n' "$*" >&2; }

# apt_install PKG... : installs the Debian packages that are missing (as root, or via sudo).
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building needs: a C/C++ toolchain (the linker cargo calls, RocksDB's C++), bindgen
# (libclang) for RocksDB, protoc and the well-known .proto files (libprotobuf-dev; Debian's
# protobuf-compiler alone lacks google/protobuf/*.proto) for etcd-client, and lld, which
# links optimized builds with the start-up code together (build.rs).
install_build_deps() {
    apt_install ca-certificates build-essential clang libclang-dev protobuf-compiler libprotobuf-dev pkg-config lld
}

# nixpkgs' lib for evaluating the NixOS module, VM-test nodes and flake without nixpkgs:
# $NIXPKGS_LIB if set, else the steering repo's copy beside this clone (../shared/nixpkgs-lib,
# nixpkgs.lib at a pinned commit; see its SOURCE.md) when it exists.
if [ -z "${NIXPKGS_LIB:-}" ]; then
    for candidate in "$(dirname "${BASH_SOURCE[0]}")/../../shared/nixpkgs-lib/lib"; do
        if [ -f "$candidate/default.nix" ]; then
            NIXPKGS_LIB=$(cd "$candidate" && pwd)
            export NIXPKGS_LIB
        fi
    done
fi

# ci_missing WHAT: a prerequisite is missing. Under CI=true that is an error (exit 1);
# elsewhere a warning, and the caller goes on without it.
ci_missing() {
    if [ "${CI:-}" = "true" ]; then
        printf 'error: %s (CI=true: nothing may be skipped)\n' "$*" >&2
        exit 1
    fi
    printf 'warning: skipped: %s\n' "$*" >&2
}
