//! Turning `openAPIV3Schema` JSON into [`Node`]s, with the structural-schema rules
//! (apiextensions `pkg/apiserver/schema/validation.go`, `complete.go`) and the parts of CRD
//! schema validation (`pkg/apis/apiextensions/validation`) that concern one schema. Error
//! texts are kube's where kube has one.

use serde_json::{Map, Value};

use super::golang;
use super::{
    Additional, Checks, FieldError, Flavor, ListType, MAX_SCHEMA_DEPTH, MapType, Node, Pattern,
    SchemaError, Type, child, key,
};

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Where a node sits.
#[derive(Clone, Copy)]
struct Ctx {
    level: Level,
    /// Inside `allOf`/`anyOf`/`oneOf`/`not`.
    nested: bool,
    /// The `{type: integer}`/`{type: string}` branches of int-or-string's `anyOf`.
    allow_type: bool,
    /// Inside the root `metadata` (defaults are forbidden there).
    root_meta: bool,
    /// `x-kubernetes-validations` allowed (not under `anyOf`/`oneOf`/`not`).
    allow_cel: bool,
}

impl Ctx {
    fn structural(level: Level, root_meta: bool) -> Self {
        Self {
            level,
            nested: false,
            allow_type: false,
            root_meta,
            allow_cel: true,
        }
    }
}

struct Compiler {
    flavor: Flavor,
    errors: Vec<FieldError>,
    too_deep: Option<String>,
}

/// The tree of everything that could be read, and what is wrong with the schema (nodes
/// deeper than [`MAX_SCHEMA_DEPTH`] are left empty).
pub(super) fn compile(schema: &Value, flavor: Flavor) -> (Node, Option<SchemaError>) {
    let mut c = Compiler {
        flavor,
        errors: Vec::new(),
        too_deep: None,
    };
    let path = "openAPIV3Schema";
    let mut root = c.node(schema, path, Ctx::structural(Level::Root, false), 0, None);
    root.mark();
    if let Some(path) = c.too_deep {
        let error = SchemaError::TooDeep {
            path,
            max: MAX_SCHEMA_DEPTH,
        };
        return (root, Some(error));
    }
    if c.errors.is_empty() {
        check_defaults(&root, path, true, &mut c.errors);
    }
    let error = (!c.errors.is_empty()).then_some(SchemaError::Invalid(c.errors));
    (root, error)
}

/// Defaults must survive pruning unchanged and validate against their own schema
/// (apiextensions `defaulting/validation.go`).
fn check_defaults(node: &Node, path: &str, root: bool, errors: &mut Vec<FieldError>) {
    if let Some(default) = &node.default {
        let at = child(path, "default");
        let mut pruned = default.clone();
        let unknown = super::prune::prune_value(node, &mut pruned, node.embedded);
        if !unknown.is_empty() {
            errors.push(FieldError::invalid(
                &at,
                default,
                "must not have unknown fields",
            ));
        } else {
            errors.extend(super::validate::embedded_errors_at(node, default, &at));
            errors.extend(super::validate::schema_errors(
                node,
                default,
                None,
                Some(&at),
            ));
        }
    }
    for (k, p) in &node.properties {
        if root && k == "metadata" {
            continue;
        }
        check_defaults(p, &key(&child(path, "properties"), k), false, errors);
    }
    if let Some(a) = node.additional_schema() {
        check_defaults(a, &child(path, "additionalProperties"), false, errors);
    }
    if let Some(i) = &node.items {
        check_defaults(i, &child(path, "items"), false, errors);
    }
}

fn is_int_or_string_any_of(v: Option<&Value>) -> bool {
    v == Some(&serde_json::json!([{ "type": "integer" }, { "type": "string" }]))
}

impl Compiler {
    fn err(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    fn bool(&mut self, m: &Map<String, Value>, path: &str, name: &str) -> bool {
        match m.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.err(FieldError::invalid(
                    child(path, name),
                    v,
                    "must be a boolean",
                ));
                false
            }
        }
    }

    fn number(&mut self, m: &Map<String, Value>, path: &str, name: &str) -> Option<f64> {
        match m.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(v) => {
                self.err(FieldError::invalid(
                    child(path, name),
                    v,
                    "must be a number",
                ));
                None
            }
        }
    }

    fn count(&mut self, m: &Map<String, Value>, path: &str, name: &str) -> Option<i64> {
        match m.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(v) => {
                self.err(FieldError::invalid(
                    child(path, name),
                    v,
                    "must be an integer",
                ));
                None
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, path: &str, name: &str) -> Option<String> {
        match m.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.err(FieldError::invalid(
                    child(path, name),
                    v,
                    "must be a string",
                ));
                None
            }
        }
    }

    fn strings(&mut self, m: &Map<String, Value>, path: &str, name: &str) -> Vec<String> {
        match m.get(name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(v) => {
                self.err(FieldError::invalid(
                    child(path, name),
                    v,
                    "must be a list of strings",
                ));
                Vec::new()
            }
        }
    }

    /// Compiles one node. `shape` is the structural node (and its path) that a value
    /// validation applies to, for the completeness rule.
    fn node(
        &mut self,
        v: &Value,
        path: &str,
        ctx: Ctx,
        depth: usize,
        shape: Option<(&Node, &str)>,
    ) -> Node {
        if depth > MAX_SCHEMA_DEPTH {
            self.too_deep.get_or_insert_with(|| path.to_string());
            return Node::default();
        }
        let Some(m) = v.as_object() else {
            self.err(FieldError::invalid(path, v, "must be a schema object"));
            return Node::default();
        };
        let mut n = Node::default();

        for (kw, msg) in [
            ("$ref", "$ref is not supported"),
            ("id", "id is not supported"),
            ("additionalItems", "additionalItems is not supported"),
            ("patternProperties", "patternProperties is not supported"),
            ("definitions", "definitions is not supported"),
            ("dependencies", "dependencies is not supported"),
        ] {
            if m.get(kw).is_some_and(|v| !v.is_null()) {
                self.err(FieldError::forbidden(child(path, kw), msg));
            }
        }

        self.parse_generic(m, path, ctx, &mut n);
        self.parse_checks(m, path, &mut n.checks);

        // Children.
        if let Some(props) = m.get("properties").filter(|v| !v.is_null()) {
            match props.as_object() {
                Some(props) => {
                    for (k, pv) in props {
                        let p = key(&child(path, "properties"), k);
                        let sub_shape = match shape {
                            Some((s, spath)) => match s.properties.get(k) {
                                Some(sp) => Some((sp, key(&child(spath, "properties"), k))),
                                None => {
                                    self.err(FieldError::required(
                                        key(&child(spath, "properties"), k),
                                        &format!("because it is defined in {p}"),
                                    ));
                                    continue;
                                }
                            },
                            None => None,
                        };
                        let meta = ctx.level == Level::Root && k == "metadata";
                        let sub_ctx = if ctx.nested {
                            Ctx {
                                level: Level::Field,
                                allow_type: false,
                                ..ctx
                            }
                        } else {
                            Ctx::structural(Level::Field, ctx.root_meta || meta)
                        };
                        if ctx.nested && k == "metadata" {
                            self.err(FieldError::forbidden(
                                &p,
                                "must not be specified in a nested context",
                            ));
                        }
                        let sub = self.node(
                            pv,
                            &p,
                            sub_ctx,
                            depth + 1,
                            sub_shape.as_ref().map(|(s, sp)| (*s, sp.as_str())),
                        );
                        if meta && self.flavor == Flavor::BuiltIn {
                            n.object_meta = Some(Box::new(sub));
                        } else {
                            n.properties.insert(k.clone(), sub);
                        }
                    }
                }
                None => self.err(FieldError::invalid(
                    child(path, "properties"),
                    props,
                    "must be an object",
                )),
            }
        }

        match m.get("items") {
            None | Some(Value::Null) => {}
            Some(Value::Array(_)) => self.err(FieldError::forbidden(
                child(path, "items"),
                "items must be a schema object and not an array",
            )),
            Some(iv) => {
                let p = child(path, "items");
                let sub_shape = match shape {
                    Some((s, spath)) => match s.items.as_deref() {
                        Some(si) => Some((si, child(spath, "items"))),
                        None => {
                            self.err(FieldError::required(
                                child(spath, "items"),
                                &format!("because it is defined in {p}"),
                            ));
                            None
                        }
                    },
                    None => None,
                };
                if shape.is_none() || sub_shape.is_some() {
                    let sub_ctx = if ctx.nested {
                        Ctx {
                            level: Level::Item,
                            allow_type: false,
                            ..ctx
                        }
                    } else {
                        Ctx::structural(Level::Item, ctx.root_meta)
                    };
                    let sub = self.node(
                        iv,
                        &p,
                        sub_ctx,
                        depth + 1,
                        sub_shape.as_ref().map(|(s, sp)| (*s, sp.as_str())),
                    );
                    n.items = Some(Box::new(sub));
                }
            }
        }

        match m.get("additionalProperties") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => n.additional = Some(Additional::Bool(*b)),
            Some(av) => {
                let p = child(path, "additionalProperties");
                if ctx.nested {
                    self.err(FieldError::forbidden(
                        &p,
                        "must be undefined to be structural",
                    ));
                } else {
                    let sub = self.node(
                        av,
                        &p,
                        Ctx::structural(Level::Field, ctx.root_meta),
                        depth + 1,
                        None,
                    );
                    n.additional = Some(Additional::Schema(Box::new(sub)));
                }
            }
        }

        // Value validations, checked against the node built so far.
        let this_shape: Option<(&Node, String)> = if ctx.nested {
            shape.map(|(s, sp)| (s, sp.to_string()))
        } else {
            Some((&n, path.to_string()))
        };
        let shape_ref = this_shape.as_ref().map(|(s, sp)| (*s, sp.as_str()));
        let int_or_string_any_of = is_int_or_string_any_of(m.get("anyOf"));
        let nested = |allow_type: bool, allow_cel: bool| Ctx {
            level: ctx.level,
            nested: true,
            allow_type,
            root_meta: ctx.root_meta,
            allow_cel,
        };
        let mut all_of = Vec::new();
        let mut any_of = Vec::new();
        let mut one_of = Vec::new();
        for (kw, list, allow_cel) in [
            ("allOf", &mut all_of, ctx.allow_cel),
            ("anyOf", &mut any_of, false),
            ("oneOf", &mut one_of, false),
        ] {
            match m.get(kw) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let p = format!("{}[{i}]", child(path, kw));
                        // Only int-or-string's `anyOf: [{type: integer}, {type: string}]`
                        // branches may carry a type.
                        let sub_ctx = nested(kw == "anyOf" && int_or_string_any_of, allow_cel);
                        let sub = self.node(item, &p, sub_ctx, depth + 1, shape_ref);
                        list.push(sub);
                    }
                }
                Some(v) => self.err(FieldError::invalid(
                    child(path, kw),
                    v,
                    "must be a list of schemas",
                )),
            }
        }
        if let Some(nv) = m.get("not").filter(|v| !v.is_null()) {
            let sub = self.node(
                nv,
                &child(path, "not"),
                nested(false, false),
                depth + 1,
                shape_ref,
            );
            n.checks.not = Some(Box::new(sub));
        }
        n.checks.all_of = all_of;
        n.checks.any_of = any_of;
        n.checks.one_of = one_of;

        if !ctx.nested {
            self.structural_rules(m, path, ctx, &n);
        }
        if !n.cel_rules.is_empty() && (!ctx.nested || ctx.allow_cel) {
            let target = match shape {
                Some((s, _)) if ctx.nested => s,
                _ => &n,
            };
            let (rules, errors) = super::cel::compile_rules(&n.cel_rules, path, target);
            self.errors.extend(errors);
            n.cel = rules;
        }
        n
    }

    fn parse_generic(&mut self, m: &Map<String, Value>, path: &str, ctx: Ctx, n: &mut Node) {
        match m.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) => match t.as_str() {
                "" => {}
                "null" => self.err(FieldError::forbidden(
                    child(path, "type"),
                    "type cannot be set to null, use nullable as an alternative",
                )),
                "object" => n.ty = Some(Type::Object),
                "array" => n.ty = Some(Type::Array),
                "string" => n.ty = Some(Type::String),
                "integer" => n.ty = Some(Type::Integer),
                "number" => n.ty = Some(Type::Number),
                "boolean" => n.ty = Some(Type::Boolean),
                _ => self.err(FieldError::not_supported(
                    child(path, "type"),
                    &Value::String(t.clone()),
                    &TYPES.map(String::from),
                )),
            },
            Some(v) => self.err(FieldError::invalid(
                child(path, "type"),
                v,
                "must be a string",
            )),
        }
        n.nullable = self.bool(m, path, "nullable");
        n.embedded = self.bool(m, path, "x-kubernetes-embedded-resource");
        n.int_or_string = self.bool(m, path, "x-kubernetes-int-or-string");
        if let Some(v) = m.get("x-kubernetes-preserve-unknown-fields") {
            match v {
                Value::Bool(true) => n.preserve_unknown = true,
                Value::Null => {}
                Value::Bool(false) => self.err(FieldError::invalid(
                    child(path, "x-kubernetes-preserve-unknown-fields"),
                    v,
                    "must be true or undefined",
                )),
                _ => self.err(FieldError::invalid(
                    child(path, "x-kubernetes-preserve-unknown-fields"),
                    v,
                    "must be a boolean",
                )),
            }
        }
        n.default = m.get("default").filter(|v| !v.is_null()).cloned();
        if n.default.is_some() && ctx.root_meta {
            self.err(FieldError::forbidden(
                child(path, "default"),
                "must not be set in top-level metadata",
            ));
        }
        let list_type = self.string(m, path, "x-kubernetes-list-type");
        n.list_type = match list_type.as_deref() {
            None => None,
            Some("atomic") => Some(ListType::Atomic),
            Some("set") => Some(ListType::Set),
            Some("map") => Some(ListType::Map),
            Some(other) => {
                self.err(FieldError::not_supported(
                    child(path, "x-kubernetes-list-type"),
                    &Value::String(other.into()),
                    &["atomic".into(), "set".into(), "map".into()],
                ));
                None
            }
        };
        n.list_map_keys = self.strings(m, path, "x-kubernetes-list-map-keys");
        let map_type = self.string(m, path, "x-kubernetes-map-type");
        n.map_type = match map_type.as_deref() {
            None => None,
            Some("atomic") => Some(MapType::Atomic),
            Some("granular") => Some(MapType::Granular),
            Some(other) => {
                self.err(FieldError::not_supported(
                    child(path, "x-kubernetes-map-type"),
                    &Value::String(other.into()),
                    &["atomic".into(), "granular".into()],
                ));
                None
            }
        };
        // Strategic merge patch's markers are not CRD fields: read, never judged here.
        n.patch_strategy = m
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        n.patch_merge_key = m
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .map(str::to_string);
        match m.get("x-kubernetes-validations") {
            None | Some(Value::Null) => {}
            Some(Value::Array(rules)) => n.cel_rules = rules.clone(),
            Some(v) => self.err(FieldError::invalid(
                child(path, "x-kubernetes-validations"),
                v,
                "must be a list",
            )),
        }

        if ctx.nested {
            let forbidden = |c: &mut Self, name: &str, what: &str| {
                c.err(FieldError::forbidden(
                    child(path, name),
                    &format!("must be {what} to be structural"),
                ));
            };
            if n.ty.is_some() && !ctx.allow_type {
                forbidden(self, "type", "empty");
            }
            if n.default.is_some() {
                forbidden(self, "default", "undefined");
            }
            if m.get("title").is_some_and(|t| t.as_str() != Some("")) {
                forbidden(self, "title", "empty");
            }
            if m.get("description").is_some_and(|t| t.as_str() != Some("")) {
                forbidden(self, "description", "empty");
            }
            if n.nullable {
                forbidden(self, "nullable", "false");
            }
            if n.preserve_unknown {
                forbidden(self, "x-kubernetes-preserve-unknown-fields", "false");
            }
            if n.embedded {
                forbidden(self, "x-kubernetes-embedded-resource", "false");
            }
            if n.int_or_string {
                forbidden(self, "x-kubernetes-int-or-string", "false");
            }
            if !n.list_map_keys.is_empty() {
                forbidden(self, "x-kubernetes-list-map-keys", "empty");
            }
            if list_type.is_some() {
                forbidden(self, "x-kubernetes-list-type", "undefined");
            }
            if map_type.is_some() {
                forbidden(self, "x-kubernetes-map-type", "undefined");
            }
            if !n.cel_rules.is_empty() && !ctx.allow_cel {
                forbidden(self, "x-kubernetes-validations", "empty");
            }
        }
    }

    fn parse_checks(&mut self, m: &Map<String, Value>, path: &str, c: &mut Checks) {
        c.maximum = self.number(m, path, "maximum");
        c.minimum = self.number(m, path, "minimum");
        c.exclusive_maximum = self.bool(m, path, "exclusiveMaximum");
        c.exclusive_minimum = self.bool(m, path, "exclusiveMinimum");
        c.multiple_of = self.number(m, path, "multipleOf");
        c.max_length = self.count(m, path, "maxLength");
        c.min_length = self.count(m, path, "minLength");
        c.max_items = self.count(m, path, "maxItems");
        c.min_items = self.count(m, path, "minItems");
        c.max_properties = self.count(m, path, "maxProperties");
        c.min_properties = self.count(m, path, "minProperties");
        if self.bool(m, path, "uniqueItems") {
            self.err(FieldError::forbidden(
                child(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ));
        }
        c.required = self.strings(m, path, "required");
        match m.get("enum") {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => c.enumeration = values.clone(),
            Some(v) => self.err(FieldError::invalid(
                child(path, "enum"),
                v,
                "must be a list",
            )),
        }
        if let Some(source) = self.string(m, path, "pattern").filter(|s| !s.is_empty()) {
            match regex::Regex::new(&golang::translate_pattern(&source)) {
                Ok(regex) => c.pattern = Some(Pattern { source, regex }),
                Err(e) => {
                    let detail = format!("must be a valid regular expression, but isn't: {e}");
                    self.err(FieldError::invalid(
                        child(path, "pattern"),
                        &Value::String(source),
                        &detail,
                    ));
                }
            }
        }
        // kube strips formats it does not support for the node's type (`formats.go`).
        if let Some(format) = self.string(m, path, "format").filter(|s| !s.is_empty()) {
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            let int_or_string = m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
            let keep = match (ty, int_or_string) {
                (_, true) | ("" | "string", false) => golang::supported_string_format(&format),
                ("integer", false) => format == "int32" || format == "int64",
                ("number", false) => format == "float" || format == "double",
                _ => false,
            };
            if keep {
                c.format = Some(format);
            }
        }
    }

    /// Rules for structural nodes (not value validations).
    fn structural_rules(&mut self, m: &Map<String, Value>, path: &str, ctx: Ctx, n: &Node) {
        let type_path = child(path, "type");
        let ty_value = |n: &Node| Value::String(n.ty.map(Type::name).unwrap_or("").into());
        if n.ty == Some(Type::Array) && n.items.is_none() {
            self.err(FieldError::required(
                child(path, "items"),
                "must be specified",
            ));
        }
        if n.additional.is_some() {
            let p = child(path, "additionalProperties");
            if ctx.level == Level::Root {
                self.err(FieldError::forbidden(&p, "must not be used at the root"));
            }
            if !n.properties.is_empty() && !matches!(n.additional, Some(Additional::Bool(true))) {
                self.err(FieldError::forbidden(
                    &p,
                    "additionalProperties and properties are mutual exclusive",
                ));
            }
            if n.embedded {
                self.err(FieldError::forbidden(
                    &p,
                    "must not be used if x-kubernetes-embedded-resource is set",
                ));
            }
        }
        if n.embedded && n.ty != Some(Type::Object) {
            let detail = "must be object if x-kubernetes-embedded-resource is true";
            match n.ty {
                None => self.err(FieldError::required(&type_path, detail)),
                Some(_) => self.err(FieldError::invalid(&type_path, &ty_value(n), detail)),
            }
        } else if n.ty.is_none() && !n.int_or_string && !n.preserve_unknown {
            let detail = match ctx.level {
                Level::Root => "must not be empty at the root",
                Level::Item => "must not be empty for specified array items",
                Level::Field => "must not be empty for specified object fields",
            };
            self.err(FieldError::required(&type_path, detail));
        }
        if ctx.level == Level::Root {
            if n.ty.is_some_and(|t| t != Type::Object) {
                self.err(FieldError::invalid(
                    &type_path,
                    &ty_value(n),
                    "must be object at the root",
                ));
            }
            if n.nullable {
                self.err(FieldError::forbidden(
                    child(path, "nullable"),
                    "nullable cannot be true at the root",
                ));
            }
        }
        let is_resource = ctx.level == Level::Root || n.embedded;
        let props = key(&child(path, "properties"), "");
        let props = props.trim_end_matches("[]");
        for name in ["kind", "apiVersion"] {
            if let Some(p) = n
                .properties
                .get(name)
                .filter(|p| is_resource && p.ty != Some(Type::String))
            {
                self.err(FieldError::invalid(
                    child(&key(props, name), "type"),
                    &ty_value(p),
                    "must be string",
                ));
            }
        }
        if let Some(meta) = n.properties.get("metadata") {
            let meta_path = key(props, "metadata");
            if is_resource && meta.ty != Some(Type::Object) {
                self.err(FieldError::invalid(
                    child(&meta_path, "type"),
                    &ty_value(meta),
                    "must be object",
                ));
            }
            if ctx.level == Level::Root {
                let raw = m
                    .get("properties")
                    .and_then(|p| p.get("metadata"))
                    .and_then(Value::as_object);
                let only_names = raw.is_some_and(|raw| {
                    raw.iter().all(|(k, v)| match k.as_str() {
                        "type" | "default" => true,
                        "properties" => v
                            .as_object()
                            .is_some_and(|p| p.keys().all(|k| k == "name" || k == "generateName")),
                        _ => false,
                    })
                });
                if !only_names {
                    self.err(FieldError::forbidden(
                        meta_path,
                        "must not specify anything other than name and generateName, but metadata is implicitly specified",
                    ));
                }
            }
        }
        if n.embedded && !n.preserve_unknown && n.properties.is_empty() {
            self.err(FieldError::required(
                child(path, "properties"),
                "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
            ));
        }
        if n.int_or_string && n.preserve_unknown {
            self.err(FieldError::invalid(
                child(path, "x-kubernetes-preserve-unknown-fields"),
                &Value::Bool(true),
                "must be false if x-kubernetes-int-or-string is true",
            ));
        }
        if n.int_or_string && n.embedded {
            self.err(FieldError::invalid(
                child(path, "x-kubernetes-embedded-resource"),
                &Value::Bool(true),
                "must be false if x-kubernetes-int-or-string is true",
            ));
        }
        // Built-in kinds' markers only shape merging (see `Flavor::BuiltIn`).
        if self.flavor == Flavor::Custom {
            self.marker_rules(m, path, n);
        }
    }

    /// The CRD rules for list and map markers.
    fn marker_rules(&mut self, m: &Map<String, Value>, path: &str, n: &Node) {
        if m.get("x-kubernetes-map-type").is_some_and(|v| !v.is_null())
            && n.ty != Some(Type::Object)
        {
            let type_path = child(path, "type");
            let detail = "must be object if x-kubernetes-map-type is specified";
            match n.ty {
                None => self.err(FieldError::required(&type_path, detail)),
                Some(t) => self.err(FieldError::invalid(
                    &type_path,
                    &Value::String(t.name().into()),
                    detail,
                )),
            }
        }
        self.list_rules(m, path, n);
    }

    fn list_rules(&mut self, m: &Map<String, Value>, path: &str, n: &Node) {
        let type_path = child(path, "type");
        let lt_path = child(path, "x-kubernetes-list-type");
        let keys_path = child(path, "x-kubernetes-list-map-keys");
        let keys_value = Value::Array(n.list_map_keys.iter().cloned().map(Value::String).collect());
        if n.list_type.is_some() && n.ty != Some(Type::Array) {
            let detail = "must be array if x-kubernetes-list-type is specified";
            match n.ty {
                None => self.err(FieldError::required(&type_path, detail)),
                Some(t) => self.err(FieldError::invalid(
                    &type_path,
                    &Value::String(t.name().into()),
                    detail,
                )),
            }
        }
        if !n.list_map_keys.is_empty() && n.list_type != Some(ListType::Map) {
            let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
            match n.list_type {
                None => self.err(FieldError::required(&lt_path, detail)),
                Some(lt) => self.err(FieldError::invalid(
                    &lt_path,
                    &Value::String(lt.name().into()),
                    detail,
                )),
            }
        }
        let items_path = child(path, "items");
        match (n.list_type, n.items.as_deref()) {
            (Some(ListType::Map), items) => {
                if n.list_map_keys.is_empty() {
                    self.err(FieldError::required(
                        &keys_path,
                        "must not be empty if x-kubernetes-list-type is map",
                    ));
                }
                let Some(items) = items else {
                    self.err(FieldError::required(
                        &items_path,
                        "must have a schema if x-kubernetes-list-type is map",
                    ));
                    return;
                };
                if items.ty != Some(Type::Object) {
                    self.err(FieldError::invalid(
                        child(&items_path, "type"),
                        &Value::String(items.ty.map(Type::name).unwrap_or("").into()),
                        "must be object if parent array's x-kubernetes-list-type is map",
                    ));
                    return;
                }
                if items.nullable {
                    self.err(FieldError::forbidden(
                        child(&items_path, "nullable"),
                        "cannot be nullable when x-kubernetes-list-type is map",
                    ));
                }
                let mut seen = Vec::new();
                for k in &n.list_map_keys {
                    let prop_path = key(&child(&items_path, "properties"), k);
                    match items.properties.get(k) {
                        Some(p) => {
                            if matches!(p.ty, Some(Type::Array | Type::Object)) {
                                self.err(FieldError::invalid(
                                    child(&prop_path, "type"),
                                    &Value::String("object".into()),
                                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                ));
                            }
                            if !items.checks.required.contains(k) && p.default.is_none() {
                                self.err(FieldError::required(
                                    child(&prop_path, "default"),
                                    "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                                ));
                            }
                            if p.nullable {
                                self.err(FieldError::forbidden(
                                    child(&prop_path, "nullable"),
                                    "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                                ));
                            }
                        }
                        None => self.err(FieldError::invalid(
                            &keys_path,
                            &keys_value,
                            "entries must all be names of item properties",
                        )),
                    }
                    if seen.contains(&k) {
                        self.err(FieldError::invalid(
                            &keys_path,
                            &keys_value,
                            "must not contain duplicate entries",
                        ));
                    }
                    seen.push(k);
                }
            }
            (Some(ListType::Set), Some(items)) => {
                if items.nullable {
                    self.err(FieldError::forbidden(
                        child(&items_path, "nullable"),
                        "cannot be nullable when x-kubernetes-list-type is set",
                    ));
                }
                let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
                match items.ty {
                    Some(Type::Array)
                        if !matches!(items.list_type, None | Some(ListType::Atomic)) =>
                    {
                        let written = items.list_type.map(ListType::name).unwrap_or_default();
                        self.err(FieldError::invalid(
                            child(&items_path, "x-kubernetes-list-type"),
                            &Value::String(written.into()),
                            detail,
                        ));
                    }
                    Some(Type::Object) if items.map_type != Some(MapType::Atomic) => {
                        // The value as written (unset, `granular`, or one refused above).
                        let written = m.get("items").and_then(|i| i.get("x-kubernetes-map-type"));
                        self.err(FieldError::invalid(
                            child(&items_path, "x-kubernetes-map-type"),
                            written.unwrap_or(&Value::Null),
                            detail,
                        ));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}
