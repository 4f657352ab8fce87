#!/bin/sh
# The executable's linker (build.rs writes a two-line `ld.mold` that runs this, and puts
# it first on the compiler driver's program path): lld with the start-up link order
# resolved against the names this build has (hack/link-order.awk says why they drift).
#
# A probe link writes the binary once without an order; its symbol table resolves the
# order; the real link uses the result. Should any step of that fail (no nm, no awk), the
# binary is linked with the order file as written, which only costs idle memory.
#
# Usage: ld-with-order.sh REAL_LLD ORDER_FILE WORK_DIR LINKER_ARGUMENTS...
real=$1 order=$2 work=$3
shift 3
here=$(dirname "$0")
# MCP_LINK_ORDER=as-written: the file as it is, for comparing (BENCHMARKS.md, Footprint).
[ "${MCP_LINK_ORDER:-}" = as-written ] && exec "$real" "$@" --symbol-ordering-file="$order"
probe=$(mktemp "$work/probe.XXXXXX") || exec "$real" "$@" --symbol-ordering-file="$order"
resolved=$probe.order
# A later -o wins: the probe goes to its own file.
if "$real" "$@" -o "$probe" 2> /dev/null &&
    nm --defined-only "$probe" > "$probe.nm" 2> /dev/null &&
    awk -f "$here/link-order.awk" "$probe.nm" "$order" > "$resolved" 2> "$work/link-order.txt"; then
    rm -f "$probe" "$probe.nm"
    "$real" "$@" --symbol-ordering-file="$resolved"
    status=$?
    rm -f "$resolved"
    exit $status
fi
rm -f "$probe" "$probe.nm" "$resolved"
exec "$real" "$@" --symbol-ordering-file="$order"
