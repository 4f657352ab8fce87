//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`, `Impersonate-Extra-*`): the
//! requester needs the `impersonate` verb on each thing assumed (users or service
//! accounts, groups, uids, user extras), and the request then proceeds as that user.

use axum::http::HeaderMap;

use super::authz::Authorizer;
use super::request::Attributes;
use crate::api::user::{ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo};

const USER: &str = "impersonate-user";
const UID: &str = "impersonate-uid";
const GROUP: &str = "impersonate-group";
const EXTRA: &str = "impersonate-extra-";

/// Why impersonation failed: kube's 403 (the attributes denied) or a malformed request.
#[derive(Debug)]
pub enum Refused {
    Forbidden(Box<Attributes>),
    BadRequest(String),
}

/// The effective user of a request: `requester`, or whom it impersonates.
pub fn effective_user(
    authz: &Authorizer,
    requester: UserInfo,
    headers: &HeaderMap,
) -> Result<UserInfo, Refused> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let user = values(USER).into_iter().next();
    let uid = values(UID).into_iter().next();
    let groups = values(GROUP);
    let mut extra = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA)
            && let Ok(value) = value.to_str()
        {
            let key = percent_decode(key);
            extra.entry(key).or_default().push(value.to_string());
        }
    }
    let Some(name) = user else {
        if uid.is_some() || !groups.is_empty() || !extra.is_empty() {
            return Err(Refused::BadRequest(
                "requested impersonation of groups, uid or extras without impersonating a user"
                    .into(),
            ));
        }
        return Ok(requester);
    };
    let check = |group: &str, resource: &str, subresource: &str, namespace: &str, name: &str| {
        let attrs = Attributes {
            user: requester.clone(),
            verb: "impersonate".into(),
            namespace: namespace.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            resource_request: true,
            ..Attributes::default()
        };
        if authz.authorize(&attrs).allowed {
            Ok(())
        } else {
            Err(Refused::Forbidden(Box::new(attrs)))
        }
    };
    let mut assumed_groups = groups.clone();
    match service_account(&name) {
        Some((ns, sa)) => {
            check("", "serviceaccounts", "", ns, sa)?;
            assumed_groups.push("system:serviceaccounts".into());
            assumed_groups.push(format!("system:serviceaccounts:{ns}"));
        }
        None => check("", "users", "", "", &name)?,
    }
    for group in &groups {
        check("", "groups", "", "", group)?;
    }
    if let Some(uid) = &uid {
        check("authentication.k8s.io", "uids", "", "", uid)?;
    }
    for (key, values) in &extra {
        for value in values {
            check("authentication.k8s.io", "userextras", key, "", value)?;
        }
    }
    let automatic = if name == ANONYMOUS {
        UNAUTHENTICATED
    } else {
        AUTHENTICATED
    };
    if !assumed_groups.iter().any(|g| g == automatic) {
        assumed_groups.push(automatic.into());
    }
    Ok(UserInfo {
        name,
        uid: uid.unwrap_or_default(),
        groups: assumed_groups,
        extra,
    })
}

/// `system:serviceaccount:<ns>:<name>` → (ns, name).
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// Extra keys arrive percent-encoded in header names.
fn percent_decode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = key.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        }
    }

    #[test]
    fn masters_impersonate_others_need_the_verb() {
        let authz = Authorizer::new();
        let mut h = HeaderMap::new();
        h.insert(
            "impersonate-user",
            HeaderValue::from_static("system:serviceaccount:ns1:robot"),
        );
        h.append("impersonate-group", HeaderValue::from_static("team"));
        h.insert(
            "impersonate-extra-scopes%2Fa",
            HeaderValue::from_static("x"),
        );
        let admin = user("admin", &["system:masters", "system:authenticated"]);
        let as_robot = effective_user(&authz, admin, &h).expect("masters may impersonate");
        assert_eq!(as_robot.name, "system:serviceaccount:ns1:robot");
        assert_eq!(
            as_robot.groups,
            [
                "team",
                "system:serviceaccounts",
                "system:serviceaccounts:ns1",
                "system:authenticated"
            ]
        );
        assert_eq!(as_robot.extra.get("scopes/a"), Some(&vec!["x".to_string()]));
        let nobody = user("nobody", &["system:authenticated"]);
        match effective_user(&authz, nobody.clone(), &h) {
            Err(Refused::Forbidden(a)) => assert_eq!(a.resource, "serviceaccounts"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            effective_user(&authz, nobody.clone(), &HeaderMap::new()).expect("none"),
            nobody
        );
        let mut groups_only = HeaderMap::new();
        groups_only.insert("impersonate-group", HeaderValue::from_static("g"));
        assert!(matches!(
            effective_user(&authz, nobody, &groups_only),
            Err(Refused::BadRequest(_))
        ));
    }
}
