# Two hub instances on one machine (ports 9443 and 9444) and, on a second machine, two agent
# instances joining one hub each. Proves isolation: separate units, users, state, CAs and
# tokens; each hub sees only its own cluster and delivers work only there; stopping one hub
# leaves the other serving.
{ common }:
{
  name = "multicluster-controlplane-two-hubs";

  inherit (common) defaults;

  nodes = {
    hubs =
      { ... }:
      {
        services.multicluster-controlplane.hubs = {
          alpha = {
            port = 9443;
            openFirewall = true;
          };
          beta = {
            port = 9444;
            openFirewall = true;
          };
        };
      };

    spokes =
      { ... }:
      {
        services.multicluster-controlplane = {
          # One stand-in managed cluster per agent (see common.nix).
          hubs.managed-alpha = common.standIn 7443;
          hubs.managed-beta = common.standIn 7444;
          agents.alpha = common.agent {
            name = "alpha";
            clusterName = "spoke-alpha";
            hubUrl = "https://hubs:9443";
            standIn = "managed-alpha";
          };
          agents.beta = common.agent {
            name = "beta";
            clusterName = "spoke-beta";
            hubUrl = "https://hubs:9444";
            standIn = "managed-beta";
          };
        };
      };
  };

  testScript = common.helpers + ''
    start_all()
    for hub in ["alpha", "beta"]:
        hubs.wait_for_unit(f"multicluster-controlplane-hub-{hub}.service")
    for stand_in in ["managed-alpha", "managed-beta"]:
        spokes.wait_for_unit(f"multicluster-controlplane-hub-{stand_in}.service")
        add_node(spokes, stand_in)

    with subtest("each instance has its own user, state directory and CA"):
        uids = {
            hubs.succeed(f"stat -L -c %u {hub_dir(h)}").strip() for h in ["alpha", "beta"]
        }
        assert len(uids) == 2, uids
        hubs.fail(f"cmp {hub_dir('alpha')}/cert/ca.crt {hub_dir('beta')}/cert/ca.crt")

    tokens: dict[str, str] = {}
    with subtest("tokens are per hub"):
        for hub in ["alpha", "beta"]:
            tokens[hub] = mint_token(hubs, hub)
        alpha_id = tokens["alpha"].split(".")[0]
        hubs.succeed(f"multicluster-controlplane token list --data-dir {hub_dir('alpha')} | grep -w {alpha_id}")
        hubs.fail(f"multicluster-controlplane token list --data-dir {hub_dir('beta')} | grep -w {alpha_id}")

    for hub in ["alpha", "beta"]:
        provision_agent(spokes, hub, tokens[hub], hubs, hub)
        start_agent(spokes, hub)

    with subtest("each hub accepts and sees only its own cluster"):
        accept(hubs, "alpha", "spoke-alpha")
        accept(hubs, "beta", "spoke-beta")
        wait_available(hubs, "alpha", "spoke-alpha")
        wait_available(hubs, "beta", "spoke-beta")
        for (hub, cluster) in [("alpha", "spoke-alpha"), ("beta", "spoke-beta")]:
            names = [i["metadata"]["name"] for i in get_json(hubs, hub, "managedclusters")["items"]]
            assert names == [cluster], f"hub {hub} lists {names}"

    with subtest("work goes only to the cluster of the hub it was sent to"):
        send_work(hubs, "alpha", "spoke-alpha", "from-alpha", {"hub": "alpha"})
        wait_delivered(spokes, "managed-alpha", "from-alpha", "hub", "alpha")
        spokes.fail(kubectl("managed-beta", "get configmap -n default from-alpha"))

    with subtest("stopping one hub leaves the other serving"):
        hubs.systemctl("stop multicluster-controlplane-hub-alpha.service")
        hubs.wait_for_closed_port(9443)
        before = lease_renew_time(hubs, "beta", "spoke-beta")
        hubs.wait_until_succeeds(
            kubectl("beta", "get lease -n spoke-beta managed-cluster-lease -o jsonpath='{.spec.renewTime}'")
            + f" | grep -vx '{before}'",
            timeout=60,
        )
        wait_available(hubs, "beta", "spoke-beta")
        hubs.systemctl("start multicluster-controlplane-hub-alpha.service")
        hubs.wait_for_unit("multicluster-controlplane-hub-alpha.service")
        wait_available(hubs, "alpha", "spoke-alpha")
  '';
}
