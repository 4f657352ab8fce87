# Body of the `nix run` wrapper (nix/local-hub.nix; writeShellApplication adds the shebang,
# `set -euo pipefail` and PATH). Runs a local hub with embedded storage.
state_home=${XDG_STATE_HOME:-${HOME:?HOME is not set}/.local/state}
data_dir=${MCP_DATA_DIR:-$state_home/multicluster-controlplane}
bind=(--bind-address 127.0.0.1)
data=(--data-dir "$data_dir")
for arg in "$@"; do
  case "$arg" in
    --bind-address | --bind-address=*) bind=() ;;
    --data-dir | --data-dir=*) data=() ;;
  esac
done
if [ ${#data[@]} -gt 0 ]; then
  mkdir -p "$data_dir"
  chmod 0700 "$data_dir"
  echo "multicluster-controlplane: local hub, data in $data_dir" >&2
  echo "  admin kubeconfig: $data_dir/cert/kube-aggregator.kubeconfig" >&2
  echo "  mint a join token: multicluster-controlplane token create --data-dir $data_dir" >&2
fi
exec multicluster-controlplane server "${data[@]}" "${bind[@]}" "$@"
