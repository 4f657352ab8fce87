# A hub and two agent machines: the agents join with a token minted on the hub by the test
# script (`token create --print-token-only`), are accepted (`accept`), become Available and
# receive a ManifestWork (only the cluster it is addressed to). Then the hub reboots: every
# cluster and work is still there, the agents renew their leases again and a new work is
# delivered.
{ common }:
let
  agentNode =
    clusterName:
    { ... }:
    {
      services.multicluster-controlplane = {
        # The stand-in managed cluster (see common.nix).
        hubs.managed = common.standIn 7443;
        agents.main = common.agent {
          name = "main";
          inherit clusterName;
          hubUrl = "https://hub:9443";
          standIn = "managed";
        };
      };
    };
in
{
  name = "multicluster-controlplane-hub-agents";

  inherit (common) defaults;

  nodes = {
    hub =
      { ... }:
      {
        services.multicluster-controlplane.hubs.main = {
          openFirewall = true;
          externalHostname = "hub";
        };
      };
    agent1 = agentNode "agent1";
    agent2 = agentNode "agent2";
  };

  testScript = common.helpers + ''
    start_all()

    with subtest("the hub starts (Type=notify) and serves its API"):
        hub.wait_for_unit("multicluster-controlplane-hub-main.service")
        hub.wait_for_open_port(9443)
        hub.succeed(kubectl("main", "get --raw /readyz") + " | grep -x ok")
        hub.succeed("systemctl show -P DynamicUser multicluster-controlplane-hub-main | grep -x yes")

    token = mint_token(hub, "main")

    for (machine, cluster) in [(agent1, "agent1"), (agent2, "agent2")]:
        machine.wait_for_unit("multicluster-controlplane-hub-managed.service")
        add_node(machine, "managed")
        provision_agent(machine, "main", token, hub, "main")
        start_agent(machine, "main")

    with subtest("both clusters join, are accepted and become Available"):
        for cluster in ["agent1", "agent2"]:
            accept(hub, "main", cluster)
        for cluster in ["agent1", "agent2"]:
            wait_available(hub, "main", cluster)
        mc = get_json(hub, "main", "managedcluster agent1")
        assert mc["spec"]["hubAcceptsClient"] is True, mc
        assert mc["status"]["capacity"]["cpu"] == "2", mc["status"]

    with subtest("a ManifestWork reaches its own cluster only"):
        send_work(hub, "main", "agent1", "nix-hello", {"from": "hub"})
        wait_delivered(agent1, "managed", "nix-hello", "from", "hub")
        hub.wait_until_succeeds(
            condition("main", "manifestwork", "nix-hello", "Applied", namespace="agent1"),
            timeout=120,
        )
        agent2.fail(kubectl("managed", "get configmap -n default nix-hello"))

    with subtest("a hub reboot keeps every cluster and work"):
        renewed = lease_renew_time(hub, "main", "agent2")
        hub.shutdown()
        hub.start()
        hub.wait_for_unit("multicluster-controlplane-hub-main.service")
        names = sorted(i["metadata"]["name"] for i in get_json(hub, "main", "managedclusters")["items"])
        assert names == ["agent1", "agent2"], names
        hub.succeed(kubectl("main", "get manifestwork -n agent1 nix-hello"))
        # The agents come back by themselves: fresh leases, Available again.
        hub.wait_until_succeeds(
            kubectl("main", "get lease -n agent2 managed-cluster-lease -o jsonpath='{.spec.renewTime}'")
            + f" | grep -vx '{renewed}'",
            timeout=180,
        )
        for cluster in ["agent1", "agent2"]:
            wait_available(hub, "main", cluster)

    with subtest("the rebooted hub delivers new work"):
        send_work(hub, "main", "agent2", "after-reboot", {"generation": "2"})
        wait_delivered(agent2, "managed", "after-reboot", "generation", "2")
        agent1.succeed(kubectl("managed", "get configmap -n default nix-hello"))
  '';
}
