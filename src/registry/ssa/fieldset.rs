//! Field sets: the trees of paths `metadata.managedFields[*].fieldsV1` records.
//!
//! A path is a list of [`PathElement`]s. A [`FieldSet`] is a trie of paths in which
//! every node knows whether the path ending there is itself a member ("leaf") and
//! which longer paths continue from it. The wire form (`FieldsV1`) is one JSON
//! object per node: `f:<field>`, `k:<key json>`, `v:<value json>` and `i:<index>`
//! name the children, `{}` marks a member without children and `".": {}` marks a
//! node that is both a member and a prefix of other members.
//!
//! Ordering follows structured-merge-diff: field names sort before keys, keys
//! before values, values before indexes; values sort numbers first (integers
//! and floats compared numerically), then strings, booleans, lists, maps and
//! `null`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::api::schema::golang;

use super::MAX_DEPTH;

/// One step of a path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of an object or a key of a map (`f:`).
    Field(String),
    /// An item of an associative list, by its key fields sorted by name (`k:`).
    Key(Vec<(String, Value)>),
    /// An item of a set, by value (`v:`).
    Value(Value),
    /// An item of a positional list (`i:`); never produced here, kept when read.
    Index(i64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key of this element, e.g. `f:spec` or `k:{"name":"a"}`.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        match self {
            PathElement::Field(name) => {
                out.push_str("f:");
                out.push_str(name);
            }
            PathElement::Key(fields) => {
                out.push_str("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    golang::json_string(name, &mut out);
                    out.push(':');
                    out.push_str(&golang::json(value));
                }
                out.push('}');
            }
            PathElement::Value(value) => {
                out.push_str("v:");
                out.push_str(&golang::json(value));
            }
            PathElement::Index(i) => {
                out.push_str("i:");
                out.push_str(&i.to_string());
            }
        }
        out
    }

    /// Parses a `FieldsV1` key. `Ok(None)` for an unknown element type (kube
    /// drops those silently).
    pub fn deserialize(s: &str) -> Result<Option<PathElement>, String> {
        let bytes = s.as_bytes();
        if bytes.len() < 2 {
            return Err("key must be 2 characters long:".to_string());
        }
        if bytes[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = s.get(2..).unwrap_or_default();
        match bytes[0] {
            b'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            b'v' => serde_json::from_str::<Value>(rest)
                .map(|v| Some(PathElement::Value(v)))
                .map_err(|e| e.to_string()),
            b'k' => {
                let v: Value = serde_json::from_str(rest).map_err(|e| e.to_string())?;
                let Value::Object(map) = v else {
                    return Err(format!("expected an object in {s}"));
                };
                // serde_json maps iterate sorted by name, as kube sorts key fields.
                Ok(Some(PathElement::Key(map.into_iter().collect())))
            }
            b'i' => rest
                .parse::<i64>()
                .map(|i| Some(PathElement::Index(i)))
                .map_err(|e| format!("strconv.Atoi: parsing {rest:?}: {e}")),
            _ => Ok(None),
        }
    }
}

impl std::fmt::Display for PathElement {
    /// kube's human form: `.name`, `[name="a",port=80]`, `[="x"]`, `[0]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", go_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", go_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

/// kube's display form of a whole path, e.g. `.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of paths (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// No paths at all.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds one path (the empty path is ignored).
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, prefix)) = path.split_last() else {
            return;
        };
        let mut node = self;
        for pe in prefix {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    /// Whether `path` is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        let Some((last, prefix)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in prefix {
            match node.children.get(pe) {
                Some(child) => node = child,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    /// Members directly below the root.
    pub(crate) fn members(&self) -> &BTreeSet<PathElement> {
        &self.members
    }

    /// The paths continuing below `pe`, without `pe` itself.
    pub(crate) fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub(crate) fn children(&self) -> &BTreeMap<PathElement, FieldSet> {
        &self.children
    }

    pub(crate) fn insert_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    pub(crate) fn insert_child(&mut self, pe: PathElement, set: FieldSet) {
        if set.is_empty() {
            return;
        }
        match self.children.get_mut(&pe) {
            Some(existing) => *existing = existing.union(&set),
            None => {
                self.children.insert(pe, set);
            }
        }
    }

    pub(crate) fn remove_top(&mut self, pe: &PathElement) {
        self.members.remove(pe);
        self.children.remove(pe);
    }

    /// Every path of either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, set) in &other.children {
            out.insert_child(pe.clone(), set.clone());
        }
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, set) in &self.children {
            let rest = match other.children.get(pe) {
                Some(o) => set.difference(o),
                None => set.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, set) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let both = set.intersection(o);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        FieldSet { members, children }
    }

    /// Every member path, in kube's iteration order (a node's members first,
    /// then the paths below each child, children in order).
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` object (as a JSON value; key order is serde_json's).
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit_value(false))
    }

    fn emit_value(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        // A member that also has children is emitted once (with its children), not
        // twice: visiting it twice made this exponential in the nesting depth.
        let children_only = self
            .children
            .keys()
            .filter(|pe| !self.members.contains(*pe));
        for pe in self.members.iter().chain(children_only) {
            let key = pe.serialize();
            let value = match self.children.get(pe) {
                Some(child) => child.emit_value(self.members.contains(pe)),
                None => Map::new(),
            };
            out.insert(key, Value::Object(value));
        }
        out
    }

    /// The `FieldsV1` bytes exactly as kube writes them (its key order).
    pub fn to_json_string(&self) -> String {
        let mut out = String::from("{");
        self.emit_string(false, &mut out);
        out.push('}');
        out
    }

    fn emit_string(&self, include_self: bool, out: &mut String) {
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
        };
        if include_self && !self.is_empty() {
            sep(out);
            out.push_str("\".\":{}");
        }
        let mut order: Vec<&PathElement> = self
            .members
            .iter()
            .chain(
                self.children
                    .keys()
                    .filter(|pe| !self.members.contains(*pe)),
            )
            .collect();
        order.sort();
        for pe in order {
            sep(out);
            golang::json_string(&pe.serialize(), out);
            out.push(':');
            out.push('{');
            if let Some(child) = self.children.get(pe) {
                child.emit_string(self.members.contains(pe), out);
            }
            out.push('}');
        }
    }

    /// Reads a `FieldsV1` object.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = value else {
            return Err("FieldsV1 must be a JSON object".to_string());
        };
        let (set, _) = read_node(map, 0)?;
        Ok(set.unwrap_or_default())
    }
}

/// Returns the children of one node and whether the node is itself a member.
fn read_node(map: &Map<String, Value>, depth: usize) -> Result<(Option<FieldSet>, bool), String> {
    if depth > MAX_DEPTH {
        return Err("FieldsV1 nesting too deep".to_string());
    }
    let mut children: Option<FieldSet> = None;
    let mut is_member = false;
    for (key, value) in map {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::deserialize(key)? else {
            continue;
        };
        let Value::Object(inner) = value else {
            return Err(format!("expected an object for {key}"));
        };
        let (grand, child_member) = read_node(inner, depth + 1)?;
        if child_member {
            children.get_or_insert_default().insert_member(pe.clone());
        }
        if let Some(grand) = grand {
            children.get_or_insert_default().insert_child(pe, grand);
        }
    }
    if children.is_none() {
        is_member = true;
    }
    Ok((children, is_member))
}

/// structured-merge-diff's total order of values.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    use Value::*;
    match (a, b) {
        (Number(x), Number(y)) => compare_numbers(x, y),
        (Number(_), _) => Ordering::Less,
        (_, Number(_)) => Ordering::Greater,
        (String(x), String(y)) => x.cmp(y),
        (String(_), _) => Ordering::Less,
        (_, String(_)) => Ordering::Greater,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Bool(_), _) => Ordering::Less,
        (_, Bool(_)) => Ordering::Greater,
        (Array(x), Array(y)) => {
            for (l, r) in x.iter().zip(y.iter()) {
                let c = compare_values(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Array(_), _) => Ordering::Less,
        (_, Array(_)) => Ordering::Greater,
        (Object(x), Object(y)) => {
            let keys: BTreeSet<&std::string::String> = x.keys().chain(y.keys()).collect();
            for (i, key) in keys.into_iter().enumerate() {
                if i == x.len() {
                    return Ordering::Less;
                }
                if i == y.len() {
                    return Ordering::Greater;
                }
                let c = match (x.get(key), y.get(key)) {
                    (None, _) => Ordering::Greater,
                    (_, None) => Ordering::Less,
                    (Some(l), Some(r)) => compare_values(l, r),
                };
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        }
        (Object(_), _) => Ordering::Less,
        (_, Object(_)) => Ordering::Greater,
        (Null, Null) => Ordering::Equal,
    }
}

fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(x), int(y)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => {
            let a = x.as_f64().unwrap_or(0.0);
            let b = y.as_f64().unwrap_or(0.0);
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
    }
}

/// Value equality as structured-merge-diff sees it (`1 == 1.0`).
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    compare_values(a, b) == Ordering::Equal
}

/// structured-merge-diff's `value.ToString` (used in conflict paths).
fn go_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => golang::float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => golang::quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", go_to_string(v)))
            .collect(),
    }
}
