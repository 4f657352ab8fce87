#!/usr/bin/env bash
# Checks the Nix files (flake.nix, nix/, vm-tests/) on a machine without nixpkgs, with
# Debian's nix-bin (Nix 2.8) only. Nothing is built and nothing is downloaded.
#
# Always:
#   1. every *.nix file parses (nix-instantiate --parse);
#   2. flake.lock is a version-7 lock pinning nixpkgs (the only input) to a GitHub revision,
#      and Nix reads it (nix flake metadata, offline);
#   3. nix/image.nix evaluates (stub dockerTools) to the expected image configuration.
# With NIXPKGS_LIB set to the lib/ directory of a nixpkgs or nixpkgs.lib checkout
# (e.g. `git clone https://github.com/nix-community/nixpkgs.lib` and
# NIXPKGS_LIB=$PWD/nixpkgs.lib/lib), also:
#   4. the NixOS module, evaluated with lib.evalModules (nix/tests/eval-module.nix): units,
#      settings, credentials, assertions, type errors, option documentation;
#      the settings it renders pass `multicluster-controlplane config check` (when the
#      binary is built: $MCP_BIN, else $CARGO_TARGET_DIR/debug/multicluster-controlplane);
#      the unit files it renders score below 2.0 in `systemd-analyze security --offline`;
#   5. every VM-test node evaluates with no failed assertion (nix/tests/eval-vm-tests.nix),
#      and every test script parses as Python and passes pyflakes, as the NixOS test driver
#      requires;
#   6. flake.nix evaluates against a stand-in nixpkgs (that lib plus stub packages): its
#      packages, apps, module, overlay, checks, dev shell and formatter are wired up.
# NIXPKGS_LIB defaults to ../shared/nixpkgs-lib/lib beside this clone (hack/lib.sh). Without
# it, steps 4-6 are skipped with a warning, or fail under CI=true (the parse step still runs
# and fails on syntax errors).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

failures=0
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}
pass() { printf 'ok: %s\n' "$*" >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v nix-instantiate > /dev/null; then
    apt_install nix-bin
fi
command -v nix-instantiate > /dev/null || {
    echo "nix-check: nix-instantiate not found; install Debian's nix-bin" >&2
    exit 1
}
# Offline and without build users: no binary cache, no global flake registry.
echo '{"flakes":[],"version":2}' > "$tmp/registry.json"
export NIX_CONFIG="substituters =
build-users-group =
flake-registry = $tmp/registry.json
experimental-features = nix-command flakes"
log "nix: $(nix-instantiate --version)"

# 1. Parse.
mapfile -t files < <(find . \( -name .git -o -name target -o -name node_modules \) -prune -o -name '*.nix' -type f -print | sort)
parsed=0
for f in "${files[@]}"; do
    if out=$(nix-instantiate --parse "$f" 2>&1 > /dev/null); then
        parsed=$((parsed + 1))
    else
        fail "$f does not parse: $out"
    fi
done
[ "${#files[@]}" -gt 0 ] || fail "no .nix files found"
pass "$parsed of ${#files[@]} .nix files parse"

# 2. flake.lock.
if python3 - flake.lock <<'EOF'
import json, re, sys
lock = json.load(open(sys.argv[1]))
assert lock["version"] == 7, "version must be 7"
assert lock["root"] == "root"
assert lock["nodes"]["root"] == {"inputs": {"nixpkgs": "nixpkgs"}}, "nixpkgs must be the only input"
assert set(lock["nodes"]) == {"root", "nixpkgs"}, sorted(lock["nodes"])
n = lock["nodes"]["nixpkgs"]
locked, original = n["locked"], n["original"]
assert locked["type"] == "github" and locked["owner"] == "NixOS" and locked["repo"] == "nixpkgs", locked
assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"]), locked["rev"]
assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"]), locked["narHash"]
assert isinstance(locked["lastModified"], int)
assert original == {"owner": "NixOS", "repo": "nixpkgs", "ref": original.get("ref"), "type": "github"}, original
print(f"nixpkgs {original['ref']} at {locked['rev']}", file=sys.stderr)
EOF
then
    pass "flake.lock pins nixpkgs only"
else
    fail "flake.lock"
fi

# The flake's sources, copied so that Nix does not copy the whole work tree into the store.
src=$tmp/src
mkdir -p "$src"
cp -r flake.nix flake.lock Cargo.toml nix vm-tests "$src/"
if meta=$(nix flake metadata --json "path:$src" 2> "$tmp/metadata.err"); then
    rev=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["locks"]["nodes"]["nixpkgs"]["locked"]["rev"])' <<< "$meta")
    pass "nix flake metadata reads the lock (nixpkgs $rev)"
else
    fail "nix flake metadata: $(cat "$tmp/metadata.err")"
fi

# 3. The image.
if nix-instantiate --eval --strict --json nix/tests/eval-image.nix > "$tmp/image.json" 2> "$tmp/image.err"; then
    if python3 - "$tmp/image.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
assert c["User"] == "65532:65532", c["User"]
assert c["Entrypoint"] == ["/bin/multicluster-controlplane"], c["Entrypoint"]
assert c["Cmd"][0] == "server", c["Cmd"]
assert "9443/tcp" in c["ExposedPorts"], c["ExposedPorts"]
assert "/var/lib/multicluster-controlplane" in c["Volumes"], c["Volumes"]
assert "org.opencontainers.image.version" in c["Labels"]
EOF
    then pass "nix/image.nix: non-root, port 9443, data volume, labels"; else fail "nix/image.nix configuration"; fi
else
    fail "nix/image.nix does not evaluate: $(cat "$tmp/image.err")"
fi

# 4.-6. Evaluation with nixpkgs' lib.
if [ -z "${NIXPKGS_LIB:-}" ]; then
    ci_missing "NixOS module, VM-test and flake evaluation: NIXPKGS_LIB is not set and ../shared/nixpkgs-lib is absent. Point it at the lib/ directory of a nixpkgs or nixpkgs.lib checkout"
else
    [ -f "$NIXPKGS_LIB/default.nix" ] || {
        echo "nix-check: NIXPKGS_LIB=$NIXPKGS_LIB has no default.nix (give the lib/ directory)" >&2
        exit 1
    }
    NIXPKGS_LIB=$(cd "$NIXPKGS_LIB" && pwd)
    libarg=(--arg lib "import $NIXPKGS_LIB")
    log "nixpkgs lib $(nix-instantiate --eval --expr "(import $NIXPKGS_LIB).version" | tr -d '"') at $NIXPKGS_LIB"

    # 4. The module.
    if nix-instantiate --eval --strict --json nix/tests/eval-module.nix "${libarg[@]}" > "$tmp/module.json" 2> "$tmp/module.err"; then
        summary=$(python3 - "$tmp/module.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
units = ", ".join(sorted(d["units"]))
print(f"{d['checks']} expectations met, {len(d['options'])} documented options, units {units}")
EOF
)
        pass "NixOS module: $summary"
        mkdir -p "$tmp/units" "$tmp/settings"
        python3 - "$tmp/module.json" "$tmp" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for name, text in d["units"].items():
    open(f"{sys.argv[2]}/units/{name}", "w").write(text)
for name, settings in d["settings"].items():
    json.dump(settings, open(f"{sys.argv[2]}/settings/{name}.json", "w"), indent=2)
EOF
        bin=${MCP_BIN:-$CARGO_TARGET_DIR/debug/multicluster-controlplane}
        if [ -x "$bin" ]; then
            for f in "$tmp"/settings/*.json; do
                if out=$("$bin" config check "$f" 2>&1); then
                    pass "settings $(basename "$f" .json) pass config check"
                else
                    fail "settings $(basename "$f" .json) break the contract: $out"
                fi
            done
        else
            ci_missing "config check of the rendered settings: no binary at $bin (cargo build, or set MCP_BIN)"
        fi
        if command -v systemd-analyze > /dev/null && systemd-analyze security --help 2>&1 | grep -q -- --offline; then
            for unit in "$tmp"/units/*.service; do
                name=$(basename "$unit")
                if out=$(cd "$tmp/units" && systemd-analyze security --offline=true --threshold=20 --no-pager "./$name" 2>&1); then
                    pass "$(grep -o 'Overall exposure level.*' <<< "$out" | head -1) (threshold 2.0)"
                else
                    fail "$name: systemd-analyze security: $(tail -3 <<< "$out")"
                fi
            done
        else
            ci_missing "unit hardening scores: systemd-analyze security --offline not available (systemd >= 250)"
        fi
    else
        fail "NixOS module evaluation: $(cat "$tmp/module.err")"
    fi

    # 5. VM tests.
    if nix-instantiate --eval --strict --json nix/tests/eval-vm-tests.nix "${libarg[@]}" > "$tmp/vm.json" 2> "$tmp/vm.err"; then
        pyflakes=""
        for py in python3 /usr/bin/python3; do
            if "$py" -m pyflakes --version > /dev/null 2>&1; then pyflakes=$py; break; fi
        done
        if [ -z "$pyflakes" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null; then
            apt_install python3-pyflakes && pyflakes=/usr/bin/python3
        fi
        if python3 - "$tmp/vm.json" "$tmp" "$pyflakes" <<'EOF'
import ast, json, os, subprocess, sys
tests = json.load(open(sys.argv[1]))
tmp, pyflakes = sys.argv[2], sys.argv[3]
# What the NixOS test driver defines for a test script, besides one name per machine.
driver = ["start_all", "subtest", "machines", "driver", "log", "os", "create_machine",
          "run_tests", "join_all", "retry", "serial_stdout_off", "serial_stdout_on",
          "polling_condition", "Machine", "t", "vlans", "test_script", "dump_tty_contents"]
ok = True
for key, test in sorted(tests.items()):
    script = test["testScript"]
    try:
        ast.parse(script)
    except SyntaxError as e:
        print(f"FAIL: {key}: test script: {e}", file=sys.stderr)
        ok = False
        continue
    note = "parses"
    if pyflakes:
        path = os.path.join(tmp, f"{key}.py")
        open(path, "w").write(script)
        env = dict(os.environ, PYFLAKES_BUILTINS=",".join(list(test["nodes"]) + driver))
        r = subprocess.run([pyflakes, "-m", "pyflakes", path], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL: {key}: pyflakes:\n{r.stdout}{r.stderr}", file=sys.stderr)
            ok = False
            continue
        note += ", pyflakes clean"
    nodes = "; ".join(f"{n}: {', '.join(v['units'])}" for n, v in sorted(test["nodes"].items()))
    print(f"ok: VM test {key} ({test['name']}): script {note}; nodes {nodes}", file=sys.stderr)
if not pyflakes:
    print("  (pyflakes not available: install python3-pyflakes to lint the test scripts)", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
        then :; else fail "VM test scripts"; fi
    else
        fail "VM-test evaluation: $(cat "$tmp/vm.err")"
    fi

    # 6. flake.nix against a stand-in nixpkgs: nixpkgs' lib and the stub packages.
    fake=$tmp/fake-nixpkgs
    mkdir -p "$fake"
    cp -r "$NIXPKGS_LIB" "$fake/lib"
    cp nix/tests/stub-pkgs.nix "$fake/"
    cat > "$fake/flake.nix" <<'EOF'
{
  description = "stand-in for nixpkgs: its lib and stub packages (hack/nix-check.sh)";
  outputs = { self }:
    let lib = import ./lib; in {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ]
        (system: import ./stub-pkgs.nix { inherit lib system; });
    };
}
EOF
    feval() {
        local attr=$1
        shift
        nix eval --json --no-write-lock-file --override-input nixpkgs "path:$fake" "path:$src#$attr" "$@" 2> "$tmp/feval.err"
    }
    expect() {
        local what=$1 want=$2 got
        shift 2
        if got=$(feval "$@"); then
            if [ "$got" = "$want" ]; then pass "flake: $what"; else fail "flake: $what: got $got, want $want"; fi
        else
            fail "flake: $what: $(tail -5 "$tmp/feval.err")"
        fi
    }
    version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml","rb"))["package"]["version"])' 2> /dev/null \
        || sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
    for system in x86_64-linux aarch64-linux; do
        expect "packages.$system" '["default","multicluster-controlplane","oci-image"]' "packages.$system" --apply builtins.attrNames
        expect "checks.$system" '["config-check","external-etcd","ha","hardening","hub-agents","module-eval","oci-image","package","two-hubs"]' "checks.$system" --apply builtins.attrNames
        expect "apps.$system" '["default","multicluster-controlplane"]' "apps.$system" --apply builtins.attrNames
    done
    expect "package name from Cargo.toml" "\"multicluster-controlplane-$version\"" packages.x86_64-linux.default.name
    expect "package mainProgram" '"multicluster-controlplane"' packages.x86_64-linux.default.meta.mainProgram
    expect "package test flags" '["--lib"]' packages.x86_64-linux.default.args.cargoTestFlags
    expect "RocksDB from nixpkgs" '["ROCKSDB_INCLUDE_DIR","ROCKSDB_LIB_DIR","PROTOC"]' packages.x86_64-linux.default.args.env \
        --apply 'e: builtins.filter (n: builtins.hasAttr n e) [ "ROCKSDB_INCLUDE_DIR" "ROCKSDB_LIB_DIR" "PROTOC" ]'
    expect "image user and port" '["65532:65532",["9443/tcp"]]' packages.x86_64-linux.oci-image \
        --apply 'i: [ i.config.User (builtins.attrNames i.config.ExposedPorts) ]'
    expect "app program" '"multicluster-controlplane-local-hub"' apps.x86_64-linux.default.program \
        --apply 'p: builtins.baseNameOf p'
    expect "nixosModules.default is a module function" 'true' nixosModules.default --apply builtins.isFunction
    expect "overlays.default" '["multicluster-controlplane"]' overlays.default --apply 'o: builtins.attrNames (o { } { })'
    expect "module-eval check (module evaluated in pure flake mode)" 'true' checks.x86_64-linux.module-eval.text \
        --apply 't: (builtins.fromJSON t).checks > 0'
    expect "config-check check" 'true' checks.x86_64-linux.config-check.script \
        --apply 's: builtins.stringLength s > 0'
    expect "VM test hub-agents nodes" '["agent1","agent2","hub"]' checks.x86_64-linux.hub-agents \
        --apply 't: builtins.attrNames t.nodes'
    expect "VM test ha nodes" '["etcd1","etcd2","etcd3","hub1","hub2"]' checks.x86_64-linux.ha \
        --apply 't: builtins.attrNames t.nodes'
    expect "dev shell" '"nix-shell"' devShells.x86_64-linux.default.name
    expect "formatter" '"nixfmt-tree"' formatter.x86_64-linux.name
fi

if [ "$failures" -gt 0 ]; then
    echo "nix-check: $failures failed" >&2
    exit 1
fi
echo "nix-check: all checks passed" >&2
