# What nix/image.nix asks dockerTools for, evaluated without nixpkgs: streamLayeredImage is
# a stub returning its arguments. tests/nix_files.rs compares the image configuration with
# the one hack/oci-image.sh writes, so the two images keep the same layout.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-image.nix
let
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
  };
  image = import ../image.nix {
    dockerTools = {
      streamLayeredImage = args: args;
      caCertificates = fake "ca-certificates";
    };
    fakeNss = fake "fake-nss" // {
      override = args: fake "fake-nss" // { inherit args; };
    };
    multicluster-controlplane = fake "multicluster-controlplane-0.1.0" // {
      version = "0.1.0";
      meta = {
        description = "A lightweight Open Cluster Management hub and agent in one binary";
        homepage = "https://github.com/open-cluster-management-io/multicluster-controlplane";
        license.spdxId = "Apache-2.0";
      };
    };
    rev = "0000000";
  };
in
{
  inherit (image) name tag config fakeRootCommands;
  passwd = (builtins.elemAt image.contents 2).args.extraPasswdLines;
  group = (builtins.elemAt image.contents 2).args.extraGroupLines;
}
