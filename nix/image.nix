# OCI image of multicluster-controlplane: a layered image streamed by
# dockerTools.streamLayeredImage (the build result is a script that writes the image tarball
# to stdout, so no tarball is stored):
#
#   $(nix build --no-link --print-out-paths .#oci-image) | docker load    # or: podman load
#
# Layout (hack/oci-image.sh assembles the same image from a binary built outside Nix):
#   /bin/multicluster-controlplane            the entrypoint
#   /share/multicluster-controlplane/         the Nickel contract and example configurations
#   /etc/passwd, /etc/group                   root, nobody and the non-root user 65532 (ocm)
#   /etc/ssl/certs/ca-bundle.crt              CA certificates (also ca-certificates.crt)
#   /var/lib/multicluster-controlplane        data directory (a volume, owned by 65532)
#   /tmp                                      mode 1777
# No shell: the container runs the binary directly. Default command: the hub
# (`server --data-dir /var/lib/multicluster-controlplane`), listening on 0.0.0.0:9443.
{
  dockerTools,
  fakeNss,
  multicluster-controlplane,
  # The source revision for the org.opencontainers.image.revision label (the flake passes
  # self.rev, or self.dirtyRev for a dirty tree).
  rev ? null,
  tag ? multicluster-controlplane.version,
}:

let
  pkg = multicluster-controlplane;
  uid = "65532";
  dataDir = "/var/lib/multicluster-controlplane";
  port = "9443";
in
dockerTools.streamLayeredImage {
  name = "multicluster-controlplane";
  inherit tag;

  contents = [
    pkg
    dockerTools.caCertificates
    (fakeNss.override {
      extraPasswdLines = [ "ocm:x:${uid}:${uid}:multicluster-controlplane:${dataDir}:/sbin/nologin" ];
      extraGroupLines = [ "ocm:x:${uid}:" ];
    })
  ];

  fakeRootCommands = ''
    mkdir -p .${dataDir} ./tmp
    chown ${uid}:${uid} .${dataDir}
    chmod 0700 .${dataDir}
    chmod 1777 ./tmp
  '';

  config = {
    User = "${uid}:${uid}";
    Entrypoint = [ "/bin/multicluster-controlplane" ];
    Cmd = [
      "server"
      "--data-dir"
      dataDir
    ];
    Env = [
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "HOME=${dataDir}"
    ];
    WorkingDir = dataDir;
    ExposedPorts."${port}/tcp" = { };
    Volumes."${dataDir}" = { };
    Labels = {
      "org.opencontainers.image.title" = "multicluster-controlplane";
      "org.opencontainers.image.description" = pkg.meta.description;
      "org.opencontainers.image.version" = pkg.version;
      "org.opencontainers.image.licenses" = pkg.meta.license.spdxId;
      "org.opencontainers.image.source" = pkg.meta.homepage;
      "org.opencontainers.image.url" = pkg.meta.homepage;
    }
    // (if rev == null then { } else { "org.opencontainers.image.revision" = rev; });
  };
}
