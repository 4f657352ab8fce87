# Renders a configuration (a Nix attribute set) to JSON and checks it at build time with the
# binary's own `config check`, i.e. with the Nickel contract the server applies at start-up.
# A wrong option therefore fails `nixos-rebuild build` (or `nix build`) with the Nickel
# diagnostic: the field, the expected contract, and the line in the generated JSON.
#
#   mkConfig = pkgs.callPackage ./config.nix { package = <multicluster-controlplane>; };
#   mkConfig "hub-main" { apiserver.port = 9443; }   # => /nix/store/…-hub-main.json
#
# The file lands in the world-readable Nix store: it must hold no secrets, only paths to
# them (the NixOS module points secret paths at $CREDENTIALS_DIRECTORY).
{
  lib,
  formats,
  runCommand,
  stdenv,
  package,
  # Running the binary needs a build platform that can execute it (not so when
  # cross-compiling); the check is skipped there.
  check ? stdenv.buildPlatform.canExecute stdenv.hostPlatform,
}:

name: settings:
let
  json = (formats.json { }).generate "multicluster-controlplane-${name}.json" settings;
in
if !check then
  json
else
  runCommand "multicluster-controlplane-${name}.json"
    {
      preferLocalBuild = true;
      allowSubstitutes = false;
    }
    ''
      echo "checking the multicluster-controlplane configuration '${name}' against its contract"
      if ! ${lib.getExe package} config check ${json}; then
        echo
        echo "error: the settings of '${name}' break the configuration contract (see above)."
        echo "The fields and their types are documented in"
        echo "  ${package}/share/multicluster-controlplane/schema.ncl"
        echo "(also printed by \`multicluster-controlplane config schema\`)."
        exit 1
      fi
      cp ${json} $out
    ''
