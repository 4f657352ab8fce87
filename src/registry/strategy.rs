//! What kube-apiserver hard-codes per built-in kind (its "strategies" and defaulting
//! functions), for the kinds this hub serves. Custom resources get their defaults from
//! their schemas instead.

use serde_json::{Value, json};

use crate::api::Kind;
use crate::api::status::Cause;

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
                if !object["metadata"]
                    .get("labels")
                    .is_some_and(Value::is_object)
                {
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
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            // SetDefaults_RoleBinding and SetDefaults_Subject.
            if object.get("roleRef").is_some_and(Value::is_object)
                && text(object, "/roleRef/apiGroup").is_empty()
            {
                object["roleRef"]["apiGroup"] = json!("rbac.authorization.k8s.io");
            }
            for subject in object
                .get_mut("subjects")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter(|s| s.is_object())
            {
                if text(subject, "/apiGroup").is_empty()
                    && matches!(text(subject, "/kind"), "User" | "Group")
                {
                    subject["apiGroup"] = json!("rbac.authorization.k8s.io");
                }
            }
        }
        _ => {}
    }
}

/// The fields kube's Go types always encode, even unset (no `omitempty`, or a struct that
/// `omitempty` cannot drop): a zero `metav1.Time` as `null`, an empty string, an empty
/// struct as `{}`, a nil slice as `null`. Clients see them in every answer; managedFields
/// do not (set after tracking, and after admission, which drops nulls).
pub fn go_zero_values(kind: &Kind, object: &mut Value) {
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

/// kube's `populateConditionTimestamps` for CSRs: every condition gets a lastUpdateTime
/// (now) and a lastTransitionTime (the old one of the same type and status, else now).
pub fn csr_condition_times(kind: &Kind, old: &Value, object: &mut Value) {
    if kind.group != "certificates.k8s.io" || kind.kind != "CertificateSigningRequest" {
        return;
    }
    let now = crate::api::meta::now_rfc3339();
    let old_conditions = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(conditions) = object
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let unset = |c: &Value, f: &str| {
        c.get(f)
            .is_none_or(|t| t.as_str().is_none_or(str::is_empty))
    };
    for c in conditions.iter_mut().filter(|c| c.is_object()) {
        if unset(c, "lastUpdateTime") {
            c["lastUpdateTime"] = json!(now);
        }
        if unset(c, "lastTransitionTime") {
            let kept = old_conditions
                .iter()
                .find(|o| {
                    o["type"] == c["type"]
                        && o["status"] == c["status"]
                        && !unset(o, "lastTransitionTime")
                })
                .map(|o| o["lastTransitionTime"].clone());
            c["lastTransitionTime"] = kept.unwrap_or_else(|| json!(now));
        }
    }
}

/// The fields a create of `kind` gets from kube's PrepareForCreate (after its field
/// manager ran) that the body does not set itself: paths for `ssa::untrack`.
pub fn prepared_fields(kind: &Kind, body: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if kind.group.is_empty() && kind.kind == "Namespace" {
        if body.pointer("/spec/finalizers").is_none() {
            out.push(vec!["spec".into(), "finalizers".into()]);
        }
        // kube's defaulting labels a Namespace with its name before the field manager
        // runs; a generated name is only known later.
        let named = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !named
            && body
                .pointer("/metadata/labels/kubernetes.io~1metadata.name")
                .is_none()
        {
            out.push(vec![
                "metadata".into(),
                "labels".into(),
                "kubernetes.io/metadata.name".into(),
            ]);
        }
    }
    out
}

/// Kinds whose update must name the resourceVersion it replaces (kube's
/// `AllowUnconditionalUpdate() == false`): custom resources, CRDs and Leases.
pub fn requires_resource_version(kind: &Kind) -> bool {
    kind.custom
        || matches!(
            (kind.group.as_str(), kind.kind.as_str()),
            ("coordination.k8s.io", "Lease") | ("apiextensions.k8s.io", "CustomResourceDefinition")
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
pub fn validate(kind: &Kind, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let keyed = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "ConfigMap") => &["data", "binaryData"][..],
        ("", "Secret") => &["data"][..],
        ("", "Event") if old.is_none() => return validate_event(object, false),
        ("events.k8s.io", "Event") if old.is_none() => return validate_event(object, true),
        ("rbac.authorization.k8s.io", "Role") => return validate_rules(object, true),
        ("rbac.authorization.k8s.io", "ClusterRole") => return validate_rules(object, false),
        ("rbac.authorization.k8s.io", "RoleBinding") => return validate_binding(object, true),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            return validate_binding(object, false);
        }
        ("coordination.k8s.io", "Lease") => return validate_lease(object),
        ("", "Namespace") => {
            for (i, f) in object
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let f = f.as_str().unwrap_or_default();
                for p in super::meta::finalizer_problems(f) {
                    causes.push(Cause::invalid(
                        format!("spec.finalizers[{i}]"),
                        format!("Invalid value: {f:?}: {p}"),
                    ));
                }
            }
            return causes;
        }
        ("certificates.k8s.io", "CertificateSigningRequest") if old.is_none() => {
            return validate_csr(object);
        }
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
                causes.push(Cause::invalid(
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

fn text<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn set(o: &Value, pointer: &str) -> bool {
    o.pointer(pointer).is_some_and(|v| match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    })
}

fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    Cause {
        reason: "FieldValueNotSupported",
        message: format!(
            "Unsupported value: {value:?}: supported values: {}",
            list.join(", ")
        ),
        field: field.into(),
    }
}

/// kube's `ValidateEventCreate` (through `legacyValidateEvent`): field paths name the
/// internal core Event's fields whatever the version written.
fn validate_event(event: &Value, strict: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let (regarding, first, last, count, source, controller) = if strict {
        (
            "regarding",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
            "deprecatedSource",
            "reportingController",
        )
    } else {
        (
            "involvedObject",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "source",
            "reportingComponent",
        )
    };
    let namespace = text(event, "/metadata/namespace");
    let involved = text(event, &format!("/{regarding}/namespace"));
    let mismatch = Cause::invalid(
        "involvedObject.namespace",
        format!("Invalid value: {involved:?}: does not match event.namespace"),
    );
    let reporting_field = if strict {
        "reportingController"
    } else {
        "reportingComponent"
    };
    if !set(event, "/eventTime") {
        let ok = if involved.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved
        };
        if !ok {
            causes.push(mismatch);
        }
    } else {
        if involved.is_empty() && namespace != "default" && namespace != "kube-system" {
            causes.push(mismatch);
        }
        if text(event, &format!("/{controller}")).is_empty() {
            causes.push(Cause::required(reporting_field));
        }
        if text(event, "/reportingInstance").is_empty() {
            causes.push(Cause::required("reportingInstance"));
        }
        if text(event, "/action").is_empty() {
            causes.push(Cause::required("action"));
        }
        if text(event, "/reason").is_empty() {
            causes.push(Cause::required("reason"));
        }
    }
    if !strict {
        return causes;
    }
    if !set(event, "/eventTime") {
        causes.push(Cause::required("eventTime"));
    }
    let kind = text(event, "/type");
    if kind != "Normal" && kind != "Warning" {
        causes.push(Cause::invalid(
            "type",
            format!("Invalid value: \"\": has invalid value: {kind}"),
        ));
    }
    for (field, name) in [(first, "firstTimestamp"), (last, "lastTimestamp")] {
        if set(event, &format!("/{field}")) {
            causes.push(Cause::invalid(
                name,
                "Invalid value: \"\": needs to be unset",
            ));
        }
    }
    if event
        .get(count)
        .and_then(Value::as_i64)
        .is_some_and(|c| c != 0)
    {
        causes.push(Cause::invalid(
            "count",
            "Invalid value: \"\": needs to be unset",
        ));
    }
    if set(event, &format!("/{source}/component")) || set(event, &format!("/{source}/host")) {
        causes.push(Cause::invalid(
            "source",
            "Invalid value: \"\": needs to be unset",
        ));
    }
    causes
}

/// kube's `ValidatePolicyRule` over `rules` (an aggregated ClusterRole's rules are the
/// controller's).
fn validate_rules(role: &Value, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    if !namespaced && set(role, "/aggregationRule") {
        return causes;
    }
    for (i, rule) in role["rules"].as_array().into_iter().flatten().enumerate() {
        let path = format!("rules[{i}]");
        if !set(rule, "/verbs") {
            causes.push(Cause::required(format!("{path}.verbs")));
        }
        if set(rule, "/nonResourceURLs") {
            if namespaced {
                causes.push(Cause::invalid(
                    format!("{path}.nonResourceURLs"),
                    format!(
                        "Invalid value: {}: namespaced rules cannot apply to non-resource URLs",
                        go_strings(&rule["nonResourceURLs"])
                    ),
                ));
            }
            if set(rule, "/apiGroups") || set(rule, "/resources") || set(rule, "/resourceNames") {
                causes.push(Cause::invalid(
                    format!("{path}.nonResourceURLs"),
                    format!(
                        "Invalid value: {}: rules cannot apply to both regular resources and non-resource URLs",
                        go_strings(&rule["nonResourceURLs"])
                    ),
                ));
            }
            continue;
        }
        if rule
            .get("apiGroups")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            causes.push(Cause {
                reason: "FieldValueRequired",
                message: "Required value: resource rules must supply at least one api group".into(),
                field: format!("{path}.apiGroups"),
            });
        }
        if !set(rule, "/resources") {
            causes.push(Cause {
                reason: "FieldValueRequired",
                message: "Required value: resource rules must supply at least one resource".into(),
                field: format!("{path}.resources"),
            });
        }
    }
    causes
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_strings(v: &Value) -> String {
    let items: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    format!("[{}]", items.join(" "))
}

/// kube's `ValidateRoleBinding` / `ValidateClusterRoleBinding` (after defaulting).
fn validate_binding(binding: &Value, namespaced: bool) -> Vec<Cause> {
    const GROUP: &str = "rbac.authorization.k8s.io";
    let mut causes = Vec::new();
    let api_group = text(binding, "/roleRef/apiGroup");
    // An empty group is defaulted (even without a roleRef, a struct in kube's type).
    if !api_group.is_empty() && api_group != GROUP {
        causes.push(not_supported("roleRef.apiGroup", api_group, &[GROUP]));
    }
    let kind = text(binding, "/roleRef/kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        causes.push(not_supported("roleRef.kind", kind, kinds));
    }
    if text(binding, "/roleRef/name").is_empty() {
        causes.push(Cause::required("roleRef.name"));
    }
    for (i, subject) in binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("subjects[{i}]");
        let name = text(subject, "/name");
        if name.is_empty() {
            causes.push(Cause::required(format!("{path}.name")));
        }
        let group = text(subject, "/apiGroup");
        match text(subject, "/kind") {
            "ServiceAccount" => {
                if !group.is_empty() {
                    causes.push(not_supported(format!("{path}.apiGroup"), group, &[""]));
                }
                if !namespaced && text(subject, "/namespace").is_empty() {
                    causes.push(Cause::required(format!("{path}.namespace")));
                }
            }
            "User" | "Group" => {
                if group != GROUP {
                    causes.push(not_supported(format!("{path}.apiGroup"), group, &[GROUP]));
                }
            }
            other => causes.push(not_supported(
                format!("{path}.kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    causes
}

/// kube's `ValidateLeaseSpec`.
fn validate_lease(lease: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (field, strict) in [("leaseDurationSeconds", true), ("leaseTransitions", false)] {
        if let Some(n) = lease
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_i64)
        {
            let (bad, words) = if strict {
                (n <= 0, "must be greater than 0")
            } else {
                (n < 0, "must be greater than or equal to 0")
            };
            if bad {
                causes.push(Cause::invalid(
                    format!("spec.{field}"),
                    format!("Invalid value: {n}: {words}"),
                ));
            }
        }
    }
    causes
}

/// The parts of kube's `ValidateCertificateSigningRequestCreate` a malformed request
/// meets first: a missing request, no usages, the signer name's form.
fn validate_csr(csr: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if !set(csr, "/spec/request") {
        causes.push(Cause::invalid(
            "spec.request",
            "Invalid value: null: PEM block type must be CERTIFICATE REQUEST",
        ));
    }
    if !set(csr, "/spec/usages") {
        causes.push(Cause::required("spec.usages"));
    }
    let signer = text(csr, "/spec/signerName");
    if signer.is_empty() {
        causes.push(Cause::required("spec.signerName"));
    } else if signer.split('/').count() != 2 {
        causes.push(Cause::invalid(
            "spec.signerName",
            format!(
                "Invalid value: {signer:?}: must be a fully qualified domain and path of the form 'example.com/signer-name'"
            ),
        ));
    }
    causes
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
