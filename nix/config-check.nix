# Flake check `config-check`: the build-time configuration check of the NixOS module
# (nix/config.nix) accepts valid settings and fails the build, with the Nickel diagnostic,
# on invalid ones.
{
  lib,
  callPackage,
  runCommand,
  testers,
  multicluster-controlplane,
}:

let
  mkConfig = callPackage ./config.nix {
    package = multicluster-controlplane;
    check = true;
  };

  valid = {
    hub = mkConfig "check-hub" {
      dataDirectory = "/var/lib/multicluster-controlplane-hub-main";
      apiserver = {
        port = 9443;
        bindAddress = "0.0.0.0";
        externalHostname = "hub.example.com";
        caFile = "/run/credentials/multicluster-controlplane-hub-main.service/ca.crt";
        caKeyFile = "/run/credentials/multicluster-controlplane-hub-main.service/ca.key";
      };
      etcd = {
        mode = "external";
        servers = [ "https://127.0.0.1:2379" ];
      };
      logging.level = "debug";
      controllers.featureGates.ManagedClusterAutoApproval = true;
    };
    agent = mkConfig "check-agent" {
      agent = {
        clusterName = "edge";
        hubKubeconfigDir = "/var/lib/multicluster-controlplane-agent-edge";
        managedKubeconfig = "/run/credentials/multicluster-controlplane-agent-edge.service/managed.kubeconfig";
      };
    };
  };

  # Each must fail the build with these words in the log.
  invalid = {
    port-out-of-range = {
      settings.apiserver.port = 70000;
      expect = "contract broken by the value of `port`";
    };
    unknown-field = {
      settings.apiserver.prot = 9443;
      expect = "extra field `prot`";
    };
    wrong-enum = {
      settings.etcd.mode = "embedded";
      expect = "expected one of: embed, external";
    };
    wrong-type = {
      settings.storage.sync = "yes";
      expect = "contract broken by the value of `sync`";
    };
  };

  failures = lib.mapAttrsToList (
    name: case:
    let
      failed = testers.testBuildFailure (mkConfig "invalid-${name}" case.settings);
    in
    ''
      echo "invalid settings '${name}':"
      grep -F -- ${lib.escapeShellArg case.expect} ${failed}/testBuildFailure.log \
        || { echo "expected '${case.expect}' in:"; cat ${failed}/testBuildFailure.log; exit 1; }
      grep -F "break the configuration contract" ${failed}/testBuildFailure.log > /dev/null
      test "$(cat ${failed}/testBuildFailure.exit)" != 0
    ''
  ) invalid;
in
runCommand "multicluster-controlplane-config-check" { } ''
  # Valid settings build to the rendered JSON.
  grep -q '"externalHostname": "hub.example.com"' ${valid.hub}
  grep -q '"clusterName": "edge"' ${valid.agent}
  ${lib.concatStringsSep "\n" failures}
  touch $out
''
