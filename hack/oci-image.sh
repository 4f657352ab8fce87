#!/usr/bin/env bash
# Assembles an OCI image of multicluster-controlplane with umoci, from a binary built
# outside Nix, with the same layout and configuration as nix/image.nix:
#
#   /bin/multicluster-controlplane          the entrypoint (plus the shared libraries it
#                                           links, at the paths ldd reports: the Nix image
#                                           carries the binary's store closure instead)
#   /share/multicluster-controlplane/       the Nickel contract and example configurations
#   /etc/passwd, /etc/group, nsswitch.conf  root, nobody and the non-root user 65532 (ocm)
#   /etc/ssl/certs/ca-bundle.crt            CA certificates (also ca-certificates.crt and
#                                           /etc/pki/tls/certs/ca-bundle.crt)
#   /var/lib/multicluster-controlplane      data directory (a volume, owned by 65532, 0700)
#   /tmp                                    mode 1777
# User 65532:65532, entrypoint /bin/multicluster-controlplane, command
# `server --data-dir /var/lib/multicluster-controlplane`, port 9443/tcp exposed, OCI labels.
# No shell in the image.
#
# Usage:
#   hack/oci-image.sh [--binary FILE] [--tag TAG] [--revision REV] OUT_DIR
#       writes the OCI layout OUT_DIR/layout with the image OUT_DIR/layout:TAG (TAG defaults
#       to the binary's version) and prints that reference. Then e.g.:
#         umoci unpack --image OUT_DIR/layout:TAG bundle && runc run --bundle bundle hub
#         skopeo copy oci:OUT_DIR/layout:TAG docker-archive:hub.tar:multicluster-controlplane:TAG
#   hack/oci-image.sh --print-config
#       prints the image configuration (JSON) it applies; tests/nix_files.rs compares it
#       with what nix/image.nix gives dockerTools.
# The binary defaults to $MCP_BIN, else the release build, else the debug build in
# $CARGO_TARGET_DIR. Needs root (the image's files are owned by root and 65532) and umoci
# (Debian package umoci).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/hack/lib.sh"

# The image configuration: keep in step with nix/image.nix.
UID_GID=65532
DATA_DIR=/var/lib/multicluster-controlplane
PORT=9443
ENTRYPOINT=/bin/multicluster-controlplane
CMD=(server --data-dir "$DATA_DIR")
ENV=("SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt" "HOME=$DATA_DIR")
SOURCE_URL=$(sed -n 's/^repository = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)
DESCRIPTION=$(sed -n 's/^description = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)
LICENSE=$(sed -n 's/^license = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)
CRATE_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)

labels() { # VERSION [REVISION]
    printf '%s\n' \
        "org.opencontainers.image.title=multicluster-controlplane" \
        "org.opencontainers.image.description=$DESCRIPTION" \
        "org.opencontainers.image.version=$1" \
        "org.opencontainers.image.licenses=$LICENSE" \
        "org.opencontainers.image.source=$SOURCE_URL" \
        "org.opencontainers.image.url=$SOURCE_URL"
    if [ -n "${2:-}" ]; then printf '%s\n' "org.opencontainers.image.revision=$2"; fi
}

print_config() { # VERSION [REVISION]
    python3 - "$UID_GID" "$DATA_DIR" "$PORT" "$ENTRYPOINT" "${#CMD[@]}" "${CMD[@]}" "${ENV[@]}" \
        3< <(labels "$@") <<'EOF'
import json, sys
uid, data_dir, port, entrypoint, ncmd = sys.argv[1:6]
rest = sys.argv[6:]
cmd, env = rest[: int(ncmd)], rest[int(ncmd):]
labels = dict(l.rstrip("\n").split("=", 1) for l in open(3) if l.strip())
print(json.dumps({
    "User": f"{uid}:{uid}",
    "Entrypoint": [entrypoint],
    "Cmd": cmd,
    "Env": env,
    "WorkingDir": data_dir,
    "ExposedPorts": {f"{port}/tcp": {}},
    "Volumes": {data_dir: {}},
    "Labels": labels,
}, indent=2, sort_keys=True))
EOF
}

binary=${MCP_BIN:-}
tag=""
revision=${MCP_REVISION:-}
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --print-config)
            print_config "$CRATE_VERSION"
            exit 0
            ;;
        --binary) binary=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --revision) revision=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "oci-image.sh: unknown option $1" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
[ -n "$out" ] || { echo "usage: hack/oci-image.sh [--binary FILE] [--tag TAG] [--revision REV] OUT_DIR" >&2; exit 2; }
if [ -z "$binary" ]; then
    binary=$CARGO_TARGET_DIR/release/multicluster-controlplane
    [ -x "$binary" ] || binary=$CARGO_TARGET_DIR/debug/multicluster-controlplane
fi
[ -x "$binary" ] || { echo "oci-image.sh: no binary at $binary (build it, or pass --binary)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "oci-image.sh: run as root (the image's files belong to root and $UID_GID)" >&2; exit 1; }
command -v umoci > /dev/null || apt_install umoci
version=$("$binary" --version | awk '{print $2}')
tag=${tag:-$version}

mkdir -p "$out"
out=$(cd "$out" && pwd)
rootfs=$out/rootfs
layout=$out/layout
rm -rf "$rootfs" "$layout"
mkdir -p "$rootfs"

# The binary and what it links (the dynamic loader included; nothing for a static binary).
install -D -m 0755 "$binary" "$rootfs$ENTRYPOINT"
{ ldd "$binary" 2> /dev/null || true; } | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done

# The contract and the examples, as the Nix package installs them.
install -D -m 0444 -t "$rootfs/share/multicluster-controlplane" "$here"/config/*.ncl "$here/config/defaults.json"
install -D -m 0444 -t "$rootfs/share/multicluster-controlplane/examples" "$here"/config/examples/*

# Users and groups (dockerTools' fakeNss plus the ocm user), name service switch.
mkdir -p "$rootfs/etc"
printf '%s\n' \
    "root:x:0:0:root user:/var/empty:/bin/sh" \
    "nobody:x:65534:65534:nobody:/var/empty:/bin/sh" \
    "ocm:x:$UID_GID:$UID_GID:multicluster-controlplane:$DATA_DIR:/sbin/nologin" > "$rootfs/etc/passwd"
printf '%s\n' "root:x:0:" "nogroup:x:65534:" "ocm:x:$UID_GID:" > "$rootfs/etc/group"
printf '%s\n' "hosts: files dns" > "$rootfs/etc/nsswitch.conf"

# CA certificates where dockerTools.caCertificates puts them.
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || apt_install ca-certificates
install -D -m 0444 "$ca" "$rootfs/etc/ssl/certs/ca-bundle.crt"
ln -s ca-bundle.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -D -m 0444 "$ca" "$rootfs/etc/pki/tls/certs/ca-bundle.crt"

# The data directory and /tmp.
install -d -m 0700 -o "$UID_GID" -g "$UID_GID" "$rootfs$DATA_DIR"
install -d -m 1777 "$rootfs/tmp"

umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert --image "$layout:$tag" "$rootfs" /
args=(
    --config.user "$UID_GID:$UID_GID"
    --config.entrypoint "$ENTRYPOINT"
    --config.workingdir "$DATA_DIR"
    --config.exposedports "$PORT/tcp"
    --config.volume "$DATA_DIR"
    --created 1970-01-01T00:00:01Z
)
for c in "${CMD[@]}"; do args+=(--config.cmd "$c"); done
for e in "${ENV[@]}"; do args+=(--config.env "$e"); done
while IFS= read -r l; do args+=(--config.label "$l"); done < <(labels "$version" "$revision")
umoci config --image "$layout:$tag" "${args[@]}"
umoci gc --layout "$layout"
rm -rf "$rootfs"
log "OCI image $layout:$tag ($(du -sh "$layout" | cut -f1)) from $binary"
echo "$layout:$tag"
