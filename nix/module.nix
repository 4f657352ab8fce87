# NixOS module: services.multicluster-controlplane.
#
# Any number of hubs (`hubs.<name>`) and agents (`agents.<name>`) per host. Every instance is
# its own hardened systemd unit (multicluster-controlplane-hub-<name>.service,
# multicluster-controlplane-agent-<name>.service) with its own state directory
# (/var/lib/multicluster-controlplane-{hub,agent}-<name>), port and settings.
#
# `settings` is free-form JSON. The module renders it with pkgs.formats.json and runs the
# binary's `config check` on it at build time (nix/config.nix), so a wrong option fails
# `nixos-rebuild build` with the Nickel diagnostic. NixOS types stay loose on purpose: the
# Nickel contract (config/schema.ncl, installed under share/multicluster-controlplane) is
# the single source of truth for fields, types and defaults.
#
# Secrets (the hub's CA key, etcd client keys, bootstrap tokens, kubeconfigs) never enter
# the Nix store: their options take paths as strings, systemd copies the files into the
# unit's credentials directory (LoadCredential), and the generated configuration points at
# /run/credentials/<unit>/<id> ($CREDENTIALS_DIRECTORY).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    literalMD
    mkIf
    mkOption
    optional
    optionals
    optionalString
    types
    ;

  cfg = config.services.multicluster-controlplane;

  jsonFormat = pkgs.formats.json { };

  mkConfig = pkgs.callPackage ./config.nix {
    package = cfg.package;
    check = cfg.checkConfig && pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
  };

  exe = lib.getExe cfg.package;

  hubUnit = name: "multicluster-controlplane-hub-${name}";
  agentUnit = name: "multicluster-controlplane-agent-${name}";

  # The credentials directory systemd gives a unit ($CREDENTIALS_DIRECTORY); configuration
  # files cannot expand variables, so they name it literally.
  credential = unit: id: "/run/credentials/${unit}.service/${id}";

  # One ExecStart argument: JSON-quoted (systemd understands C-style escapes in double
  # quotes), with `%` and `$` doubled so systemd expands neither specifiers nor variables.
  escapeArg = arg: lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON (toString arg));
  execLine = args: lib.concatMapStringsSep " " escapeArg args;

  isStorePath = p: lib.hasPrefix "${builtins.storeDir}/" p;

  # Secret files are given as strings (a Nix path literal such as ./ca.key would be copied
  # into the world-readable store) and must not point into the store.
  secretPath = types.addCheck types.str (lib.hasPrefix "/") // {
    name = "secretPath";
    description = "absolute path (a string) to a file outside the Nix store";
  };

  secretOption =
    description: example:
    mkOption {
      type = types.nullOr secretPath;
      default = null;
      inherit example;
      description =
        description
        + ''

          The file is read by systemd when the unit starts and handed to the service with
          `LoadCredential`; it never enters the Nix store. Give the path as a string (for
          example from sops-nix or agenix), not as a Nix path literal.
        '';
    };

  wildcard = a: a == "0.0.0.0" || a == "::" || a == "" || a == "[::]";

  # Where the tools running next to a hub reach it: its listen address, or loopback when it
  # listens on every address. The serving certificate covers both.
  localUrl =
    hub:
    let
      host =
        if hub.listenAddress == "::" || hub.listenAddress == "[::]" then
          "[::1]"
        else if wildcard hub.listenAddress then
          "127.0.0.1"
        else if lib.hasInfix ":" hub.listenAddress then
          "[${hub.listenAddress}]"
        else
          hub.listenAddress;
    in
    "https://${host}:${toString hub.port}";

  # Sandboxing shared by hubs and agents. Both only need to open TCP connections or listen,
  # write their state directory, and talk to systemd's notification socket.
  hardening = {
    DynamicUser = true;
    UMask = "0077";
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    DevicePolicy = "closed";
    PrivateUsers = true;
    PrivateMounts = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectControlGroups = true;
    ProtectProc = "invisible";
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    RemoveIPC = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    KeyringMode = "private";
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
      "~@resources"
    ];
    SystemCallErrorNumber = "EPERM";
    # RocksDB keeps many files open.
    LimitNOFILE = 65536;
  };

  commonOptions = kind: name: {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to define this ${kind} instance.";
    };

    autoStart = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Whether to start the unit at boot (`wantedBy = [ "multi-user.target" ]`). When off,
        the unit is installed but only started by hand (`systemctl start`), e.g. until a
        bootstrap token has been provisioned.
      '';
    };

    settings = mkOption {
      type = types.submodule { freeformType = jsonFormat.type; };
      default = { };
      description = ''
        Configuration of this ${kind}, written to JSON and passed with `--config`. Every
        field is described (with its type and default) by the Nickel contract, printed by
        `multicluster-controlplane config schema` and installed as
        `share/multicluster-controlplane/schema.ncl` in the package. The file is checked
        with `multicluster-controlplane config check` when the system is built, so an
        unknown field or a wrong type fails the build with the Nickel diagnostic.

        The rendered file is world-readable in the Nix store: put no secrets here; use the
        `*File` options, which go through `LoadCredential`. Fields the module derives from
        other options (the data directory, the listen address and port, the paths of the
        secret files) are set by it; giving them a different value here is a conflict.
      '';
    };

    unitName = mkOption {
      type = types.str;
      readOnly = true;
      default = "multicluster-controlplane-${kind}-${name}";
      defaultText = literalExpression ''"multicluster-controlplane-${kind}-<name>"'';
      description = "Name of the systemd service of this ${kind} (without `.service`).";
    };

    stateDir = mkOption {
      type = types.str;
      readOnly = true;
      default = "/var/lib/multicluster-controlplane-${kind}-${name}";
      defaultText = literalExpression ''"/var/lib/multicluster-controlplane-${kind}-<name>"'';
      description = ''
        State directory of this ${kind} (systemd `StateDirectory`, owned by the unit's
        dynamic user; with `DynamicUser` it lives under `/var/lib/private` and this path is
        a symlink to it).
      '';
    };
  };

  hubModule =
    { name, config, ... }:
    let
      unit = hubUnit name;
    in
    {
      options = commonOptions "hub" name // {
        port = mkOption {
          type = types.port;
          default = 9443;
          description = "HTTPS port of the hub's API server (`apiserver.port`).";
        };

        listenAddress = mkOption {
          type = types.str;
          default = "0.0.0.0";
          example = "::";
          description = ''
            Address the API server listens on (`apiserver.bindAddress`): `0.0.0.0` for every
            IPv4 address, `::` for every address, or one IP address.
          '';
        };

        externalHostname = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "hub.example.com";
          description = ''
            Name or address clients use to reach the hub (`apiserver.externalHostname`): added
            to the serving certificate and written into the admin kubeconfig. The host name
            of the machine is always in the certificate.
          '';
        };

        openFirewall = mkOption {
          type = types.bool;
          default = false;
          description = "Whether to open {option}`port` in the firewall for agents and clients.";
        };

        ca = {
          certFile = mkOption {
            type = types.nullOr types.str;
            default = null;
            example = "/run/secrets/ocm-ca.crt";
            description = ''
              PEM certificate of a root CA that signs the hub's certificates
              (`apiserver.caFile`), together with {option}`ca.keyFile`. Without both, the hub
              generates its own CA in its state directory on first start.
            '';
          };
          keyFile = secretOption "PEM private key of {option}`ca.certFile` (`apiserver.caKeyFile`)." "/run/secrets/ocm-ca.key";
        };

        serviceAccountKeyFile = secretOption ''
          PKCS#8 PEM key (ECDSA P-256) signing service-account tokens
          (`apiserver.serviceAccountKeyFile`); without it the hub generates one in its state
          directory. Replicas of one hub (hosts sharing an etcd prefix, each leading the
          controllers in turn through `settings.controllers.leaderElection`) are all given
          the same key, with the same {option}`ca.certFile` and {option}`ca.keyFile`.
        '' "/run/secrets/ocm-sa.key";

        etcd = {
          caFile = mkOption {
            type = types.nullOr types.str;
            default = null;
            example = "/run/secrets/etcd-ca.crt";
            description = ''
              PEM CA bundle of the etcd servers (`etcd.caFile`), for
              `settings.etcd.mode = "external"`. Passed with `LoadCredential` like the key.
            '';
          };
          certFile = mkOption {
            type = types.nullOr types.str;
            default = null;
            example = "/run/secrets/etcd-client.crt";
            description = "PEM client certificate presented to etcd (`etcd.certFile`); passed with `LoadCredential`.";
          };
          keyFile = secretOption "PEM private key of {option}`etcd.certFile` (`etcd.keyFile`)." "/run/secrets/etcd-client.key";
        };

        bootstrapTokenFile = secretOption ''
          File with bootstrap tokens (`<id>.<secret>`, `[a-z0-9]{6}.[a-z0-9]{16}`, one per line;
          empty lines and lines starting with `#` are ignored) that agents may join with. They
          are (re)created without expiry each time the hub starts, after it is ready. Tokens
          can also be minted at run time with `multicluster-controlplane token create`.
        '' "/run/secrets/ocm-bootstrap-tokens";

        selfManagement = {
          enable = lib.mkEnableOption ''
            self-management: the cluster this host serves (given by
            {option}`selfManagement.kubeconfigFile`) becomes a managed cluster of this hub, its
            agent running inside the hub (`controllers.selfManagement`)
          '';
          clusterName = mkOption {
            type = types.str;
            default = "local-cluster";
            description = "Name of the self-managed cluster (`controllers.selfManagement.clusterName`).";
          };
          kubeconfigFile = secretOption "Kubeconfig of the self-managed cluster (`controllers.selfManagement.kubeconfig`)." "/run/secrets/local-cluster.kubeconfig";
        };

        configFile = mkOption {
          type = types.path;
          readOnly = true;
          defaultText = literalMD "the checked JSON rendering of {option}`settings`";
          description = "The checked configuration file the unit runs with.";
        };
      };

      config = {
        settings = {
          controllers.selfManagement = mkIf config.selfManagement.enable {
            enabled = true;
            clusterName = config.selfManagement.clusterName;
            kubeconfig = mkIf (config.selfManagement.kubeconfigFile != null) (
              credential unit "self-management.kubeconfig"
            );
          };
          dataDirectory = config.stateDir;
          apiserver = {
            port = config.port;
            bindAddress = config.listenAddress;
            externalHostname = mkIf (config.externalHostname != null) config.externalHostname;
            caFile = mkIf (config.ca.certFile != null) (credential unit "ca.crt");
            caKeyFile = mkIf (config.ca.keyFile != null) (credential unit "ca.key");
            serviceAccountKeyFile = mkIf (config.serviceAccountKeyFile != null) (
              credential unit "sa.key"
            );
          };
          etcd = {
            caFile = mkIf (config.etcd.caFile != null) (credential unit "etcd-ca.crt");
            certFile = mkIf (config.etcd.certFile != null) (credential unit "etcd-client.crt");
            keyFile = mkIf (config.etcd.keyFile != null) (credential unit "etcd-client.key");
          };
        };
        configFile = mkConfig "hub-${name}" config.settings;
      };
    };

  agentModule =
    { name, config, ... }:
    let
      unit = agentUnit name;
    in
    {
      options = commonOptions "agent" name // {
        clusterName = mkOption {
          type = types.str;
          default = name;
          defaultText = literalExpression "<name>";
          example = "edge-berlin-1";
          description = "Name of the managed cluster this agent joins the hub as (`agent.clusterName`).";
        };

        hubUrl = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "https://hub.example.com:9443";
          description = ''
            URL of the hub to join. Needs {option}`tokenFile` and one of {option}`hubCaFile`
            or {option}`hubCaHash`. Alternatively give {option}`bootstrapKubeconfigFile`.
          '';
        };

        tokenFile = secretOption ''
          File holding the bootstrap token (`<id>.<secret>`) the agent joins with, as printed
          by `multicluster-controlplane token create` on the hub. Keep the file in place after
          the cluster has joined: the agent reads it at every start, and an expired token is
          harmless once the agent holds its own certificate.
        '' "/run/secrets/ocm-bootstrap-token";

        hubCaFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/etc/ocm/hub-ca.crt";
          description = ''
            PEM CA certificate of the hub (`<hub state dir>/cert/ca.crt`). Passed with
            `LoadCredential`, so the file only needs to be readable by root.
          '';
        };

        hubCaHash = mkOption {
          type = types.nullOr (types.strMatching "sha256:[0-9a-f]{64}");
          default = null;
          example = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
          description = ''
            Pin of the hub CA's public key, as printed by `token create`; the CA is then read
            from the hub's `kube-public/cluster-info` and checked against it.
          '';
        };

        bootstrapKubeconfigFile = secretOption ''
          Bootstrap kubeconfig holding the hub URL, its CA and a bootstrap token
          (`agent.bootstrapKubeconfig`), instead of {option}`hubUrl` and {option}`tokenFile`.
        '' "/run/secrets/ocm-bootstrap.kubeconfig";

        managedKubeconfigFile = secretOption ''
          Kubeconfig of the managed cluster the agent reports on and applies work to
          (`agent.managedKubeconfig`). It holds that cluster's credentials.
        '' "/etc/rancher/k3s/k3s.yaml";

        configFile = mkOption {
          type = types.path;
          readOnly = true;
          defaultText = literalMD "the checked JSON rendering of {option}`settings`";
          description = "The checked configuration file the unit runs with.";
        };
      };

      config = {
        settings.agent = {
          clusterName = config.clusterName;
          # The agent's private key, certificate and hub kubeconfig.
          hubKubeconfigDir = config.stateDir;
          managedKubeconfig = mkIf (config.managedKubeconfigFile != null) (
            credential unit "managed.kubeconfig"
          );
          bootstrapKubeconfig = mkIf (config.bootstrapKubeconfigFile != null) (
            credential unit "bootstrap.kubeconfig"
          );
        };
        configFile = mkConfig "agent-${name}" config.settings;
      };
    };

  enabledHubs = lib.filterAttrs (_: h: h.enable) cfg.hubs;
  enabledAgents = lib.filterAttrs (_: a: a.enable) cfg.agents;
  anyEnabled = enabledHubs != { } || enabledAgents != { };

  credentials =
    pairs: map (p: "${p.id}:${p.file}") (lib.filter (p: p.file != null) pairs);

  # Registers the bootstrap tokens of `bootstrapTokenFile` once the hub is ready
  # (ExecStartPost, same user and sandbox as the server).
  registerTokens =
    name: hub:
    pkgs.writeShellScript "multicluster-controlplane-hub-${name}-tokens" ''
      set -euo pipefail
      kubeconfig=$(mktemp)
      trap 'rm -f "$kubeconfig"' EXIT
      ${exe} kubeconfig --data-dir ${lib.escapeShellArg hub.stateDir} \
        --server ${lib.escapeShellArg (localUrl hub)} > "$kubeconfig"
      while IFS= read -r line || [ -n "$line" ]; do
        token=''${line//[[:space:]]/}
        case "$token" in "" | "#"*) continue ;; esac
        id=''${token%%.*}
        ${exe} token delete --kubeconfig "$kubeconfig" "$id" > /dev/null 2>&1 || true
        # From standard input (printf is a shell builtin): never on a command line.
        printf '%s' "$token" | ${exe} token create --kubeconfig "$kubeconfig" --ttl 0 --print-token-only \
          --description ${lib.escapeShellArg "provisioned by services.multicluster-controlplane.hubs.${name}.bootstrapTokenFile"} \
          --token-file - > /dev/null
        echo "bootstrap token $id registered"
      done < "$CREDENTIALS_DIRECTORY/bootstrap-tokens"
    '';

  localEtcd =
    hub: (hub.settings.etcd.mode or "embed") == "external" && (config.services.etcd.enable or false);

  hubService =
    name: hub:
    let
      unit = hubUnit name;
      lowPort = hub.port < 1024;
    in
    lib.nameValuePair unit {
      description = "multicluster-controlplane hub ${name} (Open Cluster Management)";
      documentation = [ "https://open-cluster-management.io/" ];
      wantedBy = optional hub.autoStart "multi-user.target";
      # With external storage on this host's etcd (services.etcd), start after it.
      wants = [ "network-online.target" ] ++ optional (localEtcd hub) "etcd.service";
      after = [ "network-online.target" ] ++ optional (localEtcd hub) "etcd.service";
      serviceConfig = hardening // {
        # The server tells systemd once /readyz would answer 200.
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = execLine [
          exe
          "server"
          "--config"
          hub.configFile
        ];
        ExecStartPost = optional (hub.bootstrapTokenFile != null) (registerTokens name hub);
        Restart = "on-failure";
        RestartSec = 5;
        TimeoutStartSec = "3min";
        StateDirectory = lib.removePrefix "/var/lib/" hub.stateDir;
        StateDirectoryMode = "0700";
        LoadCredential = credentials [
          {
            id = "self-management.kubeconfig";
            file = hub.selfManagement.kubeconfigFile;
          }
          {
            id = "ca.crt";
            file = hub.ca.certFile;
          }
          {
            id = "ca.key";
            file = hub.ca.keyFile;
          }
          {
            id = "sa.key";
            file = hub.serviceAccountKeyFile;
          }
          {
            id = "etcd-ca.crt";
            file = hub.etcd.caFile;
          }
          {
            id = "etcd-client.crt";
            file = hub.etcd.certFile;
          }
          {
            id = "etcd-client.key";
            file = hub.etcd.keyFile;
          }
          {
            id = "bootstrap-tokens";
            file = hub.bootstrapTokenFile;
          }
        ];
      }
      // lib.optionalAttrs lowPort {
        # Ports below 1024 need the one capability (and no user namespace, where it would
        # not count).
        CapabilityBoundingSet = "CAP_NET_BIND_SERVICE";
        AmbientCapabilities = "CAP_NET_BIND_SERVICE";
        PrivateUsers = false;
      };
    };

  agentService =
    name: agent:
    let
      unit = agentUnit name;
      viaUrl = agent.bootstrapKubeconfigFile == null;
    in
    lib.nameValuePair unit {
      description = "multicluster-controlplane agent ${name} (managed cluster ${agent.clusterName})";
      documentation = [ "https://open-cluster-management.io/" ];
      wantedBy = optional agent.autoStart "multi-user.target";
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # The hub may be unreachable for a long time: keep trying.
      startLimitIntervalSec = 0;
      serviceConfig = hardening // {
        # The agent sends no readiness notification.
        Type = "exec";
        ExecStart = execLine (
          [
            exe
            "agent"
            "--config"
            agent.configFile
          ]
          ++ optionals (viaUrl && agent.hubUrl != null) [
            "--hub-url"
            agent.hubUrl
          ]
          ++ optionals (viaUrl && agent.tokenFile != null) [
            "--token-file"
            (credential unit "bootstrap-token")
          ]
          ++ optionals (viaUrl && agent.hubCaFile != null) [
            "--hub-ca-file"
            (credential unit "hub-ca.crt")
          ]
          ++ optionals (viaUrl && agent.hubCaFile == null && agent.hubCaHash != null) [
            "--hub-ca-hash"
            agent.hubCaHash
          ]
        );
        Restart = "on-failure";
        RestartSec = 10;
        StateDirectory = lib.removePrefix "/var/lib/" agent.stateDir;
        StateDirectoryMode = "0700";
        LoadCredential = credentials [
          {
            id = "bootstrap-token";
            file = if viaUrl then agent.tokenFile else null;
          }
          {
            id = "hub-ca.crt";
            file = if viaUrl then agent.hubCaFile else null;
          }
          {
            id = "bootstrap.kubeconfig";
            file = agent.bootstrapKubeconfigFile;
          }
          {
            id = "managed.kubeconfig";
            file = agent.managedKubeconfigFile;
          }
        ];
      };
    };

  # For an administrator on the host: `multicluster-controlplane-hub-<name> token create`,
  # `… accept CLUSTER`, `… kubeconfig` act on that hub (MCP_CONFIG selects its configuration
  # and so its data directory).
  hubWrapper =
    name: hub:
    pkgs.writeShellScriptBin "multicluster-controlplane-hub-${name}" ''
      export MCP_CONFIG=${hub.configFile}
      exec ${exe} "$@"
    '';

  validName = n: builtins.match "[A-Za-z0-9][A-Za-z0-9_-]*" n != null;

  hubList = lib.mapAttrsToList (name: hub: hub // { inherit name; }) enabledHubs;

  overlaps = a: b: a.port == b.port && (a.listenAddress == b.listenAddress || wildcard a.listenAddress || wildcard b.listenAddress);

  portClashes = lib.concatLists (
    lib.imap0 (
      i: a:
      map (b: "hubs.${a.name} and hubs.${b.name} both listen on port ${toString a.port} (${a.listenAddress} and ${b.listenAddress})") (
        lib.filter (overlaps a) (lib.drop (i + 1) hubList)
      )
    ) hubList
  );

  storeSecrets =
    kind: name: files:
    map (f: {
      assertion = f.value == null || !isStorePath f.value;
      message = "services.multicluster-controlplane.${kind}.${name}.${f.name} is in the Nix store (${toString f.value}), which every user can read. Give the path of a file outside the store, e.g. one provisioned by sops-nix or agenix.";
    }) files;

  hubAssertions =
    name: hub:
    [
      {
        assertion = validName name;
        message = "services.multicluster-controlplane.hubs.\"${name}\": instance names may only use letters, digits, `-` and `_`.";
      }
      {
        assertion = (hub.ca.certFile == null) == (hub.ca.keyFile == null);
        message = "services.multicluster-controlplane.hubs.${name}: set both ca.certFile and ca.keyFile, or neither (the hub then generates its CA).";
      }
    ]
    ++ storeSecrets "hubs" name [
      {
        name = "ca.keyFile";
        value = hub.ca.keyFile;
      }
      {
        name = "etcd.keyFile";
        value = hub.etcd.keyFile;
      }
      {
        name = "bootstrapTokenFile";
        value = hub.bootstrapTokenFile;
      }
    ];

  agentAssertions =
    name: agent:
    let
      opt = "services.multicluster-controlplane.agents.${name}";
    in
    [
      {
        assertion = validName name;
        message = "services.multicluster-controlplane.agents.\"${name}\": instance names may only use letters, digits, `-` and `_`.";
      }
      {
        assertion =
          if agent.bootstrapKubeconfigFile != null then
            agent.hubUrl == null && agent.tokenFile == null
          else
            agent.hubUrl != null && agent.tokenFile != null;
        message = "${opt}: give either bootstrapKubeconfigFile, or hubUrl together with tokenFile (not both).";
      }
      {
        assertion =
          agent.bootstrapKubeconfigFile != null || agent.hubCaFile != null || agent.hubCaHash != null;
        message = "${opt}: joining with hubUrl needs the hub CA: set hubCaFile or hubCaHash.";
      }
    ]
    ++ storeSecrets "agents" name [
      {
        name = "tokenFile";
        value = agent.tokenFile;
      }
      {
        name = "bootstrapKubeconfigFile";
        value = agent.bootstrapKubeconfigFile;
      }
      {
        name = "managedKubeconfigFile";
        value = agent.managedKubeconfigFile;
      }
    ];
in
{
  options.services.multicluster-controlplane = {
    package = mkOption {
      type = types.package;
      default = pkgs.multicluster-controlplane or (pkgs.callPackage ./package.nix { });
      defaultText = literalExpression "pkgs.multicluster-controlplane or (pkgs.callPackage ./package.nix { })";
      description = "The multicluster-controlplane package every hub and agent instance runs.";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Whether to check every instance's configuration with
        `multicluster-controlplane config check` while the system is built. Skipped
        automatically when cross-compiling (the build machine cannot run the binary).
      '';
    };

    hubs = mkOption {
      type = types.attrsOf (types.submodule hubModule);
      default = { };
      example = literalExpression ''
        {
          main = {
            openFirewall = true;
            externalHostname = "hub.example.com";
            ca.certFile = "/run/secrets/ocm-ca.crt";
            ca.keyFile = "/run/secrets/ocm-ca.key";
            settings = {
              logging.level = "info";
              controllers.featureGates.ManagedClusterAutoApproval = false;
            };
          };
        }
      '';
      description = ''
        Open Cluster Management hubs on this host, each a
        `multicluster-controlplane-hub-<name>.service` with its own port, state directory
        and configuration. The admin kubeconfig of hub `<name>` is
        `/var/lib/multicluster-controlplane-hub-<name>/cert/kube-aggregator.kubeconfig`
        (readable by root), and `multicluster-controlplane-hub-<name>` runs the CLI against
        it (`token create`, `accept CLUSTER`, `kubeconfig`).
      '';
    };

    agents = mkOption {
      type = types.attrsOf (types.submodule agentModule);
      default = { };
      example = literalExpression ''
        {
          edge = {
            hubUrl = "https://hub.example.com:9443";
            tokenFile = "/run/secrets/ocm-bootstrap-token";
            hubCaHash = "sha256:…";
            managedKubeconfigFile = "/etc/rancher/k3s/k3s.yaml";
          };
        }
      '';
      description = ''
        Managed-cluster agents on this host, each a
        `multicluster-controlplane-agent-<name>.service` that joins a hub as cluster
        {option}`clusterName` and keeps its status, lease and certificate current.
      '';
    };
  };

  config = mkIf anyEnabled {
    assertions =
      lib.concatLists (lib.mapAttrsToList hubAssertions enabledHubs)
      ++ lib.concatLists (lib.mapAttrsToList agentAssertions enabledAgents)
      ++ map (m: {
        assertion = false;
        message = "services.multicluster-controlplane: ${m}; give each hub its own port.";
      }) portClashes;

    warnings = lib.concatLists (
      lib.mapAttrsToList (
        name: agent:
        optional (agent.managedKubeconfigFile == null)
          "services.multicluster-controlplane.agents.${name}: managedKubeconfigFile is not set, so the agent looks for the managed cluster through KUBECONFIG or the in-cluster configuration."
      ) enabledAgents
    );

    systemd.services =
      lib.mapAttrs' hubService enabledHubs // lib.mapAttrs' agentService enabledAgents;

    networking.firewall.allowedTCPPorts = lib.concatMap (h: optional h.openFirewall h.port) (
      lib.attrValues enabledHubs
    );

    environment.systemPackages = [ cfg.package ] ++ lib.mapAttrsToList hubWrapper enabledHubs;
  };
}
