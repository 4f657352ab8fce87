//! Server-side apply (KEP-555) and `metadata.managedFields` bookkeeping, as
//! kube-apiserver does it with structured-merge-diff.
//!
//! Two entry points, both pure functions over JSON values and the kind's
//! compiled schema ([`Typed`]; [`TypeInfo`] takes the schema as JSON, for
//! tests and tools):
//!
//! - [`apply`] serves `PATCH` with `application/apply-patch+yaml` (the caller
//!   parses the body, YAML or JSON, into a [`Value`]). The applied
//!   configuration's field set becomes the manager's `Apply` entry; fields the
//!   manager applied before and no longer applies are removed from the object
//!   unless another manager owns them; changing a value another manager owns is
//!   a conflict unless `force` (then ownership moves); applying an equal value
//!   shares ownership.
//! - [`track_update`] serves every other write (create, update, merge / JSON /
//!   strategic patch): the fields that changed between the old and new object
//!   go to the manager's `Update` entry and leave every other manager's set.
//!
//! What kube layers around structured-merge-diff, reproduced here:
//! - entries are identified by manager, operation, subresource and (for
//!   `Update` only) apiVersion; an `Update` entry of the same manager absorbs
//!   the new changes; an `Apply` entry is replaced by the new applied set;
//! - `apiVersion`, `kind`, `metadata`, `metadata.{name, namespace,
//!   creationTimestamp, selfLink, uid, clusterName, generation, managedFields,
//!   resourceVersion}` are never owned;
//! - an entry's `time` changes only when the write changed the object;
//! - an object that has no managedFields when first applied gets a
//!   `before-first-apply` `Update` entry owning everything it holds;
//! - an update of an existing object without managedFields does not start
//!   tracking (creates always do); a request body carrying managedFields
//!   replaces them (`[]` clears them), except on subresources;
//! - more than 10 `Update` entries: the oldest are folded into
//!   `ancient-changes` (one per apiVersion);
//! - apply by manager `kubectl` may take fields whose conflicting value matches
//!   the `kubectl.kubernetes.io/last-applied-configuration` annotation, and
//!   rewrites that annotation when present;
//! - entries are sorted by operation (`Apply` first), time, manager,
//!   apiVersion, subresource.
//!
//! Status: when a kind has a status subresource, writes to the main resource
//! never own `status` (and an applied `status` is ignored), writes to
//! `/status` own only `status` (and only the applied `status` is merged).
//!
//! Deviations: all apiVersions of a kind are treated as one schema (no
//! conversion before comparing); ownership is not re-shaped when a schema
//! changes between atomic and granular; the `FieldsV1` value's key order is
//! serde_json's (see [`FieldSet::to_json_string`] for kube's byte order).

mod fieldset;
mod merge;
mod scale;
mod schema;

pub use scale::{parent_managed_fields, scale_managed_fields};

/// Removes fields (paths of field names) from every managedFields entry, as if no manager
/// had written them; a map left with only its own `.` goes too, then empty entries.
pub fn untrack(object: &mut Value, paths: &[Vec<String>]) {
    if paths.is_empty() {
        return;
    }
    let Some(entries) = object
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    fn remove(set: &mut Value, path: &[String]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let key = format!("f:{first}");
        let Some(map) = set.as_object_mut() else {
            return;
        };
        if rest.is_empty() {
            map.remove(&key);
            return;
        }
        if let Some(child) = map.get_mut(&key) {
            remove(child, rest);
            let only_self = child
                .as_object()
                .is_some_and(|c| c.keys().all(|k| k == "."));
            if only_self {
                map.remove(&key);
            }
        }
    }
    for entry in entries.iter_mut() {
        if let Some(fields) = entry.get_mut("fieldsV1") {
            for path in paths {
                remove(fields, path);
            }
        }
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_none_or(|f| !f.is_empty()));
    if entries.is_empty()
        && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("managedFields");
    }
}

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::api::schema::Structural;

pub use fieldset::{FieldSet, PathElement, path_string};

use crate::api::schema::golang;
use fieldset::values_equal;
use schema::Typer;

/// Deepest nesting any walk follows; deeper input is rejected, never overflows.
pub(crate) const MAX_DEPTH: usize = 128;

/// At most this many `Update` entries survive a write.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// kubectl's client-side apply annotation.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const ANCIENT_CHANGES: &str = "ancient-changes";

/// Who writes: the `fieldManager` and the subresource (`""` or e.g. `"status"`).
#[derive(Clone, Copy, Debug)]
pub struct Manager<'a> {
    pub name: &'a str,
    pub subresource: &'a str,
}

/// What is written: the endpoint's apiVersion and kind, the kind's compiled
/// schema (the one model admission and strategic merge patch read too) and
/// whether it has a status subresource.
#[derive(Clone, Copy, Debug)]
pub struct Typed<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub schema: &'a Structural,
    pub status_subresource: bool,
}

/// [`Typed`] with the schema as JSON (structural, inlined, no `$ref`), for
/// callers that hold no compiled schema (tests, tools): [`apply`] and
/// [`track_update`] compile it ([`Structural::compile_memoized`]). The server
/// passes the kind's compiled schema to [`apply_typed`] and
/// [`track_update_typed`].
#[derive(Clone, Copy, Debug)]
pub struct TypeInfo<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub schema: &'a Value,
    pub status_subresource: bool,
}

impl TypeInfo<'_> {
    /// Runs `f` with this type, its schema compiled.
    fn typed<R>(&self, f: impl FnOnce(&Typed<'_>) -> R) -> R {
        let schema = Structural::compile_memoized(self.schema);
        f(&Typed {
            api_version: self.api_version,
            kind: self.kind,
            schema: &schema,
            status_subresource: self.status_subresource,
        })
    }
}

/// A managedFields operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One field another manager owns with a different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    /// Only meaningful for `Update` managers.
    pub api_version: String,
    pub subresource: String,
    /// kube's display form, e.g. `.spec.containers[name="nginx"].image`.
    pub path: String,
}

impl Conflict {
    /// kube's manager text: `"m"`, `"m" with subresource "status"`,
    /// `"m" using apps/v1`.
    pub fn manager_display(&self) -> String {
        let mut out = golang::quote(&self.manager);
        if !self.subresource.is_empty() {
            out.push_str(&format!(
                " with subresource {}",
                golang::quote(&self.subresource)
            ));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The `details.causes[].message` of the 409 (`reason: FieldManagerConflict`,
    /// `field: self.path`).
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_display())
    }
}

/// Why a write could not be tracked or applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict; see [`ApplyError::conflict_message`].
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// 400 Bad Request (wrong type, managedFields in the patch).
    #[error("{0}")]
    BadRequest(String),
    /// The object does not fit its schema's merge rules (duplicate list keys,
    /// unnamed set or map items, nesting too deep). kube answers these with
    /// 500 and the message prefixed by `failed to create typed patch object`.
    #[error("{0}")]
    Invalid(String),
    /// 500: the live object's managedFields cannot be read.
    #[error("{0}")]
    Internal(String),
}

impl ApplyError {
    /// The Status message: for conflicts kube's
    /// `Apply failed with 1 conflict: conflict with "m": .spec.x`, or for
    /// several `Apply failed with N conflicts: conflicts with "m":\n- .a\n- .b`.
    pub fn conflict_message(&self) -> String {
        self.to_string()
    }
}

fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_display(),
            only.path
        );
    }
    // Grouped by manager identifier, in the order kube sorts identifiers.
    let mut groups: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for c in conflicts {
        let id = ManagerId {
            manager: c.manager.clone(),
            operation: c.operation,
            api_version: c.api_version.clone(),
            subresource: c.subresource.clone(),
        };
        groups
            .entry(id.identifier())
            .or_insert_with(|| (c.manager_display(), Vec::new()))
            .1
            .push(&c.path);
    }
    let mut lines = Vec::new();
    for (display, paths) in groups.values() {
        lines.push(format!("conflicts with {display}:"));
        for p in paths {
            lines.push(format!("- {p}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------
// managedFields entries

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerId {
    manager: String,
    operation: Operation,
    /// Empty for `Apply`: one Apply entry per manager whatever the version.
    api_version: String,
    subresource: String,
}

impl ManagerId {
    fn new(name: &str, operation: Operation, api_version: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: if name.is_empty() { "unknown" } else { name }.to_string(),
            operation,
            api_version: match operation {
                Operation::Apply => String::new(),
                Operation::Update => api_version.to_string(),
            },
            subresource: subresource.to_string(),
        }
    }

    /// kube's identifier: the entry without fields and time, as Go JSON.
    fn identifier(&self) -> String {
        let mut out = String::from("{");
        let field = |name: &str, value: &str, out: &mut String| {
            if value.is_empty() {
                return;
            }
            if out.len() > 1 {
                out.push(',');
            }
            golang::json_string(name, out);
            out.push(':');
            golang::json_string(value, out);
        };
        field("manager", &self.manager, &mut out);
        field("operation", self.operation.as_str(), &mut out);
        field("apiVersion", &self.api_version, &mut out);
        field("subresource", &self.subresource, &mut out);
        out.push('}');
        out
    }
}

#[derive(Clone, Debug)]
struct Versioned {
    set: FieldSet,
    api_version: String,
}

#[derive(Clone, Debug, Default)]
struct Managed {
    fields: BTreeMap<ManagerId, Versioned>,
    times: BTreeMap<ManagerId, String>,
}

fn decode_managed(object: &Value) -> Result<Managed, String> {
    let mut managed = Managed::default();
    let entries = match object.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => return Ok(managed),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err("metadata.managedFields must be a list".to_string()),
    };
    for (i, entry) in entries.iter().enumerate() {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
        let operation = match text("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".to_string()),
        };
        let api_version = text("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match text("fieldsType") {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    golang::quote(other)
                ));
            }
        }
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v)
                .map_err(|e| format!("error decoding versioned set: error decoding set: {e}"))?,
        };
        let id = ManagerId::new(text("manager"), operation, api_version, text("subresource"));
        // An empty manager name stays as written (kube only defaults new ones).
        let id = ManagerId {
            manager: text("manager").to_string(),
            ..id
        };
        match entry.get("time").and_then(Value::as_str) {
            Some(t) => managed.times.insert(id.clone(), t.to_string()),
            None => managed.times.remove(&id),
        };
        managed.fields.insert(
            id,
            Versioned {
                set,
                api_version: api_version.to_string(),
            },
        );
    }
    Ok(managed)
}

fn encode_managed(managed: &Managed) -> Option<Value> {
    if managed.fields.is_empty() {
        return None;
    }
    let mut entries: Vec<(&ManagerId, &Versioned, Option<&String>)> = managed
        .fields
        .iter()
        .map(|(id, vs)| (id, vs, managed.times.get(id)))
        .collect();
    entries.sort_by(|a, b| {
        a.0.operation
            .cmp(&b.0.operation)
            .then_with(|| unix_seconds(a.2).cmp(&unix_seconds(b.2)))
            .then_with(|| a.0.manager.cmp(&b.0.manager))
            .then_with(|| a.1.api_version.cmp(&b.1.api_version))
            .then_with(|| a.0.subresource.cmp(&b.0.subresource))
    });
    let list = entries
        .into_iter()
        .map(|(id, vs, time)| {
            let mut entry = Map::new();
            entry.insert("manager".into(), Value::String(id.manager.clone()));
            entry.insert(
                "operation".into(),
                Value::String(id.operation.as_str().into()),
            );
            entry.insert("apiVersion".into(), Value::String(vs.api_version.clone()));
            if let Some(t) = time {
                entry.insert("time".into(), Value::String(t.clone()));
            }
            entry.insert("fieldsType".into(), Value::String("FieldsV1".into()));
            entry.insert("fieldsV1".into(), vs.set.to_fields_v1());
            if !id.subresource.is_empty() {
                entry.insert("subresource".into(), Value::String(id.subresource.clone()));
            }
            Value::Object(entry)
        })
        .collect();
    Some(Value::Array(list))
}

fn set_managed_fields(object: &mut Value, managed: &Managed) {
    let encoded = encode_managed(managed);
    let Some(root) = object.as_object_mut() else {
        return;
    };
    match encoded {
        Some(list) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if !meta.is_object() {
                *meta = Value::Object(Map::new());
            }
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("managedFields".into(), list);
            }
        }
        None => {
            if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
    }
}

fn strip_managed_fields(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// Seconds since the epoch of an RFC 3339 time; 0 when absent or unreadable
/// (as kube sorts entries without time).
fn unix_seconds(time: Option<&String>) -> i64 {
    time.and_then(|t| parse_rfc3339(t)).unwrap_or(0)
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = t.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

// ---------------------------------------------------------------------------
// Field filters

fn pe(name: &str) -> PathElement {
    PathElement::Field(name.to_string())
}

/// Removes the paths no manager ever owns.
fn strip_meta(set: &FieldSet) -> FieldSet {
    let mut strip = FieldSet::new();
    strip.insert(&[pe("apiVersion")]);
    strip.insert(&[pe("kind")]);
    strip.insert(&[pe("metadata")]);
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        strip.insert(&[pe("metadata"), pe(field)]);
    }
    set.difference(&strip)
}

/// What a write through `subresource` may own (kube's reset fields).
fn reset_filter(set: FieldSet, ty: &Typed, subresource: &str) -> FieldSet {
    let status = pe("status");
    if ty.kind == "CertificateSigningRequest" && ty.api_version.starts_with("certificates.k8s.io/")
    {
        // kube-apiserver tracks neither a CSR's spec nor its status, whatever the
        // subresource (its strategies reset both).
        let mut out = set;
        out.remove_top(&status);
        out.remove_top(&pe("spec"));
        return out;
    }
    if subresource == "status" {
        let mut out = FieldSet::new();
        if set.members().contains(&status) {
            out.insert_member(status.clone());
        }
        if let Some(child) = set.child(&status) {
            out.insert_child(status, child.clone());
        }
        out
    } else if subresource.is_empty() && ty.status_subresource {
        let mut out = set;
        out.remove_top(&status);
        out
    } else {
        set
    }
}

fn empty_object(ty: &Typed) -> Value {
    json!({"apiVersion": ty.api_version, "kind": ty.kind})
}

// ---------------------------------------------------------------------------
// Update

/// structured-merge-diff's update for one manager, with kube's
/// strip-then-merge-into-the-manager's-entry step.
fn update_managed(
    typer: &Typer<'_>,
    ty: &Typed,
    live: &Value,
    new: &Value,
    managed: &mut Managed,
    id: &ManagerId,
    now: &str,
) -> Result<(), String> {
    let filter = |s: FieldSet| reset_filter(s, ty, &id.subresource);
    let cmp = merge::compare(typer, live, new)?.map(filter);
    let changed = cmp.modified.union(&cmp.added);
    for vs in managed.fields.values_mut() {
        vs.set = vs.set.difference(&changed).difference(&cmp.removed);
    }
    managed.fields.retain(|_, vs| !vs.set.is_empty());
    let current = strip_meta(&changed);
    if current.is_empty() {
        return Ok(());
    }
    let set = match managed.fields.get(id) {
        Some(previous) => current.union(&previous.set),
        None => current,
    };
    managed.fields.insert(
        id.clone(),
        Versioned {
            set,
            api_version: ty.api_version.to_string(),
        },
    );
    managed.times.insert(id.clone(), now.to_string());
    Ok(())
}

/// Folds the oldest `Update` entries into `ancient-changes` until at most
/// [`MAX_UPDATE_MANAGERS`] remain.
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<ManagerId> = managed
        .fields
        .keys()
        .filter(|id| id.operation == Operation::Update)
        .cloned()
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by_cached_key(|id| (unix_seconds(managed.times.get(id)), id.identifier()));
    let mut first_by_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(vs) = managed.fields.get(&id).cloned() else {
            continue;
        };
        let time = managed.times.get(&id).cloned();
        let bucket = ManagerId::new(ANCIENT_CHANGES, Operation::Update, &vs.api_version, "");
        match first_by_version.get(&vs.api_version) {
            Some(first) => {
                if !managed.fields.contains_key(&bucket)
                    && let Some(moved) = managed.fields.remove(first)
                {
                    managed.fields.insert(bucket.clone(), moved);
                }
                let merged = match managed.fields.get(&bucket) {
                    Some(existing) => vs.set.union(&existing.set),
                    None => vs.set.clone(),
                };
                managed.fields.insert(
                    bucket.clone(),
                    Versioned {
                        set: merged,
                        api_version: vs.api_version.clone(),
                    },
                );
                managed.fields.remove(&id);
                length -= 1;
                match time {
                    Some(t) => managed.times.insert(bucket, t),
                    None => managed.times.remove(&bucket),
                };
            }
            None => {
                first_by_version.insert(vs.api_version.clone(), id);
            }
        }
    }
}

/// Records a non-apply write: call with the object before the write (`None`
/// for a create) and the object about to be stored. The fields that changed
/// go to `manager`'s `Update` entry and leave every other entry.
///
/// `new`'s own `metadata.managedFields`, when present and non-empty, replace
/// the old ones first (`[]` or `[{}]` clears them); writes to a subresource
/// ignore them. Like kube, callers should not fail the write on `Err`: the
/// error is for logging, and `new` then carries `old`'s managedFields.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    ty: &TypeInfo,
    manager: &Manager,
    now: &str,
) -> Result<(), ApplyError> {
    ty.typed(|ty| track_update_typed(old, new, ty, manager, now))
}

/// [`track_update`] with the kind's compiled schema.
pub fn track_update_typed(
    old: Option<&Value>,
    new: &mut Value,
    ty: &Typed,
    manager: &Manager,
    now: &str,
) -> Result<(), ApplyError> {
    let mut live = old.cloned().unwrap_or_else(|| empty_object(ty));
    let live_managed = || decode_managed(&live).unwrap_or_default();
    let mut managed = if !manager.subresource.is_empty() {
        live_managed()
    } else {
        match new.pointer("/metadata/managedFields") {
            Some(Value::Array(list))
                if list.is_empty()
                    || (list.len() == 1 && list[0].as_object().is_some_and(Map::is_empty)) =>
            {
                Managed::default()
            }
            _ => match decode_managed(new) {
                Ok(m) if !m.fields.is_empty() => m,
                _ => live_managed(),
            },
        }
    };
    strip_managed_fields(&mut live);
    let restore = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    strip_managed_fields(new);

    // Existing objects that were never tracked stay untracked.
    let has_uid = live
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .is_some_and(|u| !u.is_empty());
    if managed.fields.is_empty() && has_uid {
        return Ok(());
    }
    let typer = Typer::new(ty.schema);
    let id = ManagerId::new(
        manager.name,
        Operation::Update,
        ty.api_version,
        manager.subresource,
    );
    if let Err(e) = update_managed(&typer, ty, &live, new, &mut managed, &id, now) {
        if let (Some(list), Some(meta)) = (
            restore,
            new.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            meta.insert("managedFields".into(), list);
        }
        return Err(ApplyError::Invalid(format!(
            "failed to update ManagedFields: {e}"
        )));
    }
    cap_update_managers(&mut managed);
    set_managed_fields(new, &managed);
    Ok(())
}

// ---------------------------------------------------------------------------
// Apply

fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = match api_version.split('/').collect::<Vec<_>>()[..] {
        [version] => ("", version),
        [group, version] => (group, version),
        _ => ("", ""),
    };
    format!("{group}/{version}, Kind={kind}")
}

/// The part of the applied configuration a write through `subresource` merges.
fn applied_for(applied: &Value, ty: &Typed, subresource: &str) -> Value {
    let Some(map) = applied.as_object() else {
        return applied.clone();
    };
    let mut out = map.clone();
    if subresource == "status" {
        out.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
        // Only identity metadata: nothing else under metadata is written here.
        if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace"));
        }
    } else if subresource.is_empty() && ty.status_subresource {
        out.remove("status");
    }
    Value::Object(out)
}

/// The conflicts, per manager, of an apply.
type ConflictSets = BTreeMap<ManagerId, FieldSet>;

fn conflict_list(sets: &ConflictSets) -> Vec<Conflict> {
    let mut ordered: Vec<(&ManagerId, &FieldSet)> = sets.iter().collect();
    ordered.sort_by_cached_key(|(id, _)| id.identifier());
    let mut out = Vec::new();
    for (id, set) in ordered {
        for path in set.paths() {
            out.push(Conflict {
                manager: id.manager.clone(),
                operation: id.operation,
                api_version: id.api_version.clone(),
                subresource: id.subresource.clone(),
                path: path_string(&path),
            });
        }
    }
    out
}

enum CoreError {
    Conflicts(ConflictSets),
    Invalid(String),
}

/// structured-merge-diff's apply plus kube's time and strip layers. Returns
/// the new object (`live` itself when nothing changed).
#[allow(clippy::too_many_arguments)]
fn apply_core(
    typer: &Typer<'_>,
    ty: &Typed,
    live: &Value,
    config: &Value,
    managed: &mut Managed,
    id: &ManagerId,
    force: bool,
    now: &str,
) -> Result<Value, CoreError> {
    let filter = |s: FieldSet| reset_filter(s, ty, &id.subresource);
    let applied_set = merge::field_set(typer, config, true).map_err(CoreError::Invalid)?;
    let merged = merge::merge(typer, live, config).map_err(CoreError::Invalid)?;
    let last = managed.fields.get(id).map(|vs| vs.set.clone());
    managed.fields.insert(
        id.clone(),
        Versioned {
            set: filter(applied_set),
            api_version: ty.api_version.to_string(),
        },
    );
    let merged = match last {
        Some(last) if !last.is_empty() => prune(typer, merged, managed, &last),
        _ => merged,
    };

    let cmp = merge::compare(typer, live, &merged)
        .map_err(CoreError::Invalid)?
        .map(filter);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = ConflictSets::new();
    for (other, vs) in &managed.fields {
        if other == id {
            continue;
        }
        let clash = vs.set.intersection(&changed);
        if !clash.is_empty() {
            conflicts.insert(other.clone(), clash);
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(CoreError::Conflicts(conflicts));
    }
    for (other, vs) in managed.fields.iter_mut() {
        if other == id {
            continue;
        }
        if let Some(clash) = conflicts.get(other) {
            vs.set = vs.set.difference(clash);
        }
        vs.set = vs.set.difference(&cmp.removed);
    }
    managed.fields.retain(|_, vs| !vs.set.is_empty());

    let object = if values_equal(live, &merged) {
        live.clone()
    } else {
        managed.times.insert(id.clone(), now.to_string());
        merged
    };
    if let Some(vs) = managed.fields.get_mut(id) {
        vs.set = strip_meta(&vs.set);
        if vs.set.is_empty() {
            managed.fields.remove(id);
        }
    }
    Ok(object)
}

/// Removes what the applier owned before (`last`), no longer applies, and no
/// manager (the applier's new set included) owns.
fn prune(typer: &Typer<'_>, merged: Value, managed: &Managed, last: &FieldSet) -> Value {
    let last = merge::ensure_named(typer, last);
    let present = merge::ensure_named(
        typer,
        &merge::field_set(typer, &merged, false).unwrap_or_default(),
    );
    let owned = managed
        .fields
        .values()
        .fold(FieldSet::new(), |acc, vs| acc.union(&vs.set));
    let owned = merge::ensure_named(typer, &owned);
    let mut remove = present.intersection(&last).difference(&owned);
    // Identity never goes, whatever the sets say.
    remove = remove.difference(&identity_paths());
    if remove.is_empty() {
        merged
    } else {
        merge::remove_items(typer, &merged, &remove)
    }
}

fn identity_paths() -> FieldSet {
    let mut s = FieldSet::new();
    for top in ["apiVersion", "kind", "metadata"] {
        s.insert(&[pe(top)]);
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
    ] {
        s.insert(&[pe("metadata"), pe(field)]);
    }
    s
}

/// The fields `kubectl` may take over without `force`: those of the
/// last-applied annotation whose live value still matches it.
fn last_applied_allowed(typer: &Typer<'_>, ty: &Typed, live: &Value) -> Option<FieldSet> {
    let text = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(ty.api_version) {
        return None;
    }
    let set = merge::field_set(typer, &last, false).ok()?;
    let cmp = merge::compare(typer, &last, live).ok()?;
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

fn has_last_applied(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// kubectl's last-applied text for an applied configuration: the
/// configuration without the annotation, as Go JSON plus a newline.
fn build_last_applied(applied: &Value) -> String {
    let mut copy = applied.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        let now_empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
            Some(annotations) => {
                annotations.remove(LAST_APPLIED_ANNOTATION);
                annotations.is_empty()
            }
            None => false,
        };
        if now_empty {
            meta.remove("annotations");
        }
    }
    let mut out = golang::json(&copy);
    out.push('\n');
    out
}

/// Server-side apply: merges `applied` (the request body, already parsed)
/// into `live` (`None` creates) for `manager`, and returns the object to store
/// with `metadata.managedFields` updated. The caller still runs its usual
/// create/update path on the result (name and namespace checks against the
/// URL, defaulting, validation, server-owned metadata).
///
/// Errors: [`ApplyError::BadRequest`] when `applied` has another apiVersion or
/// kind than the endpoint (kube: `invalid object type: <group>/<version>,
/// Kind=<kind>`) or carries `metadata.managedFields`;
/// [`ApplyError::Conflicts`] (409) unless `force`;
/// [`ApplyError::Invalid`] when `applied` breaks the schema's list rules;
/// [`ApplyError::Internal`] when the live managedFields are unreadable.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    ty: &TypeInfo,
    manager: &Manager,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    ty.typed(|ty| apply_typed(live, applied, ty, manager, force, now))
}

/// [`apply`] with the kind's compiled schema.
pub fn apply_typed(
    live: Option<&Value>,
    applied: &Value,
    ty: &Typed,
    manager: &Manager,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    let Some(body) = applied.as_object() else {
        return Err(ApplyError::BadRequest(
            "error decoding patch: the apply patch must be an object".to_string(),
        ));
    };
    let body_version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body_kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    if body_version != ty.api_version || body_kind != ty.kind {
        return Err(ApplyError::BadRequest(format!(
            "invalid object type: {}",
            gvk_string(body_version, body_kind)
        )));
    }
    if matches!(
        applied.pointer("/metadata/managedFields"),
        Some(Value::Array(_))
    ) {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".to_string(),
        ));
    }

    let mut live_obj = live.cloned().unwrap_or_else(|| empty_object(ty));
    let managed = decode_managed(&live_obj)
        .map_err(|e| ApplyError::Internal(format!("failed to decode managed fields: {e}")))?;
    strip_managed_fields(&mut live_obj);
    let typer = Typer::new(ty.schema);
    let config = applied_for(applied, ty, manager.subresource);
    let id = ManagerId::new(
        manager.name,
        Operation::Apply,
        ty.api_version,
        manager.subresource,
    );

    let run = |force: bool| -> Result<(Value, Managed), CoreError> {
        let mut managed = managed.clone();
        if managed.fields.is_empty() {
            // Whatever the object holds so far belongs to "before-first-apply".
            let first = ManagerId::new(
                BEFORE_FIRST_APPLY,
                Operation::Update,
                ty.api_version,
                manager.subresource,
            );
            update_managed(
                &typer,
                ty,
                &empty_object(ty),
                &live_obj,
                &mut managed,
                &first,
                now,
            )
            .map_err(CoreError::Invalid)?;
            cap_update_managers(&mut managed);
        }
        let object = apply_core(
            &typer,
            ty,
            &live_obj,
            &config,
            &mut managed,
            &id,
            force,
            now,
        )?;
        Ok((object, managed))
    };

    let result = match run(force) {
        Err(CoreError::Conflicts(conflicts)) if manager.name == "kubectl" => {
            match last_applied_allowed(&typer, ty, &live_obj) {
                Some(allowed) => {
                    let remaining: ConflictSets = conflicts
                        .into_iter()
                        .filter_map(|(id, set)| {
                            let rest = set.difference(&allowed);
                            (!rest.is_empty()).then_some((id, rest))
                        })
                        .collect();
                    if remaining.is_empty() {
                        run(true)
                    } else {
                        Err(CoreError::Conflicts(remaining))
                    }
                }
                None => Err(CoreError::Conflicts(conflicts)),
            }
        }
        other => other,
    };
    let (mut object, managed) = match result {
        Ok(ok) => ok,
        Err(CoreError::Conflicts(sets)) => return Err(ApplyError::Conflicts(conflict_list(&sets))),
        Err(CoreError::Invalid(msg)) => return Err(ApplyError::Invalid(msg)),
    };
    if manager.name == "kubectl" && has_last_applied(&object) {
        let text = build_last_applied(applied);
        if let Some(annotations) = object
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(text));
        }
    }
    set_managed_fields(&mut object, &managed);
    Ok(object)
}
