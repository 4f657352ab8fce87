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
# build in the target directory), in tiers, each after the last: what warm starts run
# until they idle (three stopped as soon as they are ready, one after them, one after
# requests wrote and deleted data; probed as the benchmarks and kubelet probe a hub:
# /readyz, /livez and /healthz without a certificate, over HTTP/2, HTTP/1.1 and a resumed
# TLS session); the functions a native warm start faults in that callgrind did not see
# (with perf, below); what serving requests adds (kubectl's discovery, a list, a write, a
# watch); what only a first start (empty data directory) runs until it idles; then what
# only stopping runs. callgrind dumps its counts at each boundary (`callgrind_control
# --dump`), so every tier holds only the functions its phase ran first. An idle hub
# touches nearly every 64 KiB of the first tier; code of a later phase in between would
# be mapped with it (1.7 MB more when the stopping and request code was mixed in;
# BENCHMARKS.md, Footprint). Symbols are the linker's (mangled) names; ones that a later
# code change renames are skipped by the linker, so a stale list degrades slowly. Re-run
# after larger changes: `hack/startup-order.sh` (a minute or two; each run adds what the
# last one's native start newly faulted in, as it sees only the first function of each
# 64 KiB of code).
#
# Names carry a hash that differs between cargo profiles: a `cargo build --release`
# binary (what users run) and the one `cargo bench` builds (what the benchmarks measure)
# share only about half of them. So profile both and keep both lists: run it on one, then
# with MCP_ORDER_KEEP=1 on the other, which adds the names of the existing file that the
# new list lacks to the tier they were in (the linker uses the names a build has, in
# their order).
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
# Every start gets another port, as the benchmarks' starts do: a hub that finds its
# address changed updates the discovery ConfigMap it publishes (kube-public/cluster-info),
# so the write path is part of a warm start's code.
next_port() { port=$((20000 + RANDOM % 20000)); }

# probes: what a benchmark, kubelet or load balancer sends an idle hub: the health
# endpoints without a client certificate (the anonymous path of authentication and
# authorization), over HTTP/2 and HTTP/1.1, and once over a resumed TLS session (clients
# that keep their session ticket, as Go's and reqwest's do).
probes() {
    local url="https://127.0.0.1:$port" cert="$work/data/cert"
    local anonymous=(curl -sS -o /dev/null --cacert "$cert/ca.crt")
    for path in /readyz /livez /healthz; do
        "${anonymous[@]}" --http2 "$url$path"
        "${anonymous[@]}" --http1.1 "$url$path"
    done
    python3 - "$port" "$cert/ca.crt" <<'EOF'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=ca)
context.check_hostname = False
session = None
for _ in range(2):
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, session=session) as tls:
            tls.sendall(b"GET /readyz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
            while tls.recv(65536):
                pass
            session = tls.session
EOF
}

# requests: what a client does first (kubectl's discovery, a list, a write, a watch), over
# HTTP/2 and HTTP/1.1 with the admin certificate, so serving code follows the idle hub's.
requests() {
    local url="https://127.0.0.1:$port" cert="$work/data/cert"
    local curl=(curl -sS -o /dev/null --cacert "$cert/ca.crt" --cert "$cert/admin.crt" --key "$cert/admin.key")
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

# profile NAME: runs the hub under callgrind on $work/data until it is ready, probes it,
# waits until it stops using CPU (not the quick start) and dumps the counts so far
# ($work/NAME.cg.1: the start until idle); the warm start then answers the requests
# above and dumps again ($work/NAME.cg.2); stopping writes the rest ($work/NAME.cg).
profile() {
    local name=$1
    next_port
    valgrind --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no \
        --callgrind-out-file="$work/$name.cg" \
        "$bin" server --data-dir "$work/data" --bind-address 127.0.0.1 --port "$port" \
        > "$work/$name.log" 2>&1 &
    pid=$!
    wait_ready "$name"
    probes
    # A start stopped as soon as it is ready (as the startup benchmark and a restart
    # loop stop it) leaves the controllers' first work and RocksDB's compactions to the
    # next one, which then runs code a start that settled does not.
    [[ $name == quick* ]] || wait_quiet "$name" "$pid"
    callgrind_control --dump "$pid" > /dev/null 2>&1
    if [ "$name" = warm ]; then
        requests
        wait_quiet "$name" "$pid"
        callgrind_control --dump "$pid" > /dev/null 2>&1
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    pid=""
    log "$name start profiled"
}
# The warm starts, in turn after a first one: three quick starts (each stop flushes
# RocksDB's memtables into new tables, and the fourth table of a level starts a
# compaction at a later start), one left to settle that then serves requests, and one
# after those requests' writes.
warm_starts=(quick1 quick2 quick3 warm again)
profile cold
for name in "${warm_starts[@]}"; do profile "$name"; done

# native: the functions a warm start faults in natively that the profiles lack. Under
# valgrind the CPU lacks some extensions, so code that picks its variant at run time
# (ring's AES-GCM and X25519, SHA-NI, memchr) ran another variant there; each such
# function left out of the order maps 64 KiB of code around it. perf records every page
# fault of a native warm start with its address; a fault on the executable's code is the
# first call into a page. Skipped (with a note) where perf is missing or not permitted.
native() {
    : > "$work/native.txt"
    next_port
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
    probes
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
# The profiles, each as TIER=PATH (the tiers are numbered as the script below names them):
# every warm start until idle; the native faults; the requests; the first start until
# idle; every start's stop.
profiles=()
for name in "${warm_starts[@]}"; do profiles+=("0=$work/$name.cg.1"); done
profiles+=("1=$work/native.txt" "2=$work/warm.cg.2" "3=$work/cold.cg.1")
for name in "${warm_starts[@]}" cold; do profiles+=("4=$work/$name.cg"); done
# The tiers, each under a `# tier:` line (comments to the linker and to link-order.awk).
# With MCP_ORDER_KEEP=1 the existing file's names join the tier they were in.
python3 - "$bin" "$keep" "${profiles[@]}" > "$work/order.txt" <<'EOF'
import os, sys
binary = os.path.realpath(sys.argv[1])
tier_names = ["warm start until idle", "native warm start only", "serving requests",
              "first start until idle", "stopping"]

def names(path):
    """The executable's function names in one profile (a plain list for the native faults)."""
    if path.endswith(".txt"):
        return [line.strip() for line in open(path) if line.strip()]
    found, obj = [], None
    for line in open(path, errors="replace"):
        if line.startswith("ob="):
            obj = os.path.realpath(line[3:].strip())
        elif line.startswith("fn=") and obj == binary:
            name = line[3:].strip()
            # Callgrind names a function without a symbol by its address.
            if not name.startswith("0x"):
                found.append(name)
    return found

tiers = [[] for _ in tier_names]
for profile in sys.argv[3:]:
    tier, path = profile.split("=", 1)
    tiers[int(tier)] += names(path)
# The native faults that callgrind saw in a later phase belong to that phase.
later = set().union(*tiers[2:])
tiers[1] = [name for name in tiers[1] if name not in later]
kept, tier = {}, None
for line in open(sys.argv[2]):
    line = line.strip()
    if line.startswith("# tier: "):
        tier = line[len("# tier: "):]
    elif line:
        kept.setdefault(tier, []).append(line)
seen = set()

def emit(functions):
    for function in functions:
        if function not in seen:
            seen.add(function)
            print(function)

for name, tier in zip(tier_names, tiers):
    print(f"# tier: {name}")
    emit(tier + kept.pop(name, []))
# Names of a file written before the tiers (or of a tier no longer made) come last.
for rest in kept.values():
    emit(rest)
EOF
mv "$work/order.txt" hack/startup-order.txt
log "hack/startup-order.txt: $(grep -vc '^#' hack/startup-order.txt) functions"
