//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into JSON.
//!
//! kubectl and client-go typed clients send built-in kinds as protobuf. The body is
//! the 4-byte magic `k8s\0` followed by a `runtime.Unknown` message:
//!
//! ```text
//! Unknown  { 1: typeMeta TypeMeta, 2: raw bytes, 3: contentEncoding string, 4: contentType string }
//! TypeMeta { 1: apiVersion string, 2: kind string }
//! ```
//!
//! `raw` is the object itself. [`decode_object`] looks the (apiVersion, kind) pair up
//! in a table of message layouts and turns `raw` into the JSON object kube-apiserver
//! would hold after decoding it into its Go type, so the rest of the server only
//! ever deals with JSON.
//!
//! # How the Go JSON form is reproduced
//!
//! Every layout entry says how a field behaves in Go's `encoding/json`:
//!
//! * `omitempty` value fields (`Name string`, `Count int32`, `Certificate []byte`)
//!   are dropped when zero, even when present on the wire. Go's protobuf encoder
//!   writes such fields unconditionally, so presence on the wire means nothing.
//! * pointer fields (`Immutable *bool`, `HolderIdentity *string`) and fields
//!   without `omitempty` (`Allowed bool`, `RoleRef.Name`) are kept whenever they are
//!   present, zero or not. Go senders always write the latter, so the output then
//!   matches Go's JSON exactly.
//! * nested messages are kept whenever present (Go never omits structs).
//! * repeated fields and maps are dropped when empty.
//! * `Time` / `MicroTime` become RFC 3339 strings; the zero time becomes `null`
//!   as in Go, except `metadata.creationTimestamp` (`omitzero`), which is dropped.
//!
//! A field absent from the wire is absent from the JSON (Go would show a zero value
//! or `null` for non-`omitempty` fields the sender left out; consumers treat both
//! alike). Unknown field numbers are skipped, like Go's decoder does. Strings must be
//! valid UTF-8 (Go would silently substitute U+FFFD; we reject instead).
//!
//! Field numbers and JSON names come from the upstream `generated.proto` / Go struct
//! tags (as mirrored by the `k8s-pb` crate); the tests encode objects with `k8s-pb`
//! and check the result.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Deepest message nesting accepted; the layouts below need fewer than ten levels.
const MAX_DEPTH: usize = 32;

/// Why a protobuf body could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the Kubernetes magic prefix \"k8s\\0\"")]
    MissingMagic,
    /// The wire data ends in the middle of a value.
    #[error("truncated protobuf data at {path}")]
    Truncated { path: String },
    /// The wire data is not valid protobuf for the expected layout.
    #[error("malformed protobuf data at {path}: {reason}")]
    Malformed { path: String, reason: &'static str },
    /// A string field holds bytes that are not UTF-8.
    #[error("invalid UTF-8 in string field {path}")]
    InvalidUtf8 { path: String },
    /// A well-formed value that has no JSON form (time out of range, bad embedded JSON, ...).
    #[error("invalid value at {path}: {reason}")]
    InvalidValue { path: String, reason: String },
    /// Messages nested deeper than the decoder accepts.
    #[error("protobuf messages nested too deeply at {path}")]
    TooDeep { path: String },
    /// No layout is known for this (apiVersion, kind).
    #[error("protobuf decoding is not supported for kind {kind:?} in {api_version:?}")]
    UnsupportedKind { api_version: String, kind: String },
    /// `runtime.Unknown.contentEncoding` is set; only plain bodies are supported.
    #[error("unsupported protobuf content encoding {0:?}")]
    ContentEncoding(String),
}

/// Decodes a `k8s\0` + `runtime.Unknown` protobuf body into the object's JSON form,
/// with `apiVersion` and `kind` set from the envelope.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let data = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let root = Path::root("Unknown");
    if data.is_empty() {
        return Err(malformed(&root, "empty message after the magic prefix"));
    }
    let (mut api_version, mut kind, mut encoding) = (String::new(), String::new(), String::new());
    let mut raw: &[u8] = &[];
    let mut reader = Reader::new(data);
    while let Some((num, wire)) = reader.next_field(&root)? {
        match num {
            1 => {
                let path = root.field("typeMeta");
                let mut tm = Reader::new(expect_len(wire, &path)?);
                while let Some((num, wire)) = tm.next_field(&path)? {
                    match num {
                        1 => api_version = string(wire, &path.field("apiVersion"))?,
                        2 => kind = string(wire, &path.field("kind"))?,
                        _ => {}
                    }
                }
            }
            2 => raw = expect_len(wire, &root.field("raw"))?,
            3 => encoding = string(wire, &root.field("contentEncoding"))?,
            // Like kube-apiserver, ignore contentType: the raw bytes are always protobuf.
            4 => {
                string(wire, &root.field("contentType"))?;
            }
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(encoding));
    }
    let Some(layout) = layout_for(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let mut object = decode_message(raw, layout, &Path::root(&kind))?;
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.insert("kind".to_owned(), Value::String(kind));
    Ok(Value::Object(object))
}

// ---------------------------------------------------------------------------------
// Layout table
// ---------------------------------------------------------------------------------

/// One field of a message layout.
#[derive(Clone, Copy)]
struct Field {
    num: u32,
    name: &'static str,
    ty: Ty,
    /// Go `omitempty` on a value (non-pointer) scalar: drop zero values.
    omit: bool,
}

#[derive(Clone, Copy)]
enum Ty {
    One(Kind),
    Rep(Kind),
    /// `map<string, Kind>`.
    Map(Kind),
}

/// The protobuf type of a value and how it maps to JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    I32,
    I64,
    /// base64, standard alphabet with padding.
    Bytes,
    Msg(&'static [Field]),
    /// `meta.v1.Time`: RFC 3339, whole seconds.
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// `resource.Quantity` `{1: string}` → the string.
    #[cfg_attr(not(test), allow(dead_code))]
    Quantity,
    /// `intstr.IntOrString` → number or string.
    #[cfg_attr(not(test), allow(dead_code))]
    IntOrString,
    /// `runtime.RawExtension` / `meta.v1.FieldsV1` `{1: bytes}` → the bytes parsed as JSON.
    RawJson,
    /// `{1: repeated string}` wrappers such as `ExtraValue` → a JSON array of strings.
    StrList,
}

use Kind::*;

/// Go value field with `omitempty`.
const fn o(num: u32, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        ty: Ty::One(kind),
        omit: true,
    }
}
/// Pointer field, field without `omitempty`, or nested message: kept when present.
const fn k(num: u32, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        ty: Ty::One(kind),
        omit: false,
    }
}
const fn rep(num: u32, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        ty: Ty::Rep(kind),
        omit: true,
    }
}
const fn map(num: u32, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        ty: Ty::Map(kind),
        omit: true,
    }
}

// meta.k8s.io/v1
const OWNER_REFERENCE: &[Field] = &[
    k(5, "apiVersion", Str),
    k(1, "kind", Str),
    k(3, "name", Str),
    k(4, "uid", Str),
    k(6, "controller", Bool),
    k(7, "blockOwnerDeletion", Bool),
];
const MANAGED_FIELDS_ENTRY: &[Field] = &[
    o(1, "manager", Str),
    o(2, "operation", Str),
    o(3, "apiVersion", Str),
    k(4, "time", Time),
    o(6, "fieldsType", Str),
    k(7, "fieldsV1", RawJson),
    o(8, "subresource", Str),
];
const OBJECT_META: &[Field] = &[
    o(1, "name", Str),
    o(2, "generateName", Str),
    o(3, "namespace", Str),
    o(4, "selfLink", Str),
    o(5, "uid", Str),
    o(6, "resourceVersion", Str),
    o(7, "generation", I64),
    o(8, "creationTimestamp", Time), // `omitzero` in Go: the zero time is dropped
    k(9, "deletionTimestamp", Time),
    k(10, "deletionGracePeriodSeconds", I64),
    map(11, "labels", Str),
    map(12, "annotations", Str),
    rep(13, "ownerReferences", Msg(OWNER_REFERENCE)),
    rep(14, "finalizers", Str),
    rep(17, "managedFields", Msg(MANAGED_FIELDS_ENTRY)),
];
const METADATA: Field = k(1, "metadata", Msg(OBJECT_META));
/// `LabelSelectorRequirement` and `FieldSelectorRequirement` share this shape.
const SELECTOR_REQUIREMENT: &[Field] = &[
    k(1, "key", Str),
    k(2, "operator", Str),
    rep(3, "values", Str),
];
const LABEL_SELECTOR: &[Field] = &[
    map(1, "matchLabels", Str),
    rep(2, "matchExpressions", Msg(SELECTOR_REQUIREMENT)),
];
/// `meta.v1.Condition`, for kinds that embed it (none of the supported kinds does yet).
#[cfg_attr(not(test), allow(dead_code))]
const CONDITION: &[Field] = &[
    k(1, "type", Str),
    k(2, "status", Str),
    o(3, "observedGeneration", I64),
    k(4, "lastTransitionTime", Time),
    k(5, "reason", Str),
    k(6, "message", Str),
];
const PRECONDITIONS: &[Field] = &[k(1, "uid", Str), k(2, "resourceVersion", Str)];
const DELETE_OPTIONS: &[Field] = &[
    k(1, "gracePeriodSeconds", I64),
    k(2, "preconditions", Msg(PRECONDITIONS)),
    k(3, "orphanDependents", Bool),
    k(4, "propagationPolicy", Str),
    rep(5, "dryRun", Str),
    k(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
];

// core/v1
const OBJECT_REFERENCE: &[Field] = &[
    o(1, "kind", Str),
    o(2, "namespace", Str),
    o(3, "name", Str),
    o(4, "uid", Str),
    o(5, "apiVersion", Str),
    o(6, "resourceVersion", Str),
    o(7, "fieldPath", Str),
];
const LOCAL_OBJECT_REFERENCE: &[Field] = &[o(1, "name", Str)];
const EVENT_SOURCE: &[Field] = &[o(1, "component", Str), o(2, "host", Str)];
const CONFIG_MAP: &[Field] = &[
    METADATA,
    k(4, "immutable", Bool),
    map(2, "data", Str),
    map(3, "binaryData", Bytes),
];
const SECRET: &[Field] = &[
    METADATA,
    k(5, "immutable", Bool),
    map(2, "data", Bytes),
    map(4, "stringData", Str),
    o(3, "type", Str),
];
const NAMESPACE_SPEC: &[Field] = &[rep(1, "finalizers", Str)];
const NAMESPACE_CONDITION: &[Field] = &[
    k(1, "type", Str),
    k(2, "status", Str),
    k(4, "lastTransitionTime", Time),
    o(5, "reason", Str),
    o(6, "message", Str),
];
const NAMESPACE_STATUS: &[Field] = &[
    o(1, "phase", Str),
    rep(2, "conditions", Msg(NAMESPACE_CONDITION)),
];
const NAMESPACE: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(NAMESPACE_SPEC)),
    k(3, "status", Msg(NAMESPACE_STATUS)),
];
const SERVICE_ACCOUNT: &[Field] = &[
    METADATA,
    rep(2, "secrets", Msg(OBJECT_REFERENCE)),
    rep(3, "imagePullSecrets", Msg(LOCAL_OBJECT_REFERENCE)),
    k(4, "automountServiceAccountToken", Bool),
];
const CORE_EVENT_SERIES: &[Field] = &[o(1, "count", I32), k(2, "lastObservedTime", MicroTime)];
const CORE_EVENT: &[Field] = &[
    METADATA,
    k(2, "involvedObject", Msg(OBJECT_REFERENCE)),
    o(3, "reason", Str),
    o(4, "message", Str),
    k(5, "source", Msg(EVENT_SOURCE)),
    k(6, "firstTimestamp", Time),
    k(7, "lastTimestamp", Time),
    o(8, "count", I32),
    o(9, "type", Str),
    k(10, "eventTime", MicroTime),
    k(11, "series", Msg(CORE_EVENT_SERIES)),
    o(12, "action", Str),
    k(13, "related", Msg(OBJECT_REFERENCE)),
    k(14, "reportingComponent", Str),
    k(15, "reportingInstance", Str),
];

// events.k8s.io/v1
const EVENTS_EVENT_SERIES: &[Field] = &[k(1, "count", I32), k(2, "lastObservedTime", MicroTime)];
const EVENTS_EVENT: &[Field] = &[
    METADATA,
    k(2, "eventTime", MicroTime),
    k(3, "series", Msg(EVENTS_EVENT_SERIES)),
    o(4, "reportingController", Str),
    o(5, "reportingInstance", Str),
    o(6, "action", Str),
    o(7, "reason", Str),
    k(8, "regarding", Msg(OBJECT_REFERENCE)),
    k(9, "related", Msg(OBJECT_REFERENCE)),
    o(10, "note", Str),
    o(11, "type", Str),
    k(12, "deprecatedSource", Msg(EVENT_SOURCE)),
    k(13, "deprecatedFirstTimestamp", Time),
    k(14, "deprecatedLastTimestamp", Time),
    o(15, "deprecatedCount", I32),
];

// coordination.k8s.io/v1
const LEASE_SPEC: &[Field] = &[
    k(1, "holderIdentity", Str),
    k(2, "leaseDurationSeconds", I32),
    k(3, "acquireTime", MicroTime),
    k(4, "renewTime", MicroTime),
    k(5, "leaseTransitions", I32),
    k(6, "strategy", Str),
    k(7, "preferredHolder", Str),
];
const LEASE: &[Field] = &[METADATA, k(2, "spec", Msg(LEASE_SPEC))];

// certificates.k8s.io/v1
const CSR_SPEC: &[Field] = &[
    k(1, "request", Bytes),
    k(7, "signerName", Str),
    k(8, "expirationSeconds", I32),
    rep(5, "usages", Str),
    o(2, "username", Str),
    o(3, "uid", Str),
    rep(4, "groups", Str),
    map(6, "extra", StrList),
];
const CSR_CONDITION: &[Field] = &[
    k(1, "type", Str),
    k(6, "status", Str),
    o(2, "reason", Str),
    o(3, "message", Str),
    k(4, "lastUpdateTime", Time),
    k(5, "lastTransitionTime", Time),
];
const CSR_STATUS: &[Field] = &[
    rep(1, "conditions", Msg(CSR_CONDITION)),
    o(2, "certificate", Bytes),
];
const CSR: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(CSR_SPEC)),
    k(3, "status", Msg(CSR_STATUS)),
];

// rbac.authorization.k8s.io/v1
const POLICY_RULE: &[Field] = &[
    rep(1, "verbs", Str),
    rep(2, "apiGroups", Str),
    rep(3, "resources", Str),
    rep(4, "resourceNames", Str),
    rep(5, "nonResourceURLs", Str),
];
const ROLE: &[Field] = &[METADATA, rep(2, "rules", Msg(POLICY_RULE))];
const AGGREGATION_RULE: &[Field] = &[rep(1, "clusterRoleSelectors", Msg(LABEL_SELECTOR))];
const CLUSTER_ROLE: &[Field] = &[
    METADATA,
    rep(2, "rules", Msg(POLICY_RULE)),
    k(3, "aggregationRule", Msg(AGGREGATION_RULE)),
];
const SUBJECT: &[Field] = &[
    k(1, "kind", Str),
    o(2, "apiGroup", Str),
    k(3, "name", Str),
    o(4, "namespace", Str),
];
const ROLE_REF: &[Field] = &[k(1, "apiGroup", Str), k(2, "kind", Str), k(3, "name", Str)];
/// RoleBinding and ClusterRoleBinding.
const ROLE_BINDING: &[Field] = &[
    METADATA,
    rep(2, "subjects", Msg(SUBJECT)),
    k(3, "roleRef", Msg(ROLE_REF)),
];

// authentication.k8s.io/v1
const USER_INFO: &[Field] = &[
    o(1, "username", Str),
    o(2, "uid", Str),
    rep(3, "groups", Str),
    map(4, "extra", StrList),
];
const BOUND_OBJECT_REFERENCE: &[Field] = &[
    o(1, "kind", Str),
    o(2, "apiVersion", Str),
    o(3, "name", Str),
    o(4, "uid", Str),
];
const TOKEN_REQUEST_SPEC: &[Field] = &[
    rep(1, "audiences", Str),
    k(4, "expirationSeconds", I64),
    k(3, "boundObjectRef", Msg(BOUND_OBJECT_REFERENCE)),
    map(5, "attestations", StrList),
];
const TOKEN_REQUEST_STATUS: &[Field] = &[k(1, "token", Str), k(2, "expirationTimestamp", Time)];
const TOKEN_REQUEST: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(TOKEN_REQUEST_SPEC)),
    k(3, "status", Msg(TOKEN_REQUEST_STATUS)),
];
const TOKEN_REVIEW_SPEC: &[Field] = &[o(1, "token", Str), rep(2, "audiences", Str)];
const TOKEN_REVIEW_STATUS: &[Field] = &[
    o(1, "authenticated", Bool),
    k(2, "user", Msg(USER_INFO)),
    rep(4, "audiences", Str),
    o(3, "error", Str),
];
const TOKEN_REVIEW: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(TOKEN_REVIEW_SPEC)),
    k(3, "status", Msg(TOKEN_REVIEW_STATUS)),
];
const SELF_SUBJECT_REVIEW_STATUS: &[Field] = &[k(1, "userInfo", Msg(USER_INFO))];
const SELF_SUBJECT_REVIEW: &[Field] = &[METADATA, k(2, "status", Msg(SELF_SUBJECT_REVIEW_STATUS))];

// authorization.k8s.io/v1
/// FieldSelectorAttributes and LabelSelectorAttributes.
const SELECTOR_ATTRIBUTES: &[Field] = &[
    o(1, "rawSelector", Str),
    rep(2, "requirements", Msg(SELECTOR_REQUIREMENT)),
];
const RESOURCE_ATTRIBUTES: &[Field] = &[
    o(1, "namespace", Str),
    o(2, "verb", Str),
    o(3, "group", Str),
    o(4, "version", Str),
    o(5, "resource", Str),
    o(6, "subresource", Str),
    o(7, "name", Str),
    k(8, "fieldSelector", Msg(SELECTOR_ATTRIBUTES)),
    k(9, "labelSelector", Msg(SELECTOR_ATTRIBUTES)),
];
const NON_RESOURCE_ATTRIBUTES: &[Field] = &[o(1, "path", Str), o(2, "verb", Str)];
const SAR_SPEC: &[Field] = &[
    k(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
    k(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
    o(3, "user", Str),
    rep(4, "groups", Str),
    map(5, "extra", StrList),
    o(6, "uid", Str),
];
const SELF_SAR_SPEC: &[Field] = &[
    k(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
    k(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
];
const SAR_STATUS: &[Field] = &[
    k(1, "allowed", Bool),
    o(4, "denied", Bool),
    o(2, "reason", Str),
    o(3, "evaluationError", Str),
];
/// SubjectAccessReview and LocalSubjectAccessReview.
const SUBJECT_ACCESS_REVIEW: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(SAR_SPEC)),
    k(3, "status", Msg(SAR_STATUS)),
];
const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(SELF_SAR_SPEC)),
    k(3, "status", Msg(SAR_STATUS)),
];
const RESOURCE_RULE: &[Field] = &[
    rep(1, "verbs", Str),
    rep(2, "apiGroups", Str),
    rep(3, "resources", Str),
    rep(4, "resourceNames", Str),
];
const NON_RESOURCE_RULE: &[Field] = &[rep(1, "verbs", Str), rep(2, "nonResourceURLs", Str)];
const SSRR_SPEC: &[Field] = &[o(1, "namespace", Str)];
const SUBJECT_RULES_REVIEW_STATUS: &[Field] = &[
    rep(1, "resourceRules", Msg(RESOURCE_RULE)),
    rep(2, "nonResourceRules", Msg(NON_RESOURCE_RULE)),
    k(3, "incomplete", Bool),
    o(4, "evaluationError", Str),
];
const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[
    METADATA,
    k(2, "spec", Msg(SSRR_SPEC)),
    k(3, "status", Msg(SUBJECT_RULES_REVIEW_STATUS)),
];

/// Supported (apiVersion, kind) pairs. `DeleteOptions` is accepted under any
/// apiVersion (it is registered in every group version).
const KINDS: &[(&str, &str, &[Field])] = &[
    ("v1", "ConfigMap", CONFIG_MAP),
    ("v1", "Secret", SECRET),
    ("v1", "Namespace", NAMESPACE),
    ("v1", "ServiceAccount", SERVICE_ACCOUNT),
    ("v1", "Event", CORE_EVENT),
    ("events.k8s.io/v1", "Event", EVENTS_EVENT),
    ("coordination.k8s.io/v1", "Lease", LEASE),
    ("certificates.k8s.io/v1", "CertificateSigningRequest", CSR),
    ("rbac.authorization.k8s.io/v1", "Role", ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", CLUSTER_ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", ROLE_BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        ROLE_BINDING,
    ),
    ("authentication.k8s.io/v1", "TokenRequest", TOKEN_REQUEST),
    ("authentication.k8s.io/v1", "TokenReview", TOKEN_REVIEW),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        SELF_SUBJECT_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        SELF_SUBJECT_RULES_REVIEW,
    ),
];

fn layout_for(api_version: &str, kind: &str) -> Option<&'static [Field]> {
    if kind == "DeleteOptions" && !api_version.is_empty() {
        return Some(DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, layout)| *layout)
}

// ---------------------------------------------------------------------------------
// Field paths for error messages
// ---------------------------------------------------------------------------------

/// A position in the decoded object, e.g. `ConfigMap.metadata.ownerReferences[1].uid`.
/// Built as a stack-allocated linked list and only rendered when an error occurs.
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    seg: Seg<'p>,
    depth: usize,
}

enum Seg<'p> {
    Name(&'p str),
    Index(usize),
}

impl<'p> Path<'p> {
    fn root(name: &'p str) -> Self {
        Path {
            parent: None,
            seg: Seg::Name(name),
            depth: 0,
        }
    }
    fn field(&'p self, name: &'p str) -> Path<'p> {
        Path {
            parent: Some(self),
            seg: Seg::Name(name),
            depth: self.depth + 1,
        }
    }
    fn index(&'p self, i: usize) -> Path<'p> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
            depth: self.depth,
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match (&self.seg, self.parent.is_some()) {
            (Seg::Name(name), true) => write!(f, ".{name}"),
            (Seg::Name(name), false) => f.write_str(name),
            (Seg::Index(i), _) => write!(f, "[{i}]"),
        }
    }
}

fn malformed(path: &Path<'_>, reason: &'static str) -> ProtobufError {
    ProtobufError::Malformed {
        path: path.to_string(),
        reason,
    }
}

fn invalid(path: &Path<'_>, reason: impl Into<String>) -> ProtobufError {
    ProtobufError::InvalidValue {
        path: path.to_string(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------
// Wire reader
// ---------------------------------------------------------------------------------

/// One field value as it appears on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Len(&'a [u8]),
    Fixed32,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn varint(&mut self, path: &Path<'_>) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&byte, rest)) = self.buf.split_first() else {
                return Err(ProtobufError::Truncated {
                    path: path.to_string(),
                });
            };
            self.buf = rest;
            if i == 9 && byte > 1 {
                return Err(malformed(path, "varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(malformed(path, "varint longer than 10 bytes"))
    }

    fn take(&mut self, len: u64, path: &Path<'_>) -> Result<&'a [u8], ProtobufError> {
        let truncated = || ProtobufError::Truncated {
            path: path.to_string(),
        };
        let len = usize::try_from(len).map_err(|_| truncated())?;
        let (head, rest) = self.buf.split_at_checked(len).ok_or_else(truncated)?;
        self.buf = rest;
        Ok(head)
    }

    /// The next (field number, value), or `None` at the end of the message.
    fn next_field(&mut self, path: &Path<'_>) -> Result<Option<(u32, Wire<'a>)>, ProtobufError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint(path)?;
        let num = u32::try_from(tag >> 3)
            .ok()
            .filter(|n| (1..1 << 29).contains(n))
            .ok_or_else(|| malformed(path, "invalid field number"))?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint(path)?),
            1 => self.take(8, path).map(|_| Wire::Fixed64)?,
            2 => {
                let len = self.varint(path)?;
                Wire::Len(self.take(len, path)?)
            }
            5 => self.take(4, path).map(|_| Wire::Fixed32)?,
            _ => {
                return Err(malformed(
                    path,
                    "unsupported wire type (groups are not supported)",
                ));
            }
        };
        Ok(Some((num, wire)))
    }
}

fn expect_len<'a>(wire: Wire<'a>, path: &Path<'_>) -> Result<&'a [u8], ProtobufError> {
    match wire {
        Wire::Len(bytes) => Ok(bytes),
        _ => Err(malformed(
            path,
            "wrong wire type, expected length-delimited",
        )),
    }
}

fn expect_varint(wire: Wire<'_>, path: &Path<'_>) -> Result<u64, ProtobufError> {
    match wire {
        Wire::Varint(v) => Ok(v),
        _ => Err(malformed(path, "wrong wire type, expected varint")),
    }
}

fn string(wire: Wire<'_>, path: &Path<'_>) -> Result<String, ProtobufError> {
    let bytes = expect_len(wire, path)?;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(ProtobufError::InvalidUtf8 {
            path: path.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------
// Layout-driven decoding
// ---------------------------------------------------------------------------------

/// What has been collected for one field of a message while reading it.
enum Slot<'a> {
    Empty,
    Val(Value),
    /// Embedded message bytes; repeated occurrences are concatenated, which is
    /// protobuf's merge semantics.
    Msg(Cow<'a, [u8]>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

fn decode_message(
    buf: &[u8],
    layout: &'static [Field],
    path: &Path<'_>,
) -> Result<Map<String, Value>, ProtobufError> {
    if path.depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep {
            path: path.to_string(),
        });
    }
    let mut slots: Vec<Slot<'_>> = layout.iter().map(|_| Slot::Empty).collect();
    let mut reader = Reader::new(buf);
    while let Some((num, wire)) = reader.next_field(path)? {
        let Some((field, slot)) = layout
            .iter()
            .zip(slots.iter_mut())
            .find(|(f, _)| f.num == num)
        else {
            continue; // unknown field: already skipped
        };
        let fpath = path.field(field.name);
        match field.ty {
            Ty::One(Msg(_)) => {
                let bytes = expect_len(wire, &fpath)?;
                match slot {
                    // Amortised growth keeps many repeated occurrences linear.
                    Slot::Msg(prev) => prev.to_mut().extend_from_slice(bytes),
                    _ => *slot = Slot::Msg(Cow::Borrowed(bytes)),
                }
            }
            Ty::One(kind) => *slot = Slot::Val(decode_value(kind, wire, &fpath)?),
            Ty::Rep(kind) => {
                if !matches!(slot, Slot::List(_)) {
                    *slot = Slot::List(Vec::new());
                }
                if let Slot::List(list) = slot {
                    match (kind, wire) {
                        (Bool | I32 | I64, Wire::Len(packed)) => {
                            let mut packed = Reader::new(packed);
                            while !packed.buf.is_empty() {
                                let ipath = fpath.index(list.len());
                                let v = packed.varint(&ipath)?;
                                list.push(decode_value(kind, Wire::Varint(v), &ipath)?);
                            }
                        }
                        _ => list.push(decode_value(kind, wire, &fpath.index(list.len()))?),
                    }
                }
            }
            Ty::Map(kind) => {
                if !matches!(slot, Slot::Map(_)) {
                    *slot = Slot::Map(Map::new());
                }
                if let Slot::Map(entries) = slot {
                    let epath = fpath.index(entries.len());
                    let (key, value) = decode_map_entry(kind, expect_len(wire, &epath)?, &epath)?;
                    entries.insert(key, value);
                }
            }
        }
    }

    let mut out = Map::new();
    for (field, slot) in layout.iter().zip(slots) {
        let value = match (slot, field.ty) {
            (Slot::Empty, _) => continue,
            (Slot::Val(v), _) if field.omit && is_zero(&v) => continue,
            (Slot::Val(v), _) => v,
            (Slot::Msg(bytes), Ty::One(Msg(inner))) => {
                Value::Object(decode_message(&bytes, inner, &path.field(field.name))?)
            }
            (Slot::Msg(_), _) => continue, // unreachable: only filled for message fields
            (Slot::List(list), _) if list.is_empty() => continue,
            (Slot::List(list), _) => Value::Array(list),
            (Slot::Map(map), _) if map.is_empty() => continue,
            (Slot::Map(map), _) => Value::Object(map),
        };
        out.insert(field.name.to_owned(), value);
    }
    Ok(out)
}

/// A map entry message `{1: key string, 2: value}`; absent parts take their zero value.
fn decode_map_entry(
    kind: Kind,
    buf: &[u8],
    path: &Path<'_>,
) -> Result<(String, Value), ProtobufError> {
    let (mut key, mut value) = (String::new(), None);
    let mut reader = Reader::new(buf);
    while let Some((num, wire)) = reader.next_field(path)? {
        match num {
            1 => key = string(wire, &path.field("key"))?,
            2 => value = Some(decode_value(kind, wire, &path.field("value"))?),
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        None => {
            let zero = match kind {
                Bool | I32 | I64 => Wire::Varint(0),
                _ => Wire::Len(&[]),
            };
            decode_value(kind, zero, &path.field("value"))?
        }
    };
    Ok((key, value))
}

fn decode_value(kind: Kind, wire: Wire<'_>, path: &Path<'_>) -> Result<Value, ProtobufError> {
    Ok(match kind {
        Str => Value::String(string(wire, path)?),
        Bool => Value::Bool(expect_varint(wire, path)? != 0),
        // Truncation to 32 bits is what Go's decoder does too.
        I32 => Value::from(expect_varint(wire, path)? as i32),
        I64 => Value::from(expect_varint(wire, path)? as i64),
        Bytes => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(expect_len(wire, path)?))
        }
        Msg(layout) => Value::Object(decode_message(expect_len(wire, path)?, layout, path)?),
        Time | MicroTime => timestamp(expect_len(wire, path)?, matches!(kind, MicroTime), path)?,
        Quantity => {
            let mut s = String::new();
            for_each(wire, path, |num, w| {
                if num == 1 {
                    s = string(w, &path.field("string"))?;
                }
                Ok(())
            })?;
            Value::String(s)
        }
        IntOrString => {
            let (mut ty, mut int, mut text) = (0u64, 0i32, String::new());
            for_each(wire, path, |num, w| {
                match num {
                    1 => ty = expect_varint(w, &path.field("type"))?,
                    2 => int = expect_varint(w, &path.field("intVal"))? as i32,
                    3 => text = string(w, &path.field("strVal"))?,
                    _ => {}
                }
                Ok(())
            })?;
            match ty {
                0 => Value::from(int),
                1 => Value::String(text),
                _ => {
                    return Err(invalid(
                        path,
                        format!("IntOrString type {ty} is neither 0 nor 1"),
                    ));
                }
            }
        }
        RawJson => {
            let mut raw: &[u8] = &[];
            for_each(wire, path, |num, w| {
                if num == 1 {
                    raw = expect_len(w, &path.field("raw"))?;
                }
                Ok(())
            })?;
            if raw.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(raw)
                    .map_err(|e| invalid(path, format!("embedded JSON: {e}")))?
            }
        }
        StrList => {
            let mut items = Vec::new();
            for_each(wire, path, |num, w| {
                if num == 1 {
                    items.push(Value::String(string(
                        w,
                        &path.field("items").index(items.len()),
                    )?));
                }
                Ok(())
            })?;
            Value::Array(items)
        }
    })
}

/// Calls `f` for every field of the embedded message in `wire`.
fn for_each<'a>(
    wire: Wire<'a>,
    path: &Path<'_>,
    mut f: impl FnMut(u32, Wire<'a>) -> Result<(), ProtobufError>,
) -> Result<(), ProtobufError> {
    let mut reader = Reader::new(expect_len(wire, path)?);
    while let Some((num, w)) = reader.next_field(path)? {
        f(num, w)?;
    }
    Ok(())
}

/// Unix seconds of 0001-01-01T00:00:00Z, Go's zero `time.Time`.
const GO_ZERO_TIME: i64 = -62_135_596_800;
/// Unix seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the RFC 3339 range.
const MIN_SECONDS: i64 = -62_167_219_200;
const MAX_SECONDS: i64 = 253_402_300_799;

/// `Time` / `MicroTime` `{1: seconds, 2: nanos}` as kube serialises it to JSON.
/// `Time` drops the nanoseconds entirely (as Go's `Time.Unmarshal` does); `MicroTime`
/// truncates them to microseconds. An empty message or the zero instant is `null`.
fn timestamp(buf: &[u8], micro: bool, path: &Path<'_>) -> Result<Value, ProtobufError> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut reader = Reader::new(buf);
    while let Some((num, wire)) = reader.next_field(path)? {
        match num {
            1 => seconds = expect_varint(wire, &path.field("seconds"))? as i64,
            2 => nanos = expect_varint(wire, &path.field("nanos"))? as i32,
            _ => {}
        }
    }
    let nanos = if micro {
        i64::from(nanos - nanos % 1000)
    } else {
        0
    };
    let seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .filter(|s| (MIN_SECONDS..=MAX_SECONDS).contains(s))
        .ok_or_else(|| invalid(path, "timestamp outside years 0000-9999"))?;
    let nanos = nanos.rem_euclid(1_000_000_000);
    if seconds == GO_ZERO_TIME && nanos == 0 {
        return Ok(Value::Null);
    }
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let date = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    Ok(Value::String(if micro {
        format!("{date}.{:06}Z", nanos / 1000)
    } else {
        format!("{date}Z")
    }))
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's notion of an empty value for `omitempty` scalars.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Array(_) | Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::api::authentication::v1 as authn;
    use k8s_pb::api::authorization::v1 as authz;
    use k8s_pb::api::certificates::v1 as certs;
    use k8s_pb::api::coordination::v1 as coord;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::api::events::v1 as events;
    use k8s_pb::api::rbac::v1 as rbac;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
    use prost::Message;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }
    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }
    fn smap(v: &[(&str, &str)]) -> BTreeMap<String, String> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }
    fn time(seconds: i64, nanos: i32) -> Option<meta::Time> {
        Some(meta::Time {
            seconds: Some(seconds),
            nanos: Some(nanos),
        })
    }
    fn micro(seconds: i64, nanos: i32) -> Option<meta::MicroTime> {
        Some(meta::MicroTime {
            seconds: Some(seconds),
            nanos: Some(nanos),
        })
    }
    fn meta_named(name: &str) -> Option<meta::ObjectMeta> {
        Some(meta::ObjectMeta {
            name: s(name),
            ..Default::default()
        })
    }

    /// 2024-01-02T03:04:05Z
    const T: i64 = 1_704_164_645;

    fn envelope_raw(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: s(api_version),
                kind: s(kind),
            }),
            raw: Some(raw),
            content_encoding: s(""),
            content_type: s(""),
        };
        [MAGIC, &unknown.encode_to_vec()].concat()
    }
    fn envelope(api_version: &str, kind: &str, msg: &impl Message) -> Vec<u8> {
        envelope_raw(api_version, kind, msg.encode_to_vec())
    }
    fn decode(api_version: &str, kind: &str, msg: &impl Message) -> Value {
        decode_object(&envelope(api_version, kind, msg)).unwrap()
    }
    /// Decodes `msg` against a bare layout, for types no supported kind uses.
    fn decode_with(layout: &'static [Field], msg: &impl Message) -> Result<Value, ProtobufError> {
        decode_message(&msg.encode_to_vec(), layout, &Path::root("Test")).map(Value::Object)
    }

    #[test]
    fn config_map_with_full_object_meta() {
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: s("cm"),
                generate_name: s("cm-"),
                namespace: s("default"),
                self_link: s(""),
                uid: s("u-1"),
                resource_version: s("42"),
                generation: Some(3),
                creation_timestamp: time(T, 999_999_999),
                deletion_timestamp: time(T + 60, 0),
                deletion_grace_period_seconds: Some(0),
                labels: smap(&[("app", "x")]),
                annotations: smap(&[("a/b", "c"), ("empty", "")]),
                owner_references: vec![meta::OwnerReference {
                    api_version: s("apps/v1"),
                    kind: s("Deployment"),
                    name: s("d"),
                    uid: s("u-2"),
                    controller: Some(true),
                    block_owner_deletion: Some(false),
                }],
                finalizers: strs(&["f1", "f2"]),
                managed_fields: vec![meta::ManagedFieldsEntry {
                    manager: s("kubectl"),
                    operation: s("Update"),
                    api_version: s("v1"),
                    time: time(T, 0),
                    fields_type: s("FieldsV1"),
                    fields_v1: Some(meta::FieldsV1 {
                        raw: Some(br#"{"f:data":{".":{}}}"#.to_vec()),
                    }),
                    subresource: s(""),
                }],
            }),
            immutable: Some(false),
            data: smap(&[("k", "v"), ("e", "")]),
            binary_data: [("bin".to_owned(), vec![0xff, 0x00, 0xfe])].into(),
        };
        assert_eq!(
            decode("v1", "ConfigMap", &cm),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "name": "cm", "generateName": "cm-", "namespace": "default", "uid": "u-1",
                    "resourceVersion": "42", "generation": 3,
                    "creationTimestamp": "2024-01-02T03:04:05Z",
                    "deletionTimestamp": "2024-01-02T03:05:05Z",
                    "deletionGracePeriodSeconds": 0,
                    "labels": {"app": "x"}, "annotations": {"a/b": "c", "empty": ""},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d",
                        "uid": "u-2", "controller": true, "blockOwnerDeletion": false}],
                    "finalizers": ["f1", "f2"],
                    "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                        "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:data": {".": {}}}}],
                },
                "immutable": false,
                "data": {"k": "v", "e": ""},
                "binaryData": {"bin": "/wD+"},
            })
        );
    }

    #[test]
    fn config_map_minimal_omits_absent_and_empty() {
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: s("cm"),
                generation: Some(0),
                // Go's encoder writes the zero creationTimestamp as an empty message.
                creation_timestamp: Some(meta::Time::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            decode("v1", "ConfigMap", &cm),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})
        );
        assert_eq!(
            decode("v1", "ConfigMap", &core::ConfigMap::default()),
            json!({"apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn secret_with_string_data_and_type() {
        let secret = core::Secret {
            metadata: meta_named("s"),
            immutable: Some(true),
            data: [
                ("a".to_owned(), b"hello".to_vec()),
                ("empty".to_owned(), vec![]),
            ]
            .into(),
            string_data: smap(&[("plain", "text")]),
            r#type: s("kubernetes.io/tls"),
        };
        assert_eq!(
            decode("v1", "Secret", &secret),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "immutable": true,
                "data": {"a": "aGVsbG8=", "empty": ""}, "stringData": {"plain": "text"},
                "type": "kubernetes.io/tls"})
        );
        let untyped = core::Secret {
            metadata: meta_named("s"),
            r#type: s(""),
            ..Default::default()
        };
        assert_eq!(
            decode("v1", "Secret", &untyped),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
        );
    }

    #[test]
    fn namespace_spec_and_status() {
        let ns = core::Namespace {
            metadata: meta_named("ns"),
            spec: Some(core::NamespaceSpec {
                finalizers: strs(&["kubernetes"]),
            }),
            status: Some(core::NamespaceStatus {
                phase: s("Terminating"),
                conditions: vec![
                    core::NamespaceCondition {
                        r#type: s("NamespaceDeletionContentFailure"),
                        status: s("False"),
                        last_transition_time: time(T, 0),
                        reason: s("ContentDeleted"),
                        message: s(""),
                    },
                    core::NamespaceCondition {
                        r#type: s("X"),
                        status: s(""),
                        last_transition_time: Some(meta::Time::default()),
                        ..Default::default()
                    },
                ],
            }),
        };
        assert_eq!(
            decode("v1", "Namespace", &ns),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating", "conditions": [
                {"type": "NamespaceDeletionContentFailure", "status": "False",
                 "lastTransitionTime": "2024-01-02T03:04:05Z", "reason": "ContentDeleted"},
                {"type": "X", "status": "", "lastTransitionTime": null},
            ]}})
        );
        // Go always sends the (empty) spec and status structs; they stay as {}.
        let empty = core::Namespace {
            metadata: meta_named("ns"),
            spec: Some(Default::default()),
            status: Some(Default::default()),
        };
        assert_eq!(
            decode("v1", "Namespace", &empty),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"},
                "spec": {}, "status": {}})
        );
    }

    #[test]
    fn service_account() {
        let sa = core::ServiceAccount {
            metadata: meta_named("sa"),
            secrets: vec![core::ObjectReference {
                kind: s("Secret"),
                namespace: s("ns"),
                name: s("tok"),
                uid: s("u"),
                api_version: s("v1"),
                resource_version: s("1"),
                field_path: s(""),
            }],
            image_pull_secrets: vec![core::LocalObjectReference { name: s("pull") }],
            automount_service_account_token: Some(false),
        };
        assert_eq!(
            decode("v1", "ServiceAccount", &sa),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"},
                "secrets": [{"kind": "Secret", "namespace": "ns", "name": "tok", "uid": "u",
                    "apiVersion": "v1", "resourceVersion": "1"}],
                "imagePullSecrets": [{"name": "pull"}],
                "automountServiceAccountToken": false})
        );
    }

    #[test]
    fn core_event() {
        let ev = core::Event {
            metadata: meta_named("e"),
            involved_object: Some(core::ObjectReference {
                kind: s("Pod"),
                name: s("p"),
                ..Default::default()
            }),
            reason: s("Started"),
            message: s("hi"),
            source: Some(core::EventSource {
                component: s("kubelet"),
                host: s("n1"),
            }),
            first_timestamp: time(T, 0),
            last_timestamp: Some(meta::Time::default()),
            count: Some(2),
            r#type: s("Normal"),
            event_time: micro(T, 123_456_789),
            series: Some(core::EventSeries {
                count: Some(0),
                last_observed_time: micro(T, 1_000),
            }),
            action: s("Start"),
            related: Some(core::ObjectReference {
                kind: s("Node"),
                ..Default::default()
            }),
            reporting_component: s(""),
            reporting_instance: s("inst"),
        };
        assert_eq!(
            decode("v1", "Event", &ev),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                "involvedObject": {"kind": "Pod", "name": "p"},
                "reason": "Started", "message": "hi",
                "source": {"component": "kubelet", "host": "n1"},
                "firstTimestamp": "2024-01-02T03:04:05Z", "lastTimestamp": null,
                "count": 2, "type": "Normal",
                "eventTime": "2024-01-02T03:04:05.123456Z",
                "series": {"lastObservedTime": "2024-01-02T03:04:05.000001Z"},
                "action": "Start", "related": {"kind": "Node"},
                "reportingComponent": "", "reportingInstance": "inst"})
        );
    }

    #[test]
    fn events_v1_event() {
        let ev = events::Event {
            metadata: meta_named("e"),
            event_time: micro(T, 5_000),
            series: Some(events::EventSeries {
                count: Some(0),
                last_observed_time: micro(T, 0),
            }),
            reporting_controller: s("ctrl"),
            reporting_instance: s("i"),
            action: s("Bind"),
            reason: s("Scheduled"),
            regarding: Some(core::ObjectReference {
                kind: s("Pod"),
                ..Default::default()
            }),
            related: None,
            note: s("note"),
            r#type: s("Warning"),
            deprecated_source: Some(core::EventSource::default()),
            deprecated_first_timestamp: Some(meta::Time::default()),
            deprecated_last_timestamp: time(T, 0),
            deprecated_count: Some(0),
        };
        assert_eq!(
            decode("events.k8s.io/v1", "Event", &ev),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                "eventTime": "2024-01-02T03:04:05.000005Z",
                "series": {"count": 0, "lastObservedTime": "2024-01-02T03:04:05.000000Z"},
                "reportingController": "ctrl", "reportingInstance": "i", "action": "Bind",
                "reason": "Scheduled", "regarding": {"kind": "Pod"}, "note": "note",
                "type": "Warning", "deprecatedSource": {}, "deprecatedFirstTimestamp": null,
                "deprecatedLastTimestamp": "2024-01-02T03:04:05Z"})
        );
    }

    #[test]
    fn lease_with_micro_times_and_present_zeroes() {
        let lease = coord::Lease {
            metadata: Some(meta::ObjectMeta {
                name: s("l"),
                namespace: s("kube-system"),
                ..Default::default()
            }),
            spec: Some(coord::LeaseSpec {
                holder_identity: s(""),
                lease_duration_seconds: Some(0),
                acquire_time: micro(T, 999_999_999),
                renew_time: micro(0, 0),
                lease_transitions: Some(7),
                strategy: s("OldestEmulationVersion"),
                preferred_holder: s("me"),
            }),
        };
        assert_eq!(
            decode("coordination.k8s.io/v1", "Lease", &lease),
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "l", "namespace": "kube-system"},
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 0,
                    "acquireTime": "2024-01-02T03:04:05.999999Z",
                    "renewTime": "1970-01-01T00:00:00.000000Z",
                    "leaseTransitions": 7, "strategy": "OldestEmulationVersion",
                    "preferredHolder": "me"}})
        );
        let unset = coord::Lease {
            metadata: meta_named("l"),
            spec: Some(Default::default()),
        };
        assert_eq!(
            decode("coordination.k8s.io/v1", "Lease", &unset)["spec"],
            json!({})
        );
    }

    #[test]
    fn certificate_signing_request() {
        let csr = certs::CertificateSigningRequest {
            metadata: meta_named("csr"),
            spec: Some(certs::CertificateSigningRequestSpec {
                request: Some(b"-----BEGIN CERTIFICATE REQUEST-----\n".to_vec()),
                signer_name: s("kubernetes.io/kube-apiserver-client"),
                expiration_seconds: Some(3600),
                usages: strs(&["digital signature", "client auth"]),
                username: s("alice"),
                uid: s(""),
                groups: strs(&["system:authenticated"]),
                extra: [
                    (
                        "scopes".to_owned(),
                        certs::ExtraValue {
                            items: strs(&["a", "b"]),
                        },
                    ),
                    ("none".to_owned(), certs::ExtraValue { items: vec![] }),
                ]
                .into(),
            }),
            status: Some(certs::CertificateSigningRequestStatus {
                conditions: vec![certs::CertificateSigningRequestCondition {
                    r#type: s("Approved"),
                    status: s("True"),
                    reason: s("AutoApproved"),
                    message: s("ok"),
                    last_update_time: time(T, 0),
                    last_transition_time: time(T + 1, 0),
                }],
                certificate: Some(vec![1, 2, 3, 4]),
            }),
        };
        assert_eq!(
            decode("certificates.k8s.io/v1", "CertificateSigningRequest", &csr),
            json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"name": "csr"},
                "spec": {"request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
                    "signerName": "kubernetes.io/kube-apiserver-client",
                    "expirationSeconds": 3600,
                    "usages": ["digital signature", "client auth"],
                    "username": "alice", "groups": ["system:authenticated"],
                    "extra": {"scopes": ["a", "b"], "none": []}},
                "status": {"conditions": [{"type": "Approved", "status": "True",
                    "reason": "AutoApproved", "message": "ok",
                    "lastUpdateTime": "2024-01-02T03:04:05Z",
                    "lastTransitionTime": "2024-01-02T03:04:06Z"}],
                    "certificate": "AQIDBA=="}})
        );
        // A present but empty non-omitempty []byte stays; an empty omitempty one goes.
        let empty = certs::CertificateSigningRequest {
            spec: Some(certs::CertificateSigningRequestSpec {
                request: Some(vec![]),
                ..Default::default()
            }),
            status: Some(certs::CertificateSigningRequestStatus {
                certificate: Some(vec![]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = decode(
            "certificates.k8s.io/v1",
            "CertificateSigningRequest",
            &empty,
        );
        assert_eq!(got["spec"], json!({"request": ""}));
        assert_eq!(got["status"], json!({}));
    }

    fn rules() -> Vec<rbac::PolicyRule> {
        vec![
            rbac::PolicyRule {
                verbs: strs(&["get", "list"]),
                api_groups: strs(&[""]),
                resources: strs(&["configmaps"]),
                resource_names: strs(&["one"]),
                non_resource_ur_ls: vec![],
            },
            rbac::PolicyRule {
                verbs: strs(&["get"]),
                non_resource_ur_ls: strs(&["/healthz"]),
                ..Default::default()
            },
        ]
    }
    fn rules_json() -> Value {
        json!([
            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"],
             "resourceNames": ["one"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
        ])
    }

    #[test]
    fn rbac_roles() {
        let role = rbac::Role {
            metadata: meta_named("r"),
            rules: rules(),
        };
        assert_eq!(
            decode("rbac.authorization.k8s.io/v1", "Role", &role),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "r"}, "rules": rules_json()})
        );
        let cr = rbac::ClusterRole {
            metadata: meta_named("cr"),
            rules: rules(),
            aggregation_rule: Some(rbac::AggregationRule {
                cluster_role_selectors: vec![meta::LabelSelector {
                    match_labels: smap(&[("agg", "true")]),
                    match_expressions: vec![
                        meta::LabelSelectorRequirement {
                            key: s("tier"),
                            operator: s("In"),
                            values: strs(&["a", "b"]),
                        },
                        meta::LabelSelectorRequirement {
                            key: s("x"),
                            operator: s("Exists"),
                            values: vec![],
                        },
                    ],
                }],
            }),
        };
        assert_eq!(
            decode("rbac.authorization.k8s.io/v1", "ClusterRole", &cr),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cr"}, "rules": rules_json(),
            "aggregationRule": {"clusterRoleSelectors": [{
                "matchLabels": {"agg": "true"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["a", "b"]},
                    {"key": "x", "operator": "Exists"},
                ]}]}})
        );
    }

    #[test]
    fn rbac_bindings() {
        let subjects = vec![
            rbac::Subject {
                kind: s("User"),
                api_group: s("rbac.authorization.k8s.io"),
                name: s("alice"),
                namespace: s(""),
            },
            rbac::Subject {
                kind: s("ServiceAccount"),
                api_group: s(""),
                name: s("sa"),
                namespace: s("ns"),
            },
        ];
        let role_ref = Some(rbac::RoleRef {
            api_group: s(""),
            kind: s("Role"),
            name: s("r"),
        });
        let rb = rbac::RoleBinding {
            metadata: meta_named("rb"),
            subjects: subjects.clone(),
            role_ref: role_ref.clone(),
        };
        let want_body = json!({
            "metadata": {"name": "rb"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
            ],
            "roleRef": {"apiGroup": "", "kind": "Role", "name": "r"},
        });
        for kind in ["RoleBinding", "ClusterRoleBinding"] {
            let got = if kind == "RoleBinding" {
                decode("rbac.authorization.k8s.io/v1", kind, &rb)
            } else {
                let crb = rbac::ClusterRoleBinding {
                    metadata: meta_named("rb"),
                    subjects: subjects.clone(),
                    role_ref: role_ref.clone(),
                };
                decode("rbac.authorization.k8s.io/v1", kind, &crb)
            };
            let mut want = want_body.clone();
            want["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
            want["kind"] = json!(kind);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn token_request_with_attestations() {
        let tr = authn::TokenRequest {
            metadata: meta_named("sa"),
            spec: Some(authn::TokenRequestSpec {
                audiences: strs(&["https://kubernetes.default.svc"]),
                expiration_seconds: Some(600),
                bound_object_ref: Some(authn::BoundObjectReference {
                    kind: s("Pod"),
                    api_version: s("v1"),
                    name: s("p"),
                    u_id: s("pod-uid"),
                }),
            }),
            status: Some(authn::TokenRequestStatus {
                token: s(""),
                expiration_timestamp: Some(meta::Time::default()),
            }),
        };
        // k8s-pb 0.9 predates `attestations` (spec field 5, map<string, {1: repeated
        // string}>): append it by hand inside the spec (concatenated messages merge).
        let entry = [b"\x0a\x03key\x12\x05".as_slice(), b"\x0a\x03one"].concat();
        let attestation = [&[0x2a, entry.len() as u8][..], &entry].concat();
        let spec_extra = [&[0x12, attestation.len() as u8][..], &attestation].concat();
        let raw = [tr.encode_to_vec(), spec_extra].concat();
        let got = decode_object(&envelope_raw(
            "authentication.k8s.io/v1",
            "TokenRequest",
            raw,
        ))
        .unwrap();
        assert_eq!(
            got,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"name": "sa"},
                "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 600,
                    "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "pod-uid"},
                    "attestations": {"key": ["one"]}},
                "status": {"token": "", "expirationTimestamp": null}})
        );
    }

    fn user_info() -> Option<authn::UserInfo> {
        Some(authn::UserInfo {
            username: s("alice"),
            uid: s("1"),
            groups: strs(&["g1", "g2"]),
            extra: [(
                "k".to_owned(),
                authn::ExtraValue {
                    items: strs(&["v"]),
                },
            )]
            .into(),
        })
    }

    #[test]
    fn token_review_and_self_subject_review() {
        let review = authn::TokenReview {
            metadata: Some(Default::default()),
            spec: Some(authn::TokenReviewSpec {
                token: s("abc"),
                audiences: strs(&["api"]),
            }),
            status: Some(authn::TokenReviewStatus {
                authenticated: Some(false),
                user: user_info(),
                audiences: vec![],
                error: s(""),
            }),
        };
        let user_json = json!({"username": "alice", "uid": "1", "groups": ["g1", "g2"],
            "extra": {"k": ["v"]}});
        assert_eq!(
            decode("authentication.k8s.io/v1", "TokenReview", &review),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {},
                "spec": {"token": "abc", "audiences": ["api"]},
                "status": {"user": user_json}})
        );
        let ssr = authn::SelfSubjectReview {
            metadata: Some(Default::default()),
            status: Some(authn::SelfSubjectReviewStatus {
                user_info: user_info(),
            }),
        };
        assert_eq!(
            decode("authentication.k8s.io/v1", "SelfSubjectReview", &ssr),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                "metadata": {}, "status": {"userInfo": user_json}})
        );
    }

    fn resource_attributes() -> Option<authz::ResourceAttributes> {
        Some(authz::ResourceAttributes {
            namespace: s("ns"),
            verb: s("list"),
            group: s("apps"),
            version: s("v1"),
            resource: s("deployments"),
            subresource: s("scale"),
            name: s(""),
            field_selector: Some(authz::FieldSelectorAttributes {
                raw_selector: s("spec.x=y"),
                requirements: vec![meta::FieldSelectorRequirement {
                    key: s("spec.x"),
                    operator: s("In"),
                    values: strs(&["y"]),
                }],
            }),
            label_selector: Some(authz::LabelSelectorAttributes {
                raw_selector: s(""),
                requirements: vec![meta::LabelSelectorRequirement {
                    key: s("app"),
                    operator: s("Exists"),
                    values: vec![],
                }],
            }),
        })
    }
    fn resource_attributes_json() -> Value {
        json!({"namespace": "ns", "verb": "list", "group": "apps", "version": "v1",
            "resource": "deployments", "subresource": "scale",
            "fieldSelector": {"rawSelector": "spec.x=y",
                "requirements": [{"key": "spec.x", "operator": "In", "values": ["y"]}]},
            "labelSelector": {"requirements": [{"key": "app", "operator": "Exists"}]}})
    }

    #[test]
    fn subject_access_reviews() {
        let spec = authz::SubjectAccessReviewSpec {
            resource_attributes: resource_attributes(),
            non_resource_attributes: None,
            user: s("bob"),
            groups: strs(&["devs"]),
            extra: [(
                "scope".to_owned(),
                authz::ExtraValue {
                    items: strs(&["x"]),
                },
            )]
            .into(),
            uid: s("9"),
        };
        let status = authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: Some(false),
            reason: s(""),
            evaluation_error: s("boom"),
        };
        let want_spec = json!({"resourceAttributes": resource_attributes_json(), "user": "bob",
            "groups": ["devs"], "extra": {"scope": ["x"]}, "uid": "9"});
        let want_status = json!({"allowed": false, "evaluationError": "boom"});
        let sar = authz::SubjectAccessReview {
            metadata: Some(Default::default()),
            spec: Some(spec.clone()),
            status: Some(status.clone()),
        };
        assert_eq!(
            decode("authorization.k8s.io/v1", "SubjectAccessReview", &sar),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "metadata": {}, "spec": want_spec, "status": want_status})
        );
        let lsar = authz::LocalSubjectAccessReview {
            metadata: Some(meta::ObjectMeta {
                namespace: s("ns"),
                ..Default::default()
            }),
            spec: Some(spec),
            status: None,
        };
        assert_eq!(
            decode("authorization.k8s.io/v1", "LocalSubjectAccessReview", &lsar),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                "metadata": {"namespace": "ns"}, "spec": want_spec})
        );
        let ssar = authz::SelfSubjectAccessReview {
            metadata: Some(Default::default()),
            spec: Some(authz::SelfSubjectAccessReviewSpec {
                resource_attributes: None,
                non_resource_attributes: Some(authz::NonResourceAttributes {
                    path: s("/logs"),
                    verb: s("get"),
                }),
            }),
            status: Some(authz::SubjectAccessReviewStatus {
                allowed: Some(true),
                denied: Some(true),
                reason: s("r"),
                evaluation_error: None,
            }),
        };
        assert_eq!(
            decode("authorization.k8s.io/v1", "SelfSubjectAccessReview", &ssar),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {}, "spec": {"nonResourceAttributes": {"path": "/logs", "verb": "get"}},
                "status": {"allowed": true, "denied": true, "reason": "r"}})
        );
    }

    #[test]
    fn self_subject_rules_review() {
        let ssrr = authz::SelfSubjectRulesReview {
            metadata: Some(Default::default()),
            spec: Some(authz::SelfSubjectRulesReviewSpec { namespace: s("ns") }),
            status: Some(authz::SubjectRulesReviewStatus {
                resource_rules: vec![authz::ResourceRule {
                    verbs: strs(&["*"]),
                    api_groups: strs(&["*"]),
                    resources: strs(&["pods"]),
                    resource_names: strs(&["p"]),
                }],
                non_resource_rules: vec![authz::NonResourceRule {
                    verbs: strs(&["get"]),
                    non_resource_ur_ls: strs(&["/api"]),
                }],
                incomplete: Some(false),
                evaluation_error: s(""),
            }),
        };
        assert_eq!(
            decode("authorization.k8s.io/v1", "SelfSubjectRulesReview", &ssrr),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "metadata": {}, "spec": {"namespace": "ns"},
                "status": {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"],
                    "resources": ["pods"], "resourceNames": ["p"]}],
                    "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api"]}],
                    "incomplete": false}})
        );
    }

    #[test]
    fn delete_options_under_any_group_version() {
        let opts = meta::DeleteOptions {
            grace_period_seconds: Some(0),
            preconditions: Some(meta::Preconditions {
                uid: s("u"),
                resource_version: s(""),
            }),
            orphan_dependents: None,
            propagation_policy: s("Foreground"),
            dry_run: strs(&["All"]),
            ignore_store_read_error_with_cluster_breaking_potential: Some(false),
        };
        for api_version in ["meta.k8s.io/v1", "v1", "rbac.authorization.k8s.io/v1"] {
            assert_eq!(
                decode(api_version, "DeleteOptions", &opts),
                json!({"apiVersion": api_version, "kind": "DeleteOptions",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": "u", "resourceVersion": ""},
                    "propagationPolicy": "Foreground", "dryRun": ["All"],
                    "ignoreStoreReadErrorWithClusterBreakingPotential": false})
            );
        }
    }

    #[test]
    fn special_types_meta_condition_int_or_string_quantity() {
        let cond = meta::Condition {
            r#type: s("Ready"),
            status: s("True"),
            observed_generation: Some(0),
            last_transition_time: time(T, 0),
            reason: s(""),
            message: s("m"),
        };
        assert_eq!(
            decode_with(CONDITION, &cond).unwrap(),
            json!({"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-02T03:04:05Z",
                "reason": "", "message": "m"})
        );

        use k8s_pb::apimachinery::pkg::api::resource::Quantity as PbQuantity;
        use k8s_pb::apimachinery::pkg::util::intstr::IntOrString as PbIntOrString;
        const LAYOUT: &[Field] = &[k(1, "v", IntOrString)];
        const Q: &[Field] = &[k(1, "q", Quantity)];
        #[derive(Clone, PartialEq, prost::Message)]
        struct Holder {
            #[prost(message, optional, tag = "1")]
            v: Option<PbIntOrString>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct QHolder {
            #[prost(message, optional, tag = "1")]
            q: Option<PbQuantity>,
        }
        let int = Holder {
            v: Some(PbIntOrString {
                r#type: Some(0),
                int_val: Some(8080),
                str_val: None,
            }),
        };
        assert_eq!(decode_with(LAYOUT, &int).unwrap(), json!({"v": 8080}));
        let text = Holder {
            v: Some(PbIntOrString {
                r#type: Some(1),
                int_val: None,
                str_val: s("http"),
            }),
        };
        assert_eq!(decode_with(LAYOUT, &text).unwrap(), json!({"v": "http"}));
        let bad = Holder {
            v: Some(PbIntOrString {
                r#type: Some(2),
                ..Default::default()
            }),
        };
        assert!(matches!(
            decode_with(LAYOUT, &bad),
            Err(ProtobufError::InvalidValue { path, .. }) if path == "Test.v"
        ));
        let q = QHolder {
            q: Some(PbQuantity { string: s("500m") }),
        };
        assert_eq!(decode_with(Q, &q).unwrap(), json!({"q": "500m"}));
    }

    #[test]
    fn timestamps() {
        let fmt = |seconds, nanos, micro| {
            let ts = meta::Time {
                seconds: Some(seconds),
                nanos: Some(nanos),
            };
            timestamp(&ts.encode_to_vec(), micro, &Path::root("t"))
        };
        assert_eq!(fmt(0, 0, false).unwrap(), json!("1970-01-01T00:00:00Z"));
        assert_eq!(
            fmt(951_782_400, 0, false).unwrap(),
            json!("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            fmt(253_402_300_799, 0, false).unwrap(),
            json!("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            fmt(-62_167_219_200, 0, false).unwrap(),
            json!("0000-01-01T00:00:00Z")
        );
        assert_eq!(fmt(GO_ZERO_TIME, 0, false).unwrap(), Value::Null);
        assert_eq!(fmt(-1, 0, false).unwrap(), json!("1969-12-31T23:59:59Z"));
        // MicroTime truncates toward zero before normalising negative nanoseconds.
        assert_eq!(
            fmt(T, 1_999, true).unwrap(),
            json!("2024-01-02T03:04:05.000001Z")
        );
        assert_eq!(
            fmt(T, -1_500, true).unwrap(),
            json!("2024-01-02T03:04:04.999999Z")
        );
        assert_eq!(
            fmt(T, 2_000_000_000, true).unwrap(),
            json!("2024-01-02T03:04:07.000000Z")
        );
        assert!(matches!(
            fmt(i64::MAX, 0, false),
            Err(ProtobufError::InvalidValue { .. })
        ));
        assert!(matches!(
            fmt(i64::MIN, i32::MIN, true),
            Err(ProtobufError::InvalidValue { .. })
        ));
        assert!(matches!(
            fmt(253_402_300_800, 0, false),
            Err(ProtobufError::InvalidValue { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_skipped_and_messages_merge() {
        let cm = core::ConfigMap {
            metadata: meta_named("cm"),
            ..Default::default()
        };
        let mut raw = cm.encode_to_vec();
        // field 99 varint, field 98 fixed64, field 97 length-delimited, field 96 fixed32
        raw.extend_from_slice(&[0x98, 0x06, 0x96, 0x01]);
        raw.extend_from_slice(&[0x91, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
        raw.extend_from_slice(&[0x8a, 0x06, 2, 0xff, 0xfe]);
        raw.extend_from_slice(&[0x85, 0x06, 1, 2, 3, 4]);
        // a second metadata occurrence merges into the first
        raw.extend_from_slice(&[0x0a, 0x04, 0x1a, 0x02, b'n', b's']);
        assert_eq!(
            decode_object(&envelope_raw("v1", "ConfigMap", raw)).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": "ns"}})
        );
    }

    #[test]
    fn many_repeated_message_occurrences_stay_linear() {
        // 250 000 one-field `metadata` fragments (generation=1) merge into one message;
        // re-copying the accumulated bytes on every occurrence would take minutes.
        let raw = [0x0a, 0x02, 0x38, 0x01].repeat(250_000);
        let started = std::time::Instant::now();
        let got = decode_object(&envelope_raw("v1", "ConfigMap", raw)).unwrap();
        assert_eq!(got["metadata"], json!({"generation": 1}));
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn envelope_errors() {
        let cm = core::ConfigMap {
            metadata: meta_named("cm"),
            ..Default::default()
        };
        assert_eq!(decode_object(b""), Err(ProtobufError::MissingMagic));
        assert_eq!(
            decode_object(b"{\"kind\":\"x\"}"),
            Err(ProtobufError::MissingMagic)
        );
        assert!(matches!(
            decode_object(MAGIC),
            Err(ProtobufError::Malformed { .. })
        ));
        assert_eq!(
            decode_object(&envelope("v1", "Pod", &cm)),
            Err(ProtobufError::UnsupportedKind {
                api_version: "v1".into(),
                kind: "Pod".into()
            })
        );
        assert_eq!(
            decode_object(&envelope("apps/v1", "ConfigMap", &cm)),
            Err(ProtobufError::UnsupportedKind {
                api_version: "apps/v1".into(),
                kind: "ConfigMap".into()
            })
        );
        let gz = Unknown {
            type_meta: Some(TypeMeta {
                api_version: s("v1"),
                kind: s("ConfigMap"),
            }),
            raw: Some(cm.encode_to_vec()),
            content_encoding: s("gzip"),
            content_type: None,
        };
        assert_eq!(
            decode_object(&[MAGIC, &gz.encode_to_vec()].concat()),
            Err(ProtobufError::ContentEncoding("gzip".into()))
        );
    }

    #[test]
    fn wire_errors_carry_paths() {
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: s("cm"),
                labels: smap(&[("a", "b")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = envelope("v1", "ConfigMap", &cm);
        // Every strict prefix of a valid body fails cleanly (or is a valid shorter message).
        for cut in 0..body.len() {
            let _ = decode_object(&body[..cut]);
        }
        assert!(matches!(
            decode_object(&body[..body.len() - 1]),
            Err(ProtobufError::Truncated { .. })
        ));
        // Truncated inside the object: the length of `metadata` claims more than exists.
        let raw = [0x0a, 0x10, 0x0a, 0x02, b'c', b'm'].to_vec();
        assert_eq!(
            decode_object(&envelope_raw("v1", "ConfigMap", raw)),
            Err(ProtobufError::Truncated {
                path: "ConfigMap".into()
            })
        );
        let raw = [0x0a, 0x04, 0x0a, 0x05, b'c', b'm'].to_vec();
        assert_eq!(
            decode_object(&envelope_raw("v1", "ConfigMap", raw)),
            Err(ProtobufError::Truncated {
                path: "ConfigMap.metadata".into()
            })
        );
        // Invalid UTF-8 in metadata.name.
        let raw = [0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28].to_vec();
        assert_eq!(
            decode_object(&envelope_raw("v1", "ConfigMap", raw)),
            Err(ProtobufError::InvalidUtf8 {
                path: "ConfigMap.metadata.name".into()
            })
        );
        // Invalid UTF-8 in a map value, second entry.
        let raw = [
            &[0x0a, 0x0f, 0x5a, 0x05, 0x0a, 0x01, b'a', 0x12, 0x00][..],
            &[0x5a, 0x06, 0x0a, 0x01, b'b', 0x12, 0x01, 0xff],
        ]
        .concat();
        assert_eq!(
            decode_object(&envelope_raw("v1", "ConfigMap", raw)),
            Err(ProtobufError::InvalidUtf8 {
                path: "ConfigMap.metadata.labels[1].value".into()
            })
        );
        // Wrong wire type: immutable (bool) sent as length-delimited.
        let raw = [0x22, 0x00].to_vec();
        assert!(matches!(
            decode_object(&envelope_raw("v1", "ConfigMap", raw)),
            Err(ProtobufError::Malformed { path, .. }) if path == "ConfigMap.immutable"
        ));
        // Field number 0, groups, over-long varints.
        for raw in [
            vec![0x00, 0x01],
            vec![0x0b, 0x0c],
            vec![0x08; 1]
                .into_iter()
                .chain([0xff; 10])
                .collect::<Vec<u8>>(),
        ] {
            assert!(matches!(
                decode_object(&envelope_raw("v1", "ConfigMap", raw)),
                Err(ProtobufError::Malformed { .. })
            ));
        }
        // Bad embedded JSON in managedFields[0].fieldsV1.
        let bad = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                managed_fields: vec![meta::ManagedFieldsEntry {
                    fields_v1: Some(meta::FieldsV1 {
                        raw: Some(b"{not json".to_vec()),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            decode_object(&envelope("v1", "ConfigMap", &bad)),
            Err(ProtobufError::InvalidValue { path, .. })
                if path == "ConfigMap.metadata.managedFields[0].fieldsV1"
        ));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // Garbage nested 100 000 levels deep in an unknown/known field: skipped, no recursion.
        let mut inner: Vec<u8> = Vec::new();
        for _ in 0..100_000 {
            let mut len = Vec::new();
            let mut n = inner.len() as u64;
            loop {
                let b = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    len.push(b);
                    break;
                }
                len.push(b | 0x80);
            }
            inner = [&[0x0a][..], &len, &inner].concat();
            if inner.len() > 200_000 {
                break;
            }
        }
        let _ = decode_object(&envelope_raw("v1", "ConfigMap", inner.clone()));
        let _ = decode_object(&envelope_raw(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            inner,
        ));

        // A self-referential layout still stops at MAX_DEPTH.
        static RECURSIVE: [Field; 1] = [k(1, "child", Msg(&RECURSIVE))];
        let mut nested: Vec<u8> = Vec::new();
        for _ in 0..40 {
            nested = [&[0x0a, nested.len() as u8][..], &nested].concat();
        }
        assert!(matches!(
            decode_message(&nested, &RECURSIVE, &Path::root("R")),
            Err(ProtobufError::TooDeep { .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let samples: Vec<Vec<u8>> = [
            envelope(
                "v1",
                "ConfigMap",
                &core::ConfigMap {
                    metadata: meta_named("cm"),
                    data: smap(&[("a", "b")]),
                    ..Default::default()
                },
            ),
            envelope(
                "certificates.k8s.io/v1",
                "CertificateSigningRequest",
                &certs::CertificateSigningRequest {
                    metadata: meta_named("c"),
                    spec: Some(certs::CertificateSigningRequestSpec {
                        request: Some(vec![1, 2]),
                        extra: [(
                            "k".to_owned(),
                            certs::ExtraValue {
                                items: strs(&["v"]),
                            },
                        )]
                        .into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            envelope(
                "coordination.k8s.io/v1",
                "Lease",
                &coord::Lease {
                    metadata: meta_named("l"),
                    spec: Some(coord::LeaseSpec {
                        renew_time: micro(T, 5),
                        ..Default::default()
                    }),
                },
            ),
        ]
        .into();
        for i in 0..20_000 {
            let r = next();
            let body: Vec<u8> = if i % 2 == 0 {
                // Pure noise, half of it behind the magic prefix.
                let len = (r % 64) as usize;
                let noise = (0..len).map(|_| next() as u8);
                if i % 4 == 0 {
                    MAGIC.iter().copied().chain(noise).collect()
                } else {
                    noise.collect()
                }
            } else {
                // A valid body with a few random byte mutations.
                let mut b = samples[(r % 3) as usize].clone();
                for _ in 0..(1 + next() % 4) {
                    let pos = (next() as usize) % b.len();
                    b[pos] = next() as u8;
                }
                b
            };
            let _ = decode_object(&body);
        }
    }

    #[test]
    fn error_messages_are_readable() {
        let e = ProtobufError::InvalidUtf8 {
            path: "ConfigMap.metadata.name".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid UTF-8 in string field ConfigMap.metadata.name"
        );
        let e = ProtobufError::UnsupportedKind {
            api_version: "v1".into(),
            kind: "Pod".into(),
        };
        assert_eq!(
            e.to_string(),
            "protobuf decoding is not supported for kind \"Pod\" in \"v1\""
        );
    }
}
