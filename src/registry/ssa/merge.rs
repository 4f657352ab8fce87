//! The four schema-driven walks of server-side apply: the field set of an
//! object, the comparison of two objects, the merge of an applied
//! configuration into a live object, and the removal of a set of paths.
//!
//! Rules shared by all walks (structured-merge-diff's):
//! - a value's JSON type picks how it is walked; the schema only says whether
//!   an object or list is granular and how list items are named;
//! - atomic maps and lists, scalars, and containers empty or `null` on both
//!   sides are leaves;
//! - `null` on one side behaves as an empty container of the other side's type.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::MAX_DEPTH;
use super::fieldset::{FieldSet, PathElement, path_string, values_equal};
use super::schema::{ListKind, Node, Shape, Typer, item_element, list_kind, map_is_atomic, shape};

fn too_deep(path: &[PathElement]) -> String {
    format!(
        "{}: object nesting exceeds {MAX_DEPTH} levels",
        path_string(path)
    )
}

fn at(path: &[PathElement], msg: impl std::fmt::Display) -> String {
    if path.is_empty() {
        msg.to_string()
    } else {
        format!("{}: {msg}", path_string(path))
    }
}

/// How a value at `node` is walked.
#[derive(Debug)]
enum Atom<'s> {
    Leaf,
    Map,
    List(ListKind<'s>),
}

fn atom(node: Node<'_>, s: Shape) -> Atom<'_> {
    match s {
        Shape::Object if !map_is_atomic(node) => Atom::Map,
        Shape::Array => match list_kind(node) {
            ListKind::Atomic => Atom::Leaf,
            kind => Atom::List(kind),
        },
        _ => Atom::Leaf,
    }
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn as_list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

// ---------------------------------------------------------------------------
// Field sets

/// The field set of `value`. `strict` rejects what an applied configuration may
/// not contain (duplicate or unnamed items of sets and associative lists);
/// otherwise such items are recorded (duplicates) or skipped (unnamed).
pub(crate) fn field_set(
    typer: &Typer<'_>,
    value: &Value,
    strict: bool,
) -> Result<FieldSet, String> {
    let mut set = FieldSet::new();
    let mut path = Vec::new();
    to_set(typer, value, typer.root(), strict, &mut path, &mut set)?;
    Ok(set)
}

fn to_set<'s>(
    typer: &Typer<'s>,
    value: &Value,
    node: Node<'s>,
    strict: bool,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
) -> Result<(), String> {
    if path.len() > MAX_DEPTH {
        return Err(too_deep(path));
    }
    match (atom(node, shape(value)), value) {
        (Atom::Map, Value::Object(map)) => {
            for (key, child) in map {
                let (child_node, named) = typer.field(node, key);
                path.push(PathElement::Field(key.clone()));
                to_set(typer, child, child_node, strict, path, set)?;
                if is_empty_container(Some(child)) && !child.is_array() || !named {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (Atom::List(kind), Value::Array(items)) => {
            let item_node = typer.items(node);
            let mut named = Vec::with_capacity(items.len());
            let mut seen = BTreeSet::new();
            let mut dups = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                match item_element(&kind, item_node, item) {
                    Ok(pe) => {
                        if !seen.insert(pe.clone()) {
                            if strict {
                                return Err(at(path, format!("duplicate entries for key {pe}")));
                            }
                            dups.insert(pe.clone());
                        }
                        named.push(Some(pe));
                    }
                    Err(e) if strict => return Err(at(path, format!("element {i}: {e}"))),
                    Err(_) => named.push(None),
                }
            }
            for pe in &dups {
                path.push(pe.clone());
                set.insert(path);
                path.pop();
            }
            for (item, pe) in items.iter().zip(named) {
                let Some(pe) = pe else { continue };
                if dups.contains(&pe) {
                    continue;
                }
                path.push(pe);
                to_set(typer, item, item_node, strict, path, set)?;
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

/// Adds, as members, the declared fields that have members below them (kube's
/// `EnsureNamedFieldsAreMembers`), so removing them whole is considered.
pub(crate) fn ensure_named(typer: &Typer<'_>, set: &FieldSet) -> FieldSet {
    ensure_named_at(typer, set, typer.root(), 0)
}

fn ensure_named_at<'s>(
    typer: &Typer<'s>,
    set: &FieldSet,
    node: Node<'s>,
    depth: usize,
) -> FieldSet {
    let mut out = FieldSet::new();
    for pe in set.members() {
        out.insert_member(pe.clone());
    }
    for (pe, child) in set.children() {
        let child_node = match pe {
            PathElement::Field(key) => {
                let (child_node, named) = typer.field(node, key);
                if named {
                    out.insert_member(pe.clone());
                }
                child_node
            }
            _ => typer.items(node),
        };
        let child = if depth < MAX_DEPTH {
            ensure_named_at(typer, child, child_node, depth + 1)
        } else {
            child.clone()
        };
        out.insert_child(pe.clone(), child);
    }
    out
}

// ---------------------------------------------------------------------------
// Comparison

/// The paths that differ between two objects.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub(crate) fn map(self, f: impl Fn(FieldSet) -> FieldSet) -> Comparison {
        Comparison {
            added: f(self.added),
            modified: f(self.modified),
            removed: f(self.removed),
        }
    }
}

/// Compares `old` with `new`: leaves that changed are modified; fields and
/// items that appear or vanish are added or removed together with their
/// descendants.
pub(crate) fn compare(typer: &Typer<'_>, old: &Value, new: &Value) -> Result<Comparison, String> {
    let mut cmp = Comparison::default();
    let mut path = Vec::new();
    compare_at(
        typer,
        Some(old),
        Some(new),
        typer.root(),
        &mut path,
        &mut cmp,
    )?;
    Ok(cmp)
}

fn compare_at<'s>(
    typer: &Typer<'s>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    node: Node<'s>,
    path: &mut Vec<PathElement>,
    cmp: &mut Comparison,
) -> Result<(), String> {
    if path.len() > MAX_DEPTH {
        return Err(too_deep(path));
    }
    let ls = lhs.map(shape).filter(|s| *s != Shape::Null);
    let rs = rhs.map(shape).filter(|s| *s != Shape::Null);
    if let (Some(l), Some(r)) = (ls, rs)
        && l != r
    {
        // Different JSON types: the leaf changed, and what each side held
        // below it went away or appeared.
        cmp.modified.insert(path);
        compare_children(typer, lhs, None, node, l, path, cmp)?;
        compare_children(typer, None, rhs, node, r, path, cmp)?;
        return Ok(());
    }
    let s = rs.or(ls).unwrap_or(Shape::Null);
    let leaf = match atom(node, s) {
        Atom::Leaf => true,
        _ => is_empty_container(lhs) && is_empty_container(rhs),
    };
    if leaf {
        match (lhs, rhs) {
            (None, _) => cmp.added.insert(path),
            (_, None) => cmp.removed.insert(path),
            (Some(l), Some(r)) if !values_equal(l, r) => cmp.modified.insert(path),
            _ => {}
        }
        return Ok(());
    }
    compare_children(typer, lhs, rhs, node, s, path, cmp)?;
    match (lhs, rhs) {
        (None, _) => cmp.added.insert(path),
        (_, None) => cmp.removed.insert(path),
        _ => {}
    }
    Ok(())
}

fn compare_children<'s>(
    typer: &Typer<'s>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    node: Node<'s>,
    s: Shape,
    path: &mut Vec<PathElement>,
    cmp: &mut Comparison,
) -> Result<(), String> {
    match atom(node, s) {
        Atom::Leaf => Ok(()),
        Atom::Map => {
            let empty = Map::new();
            let l = as_map(lhs).unwrap_or(&empty);
            let r = as_map(rhs).unwrap_or(&empty);
            let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
            for key in keys {
                let (child_node, _) = typer.field(node, key);
                path.push(PathElement::Field(key.clone()));
                compare_at(typer, l.get(key), r.get(key), child_node, path, cmp)?;
                path.pop();
            }
            Ok(())
        }
        Atom::List(kind) => {
            let item_node = typer.items(node);
            let mut order: Vec<PathElement> = Vec::new();
            let mut left: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
            let mut right: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
            for item in as_list(lhs) {
                let Ok(pe) = item_element(&kind, item_node, item) else {
                    continue;
                };
                let entry = left.entry(pe.clone()).or_default();
                if entry.is_empty() {
                    order.push(pe);
                }
                entry.push(item);
            }
            for item in as_list(rhs) {
                let Ok(pe) = item_element(&kind, item_node, item) else {
                    continue;
                };
                let entry = right.entry(pe.clone()).or_default();
                if entry.is_empty() && !left.contains_key(&pe) {
                    order.push(pe.clone());
                }
                entry.push(item);
            }
            for pe in order {
                let l = left.get(&pe).map(Vec::as_slice).unwrap_or(&[]);
                let r = right.get(&pe).map(Vec::as_slice).unwrap_or(&[]);
                path.push(pe);
                if l.len() <= 1 && r.len() <= 1 {
                    compare_at(
                        typer,
                        l.first().copied(),
                        r.first().copied(),
                        item_node,
                        path,
                        cmp,
                    )?;
                } else if l.len() >= 2 && r.len() >= 2 {
                    let same = l.len() == r.len()
                        && l.iter().zip(r.iter()).all(|(a, b)| values_equal(a, b));
                    if !same {
                        cmp.modified.insert(path);
                    }
                } else if l.len() >= 2 {
                    if let Some(first) = r.first() {
                        compare_at(typer, None, Some(first), item_node, path, cmp)?;
                    }
                    cmp.removed.insert(path);
                } else {
                    if let Some(first) = l.first() {
                        compare_at(typer, Some(first), None, item_node, path, cmp)?;
                    }
                    cmp.added.insert(path);
                }
                path.pop();
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Merge

/// Merges the applied configuration `rhs` into `lhs`: leaves of `rhs` win,
/// granular maps merge key by key, sets and associative lists item by item
/// (items in `rhs` order, `lhs`-only items kept in place).
pub(crate) fn merge(typer: &Typer<'_>, lhs: &Value, rhs: &Value) -> Result<Value, String> {
    let mut path = Vec::new();
    let out = merge_at(typer, Some(lhs), Some(rhs), typer.root(), &mut path)?;
    Ok(out.unwrap_or_else(|| Value::Object(Map::new())))
}

fn merge_at<'s>(
    typer: &Typer<'s>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    node: Node<'s>,
    path: &mut Vec<PathElement>,
) -> Result<Option<Value>, String> {
    if path.len() > MAX_DEPTH {
        return Err(too_deep(path));
    }
    let ls = lhs.map(shape).filter(|s| *s != Shape::Null);
    let rs = rhs.map(shape).filter(|s| *s != Shape::Null);
    if let (Some(l), Some(r)) = (ls, rs)
        && l != r
    {
        return Ok(rhs.cloned());
    }
    let s = rs.or(ls).unwrap_or(Shape::Null);
    let atom = atom(node, s);
    if matches!(atom, Atom::Leaf) || is_empty_container(lhs) && is_empty_container(rhs) {
        return Ok(rhs.or(lhs).cloned());
    }
    match atom {
        Atom::Leaf => Ok(rhs.or(lhs).cloned()),
        Atom::Map => {
            let empty = Map::new();
            let l = as_map(lhs).unwrap_or(&empty);
            let r = as_map(rhs).unwrap_or(&empty);
            let mut out = Map::new();
            let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
            for key in keys {
                let (child_node, _) = typer.field(node, key);
                path.push(PathElement::Field(key.clone()));
                let merged = merge_at(typer, l.get(key), r.get(key), child_node, path)?;
                path.pop();
                if let Some(v) = merged {
                    out.insert(key.clone(), v);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        Atom::List(kind) => {
            let out = merge_list(typer, as_list(lhs), as_list(rhs), &kind, node, path)?;
            Ok((!out.is_empty()).then_some(Value::Array(out)))
        }
    }
}

fn name_items(
    kind: &ListKind<'_>,
    item_node: Node<'_>,
    items: &[Value],
    path: &[PathElement],
) -> Result<Vec<PathElement>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item_element(kind, item_node, item).map_err(|e| at(path, format!("element {i}: {e}")))
        })
        .collect()
}

fn merge_list<'s>(
    typer: &Typer<'s>,
    lhs: &[Value],
    rhs: &[Value],
    kind: &ListKind<'_>,
    node: Node<'s>,
    path: &mut Vec<PathElement>,
) -> Result<Vec<Value>, String> {
    let item_node = typer.items(node);
    let rhs_pes = name_items(kind, item_node, rhs, path)?;
    let lhs_pes = name_items(kind, item_node, lhs, path)?;
    let mut observed_rhs: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (pe, item) in rhs_pes.iter().zip(rhs) {
        if observed_rhs.insert(pe, item).is_some() {
            return Err(at(path, format!("duplicate entries for key {pe}")));
        }
    }
    // Duplicated live items are merged as `null` (they never match one item).
    let null = Value::Null;
    let mut observed_lhs: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (pe, item) in lhs_pes.iter().zip(lhs) {
        if observed_lhs.insert(pe, item).is_some() {
            observed_lhs.insert(pe, &null);
        }
    }
    let mut shared = rhs_pes
        .iter()
        .filter(|pe| observed_lhs.contains_key(pe))
        .collect::<Vec<_>>()
        .into_iter();
    let mut next_shared = shared.next();
    let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let push = |out: &mut Vec<Value>,
                pe: &PathElement,
                l: Option<&Value>,
                r: Option<&Value>,
                path: &mut Vec<PathElement>|
     -> Result<(), String> {
        path.push(pe.clone());
        let merged = merge_at(typer, l, r, item_node, path)?;
        path.pop();
        if let Some(v) = merged {
            out.push(v);
        }
        Ok(())
    };
    let (ll, rl) = (lhs_pes.len(), rhs_pes.len());
    let (mut li, mut ri) = (0, 0);
    // Each round advances li or ri; the bound is a guard only.
    let mut rounds = 0usize;
    while (li < ll || ri < rl) && rounds <= 2 * (ll + rl) + 2 {
        rounds += 1;
        if li < ll && ri < rl {
            let pe = &lhs_pes[li];
            if *pe == rhs_pes[ri] {
                merged_rhs.insert(pe);
                push(
                    &mut out,
                    pe,
                    observed_lhs.get(pe).copied(),
                    observed_rhs.get(pe).copied(),
                    path,
                )?;
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_rhs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                // A shared item, but not the next one in the applied order.
                li += 1;
                continue;
            }
        }
        if li < ll {
            let pe = &lhs_pes[li];
            if !observed_rhs.contains_key(pe) {
                push(&mut out, pe, lhs.get(li), None, path)?;
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
            }
        }
        if ri < rl {
            let pe = &rhs_pes[ri];
            merged_rhs.insert(pe);
            push(
                &mut out,
                pe,
                observed_lhs.get(pe).copied(),
                observed_rhs.get(pe).copied(),
                path,
            )?;
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Removal

/// `value` without the members of `remove` (a removed field or item goes with
/// everything below it).
pub(crate) fn remove_items(typer: &Typer<'_>, value: &Value, remove: &FieldSet) -> Value {
    remove_at(typer, value, remove, typer.root(), 0).unwrap_or_else(|| Value::Object(Map::new()))
}

fn remove_at<'s>(
    typer: &Typer<'s>,
    value: &Value,
    remove: &FieldSet,
    node: Node<'s>,
    depth: usize,
) -> Option<Value> {
    if depth > MAX_DEPTH || remove.is_empty() {
        return Some(value.clone());
    }
    match (atom(node, shape(value)), value) {
        (Atom::Map, Value::Object(map)) if !map.is_empty() => {
            let mut out = Map::new();
            for (key, child) in map {
                let pe = PathElement::Field(key.clone());
                if remove.members().contains(&pe) {
                    continue;
                }
                let kept = match remove.child(&pe) {
                    Some(sub) => {
                        let (child_node, _) = typer.field(node, key);
                        remove_at(typer, child, sub, child_node, depth + 1).unwrap_or(Value::Null)
                    }
                    None => child.clone(),
                };
                out.insert(key.clone(), kept);
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (Atom::List(kind), Value::Array(items)) if !items.is_empty() => {
            let item_node = typer.items(node);
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Ok(pe) = item_element(&kind, item_node, item) else {
                    out.push(item.clone());
                    continue;
                };
                if remove.members().contains(&pe) {
                    continue;
                }
                match remove.child(&pe) {
                    Some(sub) => out.push(
                        remove_at(typer, item, sub, item_node, depth + 1).unwrap_or(Value::Null),
                    ),
                    None => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => Some(value.clone()),
    }
}
