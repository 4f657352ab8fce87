# Evaluates the VM-test definitions (vm-tests/) with nixpkgs' lib alone: runNixOSTest is a
# stub that returns the test module, and every node is evaluated as a NixOS configuration
# made of the stub NixOS options, the test's `defaults` and the node's module, so the
# module's assertions (ports, secrets in the store, agent settings) are checked for each
# node. Returns, per test, its nodes with their units and open ports, and the test script,
# which hack/nix-check.sh parses with Python (and pyflakes, as the NixOS test driver does).
#
#   nix-instantiate --eval --strict --json nix/tests/eval-vm-tests.nix --arg lib 'import <nixpkgs/lib>'
{ lib }:
let
  pkgs = import ./stub-pkgs.nix { inherit lib; };

  tests = import ../../vm-tests {
    inherit pkgs;
    nixosModule = import ../module.nix;
    package = pkgs.multicluster-controlplane;
  };

  evalNode =
    test: nodeName: node:
    let
      e = lib.evalModules {
        specialArgs = { inherit pkgs; };
        modules = [
          ./nixos-stubs.nix
          test.defaults
          node
          { networking.hostName = nodeName; }
        ];
      };
      failed = map (a: a.message) (lib.filter (a: !a.assertion) e.config.assertions);
    in
    if failed != [ ] then
      throw "eval-vm-tests: ${test.name}, node ${nodeName}: ${lib.concatStringsSep "; " failed}"
    else
      {
        units = lib.attrNames e.config.systemd.services;
        openPorts = e.config.networking.firewall.allowedTCPPorts;
        # Forces every unit definition (types, ExecStart, credentials).
        serviceConfigs = lib.mapAttrs (_: s: s.serviceConfig) e.config.systemd.services;
        warnings = e.config.warnings;
      };
in
lib.mapAttrs (
  key: test:
  assert lib.assertMsg (lib.hasPrefix "multicluster-controlplane-" test.name) "${key}: test name";
  assert lib.assertMsg (builtins.isString test.testScript) "${key}: testScript must be a string";
  {
    inherit (test) name testScript;
    nodes = lib.mapAttrs (evalNode test) test.nodes;
  }
) tests
