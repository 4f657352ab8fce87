# A hub storing its objects in an external etcd (services.etcd on the same machine) over
# mutual TLS, the etcd client key handed to the unit with LoadCredential. An agent on the
# same machine joins; the objects are in etcd under the hub's prefix, and a hub restart
# keeps the cluster.
{ common, pkgs }:
let
  # Test-only PKI (its keys are in the Nix store; the hub's copy of the client key is
  # moved out of it by the test script, as the module requires for secrets).
  certs = pkgs.runCommand "etcd-test-pki" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    sh ${./etcd-certs.sh} $out
  '';
  etcdUrl = "https://127.0.0.1:2379";
  prefix = "/ocm-vmtest";
in
{
  name = "multicluster-controlplane-external-etcd";

  inherit (common) defaults;

  nodes.hub =
    { ... }:
    {
      environment.etc."ocm-test-pki".source = certs;

      services.etcd = {
        enable = true;
        listenClientUrls = [ etcdUrl ];
        advertiseClientUrls = [ etcdUrl ];
        certFile = "${certs}/server.crt";
        keyFile = "${certs}/server.key";
        trustedCaFile = "${certs}/ca.crt";
        clientCertAuth = true;
      };

      services.multicluster-controlplane = {
        hubs.main = {
          # Started by the test script once the client key is in place.
          autoStart = false;
          etcd = {
            caFile = "/var/lib/ocm-keys/etcd/ca.crt";
            certFile = "/var/lib/ocm-keys/etcd/client.crt";
            keyFile = "/var/lib/ocm-keys/etcd/client.key";
          };
          settings.etcd = {
            mode = "external";
            servers = [ etcdUrl ];
            inherit prefix;
          };
        };
        hubs.managed = common.standIn 7443;
        agents.main = common.agent {
          name = "main";
          clusterName = "local";
          hubUrl = "https://127.0.0.1:9443";
          standIn = "managed";
        };
      };
    };

  testScript = common.helpers + ''
    etcdctl = (
        "etcdctl --endpoints ${etcdUrl} --cacert /etc/ocm-test-pki/ca.crt"
        " --cert /etc/ocm-test-pki/client.crt --key /etc/ocm-test-pki/client.key"
    )

    hub.start()
    hub.wait_for_unit("etcd.service")
    hub.succeed("install -d -m 0700 /var/lib/ocm-keys/etcd")
    hub.succeed("install -m 0400 /etc/ocm-test-pki/{ca.crt,client.crt,client.key} /var/lib/ocm-keys/etcd/")
    hub.succeed("systemctl start multicluster-controlplane-hub-main.service")
    hub.wait_for_unit("multicluster-controlplane-hub-main.service")

    with subtest("the unit is ordered after etcd and reads its key from the credentials"):
        hub.succeed("systemctl show -P After multicluster-controlplane-hub-main | grep -w etcd.service")
        config = hub.succeed(
            "systemctl show -P ExecStart multicluster-controlplane-hub-main"
            " | grep -o '/nix/store/[^ ;]*multicluster-controlplane-hub-main.json' | head -1"
        ).strip()
        hub.succeed(
            f"jq -e '.etcd.keyFile == \"/run/credentials/multicluster-controlplane-hub-main.service/etcd-client.key\"' {config}"
        )

    with subtest("an agent joins and its cluster is stored in etcd under the prefix"):
        hub.wait_for_unit("multicluster-controlplane-hub-managed.service")
        add_node(hub, "managed")
        provision_agent(hub, "main", mint_token(hub, "main"), hub, "main")
        start_agent(hub, "main")
        accept(hub, "main", "local")
        wait_available(hub, "main", "local")
        hub.succeed(f"{etcdctl} get --prefix ${prefix}/ --keys-only | grep managedclusters/local")
        # Nothing is stored locally: no embedded store in the state directory.
        hub.fail(f"test -e {hub_dir('main')}/db")

    with subtest("a hub restart keeps the cluster (it lives in etcd)"):
        hub.systemctl("restart multicluster-controlplane-hub-main.service")
        hub.wait_for_unit("multicluster-controlplane-hub-main.service")
        hub.succeed(kubectl("main", "get managedcluster local"))
        wait_available(hub, "main", "local")
  '';
}
