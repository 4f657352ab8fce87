//! Admission for OCM kinds, as the Go project's webhooks do it. Mutation (run by the
//! registry on every main-resource write of a ManagedCluster): taints get `timeAdded` from
//! the server and clients may not set it; new clusters join the `default` cluster set.
//! Validation (run on the final object with the requester, see `http::api`): accepting a
//! cluster needs `managedclusters/accept`, moving it between sets needs
//! `managedclustersets/join` on both, client-config URLs are https, and a
//! ManagedClusterSetBinding names its set and needs `managedclustersets/bind`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::Kind;
use crate::api::ocm::{
    CLUSTER_SET_LABEL, ManagedClusterSetBindingSpec, ManagedClusterSpec, Manifest, ManifestWorkSpec,
};
use crate::api::status::{Cause, Status};
use crate::api::user::UserInfo;
use crate::auth::authz::Authorizer;
use crate::auth::request::Attributes;

const CLUSTER_GROUP: &str = "cluster.open-cluster-management.io";

fn is_managed_cluster(kind: &Kind) -> bool {
    kind.group == CLUSTER_GROUP && kind.kind == "ManagedCluster"
}

/// Largest accepted total size of a ManifestWork's manifests (`controllers.maxManifestWorkBytes`).
static MAX_MANIFEST_WORK_BYTES: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(512_000);

/// Sets the ManifestWork size limit (at server start).
pub fn set_max_manifest_work_bytes(bytes: u64) {
    MAX_MANIFEST_WORK_BYTES.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// True for kinds whose writes [`validate`] checks.
pub fn validates(kind: &Kind) -> bool {
    (kind.group == CLUSTER_GROUP
        && matches!(
            kind.kind.as_str(),
            "ManagedCluster" | "ManagedClusterSetBinding"
        ))
        || (kind.group == "work.open-cluster-management.io" && kind.kind == "ManifestWork")
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/labels")?.get(key)?.as_str()
}

/// Mutating admission of a ManagedCluster write (`old` on updates).
///
/// This stays on JSON: it runs on the request body before schema admission (a field may
/// still be null, of the wrong type or unknown, and must reach the schema's checks with
/// its own message), and it edits the body in place, which a typed round trip would
/// reshape (dropping unknown fields, adding defaults, re-encoding times).
pub fn mutate(
    kind: &Kind,
    object: &mut Value,
    old: Option<&Value>,
    default_set: bool,
) -> Result<(), Status> {
    if !is_managed_cluster(kind) {
        return Ok(());
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // Upstream's webhook re-encodes the typed object, so `spec` and its
    // `hubAcceptsClient` are always there; typed clients (ours included) need `spec`.
    if let Some(obj) = object.as_object_mut() {
        let spec = obj.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.entry("hubAcceptsClient").or_insert(json!(false));
        }
    }
    let now = crate::api::meta::now_rfc3339();
    let old_taints: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/taints"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let same_taint = |a: &Value, b: &Value| {
        ["key", "value", "effect"]
            .iter()
            .all(|f| a.get(*f) == b.get(*f))
    };
    if let Some(taints) = object
        .pointer_mut("/spec/taints")
        .and_then(Value::as_array_mut)
    {
        let forged = |i: usize| {
            Status::invalid(
                kind,
                &name,
                vec![Cause::invalid(
                    format!("spec.taints[{i}].timeAdded"),
                    "It is not allowed to set TimeAdded of Taint: it is set by the server",
                )],
            )
        };
        for (i, taint) in taints.iter_mut().enumerate() {
            let previous = old_taints.iter().find(|t| same_taint(t, taint));
            let given = taint.get("timeAdded").filter(|t| !t.is_null()).cloned();
            match previous {
                Some(prev) => {
                    let kept = prev.get("timeAdded").cloned().unwrap_or(Value::Null);
                    if given.is_some() && given.as_ref() != Some(&kept) && old.is_some() {
                        return Err(forged(i));
                    }
                    taint["timeAdded"] = kept;
                }
                None => {
                    if given.is_some() && old.is_some() {
                        return Err(forged(i));
                    }
                    taint["timeAdded"] = json!(now);
                }
            }
        }
    }
    if default_set && label(object, CLUSTER_SET_LABEL).is_none_or(str::is_empty) {
        if !object.get("metadata").is_some_and(Value::is_object) {
            object["metadata"] = json!({});
        }
        if !object["metadata"]
            .get("labels")
            .is_some_and(Value::is_object)
        {
            object["metadata"]["labels"] = json!({});
        }
        object["metadata"]["labels"][CLUSTER_SET_LABEL] = json!("default");
    }
    Ok(())
}

fn allowed(
    authz: &Authorizer,
    user: &UserInfo,
    group: &str,
    resource: &str,
    sub: &str,
    verb: &str,
    name: &str,
) -> bool {
    authz
        .authorize(&Attributes {
            user: user.clone(),
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            resource_request: true,
            ..Attributes::default()
        })
        .allowed
}

fn forbidden(message: String) -> Status {
    Status::new(axum::http::StatusCode::FORBIDDEN, "Forbidden", message)
}

/// The parts of an OCM object validation reads, typed: its metadata and its `spec` (a
/// missing `spec` reads as the spec's defaults, as the JSON checks read absent fields;
/// `status` is not decoded, so nothing in it can fail validation).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Written<S> {
    metadata: ObjectMeta,
    spec: S,
}

impl<S: DeserializeOwned + Default> Written<S> {
    /// Decodes `object`. The registry's schema admission runs first (nulls of
    /// non-nullable fields dropped, types and required fields checked), so this fails
    /// only for objects it let through that the Rust types cannot hold: a bad request,
    /// as upstream's webhook answers an object it cannot decode.
    fn decode(kind: &Kind, object: &Value) -> Result<Written<S>, Status> {
        serde_json::from_value(object.clone())
            .map_err(|e| Status::bad_request(format!("decoding the {}: {e}", kind.kind)))
    }

    /// The written object and, on an update, the stored one it replaces.
    fn decode_update(
        kind: &Kind,
        new: &Value,
        old: Option<&Value>,
    ) -> Result<(Written<S>, Option<Written<S>>), Status> {
        let written = Self::decode(kind, new)?;
        Ok((written, old.map(|o| Self::decode(kind, o)).transpose()?))
    }

    /// The object's name (empty when unset).
    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// Label `key` of the object.
    fn label(&self, key: &str) -> Option<&str> {
        self.metadata.labels.as_ref()?.get(key).map(String::as_str)
    }
}

/// Validating admission of a write of `kind` by `user` (`old` on updates).
pub fn validate(
    authz: &Authorizer,
    user: &UserInfo,
    kind: &Kind,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), Status> {
    match kind.kind.as_str() {
        "ManagedCluster" => validate_cluster(authz, user, kind, new, old),
        "ManifestWork" => validate_work(authz, user, kind, new, old),
        "ManagedClusterSetBinding" => {
            let binding = Written::<ManagedClusterSetBindingSpec>::decode(kind, new)?;
            let name = binding.name();
            // As upstream's webhook: the name must be the set's on create and update (a
            // bad request, not an invalid object), and only creating needs
            // `managedclustersets/bind` on the set.
            let set = binding.spec.cluster_set.as_str();
            if set != name {
                return Err(Status::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The ManagedClusterSetBinding must have the same name as the target ManagedClusterSet",
                ));
            }
            if old.is_none()
                && !allowed(
                    authz,
                    user,
                    CLUSTER_GROUP,
                    "managedclustersets",
                    "bind",
                    "create",
                    set,
                )
            {
                return Err(forbidden(format!(
                    "managedclustersets/bind.{CLUSTER_GROUP} {set:?} is forbidden: user {:?} is not allowed to bind cluster set {set:?}",
                    user.name
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// ManagedCluster rules of the Go webhook: a namespace-like name, https client-config
/// URLs, `managedclusters/accept` to change `hubAcceptsClient`, and
/// `managedclustersets/join` on both sets to move the cluster between sets.
fn validate_cluster(
    authz: &Authorizer,
    user: &UserInfo,
    kind: &Kind,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), Status> {
    let (cluster, previous) = Written::<ManagedClusterSpec>::decode_update(kind, new, old)?;
    let name = cluster.name();
    if !crate::api::meta::is_dns_label(name) {
        return Err(Status::invalid(
            kind,
            name,
            vec![Cause::invalid(
                "metadata.name",
                format!(
                    "Invalid value: {name:?}: a ManagedCluster name must be a valid namespace name (a lowercase RFC 1123 label)"
                ),
            )],
        ));
    }
    for (i, config) in cluster
        .spec
        .managed_cluster_client_configs
        .iter()
        .enumerate()
    {
        let url = config.url.as_str();
        if !url.is_empty() && !url.starts_with("https://") {
            return Err(Status::invalid(
                kind,
                name,
                vec![Cause::invalid(
                    format!("spec.managedClusterClientConfigs[{i}].url"),
                    format!("Invalid value: {url:?}: url must be https"),
                )],
            ));
        }
    }
    let was = previous.as_ref().is_some_and(|o| o.spec.hub_accepts_client);
    if cluster.spec.hub_accepts_client != was
        && !allowed(
            authz,
            user,
            "register.open-cluster-management.io",
            "managedclusters",
            "accept",
            "update",
            name,
        )
    {
        return Err(forbidden(format!(
            "user {:?} cannot update the HubAcceptsClient field of managed cluster {name:?}: it needs \"update\" on managedclusters/accept in group register.open-cluster-management.io",
            user.name
        )));
    }
    let before = previous
        .as_ref()
        .and_then(|o| o.label(CLUSTER_SET_LABEL))
        .unwrap_or("");
    let after = cluster.label(CLUSTER_SET_LABEL).unwrap_or("");
    if before != after {
        for set in [before, after].into_iter().filter(|s| !s.is_empty()) {
            if !allowed(
                authz,
                user,
                CLUSTER_GROUP,
                "managedclustersets",
                "join",
                "create",
                set,
            ) {
                return Err(forbidden(format!(
                    "user {:?} cannot add/remove a ManagedCluster to/from ManagedClusterSet {set:?}: it needs \"create\" on managedclustersets/join",
                    user.name
                )));
            }
        }
    }
    Ok(())
}

/// ManifestWork rules of the Go webhook: manifests present, each naming its apiVersion,
/// kind and name (no generateName), their total size within the limit, and an executor
/// only from someone allowed to `execute-as` it.
fn validate_work(
    authz: &Authorizer,
    user: &UserInfo,
    kind: &Kind,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), Status> {
    let (work, previous) = Written::<ManifestWorkSpec>::decode_update(kind, new, old)?;
    let name = work.name();
    let invalid = |field: String, message: String| {
        Status::invalid(kind, name, vec![Cause::invalid(field, message)])
    };
    let manifests = work
        .spec
        .workload
        .as_ref()
        .map(|w| w.manifests.as_slice())
        .unwrap_or_default();
    if manifests.is_empty() {
        return Err(invalid(
            "spec.workload.manifests".into(),
            "manifests should not be empty".into(),
        ));
    }
    let mut total = 0usize;
    for (i, Manifest(m)) in manifests.iter().enumerate() {
        // A manifest is any embedded object (of any kind, possibly malformed): its fields
        // are read as JSON, so a bad one gets its own message rather than a decode error.
        let at = |f: &str| format!("spec.workload.manifests[{i}].{f}");
        for field in ["apiVersion", "kind"] {
            if m.get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(invalid(
                    at(field),
                    format!("Required value: {field} must be set"),
                ));
            }
        }
        let meta = |f: &str| {
            m.get("metadata")
                .and_then(|md| md.get(f))
                .and_then(Value::as_str)
        };
        if meta("generateName").is_some_and(|g| !g.is_empty()) {
            return Err(invalid(
                at("metadata.generateName"),
                "Forbidden: generateName is not allowed in a manifest".into(),
            ));
        }
        if meta("name").is_none_or(str::is_empty) {
            return Err(invalid(
                at("metadata.name"),
                "Required value: name must be set".into(),
            ));
        }
        total += serde_json::to_vec(m).map(|b| b.len()).unwrap_or(0);
    }
    let limit = MAX_MANIFEST_WORK_BYTES.load(std::sync::atomic::Ordering::Relaxed);
    if total as u64 > limit {
        return Err(invalid(
            "spec.workload.manifests".into(),
            format!(
                "Too long: the manifests are {total} bytes, more than the limit of {limit} bytes"
            ),
        ));
    }
    let wanted = work.spec.executor.as_ref();
    let changed = previous.as_ref().map(|o| o.spec.executor.as_ref()) != Some(wanted);
    if let Some(executor) = wanted.filter(|_| changed) {
        let sa = executor
            .subject
            .as_ref()
            .and_then(|s| s.service_account.as_ref());
        let namespace = work.metadata.namespace.as_deref().unwrap_or("");
        let who = format!(
            "system:serviceaccount:{}:{}",
            sa.map_or("", |s| s.namespace.as_str()),
            sa.map_or("", |s| s.name.as_str())
        );
        let attrs = Attributes {
            user: user.clone(),
            verb: "execute-as".into(),
            api_group: "work.open-cluster-management.io".into(),
            resource: "manifestworks".into(),
            namespace: namespace.into(),
            name: who.clone(),
            resource_request: true,
            ..Attributes::default()
        };
        if !authz.authorize(&attrs).allowed {
            return Err(forbidden(format!(
                "user {:?} cannot manipulate the Manifestwork with executor {who} in namespace {namespace}: it needs \"execute-as\" on manifestworks",
                user.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mc_kind() -> Kind {
        crate::api::builtin::kinds()
            .into_iter()
            .find(|k| k.kind == "ManagedCluster")
            .expect("ManagedCluster kind")
    }

    #[test]
    fn a_cluster_always_has_a_spec() {
        let kind = mc_kind();
        let mut bare = json!({"metadata": {"name": "c1"}});
        mutate(&kind, &mut bare, None, true).expect("create");
        assert_eq!(bare["spec"], json!({"hubAcceptsClient": false}));
        let mut accepted = json!({"metadata": {"name": "c1"}, "spec": {"hubAcceptsClient": true}});
        mutate(&kind, &mut accepted, None, true).expect("create");
        assert_eq!(accepted["spec"]["hubAcceptsClient"], true);
    }

    #[test]
    fn taints_get_server_time_and_clients_cannot_set_it() {
        let kind = mc_kind();
        let mut new = json!({"metadata": {"name": "c1"}, "spec": {"taints": [{"key": "k", "effect": "NoSelect"}]}});
        mutate(&kind, &mut new, None, true).expect("create");
        assert!(
            new.pointer("/spec/taints/0/timeAdded")
                .and_then(Value::as_str)
                .is_some()
        );
        assert_eq!(label(&new, CLUSTER_SET_LABEL), Some("default"));
        let old = new.clone();
        let mut forged = old.clone();
        forged["spec"]["taints"][0]["timeAdded"] = json!("2000-01-01T00:00:00Z");
        assert!(mutate(&kind, &mut forged, Some(&old), true).is_err());
        let mut added = old.clone();
        added["spec"]["taints"] = json!([{"key": "k", "effect": "NoSelect"}, {"key": "x", "effect": "NoSelect", "timeAdded": "2000-01-01T00:00:00Z"}]);
        assert!(mutate(&kind, &mut added, Some(&old), true).is_err());
        let mut kept = old.clone();
        kept["spec"]["taints"][0]["timeAdded"] = Value::Null;
        mutate(&kind, &mut kept, Some(&old), false).expect("kept");
        assert_eq!(
            kept["spec"]["taints"][0]["timeAdded"],
            old["spec"]["taints"][0]["timeAdded"]
        );
    }

    fn find(kind: &str) -> Kind {
        crate::api::builtin::kinds()
            .into_iter()
            .find(|k| k.kind == kind)
            .expect("kind")
    }

    /// `validate` by a user with no permissions: `(code, reason, message)` of its refusal.
    fn refusal(kind: &Kind, new: Value, old: Option<Value>) -> Option<(u16, &'static str, String)> {
        let user = UserInfo {
            name: "bob".into(),
            ..UserInfo::default()
        };
        validate(&Authorizer::new(), &user, kind, &new, old.as_ref())
            .err()
            .map(|s| (s.code, s.reason, s.message))
    }

    #[test]
    fn cluster_checks_keep_their_words() {
        let kind = mc_kind();
        let plain = json!({"metadata": {"name": "c1"}, "spec": {"hubAcceptsClient": false}});
        assert_eq!(refusal(&kind, plain.clone(), None), None);
        assert_eq!(
            refusal(&kind, json!({"metadata": {"name": "c1"}}), None),
            None
        );
        let (code, _, message) =
            refusal(&kind, json!({"metadata": {"name": "C_1"}}), None).expect("bad name");
        assert_eq!(code, 422);
        assert!(message.ends_with("metadata.name: Invalid value: \"C_1\": a ManagedCluster name must be a valid namespace name (a lowercase RFC 1123 label)"), "{message}");
        let http = json!({"metadata": {"name": "c1"}, "spec": {"managedClusterClientConfigs": [
            {"url": "https://a"}, {"url": "http://b"}]}});
        let (code, _, message) = refusal(&kind, http, None).expect("http");
        assert_eq!(code, 422);
        assert!(message.ends_with("spec.managedClusterClientConfigs[1].url: Invalid value: \"http://b\": url must be https"), "{message}");
        let accepted = json!({"metadata": {"name": "c1"}, "spec": {"hubAcceptsClient": true}});
        let (code, reason, message) =
            refusal(&kind, accepted.clone(), Some(plain.clone())).expect("accept");
        assert_eq!((code, reason), (403, "Forbidden"));
        assert!(
            message.starts_with(
                "user \"bob\" cannot update the HubAcceptsClient field of managed cluster \"c1\""
            ),
            "{message}"
        );
        assert_eq!(
            refusal(&kind, accepted.clone(), Some(accepted.clone())),
            None
        );
        let moved = json!({"metadata": {"name": "c1", "labels": {CLUSTER_SET_LABEL: "s1"}}});
        let (code, _, message) = refusal(&kind, moved, Some(plain)).expect("join");
        assert_eq!(code, 403);
        assert!(
            message.contains("to/from ManagedClusterSet \"s1\""),
            "{message}"
        );
        // A body the types cannot hold is a bad request, not a panic.
        let (code, reason, _) = refusal(
            &kind,
            json!({"metadata": {"name": "c1"}, "spec": "x"}),
            None,
        )
        .expect("bad");
        assert_eq!((code, reason), (400, "BadRequest"));
    }

    #[test]
    fn binding_and_work_checks_keep_their_words() {
        let binding = find("ManagedClusterSetBinding");
        let other =
            json!({"metadata": {"name": "a", "namespace": "n"}, "spec": {"clusterSet": "b"}});
        let (code, reason, message) = refusal(&binding, other, None).expect("name");
        assert_eq!((code, reason), (400, "BadRequest"));
        assert_eq!(
            message,
            "The ManagedClusterSetBinding must have the same name as the target ManagedClusterSet"
        );
        let bare = json!({"metadata": {"name": "a", "namespace": "n"}});
        assert_eq!(refusal(&binding, bare, None).map(|r| r.0), Some(400));
        let same =
            json!({"metadata": {"name": "a", "namespace": "n"}, "spec": {"clusterSet": "a"}});
        let (code, _, message) = refusal(&binding, same.clone(), None).expect("bind");
        assert_eq!(code, 403);
        assert_eq!(
            message,
            "managedclustersets/bind.cluster.open-cluster-management.io \"a\" is forbidden: user \"bob\" is not allowed to bind cluster set \"a\""
        );
        assert_eq!(refusal(&binding, same.clone(), Some(same)), None);

        let work = find("ManifestWork");
        let with = |manifests: Value| {
            json!({"metadata": {"name": "w", "namespace": "c1"},
                "spec": {"workload": {"manifests": manifests}}})
        };
        let field = |new: Value| refusal(&work, new, None).map(|(_, _, m)| m);
        let empty = field(json!({"metadata": {"name": "w", "namespace": "c1"}})).expect("empty");
        assert!(
            empty.ends_with("spec.workload.manifests: manifests should not be empty"),
            "{empty}"
        );
        let kindless = field(with(
            json!([{"apiVersion": "v1", "metadata": {"name": "a"}}]),
        ));
        assert!(
            kindless
                .expect("kind")
                .ends_with("spec.workload.manifests[0].kind: Required value: kind must be set")
        );
        let generated = field(with(
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "a-"}}]),
        ));
        assert!(generated.expect("generateName").ends_with("spec.workload.manifests[0].metadata.generateName: Forbidden: generateName is not allowed in a manifest"));
        let nameless = field(with(
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 3}}]),
        ));
        assert!(nameless.expect("name").ends_with(
            "spec.workload.manifests[0].metadata.name: Required value: name must be set"
        ));
        let good =
            with(json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]));
        assert_eq!(field(good.clone()), None);
        let mut executed = good.clone();
        executed["spec"]["executor"] = json!({"subject": {"type": "ServiceAccount",
            "serviceAccount": {"namespace": "ns", "name": "sa"}}});
        let message = field(executed.clone()).expect("execute-as");
        assert_eq!(
            message,
            "user \"bob\" cannot manipulate the Manifestwork with executor system:serviceaccount:ns:sa in namespace c1: it needs \"execute-as\" on manifestworks"
        );
        // An unchanged executor is not checked again.
        assert_eq!(refusal(&work, executed.clone(), Some(executed)), None);
    }
}
