//! Kubernetes RBAC evaluation over an incrementally maintained index.
//!
//! [`RbacIndex`] holds every Role, ClusterRole, RoleBinding and ClusterRoleBinding
//! (`rbac.authorization.k8s.io/v1` JSON, as stored) and answers:
//!
//! - [`RbacIndex::authorize`]: kube's RBAC authorizer. Allow-only: a request is allowed
//!   when some rule reachable through a ClusterRoleBinding, or through a RoleBinding in
//!   the request's namespace, matches it. Otherwise the decision is "no opinion"
//!   (`allowed: false`), with a reason only when role references could not be resolved.
//! - [`RbacIndex::rules_for`]: the rules of SelfSubjectRulesReview.
//! - [`RbacIndex::covers`] and the `check_*` helpers: the escalation prevention kube's
//!   RBAC storage applies to role and binding writes.
//! - ClusterRole aggregation: the effective rules of a ClusterRole with an
//!   `aggregationRule` are computed here (see [`RbacIndex::aggregated_rules`]) and
//!   [`RbacIndex::pending_aggregation_updates`] says which stored `.rules` the server
//!   should rewrite, as kube's aggregation controller does.
//!
//! Bindings are indexed by the subjects they can apply to (user name, service-account
//! user name, group), so a decision only looks at bindings naming the requester.
//!
//! The index is a value: cloning it is a handful of reference-count increments, and an
//! update on a shared clone copies only the maps it touches (copy on write). Keep it in
//! an `ArcSwap`-like cell (clone, update, publish) or behind a `RwLock`.
//!
//! Malformed objects never panic: a rule, subject or selector that does not have the
//! expected shape is skipped (a binding without a usable `roleRef` is dropped), which
//! can only ever grant less.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::registry::selector::LabelSelector;

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The user-name prefix of service accounts (`system:serviceaccount:<ns>:<name>`).
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The group kube-apiserver lets through before RBAC; see [`is_privileged`].
pub const SYSTEM_MASTERS: &str = "system:masters";

// ---------------------------------------------------------------------------------
// Request side
// ---------------------------------------------------------------------------------

// The request types are shared with authentication: `UserInfo` (kube's `user.Info`)
// lives in `api::user`, `Attributes` (kube's request info) in `auth::request`.
pub use super::request::Attributes;
pub use crate::api::user::UserInfo;

impl UserInfo {
    /// A user with a name and groups (no uid, no extra).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_string()).collect(),
            ..Default::default()
        }
    }
}

/// Whether the user is in `system:masters`, which kube-apiserver authorizes (and lets
/// escalate) without consulting RBAC. [`RbacIndex::authorize`] does not look at it.
pub fn is_privileged(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == SYSTEM_MASTERS)
}

impl Attributes {
    /// A resource request.
    pub fn resource(
        user: &UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            namespace: namespace.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            name: name.into(),
            resource_request: true,
            ..Default::default()
        }
    }

    /// A non-resource request (`verb` is the lower-case HTTP method).
    pub fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Self {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            path: path.into(),
            resource_request: false,
            ..Default::default()
        }
    }

    /// The same request on a subresource.
    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.into();
        self
    }
}

/// An authorization decision. `allowed: false` is kube's "no opinion" (a 403 when RBAC
/// is the last authorizer).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Decision {
    pub allowed: bool,
    /// When allowed, which binding allowed it (`RBAC: allowed by ...`); when denied,
    /// `""` or `RBAC: <errors resolving role references>`.
    pub reason: String,
}

/// The detail of kube's 403 for a denied request (`User "x" cannot get resource "pods"
/// in API group "" in the namespace "y"`), with `: <reason>` appended when the decision
/// has a reason. The HTTP layer wraps it as `<resource>.<group> "<name>" is forbidden: ...`.
pub fn forbidden_message(attrs: &Attributes, reason: &str) -> String {
    let user = go_quote(&attrs.user.name);
    let mut msg = if !attrs.resource_request {
        format!(
            "User {user} cannot {} path {}",
            attrs.verb,
            go_quote(&attrs.path)
        )
    } else {
        let mut resource = attrs.resource.clone();
        if !attrs.subresource.is_empty() {
            resource.push('/');
            resource.push_str(&attrs.subresource);
        }
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {}", go_quote(&attrs.namespace))
        };
        format!(
            "User {user} cannot {} resource {} in API group {} {scope}",
            attrs.verb,
            go_quote(&resource),
            go_quote(&attrs.api_group)
        )
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    msg
}

// ---------------------------------------------------------------------------------
// Policy objects
// ---------------------------------------------------------------------------------

/// One `rules[]` entry of a Role or ClusterRole. Absent lists are empty lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A rule over resources.
    pub fn resource(verbs: &[&str], api_groups: &[&str], resources: &[&str]) -> Self {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(api_groups),
            resources: strings(resources),
            ..Default::default()
        }
    }

    /// A rule over non-resource URLs.
    pub fn non_resource(verbs: &[&str], urls: &[&str]) -> Self {
        PolicyRule {
            verbs: strings(verbs),
            non_resource_urls: strings(urls),
            ..Default::default()
        }
    }

    /// The same rule limited to these resource names.
    pub fn with_names(mut self, names: &[&str]) -> Self {
        self.resource_names = strings(names);
        self
    }

    /// Reads one rule; `None` if it is not an object or a list is not a list of strings.
    pub fn from_value(v: &Value) -> Option<PolicyRule> {
        let obj = v.as_object()?;
        Some(PolicyRule {
            verbs: string_list(obj.get("verbs"))?,
            api_groups: string_list(obj.get("apiGroups"))?,
            resources: string_list(obj.get("resources"))?,
            resource_names: string_list(obj.get("resourceNames"))?,
            non_resource_urls: string_list(obj.get("nonResourceURLs"))?,
        })
    }

    /// Reads a `rules` list leniently: malformed entries are skipped, anything but an
    /// array is no rules.
    pub fn list_from_value(v: Option<&Value>) -> Vec<PolicyRule> {
        match v {
            Some(Value::Array(items)) => items.iter().filter_map(PolicyRule::from_value).collect(),
            _ => Vec::new(),
        }
    }

    /// Reads a `rules` list strictly (for escalation checks on writes): absent/null is no
    /// rules, any malformed entry is an error.
    pub fn list_from_value_strict(v: Option<&Value>) -> Result<Vec<PolicyRule>, String> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    PolicyRule::from_value(r).ok_or_else(|| format!("rules[{i}] is malformed"))
                })
                .collect(),
            Some(_) => Err("rules must be a list".into()),
        }
    }

    /// The rule as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// kube's `RuleAllows`: whether this rule matches the request.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.verb_matches(&attrs.verb) {
            return false;
        }
        if attrs.resource_request {
            self.api_group_matches(&attrs.api_group)
                && self.resource_matches(&attrs.resource, &attrs.subresource)
                && self.resource_name_matches(&attrs.name)
        } else {
            self.non_resource_url_matches(&attrs.path)
        }
    }

    fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    /// `*`, the exact `resource` or `resource/subresource`, or `*/subresource`. As in
    /// kube, `resource/*` is not a wildcard: it only matches a subresource named `*`.
    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            if r == "*" {
                return true;
            }
            if subresource.is_empty() {
                return r == resource;
            }
            // "resource/subresource" exactly, or "*/subresource".
            match r.split_once('/') {
                Some((res, sub)) => sub == subresource && (res == resource || res == "*"),
                None => false,
            }
        })
    }

    fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls
            .iter()
            .any(|u| non_resource_url_covers(u, path))
    }

    /// kube's compact rendering used in escalation messages, e.g.
    /// `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.api_groups.is_empty() {
            parts.push(format!("APIGroups:{}", go_quote_list(&self.api_groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:{}", go_quote_list(&self.resources)));
        }
        if !self.non_resource_urls.is_empty() {
            parts.push(format!(
                "NonResourceURLs:{}",
                go_quote_list(&self.non_resource_urls)
            ));
        }
        if !self.resource_names.is_empty() {
            parts.push(format!(
                "ResourceNames:{}",
                go_quote_list(&self.resource_names)
            ));
        }
        if !self.verbs.is_empty() {
            parts.push(format!("Verbs:{}", go_quote_list(&self.verbs)));
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// `ownerPath` covers `path`: equal, `*`, or a prefix pattern ending in `*`.
fn non_resource_url_covers(owner: &str, path: &str) -> bool {
    if owner == "*" || owner == path {
        return true;
    }
    match owner.strip_suffix('*') {
        Some(_) => path.starts_with(owner.trim_end_matches('*')),
        None => false,
    }
}

/// A `roleRef`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    pub kind: String,
    pub name: String,
}

impl RoleRef {
    /// Reads a `roleRef`; `None` unless `kind` and `name` are non-empty strings.
    pub fn from_value(v: &Value) -> Option<RoleRef> {
        let obj = v.as_object()?;
        let kind = obj.get("kind")?.as_str()?;
        let name = obj.get("name")?.as_str()?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let api_group = match obj.get("apiGroup") {
            None | Some(Value::Null) => String::new(),
            Some(v) => v.as_str()?.to_string(),
        };
        Some(RoleRef {
            api_group,
            kind: kind.into(),
            name: name.into(),
        })
    }

    /// A reference to a ClusterRole.
    pub fn cluster_role(name: &str) -> Self {
        RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: name.into(),
        }
    }

    /// A reference to a Role (in the binding's namespace).
    pub fn role(name: &str) -> Self {
        RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "Role".into(),
            name: name.into(),
        }
    }
}

/// A binding subject.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl Subject {
    fn from_value(v: &Value) -> Option<Subject> {
        let obj = v.as_object()?;
        let opt = |k: &str| -> Option<String> {
            match obj.get(k) {
                None | Some(Value::Null) => Some(String::new()),
                Some(v) => v.as_str().map(str::to_string),
            }
        };
        Some(Subject {
            kind: obj.get("kind")?.as_str()?.to_string(),
            api_group: opt("apiGroup")?,
            name: obj.get("name")?.as_str()?.to_string(),
            namespace: opt("namespace")?,
        })
    }

    /// kube's `appliesToUser`. `binding_namespace` defaults a ServiceAccount subject's
    /// namespace (RoleBindings only; `""` for ClusterRoleBindings). The subject's
    /// `apiGroup` is not consulted, as in kube (validation enforces it on write).
    pub fn applies_to(&self, user: &UserInfo, binding_namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => match self.service_account_user(binding_namespace) {
                Some(sa) => sa == user.name,
                None => false,
            },
            _ => false,
        }
    }

    /// The user name a ServiceAccount subject stands for.
    fn service_account_user(&self, binding_namespace: &str) -> Option<String> {
        let ns = if self.namespace.is_empty() {
            binding_namespace
        } else {
            self.namespace.as_str()
        };
        if ns.is_empty() {
            return None;
        }
        Some(format!("{SERVICE_ACCOUNT_PREFIX}{ns}:{}", self.name))
    }

    /// kube's `describeSubject` (`ServiceAccount "name/namespace"`, `User "name"`).
    fn describe(&self, binding_namespace: &str) -> String {
        if self.kind == "ServiceAccount" {
            let ns = if self.namespace.is_empty() {
                binding_namespace
            } else {
                self.namespace.as_str()
            };
            format!(
                "{} {}",
                self.kind,
                go_quote(&format!("{}/{}", self.name, ns))
            )
        } else {
            format!("{} {}", self.kind, go_quote(&self.name))
        }
    }
}

// ---------------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------------

type Name = Arc<str>;
type Rules = Arc<[PolicyRule]>;

#[derive(Debug)]
enum Aggregation {
    /// Effective rules are the union of the selected ClusterRoles' rules.
    Selectors(Vec<LabelSelector>),
    /// Some selector is invalid: kube's controller fails and leaves `.rules` alone.
    Invalid,
}

#[derive(Debug)]
struct ClusterRoleEntry {
    labels: BTreeMap<String, String>,
    stored: Rules,
    aggregation: Option<Aggregation>,
}

impl ClusterRoleEntry {
    fn selectors(&self) -> &[LabelSelector] {
        match &self.aggregation {
            Some(Aggregation::Selectors(s)) => s,
            _ => &[],
        }
    }
}

#[derive(Debug)]
struct Binding {
    name: Name,
    /// `""` for ClusterRoleBindings.
    namespace: Name,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

impl Binding {
    fn from_value(obj: &Value, name: &str, namespace: &str) -> Option<Binding> {
        let role_ref = RoleRef::from_value(obj.get("roleRef")?)?;
        let subjects = match obj.get("subjects") {
            Some(Value::Array(items)) => items.iter().filter_map(Subject::from_value).collect(),
            _ => Vec::new(),
        };
        Some(Binding {
            name: name.into(),
            namespace: namespace.into(),
            role_ref,
            subjects,
        })
    }

    fn first_applying_subject(&self, user: &UserInfo) -> Option<&Subject> {
        self.subjects
            .iter()
            .find(|s| s.applies_to(user, &self.namespace))
    }

    /// kube's binding describers, used in `RBAC: allowed by ...`.
    fn describe(&self, subject: &Subject) -> String {
        let target = format!("{} {}", self.role_ref.kind, go_quote(&self.role_ref.name));
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding {} of {target} to {}",
                go_quote(&self.name),
                subject.describe("")
            )
        } else {
            format!(
                "RoleBinding {} of {target} to {}",
                go_quote(&format!("{}/{}", self.name, self.namespace)),
                subject.describe(&self.namespace)
            )
        }
    }
}

/// Bindings of one scope (the cluster, or one namespace), indexed by subject.
#[derive(Clone, Debug, Default)]
struct BindingSet {
    by_name: HashMap<Name, Arc<Binding>>,
    /// User subjects and ServiceAccount subjects, keyed by the user name they match.
    by_user: HashMap<Name, BTreeMap<Name, Arc<Binding>>>,
    by_group: HashMap<Name, BTreeMap<Name, Arc<Binding>>>,
}

impl BindingSet {
    fn keys(b: &Binding) -> Vec<(bool, String)> {
        let mut keys: Vec<(bool, String)> = Vec::new();
        for s in &b.subjects {
            let key = match s.kind.as_str() {
                "User" => (false, s.name.clone()),
                "Group" => (true, s.name.clone()),
                "ServiceAccount" => match s.service_account_user(&b.namespace) {
                    Some(u) => (false, u),
                    None => continue,
                },
                _ => continue,
            };
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    fn insert(&mut self, binding: Binding) {
        self.remove(&binding.name);
        let binding = Arc::new(binding);
        for (is_group, key) in Self::keys(&binding) {
            let map = if is_group {
                &mut self.by_group
            } else {
                &mut self.by_user
            };
            map.entry(Name::from(key))
                .or_default()
                .insert(binding.name.clone(), binding.clone());
        }
        self.by_name.insert(binding.name.clone(), binding);
    }

    fn remove(&mut self, name: &str) -> bool {
        let Some(old) = self.by_name.remove(name) else {
            return false;
        };
        for (is_group, key) in Self::keys(&old) {
            let map = if is_group {
                &mut self.by_group
            } else {
                &mut self.by_user
            };
            if let Some(set) = map.get_mut(key.as_str()) {
                set.remove(name);
                if set.is_empty() {
                    map.remove(key.as_str());
                }
            }
        }
        true
    }

    /// The bindings that may apply to `user`, ordered by name, each once.
    fn candidates<'a>(&'a self, user: &UserInfo) -> Vec<&'a Arc<Binding>> {
        let mut out: Vec<&Arc<Binding>> = Vec::new();
        let mut sources = 0;
        if let Some(set) = self.by_user.get(user.name.as_str()) {
            out.extend(set.values());
            sources += 1;
        }
        for g in &user.groups {
            if let Some(set) = self.by_group.get(g.as_str()) {
                out.extend(set.values());
                sources += 1;
            }
        }
        if sources > 1 {
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out.dedup_by(|a, b| a.name == b.name);
        }
        out
    }
}

#[derive(Clone, Debug, Default)]
struct NamespaceData {
    roles: HashMap<Name, Rules>,
    bindings: BindingSet,
}

impl NamespaceData {
    fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.bindings.by_name.is_empty()
    }
}

/// Where a rule came from: a binding and the subject of it that matched the user.
#[derive(Clone, Copy)]
struct Source<'a> {
    binding: &'a Binding,
    subject: &'a Subject,
}

/// The RBAC objects of the cluster, indexed for authorization. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct RbacIndex {
    cluster_roles: Arc<BTreeMap<Name, Arc<ClusterRoleEntry>>>,
    /// Effective rules of every ClusterRole (aggregation applied).
    effective: Arc<HashMap<Name, Rules>>,
    cluster_bindings: Arc<BindingSet>,
    namespaces: Arc<HashMap<Name, Arc<NamespaceData>>>,
}

/// A ClusterRole whose stored `.rules` differ from its aggregated rules; the server
/// should write `rules` into it (kube's aggregation controller does the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregationUpdate {
    pub name: String,
    pub rules: Vec<PolicyRule>,
}

impl AggregationUpdate {
    /// Replaces `.rules` of the stored ClusterRole object with the aggregated rules.
    pub fn apply_to(&self, cluster_role: &mut Value) {
        if let Some(obj) = cluster_role.as_object_mut() {
            obj.insert(
                "rules".into(),
                Value::Array(self.rules.iter().map(PolicyRule::to_value).collect()),
            );
        }
    }
}

/// The rules a user has in a namespace (SelfSubjectRulesReview `status`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesReview {
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
    pub incomplete: bool,
    /// Role references that could not be resolved (kube's `evaluationError`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_error: Option<String>,
}

/// `status.resourceRules[]` of SelfSubjectRulesReview.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// `status.nonResourceRules[]` of SelfSubjectRulesReview.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

impl RbacIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index of these `(kind, object)` pairs.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Self {
        let mut idx = Self::new();
        for (kind, obj) in objects {
            idx.upsert(kind, obj);
        }
        idx
    }

    /// Adds or replaces an object of kind `Role`, `ClusterRole`, `RoleBinding` or
    /// `ClusterRoleBinding` (from an ADDED/MODIFIED watch event). Returns whether it was
    /// indexed: an unknown kind or an object without name (or namespace, for namespaced
    /// kinds) is ignored; a binding without a usable `roleRef` is dropped (and any
    /// previous version of it removed).
    pub fn upsert(&mut self, kind: &str, object: &Value) -> bool {
        let meta = object.get("metadata");
        let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return false;
        };
        match kind {
            "ClusterRole" => {
                self.upsert_cluster_role(name, object);
                true
            }
            "ClusterRoleBinding" => {
                let set = Arc::make_mut(&mut self.cluster_bindings);
                match Binding::from_value(object, name, "") {
                    Some(b) => {
                        set.insert(b);
                        true
                    }
                    None => {
                        set.remove(name);
                        false
                    }
                }
            }
            "Role" | "RoleBinding" if !namespace.is_empty() => {
                let namespaces = Arc::make_mut(&mut self.namespaces);
                let ns = Arc::make_mut(namespaces.entry(Name::from(namespace)).or_default());
                let indexed = if kind == "Role" {
                    let rules: Rules = PolicyRule::list_from_value(object.get("rules")).into();
                    ns.roles.insert(Name::from(name), rules);
                    true
                } else {
                    match Binding::from_value(object, name, namespace) {
                        Some(b) => {
                            ns.bindings.insert(b);
                            true
                        }
                        None => {
                            ns.bindings.remove(name);
                            false
                        }
                    }
                };
                if ns.is_empty() {
                    namespaces.remove(namespace);
                }
                indexed
            }
            _ => false,
        }
    }

    /// Removes an object (from a DELETED watch event); `namespace` is `""` for
    /// cluster-scoped kinds. Returns whether something was removed.
    pub fn remove(&mut self, kind: &str, namespace: &str, name: &str) -> bool {
        match kind {
            "ClusterRole" => {
                if !self.cluster_roles.contains_key(name) {
                    return false;
                }
                let old = Arc::make_mut(&mut self.cluster_roles).remove(name);
                let reaggregate = old
                    .as_ref()
                    .is_some_and(|o| o.aggregation.is_some() || self.selected(&o.labels));
                if reaggregate {
                    self.recompute_aggregation();
                } else {
                    Arc::make_mut(&mut self.effective).remove(name);
                }
                true
            }
            "ClusterRoleBinding" => {
                if !self.cluster_bindings.by_name.contains_key(name) {
                    return false;
                }
                Arc::make_mut(&mut self.cluster_bindings).remove(name)
            }
            "Role" | "RoleBinding" => {
                let present = self.namespaces.get(namespace).is_some_and(|ns| {
                    if kind == "Role" {
                        ns.roles.contains_key(name)
                    } else {
                        ns.bindings.by_name.contains_key(name)
                    }
                });
                if !present {
                    return false;
                }
                let namespaces = Arc::make_mut(&mut self.namespaces);
                if let Some(entry) = namespaces.get_mut(namespace) {
                    let ns = Arc::make_mut(entry);
                    if kind == "Role" {
                        ns.roles.remove(name);
                    } else {
                        ns.bindings.remove(name);
                    }
                    if ns.is_empty() {
                        namespaces.remove(namespace);
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn upsert_cluster_role(&mut self, name: &str, object: &Value) {
        let labels = object
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let aggregation = match object.get("aggregationRule") {
            None | Some(Value::Null) => None,
            Some(Value::Object(rule)) => match rule.get("clusterRoleSelectors") {
                None | Some(Value::Null) => Some(Aggregation::Selectors(Vec::new())),
                Some(Value::Array(sels)) => Some(
                    sels.iter()
                        // kube's controller reads each selector with
                        // `LabelSelectorAsSelector`; a list element is a Go value, so
                        // `null` is the empty selector (everything).
                        .map(|s| LabelSelector::from_object(s).ok())
                        .collect::<Option<Vec<_>>>()
                        .map_or(Aggregation::Invalid, Aggregation::Selectors),
                ),
                Some(_) => Some(Aggregation::Invalid),
            },
            Some(_) => Some(Aggregation::Invalid),
        };
        let entry = ClusterRoleEntry {
            labels,
            stored: PolicyRule::list_from_value(object.get("rules")).into(),
            aggregation,
        };
        let old = self.cluster_roles.get(name).cloned();
        let reaggregate = entry.aggregation.is_some()
            || self.selected(&entry.labels)
            || old
                .as_ref()
                .is_some_and(|o| o.aggregation.is_some() || self.selected(&o.labels));
        let stored = entry.stored.clone();
        Arc::make_mut(&mut self.cluster_roles).insert(Name::from(name), Arc::new(entry));
        if reaggregate {
            self.recompute_aggregation();
        } else {
            Arc::make_mut(&mut self.effective).insert(Name::from(name), stored);
        }
    }

    /// Whether a ClusterRole with these labels is selected by some aggregated role.
    fn selected(&self, labels: &BTreeMap<String, String>) -> bool {
        self.cluster_roles
            .values()
            .any(|r| r.selectors().iter().any(|s| s.matches_labels(labels)))
    }

    /// Recomputes the effective rules of every ClusterRole: the least fixed point of
    /// "an aggregated role has the rules of the roles it selects" (kube's controller
    /// reaches the same state by re-running on every change). Within one aggregated
    /// role, rules appear in the controller's order: by selector, then by role name,
    /// first occurrence kept.
    fn recompute_aggregation(&mut self) {
        let mut eff: HashMap<Name, Rules> = HashMap::with_capacity(self.cluster_roles.len());
        let mut aggregated: Vec<(&Name, &[LabelSelector])> = Vec::new();
        for (name, role) in self.cluster_roles.iter() {
            match &role.aggregation {
                Some(Aggregation::Selectors(sels)) => {
                    eff.insert(name.clone(), Rules::from(Vec::new()));
                    aggregated.push((name, sels));
                }
                _ => {
                    eff.insert(name.clone(), role.stored.clone());
                }
            }
        }
        // Each pass settles at least one more level of nesting; the bound only guards
        // against pathological cycles that keep reordering.
        for _ in 0..(2 * aggregated.len() + 2) {
            let mut changed = false;
            for (name, sels) in &aggregated {
                let mut rules: Vec<PolicyRule> = Vec::new();
                for sel in sels.iter() {
                    for (other, role) in self.cluster_roles.iter() {
                        if other == *name || !sel.matches_labels(&role.labels) {
                            continue;
                        }
                        if let Some(other_rules) = eff.get(other) {
                            for r in other_rules.iter() {
                                if !rules.contains(r) {
                                    rules.push(r.clone());
                                }
                            }
                        }
                    }
                }
                if eff.get(*name).is_none_or(|cur| **cur != rules[..]) {
                    eff.insert((*name).clone(), rules.into());
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self.effective = Arc::new(eff);
    }

    /// The effective rules of a ClusterRole: for an aggregated one, the union of the
    /// rules of the ClusterRoles it selects; otherwise its own rules. Empty when there is
    /// no such ClusterRole.
    pub fn aggregated_rules(&self, name: &str) -> Vec<PolicyRule> {
        self.effective
            .get(name)
            .map(|r| r.to_vec())
            .unwrap_or_default()
    }

    /// Aggregated ClusterRoles whose stored `.rules` differ from their effective rules,
    /// by name. The server persists these (as kube's aggregation controller would); the
    /// write comes back through [`RbacIndex::upsert`] and the role drops off this list.
    pub fn pending_aggregation_updates(&self) -> Vec<AggregationUpdate> {
        self.cluster_roles
            .iter()
            .filter(|(_, r)| matches!(r.aggregation, Some(Aggregation::Selectors(_))))
            .filter_map(|(name, r)| {
                let eff = self.effective.get(name)?;
                (**eff != *r.stored).then(|| AggregationUpdate {
                    name: name.to_string(),
                    rules: eff.to_vec(),
                })
            })
            .collect()
    }

    /// The rules of a Role (`None` if absent).
    pub fn role_rules(&self, namespace: &str, name: &str) -> Option<Vec<PolicyRule>> {
        self.namespaces
            .get(namespace)
            .and_then(|ns| ns.roles.get(name))
            .map(|r| r.to_vec())
    }

    /// kube's `GetRoleReferenceRules`: the rules a roleRef grants, for a binding in
    /// `binding_namespace` (`""` for ClusterRoleBindings). Errors in kube's lister wording.
    fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<&Rules, String> {
        match role_ref.kind.as_str() {
            "ClusterRole" => self.effective.get(role_ref.name.as_str()).ok_or_else(|| {
                format!(
                    "clusterrole.{RBAC_GROUP} {} not found",
                    go_quote(&role_ref.name)
                )
            }),
            "Role" => self
                .namespaces
                .get(binding_namespace)
                .and_then(|ns| ns.roles.get(role_ref.name.as_str()))
                .ok_or_else(|| format!("role.{RBAC_GROUP} {} not found", go_quote(&role_ref.name))),
            other => Err(format!(
                "unsupported role reference kind: {}",
                go_quote(other)
            )),
        }
    }

    /// Visits every rule that applies to `user` in `namespace`: ClusterRoleBindings
    /// first, then the namespace's RoleBindings, each in name order. `visit` returns
    /// `false` to stop. Role references that do not resolve are collected in `errors`.
    fn visit_rules<'a>(
        &'a self,
        user: &UserInfo,
        namespace: &str,
        errors: &mut Vec<String>,
        mut visit: impl FnMut(Source<'a>, &'a PolicyRule) -> bool,
    ) {
        let mut scopes: [Option<&'a BindingSet>; 2] = [Some(&self.cluster_bindings), None];
        if !namespace.is_empty() {
            scopes[1] = self.namespaces.get(namespace).map(|ns| &ns.bindings);
        }
        for set in scopes.into_iter().flatten() {
            for binding in set.candidates(user) {
                let Some(subject) = binding.first_applying_subject(user) else {
                    continue;
                };
                let rules = match self.role_ref_rules(&binding.role_ref, &binding.namespace) {
                    Ok(r) => r,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                let source = Source { binding, subject };
                for rule in rules.iter() {
                    if !visit(source, rule) {
                        return;
                    }
                }
            }
        }
    }

    /// kube's RBAC authorizer. `system:masters` is not special here.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        let mut errors = Vec::new();
        let mut allowed_by: Option<Source<'_>> = None;
        self.visit_rules(
            &attrs.user,
            &attrs.namespace,
            &mut errors,
            |source, rule| {
                if rule.allows(attrs) {
                    allowed_by = Some(source);
                    false
                } else {
                    true
                }
            },
        );
        match allowed_by {
            Some(src) => Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", src.binding.describe(src.subject)),
            },
            None => Decision {
                allowed: false,
                reason: if errors.is_empty() {
                    String::new()
                } else {
                    format!("RBAC: {}", aggregate_errors(&errors))
                },
            },
        }
    }

    /// Shorthand for `authorize(attrs).allowed`.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        self.authorize(attrs).allowed
    }

    /// Every rule granted to `user` in `namespace` (ClusterRoleBindings plus the
    /// namespace's RoleBindings), with the resolution errors met on the way.
    pub fn policy_rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<PolicyRule>, Vec<String>) {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        self.visit_rules(user, namespace, &mut errors, |_, r| {
            rules.push(r.clone());
            true
        });
        (rules, errors)
    }

    /// SelfSubjectRulesReview: the rules `user` has in `namespace` (cluster-wide
    /// bindings plus the namespace's), split into resource and non-resource rules as
    /// kube does (a rule with both lists appears in both). Duplicates are kept.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> RulesReview {
        let (rules, errors) = self.policy_rules_for(user, namespace);
        let mut review = RulesReview::default();
        for r in rules {
            if !r.resources.is_empty() {
                review.resource_rules.push(ResourceRule {
                    verbs: r.verbs.clone(),
                    api_groups: r.api_groups.clone(),
                    resources: r.resources.clone(),
                    resource_names: r.resource_names.clone(),
                });
            }
            if !r.non_resource_urls.is_empty() {
                review.non_resource_rules.push(NonResourceRule {
                    verbs: r.verbs,
                    non_resource_urls: r.non_resource_urls,
                });
            }
        }
        if !errors.is_empty() {
            review.evaluation_error = Some(aggregate_errors(&errors));
        }
        review
    }

    /// Whether `user`'s own rules in `namespace` cover `rules` (kube's `Covers` against
    /// the user's `RulesFor`); on failure, the uncovered rules broken down to one verb,
    /// group, resource (or URL) and name each.
    pub fn covers(
        &self,
        user: &UserInfo,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), Vec<PolicyRule>> {
        let (owned, _) = self.policy_rules_for(user, namespace);
        covers(&owned, rules)
    }

    /// kube's `ConfirmNoEscalation`: `Ok` if `user` already holds every rule in
    /// `namespace` (`""` for ClusterRoles and ClusterRoleBindings), else kube's message.
    pub fn confirm_no_escalation(
        &self,
        user: &UserInfo,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), String> {
        let (owned, errors) = self.policy_rules_for(user, namespace);
        covers(&owned, rules).map_err(|missing| escalation_message(user, &missing, &errors))
    }

    /// kube's `RoleEscalationAuthorized`: `escalate` on `roles`/`clusterroles` (group
    /// `rbac.authorization.k8s.io`) for this name in this namespace.
    pub fn role_escalation_authorized(
        &self,
        user: &UserInfo,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> bool {
        if resource != "roles" && resource != "clusterroles" {
            return false;
        }
        self.allows(&Attributes::resource(
            user, "escalate", RBAC_GROUP, resource, namespace, name,
        ))
    }

    /// kube's `BindingAuthorized`: `bind` on the referenced role (group and name from the
    /// roleRef), checked in the binding's namespace (`""` for ClusterRoleBindings).
    pub fn binding_authorized(
        &self,
        user: &UserInfo,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> bool {
        let resource = match role_ref.kind.as_str() {
            "ClusterRole" => "clusterroles",
            "Role" => "roles",
            _ => return false,
        };
        self.allows(&Attributes::resource(
            user,
            "bind",
            &role_ref.api_group,
            resource,
            binding_namespace,
            &role_ref.name,
        ))
    }

    /// Whether `user` may create a binding to `role_ref` in `binding_namespace`: see
    /// [`RbacIndex::check_binding_write`].
    pub fn may_bind(&self, user: &UserInfo, role_ref: &RoleRef, binding_namespace: &str) -> bool {
        self.check_binding_write(user, role_ref, binding_namespace, false)
            .is_ok()
    }

    /// kube's RBAC storage check on a RoleBinding/ClusterRoleBinding create or update:
    /// allowed for `system:masters`, for updates that only touch ownerReferences or
    /// finalizers (pass `gc_only_update` = [`is_only_mutating_gc_fields`]`(new, old)`
    /// on update, `false` on create), with `bind` on the role, or when the user already
    /// holds every rule of the referenced role in `binding_namespace` (`""` for a
    /// ClusterRoleBinding). A missing role is [`EscalationError::RoleRefNotFound`].
    pub fn check_binding_write(
        &self,
        user: &UserInfo,
        role_ref: &RoleRef,
        binding_namespace: &str,
        gc_only_update: bool,
    ) -> Result<(), EscalationError> {
        if is_privileged(user) || gc_only_update {
            return Ok(());
        }
        if self.binding_authorized(user, role_ref, binding_namespace) {
            return Ok(());
        }
        let rules = match role_ref.kind.as_str() {
            "ClusterRole" => self.effective.get(role_ref.name.as_str()),
            "Role" => self
                .namespaces
                .get(binding_namespace)
                .and_then(|ns| ns.roles.get(role_ref.name.as_str())),
            other => return Err(EscalationError::UnsupportedRoleRefKind(other.to_string())),
        };
        let Some(rules) = rules else {
            return Err(EscalationError::RoleRefNotFound {
                resource: if role_ref.kind == "Role" {
                    "roles"
                } else {
                    "clusterroles"
                },
                name: role_ref.name.clone(),
            });
        };
        self.confirm(user, binding_namespace, rules)
    }

    /// kube's RBAC storage check on a Role/ClusterRole create (`old: None`) or update:
    /// allowed for `system:masters`, with `escalate` on the role, for updates that only
    /// touch ownerReferences or finalizers, or when the user already holds every rule in
    /// `namespace` (`""` for ClusterRoles). Setting (or changing away from) an
    /// `aggregationRule` additionally needs `*` on everything.
    pub fn check_role_write(
        &self,
        user: &UserInfo,
        resource: &str,
        namespace: &str,
        new: &Value,
        old: Option<&Value>,
    ) -> Result<(), EscalationError> {
        if is_privileged(user) {
            return Ok(());
        }
        // kube checks `escalate` with the request's name, which is empty on create.
        let name = match old {
            Some(_) => new
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(""),
            None => "",
        };
        if self.role_escalation_authorized(user, resource, namespace, name) {
            return Ok(());
        }
        if let Some(old) = old
            && is_only_mutating_gc_fields(new, old)
        {
            return Ok(());
        }
        let rules = PolicyRule::list_from_value_strict(new.get("rules"))
            .map_err(EscalationError::Invalid)?;
        self.confirm(user, namespace, &rules)?;
        if resource == "clusterroles"
            && (has_aggregation_rule(new) || old.is_some_and(has_aggregation_rule))
        {
            let full = [
                PolicyRule::resource(&["*"], &["*"], &["*"]),
                PolicyRule::non_resource(&["*"], &["*"]),
            ];
            if self.confirm(user, namespace, &full).is_err() {
                return Err(EscalationError::AggregationRuleNeedsClusterAdmin);
            }
        }
        Ok(())
    }

    fn confirm(
        &self,
        user: &UserInfo,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), EscalationError> {
        let (owned, errors) = self.policy_rules_for(user, namespace);
        covers(&owned, rules).map_err(|uncovered| EscalationError::NotHeld {
            message: escalation_message(user, &uncovered, &errors),
            uncovered,
        })
    }
}

/// Why a role or binding write is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EscalationError {
    /// 403: the user would grant permissions they do not hold (kube's message).
    NotHeld {
        message: String,
        uncovered: Vec<PolicyRule>,
    },
    /// 403: only holders of `*` on everything may use `aggregationRule`.
    AggregationRuleNeedsClusterAdmin,
    /// 404: the binding's role does not exist (kube returns the NotFound as is).
    RoleRefNotFound {
        resource: &'static str,
        name: String,
    },
    /// 400-ish: validation should have refused the roleRef kind.
    UnsupportedRoleRefKind(String),
    /// 400-ish: the role's rules are malformed.
    Invalid(String),
}

impl std::fmt::Display for EscalationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EscalationError::NotHeld { message, .. } => f.write_str(message),
            EscalationError::AggregationRuleNeedsClusterAdmin => {
                f.write_str("must have cluster-admin privileges to use the aggregationRule")
            }
            EscalationError::RoleRefNotFound { resource, name } => {
                write!(f, "{resource}.{RBAC_GROUP} {} not found", go_quote(name))
            }
            EscalationError::UnsupportedRoleRefKind(kind) => {
                write!(f, "unsupported role reference kind: {}", go_quote(kind))
            }
            EscalationError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for EscalationError {}

impl EscalationError {
    /// The HTTP status kube answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            EscalationError::NotHeld { .. } | EscalationError::AggregationRuleNeedsClusterAdmin => {
                403
            }
            EscalationError::RoleRefNotFound { .. } => 404,
            EscalationError::UnsupportedRoleRefKind(_) | EscalationError::Invalid(_) => 400,
        }
    }

    /// kube's Forbidden/NotFound message for a write of `resource` (e.g.
    /// `clusterroles`) named `name`: `<resource>.rbac.authorization.k8s.io "<name>" is
    /// forbidden: <detail>`.
    pub fn message_for(&self, resource: &str, name: &str) -> String {
        match self {
            EscalationError::NotHeld { .. } | EscalationError::AggregationRuleNeedsClusterAdmin => {
                format!(
                    "{resource}.{RBAC_GROUP} {} is forbidden: {self}",
                    go_quote(name)
                )
            }
            _ => self.to_string(),
        }
    }
}

/// Whether a ClusterRole object has a non-empty `aggregationRule.clusterRoleSelectors`.
pub fn has_aggregation_rule(cluster_role: &Value) -> bool {
    cluster_role
        .get("aggregationRule")
        .and_then(|a| a.get("clusterRoleSelectors"))
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
}

/// kube's `IsOnlyMutatingGCFields`: the update changes nothing but
/// `metadata.ownerReferences` and `metadata.finalizers`.
pub fn is_only_mutating_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("ownerReferences");
            meta.remove("finalizers");
        }
        v
    };
    strip(new) == strip(old)
}

// ---------------------------------------------------------------------------------
// Covers (rbac/validation policy comparator)
// ---------------------------------------------------------------------------------

/// kube's `Covers`: each servant rule is broken into single-verb, single-group,
/// single-resource (or single-URL), single-name rules, and each piece must be covered
/// by one owner rule. Returns the uncovered pieces.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> Result<(), Vec<PolicyRule>> {
    let mut uncovered = Vec::new();
    for rule in servant {
        for sub in breakdown(rule) {
            if !owner.iter().any(|o| rule_covers(o, &sub)) {
                uncovered.push(sub);
            }
        }
    }
    if uncovered.is_empty() {
        Ok(())
    } else {
        Err(uncovered)
    }
}

fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    let one = |s: &String| vec![s.clone()];
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                if rule.resource_names.is_empty() {
                    out.push(PolicyRule {
                        verbs: one(verb),
                        api_groups: one(group),
                        resources: one(resource),
                        ..Default::default()
                    });
                } else {
                    for n in &rule.resource_names {
                        out.push(PolicyRule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            resource_names: one(n),
                            ..Default::default()
                        });
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..Default::default()
            });
        }
    }
    out
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| set.contains(w))
}

fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let star = |l: &[String]| l.iter().any(|x| x == "*");
    let verbs = star(&owner.verbs) || has_all(&owner.verbs, &sub.verbs);
    let groups = star(&owner.api_groups) || has_all(&owner.api_groups, &sub.api_groups);
    let resources = star(&owner.resources) || has_all(&owner.resources, &sub.resources);
    let urls = sub.non_resource_urls.iter().all(|p| {
        owner
            .non_resource_urls
            .iter()
            .any(|o| o == p || (o.ends_with('*') && p.starts_with(o.trim_end_matches('*'))))
    });
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && urls && names
}

/// kube's `CompactRules`: merges the verbs of rules that name one group, one resource
/// and at most one resource name and nothing else.
pub fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    let mut simple: Vec<PolicyRule> = Vec::new();
    for r in rules {
        let is_simple = r.resource_names.len() <= 1
            && r.non_resource_urls.is_empty()
            && r.api_groups.len() == 1
            && r.resources.len() == 1;
        if !is_simple {
            out.push(r.clone());
            continue;
        }
        match simple.iter_mut().find(|s| {
            s.api_groups == r.api_groups
                && s.resources == r.resources
                && s.resource_names == r.resource_names
        }) {
            Some(s) => s.verbs.extend(r.verbs.iter().cloned()),
            None => simple.push(r.clone()),
        }
    }
    out.extend(simple);
    out
}

/// kube's escalation message:
/// `user "x" (groups=["a" "b"]) is attempting to grant RBAC permissions not currently held:`
/// followed by one compact rule per line (sorted, unique), and `; resolution errors:
/// [...]` when some of the user's role references did not resolve.
pub fn escalation_message(
    user: &UserInfo,
    uncovered: &[PolicyRule],
    resolution_errors: &[String],
) -> String {
    let mut lines: Vec<String> = compact_rules(uncovered)
        .iter()
        .map(PolicyRule::compact_string)
        .collect();
    lines.sort();
    lines.dedup();
    let mut msg = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        go_quote(&user.name),
        go_quote_list(&user.groups),
        lines.join("\n")
    );
    if !resolution_errors.is_empty() {
        // kube formats a one-element list holding the aggregated resolution error.
        let _ = write!(
            msg,
            "; resolution errors: [{}]",
            aggregate_errors(resolution_errors)
        );
    }
    msg
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// A list of strings; absent or null is empty, anything else malformed is `None`.
fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(_) => None,
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several (deduplicated)
/// as `[a, b]`.
fn aggregate_errors(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        seen[0].to_string()
    } else {
        format!("[{}]", seen.join(", "))
    }
}

use crate::api::schema::golang::quote as go_quote;

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy;
    use serde_json::json;

    fn defaults() -> RbacIndex {
        let mut idx = RbacIndex::new();
        policy::load_into(&mut idx);
        idx
    }

    fn role_binding(ns: &str, name: &str, role_kind: &str, role: &str, subjects: Value) -> Value {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"namespace": ns, "name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
            "subjects": subjects,
        })
    }

    fn crb(name: &str, role: &str, subjects: Value) -> Value {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": subjects,
        })
    }

    fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels}, "rules": rules,
        })
    }

    fn user(name: &str) -> UserInfo {
        UserInfo::new(name, &["system:authenticated"])
    }

    fn res(
        u: &UserInfo,
        verb: &str,
        group: &str,
        resource: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes::resource(u, verb, group, resource, ns, name)
    }

    #[test]
    fn edit_in_one_namespace_only() {
        let mut idx = defaults();
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "team-a",
                "alice-edit",
                "ClusterRole",
                "edit",
                json!([{"kind": "User", "apiGroup": RBAC_GROUP, "name": "alice"}]),
            ),
        );
        let alice = user("alice");
        let d = idx.authorize(&res(&alice, "create", "", "configmaps", "team-a", ""));
        assert_eq!(
            d,
            Decision {
                allowed: true,
                reason: r#"RBAC: allowed by RoleBinding "alice-edit/team-a" of ClusterRole "edit" to User "alice""#
                    .into()
            }
        );
        for (verb, resource) in [
            ("get", "secrets"),
            ("delete", "secrets"),
            ("list", "serviceaccounts"),
            ("watch", "events"),
            ("update", "leases"),
            ("get", "namespaces"),
        ] {
            let group = if resource == "leases" {
                "coordination.k8s.io"
            } else {
                ""
            };
            assert!(
                idx.allows(&res(&alice, verb, group, resource, "team-a", "")),
                "{verb} {resource}"
            );
        }
        // edit cannot touch RBAC; admin can.
        assert!(!idx.allows(&res(&alice, "create", RBAC_GROUP, "roles", "team-a", "")));
        // Other namespace, and cluster-wide.
        assert!(!idx.allows(&res(&alice, "get", "", "configmaps", "team-b", "")));
        assert!(!idx.allows(&res(&alice, "list", "", "configmaps", "", "")));
        assert!(!idx.allows(&res(&alice, "list", "", "namespaces", "", "")));
        // A denial without resolution errors has no reason.
        assert_eq!(
            idx.authorize(&res(&alice, "get", "", "configmaps", "team-b", ""))
                .reason,
            ""
        );
        // Still basic-user through the group.
        let ssar = res(
            &alice,
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "",
        );
        assert_eq!(
            idx.authorize(&ssar).reason,
            r#"RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated""#
        );
        // Token requests: edit grants serviceaccounts/token create.
        let token = res(&alice, "create", "", "serviceaccounts", "team-a", "default")
            .with_subresource("token");
        assert!(idx.allows(&token));
        let token_get = res(&alice, "get", "", "serviceaccounts", "team-a", "default")
            .with_subresource("token");
        assert!(!idx.allows(&token_get));
    }

    #[test]
    fn admin_and_view_levels() {
        let mut idx = defaults();
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "b-admin",
                "ClusterRole",
                "admin",
                json!([{"kind": "User", "name": "ann"}]),
            ),
        );
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "b-view",
                "ClusterRole",
                "view",
                json!([{"kind": "User", "name": "vic"}]),
            ),
        );
        let ann = user("ann");
        let vic = user("vic");
        assert!(idx.allows(&res(&ann, "create", RBAC_GROUP, "rolebindings", "ns1", "")));
        assert!(idx.allows(&res(&ann, "delete", "", "secrets", "ns1", "s")));
        assert!(idx.allows(&res(&vic, "get", "", "configmaps", "ns1", "c")));
        assert!(!idx.allows(&res(&vic, "get", "", "secrets", "ns1", "s")));
        assert!(!idx.allows(&res(&vic, "update", "", "configmaps", "ns1", "c")));
        assert!(!idx.allows(&res(&vic, "get", RBAC_GROUP, "roles", "ns1", "")));
    }

    #[test]
    fn cluster_role_binding_reason_and_scope() {
        let mut idx = defaults();
        idx.upsert(
            "ClusterRoleBinding",
            &crb("x", "view", json!([{"kind": "User", "name": "z"}])),
        );
        let z = user("z");
        let d = idx.authorize(&res(&z, "list", "", "configmaps", "", ""));
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to User "z""#
        );
        assert!(idx.allows(&res(&z, "get", "", "configmaps", "any-ns", "c")));
        // cluster-admin binding to system:masters works through RBAC too.
        let root = UserInfo::new("root", &["system:masters"]);
        assert!(idx.allows(&res(&root, "delete", "x.io", "things", "", "t")));
        assert!(idx.allows(&Attributes::non_resource(&root, "post", "/anything")));
    }

    #[test]
    fn resource_names() {
        let mut idx = RbacIndex::new();
        idx.upsert(
            "ClusterRole",
            &cluster_role(
                "one-cm",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"],
                        "verbs": ["get", "list", "watch", "create", "update"]}]),
            ),
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb("b", "one-cm", json!([{"kind": "User", "name": "u"}])),
        );
        let u = user("u");
        assert!(idx.allows(&res(&u, "get", "", "configmaps", "ns", "a")));
        assert!(idx.allows(&res(&u, "update", "", "configmaps", "ns", "a")));
        assert!(!idx.allows(&res(&u, "get", "", "configmaps", "ns", "b")));
        // Collection requests and creates carry no name.
        assert!(!idx.allows(&res(&u, "list", "", "configmaps", "ns", "")));
        assert!(!idx.allows(&res(&u, "create", "", "configmaps", "ns", "")));
        // list/watch with metadata.name=a arrive named.
        assert!(idx.allows(&res(&u, "list", "", "configmaps", "ns", "a")));
        assert!(idx.allows(&res(&u, "watch", "", "configmaps", "ns", "a")));
    }

    #[test]
    fn subresources() {
        let mut idx = RbacIndex::new();
        idx.upsert(
            "ClusterRole",
            &cluster_role(
                "r",
                json!({}),
                json!([
                    {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"], "verbs": ["get"]},
                    {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters/status"], "verbs": ["patch"]},
                    {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
                    {"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]},
                ]),
            ),
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb("b", "r", json!([{"kind": "User", "name": "u"}])),
        );
        let u = user("u");
        let g = "cluster.open-cluster-management.io";
        assert!(idx.allows(&res(&u, "get", g, "managedclusters", "", "c1")));
        // The main resource's rule does not reach its subresources, and vice versa.
        assert!(
            !idx.allows(&res(&u, "get", g, "managedclusters", "", "c1").with_subresource("status"))
        );
        assert!(
            idx.allows(
                &res(&u, "patch", g, "managedclusters", "", "c1").with_subresource("status")
            )
        );
        assert!(!idx.allows(&res(&u, "patch", g, "managedclusters", "", "c1")));
        // */scale matches any resource's scale subresource.
        assert!(idx.allows(
            &res(&u, "update", "apps", "deployments", "ns", "d").with_subresource("scale")
        ));
        assert!(!idx.allows(&res(&u, "update", "apps", "deployments", "ns", "d")));
        // As in kube, resource/* is not a wildcard.
        assert!(!idx.allows(&res(&u, "get", "", "pods", "ns", "p").with_subresource("log")));
        assert!(idx.allows(&res(&u, "get", "", "pods", "ns", "p").with_subresource("*")));
    }

    #[test]
    fn wildcards() {
        let mut idx = RbacIndex::new();
        idx.upsert(
            "ClusterRole",
            &cluster_role(
                "r",
                json!({}),
                json!([{"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["*"]}]),
            ),
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb("b", "r", json!([{"kind": "User", "name": "u"}])),
        );
        let u = user("u");
        assert!(idx.allows(&res(&u, "deletecollection", "", "secrets", "ns", "")));
        assert!(idx.allows(&res(&u, "escalate", "whatever.io", "secrets", "", "x")));
        assert!(!idx.allows(&res(&u, "get", "", "configmaps", "ns", "")));
        // A resource rule never matches a non-resource request.
        assert!(!idx.allows(&Attributes::non_resource(&u, "get", "/api")));
    }

    #[test]
    fn non_resource_urls() {
        let mut idx = defaults();
        idx.upsert(
            "ClusterRole",
            &cluster_role(
                "urls",
                json!({}),
                json!([{"nonResourceURLs": ["/logs", "/debug/*"], "verbs": ["get"]},
                       {"nonResourceURLs": ["*"], "verbs": ["options"]}]),
            ),
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb("b", "urls", json!([{"kind": "User", "name": "u"}])),
        );
        let u = UserInfo::new("u", &[]);
        assert!(idx.allows(&Attributes::non_resource(&u, "get", "/logs")));
        assert!(!idx.allows(&Attributes::non_resource(&u, "get", "/logs/x")));
        assert!(idx.allows(&Attributes::non_resource(&u, "get", "/debug/pprof/heap")));
        assert!(idx.allows(&Attributes::non_resource(&u, "get", "/debug/")));
        assert!(!idx.allows(&Attributes::non_resource(&u, "get", "/debug")));
        assert!(!idx.allows(&Attributes::non_resource(&u, "post", "/logs")));
        assert!(idx.allows(&Attributes::non_resource(&u, "options", "/whatever")));
        // /apis/* does not cover /apis itself; system:discovery lists both.
        let a = user("a");
        assert!(idx.allows(&Attributes::non_resource(&a, "get", "/apis")));
        assert!(idx.allows(&Attributes::non_resource(&a, "get", "/version/")));
        assert!(!idx.allows(&Attributes::non_resource(&a, "get", "/version/x")));
        // Non-resource rules never match resource requests.
        assert!(!idx.allows(&res(&u, "options", "", "pods", "ns", "")));
    }

    #[test]
    fn service_account_subjects() {
        let mut idx = defaults();
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "sa-view",
                "view",
                json!([{"kind": "ServiceAccount", "name": "reader", "namespace": "tools"}]),
            ),
        );
        // Without a namespace, a ClusterRoleBinding's SA subject matches nobody.
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "sa-bad",
                "cluster-admin",
                json!([{"kind": "ServiceAccount", "name": "reader"}]),
            ),
        );
        // In a RoleBinding, the namespace defaults to the binding's.
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "apps",
                "sa-edit",
                "ClusterRole",
                "edit",
                json!([{"kind": "ServiceAccount", "name": "deployer"}]),
            ),
        );
        let reader = UserInfo::new(
            "system:serviceaccount:tools:reader",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:tools",
                "system:authenticated",
            ],
        );
        let d = idx.authorize(&res(&reader, "list", "", "configmaps", "", ""));
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by ClusterRoleBinding "sa-view" of ClusterRole "view" to ServiceAccount "reader/tools""#
        );
        assert!(!idx.allows(&res(&reader, "delete", "", "configmaps", "x", "c")));
        let deployer = UserInfo::new("system:serviceaccount:apps:deployer", &[]);
        let d = idx.authorize(&res(&deployer, "create", "", "configmaps", "apps", ""));
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by RoleBinding "sa-edit/apps" of ClusterRole "edit" to ServiceAccount "deployer/apps""#
        );
        assert!(!idx.allows(&res(&deployer, "create", "", "configmaps", "other", "")));
        let impostor = UserInfo::new("system:serviceaccount:other:deployer", &[]);
        assert!(!idx.allows(&res(&impostor, "create", "", "configmaps", "apps", "")));
        // A User subject spelled as the SA user name matches too, as in kube.
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "as-user",
                "view",
                json!([{"kind": "User", "name": "system:serviceaccount:other:deployer"}]),
            ),
        );
        assert!(idx.allows(&res(&impostor, "get", "", "configmaps", "apps", "c")));
    }

    #[test]
    fn groups_and_first_matching_subject() {
        let mut idx = defaults();
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "open-cluster-management:managedcluster:c1",
                "view",
                json!([
                    {"kind": "Group", "name": "nobody"},
                    {"kind": "Group", "name": "system:open-cluster-management:c1"},
                    {"kind": "User", "name": "agent"},
                ]),
            ),
        );
        let agent = UserInfo::new(
            "agent",
            &["system:open-cluster-management:c1", "system:authenticated"],
        );
        let d = idx.authorize(&res(&agent, "get", "", "configmaps", "c1", "x"));
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by ClusterRoleBinding "open-cluster-management:managedcluster:c1" of ClusterRole "view" to Group "system:open-cluster-management:c1""#
        );
        let other = UserInfo::new("x", &["system:open-cluster-management:c2"]);
        assert!(!idx.allows(&res(&other, "get", "", "configmaps", "c1", "x")));
        // Unknown subject kinds match nobody.
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "weird",
                "cluster-admin",
                json!([{"kind": "Robot", "name": "x"}]),
            ),
        );
        assert!(!idx.allows(&res(&other, "get", "", "secrets", "c1", "x")));
    }

    #[test]
    fn ocm_registration_roles() {
        let mut idx = defaults();
        let g = "cluster.open-cluster-management.io";
        idx.upsert(
            "ClusterRole",
            &cluster_role(
                "open-cluster-management:managedcluster:c1",
                json!({"open-cluster-management.io/cluster-name": "c1"}),
                json!([
                    {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "get", "list", "watch"]},
                    {"apiGroups": ["register.open-cluster-management.io"], "resources": ["managedclusters/clientcertificates"], "verbs": ["renew"]},
                    {"apiGroups": [g], "resources": ["managedclusters"], "resourceNames": ["c1"], "verbs": ["get", "list", "update", "watch"]},
                    {"apiGroups": [g], "resources": ["managedclusters/status"], "resourceNames": ["c1"], "verbs": ["patch", "update"]},
                ]),
            ),
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "open-cluster-management:managedcluster:c1",
                "open-cluster-management:managedcluster:c1",
                json!([{"kind": "Group", "apiGroup": RBAC_GROUP, "name": "system:open-cluster-management:c1"}]),
            ),
        );
        let agent = UserInfo::new(
            "system:open-cluster-management:c1:agent",
            &["system:open-cluster-management:c1", "system:authenticated"],
        );
        assert!(idx.allows(&res(&agent, "get", g, "managedclusters", "", "c1")));
        assert!(idx.allows(&res(&agent, "watch", g, "managedclusters", "", "c1")));
        assert!(!idx.allows(&res(&agent, "watch", g, "managedclusters", "", "")));
        assert!(!idx.allows(&res(&agent, "get", g, "managedclusters", "", "c2")));
        assert!(idx.allows(
            &res(&agent, "patch", g, "managedclusters", "", "c1").with_subresource("status")
        ));
        assert!(!idx.allows(
            &res(&agent, "patch", g, "managedclusters", "", "c2").with_subresource("status")
        ));
        assert!(
            idx.allows(
                &res(
                    &agent,
                    "renew",
                    "register.open-cluster-management.io",
                    "managedclusters",
                    "",
                    "c1"
                )
                .with_subresource("clientcertificates")
            )
        );
        assert!(idx.allows(&res(
            &agent,
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
            "",
            ""
        )));
    }

    #[test]
    fn role_references() {
        let mut idx = RbacIndex::new();
        idx.upsert(
            "Role",
            &json!({"kind": "Role", "metadata": {"namespace": "ns1", "name": "cm-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        );
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "rb",
                "Role",
                "cm-reader",
                json!([{"kind": "User", "name": "u"}]),
            ),
        );
        // Same role name, other namespace: the Role there does not exist.
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns2",
                "rb",
                "Role",
                "cm-reader",
                json!([{"kind": "User", "name": "u"}]),
            ),
        );
        let u = user("u");
        assert_eq!(
            idx.authorize(&res(&u, "get", "", "configmaps", "ns1", "x"))
                .reason,
            r#"RBAC: allowed by RoleBinding "rb/ns1" of Role "cm-reader" to User "u""#
        );
        assert_eq!(
            idx.authorize(&res(&u, "get", "", "configmaps", "ns2", "x")),
            Decision {
                allowed: false,
                reason: r#"RBAC: role.rbac.authorization.k8s.io "cm-reader" not found"#.into()
            }
        );
        // Missing ClusterRole, and unsupported kinds, are resolution errors too.
        idx.upsert(
            "ClusterRoleBinding",
            &crb("b1", "nope", json!([{"kind": "User", "name": "u"}])),
        );
        let mut bad = crb("b2", "x", json!([{"kind": "User", "name": "u"}]));
        bad["roleRef"]["kind"] = json!("Thing");
        idx.upsert("ClusterRoleBinding", &bad);
        assert_eq!(
            idx.authorize(&res(&u, "get", "", "secrets", "ns2", "x"))
                .reason,
            r#"RBAC: [clusterrole.rbac.authorization.k8s.io "nope" not found, unsupported role reference kind: "Thing", role.rbac.authorization.k8s.io "cm-reader" not found]"#
        );
        // The Role appears later: the binding starts working.
        idx.upsert(
            "Role",
            &json!({"metadata": {"namespace": "ns2", "name": "cm-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        );
        assert!(idx.allows(&res(&u, "get", "", "configmaps", "ns2", "x")));
        assert_eq!(idx.role_rules("ns2", "cm-reader").map(|r| r.len()), Some(1));
    }

    #[test]
    fn incremental_updates_and_removal() {
        let mut idx = defaults();
        let b = role_binding(
            "ns",
            "b",
            "ClusterRole",
            "edit",
            json!([{"kind": "User", "name": "u1"}]),
        );
        assert!(idx.upsert("RoleBinding", &b));
        let u1 = user("u1");
        let u2 = user("u2");
        let attrs1 = res(&u1, "get", "", "secrets", "ns", "s");
        let attrs2 = res(&u2, "get", "", "secrets", "ns", "s");
        assert!(idx.allows(&attrs1));
        // Replace the subjects: u1 loses, u2 gains.
        let b2 = role_binding(
            "ns",
            "b",
            "ClusterRole",
            "edit",
            json!([{"kind": "User", "name": "u2"}]),
        );
        assert!(idx.upsert("RoleBinding", &b2));
        assert!(!idx.allows(&attrs1));
        assert!(idx.allows(&attrs2));
        // A malformed replacement removes the old binding.
        let broken = json!({"metadata": {"namespace": "ns", "name": "b"}, "roleRef": "nope"});
        assert!(!idx.upsert("RoleBinding", &broken));
        assert!(!idx.allows(&attrs2));
        assert!(idx.upsert("RoleBinding", &b2));
        assert!(idx.remove("RoleBinding", "ns", "b"));
        assert!(!idx.remove("RoleBinding", "ns", "b"));
        assert!(!idx.allows(&attrs2));
        // ClusterRoleBindings and ClusterRoles.
        idx.upsert(
            "ClusterRoleBinding",
            &crb("c", "view", json!([{"kind": "Group", "name": "g"}])),
        );
        let g = UserInfo::new("x", &["g"]);
        let a = res(&g, "get", "", "configmaps", "ns", "c");
        assert!(idx.allows(&a));
        assert!(idx.remove("ClusterRole", "", "system:aggregate-to-view"));
        assert!(!idx.allows(&a));
        assert!(idx.remove("ClusterRole", "", "view"));
        assert_eq!(
            idx.authorize(&a).reason,
            r#"RBAC: clusterrole.rbac.authorization.k8s.io "view" not found"#
        );
        assert!(idx.remove("ClusterRoleBinding", "", "c"));
        assert_eq!(idx.authorize(&a).reason, "");
        // Unknown kinds and nameless objects are ignored.
        assert!(!idx.upsert("Pod", &json!({"metadata": {"name": "p"}})));
        assert!(!idx.upsert("Role", &json!({"metadata": {"name": "r"}})));
        assert!(!idx.upsert("ClusterRole", &json!({"metadata": {}})));
    }

    #[test]
    fn clones_are_independent() {
        let base = defaults();
        let mut next = base.clone();
        next.upsert(
            "RoleBinding",
            &role_binding(
                "ns",
                "b",
                "ClusterRole",
                "edit",
                json!([{"kind": "User", "name": "u"}]),
            ),
        );
        next.upsert(
            "ClusterRole",
            &cluster_role(
                "extra",
                json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
                json!([{"apiGroups": ["x.io"], "resources": ["things"], "verbs": ["get"]}]),
            ),
        );
        let u = user("u");
        assert!(next.allows(&res(&u, "get", "", "secrets", "ns", "s")));
        assert!(!base.allows(&res(&u, "get", "", "secrets", "ns", "s")));
        assert_eq!(base.aggregated_rules("view").len(), 12);
        assert_eq!(next.aggregated_rules("view").len(), 13);
    }

    #[test]
    fn malformed_objects_never_panic() {
        let mut idx = defaults();
        let junk = [
            json!(null),
            json!(42),
            json!({"metadata": {"name": 5}}),
            json!({"metadata": {"name": "a", "namespace": "n", "labels": {"x": 1}},
                   "rules": [{"verbs": "get"}, 7, {"verbs": ["get"], "resources": [1]}],
                   "roleRef": {"kind": "ClusterRole"}, "subjects": [1, {"kind": "User"}, {"kind": "User", "name": "u", "namespace": 3}],
                   "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "k", "operator": "Bogus"}]}]}}),
            json!({"metadata": {"name": "b", "namespace": "n"}, "rules": "all", "aggregationRule": 1,
                   "roleRef": {"kind": "ClusterRole", "name": "edit"}, "subjects": "everyone"}),
        ];
        for kind in ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"] {
            for j in &junk {
                idx.upsert(kind, j);
            }
        }
        let u = user("u");
        assert!(!idx.allows(&res(&u, "get", "", "secrets", "n", "s")));
        let _ = idx.rules_for(&u, "n");
        let _ = idx.pending_aggregation_updates();
        // The malformed rules were skipped, not read as wildcards.
        assert!(idx.aggregated_rules("a").is_empty());
    }

    #[test]
    fn aggregation_follows_labelled_roles() {
        let mut idx = defaults();
        idx.upsert(
            "ClusterRoleBinding",
            &crb("v", "view", json!([{"kind": "User", "name": "v"}])),
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb("a", "admin", json!([{"kind": "User", "name": "a"}])),
        );
        let v = user("v");
        let a = user("a");
        let mc = |u: &UserInfo, verb: &str| {
            res(
                u,
                verb,
                "cluster.open-cluster-management.io",
                "managedclusters",
                "",
                "c1",
            )
        };
        assert!(!idx.allows(&mc(&v, "get")));
        // A new role labelled aggregate-to-view reaches view, edit and admin.
        let ocm_view = cluster_role(
            "open-cluster-management:view",
            json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
            json!([{"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"], "verbs": ["get", "list", "watch"]}]),
        );
        idx.upsert("ClusterRole", &ocm_view);
        assert!(idx.allows(&mc(&v, "get")));
        assert!(idx.allows(&mc(&a, "watch")));
        assert!(!idx.allows(&mc(&a, "delete")));
        assert_eq!(idx.aggregated_rules("view").len(), 13);
        assert_eq!(idx.aggregated_rules("admin").len(), 30);
        // The server persists the aggregated rules; once stored, nothing is pending.
        for _ in 0..2 {
            for upd in idx.pending_aggregation_updates() {
                let mut obj = policy::cluster_roles()
                    .into_iter()
                    .find(|r| r["metadata"]["name"] == upd.name.as_str())
                    .unwrap();
                upd.apply_to(&mut obj);
                idx.upsert("ClusterRole", &obj);
            }
        }
        assert!(idx.pending_aggregation_updates().is_empty());
        assert_eq!(idx.aggregated_rules("admin").len(), 30);
        // Dropping the label drops the rules again.
        let mut unlabelled = ocm_view.clone();
        unlabelled["metadata"]["labels"] = json!({});
        idx.upsert("ClusterRole", &unlabelled);
        assert!(!idx.allows(&mc(&v, "get")));
        assert!(!idx.allows(&mc(&a, "get")));
        let pending: Vec<String> = idx
            .pending_aggregation_updates()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(pending, ["admin", "edit", "view"]);
        // Re-add, then delete.
        idx.upsert("ClusterRole", &ocm_view);
        assert!(idx.allows(&mc(&v, "list")));
        idx.remove("ClusterRole", "", "open-cluster-management:view");
        assert!(!idx.allows(&mc(&v, "list")));
        assert_eq!(idx.aggregated_rules("view").len(), 12);
    }

    #[test]
    fn aggregation_selectors() {
        let mut idx = RbacIndex::new();
        let rule = |r: &str| json!([{"apiGroups": [""], "resources": [r], "verbs": ["get"]}]);
        idx.upsert(
            "ClusterRole",
            &cluster_role("p1", json!({"tier": "a", "team": "x"}), rule("one")),
        );
        idx.upsert(
            "ClusterRole",
            &cluster_role("p2", json!({"tier": "b"}), rule("two")),
        );
        idx.upsert(
            "ClusterRole",
            &cluster_role("p3", json!({"tier": "c", "skip": "yes"}), rule("three")),
        );
        idx.upsert("ClusterRole", &cluster_role("p4", json!({}), rule("four")));
        let mut agg = cluster_role("agg", json!({}), json!([]));
        agg["aggregationRule"] = json!({"clusterRoleSelectors": [
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "c"]},
                                  {"key": "skip", "operator": "DoesNotExist"}]},
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a", "c"]},
                                  {"key": "tier", "operator": "Exists"}]},
            {"matchLabels": {"team": "x"}},
        ]});
        idx.upsert("ClusterRole", &agg);
        let names = |idx: &RbacIndex| -> Vec<String> {
            idx.aggregated_rules("agg")
                .iter()
                .map(|r| r.resources[0].clone())
                .collect()
        };
        // Selector order, then name order; duplicates (p1 twice) kept once.
        assert_eq!(names(&idx), ["one", "two"]);
        // An empty selector matches every ClusterRole (except the aggregated role itself).
        agg["aggregationRule"] = json!({"clusterRoleSelectors": [{}]});
        idx.upsert("ClusterRole", &agg);
        assert_eq!(names(&idx), ["one", "two", "three", "four"]);
        // A null selector in the list is the empty one.
        agg["aggregationRule"] = json!({"clusterRoleSelectors": [null]});
        idx.upsert("ClusterRole", &agg);
        assert_eq!(names(&idx), ["one", "two", "three", "four"]);
        // An invalid selector: kube's controller gives up, the stored rules stay in force.
        agg["rules"] = rule("stored");
        for invalid in [
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
            json!({"matchLabels": {"not a key": "x"}}),
        ] {
            agg["aggregationRule"] =
                json!({"clusterRoleSelectors": [{"matchLabels": {"team": "x"}}, invalid]});
            idx.upsert("ClusterRole", &agg);
            assert_eq!(names(&idx), ["stored"]);
        }
        assert!(idx.pending_aggregation_updates().is_empty());
        // Aggregation is transitive and survives cycles.
        let mut outer = cluster_role("outer", json!({"ring": "1"}), json!([]));
        outer["aggregationRule"] =
            json!({"clusterRoleSelectors": [{"matchLabels": {"ring": "2"}}]});
        let mut inner = cluster_role("inner", json!({"ring": "2"}), json!([]));
        inner["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {"ring": "1"}}, {"matchLabels": {"team": "x"}}]});
        idx.upsert("ClusterRole", &outer);
        idx.upsert("ClusterRole", &inner);
        assert_eq!(idx.aggregated_rules("inner").len(), 1);
        assert_eq!(idx.aggregated_rules("outer"), idx.aggregated_rules("inner"));
    }

    #[test]
    fn rules_review() {
        let mut idx = defaults();
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "b",
                "ClusterRole",
                "view",
                json!([{"kind": "User", "name": "u"}]),
            ),
        );
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "missing",
                "Role",
                "gone",
                json!([{"kind": "User", "name": "u"}]),
            ),
        );
        let u = user("u");
        let review = idx.rules_for(&u, "ns1");
        // basic-user (2) + view (12) resource rules; discovery + public-info non-resource.
        assert_eq!(review.resource_rules.len(), 14);
        assert_eq!(review.non_resource_rules.len(), 2);
        assert!(!review.incomplete);
        assert_eq!(
            review.evaluation_error.as_deref(),
            Some(r#"role.rbac.authorization.k8s.io "gone" not found"#)
        );
        let other = idx.rules_for(&u, "ns2");
        assert_eq!(other.resource_rules.len(), 2);
        assert_eq!(other.evaluation_error, None);
        let v = serde_json::to_value(&other).unwrap();
        assert_eq!(
            v["resourceRules"][0],
            json!({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                   "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]})
        );
        assert!(v["nonResourceRules"][0]["nonResourceURLs"].is_array());
        assert_eq!(v["incomplete"], false);
        assert!(v.get("evaluationError").is_none());
    }

    #[test]
    fn covers_and_escalation_message() {
        let owner = vec![
            PolicyRule::resource(&["get", "list"], &[""], &["configmaps", "secrets"]),
            PolicyRule::resource(&["*"], &["apps"], &["deployments"]).with_names(&["web"]),
            PolicyRule::non_resource(&["get"], &["/healthz", "/logs/*"]),
        ];
        assert!(
            covers(
                &owner,
                &[PolicyRule::resource(&["get"], &[""], &["secrets"])]
            )
            .is_ok()
        );
        assert!(
            covers(
                &owner,
                &[PolicyRule::resource(&["get"], &[""], &["secrets"]).with_names(&["s"])]
            )
            .is_ok()
        );
        assert!(
            covers(
                &owner,
                &[
                    PolicyRule::resource(&["patch"], &["apps"], &["deployments"])
                        .with_names(&["web"])
                ]
            )
            .is_ok()
        );
        // A named owner rule does not cover the unnamed rule.
        assert!(
            covers(
                &owner,
                &[PolicyRule::resource(&["get"], &["apps"], &["deployments"])]
            )
            .is_err()
        );
        assert!(
            covers(
                &owner,
                &[PolicyRule::non_resource(&["get"], &["/logs/a", "/healthz"])]
            )
            .is_ok()
        );
        assert!(covers(&owner, &[PolicyRule::non_resource(&["get"], &["/logs*"])]).is_err());
        let missing = covers(
            &owner,
            &[PolicyRule::resource(
                &["get", "delete", "update"],
                &["", "x.io"],
                &["configmaps"],
            )],
        )
        .unwrap_err();
        assert_eq!(missing.len(), 5);
        let u = UserInfo::new("bob", &["dev", "system:authenticated"]);
        assert_eq!(
            escalation_message(&u, &missing, &[]),
            "user \"bob\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"delete\" \"update\"]}\n\
             {APIGroups:[\"x.io\"], Resources:[\"configmaps\"], Verbs:[\"get\" \"delete\" \"update\"]}"
        );
        assert_eq!(
            escalation_message(
                &u,
                &[PolicyRule::non_resource(&["get"], &["/x"])],
                &["e1".into(), "e2".into()]
            ),
            "user \"bob\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {NonResourceURLs:[\"/x\"], Verbs:[\"get\"]}; resolution errors: [[e1, e2]]"
        );
    }

    #[test]
    fn role_writes_need_held_rules_or_escalate() {
        let mut idx = defaults();
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "b",
                "ClusterRole",
                "admin",
                json!([{"kind": "User", "name": "ann"}]),
            ),
        );
        let ann = user("ann");
        let role =
            |rules: Value| json!({"metadata": {"namespace": "ns1", "name": "r"}, "rules": rules});
        let ok = role(
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"]}]),
        );
        assert_eq!(
            idx.check_role_write(&ann, "roles", "ns1", &ok, None),
            Ok(())
        );
        // Not in another namespace.
        let err = idx
            .check_role_write(&ann, "roles", "ns2", &ok, None)
            .unwrap_err();
        assert_eq!(err.status_code(), 403);
        assert!(err.to_string().starts_with(
            "user \"ann\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\" \"update\"]}"
        ), "{err}");
        assert!(
            err.message_for("roles", "r")
                .starts_with("roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"ann\"")
        );
        // Beyond admin's rules.
        let nodes = role(json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]));
        assert!(
            idx.check_role_write(&ann, "roles", "ns1", &nodes, None)
                .is_err()
        );
        // `escalate` on roles lifts the check.
        idx.upsert(
            "ClusterRole",
            &cluster_role(
                "escalator",
                json!({}),
                json!([{"apiGroups": [RBAC_GROUP], "resources": ["roles"], "verbs": ["escalate"]}]),
            ),
        );
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "esc",
                "ClusterRole",
                "escalator",
                json!([{"kind": "User", "name": "ann"}]),
            ),
        );
        assert_eq!(
            idx.check_role_write(&ann, "roles", "ns1", &nodes, None),
            Ok(())
        );
        // Updates that only move finalizers/ownerReferences pass.
        let mut moved = nodes.clone();
        moved["metadata"]["finalizers"] = json!(["x"]);
        assert_eq!(
            idx.check_role_write(&user("nobody"), "roles", "ns1", &moved, Some(&nodes)),
            Ok(())
        );
        assert!(
            idx.check_role_write(&user("nobody"), "roles", "ns1", &nodes, None)
                .is_err()
        );
        // system:masters always passes.
        let root = UserInfo::new("root", &["system:masters"]);
        assert_eq!(
            idx.check_role_write(&root, "roles", "ns1", &nodes, None),
            Ok(())
        );
        // Malformed rules are refused, not skipped.
        let bad = role(json!([{"verbs": "get"}]));
        assert!(matches!(
            idx.check_role_write(&user("nobody"), "roles", "ns1", &bad, None),
            Err(EscalationError::Invalid(_))
        ));
    }

    #[test]
    fn aggregation_rule_needs_cluster_admin() {
        let mut idx = defaults();
        idx.upsert(
            "ClusterRoleBinding",
            &crb("v", "view", json!([{"kind": "User", "name": "v"}])),
        );
        let v = user("v");
        let mut agg = cluster_role("agg", json!({}), json!([]));
        agg["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]});
        let err = idx
            .check_role_write(&v, "clusterroles", "", &agg, None)
            .unwrap_err();
        assert_eq!(err, EscalationError::AggregationRuleNeedsClusterAdmin);
        assert_eq!(
            err.message_for("clusterroles", "agg"),
            "clusterroles.rbac.authorization.k8s.io \"agg\" is forbidden: must have cluster-admin privileges to use the aggregationRule"
        );
        // Removing the rule from an aggregated role is checked as well.
        let plain = cluster_role("agg", json!({}), json!([]));
        assert!(
            idx.check_role_write(&v, "clusterroles", "", &plain, Some(&agg))
                .is_err()
        );
        assert_eq!(
            idx.check_role_write(&v, "clusterroles", "", &plain, None),
            Ok(())
        );
        idx.upsert(
            "ClusterRoleBinding",
            &crb(
                "ca",
                "cluster-admin",
                json!([{"kind": "User", "name": "ca"}]),
            ),
        );
        assert_eq!(
            idx.check_role_write(&user("ca"), "clusterroles", "", &agg, None),
            Ok(())
        );
    }

    #[test]
    fn binding_writes_need_bind_or_held_rules() {
        let mut idx = defaults();
        idx.upsert(
            "RoleBinding",
            &role_binding(
                "ns1",
                "b",
                "ClusterRole",
                "admin",
                json!([{"kind": "User", "name": "ann"}]),
            ),
        );
        let ann = user("ann");
        // Ann holds all of edit and view in ns1: she may bind them there, not elsewhere.
        assert!(idx.may_bind(&ann, &RoleRef::cluster_role("edit"), "ns1"));
        assert!(idx.may_bind(&ann, &RoleRef::cluster_role("view"), "ns1"));
        assert!(!idx.may_bind(&ann, &RoleRef::cluster_role("edit"), "ns2"));
        assert!(!idx.may_bind(&ann, &RoleRef::cluster_role("edit"), ""));
        assert!(!idx.may_bind(&ann, &RoleRef::cluster_role("cluster-admin"), "ns1"));
        // `bind` on a named ClusterRole lifts the check for that role only.
        idx.upsert("ClusterRole", &cluster_role("binder", json!({}),
            json!([{"apiGroups": [RBAC_GROUP], "resources": ["clusterroles"], "resourceNames": ["cluster-admin"], "verbs": ["bind"]}])));
        idx.upsert(
            "ClusterRoleBinding",
            &crb("binder", "binder", json!([{"kind": "User", "name": "ann"}])),
        );
        assert!(idx.binding_authorized(&ann, &RoleRef::cluster_role("cluster-admin"), ""));
        assert!(idx.may_bind(&ann, &RoleRef::cluster_role("cluster-admin"), "ns9"));
        assert!(!idx.may_bind(&ann, &RoleRef::cluster_role("system:monitoring"), "ns9"));
        // A missing role is a NotFound.
        let err = idx
            .check_binding_write(&ann, &RoleRef::role("nope"), "ns1", false)
            .unwrap_err();
        assert_eq!(err.status_code(), 404);
        assert_eq!(
            err.to_string(),
            r#"roles.rbac.authorization.k8s.io "nope" not found"#
        );
        // GC-only updates and system:masters pass.
        assert_eq!(
            idx.check_binding_write(
                &user("x"),
                &RoleRef::cluster_role("cluster-admin"),
                "",
                true
            ),
            Ok(())
        );
        let root = UserInfo::new("root", &["system:masters"]);
        assert!(idx.may_bind(&root, &RoleRef::cluster_role("cluster-admin"), ""));
    }

    #[test]
    fn role_escalate_checks_name_on_update_only() {
        let mut idx = RbacIndex::new();
        idx.upsert("ClusterRole", &cluster_role("esc", json!({}),
            json!([{"apiGroups": [RBAC_GROUP], "resources": ["clusterroles"], "resourceNames": ["mine"], "verbs": ["escalate"]}])));
        idx.upsert(
            "ClusterRoleBinding",
            &crb("esc", "esc", json!([{"kind": "User", "name": "u"}])),
        );
        let u = user("u");
        let mine = cluster_role(
            "mine",
            json!({}),
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        );
        // Create: the request has no name, so a named escalate rule does not apply.
        assert!(
            idx.check_role_write(&u, "clusterroles", "", &mine, None)
                .is_err()
        );
        assert_eq!(
            idx.check_role_write(&u, "clusterroles", "", &mine, Some(&mine.clone())),
            Ok(())
        );
    }

    #[test]
    fn forbidden_messages() {
        let u = user("bob");
        assert_eq!(
            forbidden_message(
                &res(&u, "get", "", "pods", "ns", "p").with_subresource("log"),
                ""
            ),
            r#"User "bob" cannot get resource "pods/log" in API group "" in the namespace "ns""#
        );
        assert_eq!(
            forbidden_message(
                &res(
                    &u,
                    "list",
                    "cluster.open-cluster-management.io",
                    "managedclusters",
                    "",
                    ""
                ),
                "RBAC: x"
            ),
            r#"User "bob" cannot list resource "managedclusters" in API group "cluster.open-cluster-management.io" at the cluster scope: RBAC: x"#
        );
        assert_eq!(
            forbidden_message(&Attributes::non_resource(&u, "get", "/metrics"), ""),
            r#"User "bob" cannot get path "/metrics""#
        );
    }

    #[test]
    fn index_is_shareable_across_threads() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<RbacIndex>();
        let idx = std::sync::Arc::new(defaults());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let idx = idx.clone();
                std::thread::spawn(move || {
                    let u = UserInfo::new("x", &["system:authenticated"]);
                    idx.allows(&Attributes::non_resource(&u, "get", "/apis"))
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
        assert_eq!(go_quote_list(&[]), "[]");
        assert_eq!(go_quote_list(&["a".into(), "".into()]), "[\"a\" \"\"]");
    }

    /// 10,000 RoleBindings over 1,000 namespaces, 10 users each, plus group and
    /// service-account bindings: decisions stay exact.
    fn big_index() -> RbacIndex {
        let mut idx = defaults();
        for n in 0..1000 {
            let ns = format!("ns-{n}");
            for u in 0..8 {
                let role = if u % 2 == 0 { "edit" } else { "view" };
                idx.upsert(
                    "RoleBinding",
                    &role_binding(
                        &ns,
                        &format!("user-{u}"),
                        "ClusterRole",
                        role,
                        json!([{"kind": "User", "name": format!("user-{n}-{u}")}]),
                    ),
                );
            }
            idx.upsert(
                "RoleBinding",
                &role_binding(
                    &ns,
                    "team",
                    "ClusterRole",
                    "view",
                    json!([{"kind": "Group", "name": format!("team-{}", n % 50)}]),
                ),
            );
            idx.upsert(
                "RoleBinding",
                &role_binding(
                    &ns,
                    "sa",
                    "ClusterRole",
                    "admin",
                    json!([{"kind": "ServiceAccount", "name": "deployer"}]),
                ),
            );
        }
        idx
    }

    #[test]
    fn ten_thousand_bindings() {
        let idx = big_index();
        let count: usize = idx
            .namespaces
            .values()
            .map(|n| n.bindings.by_name.len())
            .sum();
        assert_eq!(count, 10_000);
        for n in (0..1000).step_by(37) {
            let ns = format!("ns-{n}");
            for u in 0..8 {
                let who = user(&format!("user-{n}-{u}"));
                assert_eq!(
                    idx.allows(&res(&who, "update", "", "configmaps", &ns, "c")),
                    u % 2 == 0
                );
                assert!(idx.allows(&res(&who, "get", "", "configmaps", &ns, "c")));
                let other = format!("ns-{}", (n + 1) % 1000);
                assert!(!idx.allows(&res(&who, "get", "", "configmaps", &other, "c")));
                assert!(!idx.allows(&res(&who, "list", "", "configmaps", "", "")));
            }
            let member = UserInfo::new("m", &[&format!("team-{}", n % 50), "system:authenticated"]);
            assert!(idx.allows(&res(&member, "list", "", "configmaps", &ns, "")));
            assert!(!idx.allows(&res(&member, "delete", "", "configmaps", &ns, "c")));
            let sa = UserInfo::new(format!("system:serviceaccount:{ns}:deployer"), &[]);
            assert!(idx.allows(&res(&sa, "create", RBAC_GROUP, "rolebindings", &ns, "")));
            let foreign = format!("ns-{}", (n + 2) % 1000);
            assert!(!idx.allows(&res(&sa, "get", "", "configmaps", &foreign, "c")));
            let review = idx.rules_for(&sa, &ns);
            assert_eq!(review.resource_rules.len(), 29);
        }
    }

    /// Run with `cargo test --release -- --ignored --nocapture bench_authorize`.
    #[test]
    #[ignore]
    fn bench_authorize() {
        use std::time::Instant;
        let idx = big_index();
        let mut cases = Vec::new();
        for i in 0..2000usize {
            let n = (i * 7919) % 1000;
            let u = i % 8;
            let who = UserInfo::new(
                format!("user-{n}-{u}"),
                &["system:authenticated", &format!("team-{}", i % 50)],
            );
            let ns = if i % 3 == 0 {
                format!("ns-{}", (n + 1) % 1000)
            } else {
                format!("ns-{n}")
            };
            let verb = ["get", "list", "update", "delete"][i % 4];
            cases.push(res(&who, verb, "", "secrets", &ns, "s"));
        }
        // Warm up.
        let mut allowed = 0;
        for a in &cases {
            allowed += usize::from(idx.authorize(a).allowed);
        }
        let mut samples = Vec::with_capacity(cases.len() * 10);
        for _ in 0..10 {
            for a in &cases {
                let t = Instant::now();
                let d = idx.authorize(a);
                samples.push(t.elapsed());
                std::hint::black_box(d);
            }
        }
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        println!(
            "authorize over {} bindings: {} samples, {allowed}/{} allowed; p50 {:?}, p99 {:?}, max {:?}",
            10_000 + 5,
            samples.len(),
            cases.len(),
            pct(0.50),
            pct(0.99),
            samples[samples.len() - 1]
        );
        // Copy-on-write updates of a published index (clone, upsert one binding).
        let mut upd = Vec::new();
        for i in 0..200 {
            let t = Instant::now();
            let mut next = idx.clone();
            next.upsert(
                "RoleBinding",
                &role_binding(
                    &format!("ns-{}", i * 5),
                    "extra",
                    "ClusterRole",
                    "view",
                    json!([{"kind": "User", "name": "late"}]),
                ),
            );
            upd.push(t.elapsed());
            std::hint::black_box(next);
        }
        upd.sort();
        println!(
            "clone + upsert on a shared index: p50 {:?}, p99 {:?}",
            upd[upd.len() / 2],
            upd[upd.len() * 99 / 100]
        );
    }
}
