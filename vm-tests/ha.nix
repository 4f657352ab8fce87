# One hub on two hosts: replicas hub1 and hub2 on a three-node etcd cluster (etcd1..3),
# sharing the hub's identity (CA and service-account key through LoadCredential). An agent
# on hub1's machine joins through hub2. Checked: one replica leads (the Lease, and
# leader_election_master_status); objects written through one replica are read through the
# other; stopping the leader hands the controllers to the other replica, which keeps the
# cluster Available and accepts a second cluster; one etcd node down changes nothing.
{ common, pkgs }:
let
  # Test-only identity (its keys are in the Nix store; the test script moves the copies the
  # hubs read out of it, as the module requires for secrets).
  identity = pkgs.runCommand "ha-test-identity" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    mkdir -p $out
    cd $out
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=ha test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out ca.crt
    openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out sa.key
  '';
  etcdNames = [
    "etcd1"
    "etcd2"
    "etcd3"
  ];
  etcdNode =
    name:
    { ... }:
    {
      services.etcd = {
        enable = true;
        inherit name;
        listenClientUrls = [ "http://0.0.0.0:2379" ];
        advertiseClientUrls = [ "http://${name}:2379" ];
        listenPeerUrls = [ "http://0.0.0.0:2380" ];
        initialAdvertisePeerUrls = [ "http://${name}:2380" ];
        initialCluster = map (n: "${n}=http://${n}:2380") etcdNames;
        initialClusterState = "new";
      };
      networking.firewall.allowedTCPPorts = [
        2379
        2380
      ];
    };
  hubNode =
    { ... }:
    {
      services.multicluster-controlplane.hubs.main = {
        # Started by the test script once the identity is in place.
        autoStart = false;
        openFirewall = true;
        externalHostname = "hub";
        ca.certFile = "/var/lib/ocm-keys/ha/ca.crt";
        ca.keyFile = "/var/lib/ocm-keys/ha/ca.key";
        serviceAccountKeyFile = "/var/lib/ocm-keys/ha/sa.key";
        settings.etcd = {
          mode = "external";
          servers = map (n: "http://${n}:2379") etcdNames;
          prefix = "/ocm-ha";
        };
        settings.controllers.leaderElection = {
          leaseDurationSeconds = 6;
          renewDeadlineSeconds = 4;
          retryPeriodSeconds = 1;
        };
      };
      environment.etc."ocm-ha-identity".source = identity;
    };
in
{
  name = "multicluster-controlplane-ha";

  inherit (common) defaults;

  nodes = {
    etcd1 = etcdNode "etcd1";
    etcd2 = etcdNode "etcd2";
    etcd3 = etcdNode "etcd3";
    hub1 =
      { ... }:
      {
        imports = [ hubNode ];
        services.multicluster-controlplane = {
          hubs.managed = common.standIn 7443;
          agents.main = common.agent {
            name = "main";
            clusterName = "edge";
            hubUrl = "https://hub2:9443";
            standIn = "managed";
          };
        };
      };
    hub2 = hubNode;
  };

  testScript = common.helpers + ''
    hubs = [hub1, hub2]


    def metrics_leader(machine):
        out = machine.succeed(kubectl("main", "get --raw /metrics"))
        return "leader_election_master_status 1" in out.splitlines()


    def leader():
        leading = [m for m in hubs if metrics_leader(m)]
        assert len(leading) == 1, f"{len(leading)} replicas lead"
        return leading[0]


    start_all()
    for m in [etcd1, etcd2, etcd3]:
        m.wait_for_unit("etcd.service")
    for m in hubs:
        m.succeed("install -d -m 0700 /var/lib/ocm-keys/ha")
        m.succeed("install -m 0400 /etc/ocm-ha-identity/{ca.crt,ca.key,sa.key} /var/lib/ocm-keys/ha/")
        m.succeed("systemctl start multicluster-controlplane-hub-main.service")
        m.wait_for_unit("multicluster-controlplane-hub-main.service")

    with subtest("one replica leads; writes through one are read through the other"):
        hub1.wait_until_succeeds(kubectl("main", "get lease -n kube-system multicluster-controlplane"))
        first = leader()
        hub1.succeed(kubectl("main", "create configmap ha-probe -n default --from-literal=k=v"))
        hub2.succeed(kubectl("main", "get configmap ha-probe -n default"))

    with subtest("an agent joins through hub2 and is accepted on hub1"):
        hub1.wait_for_unit("multicluster-controlplane-hub-managed.service")
        add_node(hub1, "managed")
        # The hub CA is the shared one (not in the state directory: it is given as a file).
        token = mint_token(hub2, "main")
        hub1.succeed("install -d -m 0700 /var/lib/ocm-keys/main")
        hub1.succeed(f"umask 077; printf '%s\\n' {token} > /var/lib/ocm-keys/main/bootstrap-token")
        hub1.succeed("install -m 0400 /etc/ocm-ha-identity/ca.crt /var/lib/ocm-keys/main/hub-ca.crt")
        start_agent(hub1, "main")
        accept(hub1, "main", "edge")
        wait_available(hub1, "main", "edge")

    with subtest("the leader stops: the other replica's controllers take over"):
        first.succeed("systemctl stop multicluster-controlplane-hub-main.service")
        other = hub2 if first is hub1 else hub1
        other.wait_until_succeeds(
            kubectl("main", "get --raw /metrics") + " | grep -x 'leader_election_master_status 1'",
            timeout=60,
        )
        other.succeed(kubectl("main", "create -f - <<'EOF'\n" + json.dumps({
            "apiVersion": "cluster.open-cluster-management.io/v1",
            "kind": "ManagedCluster",
            "metadata": {"name": "late"},
            "spec": {"hubAcceptsClient": True},
        }) + "\nEOF"))
        other.wait_until_succeeds(
            kubectl("main", "get managedcluster late -o json")
            + " | jq -e '.metadata.finalizers | length > 0'",
            timeout=60,
        )
        other.wait_until_succeeds(
            condition("main", "managedcluster", "edge", "ManagedClusterConditionAvailable"),
            timeout=120,
        )
        first.succeed("systemctl start multicluster-controlplane-hub-main.service")
        first.wait_for_unit("multicluster-controlplane-hub-main.service")

    with subtest("one etcd node down: both replicas still serve and the cluster stays Available"):
        etcd3.crash()
        for m in hubs:
            m.wait_until_succeeds(kubectl("main", "get --raw /readyz"), timeout=60)
            m.succeed(kubectl("main", "get managedcluster edge"))
        hub1.succeed(kubectl("main", "create configmap ha-after-fault -n default --from-literal=k=v"))
        hub2.succeed(kubectl("main", "get configmap ha-after-fault -n default"))
        leader()
  '';
}
