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
        ("", "Namespace") if creating => {
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
