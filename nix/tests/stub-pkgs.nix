# A stand-in for nixpkgs' `pkgs`, enough to evaluate nix/module.nix, nix/image.nix and the
# VM-test definitions with nothing but nixpkgs' `lib` (no nixpkgs checkout, no builds):
# derivations are plain attribute sets with a fake store path, and formats.json renders with
# builtins.toJSON. Used by nix/tests/eval-*.nix (hack/nix-check.sh, the module-eval check)
# and, as legacyPackages of a stand-in nixpkgs flake, to evaluate flake.nix itself.
{
  lib,
  system ? "x86_64-linux",
}:
let
  fakeDrv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
      meta = { };
    }
    // extra;

  package = fakeDrv "multicluster-controlplane-0.1.0" {
    pname = "multicluster-controlplane";
    version = "0.1.0";
    meta = {
      mainProgram = "multicluster-controlplane";
      description = "A lightweight Open Cluster Management hub and agent in one binary";
      homepage = "https://github.com/open-cluster-management-io/multicluster-controlplane";
      license.spdxId = "Apache-2.0";
    };
  };

  self = {
    inherit lib;
    multicluster-controlplane = package;

    stdenv = {
      hostPlatform.system = system;
      buildPlatform.canExecute = _: true;
    };

    # What nixpkgs' pkgs.formats.json is made of: a JSON value type and a renderer.
    formats.json =
      { }:
      {
        type =
          let
            valueType =
              lib.types.nullOr (
                lib.types.oneOf [
                  lib.types.bool
                  lib.types.int
                  lib.types.float
                  lib.types.str
                  lib.types.path
                  (lib.types.attrsOf valueType)
                  (lib.types.listOf valueType)
                ]
              )
              // {
                description = "JSON value";
              };
          in
          valueType;
        generate = name: value: builtins.toFile name (builtins.toJSON value);
      };

    callPackage =
      fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) self // args);

    rustPlatform = {
      buildRustPackage =
        args:
        fakeDrv "${args.pname}-${args.version}" {
          inherit (args) pname version meta;
          inherit args;
        };
      bindgenHook = fakeDrv "rust-bindgen-hook" { };
    };
    writeShellApplication =
      args:
      fakeDrv args.name {
        meta = (args.meta or { }) // {
          mainProgram = args.name;
        };
        inherit (args) text;
      };
    mkShell = args: fakeDrv "nix-shell" { inherit args; };

    runCommand = name: env: script: fakeDrv name { inherit env script; };
    writeText = name: text: fakeDrv name { inherit text; };
    writeShellScript = name: text: fakeDrv name { inherit text; };
    writeShellScriptBin = name: text: fakeDrv name { inherit text; };

    testers.runNixOSTest = spec: spec;
    testers.testBuildFailure = drv: fakeDrv "${drv.name}-failure" { };

    dockerTools = {
      streamLayeredImage = args: args;
      caCertificates = fakeDrv "ca-certificates" { };
    };
    fakeNss = fakeDrv "fake-nss" { override = args: fakeDrv "fake-nss" args; };
  }
  // lib.genAttrs [
    "kubectl"
    "jq"
    "curl"
    "openssl"
    "etcd"
    "bash"
    "coreutils"
    "rocksdb"
    "protobuf"
    "versionCheckHook"
    "cargo"
    "rustc"
    "clippy"
    "rustfmt"
    "rust-analyzer"
    "clang"
    "libclang"
    "kubernetes-helm"
    "umoci"
    "runc"
    "skopeo"
    "nixfmt-tree"
  ] (n: fakeDrv n { });
in
self
