# Secrets and sandboxing. A hub signs with a CA given as ca.certFile/ca.keyFile and
# provisions a bootstrap token from bootstrapTokenFile, both through LoadCredential (never
# the Nix store); an agent joins with that token. Every unit's sandbox is checked with
# `systemctl show` and its `systemd-analyze security` exposure score must stay below
# maxExposure.
{ common, pkgs }:
let
  # The agreed ceiling for `systemd-analyze security` (0 = fully locked down, 10 = no
  # sandboxing; below 2 counts as well hardened for a network service). What the units
  # cannot drop: Internet sockets, no PrivateNetwork/IPAddressDeny (they serve and dial
  # out), no root-directory isolation.
  maxExposure = "2.0";

  # Test-only CA (its key is in the Nix store; the test script copies it out of the store
  # first, as the module requires for secrets).
  testCa = pkgs.runCommand "ocm-test-ca" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    mkdir $out
    openssl ecparam -name prime256v1 -genkey -noout -out $out/ca.key
    openssl req -x509 -new -key $out/ca.key -sha256 -days 3650 -subj "/CN=ocm test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out $out/ca.crt
  '';
  token = "abcdef.0123456789abcdef";
in
{
  name = "multicluster-controlplane-hardening";

  inherit (common) defaults;

  nodes.machine =
    { ... }:
    {
      environment.etc."ocm-test-ca".source = testCa;
      services.multicluster-controlplane = {
        hubs.main = {
          autoStart = false;
          ca.certFile = "/var/lib/ocm-keys/ca/ca.crt";
          ca.keyFile = "/var/lib/ocm-keys/ca/ca.key";
          bootstrapTokenFile = "/var/lib/ocm-keys/hub-tokens";
        };
        hubs.managed = common.standIn 7443;
        agents.main = common.agent {
          name = "main";
          clusterName = "hardened";
          hubUrl = "https://127.0.0.1:9443";
          standIn = "managed";
        };
      };
    };

  testScript = common.helpers + ''
    import re

    units = [
        "multicluster-controlplane-hub-main",
        "multicluster-controlplane-hub-managed",
        "multicluster-controlplane-agent-main",
    ]

    machine.start()
    machine.succeed("install -d -m 0700 /var/lib/ocm-keys/ca")
    machine.succeed("install -m 0400 /etc/ocm-test-ca/ca.crt /etc/ocm-test-ca/ca.key /var/lib/ocm-keys/ca/")
    machine.succeed(
        "umask 077; printf '# provisioned by the test\\n\\n%s\\n' ${token} > /var/lib/ocm-keys/hub-tokens"
    )
    machine.succeed("systemctl start multicluster-controlplane-hub-main.service")
    machine.wait_for_unit("multicluster-controlplane-hub-main.service")

    with subtest("the hub signs with the CA handed over by LoadCredential"):
        machine.succeed(f"openssl verify -CAfile /etc/ocm-test-ca/ca.crt {hub_dir('main')}/cert/apiserver.crt")
        config = machine.succeed(
            "systemctl show -P ExecStart multicluster-controlplane-hub-main"
            " | grep -o '/nix/store/[^ ;]*multicluster-controlplane-hub-main.json' | head -1"
        ).strip()
        machine.succeed(
            f"jq -e '.apiserver.caKeyFile == \"/run/credentials/multicluster-controlplane-hub-main.service/ca.key\"' {config}"
        )
        machine.fail(f"grep -q 'PRIVATE KEY' {config}")

    with subtest("the bootstrap token from bootstrapTokenFile is registered, also after a restart"):
        machine.succeed(f"multicluster-controlplane token list --data-dir {hub_dir('main')} | grep -E '^abcdef +<never>'")
        machine.systemctl("restart multicluster-controlplane-hub-main.service")
        machine.wait_for_unit("multicluster-controlplane-hub-main.service")
        machine.succeed(f"multicluster-controlplane token list --data-dir {hub_dir('main')} | grep -E '^abcdef +<never>'")

    with subtest("an agent joins with that token"):
        machine.wait_for_unit("multicluster-controlplane-hub-managed.service")
        add_node(machine, "managed")
        machine.succeed("install -d -m 0700 /var/lib/ocm-keys/main")
        machine.succeed("umask 077; echo ${token} > /var/lib/ocm-keys/main/bootstrap-token")
        machine.succeed("install -m 0400 /etc/ocm-test-ca/ca.crt /var/lib/ocm-keys/main/hub-ca.crt")
        start_agent(machine, "main")
        accept(machine, "main", "hardened")
        wait_available(machine, "main", "hardened")

    with subtest("units run sandboxed"):
        expected = {
            "DynamicUser": "yes",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "PrivateDevices": "yes",
            "NoNewPrivileges": "yes",
            "CapabilityBoundingSet": "",
            "RestrictNamespaces": "yes",
            "MemoryDenyWriteExecute": "yes",
            "LockPersonality": "yes",
            "SystemCallArchitectures": "native",
        }
        for unit in units:
            kind = "exec" if "-agent-" in unit else "notify"
            for prop, want in {**expected, "Type": kind}.items():
                got = machine.succeed(f"systemctl show -P {prop} {unit}").strip()
                assert got == want, f"{unit}: {prop}={got!r}, expected {want!r}"
            families = machine.succeed(f"systemctl show -P RestrictAddressFamilies {unit}").split()
            assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"], f"{unit}: {families}"
            pid = machine.succeed(f"systemctl show -P MainPID {unit}").strip()
            uid = machine.succeed(f"stat -c %u /proc/{pid}").strip()
            assert uid != "0", f"{unit} runs as root"
        # Secrets are readable by the unit's own user only.
        mode = machine.succeed(
            "stat -c %a /run/credentials/multicluster-controlplane-hub-main.service/ca.key"
        ).strip()
        assert mode in ("400", "440"), f"ca.key credential has mode {mode}"

    with subtest("systemd-analyze security exposure below ${maxExposure}"):
        for unit in units:
            out = machine.succeed(f"systemd-analyze security --no-pager {unit}.service")
            print(out)
            found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
            assert found, f"no overall exposure level for {unit}"
            score = float(found.group(1))
            assert score < ${maxExposure}, f"{unit}: exposure {score} >= ${maxExposure}"
  '';
}
