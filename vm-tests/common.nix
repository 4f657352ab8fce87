# Shared pieces of the VM tests.
#
# About the managed clusters: an agent reports on and applies work to a Kubernetes cluster
# (its "managed cluster"). A VM test has no Kubernetes, so each agent machine runs a second
# instance of the same binary as a stand-in: a hub instance with the OCM controllers turned
# off (`settings.controllers.enabled = false`, what `server --no-controllers` sets), serving
# the Kubernetes-style API on loopback. The agent gets its admin kubeconfig as
# `managedKubeconfigFile`. The host tests over network namespaces (tests/*_hosts.rs) use the
# same stand-in.
{ nixosModule, package }:
{
  # Applied to every node.
  defaults =
    { pkgs, ... }:
    {
      imports = [ nixosModule ];
      services.multicluster-controlplane.package = package;
      environment.systemPackages = [
        pkgs.kubectl
        pkgs.jq
        pkgs.curl
        pkgs.openssl
      ];
      virtualisation.memorySize = 1536;
      virtualisation.cores = 2;
    };

  # A stand-in managed cluster (see above) on 127.0.0.1:`port`.
  standIn = port: {
    listenAddress = "127.0.0.1";
    inherit port;
    settings.controllers.enabled = false;
  };

  # An agent joining `hubUrl` as `clusterName`, with the managed cluster served by the
  # stand-in hub instance `standIn`. Its token and the hub CA are written by the test script
  # (minted on the hub at run time) into /var/lib/ocm-keys/<name>/ before it is started, so
  # it does not start at boot.
  agent =
    {
      name,
      clusterName,
      hubUrl,
      standIn,
    }:
    {
      inherit clusterName hubUrl;
      autoStart = false;
      tokenFile = "/var/lib/ocm-keys/${name}/bootstrap-token";
      hubCaFile = "/var/lib/ocm-keys/${name}/hub-ca.crt";
      managedKubeconfigFile = "/var/lib/multicluster-controlplane-hub-${standIn}/cert/kube-aggregator.kubeconfig";
      # Short periods keep the test fast: leases every 5 s, status every 2 s.
      settings.agent = {
        leaseDurationSeconds = 5;
        statusSyncSeconds = 2;
      };
    };

  # Python helpers prepended to every test script.
  helpers = ''
    import json


    def hub_dir(hub):
        return f"/var/lib/multicluster-controlplane-hub-{hub}"


    def kubectl(hub, args):
        """kubectl as the admin of hub instance `hub` on the machine it runs on."""
        return f"kubectl --kubeconfig {hub_dir(hub)}/cert/kube-aggregator.kubeconfig {args}"


    def get_json(machine, hub, args):
        return json.loads(machine.succeed(kubectl(hub, f"get {args} -o json")))


    def mint_token(machine, hub):
        """A bootstrap token minted on the running hub with the CLI, as an admin would."""
        token = machine.succeed(
            f"multicluster-controlplane token create --data-dir {hub_dir(hub)} --ttl 1h --print-token-only"
        ).strip()
        assert len(token) == 23 and token[6] == ".", f"unexpected token {token!r}"
        return token


    def provision_agent(machine, agent, token, hub_machine, hub):
        """Writes the token and the hub CA where agents.<agent> expects them (root only)."""
        ca = hub_machine.succeed(f"cat {hub_dir(hub)}/cert/ca.crt")
        keys = f"/var/lib/ocm-keys/{agent}"
        machine.succeed(f"install -d -m 0700 {keys}")
        machine.succeed(f"umask 077; printf '%s\\n' {token} > {keys}/bootstrap-token")
        machine.succeed(f"umask 077; cat > {keys}/hub-ca.crt <<'EOF'\n{ca}\nEOF")


    def add_node(machine, stand_in):
        """A Node in the stand-in managed cluster, so the cluster reports capacity."""
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1"},
            "status": {
                "capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"},
            },
        }
        machine.succeed(f"echo '{json.dumps(node)}' | " + kubectl(stand_in, "create -f -"))


    def start_agent(machine, agent):
        unit = f"multicluster-controlplane-agent-{agent}.service"
        machine.succeed(f"systemctl start {unit}")
        machine.wait_for_unit(unit)


    def accept(machine, hub, cluster):
        """Accepts `cluster` once its agent has asked to join (CSR pending)."""
        machine.wait_until_succeeds(
            f"multicluster-controlplane accept --data-dir {hub_dir(hub)} {cluster}"
            " | grep -F 'accepted (hubAcceptsClient: true)'",
            timeout=180,
        )


    def condition(hub, kind, name, cond, namespace=None):
        """A command that succeeds when condition `cond` of the object is True."""
        ns = f"-n {namespace} " if namespace else ""
        return (
            kubectl(hub, f"get {kind} {ns}{name} -o json")
            + f" | jq -e '.status.conditions[] | select(.type == \"{cond}\") | .status == \"True\"'"
        )


    def wait_available(machine, hub, cluster):
        machine.wait_until_succeeds(
            condition(hub, "managedcluster", cluster, "ManagedClusterConditionAvailable"),
            timeout=180,
        )


    def lease_renew_time(machine, hub, cluster):
        return get_json(machine, hub, f"lease -n {cluster} managed-cluster-lease")["spec"]["renewTime"]


    def manifest_work(cluster, name, data):
        """A ManifestWork for `cluster` carrying one ConfigMap `name` in namespace default."""
        return json.dumps({
            "apiVersion": "work.open-cluster-management.io/v1",
            "kind": "ManifestWork",
            "metadata": {"name": name, "namespace": cluster},
            "spec": {"workload": {"manifests": [{
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default"},
                "data": data,
            }]}},
        })


    def send_work(machine, hub, cluster, name, data):
        machine.succeed(f"echo '{manifest_work(cluster, name, data)}' | " + kubectl(hub, "apply -f -"))


    def wait_delivered(machine, stand_in, name, key, value):
        """Waits until ConfigMap `name` in the stand-in cluster has data[key] == value."""
        machine.wait_until_succeeds(
            kubectl(stand_in, f"get configmap -n default {name} -o jsonpath='{{.data.{key}}}'")
            + f" | grep -x {value}",
            timeout=120,
        )
  '';
}
