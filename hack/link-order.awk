# Resolves the start-up link order (hack/startup-order.txt) against the symbols of the
# binary being linked, for hack/ld-with-order.sh.
#
# Input: first `nm --defined-only` of a probe link, then the order file (two files, in
# that order). Output: the order's names as this build spells them.
#
# Two parts of a Rust symbol change when unrelated code changes: ThinLTO's `.llvm.<n>`
# suffix (a hash of the whole code-generation unit, so one edited line renames hundreds
# of functions) and the `17h<16 hex>E` hash of a legacy-mangled name (which also differs
# between cargo profiles). A name of the order is kept when this build has it; else the
# build's names that differ from it only in the `.llvm.` suffix take its place; else the
# one name that differs from it only in those hashes, when exactly one does (generic
# instances share their path and differ only in the hash, so several matches say
# nothing). A summary goes to standard error.

function no_llvm(name) {
    sub(/\.llvm\.[0-9]+$/, "", name)
    return name
}

function no_hash(name) {
    name = no_llvm(name)
    gsub(/17h[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]E/, "17hE", name)
    return name
}

function emit(name) {
    if (!(name in emitted)) {
        emitted[name] = 1
        print name
    }
}

# The binary's symbols: "address type name" (or "type name" when undefined).
FNR == NR {
    if (NF < 3 || $2 !~ /^[tTwW]$/) next
    name = $3
    have[name] = 1
    base = no_llvm(name)
    if (base != name) {
        # (Tested before the assignment: awk creates the element it assigns first.)
        if (base in renamed) name_list = renamed[base] SUBSEP name
        else name_list = name
        renamed[base] = name_list
    }
    key = no_hash(name)
    hashed[key]++
    only[key] = name
    next
}

NF == 0 { next }

# The order file's tier headings.
/^#/ { next }

{
    wanted++
    name = $1
    if (name in have) {
        exact++
        emit(name)
        next
    }
    base = no_llvm(name)
    if (base in renamed) {
        suffix++
        n = split(renamed[base], names, SUBSEP)
        for (i = 1; i <= n; i++) emit(names[i])
        next
    }
    if (base in have) {
        suffix++
        emit(base)
        next
    }
    key = no_hash(name)
    if (hashed[key] == 1) {
        unique++
        emit(only[key])
        next
    }
    missing++
}

END {
    printf "link order: %d names, %d as written, %d with another .llvm suffix, %d by a unique hash-less match, %d not in this build\n", \
        wanted, exact, suffix, unique, missing > "/dev/stderr"
}
