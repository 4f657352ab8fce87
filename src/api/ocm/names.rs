//! The names OCM's hub and agents agree on besides the kinds themselves: labels,
//! finalizers, the lease, the identities and groups of the registration flow, and the
//! signer of agent certificates. The hub's controllers and the agent both use these.

/// Label naming the cluster an object belongs to (CSRs, namespaces, RBAC).
pub const CLUSTER_NAME_LABEL: &str = "open-cluster-management.io/cluster-name";
/// Finalizer the hub keeps on a ManagedCluster until its resources are cleaned up.
pub const CLUSTER_FINALIZER: &str = "cluster.open-cluster-management.io/api-resource-cleanup";
/// Finalizer on a ManifestWork (set by the agent) and on the per-cluster work
/// RoleBinding (set by the hub) until the work's resources are cleaned up.
pub const WORK_FINALIZER: &str = "cluster.open-cluster-management.io/manifest-work-cleanup";
/// Finalizer on an AppliedManifestWork until what it applied is deleted.
pub const APPLIED_FINALIZER: &str =
    "cluster.open-cluster-management.io/applied-manifest-work-cleanup";
/// The Lease in a cluster's namespace on the hub that its agent renews.
pub const LEASE_NAME: &str = "managed-cluster-lease";
/// The group of bootstrap identities allowed to join.
pub const BOOTSTRAP_GROUP: &str = "system:bootstrappers:managedcluster";
/// The ClusterRole bound to [`BOOTSTRAP_GROUP`].
pub const BOOTSTRAP_ROLE: &str = "open-cluster-management:bootstrap";
/// The group every agent certificate carries.
pub const MANAGED_CLUSTERS_GROUP: &str = "system:open-cluster-management:managed-clusters";
/// Prefix of agent identities: `<prefix><cluster>:<agent id>` and the per-cluster group
/// `<prefix><cluster>`.
pub const IDENTITY_PREFIX: &str = "system:open-cluster-management:";
/// The Kubernetes signer of client certificates for the API server, which agent CSRs use.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
