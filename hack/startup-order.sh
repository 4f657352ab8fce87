#!/usr/bin/env bash
# Regenerates hack/startup-order.txt, the link order of the functions a hub runs from
# start to idle (see build.rs and BENCHMARKS.md, Footprint).
#
# An idle hub's resident memory is mostly the executable's code: each first touch of a
# code page maps the 64 KiB around it (the kernel's fault-around), and start-up code is
# spread over the whole 48 MB `.text`. Linked in the order written here (lld's
# --symbol-ordering-file), the code a start runs sits together.
#
# The list comes from valgrind's callgrind on a release binary (MCP_BIN, else the release
# build in the target directory): every function of the executable run by a first start
# on an empty data directory, then by a warm start, each answering a few requests and
# running until it idles (its first second after ready, natively). Warm-start functions
# come first (the common case), then those a native warm start faults in that callgrind
# did not see (with perf, below), then the ones only a first start runs. Symbols are the
# linker's (mangled) names; ones that a later code change renames are skipped by the
# linker, so a stale list degrades slowly. Re-run after larger changes:
# `hack/startup-order.sh` (a minute or two; each run adds what the last one's native
# start newly faulted in, as it sees only the first function of each 64 KiB of code).
#
# Names carry a hash that differs between cargo profiles: a `cargo build --release`
# binary (what users run) and the one `cargo bench` builds (what the benchmarks measure)
# share only about half of them. So profile both and keep both lists: run it on one, then
# with MCP_ORDER_KEEP=1 on the other, which appends the names of the existing file that
# the new list lacks (the linker uses the names a build has, in their order).
# (The link itself, hack/ld-with-order.sh, also follows a name whose suffix or hash alone
# changed, where that is unambiguous; generic instances that differ only in their hash
# need the list of their own profile.)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
command -v valgrind > /dev/null || apt_install valgrind
command -v curl > /dev/null || apt_install curl
bin=${MCP_BIN:-$CARGO_TARGET_DIR/release/multicluster-controlplane}
[ -x "$bin" ] || { echo "no release binary at $bin: cargo build --release first" >&2; exit 1; }
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))

# requests: what a client does first (kubectl's discovery, a list, a write, a watch, the
# health endpoints), over HTTP/2 and HTTP/1.1 with the admin certificate, so serving code
# is part of the order as it is part of any hub that has answered a request.
requests() {
    local url="https://127.0.0.1:$port" cert="$work/data/cert"
    local anonymous=(curl -sS -o /dev/null --cacert "$cert/ca.crt")
    local curl=("${anonymous[@]}" --cert "$cert/admin.crt" --key "$cert/admin.key")
    # Probes come without a client certificate (as kubelet's and the benchmarks' do):
    # the anonymous path of authentication and authorization.
    for path in /readyz /livez /healthz; do
        "${anonymous[@]}" --http2 "$url$path"
        "${anonymous[@]}" --http1.1 "$url$path"
    done
    for path in /readyz /livez /healthz /version /api /apis /openapi/v2 /api/v1/namespaces \
        /apis/cluster.open-cluster-management.io/v1/managedclusters; do
        "${curl[@]}" --http2 "$url$path"
        "${curl[@]}" --http1.1 "$url$path"
    done
    "${curl[@]}" -X POST -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"order"},"data":{"a":"b"}}' \
        "$url/api/v1/namespaces/default/configmaps"
    "${curl[@]}" -m 3 "$url/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1" || true
    "${curl[@]}" -X DELETE "$url/api/v1/namespaces/default/configmaps/order"
}

# wait_ready NAME: waits (at most ten minutes) until the hub started as $pid, logging to
# $work/NAME.log, says it is ready; stops the script if it exits first.
wait_ready() {
    local name=$1 waited=0
    until grep -q "is ready" "$work/$name.log" 2> /dev/null; do
        kill -0 "$pid" 2> /dev/null || { cat "$work/$name.log" >&2; exit 1; }
        [ $waited -lt 6000 ] || { echo "$name start did not get ready" >&2; exit 1; }
        sleep 0.1
        waited=$((waited + 1))
    done
}

# wait_quiet NAME PID: what a hub does in its first second after ready (the controllers'
# first lists and writes, the self-managing agent's join; a minute under valgrind):
# waits until PID stops using CPU (under 0.1 s in 2 s), at most three minutes.
wait_quiet() {
    local pid=$2 ticks last=0
    for _ in $(seq 90); do
        sleep 2
        ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        [ $((ticks - last)) -lt 10 ] && return 0
        last=$ticks
    done
    log "$1: still busy after three minutes; profiled what ran"
}

# profile NAME: runs the hub under callgrind on $work/data until it is ready, sends it
# the requests above, waits until it stops using CPU, then stops it (callgrind writes its
# profile on exit).
profile() {
    local name=$1
    valgrind --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no \
        --callgrind-out-file="$work/$name.cg" \
        "$bin" server --data-dir "$work/data" --bind-address 127.0.0.1 --port "$port" \
        > "$work/$name.log" 2>&1 &
    pid=$!
    wait_ready "$name"
    requests
    wait_quiet "$name" "$pid"
    kill -TERM "$pid"
    wait "$pid" || true
    pid=""
    log "$name start profiled"
}
profile cold
profile warm

# native: the functions a warm start faults in natively that the profiles lack. Under
# valgrind the CPU lacks some extensions, so code that picks its variant at run time
# (ring's AES-GCM and X25519, SHA-NI, memchr) ran another variant there; each such
# function left out of the order maps 64 KiB of code around it. perf records every page
# fault of a native warm start with its address; a fault on the executable's code is the
# first call into a page. Skipped (with a note) where perf is missing or not permitted.
native() {
    : > "$work/native.txt"
    if ! command -v perf > /dev/null || ! perf record -q -o /dev/null -e page-faults true 2> /dev/null; then
        log "native: perf not available here; the order lacks functions only a native start runs"
        return 0
    fi
    # With RUST_LOG set, as the benchmarks and many deployments run it (the profiles
    # above run without it: the filter is built by another function then).
    RUST_LOG=error perf record -q -e page-faults -c 1 -d -o "$work/native.data" \
        "$bin" server --data-dir "$work/data" --bind-address 127.0.0.1 --port "$port" \
        > "$work/native.log" 2>&1 &
    pid=$!
    wait_ready native
    requests
    # The hub is perf's child: wait on its CPU time, then stop it (perf ends with it).
    local hub
    hub=$(pgrep -P "$pid")
    wait_quiet native "$hub"
    kill -TERM "$hub"
    wait "$pid" || true
    pid=""
    # Fields: fault address, its symbol, its file, instruction pointer, symbol, file.
    # A fault on code has the instruction pointer at the faulting address.
    perf script --no-demangle -i "$work/native.data" -F ip,sym,addr,dso 2> /dev/null |
        awk -v bin="($(realpath "$bin"))" '$1 == $4 && $3 == bin && $2 != "[unknown]" { print $2 }' \
        > "$work/native.txt"
    log "native start profiled: $(wc -l < "$work/native.txt") faults on code"
}
native

keep=/dev/null
if [ "${MCP_ORDER_KEEP:-0}" = 1 ]; then
    cp hack/startup-order.txt "$work/kept.txt"
    keep=$work/kept.txt
fi
python3 - "$bin" "$keep" "$work/warm.cg" "$work/native.txt" "$work/cold.cg" > hack/startup-order.txt <<'EOF'
import os, sys
binary = os.path.realpath(sys.argv[1])
kept = [line.strip() for line in open(sys.argv[2]) if line.strip()]
seen, order = set(), []
for path in sys.argv[3:]:
    obj = None
    for line in open(path, errors="replace"):
        if path.endswith(".txt"):
            # A plain list of names (the native faults).
            name = line.strip()
            if name and name not in seen:
                seen.add(name)
                order.append(name)
        elif line.startswith("ob="):
            obj = os.path.realpath(line[3:].strip())
        elif line.startswith("fn=") and obj == binary:
            name = line[3:].strip()
            # Callgrind names a function without a symbol by its address.
            if name not in seen and not name.startswith("0x"):
                seen.add(name)
                order.append(name)
order += [name for name in kept if name not in seen]
print("\n".join(order))
EOF
log "hack/startup-order.txt: $(wc -l < hack/startup-order.txt) functions"
