//! Structural schemas for custom resources: pruning, defaulting and validation with
//! kube-apiserver's behaviour and wire texts.
//!
//! A CRD version's `openAPIV3Schema` is compiled once ([`Structural::compile`]) and then
//! applied to every object of that version. What kube-apiserver does, and therefore what
//! this module reproduces (checked against the Kubernetes 1.36 sources: apiextensions-apiserver
//! `pkg/apiserver/schema/{pruning,defaulting,objectmeta,listtype}`, `pkg/apiserver/validation`,
//! kube-openapi `pkg/validation/{validate,errors,strfmt}`, apimachinery
//! `pkg/util/validation/field/errors.go`, apiserver `pkg/endpoints/handlers`):
//!
//! * **Decoding a write** (`customresource_handler.go`, `unstructuredSchemaCoercer`):
//!   prune unknown fields (recording their paths), drop `null`s of non-nullable fields that
//!   have no default, prune the `metadata` of embedded resources to `ObjectMeta`'s fields.
//!   All of this is [`Structural::prune`].
//! * **Defaulting** (`unstructuredDefaulter`) runs after decoding, on writes and on every read
//!   from storage: [`Structural::default`].
//! * **Validation** (`registry/customresource/strategy.go`): the OpenAPI schema validator,
//!   then embedded-resource checks, then `x-kubernetes-list-type` set/map uniqueness, then
//!   CEL rules (`x-kubernetes-validations`, module `cel`): [`Structural::validate`].
//!   Updates ratchet (`CRDValidationRatcheting`, default on): schema errors on values equal
//!   to the stored ones are dropped: [`Structural::validate_update`].
//! * [`Structural::admit`] (create) and [`Structural::admit_update`] run the three in that
//!   order and apply `fieldValidation`.
//!
//! # One schema model
//! The compiled tree is the one schema model of the server: each [`Node`] carries kube's
//! list and map markers (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`,
//! `-patch-strategy`, `-patch-merge-key`) beside `x-kubernetes-preserve-unknown-fields`,
//! `-int-or-string` and `-embedded-resource`. Strategic merge patch and server-side apply
//! (`registry::smp`, `registry::ssa`) merge by the same nodes pruning and validation walk;
//! nothing else reads these extensions from JSON. A kind compiles its schema once
//! (`api::Kind`) and every request shares it. A built-in kind's generated schema compiles
//! under [`Flavor::BuiltIn`]: its markers only shape merging, and its `metadata` is kept
//! beside the properties ([`Node::object_meta`]), ObjectMeta being the server's to check.
//!
//! # `fieldValidation` (KEP-2885)
//! * An absent or empty `fieldValidation` query parameter means `Warn`
//!   (`handlers/rest.go fieldValidation`); other values than `Ignore`, `Warn`, `Strict` are a
//!   422 whose cause is `fieldValidation: Unsupported value: "x": supported values: "",
//!   "Ignore", "Strict", "Warn"` (`ValidateFieldValidation`), see [`FieldValidation::parse`].
//! * Each unknown field becomes the error text `unknown field "<path>"` (format
//!   `unknown field "%s"`, no escaping), paths like `spec.foo`, `spec.items[0].bar`,
//!   `spec.someMap.key.bar`, sorted.
//! * `Warn`: the write succeeds and each text is sent as a `Warning: 299 - "<text>"` header.
//! * `Strict`: the texts are joined with `, ` after `strict decoding error: ` (apimachinery
//!   `runtime/error.go`). POST and PUT answer 400 BadRequest with the message
//!   `<Kind> in version "<version>" cannot be handled as a <Kind>: strict decoding error: …`
//!   (`transformDecodeError`, see [`Rejection::bad_request_message`]); PATCH answers 422 with
//!   one cause `patch: Invalid value: "<patched JSON>": strict decoding error: …`.
//! * `Ignore`: unknown fields are dropped silently.
//!
//! # Field errors
//! [`FieldError`] carries what a `Status` cause needs: `field`, `message` (the text after
//! `<field>: `) and [`FieldError::reason`]. kube-openapi's messages are wrapped as
//! apiextensions' `kubeOpenAPIResultToFieldErrors` does, e.g.
//! `Invalid value: "string": spec.x in body must be of type integer: "string"`. Errors that
//! kube-openapi reports without a field (anyOf/oneOf/allOf/not summaries, numeric format
//! range checks) get the field `<nil>`, exactly as kube prints them.
//!
//! Differences from kube-apiserver, on purpose or for lack of need: properties are
//! visited in sorted order (Go's map order is random, so kube's error order varies);
//! when no branch of `anyOf`/`oneOf` matches, the reported branch is picked by an
//! approximation of kube-openapi's match count; embedded `metadata` is pruned but not
//! re-encoded (kube round-trips it through `ObjectMeta`, which also drops empty fields);
//! CEL rules (`x-kubernetes-validations`) run on `cel-interpreter`; its module doc lists
//! what of kube's CEL environment is missing.

pub(crate) mod cel;
mod cel_ast;
pub(crate) mod cel_program;
mod compile;
pub(crate) mod golang;
mod prune;
mod validate;

#[cfg(test)]
mod cel_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

pub(crate) use golang::DATA_DEPTH_LIMIT;

/// Schemas nested deeper than this are rejected by [`Structural::compile`].
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// A compiled structural schema: of one CRD version, or of a built-in kind.
#[derive(Debug, Clone, Default)]
pub struct Structural {
    root: Node,
    flavor: Flavor,
}

/// Whose rules a schema is compiled under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// A CRD's `openAPIV3Schema`: every structural-schema and CRD rule applies, list types
    /// included, and objects are checked for `x-kubernetes-list-type` uniqueness.
    #[default]
    Custom,
    /// A built-in kind's generated schema with kube's markers (`api::list_semantics`).
    /// kube holds built-in objects to hand-written rules, not to the CRD rules for list
    /// and map types, so those are neither checked in the schema nor on objects; the
    /// markers only shape merging. The root's `metadata` goes to [`Node::object_meta`]:
    /// pruning, defaulting and validation leave ObjectMeta to the server, patches merge
    /// by its markers.
    BuiltIn,
}

/// Why a schema cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// The schema violates the structural-schema rules or CRD schema validation; every
    /// problem is listed with its path under `openAPIV3Schema`.
    #[error("invalid openAPIV3Schema: {}", join_errors(.0))]
    Invalid(Vec<FieldError>),
    /// The schema nests deeper than [`MAX_SCHEMA_DEPTH`] levels.
    #[error("{path}: schema nesting is deeper than {max} levels")]
    TooDeep { path: String, max: usize },
}

fn join_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind of a field error; [`FieldErrorKind::reason`] is its `Status` cause reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    TooFew,
    Internal,
    TypeInvalid,
    TooShort,
}

impl FieldErrorKind {
    /// `Status.details.causes[].reason` (apimachinery `field.ErrorType`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::TooFew => "FieldValueTooFew",
            Self::Internal => "InternalError",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::TooShort => "FieldValueTooShort",
        }
    }

    /// The leading words of the message (`field.ErrorType.String`).
    pub fn title(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::TooFew => "Too few",
            Self::Internal => "Internal error",
            Self::TooShort => "Too short",
        }
    }
}

/// One field-level validation error, shaped like apimachinery's `field.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// The field path, e.g. `spec.taints[0].effect`; `<nil>` when kube reports none.
    pub field: String,
    /// The message without the field (`ErrorBody`), e.g. `Required value`,
    /// `Unsupported value: "Foo": supported values: "NoSelect", "PreferNoSelect"`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl FieldError {
    /// `Status.details.causes[].reason`.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// Builds an error; `value` is the already rendered bad value (for the kinds that print
    /// one), `detail` the text after it.
    fn with(
        kind: FieldErrorKind,
        field: impl Into<String>,
        value: Option<String>,
        detail: &str,
    ) -> Self {
        let mut message = kind.title().to_string();
        if let Some(v) = value {
            message.push_str(": ");
            message.push_str(&v);
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        Self {
            kind,
            field: field.into(),
            message,
        }
    }

    /// `Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::with(FieldErrorKind::Required, field, None, detail)
    }

    /// `Forbidden[: detail]`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::with(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// `Invalid value: <value>[: detail]`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::with(
            FieldErrorKind::Invalid,
            field,
            Some(golang::bad_value(value)),
            detail,
        )
    }

    /// `Invalid value: <value>[: detail]` with reason `FieldValueTypeInvalid`.
    pub fn type_invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::with(
            FieldErrorKind::TypeInvalid,
            field,
            Some(golang::bad_value(value)),
            detail,
        )
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self::with(
            FieldErrorKind::Duplicate,
            field,
            Some(golang::bad_value(value)),
            "",
        )
    }

    /// `Unsupported value: <value>[: supported values: "a", "b"]`.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[String]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| golang::quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::with(
            FieldErrorKind::NotSupported,
            field,
            Some(golang::bad_value(value)),
            &detail,
        )
    }

    /// `Too long: may not be more than <max> bytes` (`byte` when 1; `value is too long`
    /// for a negative maximum).
    pub fn too_long(field: impl Into<String>, max: i64) -> Self {
        let detail = match max {
            1 => "may not be more than 1 byte".to_string(),
            m if m >= 0 => format!("may not be more than {m} bytes"),
            _ => "value is too long".to_string(),
        };
        Self::with(FieldErrorKind::TooLong, field, None, &detail)
    }

    /// `Too many: <actual>: must have at most <max> items` (`item` when 1).
    pub fn too_many(field: impl Into<String>, actual: i64, max: i64) -> Self {
        let detail = match max {
            1 => "must have at most 1 item".to_string(),
            m if m >= 0 => format!("must have at most {m} items"),
            _ => "has too many items".to_string(),
        };
        let value = (actual >= 0).then(|| actual.to_string());
        Self::with(FieldErrorKind::TooMany, field, value, &detail)
    }
}

/// The `fieldValidation` directive of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and warn about each; the default when the parameter is absent.
    #[default]
    Warn,
    /// Reject the write when there are unknown fields.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter; `""` (absent) is `Warn`. Values are case-sensitive. The
    /// error is the cause of kube's 422 (`field` = `fieldValidation`).
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(FieldError::not_supported(
                "fieldValidation",
                &Value::String(other.to_string()),
                &["".into(), "Ignore".into(), "Strict".into(), "Warn".into()],
            )),
        }
    }
}

/// A write that passed: the object has been pruned, defaulted and validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admitted {
    /// Paths of the fields that were dropped.
    pub unknown_fields: Vec<String>,
    /// `Warning` header texts (`unknown field "spec.foo"`); empty unless the policy is `Warn`.
    pub warnings: Vec<String>,
}

/// A write that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// `fieldValidation=Strict` and the object had unknown fields (400 for POST/PUT).
    #[error("{}", strict_message(.unknown_fields))]
    StrictDecoding { unknown_fields: Vec<String> },
    /// Schema validation failed (422 `Invalid`, one cause per error).
    #[error("{}", join_errors(.0))]
    Invalid(Vec<FieldError>),
}

impl Rejection {
    /// The BadRequest message kube's create and update handlers send for a decoding
    /// failure: `<Kind> in version "<version>" cannot be handled as a <Kind>: <error>`.
    pub fn bad_request_message(&self, kind: &str, version: &str) -> String {
        format!(
            "{kind} in version {} cannot be handled as a {kind}: {self}",
            golang::quote(version)
        )
    }
}

/// `unknown field "<path>"`, one per path (the `Warning` texts and strict error parts).
pub fn unknown_field_messages(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect()
}

/// `strict decoding error: unknown field "a", unknown field "b"`.
pub fn strict_message(paths: &[String]) -> String {
    format!(
        "strict decoding error: {}",
        unknown_field_messages(paths).join(", ")
    )
}

impl Structural {
    /// Compiles a CRD version's `openAPIV3Schema` (JSONSchemaProps as JSON), rejecting
    /// schemas that are not structural or that CRD validation would refuse.
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        match Self::compile_lenient(schema, Flavor::Custom) {
            (compiled, None) => Ok(compiled),
            (_, Some(e)) => Err(e),
        }
    }

    /// Compiles `schema` under `flavor`'s rules and keeps the tree even when the schema
    /// breaks them, with the problems beside it: what could be read is what patches and
    /// apply merge by (a schema that is not structural still names its lists' keys).
    /// Only a tree without problems may prune, default or validate objects.
    pub fn compile_lenient(schema: &Value, flavor: Flavor) -> (Self, Option<SchemaError>) {
        let (root, error) = compile::compile(schema, flavor);
        (Self { root, flavor }, error)
    }

    /// [`Structural::compile_lenient`] of a schema held only as JSON (under
    /// [`Flavor::Custom`], problems ignored), remembered per thread by value: for
    /// callers that pass the same JSON schema again and again (tests, fuzz bodies) and
    /// would otherwise compile it on every call. The server compiles each kind's schema
    /// once instead (`api::Kind`).
    pub fn compile_memoized(schema: &Value) -> Arc<Self> {
        const KEEP: usize = 8;
        thread_local! {
            static RECENT: RefCell<Vec<(Value, Arc<Structural>)>> = const { RefCell::new(Vec::new()) };
        }
        RECENT.with_borrow_mut(|recent| {
            if let Some((_, compiled)) = recent.iter().find(|(v, _)| v == schema) {
                return compiled.clone();
            }
            let compiled = Arc::new(Self::compile_lenient(schema, Flavor::Custom).0);
            if recent.len() == KEEP {
                recent.remove(0);
            }
            recent.push((schema.clone(), compiled.clone()));
            compiled
        })
    }

    /// The tree's root, for the merging code of the registry.
    pub(crate) fn root(&self) -> &Node {
        &self.root
    }

    /// Decoding-time coercion of an object, in place: drops fields the schema does not
    /// declare (except under `x-kubernetes-preserve-unknown-fields`, and `apiVersion`,
    /// `kind`, `metadata` at the root and in embedded resources), drops `null` values of
    /// non-nullable fields without default, and prunes embedded resources' `metadata` to
    /// `ObjectMeta`. Root `metadata` is left to the caller. Returns the paths of the dropped
    /// fields in kube's order (schema pruning sorted, then embedded metadata sorted).
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        prune::prune_object(&self.root, object)
    }

    /// Applies `default`s where fields are absent (or `null` and not nullable), recursing
    /// into defaulted values, array items and map values. Kube does this on every write and
    /// on every read from storage.
    pub fn default(&self, object: &mut Value) {
        prune::default(&self.root, object);
    }

    /// Validates an object (after pruning and defaulting) as kube's custom resource strategy
    /// does, minus `apiVersion`/`kind` matching and root `ObjectMeta` (the caller's).
    pub fn validate(&self, object: &Value) -> Vec<FieldError> {
        self.validate_inner(object, None)
    }

    /// Validates an update: like [`Structural::validate`], but schema errors on values
    /// unchanged from `old` are ratcheted away (kube's `CRDValidationRatcheting`: a node equal
    /// to its correlated old value reports nothing; object fields correlate by name, items
    /// of `x-kubernetes-list-type: map` lists by key, other list items not at all).
    pub fn validate_update(&self, object: &Value, old: &Value) -> Vec<FieldError> {
        self.validate_inner(object, Some(old))
    }

    fn validate_inner(&self, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errors = validate::schema_errors(&self.root, object, old, None);
        errors.extend(validate::embedded_errors(&self.root, object));
        if self.flavor == Flavor::Custom {
            errors.extend(validate::list_errors(&self.root, object));
        }
        // CEL rules run last (`strategy.go`), and not at all when a blocking error (kube's
        // `hasBlockingErr`: unsupported, required, too long, too many, wrong type) exists;
        // then kube adds one error saying so.
        if self.has_cel_rules() {
            if errors.iter().any(|e| {
                matches!(
                    e.kind,
                    FieldErrorKind::NotSupported
                        | FieldErrorKind::Required
                        | FieldErrorKind::TooLong
                        | FieldErrorKind::TooMany
                        | FieldErrorKind::TypeInvalid
                )
            }) {
                errors.push(FieldError::invalid(
                    "<nil>",
                    &Value::Null,
                    "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            } else {
                errors.extend(cel::validate(&self.root, object, old));
            }
        }
        errors
    }

    /// Everything a create does with the body, in kube's order: prune, then (under
    /// `Strict`) reject unknown fields, default, validate.
    pub fn admit(
        &self,
        object: &mut Value,
        policy: FieldValidation,
    ) -> Result<Admitted, Rejection> {
        self.admit_inner(object, None, policy)
    }

    /// [`Structural::admit`] for an update of `old` (the stored object, already defaulted):
    /// validation ratchets as in [`Structural::validate_update`].
    pub fn admit_update(
        &self,
        object: &mut Value,
        old: &Value,
        policy: FieldValidation,
    ) -> Result<Admitted, Rejection> {
        self.admit_inner(object, Some(old), policy)
    }

    fn admit_inner(
        &self,
        object: &mut Value,
        old: Option<&Value>,
        policy: FieldValidation,
    ) -> Result<Admitted, Rejection> {
        let unknown_fields = self.prune(object);
        if policy == FieldValidation::Strict && !unknown_fields.is_empty() {
            return Err(Rejection::StrictDecoding { unknown_fields });
        }
        self.default(object);
        let errors = self.validate_inner(object, old);
        if !errors.is_empty() {
            return Err(Rejection::Invalid(errors));
        }
        let warnings = match policy {
            FieldValidation::Warn => unknown_field_messages(&unknown_fields),
            _ => Vec::new(),
        };
        Ok(Admitted {
            unknown_fields,
            warnings,
        })
    }

    /// Whether any node carries `x-kubernetes-validations` (evaluated by [`Structural::validate`]).
    pub fn has_cel_rules(&self) -> bool {
        self.root
            .any(&|n| !n.cel.is_empty() || n.checks.all_of.iter().any(|a| !a.cel.is_empty()))
    }
}

/// JSON schema types allowed in CRDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "array",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListType {
    Atomic,
    Set,
    Map,
}

impl ListType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Atomic => "atomic",
            Self::Set => "set",
            Self::Map => "map",
        }
    }
}

/// `x-kubernetes-map-type` (kube's `+mapType` and `+structType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapType {
    Atomic,
    Granular,
}

#[derive(Debug, Clone)]
pub(crate) enum Additional {
    /// `additionalProperties: true|false` (a schema-less map; `false` forbids keys).
    Bool(bool),
    Schema(Box<Node>),
}

/// A precompiled `pattern`.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub source: String,
    pub regex: regex::Regex,
}

/// Value validations (kube's `ValueValidation`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Checks {
    /// The format after kube's `StripUnsupportedFormats`.
    pub format: Option<String>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: Option<Pattern>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub multiple_of: Option<f64>,
    pub enumeration: Vec<Value>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
}

/// One schema node: structural (with type and children) or, inside `allOf`/`anyOf`/
/// `oneOf`/`not`, a value validation (without type, except int-or-string's `anyOf`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub ty: Option<Type>,
    pub nullable: bool,
    pub default: Option<Value>,
    pub properties: BTreeMap<String, Node>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Node>>,
    pub preserve_unknown: bool,
    pub embedded: bool,
    pub int_or_string: bool,
    pub list_type: Option<ListType>,
    pub list_map_keys: Vec<String>,
    pub map_type: Option<MapType>,
    /// `x-kubernetes-patch-strategy` split at its commas (kube's `patchStrategy` tag:
    /// `merge`, `replace`, `retainKeys`, `merge,retainKeys`); read by strategic merge
    /// patch as written, so an unknown strategy is an error of the patch that meets it.
    pub patch_strategy: Vec<String>,
    /// `x-kubernetes-patch-merge-key` (kube's `patchMergeKey` tag).
    pub patch_merge_key: Option<String>,
    /// The root's `metadata` under [`Flavor::BuiltIn`] (ObjectMeta with kube's markers),
    /// kept out of `properties` so that pruning, defaulting and validation pass it by;
    /// merging finds it through [`Node::member`].
    pub object_meta: Option<Box<Node>>,
    pub checks: Checks,
    /// `x-kubernetes-validations`, kept verbatim.
    pub cel_rules: Vec<Value>,
    /// The compiled `x-kubernetes-validations`.
    pub cel: Vec<cel::Rule>,
    /// What this node or one below it has (set once compiled, by [`Node::mark`]).
    pub below: Below,
}

/// What a schema node or a node below it (through properties, `additionalProperties`
/// and items) has: walks over objects that look only for these skip the rest.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Below {
    /// An `x-kubernetes-embedded-resource`.
    pub embedded: bool,
    /// An `x-kubernetes-list-type` of `set` or `map` (checked for uniqueness).
    pub keyed_lists: bool,
}

impl Node {
    /// The schema of an `additionalProperties` value, if it has one.
    pub(crate) fn additional_schema(&self) -> Option<&Node> {
        match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// The schema of the value under `key`: the property, else `additionalProperties`.
    pub(crate) fn field(&self, key: &str) -> Option<&Node> {
        self.properties
            .get(key)
            .or_else(|| self.additional_schema())
    }

    /// [`Node::field`] as merging sees an object: a built-in root's `metadata` is a
    /// member too.
    pub(crate) fn member(&self, key: &str) -> Option<&Node> {
        match (&self.object_meta, key) {
            (Some(meta), "metadata") => Some(meta),
            _ => self.field(key),
        }
    }

    /// Whether the node declares properties (a struct, in kube's Go types).
    pub(crate) fn has_properties(&self) -> bool {
        !self.properties.is_empty() || self.object_meta.is_some()
    }

    /// Sets [`Node::below`] here and in every node under this one; returns this node's.
    pub(crate) fn mark(&mut self) -> Below {
        let mut below = Below {
            embedded: self.embedded,
            keyed_lists: matches!(self.list_type, Some(ListType::Set | ListType::Map)),
        };
        let children = self
            .properties
            .values_mut()
            .chain(match &mut self.additional {
                Some(Additional::Schema(s)) => Some(s.as_mut()),
                _ => None,
            })
            .chain(self.items.as_deref_mut());
        for child in children {
            let b = child.mark();
            below.embedded |= b.embedded;
            below.keyed_lists |= b.keyed_lists;
        }
        let checks = &mut self.checks;
        for other in checks
            .all_of
            .iter_mut()
            .chain(checks.any_of.iter_mut())
            .chain(checks.one_of.iter_mut())
            .chain(checks.not.as_deref_mut())
            .chain(self.object_meta.as_deref_mut())
        {
            other.mark();
        }
        self.below = below;
        below
    }

    fn any(&self, pred: &dyn Fn(&Node) -> bool) -> bool {
        pred(self)
            || self.properties.values().any(|n| n.any(pred))
            || self.additional_schema().is_some_and(|n| n.any(pred))
            || self.items.as_deref().is_some_and(|n| n.any(pred))
    }
}

/// Builds kube `field.Path` strings: `a.b`, `a[key]`, `a[0]`.
pub(crate) fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

pub(crate) fn key(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}
