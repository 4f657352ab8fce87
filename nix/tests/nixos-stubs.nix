# The few NixOS options nix/module.nix and the VM-test nodes use, declared with the same
# names and (simplified) types as in NixOS, so the module can be evaluated with
# lib.evalModules and nixpkgs' lib alone. systemd.services.<name> accepts only the
# attributes declared here: a misspelt unit attribute fails the evaluation.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  anything = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };
  strList = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  unitValue = types.oneOf [
    types.bool
    types.int
    types.str
    types.path
    (types.listOf (types.oneOf [
      types.int
      types.str
      types.path
    ]))
  ];
  service =
    { ... }:
    {
      options = {
        description = mkOption {
          type = types.str;
          default = "";
        };
        documentation = strList;
        wantedBy = strList;
        requiredBy = strList;
        wants = strList;
        requires = strList;
        after = strList;
        before = strList;
        startLimitIntervalSec = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        environment = mkOption {
          type = types.attrsOf types.str;
          default = { };
        };
        path = mkOption {
          type = types.listOf types.anything;
          default = [ ];
        };
        serviceConfig = mkOption {
          type = types.attrsOf unitValue;
          default = { };
        };
        unitConfig = mkOption {
          type = types.attrsOf unitValue;
          default = { };
        };
      };
    };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.anything;
      default = [ ];
    };
    environment.etc = anything;
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };
    networking.hostName = mkOption {
      type = types.str;
      default = "machine";
    };
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule service);
      default = { };
    };
    services.etcd = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf types.anything;
        options.enable = mkOption {
          type = types.bool;
          default = false;
        };
      };
      default = { };
    };
    virtualisation = anything;
  };
}
