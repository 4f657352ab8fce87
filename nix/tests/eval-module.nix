# Evaluates nix/module.nix with nixpkgs' lib alone (stub pkgs, stub NixOS options) and
# checks its behaviour: units, settings, credentials, firewall, assertions, type errors and
# option documentation. Any unmet expectation throws with a message. The result carries
# the rendered unit files and settings, which hack/nix-check.sh hands to
# `systemd-analyze security --offline` and to `multicluster-controlplane config check`.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-module.nix --arg lib 'import <nixpkgs/lib>'
{ lib }:
let
  inherit (lib)
    all
    any
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    hasInfix
    mapAttrs'
    mapAttrsToList
    nameValuePair
    sort
    ;

  pkgs = import ./stub-pkgs.nix { inherit lib; };

  eval =
    modules:
    lib.evalModules {
      specialArgs = { inherit pkgs; };
      modules = [
        ./nixos-stubs.nix
        ../module.nix
      ]
      ++ modules;
    };

  failed = e: map (a: a.message) (filter (a: !a.assertion) e.config.assertions);

  expect = cond: msg: if cond then true else throw "eval-module: expectation failed: ${msg}";

  # Whether evaluating `x` fully fails (type errors, conflicting definitions, throws).
  fails = x: !(builtins.tryEval (builtins.deepSeq x x)).success;

  credentials = unit: id: "/run/credentials/${unit}.service/${id}";

  # A host with three hubs (one a stand-in managed cluster), a disabled hub on a clashing
  # port, and two agents joining in both supported ways.
  full = eval [
    {
      services.multicluster-controlplane = {
        hubs.main = {
          openFirewall = true;
          externalHostname = "hub.example.com";
          ca.certFile = "/run/keys/ca.crt";
          ca.keyFile = "/run/keys/ca.key";
          serviceAccountKeyFile = "/run/keys/sa.key";
          bootstrapTokenFile = "/run/keys/tokens";
          selfManagement = {
            enable = true;
            kubeconfigFile = "/run/keys/local.kubeconfig";
          };
          settings.logging.level = "debug";
        };
        hubs.external = {
          port = 9444;
          etcd = {
            caFile = "/run/keys/etcd-ca.crt";
            certFile = "/run/keys/etcd.crt";
            keyFile = "/run/keys/etcd.key";
          };
          settings.etcd = {
            mode = "external";
            servers = [ "https://127.0.0.1:2379" ];
          };
        };
        hubs.managed = {
          listenAddress = "127.0.0.1";
          port = 7443;
          settings.controllers.enabled = false;
        };
        hubs.off = {
          enable = false;
          port = 9443;
        };
        agents.edge = {
          hubUrl = "https://hub.example.com:9443";
          tokenFile = "/run/keys/token";
          hubCaFile = "/etc/ocm/hub-ca.crt";
          managedKubeconfigFile = "/var/lib/multicluster-controlplane-hub-managed/cert/kube-aggregator.kubeconfig";
        };
        agents.bykubeconfig = {
          clusterName = "by-kubeconfig";
          bootstrapKubeconfigFile = "/run/keys/bootstrap.kubeconfig";
          managedKubeconfigFile = "/run/keys/managed.kubeconfig";
          autoStart = false;
        };
      };
      services.etcd.enable = true;
    }
  ];
  c = full.config;
  mcp = c.services.multicluster-controlplane;
  svc = c.systemd.services;
  hubMain = svc.multicluster-controlplane-hub-main;
  hubExternal = svc.multicluster-controlplane-hub-external;
  agentEdge = svc.multicluster-controlplane-agent-edge;
  agentKube = svc.multicluster-controlplane-agent-bykubeconfig;

  one = settings: [ { services.multicluster-controlplane = settings; } ];
  hubsOn =
    a: b:
    eval (one {
      hubs.a = a;
      hubs.b = b;
    });

  # The sandbox every unit must have.
  hardened = {
    DynamicUser = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    MemoryDenyWriteExecute = true;
    LockPersonality = true;
    RestrictNamespaces = true;
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    SystemCallArchitectures = "native";
  };

  sandboxed =
    name: s:
    all (n: expect (s.serviceConfig.${n} or null == hardened.${n}) "${name}: ${n}") (attrNames hardened)
    && expect (elem "@system-service" s.serviceConfig.SystemCallFilter) "${name}: SystemCallFilter";

  checks = [
    # Units and their kinds.
    (expect (
      sort (a: b: a < b) (attrNames svc) == [
        "multicluster-controlplane-agent-bykubeconfig"
        "multicluster-controlplane-agent-edge"
        "multicluster-controlplane-hub-external"
        "multicluster-controlplane-hub-main"
        "multicluster-controlplane-hub-managed"
      ]
    ) "one unit per enabled instance, got ${toString (attrNames svc)}")
    (expect (failed full == [ ]) "no failed assertions, got: ${concatStringsSep "; " (failed full)}")
    (expect (c.warnings == [ ]) "no warnings, got: ${concatStringsSep "; " c.warnings}")
    (expect (hubMain.serviceConfig.Type == "notify") "hubs are Type=notify")
    (expect (agentEdge.serviceConfig.Type == "exec") "agents are Type=exec")
    (all (n: sandboxed n svc.${n}) (attrNames svc))
    (expect (hubMain.serviceConfig.StateDirectory == "multicluster-controlplane-hub-main") "state dir")
    (expect (agentEdge.serviceConfig.StateDirectory == "multicluster-controlplane-agent-edge") "agent state dir")
    (expect (hubMain.wantedBy == [ "multi-user.target" ]) "autoStart")
    (expect (agentKube.wantedBy == [ ]) "autoStart = false")
    (expect (elem "etcd.service" hubExternal.after && !(elem "etcd.service" hubMain.after)) "etcd ordering")

    # Settings derived from the typed options; secrets only as credential paths.
    (expect (mcp.hubs.main.settings.dataDirectory == "/var/lib/multicluster-controlplane-hub-main") "dataDirectory")
    (expect (mcp.hubs.main.settings.apiserver == {
      port = 9443;
      bindAddress = "0.0.0.0";
      externalHostname = "hub.example.com";
      caFile = credentials "multicluster-controlplane-hub-main" "ca.crt";
      caKeyFile = credentials "multicluster-controlplane-hub-main" "ca.key";
      serviceAccountKeyFile = credentials "multicluster-controlplane-hub-main" "sa.key";
    }) "apiserver settings: ${builtins.toJSON mcp.hubs.main.settings.apiserver}")
    (expect (mcp.hubs.main.settings.logging.level == "debug") "free-form settings kept")
    (expect (mcp.hubs.main.settings.controllers.selfManagement == {
      enabled = true;
      clusterName = "local-cluster";
      kubeconfig = credentials "multicluster-controlplane-hub-main" "self-management.kubeconfig";
    }) "self-management settings: ${builtins.toJSON mcp.hubs.main.settings.controllers.selfManagement}")
    (expect (!(mcp.hubs.external.settings.controllers ? selfManagement)) "self-management off by default")
    (expect (
      mcp.hubs.external.settings.etcd.keyFile == credentials "multicluster-controlplane-hub-external" "etcd-client.key"
    ) "etcd key through credentials")
    (expect (mcp.agents.edge.settings.agent == {
      clusterName = "edge";
      hubKubeconfigDir = "/var/lib/multicluster-controlplane-agent-edge";
      managedKubeconfig = credentials "multicluster-controlplane-agent-edge" "managed.kubeconfig";
    }) "agent settings: ${builtins.toJSON mcp.agents.edge.settings.agent}")
    (expect (
      mcp.agents.bykubeconfig.settings.agent.bootstrapKubeconfig
      == credentials "multicluster-controlplane-agent-bykubeconfig" "bootstrap.kubeconfig"
    ) "bootstrap kubeconfig through credentials")
    (expect (
      hubMain.serviceConfig.LoadCredential == [
        "self-management.kubeconfig:/run/keys/local.kubeconfig"
        "ca.crt:/run/keys/ca.crt"
        "ca.key:/run/keys/ca.key"
        "sa.key:/run/keys/sa.key"
        "bootstrap-tokens:/run/keys/tokens"
      ]
    ) "hub credentials: ${toString hubMain.serviceConfig.LoadCredential}")
    (expect (builtins.length hubMain.serviceConfig.ExecStartPost == 1) "token registration")
    (expect (hubExternal.serviceConfig.ExecStartPost == [ ]) "no token registration without tokens")
    (expect (
      agentEdge.serviceConfig.LoadCredential == [
        "bootstrap-token:/run/keys/token"
        "hub-ca.crt:/etc/ocm/hub-ca.crt"
        "managed.kubeconfig:/var/lib/multicluster-controlplane-hub-managed/cert/kube-aggregator.kubeconfig"
      ]
    ) "agent credentials")
    (expect (
      hasInfix ''"--token-file" "${credentials "multicluster-controlplane-agent-edge" "bootstrap-token"}"'' agentEdge.serviceConfig.ExecStart
      && hasInfix ''"--hub-url" "https://hub.example.com:9443"'' agentEdge.serviceConfig.ExecStart
    ) "agent command line: ${agentEdge.serviceConfig.ExecStart}")
    (expect (!hasInfix "--hub-url" agentKube.serviceConfig.ExecStart) "kubeconfig join has no --hub-url")
    (expect (hasInfix ''"server" "--config"'' hubMain.serviceConfig.ExecStart) "hub command line")
    (expect (hasInfix "config check" mcp.hubs.main.configFile.script) "settings checked at build time")
    (expect (c.networking.firewall.allowedTCPPorts == [ 9443 ]) "openFirewall")
    (expect (
      builtins.length (filter (p: lib.hasPrefix "multicluster-controlplane-hub-" (p.name or "")) c.environment.systemPackages) == 3
    ) "one CLI wrapper per hub")

    # Assertions.
    (expect (any (hasInfix "both listen on port 9443") (failed (hubsOn { } { }))) "clashing ports")
    (expect (
      any (hasInfix "both listen on port 9443") (
        failed (
          hubsOn { listenAddress = "127.0.0.1"; } { }
        )
      )
    ) "a wildcard address overlaps a specific one")
    (expect (
      failed (
        hubsOn { listenAddress = "127.0.0.1"; } { listenAddress = "10.0.0.1"; }
      ) == [ ]
    ) "same port on distinct addresses is fine")
    (expect (failed (hubsOn { } { port = 9444; }) == [ ]) "distinct ports are fine")
    (expect (
      any (hasInfix "is in the Nix store") (
        failed (
          eval (one {
            hubs.a.ca = {
              certFile = "/etc/ca.crt";
              keyFile = "${builtins.storeDir}/00000000000000000000000000000000-ca.key";
            };
          })
        )
      )
    ) "a secret in the store")
    (expect (
      any (hasInfix "set both ca.certFile and ca.keyFile") (
        failed (eval (one { hubs.a.ca.keyFile = "/run/keys/ca.key"; }))
      )
    ) "CA key without certificate")
    (expect (
      any (hasInfix "hubUrl together with tokenFile") (
        failed (eval (one { agents.a.hubUrl = "https://hub:9443"; }))
      )
    ) "agent without token")
    (expect (
      any (hasInfix "needs the hub CA") (
        failed (
          eval (one {
            agents.a = {
              hubUrl = "https://hub:9443";
              tokenFile = "/run/keys/token";
            };
          })
        )
      )
    ) "agent without the hub CA")
    (expect (
      any (hasInfix "instance names") (failed (eval (one { hubs."bad name" = { }; })))
    ) "instance names")
    (expect (
      (eval (one {
        agents.a = {
          hubUrl = "https://hub:9443";
          tokenFile = "/run/keys/token";
          hubCaHash = "sha256:${lib.fixedWidthString 64 "0" ""}";
        };
      })).config.warnings != [ ]
    ) "warning without managedKubeconfigFile")

    # Type errors and conflicts fail the evaluation.
    (expect (fails (eval (one { hubs.a.port = 70000; })).config.systemd.services) "port out of range")
    (expect (fails (eval (one { hubs.a.ca.keyFile = ./eval-module.nix; })).config.systemd.services) "a Nix path literal as a secret")
    (expect (fails (eval (one { hubs.a.ca.keyFile = "relative/ca.key"; })).config.systemd.services) "a relative secret path")
    (expect (
      fails (eval (one { agents.a.hubCaHash = "md5:abc"; })).config.systemd.services
    ) "malformed CA hash")
    (expect (
      fails (eval (one { hubs.a.settings.apiserver.port = 1234; })).config.services.multicluster-controlplane.hubs.a.settings
    ) "settings conflicting with the typed options")

    # Ports below 1024 get exactly the capability to bind them.
    (
      let
        s = (eval (one { hubs.a.port = 443; })).config.systemd.services.multicluster-controlplane-hub-a;
      in
      expect (
        s.serviceConfig.CapabilityBoundingSet == "CAP_NET_BIND_SERVICE" && !s.serviceConfig.PrivateUsers
      ) "port 443"
    )
  ];

  # Every option is documented (the NixOS manual renders these).
  docs = filter (
    o: lib.hasPrefix "services.multicluster-controlplane." o.name && o.visible && !o.internal
  ) (lib.optionAttrSetToDocList full.options);
  undocumented = filter (o: (o.description or null) == null || o.description == "") docs;

  # Unit files as NixOS writes them (systemd-lib's attrsToSection: a list gives one line per
  # element, booleans become true/false).
  toOption = v: if builtins.isBool v then lib.boolToString v else toString v;
  section =
    title: attrs:
    "[${title}]\n"
    + lib.concatStrings (
      concatLists (
        mapAttrsToList (k: v: map (x: "${k}=${toOption x}\n") (if builtins.isList v then v else [ v ])) attrs
      )
    );
  unitFile =
    s:
    section "Unit" (
      lib.filterAttrs (_: v: v != "" && v != null) {
        Description = s.description;
        Documentation = concatStringsSep " " s.documentation;
        After = concatStringsSep " " s.after;
        Wants = concatStringsSep " " s.wants;
        StartLimitIntervalSec = s.startLimitIntervalSec;
      }
    )
    + "\n"
    + section "Service" s.serviceConfig
    + "\n"
    + section "Install" (lib.optionalAttrs (s.wantedBy != [ ]) { WantedBy = concatStringsSep " " s.wantedBy; });
in
assert builtins.deepSeq checks true;
assert expect (builtins.length docs > 25) "option documentation found (${toString (builtins.length docs)})";
assert expect (undocumented == [ ]) "undocumented options: ${toString (map (o: o.name) undocumented)}";
{
  checks = builtins.length checks;
  options = map (o: o.name) docs;
  units = mapAttrs' (n: s: nameValuePair "${n}.service" (unitFile s)) svc;
  settings =
    mapAttrs' (n: h: nameValuePair "hub-${n}" h.settings) (lib.filterAttrs (_: h: h.enable) mcp.hubs)
    // mapAttrs' (n: a: nameValuePair "agent-${n}" a.settings) mcp.agents;
}
