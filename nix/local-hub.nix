# `nix run` target: a local hub with embedded storage, listening on 127.0.0.1:9443, its data
# in $MCP_DATA_DIR, else $XDG_STATE_HOME/multicluster-controlplane, else
# ~/.local/state/multicluster-controlplane. Arguments go to `multicluster-controlplane
# server` and win over these defaults (e.g. `nix run . -- --port 7443` or
# `nix run . -- --bind-address 0.0.0.0`). The data directory also overrides a
# `dataDirectory` in `-c FILE`: choose another with --data-dir or MCP_DATA_DIR.
{
  writeShellApplication,
  multicluster-controlplane,
}:

writeShellApplication {
  name = "multicluster-controlplane-local-hub";
  runtimeInputs = [ multicluster-controlplane ];
  text = builtins.readFile ./local-hub.sh;
  meta = {
    description = "Run a local multicluster-controlplane hub with embedded storage";
    mainProgram = "multicluster-controlplane-local-hub";
  };
}
