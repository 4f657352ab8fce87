{
  description = "multicluster-controlplane: a lightweight Open Cluster Management hub and agent in one binary";

  # The only input. flake.lock pins a nixos-25.11 revision (rustc >= 1.89, which
  # nickel-lang-core needs); `nix flake update` refreshes it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      rev = self.rev or self.dirtyRev or null;
    in
    {
      overlays.default = final: _prev: {
        multicluster-controlplane = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (
        pkgs:
        let
          multicluster-controlplane = pkgs.callPackage ./nix/package.nix { };
        in
        {
          inherit multicluster-controlplane;
          default = multicluster-controlplane;
          # A script that streams the image: `$(nix build --no-link --print-out-paths
          # .#oci-image) | docker load` (or `podman load`).
          oci-image = pkgs.callPackage ./nix/image.nix { inherit multicluster-controlplane rev; };
        }
      );

      apps = forAllSystems (
        pkgs:
        let
          inherit (self.packages.${pkgs.stdenv.hostPlatform.system}) multicluster-controlplane;
          local-hub = pkgs.callPackage ./nix/local-hub.nix { inherit multicluster-controlplane; };
        in
        {
          # `nix run`: a local hub with embedded storage on 127.0.0.1:9443.
          default = {
            type = "app";
            program = lib.getExe local-hub;
            meta.description = local-hub.meta.description;
          };
          # `nix run .#multicluster-controlplane -- <command>`: the CLI itself.
          multicluster-controlplane = {
            type = "app";
            program = lib.getExe multicluster-controlplane;
            meta.description = multicluster-controlplane.meta.description;
          };
        }
      );

      # `import`, not a bare path: older Nix (such as Debian's 2.8) rejects a path here in
      # `nix flake check`. The module's package defaults to pkgs.multicluster-controlplane
      # (set by overlays.default) and otherwise builds nix/package.nix with the host's pkgs.
      nixosModules.default = import ./nix/module.nix;

      checks = forAllSystems (
        pkgs:
        let
          inherit (self.packages.${pkgs.stdenv.hostPlatform.system}) multicluster-controlplane oci-image;
        in
        {
          package = multicluster-controlplane;
          inherit oci-image;
          # Build-time configuration check: valid settings build, invalid ones fail with
          # the Nickel diagnostic.
          config-check = pkgs.callPackage ./nix/config-check.nix { inherit multicluster-controlplane; };
          # The module's options and generated units, evaluated with nixpkgs' lib and stub
          # packages (the same evaluation hack/nix-check.sh runs without nixpkgs).
          module-eval = pkgs.writeText "multicluster-controlplane-module-eval.json" (
            builtins.toJSON (import ./nix/tests/eval-module.nix { inherit lib; })
          );
        }
        # NixOS VM tests (need KVM): hub + agents, reboot, external etcd, two hubs,
        # hardening. `nix build .#checks.x86_64-linux.hub-agents -L`.
        // import ./vm-tests {
          inherit pkgs;
          nixosModule = self.nixosModules.default;
          package = multicluster-controlplane;
        }
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.default ];
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            clang
            protobuf
            etcd
            kubectl
            kubernetes-helm
            jq
            curl
            umoci
            runc
            skopeo
            (pkgs.nixfmt-tree or pkgs.nixfmt-rfc-style)
          ];
          env = {
            ROCKSDB_LIB_DIR = "${lib.getLib pkgs.rocksdb}/lib";
            ROCKSDB_INCLUDE_DIR = "${lib.getDev pkgs.rocksdb}/include";
            PROTOC = "${lib.getBin pkgs.protobuf}/bin/protoc";
            LIBCLANG_PATH = "${lib.getLib pkgs.libclang}/lib";
          };
        };
      });

      # `nix fmt`: nixfmt (RFC 166 style) over the whole tree.
      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree or pkgs.nixfmt-rfc-style);
    };
}
