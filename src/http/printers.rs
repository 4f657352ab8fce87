//! kube-apiserver's printers of built-in kinds: the Table columns `kubectl get` shows for
//! them, with the cells computed from each object as kube's printers compute them (counts,
//! `Kind/name` references, joined subjects, event sources, CSR conditions). Custom resources
//! use their CRD's printer columns instead (`table.rs`).

use serde_json::{Value, json};

use crate::api::Kind;

/// One column: name, type, priority (1: only with `-o wide`) and description.
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub priority: u8,
    pub description: &'static str,
}

impl Column {
    /// The column's definition in a Table.
    pub fn definition(&self) -> Value {
        let format = if self.name == "Name" { "name" } else { "" };
        json!({"name": self.name, "type": self.type_, "format": format, "description": self.description, "priority": self.priority})
    }
}

/// How a row's cells are computed from an object (at a given time, for ages).
pub type Cells = fn(&Value, time::OffsetDateTime) -> Vec<Value>;

/// A built-in printer: its columns and how a row's cells are computed.
pub struct Printer {
    pub columns: Vec<Column>,
    pub cells: Cells,
}

/// `ObjectMeta.name`'s documentation: the description of every Name column.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `ObjectMeta.creationTimestamp`'s documentation: the description of Age columns.
pub const CREATED_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONFIGMAP_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
const SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
const EVENT_LAST_SEEN: &str =
    "The time at which the most recent occurrence of this event was recorded.";
const EVENT_TYPE: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const EVENT_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const EVENT_OBJECT: &str = "The object that this event is about.";
const EVENT_SUBOBJECT: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const EVENT_SOURCE: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const EVENT_MESSAGE: &str = "A human-readable description of the status of this operation.";
const EVENT_FIRST_SEEN: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const EVENT_COUNT: &str = "The number of times this event has occurred.";
const LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
const CSR_SIGNER: &str = "Requested signer for the request. It is a qualified name in the form: `scope-hostname.io/name`. If empty, it will be defaulted:\n 1. If it's a kubelet client certificate, it is assigned\n    \"kubernetes.io/kube-apiserver-client-kubelet\".\n 2. If it's a kubelet serving certificate, it is assigned\n    \"kubernetes.io/kubelet-serving\".\n 3. Otherwise, it is assigned \"kubernetes.io/legacy-unknown\".\nDistribution of trust for signers happens out of band. You can select on this field using `spec.signerName`.";
const CSR_REQUESTOR: &str = "Base64-encoded PKCS#10 CSR data";
const CSR_DURATION: &str = "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.";
const CSR_CONDITION: &str = "Conditions applied to the request, such as approval or denial.";
const ROLEBINDING_ROLE: &str = "roleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
const CLUSTERROLEBINDING_ROLE: &str = "roleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
const NAMESPACE_STATUS: &str = "The status of the namespace";
const NODE_STATUS: &str = "The status of the node";
const NODE_ROLES: &str = "The roles of the node";
const NODE_VERSION: &str = "Kubelet Version reported by the node.";
const NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const NODE_OS: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const NODE_KERNEL: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const NODE_RUNTIME: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";

const fn col(name: &'static str, priority: u8, description: &'static str) -> Column {
    Column {
        name,
        type_: "string",
        priority,
        description,
    }
}

const NAME: Column = col("Name", 0, NAME_DESCRIPTION);
const AGE: Column = col("Age", 0, CREATED_DESCRIPTION);
const CREATED_AT: Column = Column {
    name: "Created At",
    type_: "date",
    priority: 0,
    description: CREATED_DESCRIPTION,
};

/// The printer of a built-in kind, if kube-apiserver has one beyond Name and Age.
pub fn builtin(kind: &Kind) -> Option<Printer> {
    if kind.custom {
        return None;
    }
    let (columns, cells): (Vec<Column>, Cells) = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "ConfigMap") => (vec![NAME, col("Data", 0, CONFIGMAP_DATA), AGE], |o, now| {
            let count = keys(o, "data") + keys(o, "binaryData");
            vec![name(o), json!(count), age(o, now)]
        }),
        ("", "Secret") => (
            vec![
                NAME,
                col("Type", 0, SECRET_TYPE),
                col("Data", 0, SECRET_DATA),
                AGE,
            ],
            |o, now| {
                vec![
                    name(o),
                    text(o, "/type"),
                    json!(keys(o, "data")),
                    age(o, now),
                ]
            },
        ),
        ("", "Namespace") => (
            vec![NAME, col("Status", 0, NAMESPACE_STATUS), AGE],
            |o, now| vec![name(o), text(o, "/status/phase"), age(o, now)],
        ),
        ("", "ServiceAccount") => (vec![NAME, AGE], |o, now| vec![name(o), age(o, now)]),
        ("", "Node") => (
            vec![
                NAME,
                col("Status", 0, NODE_STATUS),
                col("Roles", 0, NODE_ROLES),
                AGE,
                col("Version", 0, NODE_VERSION),
                col("Internal-IP", 1, NODE_ADDRESSES),
                col("External-IP", 1, NODE_ADDRESSES),
                col("OS-Image", 1, NODE_OS),
                col("Kernel-Version", 1, NODE_KERNEL),
                col("Container-Runtime", 1, NODE_RUNTIME),
            ],
            node_cells,
        ),
        ("" | "events.k8s.io", "Event") => (
            vec![
                col("Last Seen", 0, EVENT_LAST_SEEN),
                col("Type", 0, EVENT_TYPE),
                col("Reason", 0, EVENT_REASON),
                col("Object", 0, EVENT_OBJECT),
                col("Subobject", 1, EVENT_SUBOBJECT),
                col("Source", 1, EVENT_SOURCE),
                col("Message", 0, EVENT_MESSAGE),
                col("First Seen", 1, EVENT_FIRST_SEEN),
                col("Count", 1, EVENT_COUNT),
                col("Name", 1, NAME_DESCRIPTION),
            ],
            event_cells,
        ),
        ("coordination.k8s.io", "Lease") => {
            (vec![NAME, col("Holder", 0, LEASE_HOLDER), AGE], |o, now| {
                vec![name(o), text(o, "/spec/holderIdentity"), age(o, now)]
            })
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => (
            vec![
                NAME,
                AGE,
                col("SignerName", 0, CSR_SIGNER),
                col("Requestor", 0, CSR_REQUESTOR),
                col("RequestedDuration", 0, CSR_DURATION),
                col("Condition", 0, CSR_CONDITION),
            ],
            csr_cells,
        ),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            (vec![NAME, CREATED_AT], |o, _| vec![name(o), created_at(o)])
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => (
            vec![
                NAME,
                col("Role", 0, ROLEBINDING_ROLE),
                AGE,
                col("Users", 1, "Users in the roleBinding"),
                col("Groups", 1, "Groups in the roleBinding"),
                col("ServiceAccounts", 1, "ServiceAccounts in the roleBinding"),
            ],
            binding_cells,
        ),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => (
            vec![
                NAME,
                col("Role", 0, CLUSTERROLEBINDING_ROLE),
                AGE,
                col("Users", 1, "Users in the clusterRoleBinding"),
                col("Groups", 1, "Groups in the clusterRoleBinding"),
                col(
                    "ServiceAccounts",
                    1,
                    "ServiceAccounts in the clusterRoleBinding",
                ),
            ],
            binding_cells,
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => (
            vec![
                NAME,
                col("Scope", 0, "Cluster/Namespaced"),
                col("Versions", 0, "Served versions"),
                CREATED_AT,
                col("Group", 1, "API group"),
                col("Kind", 1, "CustomResource kind"),
                col("ShortNames", 1, "Short names"),
                Column {
                    name: "Established",
                    type_: "boolean",
                    priority: 1,
                    description: "Established status",
                },
            ],
            crd_cells,
        ),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

fn name(o: &Value) -> Value {
    o.pointer("/metadata/name").cloned().unwrap_or(json!(""))
}

/// A string field, `""` when absent (Go's zero value).
fn text(o: &Value, pointer: &str) -> Value {
    json!(str_at(o, pointer))
}

fn str_at<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn keys(o: &Value, field: &str) -> usize {
    o.get(field)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn age(o: &Value, now: time::OffsetDateTime) -> Value {
    json!(since(str_at(o, "/metadata/creationTimestamp"), now))
}

/// The creation time as RFC 3339 in UTC (Role and ClusterRole print it, not an age).
fn created_at(o: &Value) -> Value {
    let ts = str_at(o, "/metadata/creationTimestamp");
    match parse(ts) {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            json!(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ))
        }
        None => json!("0001-01-01T00:00:00Z"),
    }
}

fn parse(ts: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()
}

/// kube's `translateTimestampSince`: `<unknown>` for a zero time, else a human duration.
pub fn since(ts: &str, now: time::OffsetDateTime) -> String {
    match parse(ts) {
        None => "<unknown>".into(),
        Some(then) => human_duration((now - then).whole_seconds()),
    }
}

/// kube's `duration.HumanDuration`: `45s`, `5m30s`, `3h`, `2d4h`, `400d`, `3y20d`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// printEvent, over both versions (events.k8s.io names its fields differently).
fn event_cells(o: &Value, now: time::OffsetDateTime) -> Vec<Value> {
    let modern = o["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("events.k8s.io/"));
    let field = |core: &str, new: &str| -> Value {
        o.get(if modern { new } else { core })
            .cloned()
            .unwrap_or(Value::Null)
    };
    let stamp = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let first = stamp(&field("firstTimestamp", "deprecatedFirstTimestamp"));
    let last = stamp(&field("lastTimestamp", "deprecatedLastTimestamp"));
    let event_time = stamp(&o["eventTime"]);
    let first_seen = match (&first, &event_time) {
        (Some(t), _) => since(t, now),
        (None, Some(t)) => since(t, now),
        (None, None) => "<unknown>".into(),
    };
    let mut last_seen = match &last {
        Some(t) => since(t, now),
        None => first_seen.clone(),
    };
    let mut count = field("count", "deprecatedCount").as_i64().unwrap_or(0);
    if let Some(series) = o.get("series").filter(|s| s.is_object()) {
        last_seen = since(series["lastObservedTime"].as_str().unwrap_or_default(), now);
        count = series["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let regarding = field("involvedObject", "regarding");
    let kind = regarding["kind"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    let target = match regarding["name"].as_str().unwrap_or_default() {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let source = field("source", "deprecatedSource");
    let (component, instance) = match source["component"].as_str().unwrap_or_default() {
        "" => (
            field("reportingComponent", "reportingController")
                .as_str()
                .unwrap_or_default()
                .to_string(),
            o["reportingInstance"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        c => (
            c.to_string(),
            source["host"].as_str().unwrap_or_default().to_string(),
        ),
    };
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    let message = field("message", "note");
    vec![
        json!(last_seen),
        json!(o["type"].as_str().unwrap_or_default()),
        json!(o["reason"].as_str().unwrap_or_default()),
        json!(target),
        json!(regarding["fieldPath"].as_str().unwrap_or_default()),
        json!(source),
        json!(message.as_str().unwrap_or_default().trim()),
        json!(first_seen),
        json!(count),
        name(o),
    ]
}

fn csr_cells(o: &Value, now: time::OffsetDateTime) -> Vec<Value> {
    let signer = match str_at(o, "/spec/signerName") {
        "" => "<none>",
        s => s,
    };
    let duration = match o.pointer("/spec/expirationSeconds").and_then(Value::as_i64) {
        Some(s) => human_duration(s),
        None => "<none>".into(),
    };
    let conditions: Vec<&str> = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str())
        .collect();
    let mut condition = if conditions.contains(&"Denied") {
        "Denied".to_string()
    } else if conditions.contains(&"Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if conditions.contains(&"Failed") {
        condition.push_str(",Failed");
    }
    if !str_at(o, "/status/certificate").is_empty() {
        condition.push_str(",Issued");
    }
    vec![
        name(o),
        age(o, now),
        json!(signer),
        text(o, "/spec/username"),
        json!(duration),
        json!(condition),
    ]
}

fn binding_cells(o: &Value, now: time::OffsetDateTime) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(o, "/roleRef/kind"),
        str_at(o, "/roleRef/name")
    );
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for s in o["subjects"].as_array().into_iter().flatten() {
        let n = s["name"].as_str().unwrap_or_default().to_string();
        match s["kind"].as_str().unwrap_or_default() {
            "User" => users.push(n),
            "Group" => groups.push(n),
            "ServiceAccount" => accounts.push(format!(
                "{}:{n}",
                s["namespace"].as_str().unwrap_or_default()
            )),
            _ => {}
        }
    }
    vec![
        name(o),
        json!(role),
        age(o, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(accounts.join(", ")),
    ]
}

fn node_cells(o: &Value, now: time::OffsetDateTime) -> Vec<Value> {
    let mut status = Vec::new();
    let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
    if let Some(ready) = conditions
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
    {
        status.push(if ready["status"] == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if o.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push("SchedulingDisabled");
    }
    let mut roles = std::collections::BTreeSet::new();
    for (k, v) in o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    let roles = match roles.into_iter().collect::<Vec<_>>().join(",") {
        r if r.is_empty() => "<none>".to_string(),
        r => r,
    };
    let address = |kind: &str| {
        o.pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|a| a["type"] == kind)
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    let info = |field: &str| match str_at(o, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(o),
        json!(status.join(",")),
        json!(roles),
        age(o, now),
        text(o, "/status/nodeInfo/kubeletVersion"),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn crd_cells(o: &Value, _now: time::OffsetDateTime) -> Vec<Value> {
    let versions: Vec<String> = o
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["served"] == true)
        .map(|v| {
            let n = v["name"].as_str().unwrap_or_default();
            if v["storage"] == true {
                format!("{n}(storage)")
            } else {
                n.to_string()
            }
        })
        .collect();
    let short: Vec<&str> = o
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let established = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    vec![
        name(o),
        text(o, "/spec/scope"),
        json!(versions.join(",")),
        created_at(o),
        text(o, "/spec/group"),
        text(o, "/spec/names/kind"),
        json!(short.join(",")),
        json!(established),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (45, "45s"),
            (119, "119s"),
            (330, "5m30s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 5, "3h5m"),
            (30 * 3600, "30h"),
            (2 * 86400 + 4 * 3600, "2d4h"),
            (400 * 86400, "400d"),
            (3 * 365 * 86400 + 20 * 86400, "3y20d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn event_rows_of_both_versions() {
        let now = time::OffsetDateTime::now_utc();
        let core = json!({"apiVersion": "v1", "metadata": {"name": "e"}, "type": "Normal", "reason": "R",
            "involvedObject": {"kind": "ConfigMap", "name": "t"}, "source": {"component": "c"},
            "message": " hi ", "count": 0});
        assert_eq!(
            event_cells(&core, now),
            [
                json!("<unknown>"),
                json!("Normal"),
                json!("R"),
                json!("configmap/t"),
                json!(""),
                json!("c"),
                json!("hi"),
                json!("<unknown>"),
                json!(1),
                json!("e")
            ]
        );
        let new = json!({"apiVersion": "events.k8s.io/v1", "metadata": {"name": "e"}, "type": "Normal",
            "regarding": {"kind": "ConfigMap"}, "reportingController": "x", "reportingInstance": "y",
            "note": "n", "series": {"count": 3, "lastObservedTime": "2000-01-01T00:00:00.000000Z"}});
        let cells = event_cells(&new, now);
        assert_eq!(cells[3], json!("configmap"));
        assert_eq!(cells[5], json!("x, y"));
        assert_eq!(cells[8], json!(3));
    }
}
