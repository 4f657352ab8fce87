//! `meta.k8s.io/v1` conventions over JSON objects that the hub's controllers, the agent
//! and the registry share: timestamps as kube writes them (`Time` and `MicroTime`), status
//! conditions with kube's transition rules, and the DNS-label rule for names that become
//! namespaces.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

/// Five random characters from kube's `generateName` alphabet (no vowels, no look-alike
/// digits), as kube appends them to a prefix.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Now, as kube writes timestamps: RFC 3339, UTC, whole seconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Sets condition `type_` in `status.conditions` of `object`; the transition time changes
/// only with the status. Returns whether anything changed.
pub fn set_condition(
    object: &mut Value,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> bool {
    if !object.get("status").is_some_and(Value::is_object) {
        object["status"] = json!({});
    }
    if !object["status"]
        .get("conditions")
        .is_some_and(Value::is_array)
    {
        object["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = object["status"]["conditions"].as_array_mut() else {
        return false;
    };
    let now = now_rfc3339();
    match conditions
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    {
        Some(existing) => {
            let same = |k: &str, v: &str| existing.get(k).and_then(Value::as_str) == Some(v);
            if same("status", status) && same("reason", reason) && same("message", message) {
                return false;
            }
            if !same("status", status) {
                existing["lastTransitionTime"] = json!(now);
            }
            existing["status"] = json!(status);
            existing["reason"] = json!(reason);
            existing["message"] = json!(message);
            true
        }
        None => {
            // No observedGeneration: OCM's ManagedCluster conditions carry none, and a
            // stale one makes `kubectl wait --for=condition` ignore the condition.
            conditions.push(json!({"type": type_, "status": status, "reason": reason,
                "message": message, "lastTransitionTime": now}));
            true
        }
    }
}

/// Now as a `metav1.Time` (whole seconds on the wire).
pub fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Sets condition `type_` in a typed condition list with kube's rules (`meta.SetStatusCondition`):
/// `lastTransitionTime` changes only with the status; `observedGeneration` is the given
/// one (OCM's ManagedCluster conditions carry none). Returns whether anything changed.
pub fn set_status_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status == status
                && c.reason == reason
                && c.message == message
                && c.observed_generation == observed_generation
            {
                return false;
            }
            if c.status != status {
                c.last_transition_time = now_time();
            }
            c.status = status.to_string();
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.observed_generation = observed_generation;
            true
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: reason.to_string(),
                message: message.to_string(),
                observed_generation,
                last_transition_time: now_time(),
            });
            true
        }
    }
}

/// Condition `type_` of a typed condition list.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == "True")
}

/// The status of condition `type_`, if present.
pub fn condition_status<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?
        .get("status")?
        .as_str()
}

/// Parses an RFC 3339 time (`Time` or `MicroTime`).
pub fn parse_time(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Now as a `MicroTime` (`2006-01-02T15:04:05.000000Z`).
pub fn now_micro() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    now.format(&format).unwrap_or_else(|_| now_rfc3339())
}

/// A lowercase RFC 1123 label: what a namespace name must be.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_conditions_follow_kubes_transition_rule() {
        let mut cs = Vec::new();
        assert!(set_status_condition(
            &mut cs,
            "A",
            "True",
            "R",
            "m",
            Some(1)
        ));
        assert!(!set_status_condition(
            &mut cs,
            "A",
            "True",
            "R",
            "m",
            Some(1)
        ));
        let t = cs[0].last_transition_time.clone();
        assert!(set_status_condition(
            &mut cs,
            "A",
            "True",
            "R2",
            "m2",
            Some(2)
        ));
        assert_eq!(cs[0].last_transition_time, t, "same status keeps the time");
        assert_eq!(cs[0].observed_generation, Some(2));
        assert!(is_condition_true(&cs, "A"));
        assert!(!is_condition_true(&cs, "B"));
        assert!(set_status_condition(
            &mut cs, "A", "False", "R3", "m3", None
        ));
        assert_eq!(
            find_condition(&cs, "A").map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(cs.len(), 1);
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("c1"));
        assert!(is_dns_label("a-b"));
        for bad in ["", "-a", "a-", "A", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn conditions_change_transition_time_only_with_status() {
        let mut o = json!({"metadata": {"name": "c"}});
        assert!(set_condition(&mut o, "A", "True", "R", "m"));
        assert!(!set_condition(&mut o, "A", "True", "R", "m"));
        let t = o["status"]["conditions"][0]["lastTransitionTime"].clone();
        assert!(set_condition(&mut o, "A", "True", "R2", "m2"));
        assert_eq!(o["status"]["conditions"][0]["lastTransitionTime"], t);
        assert_eq!(condition_status(&o, "A"), Some("True"));
        assert!(parse_time(&now_micro()).is_some());
    }
}
