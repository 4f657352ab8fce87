# NixOS VM tests (pkgs.testers.runNixOSTest), exposed by the flake as checks:
#
#   nix build .#checks.x86_64-linux.hub-agents -L
#   nix run .#checks.x86_64-linux.hub-agents.driverInteractive    # to debug by hand
#
# They need a builder with KVM (the `kvm` / `nixos-test` system features).
{
  pkgs,
  nixosModule,
  package,
}:
let
  common = import ./common.nix { inherit nixosModule package; };
  test = file: args: pkgs.testers.runNixOSTest (import file ({ inherit common; } // args));
in
{
  # A hub and two agents: token minted on the hub, accept, Available, ManifestWork, hub
  # reboot.
  hub-agents = test ./hub-agents.nix { };
  # A hub on services.etcd over mutual TLS (client key through LoadCredential).
  external-etcd = test ./external-etcd.nix { inherit pkgs; };
  # One hub on two hosts (replicas) over a three-node etcd cluster: leader election,
  # failover, an etcd node down.
  ha = test ./ha.nix { inherit pkgs; };
  # Two hubs on one machine with one agent each: isolation.
  two-hubs = test ./two-hubs.nix { };
  # CA key and bootstrap tokens through LoadCredential; sandboxing and the
  # systemd-analyze security score.
  hardening = test ./hardening.nix { inherit pkgs; };
}
