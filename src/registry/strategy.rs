//! What kube-apiserver hard-codes per built-in kind (its "strategies" and defaulting
//! functions), for the kinds this hub serves. Custom resources get their defaults from
//! their schemas instead.

use serde_json::{Value, json};

use crate::api::Kind;

/// Fills the defaults kube sets on every write of a built-in kind; `creating` adds what
/// only a create sets.
pub fn defaults(kind: &Kind, object: &mut Value, creating: bool) {
    if kind.custom {
        return;
    }
    if kind.group.is_empty() && kind.kind == "Secret" {
        fold_string_data(object);
    }
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Secret")
            if object
                .get("type")
                .is_none_or(|t| t.as_str().is_none_or(str::is_empty)) =>
        {
            object["type"] = json!("Opaque");
        }
        ("", "Namespace") => {
            // kube's namespace strategy labels every namespace with its own name.
            if let Some(name) = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
            {
                if !object["metadata"].get("labels").is_some_and(Value::is_object) {
                    object["metadata"]["labels"] = json!({});
                }
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            }
            if !creating {
                return;
            }
            object["status"] = json!({"phase": "Active"});
            let finalizers = object
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == "kubernetes") {
                let mut all = finalizers;
                all.push(json!("kubernetes"));
                if !object.get("spec").is_some_and(Value::is_object) {
                    object["spec"] = json!({});
                }
                object["spec"]["finalizers"] = Value::Array(all);
            }
        }
        _ => {}
    }
    go_zero_values(kind, object);
}

/// The fields kube's Go types always encode, even unset (no `omitempty`, or a struct that
/// `omitempty` cannot drop): a zero `metav1.Time` as `null`, an empty string, an empty
/// struct as `{}`, a nil slice as `null`. Clients see them in every answer.
fn go_zero_values(kind: &Kind, object: &mut Value) {
    let zeros: &[(&str, Value)] = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Event") => &[
            ("involvedObject", json!({})),
            ("source", json!({})),
            ("firstTimestamp", Value::Null),
            ("lastTimestamp", Value::Null),
            ("eventTime", Value::Null),
            ("reportingComponent", json!("")),
            ("reportingInstance", json!("")),
        ],
        ("events.k8s.io", "Event") => &[
            ("eventTime", Value::Null),
            ("regarding", json!({})),
            ("deprecatedSource", json!({})),
            ("deprecatedFirstTimestamp", Value::Null),
            ("deprecatedLastTimestamp", Value::Null),
        ],
        ("certificates.k8s.io", "CertificateSigningRequest") => &[("status", json!({}))],
        ("coordination.k8s.io", "Lease") => &[("spec", json!({}))],
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => &[("rules", Value::Null)],
        _ => return,
    };
    let Some(o) = object.as_object_mut() else {
        return;
    };
    for (field, zero) in zeros {
        let current = o.get(*field);
        // A null string or struct reads back as its zero value too.
        if current.is_none() || (current == Some(&Value::Null) && !zero.is_null()) {
            o.insert((*field).to_string(), zero.clone());
        }
    }
}

/// Kinds whose update must name the resourceVersion it replaces (kube's
/// `AllowUnconditionalUpdate() == false`): custom resources, CRDs and Leases.
pub fn requires_resource_version(kind: &Kind) -> bool {
    kind.custom
        || matches!(
            (kind.group.as_str(), kind.kind.as_str()),
            ("coordination.k8s.io", "Lease")
                | ("apiextensions.k8s.io", "CustomResourceDefinition")
        )
}

/// Kinds a PUT of a missing object creates (kube's `AllowCreateOnUpdate() == true`):
/// RBAC roles and bindings, Events and Leases.
pub fn creates_on_update(kind: &Kind) -> bool {
    matches!(
        (kind.group.as_str(), kind.kind.as_str()),
        ("rbac.authorization.k8s.io", _)
            | ("", "Event")
            | ("events.k8s.io", "Event")
            | ("coordination.k8s.io", "Lease")
    )
}

/// A CertificateSigningRequest records who asked for it (kube's CSR strategy, on every
/// create, apply included): the requester's name, uid, groups and extra replace whatever
/// the body claims; empty values are left out, as kube's typed CSR omits them.
pub fn set_requester(kind: &Kind, csr: &mut Value, user: &crate::api::user::UserInfo) {
    if kind.group != "certificates.k8s.io" || kind.kind != "CertificateSigningRequest" {
        return;
    }
    if !csr.get("spec").is_some_and(Value::is_object) {
        csr["spec"] = json!({});
    }
    csr["spec"]["username"] = json!(user.name);
    for (field, value, empty) in [
        ("uid", json!(user.uid), user.uid.is_empty()),
        ("groups", json!(user.groups), user.groups.is_empty()),
        ("extra", json!(user.extra), user.extra.is_empty()),
    ] {
        match csr["spec"].as_object_mut() {
            Some(spec) if empty => {
                spec.remove(field);
            }
            _ => csr["spec"][field] = value,
        }
    }
}

/// kube's validation of built-in kinds beyond their types, for what this hub serves:
/// ConfigMap and Secret keys (`IsConfigMapKey`).
pub fn validate(kind: &Kind, object: &Value) -> Vec<crate::api::status::Cause> {
    let mut causes = Vec::new();
    let keyed = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "ConfigMap") => &["data", "binaryData"][..],
        ("", "Secret") => &["data"][..],
        _ => return causes,
    };
    for field in keyed {
        for key in object
            .get(*field)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            let valid_chars = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            let problem = if key.len() > 253 {
                Some("must be no more than 253 characters".to_string())
            } else if !valid_chars {
                Some("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string())
            } else if key == "." || key == ".." {
                Some(format!("must not be '{key}'"))
            } else {
                None
            };
            if let Some(problem) = problem {
                causes.push(crate::api::status::Cause::invalid(
                    format!("{field}[{key}]"),
                    format!("Invalid value: {key:?}: {problem}"),
                ));
            }
        }
    }
    causes
}

/// A Secret's write-only `stringData` is folded into `data` (base64), its entries winning,
/// and never stored, as kube's conversion does.
fn fold_string_data(object: &mut Value) {
    use base64::Engine;
    let Some(Value::Object(strings)) = object.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    if !object.get("data").is_some_and(Value::is_object) {
        object["data"] = json!({});
    }
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        object["data"][key] =
            Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Catalog;

    #[test]
    fn secret_type_and_namespace_lifecycle() {
        let c = Catalog::builtin();
        let secret = c.find_resource("", "secrets").expect("secrets");
        let mut s = json!({"metadata": {"name": "a"}});
        defaults(&secret, &mut s, true);
        assert_eq!(s["type"], "Opaque");
        let mut folded = json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "z"}});
        defaults(&secret, &mut folded, false);
        assert_eq!(folded["data"], json!({"a": "eA==", "b": "eg=="}));
        assert!(folded.get("stringData").is_none());
        let mut typed = json!({"type": "kubernetes.io/tls"});
        defaults(&secret, &mut typed, false);
        assert_eq!(typed["type"], "kubernetes.io/tls");
        let ns = c.find_resource("", "namespaces").expect("namespaces");
        let mut n = json!({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}});
        defaults(&ns, &mut n, true);
        assert_eq!(n["status"]["phase"], "Active");
        assert_eq!(n["spec"]["finalizers"], json!(["kubernetes"]));
    }
}
