//! Request attributes for authorization, derived from the HTTP request exactly as
//! kube-apiserver's request-info rules do: resource requests under `/api/v1/...` and
//! `/apis/<group>/<version>/...` (namespace, resource, subresource, name, verb), and
//! everything else (discovery included) as non-resource requests by path.

use std::collections::HashMap;

use axum::http::Method;

use crate::api::user::UserInfo;

/// What RBAC decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    /// `""` for cluster-scoped requests.
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub resource_request: bool,
    pub path: String,
}

/// kube's request info for `method path?query`.
pub fn attributes(method: &Method, path: &str, query: &HashMap<String, String>) -> Attributes {
    let mut a = Attributes {
        path: path.to_string(),
        verb: method.as_str().to_ascii_lowercase(),
        ..Attributes::default()
    };
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let rest = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            a.api_version = version.to_string();
            rest
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            a.api_group = group.to_string();
            a.api_version = version.to_string();
            rest
        }
        _ => return a,
    };
    a.resource_request = true;
    let mut rest: Vec<&str> = rest.to_vec();
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        a.namespace = rest[1].to_string();
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest.drain(..2);
        }
    }
    a.resource = rest.first().map(|s| s.to_string()).unwrap_or_default();
    a.name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
    a.subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
    let collection = a.name.is_empty();
    a.verb = match (method, collection) {
        (&Method::GET | &Method::HEAD, true)
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") =>
        {
            "watch".into()
        }
        (&Method::GET | &Method::HEAD, true) => "list".into(),
        (&Method::GET | &Method::HEAD, false) => "get".into(),
        (&Method::POST, _) => "create".into(),
        (&Method::PUT, _) => "update".into(),
        (&Method::PATCH, _) => "patch".into(),
        (&Method::DELETE, true) => "deletecollection".into(),
        (&Method::DELETE, false) => "delete".into(),
        (other, _) => other.as_str().to_ascii_lowercase(),
    };
    // A list or watch of one object by name is authorized as that name.
    if matches!(a.verb.as_str(), "list" | "watch")
        && let Some(name) = query.get("fieldSelector").and_then(|f| single_name(f))
    {
        a.name = name;
    }
    a
}

/// `metadata.name=<x>` (or `==`) as the only requirement of a field selector.
fn single_name(selector: &str) -> Option<String> {
    let (field, value) = selector
        .split_once("==")
        .or_else(|| selector.split_once('='))?;
    (field.trim() == "metadata.name" && !value.contains(',') && !field.ends_with('!'))
        .then(|| value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str, query: &[(&str, &str)]) -> Attributes {
        let q = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attributes(&method, path, &q)
    }

    #[test]
    fn request_info_like_kube() {
        let a = attrs(Method::GET, "/api/v1/namespaces/ns1/configmaps", &[]);
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource.as_str()),
            ("list", "ns1", "configmaps")
        );
        let a = attrs(
            Method::GET,
            "/api/v1/namespaces/ns1/configmaps",
            &[("watch", "true"), ("fieldSelector", "metadata.name=a")],
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "a"));
        let a = attrs(
            Method::PUT,
            "/apis/cluster.open-cluster-management.io/v1/managedclusters/c1/status",
            &[],
        );
        assert_eq!(
            (
                a.verb.as_str(),
                a.api_group.as_str(),
                a.resource.as_str(),
                a.name.as_str(),
                a.subresource.as_str(),
                a.namespace.as_str()
            ),
            (
                "update",
                "cluster.open-cluster-management.io",
                "managedclusters",
                "c1",
                "status",
                ""
            )
        );
        let a = attrs(Method::GET, "/api/v1/namespaces/ns1", &[]);
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "ns1", "ns1")
        );
        let a = attrs(Method::DELETE, "/api/v1/namespaces/ns1/secrets", &[]);
        assert_eq!(a.verb, "deletecollection");
        let a = attrs(Method::GET, "/apis", &[]);
        assert!(!a.resource_request);
        assert_eq!(a.verb, "get");
    }
}
