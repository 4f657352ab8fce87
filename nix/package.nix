# The multicluster-controlplane binary (hub and agent in one), built from Cargo.lock.
#
# Native dependencies come from nixpkgs instead of being compiled by the crates' build
# scripts:
# - RocksDB: librocksdb-sys links the shared library in ROCKSDB_LIB_DIR when that variable is
#   set (dynamically, since ROCKSDB_STATIC stays unset) and skips its bundled C++ build.
#   bindgen still runs on ROCKSDB_INCLUDE_DIR/rocksdb/c.h, so both variables point at the
#   same derivation and the bindings match the library. The rocksdb crate only calls C
#   functions that RocksDB 10.4 already has, so any nixpkgs RocksDB from 10.4 on works.
# - libclang for bindgen: rustPlatform.bindgenHook (LIBCLANG_PATH and the clang flags).
# - protoc for etcd-client's generated gRPC code: protobuf (PROTOC).
{
  lib,
  rustPlatform,
  rocksdb,
  protobuf,
  versionCheckHook,
}:

let
  manifest = (lib.importTOML ../Cargo.toml).package;
in
rustPlatform.buildRustPackage {
  pname = manifest.name;
  inherit (manifest) version;

  # Only what `cargo build` and the unit tests read: the manifest, the sources, the
  # configuration contract (embedded with include_str!), the bench targets Cargo.toml
  # declares, and the PKI fixtures of the unit tests.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../build.rs
      ../src
      ../config
      ../benches
      ../tests/fixtures
    ];
  };

  # One fixed-output derivation per crate, hashed by the checksums in Cargo.lock: no vendor
  # hash to keep up to date. (Git dependencies would need cargoLock.outputHashes.)
  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [
    rustPlatform.bindgenHook
    protobuf
  ];

  buildInputs = [ rocksdb ];

  env = {
    ROCKSDB_LIB_DIR = "${lib.getLib rocksdb}/lib";
    ROCKSDB_INCLUDE_DIR = "${lib.getDev rocksdb}/include";
    PROTOC = "${lib.getBin protobuf}/bin/protoc";
    # build.rs links with lld in start-up order (hack/startup-order.txt, not in the
    # source set) when ld.lld is on PATH. Not here: RocksDB is nixpkgs' shared library,
    # outside that order, and nixpkgs' wrapped linker keeps its rpath and interpreter
    # handling; the package links as before.
    MCP_LINK_ORDER = "0";
  };

  # The unit tests only (`cargo test --lib`): the end-to-end tests under tests/ start
  # servers and need kubectl, etcd, helm and network namespaces, which the build sandbox
  # has not got. The NixOS VM tests in vm-tests/ cover the installed binary instead.
  cargoTestFlags = [ "--lib" ];

  postInstall = ''
    install -Dm444 -t $out/share/multicluster-controlplane config/*.ncl config/defaults.json
    install -Dm444 -t $out/share/multicluster-controlplane/examples config/examples/*
  '';

  nativeInstallCheckInputs = [ versionCheckHook ];
  versionCheckProgramArg = "--version";
  doInstallCheck = true;
  # The installed binary accepts its own examples and embeds the installed contract.
  postInstallCheck = ''
    for f in $out/share/multicluster-controlplane/examples/*; do
      $out/bin/multicluster-controlplane config check "$f"
    done
    $out/bin/multicluster-controlplane config schema \
      | cmp - $out/share/multicluster-controlplane/schema.ncl
  '';

  meta = {
    description = manifest.description;
    longDescription = ''
      multicluster-controlplane is an Open Cluster Management hub in one process: a
      Kubernetes-style HTTPS API server with embedded storage (RocksDB) or external etcd,
      its own PKI, and the OCM hub controllers (cluster registration, ManifestWork). The
      same binary runs the managed-cluster agent. Configuration is checked against a Nickel
      contract (`multicluster-controlplane config check`).
    '';
    homepage = manifest.repository;
    license = lib.licenses.asl20;
    mainProgram = "multicluster-controlplane";
    platforms = lib.platforms.linux;
    sourceProvenance = [ lib.sourceTypes.fromSource ];
    maintainers = [ ];
  };
}
