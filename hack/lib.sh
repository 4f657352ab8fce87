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

# What building needs: bindgen (libclang) for RocksDB, protoc for etcd-client.
install_build_deps() {
    apt_install ca-certificates clang libclang-dev protobuf-compiler pkg-config
}
