#!/usr/bin/env bash
# Runs the README's two commands the way a new user would: on a pristine Debian 12 root
# file system with nothing but a Rust toolchain, and reports the first command that fails.
#
#   1. debootstrap (Debian's own packages, variant minbase) into a temporary directory,
#      with the host's local trust anchors (/usr/local/share/ca-certificates: a site's
#      proxy CA, which every machine of the site has) carried over;
#   2. a clean clone of this repository's HEAD inside it (the steering repo's ../shared
#      beside it, read-only, when it exists here), the host's rustup toolchains mounted
#      read-only, the host's cargo home as the read-only lower layer of an overlay (the crate
#      registry is reused; nothing is written back), and fresh CARGO_TARGET_DIR and caches;
#   3. inside a chroot: `hack/hub.sh` until it prints its ready line and /readyz answers,
#      then `hack/test.sh` with CI=true (a missing prerequisite is a failure, not a skip).
#
# It takes long: everything is built cold (RocksDB, the Go peers, the Kubernetes peer),
# about 80 minutes on 2 cores; it is not part of every CI run. Run it as root:
#
#   hack/fresh-check.sh                 # report in $FRESH_DIR/report.txt, logs beside it
#   FRESH_KEEP=1 hack/fresh-check.sh    # keep the root file system afterwards
#
# Environment: FRESH_DIR (work directory, default a new $MCP_CACHE/fresh.XXXXXX),
# FRESH_MIRROR (Debian mirror, default the host's first bookworm mirror or deb.debian.org),
# FRESH_PORT (the hub's port, default 19443), FRESH_REV (the commit to check, default HEAD),
# FRESH_KEEP.
# Exit status: 0 when both commands succeed, 1 otherwise (the report names the failure).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

[ "$(id -u)" -eq 0 ] || { echo "fresh-check: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
apt_install debootstrap git curl

repo=$PWD
FRESH_DIR=${FRESH_DIR:-$(mktemp -d "$MCP_CACHE/fresh.XXXXXX")}
FRESH_PORT=${FRESH_PORT:-19443}
mirror=${FRESH_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$FRESH_DIR/rootfs
# Inside the root: one user home holding the clone, the steering files, the toolchain and
# the cargo home (paths of the chroot, not of this machine).
guest=/home/fresh
report=$FRESH_DIR/report.txt
mkdir -p "$FRESH_DIR"
: > "$report"
note() { printf '%s\n' "$*" | tee -a "$report" >&2; }

rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[ -x "$cargo_home/bin/cargo" ] || { echo "fresh-check: no Rust toolchain at $cargo_home" >&2; exit 1; }

mounts=()
cleanup() {
    # Whatever still runs inside the root file system (a hub, etcd, a test) is killed first.
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$rootfs" ] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount -R -l "${mounts[i]}" 2>/dev/null || true
    done
    if [ -z "${FRESH_KEEP:-}" ] && [ -d "$rootfs" ]; then
        rm -rf --one-file-system "$rootfs" "$FRESH_DIR/cargo-upper" "$FRESH_DIR/cargo-work"
    fi
}
trap cleanup EXIT
mnt() { # mnt TARGET MOUNT-ARGS...
    mkdir -p "$1"
    local target=$1
    shift
    mount "$@" "$target"
    mounts+=("$target")
}

# The commit checked is fixed now (FRESH_REV, default HEAD): the repository may move on while
# debootstrap runs.
rev=$(git rev-parse --verify "${FRESH_REV:-HEAD}^{commit}")
start=$SECONDS
note "fresh-check: $(git rev-parse --short "$rev") in $FRESH_DIR, mirror $mirror"
log "debootstrap bookworm (minbase) into $rootfs"
if ! debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" > "$FRESH_DIR/debootstrap.log" 2>&1; then
    note "FAIL: debootstrap (see $FRESH_DIR/debootstrap.log)"
    exit 1
fi
cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# On a machine `/` is a mount point; `ip netns exec` and `ip -n` remount it as a slave and
# fail on a plain directory. Bound onto itself before anything is mounted inside it.
mnt "$rootfs" --bind "$rootfs"
# The site's own trust anchors (e.g. the CA of an egress proxy in front of the package
# registries) are machine configuration every machine of the site has, not a project
# dependency: carry them over, as a new machine would get them.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates > /dev/null 2>&1
fi
note "debootstrap: $((SECONDS - start)) s, $(chroot "$rootfs" dpkg-query -W -f '.\n' | wc -l) packages"

# The clone and the steering repo's shared data, laid out as on a development machine.
mkdir -p "$rootfs$guest"
git clone --quiet --no-local --no-checkout "$repo" "$rootfs$guest/main"
git -C "$rootfs$guest/main" checkout --quiet --detach "$rev"
if [ -d "$repo/../shared" ]; then
    mnt "$rootfs$guest/shared" --bind -o ro "$repo/../shared"
    mount -o remount,bind,ro "$rootfs$guest/shared"
fi
mnt "$rootfs/proc" -t proc proc
mnt "$rootfs/sys" --rbind /sys
mnt "$rootfs/dev" --rbind /dev
mnt "$rootfs/run" -t tmpfs tmpfs
mnt "$rootfs$guest/.rustup" --bind "$rustup_home"
mount -o remount,bind,ro "$rootfs$guest/.rustup"
mkdir -p "$FRESH_DIR/cargo-upper" "$FRESH_DIR/cargo-work"
mnt "$rootfs$guest/.cargo" -t overlay overlay \
    -o "lowerdir=$cargo_home,upperdir=$FRESH_DIR/cargo-upper,workdir=$FRESH_DIR/cargo-work"

# in_root LOG COMMAND...: runs COMMAND as a new user would, in the clone, logging to LOG.
in_root() {
    local logfile=$1
    shift
    chroot "$rootfs" /usr/bin/env -i HOME="$guest" TERM=dumb LANG=C.UTF-8 CI=true \
        PATH="$guest/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        RUSTUP_HOME="$guest/.rustup" CARGO_HOME="$guest/.cargo" \
        /bin/bash -c 'cd "$0" && exec "$@"' "$guest/main" "$@" > "$logfile" 2>&1
}

# 1. The first README command: a hub with embedded storage, until it says it is ready.
step=$SECONDS
log "README command 1: hack/hub.sh (cold build; progress in $FRESH_DIR/hub.log)"
in_root "$FRESH_DIR/hub.log" hack/hub.sh --port "$FRESH_PORT" &
hub=$!
until grep -q "is ready" "$FRESH_DIR/hub.log" 2>/dev/null; do
    if ! kill -0 "$hub" 2>/dev/null; then
        note "FAIL: hack/hub.sh exited before the hub was ready; last lines:"
        tail -30 "$FRESH_DIR/hub.log" | tee -a "$report" >&2
        exit 1
    fi
    sleep 5 # polling a cold build's log; nothing to wait on but the file
done
if ! curl -sf --cacert "$rootfs$guest/main/.ocm/cert/ca.crt" "https://127.0.0.1:$FRESH_PORT/readyz" > /dev/null; then
    note "FAIL: hack/hub.sh printed its ready line but /readyz on port $FRESH_PORT does not answer 200"
    exit 1
fi
note "ok: hack/hub.sh: ready after $((SECONDS - step)) s: $(grep -m1 'is ready' "$FRESH_DIR/hub.log")"
kill "$hub" 2>/dev/null || true
for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$rootfs" ] && kill "${p#/proc/}" 2>/dev/null
done
wait "$hub" 2>/dev/null || true

# 2. The second README command: every test, with CI=true.
step=$SECONDS
log "README command 2: hack/test.sh (progress in $FRESH_DIR/test.log)"
if in_root "$FRESH_DIR/test.log" hack/test.sh; then
    note "ok: hack/test.sh: $((SECONDS - step)) s: $(grep -E '^tests: ' "$FRESH_DIR/test.log" | tail -1)"
else
    note "FAIL: hack/test.sh after $((SECONDS - step)) s; last lines:"
    grep -E '^(==>|error|FAIL|failures:|    [a-z_:]+$|tests: |test result)' "$FRESH_DIR/test.log" | tail -40 | tee -a "$report" >&2
    exit 1
fi
note "fresh-check passed in $((SECONDS - start)) s"
