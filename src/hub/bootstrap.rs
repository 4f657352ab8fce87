//! Objects a hub has from its first start, kept in shape by small controllers:
//! `kube-public/cluster-info` (how a joining agent finds the hub and its CA) readable by
//! anonymous users, the bootstrap role for `system:bootstrappers:managedcluster`, the
//! `default` and `global` ManagedClusterSets, and `kube-root-ca.crt` in every namespace.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use serde_json::{Value, json};

use super::controller::{self, Queue};
use super::objects::Objects;
use crate::api::ocm::names::{BOOTSTRAP_GROUP, BOOTSTRAP_ROLE};
use crate::api::ocm::{
    ManagedClusterSelector, ManagedClusterSet, ManagedClusterSetSpec, SelectorType,
};
use crate::api::status::Status;
use crate::registry::Filter;
use crate::registry::selector::FieldSelector;

/// The ConfigMap holding the CA bundle in every namespace.
pub const ROOT_CA: &str = "kube-root-ca.crt";
/// Annotation that stops the hub from resetting a default cluster set's spec.
const AUTOUPDATE: &str = "cluster.open-cluster-management.io/autoupdate";

/// The kubeconfig published in `kube-public/cluster-info`: the hub URL and CA, no user.
pub fn cluster_info_kubeconfig(server: &str, ca_pem: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let doc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "contexts": [], "current-context": "", "preferences": {}, "users": [],
    });
    crate::pki::kubeconfig_yaml(&doc)
}

/// Creates (or brings back in shape) the start-up objects.
pub async fn ensure(
    objects: &Objects,
    server: &str,
    ca_pem: &str,
    default_sets: bool,
) -> Result<(), Status> {
    let cm = objects.kind("", "configmaps")?;
    objects
        .ensure(
            &cm,
            Some("kube-public"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cluster-info", "namespace": "kube-public"},
                "data": {"kubeconfig": cluster_info_kubeconfig(server, ca_pem)}}),
            &["data"],
        )
        .await?;
    let role = objects.kind("rbac.authorization.k8s.io", "roles")?;
    let binding = objects.kind("rbac.authorization.k8s.io", "rolebindings")?;
    let cluster_role = objects.kind("rbac.authorization.k8s.io", "clusterroles")?;
    let cluster_binding = objects.kind("rbac.authorization.k8s.io", "clusterrolebindings")?;
    let info = "kubeadm:bootstrap-signer-clusterinfo";
    objects
        .ensure(
            &role,
            Some("kube-public"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": info, "namespace": "kube-public"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]}]}),
            &["rules"],
        )
        .await?;
    objects
        .ensure(
            &binding,
            Some("kube-public"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": info, "namespace": "kube-public"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": info},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]}),
            &["subjects"],
        )
        .await?;
    objects
        .ensure(
            &cluster_role,
            None,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": BOOTSTRAP_ROLE},
                "rules": [
                    // What `clusteradm join` reads with the token to find the hub CA.
                    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info", ROOT_CA], "verbs": ["get"]},
                    {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "get", "list", "watch"]},
                    {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"], "verbs": ["create", "get", "list", "update", "watch"]},
                    {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclustersets/join"], "verbs": ["create"]},
                ]}),
            &["rules"],
        )
        .await?;
    objects
        .ensure(
            &cluster_binding,
            None,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "open-cluster-management:bootstrap:managedcluster"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": BOOTSTRAP_ROLE},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": BOOTSTRAP_GROUP}]}),
            &["subjects", "roleRef"],
        )
        .await?;
    if default_sets {
        for name in ["default", "global"] {
            create_default_set(objects, name).await?;
        }
    }
    Ok(())
}

/// The spec the hub keeps on its default cluster sets: `global` selects every cluster,
/// `default` those labelled with it.
fn default_set_spec(name: &str) -> ManagedClusterSetSpec {
    let cluster_selector = match name {
        "global" => ManagedClusterSelector {
            selector_type: SelectorType::LabelSelector,
            label_selector: Some(LabelSelector::default()),
        },
        _ => ManagedClusterSelector {
            selector_type: SelectorType::ExclusiveClusterSetLabel,
            label_selector: None,
        },
    };
    ManagedClusterSetSpec {
        cluster_selector: Some(cluster_selector),
        ..ManagedClusterSetSpec::default()
    }
}

/// Creates a default cluster set unless it exists.
async fn create_default_set(objects: &Objects, name: &str) -> Result<(), Status> {
    if objects
        .get_as::<ManagedClusterSet>(None, name)
        .await?
        .is_some()
    {
        return Ok(());
    }
    match objects
        .create_as(&ManagedClusterSet::new(name, default_set_spec(name)))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Keeps `kube-root-ca.crt` in every namespace and the default cluster sets' specs.
pub async fn start(objects: &Objects, ca_pem: String, default_sets: bool) -> Result<(), Status> {
    let namespaces = objects.kind("", "namespaces")?;
    let configmaps = objects.kind("", "configmaps")?;
    let queue = Queue::default();
    let o = objects.clone();
    let ca = Arc::new(ca_pem);
    controller::run(
        "root-ca-publisher",
        queue.clone(),
        2,
        Arc::new(move |ns: String| {
            let (o, ca) = (o.clone(), ca.clone());
            Box::pin(async move { publish_root_ca(&o, &ns, &ca).await.map(|_| None) })
        }),
    );
    controller::feed(
        &objects.registry,
        namespaces,
        None,
        Filter::default(),
        queue.clone(),
        controller::by_name(),
    );
    let only_root_ca = Filter {
        fields: FieldSelector::parse(&format!("metadata.name={ROOT_CA}"), |_| None)
            .map_err(Status::bad_request)?,
        ..Filter::default()
    };
    controller::feed(
        &objects.registry,
        configmaps,
        None,
        only_root_ca,
        queue,
        controller::by_namespace(),
    );
    if default_sets {
        let sets = objects.kind_of::<ManagedClusterSet>()?;
        let queue = Queue::default();
        let o = objects.clone();
        controller::run(
            "default-clusterset",
            queue.clone(),
            1,
            Arc::new(move |name: String| {
                let o = o.clone();
                Box::pin(async move { keep_default_set(&o, &name).await.map(|_| None) })
            }),
        );
        controller::feed(
            &objects.registry,
            sets,
            None,
            Filter::default(),
            queue,
            Arc::new(
                |o: &Value| match o.pointer("/metadata/name").and_then(Value::as_str) {
                    Some(n @ ("default" | "global")) => vec![n.to_string()],
                    _ => Vec::new(),
                },
            ),
        );
    }
    Ok(())
}

async fn publish_root_ca(objects: &Objects, namespace: &str, ca_pem: &str) -> Result<(), Status> {
    let namespaces = objects.kind("", "namespaces")?;
    let Some(ns) = objects.get(&namespaces, None, namespace).await? else {
        return Ok(());
    };
    if ns.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let cm = objects.kind("", "configmaps")?;
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": ROOT_CA, "namespace": namespace,
            "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": ca_pem}});
    match objects
        .ensure(&cm, Some(namespace), desired, &["data"])
        .await
    {
        Ok(_) => Ok(()),
        // The namespace began terminating meanwhile.
        Err(e) if e.reason == "Forbidden" || e.reason == "NotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

async fn keep_default_set(objects: &Objects, name: &str) -> Result<(), Status> {
    let Some(mut set) = objects.get_as::<ManagedClusterSet>(None, name).await? else {
        // Deleted: bring it back.
        return create_default_set(objects, name).await;
    };
    if set.annotations().get(AUTOUPDATE).map(String::as_str) == Some("false")
        || set.metadata.deletion_timestamp.is_some()
    {
        return Ok(());
    }
    let want = default_set_spec(name);
    if set.spec == want {
        return Ok(());
    }
    set.spec = want;
    objects
        .update_as(&set, crate::registry::Target::Main)
        .await
        .map(|_| ())
}
