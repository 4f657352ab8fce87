//! CEL validation rules (`x-kubernetes-validations`), as apiextensions-apiserver
//! `pkg/apiserver/schema/cel` evaluates them, on the `cel-interpreter` crate.
//!
//! * Compiling ([`compile_rules`], called by [`super::Structural::compile`]) checks each rule
//!   as CRD validation does (`pkg/apis/apiextensions/validation`): `rule is not specified`,
//!   `message`/`messageExpression`/`fieldPath`/`reason` checks, then parses `rule` and
//!   `messageExpression`. A parse error, an undeclared variable or function, or an expression
//!   this interpreter cannot evaluate is `<path>.x-kubernetes-validations[i].rule: Invalid
//!   value: {"Rule":…}: compilation failed: ERROR: <input>:L:C: …` (the bad value is kube's
//!   internal `ValidationRule` as Go's `json.Marshal` prints it).
//! * Evaluating ([`validate`]) walks the object with the schema: at every non-null value
//!   whose node has rules, `self` is the value (objects as maps of their declared,
//!   escaped properties, `additionalProperties` as maps, `number` as double) and, on updates,
//!   `oldSelf` is the correlated old value (object fields by name, map values by key, items
//!   of `x-kubernetes-list-type: map` lists by key). Rules that use `oldSelf` run only when an
//!   old value exists, unless `optionalOldSelf: true` (then `oldSelf.hasValue()`,
//!   `oldSelf.value()`, `oldSelf.orValue(x)` work). A rule that is not `true` gives kube's
//!   field error: `Invalid value: <message>` for objects and arrays (kube omits the value),
//!   `Invalid value: "<string>": <message>` for scalars; `Forbidden: …`, `Required value: …`,
//!   `Duplicate value[: <value>]` by `reason`; at `<node path>.<fieldPath>` when set. The
//!   message is `messageExpression`'s result, else `message`, else `failed rule: <rule>`.
//!   Update errors of rules without `oldSelf` on unchanged values are ratcheted away.
//! * Cost: the interpreter cannot count steps, so each evaluation is bounded before it runs
//!   by an estimate: (values under `self` and `oldSelf` + 1) raised to the nesting depth of
//!   comprehension macros (at least 1). Over [`PER_CALL_LIMIT`] a rule is not run and reports
//!   kube's `call cost exceeds limit` error; an object's rules together get
//!   [`RUNTIME_BUDGET`], after which kube's `running out of cost budget` error ends them.
//!   Rules are at most [`MAX_RULE_BYTES`] long and nest brackets at most
//!   [`MAX_NESTING`] deep, and their trees at most [`MAX_TREE_NESTING`] levels, so parsing
//!   (on its own stack, see [`super::cel_ast`]) and evaluation cannot exhaust the stack.
//! * Caching: a compiled expression is kept by its text ([`ProgramCache`]), so a schema
//!   compiled again (each catalog rebuild) does not parse its rules again.
//!
//! Supported: the CEL standard macros and operators (`has`, `all`, `exists`, `exists_one`,
//! `map`, `filter`, `in`, arithmetic, comparisons, `?:`, list and map literals), `size`,
//! `contains`, `startsWith`, `endsWith`, `matches`, `string`, `int`, `uint`, `double`,
//! `bytes`, `min`, `max`, and from kube's strings library `lowerAscii`, `upperAscii`,
//! `trim`, `replace`, `split`, `join`, `indexOf`, `lastIndexOf`, `substring`.
//! Missing (rules using them fail to compile as undeclared references): kube's `quantity`,
//! `url`, `ip`/`cidr`, `format`, `sets`, `lists` (`isSorted`, `sum`, `indexOf` on lists),
//! `regex.find`/`findAll`, `base64`, `timestamp`/`duration` and the `date-time`/`duration`/
//! `byte` string formats as typed values, `type()` and type names. kube's static type
//! checking (e.g. `undefined field 'x'` at compile time, `must evaluate to a bool`) and its
//! static cost estimation are not reproduced; such problems surface at evaluation time.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, ExecutionError, FunctionContext, IdedExpr, Value as Cel};
use serde_json::Value;

use super::cel_ast::{self, ParseError};
use super::golang::{self, deep_equal};
use super::{DATA_DEPTH_LIMIT, FieldError, FieldErrorKind, ListType, Node, Type, child, key};

/// kube's `celconfig.PerCallLimit`, applied to this module's cost estimate.
pub(crate) const PER_CALL_LIMIT: u64 = 1_000_000;
/// kube's `celconfig.RuntimeCELCostBudget` for one object, applied to the estimates.
pub(crate) const RUNTIME_BUDGET: u64 = 10_000_000;
/// The longest accepted `rule` or `messageExpression`.
pub(crate) const MAX_RULE_BYTES: usize = 16 * 1024;
/// The deepest accepted bracket nesting (cel-go's parser recursion limit).
pub(crate) const MAX_NESTING: usize = 250;
/// The deepest accepted expression tree, in the levels of [`cel_ast::Facts::depth`].
const MAX_TREE_NESTING: usize = 600;
/// Stack the interpreter takes per level of [`cel_ast::Facts::depth`] while evaluating
/// (it recurses per tree node): measured at most about 8.6 KiB in a debug build (nested
/// `map` macros), less when optimised.
const EVAL_STACK_PER_LEVEL: usize = 10 << 10;
/// Room for what evaluation calls at the deepest level (functions, regex compilation).
const EVAL_STACK_MARGIN: usize = 256 << 10;
/// The stack an evaluation moves to when the current one has too little left for its
/// tree: enough for the deepest accepted tree.
const EVAL_STACK: usize = MAX_TREE_NESTING * EVAL_STACK_PER_LEVEL + EVAL_STACK_MARGIN;
/// kube's `MaxEvaluatedMessageExpressionSizeBytes`.
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// One compiled `x-kubernetes-validations` entry.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The trimmed rule text.
    rule: String,
    /// The trimmed static message ("" when absent).
    message: String,
    message_expression: Option<Compiled>,
    reason: FieldErrorKind,
    /// The normalized `fieldPath` (kube's `field.Path` string), if set.
    field_path: Option<String>,
    optional_old_self: bool,
    program: Compiled,
}

/// One parsed and checked expression (`rule` or `messageExpression`).
#[derive(Debug, Clone)]
pub(super) struct Compiled {
    /// The tree the interpreter evaluates.
    pub(super) program: Arc<IdedExpr>,
    pub(super) uses_old_self: bool,
    /// Nesting depth of comprehension macros.
    pub(super) loops: u32,
    /// Tree depth ([`cel_ast::Facts::depth`]): how much stack evaluation needs.
    pub(super) depth: usize,
}

/// The functions rules may call besides operators and macros.
pub(crate) const FUNCTIONS: &[&str] = &[
    "contains",
    "size",
    "max",
    "min",
    "startsWith",
    "endsWith",
    "string",
    "bytes",
    "double",
    "int",
    "uint",
    "matches",
    "hasValue",
    "value",
    "orValue",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "join",
    "indexOf",
    "lastIndexOf",
    "substring",
];

/// kube's `ValidationRule` (internal type, no JSON tags) as `json.Marshal` prints it: the
/// bad value of compile errors.
fn rule_struct(raw: &Value) -> String {
    let s = |k: &str| golang::json(&Value::String(str_field(raw, k).unwrap_or_default()));
    let reason = match raw.get("reason") {
        Some(Value::String(r)) => golang::json(&Value::String(r.clone())),
        _ => "null".into(),
    };
    let optional = match raw.get("optionalOldSelf") {
        Some(Value::Bool(b)) => b.to_string(),
        _ => "null".into(),
    };
    format!(
        "{{\"Rule\":{},\"Message\":{},\"MessageExpression\":{},\"Reason\":{reason},\"FieldPath\":{},\"OptionalOldSelf\":{optional}}}",
        s("rule"),
        s("message"),
        s("messageExpression"),
        s("fieldPath"),
    )
}

fn str_field(raw: &Value, k: &str) -> Option<String> {
    raw.get(k).and_then(Value::as_str).map(str::to_string)
}

fn has_newlines(s: &str) -> bool {
    s.contains('\n')
}

/// Compiles the rules of the node at `path` (`node` has its properties already).
pub(super) fn compile_rules(
    raw: &[Value],
    path: &str,
    node: &Node,
) -> (Vec<Rule>, Vec<FieldError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let base = child(path, "x-kubernetes-validations");
    for (i, r) in raw.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let before = errors.len();
        let Some(m) = r.as_object() else {
            errors.push(FieldError::invalid(&at, r, "must be an object"));
            continue;
        };
        for (k, v) in m {
            let ok = match k.as_str() {
                "rule" | "message" | "messageExpression" | "reason" | "fieldPath" => {
                    v.is_string() || v.is_null()
                }
                "optionalOldSelf" => v.is_boolean() || v.is_null(),
                _ => true,
            };
            if !ok {
                let what = if k == "optionalOldSelf" {
                    "must be a boolean"
                } else {
                    "must be a string"
                };
                errors.push(FieldError::invalid(child(&at, k), v, what));
            }
        }
        if errors.len() > before {
            continue;
        }
        let rule_src = str_field(r, "rule").unwrap_or_default();
        let message = str_field(r, "message").unwrap_or_default();
        let message_expr = str_field(r, "messageExpression").unwrap_or_default();
        let field_path = str_field(r, "fieldPath").unwrap_or_default();
        let (t_rule, t_msg, t_expr) = (rule_src.trim(), message.trim(), message_expr.trim());
        if t_rule.is_empty() {
            errors.push(FieldError::required(
                child(&at, "rule"),
                "rule is not specified",
            ));
        } else if !message.is_empty() && t_msg.is_empty() {
            errors.push(FieldError::invalid(
                child(&at, "message"),
                &Value::String(message.clone()),
                "must be non-empty if specified",
            ));
        } else if has_newlines(t_msg) {
            errors.push(FieldError::invalid(
                child(&at, "message"),
                &Value::String(message.clone()),
                "must not contain line breaks",
            ));
        } else if has_newlines(t_rule) && t_msg.is_empty() {
            errors.push(FieldError::required(
                child(&at, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !message_expr.is_empty() && t_expr.is_empty() {
            errors.push(FieldError::required(
                child(&at, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        let reason = match r.get("reason").and_then(Value::as_str) {
            None => FieldErrorKind::Invalid,
            Some("FieldValueInvalid") => FieldErrorKind::Invalid,
            Some("FieldValueForbidden") => FieldErrorKind::Forbidden,
            Some("FieldValueRequired") => FieldErrorKind::Required,
            Some("FieldValueDuplicate") => FieldErrorKind::Duplicate,
            Some(other) => {
                errors.push(FieldError::not_supported(
                    child(&at, "reason"),
                    &Value::String(other.into()),
                    &[
                        "FieldValueDuplicate".into(),
                        "FieldValueForbidden".into(),
                        "FieldValueInvalid".into(),
                        "FieldValueRequired".into(),
                    ],
                ));
                FieldErrorKind::Invalid
            }
        };
        let fp_at = child(&at, "fieldPath");
        let fp_value = Value::String(field_path.clone());
        if !field_path.is_empty() && field_path.trim().is_empty() {
            errors.push(FieldError::invalid(
                &fp_at,
                &fp_value,
                "must be non-empty if specified",
            ));
        }
        if has_newlines(&field_path) {
            errors.push(FieldError::invalid(
                &fp_at,
                &fp_value,
                "must not contain line breaks",
            ));
        }
        let mut normalized = None;
        if !field_path.is_empty() {
            match valid_field_path(&field_path, node) {
                Some(p) => normalized = Some(p),
                None => errors.push(FieldError::invalid(
                    &fp_at,
                    &fp_value,
                    "must be a valid path",
                )),
            }
        }
        if errors.len() > before {
            continue;
        }
        let program = match compile_expr(t_rule) {
            Ok(p) => p,
            Err(e) => {
                errors.push(invalid_rule(
                    child(&at, "rule"),
                    r,
                    &format!("compilation failed: {e}"),
                ));
                continue;
            }
        };
        let message_expression = if t_expr.is_empty() {
            None
        } else {
            match compile_expr(t_expr) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(invalid_rule(
                        child(&at, "messageExpression"),
                        r,
                        &format!("messageExpression compilation failed: {e}"),
                    ));
                    continue;
                }
            }
        };
        let optional_old_self = r.get("optionalOldSelf") == Some(&Value::Bool(true));
        if !program.uses_old_self && r.get("optionalOldSelf").is_some_and(Value::is_boolean) {
            errors.push(FieldError::invalid(
                child(&at, "optionalOldSelf"),
                r.get("optionalOldSelf").unwrap_or(&Value::Null),
                "may not be set if oldSelf is not used in rule",
            ));
            continue;
        }
        rules.push(Rule {
            rule: t_rule.to_string(),
            message: t_msg.to_string(),
            message_expression,
            reason,
            field_path: normalized,
            optional_old_self,
            program,
        });
    }
    (rules, errors)
}

/// `Invalid value: <ValidationRule as JSON>: <detail>`.
fn invalid_rule(field: String, raw: &Value, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        message: format!("Invalid value: {}: {detail}", rule_struct(raw)),
        field,
    }
}

/// kube's `ValidFieldPath`: `.name`, `['quoted']` steps through properties (named) or
/// `additionalProperties` (keys). Returns the `field.Path` string.
fn valid_field_path(path: &str, node: &Node) -> Option<String> {
    let mut out = String::new();
    let mut schema = node;
    let mut rest = path;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let name: String;
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[', ']']).unwrap_or(r.len());
            name = r[..end].to_string();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let r = r.strip_prefix('\'')?;
            let mut end = None;
            let bytes = r.as_bytes();
            for i in 0..bytes.len() {
                if bytes[i] == b'\'' && (i == 0 || bytes[i - 1] != b'\\') {
                    end = Some(i);
                    break;
                }
            }
            let end = end?;
            name = unescape_single_quote(&r[..end])?;
            rest = r[end + 1..].strip_prefix(']')?;
        } else {
            return None;
        }
        if !schema.properties.is_empty() {
            schema = schema.properties.get(&name)?;
            out = child(&out, &name);
        } else if let Some(a) = schema.additional_schema() {
            schema = a;
            out = key(&out, &name);
        } else {
            return None;
        }
    }
    Some(out)
}

fn unescape_single_quote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\'' => '\'',
            '\\' => '\\',
            _ => return None,
        });
    }
    Some(out)
}

/// The largest bracket nesting of a source text, outside string literals.
pub(crate) fn source_nesting(src: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in src.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Where a word first appears in `src` (1-based line and 0-based column, cel-go style).
fn position(src: &str, word: &str) -> (usize, usize) {
    let found = src.match_indices(word).find(|(at, _)| {
        let before = src[..*at].chars().next_back();
        let after = src[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    });
    let at = found.map(|(at, _)| at).unwrap_or(0);
    let line = src[..at].matches('\n').count() + 1;
    let col = src[..at]
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0);
    (line, col)
}

/// Parses `src` once its bracket nesting is bounded, refusing trees deeper than
/// [`MAX_TREE_NESTING`] and what the interpreter cannot evaluate; errors in cel-go's words.
fn parse_tree(src: &str) -> Result<(IdedExpr, cel_ast::Facts), String> {
    if source_nesting(src) > MAX_NESTING {
        return Err(format!(
            "ERROR: <input>:1:1: expression recursion limit exceeded: {MAX_NESTING}"
        ));
    }
    let (program, facts) = cel_ast::parse(src, MAX_TREE_NESTING).map_err(|e| match e {
        ParseError::Syntax(message) => message,
        ParseError::TooDeep => {
            format!("ERROR: <input>:1:1: expression recursion limit exceeded: {MAX_NESTING}")
        }
        ParseError::Panicked => "ERROR: <input>:1:1: unsupported expression".into(),
    })?;
    if facts.unsupported {
        return Err("ERROR: <input>:1:1: unsupported expression: message construction".into());
    }
    Ok((program, facts))
}

/// Parses and checks one expression, or takes it from the [`ProgramCache`]. The tree is
/// parsed and measured by [`cel_ast::parse`] after the source's size and bracket nesting
/// have been bounded.
pub(super) fn compile_expr(src: &str) -> Result<Compiled, String> {
    if src.len() > MAX_RULE_BYTES {
        return Err(format!(
            "ERROR: <input>:1:1: expression size exceeds limit of {MAX_RULE_BYTES} bytes"
        ));
    }
    // Only expressions that passed every check are cached.
    if let Some(hit) = ProgramCache::global().get(src) {
        return Ok(hit);
    }
    let (program, facts) = parse_tree(src)?;
    for v in &facts.variables {
        if v != "self" && v != "oldSelf" && !facts.loop_vars.contains(v) {
            let (l, c) = position(src, v);
            return Err(format!(
                "ERROR: <input>:{l}:{c}: undeclared reference to '{v}' (in container '')"
            ));
        }
    }
    for f in &facts.functions {
        let operator = f.starts_with('_') || f.starts_with('@') || f == "!_" || f == "-_";
        if !operator && !FUNCTIONS.contains(&f.as_str()) {
            let (l, c) = position(src, f);
            return Err(format!(
                "ERROR: <input>:{l}:{c}: undeclared reference to '{f}' (in container '')"
            ));
        }
    }
    let compiled = Compiled {
        uses_old_self: facts.variables.contains("oldSelf"),
        loops: facts.loops,
        depth: facts.depth,
        program: Arc::new(program),
    };
    ProgramCache::global().insert(src, compiled.clone(), facts.nodes);
    Ok(compiled)
}

/// A CEL expression parsed for another evaluator in the crate (placement's CEL selectors):
/// the tree bounded as rules are (bracket nesting, tree depth; the caller bounds the size),
/// and the names it reads and calls.
pub(crate) struct Parsed {
    pub program: Arc<IdedExpr>,
    depth: usize,
    /// The most comprehensions nested in one another.
    pub loops: u32,
    /// Variables read that no comprehension binds.
    pub free_variables: Vec<String>,
    /// Functions called (operators excluded).
    pub functions: Vec<String>,
}

/// Parses `src` for [`Parsed`]; errors in cel-go's words.
pub(crate) fn parse_bounded(src: &str) -> Result<Parsed, String> {
    let (program, facts) = parse_tree(src)?;
    let operator = |f: &str| f.starts_with('_') || f.starts_with('@') || f == "!_" || f == "-_";
    Ok(Parsed {
        depth: facts.depth,
        loops: facts.loops,
        free_variables: facts
            .variables
            .iter()
            .filter(|v| !facts.loop_vars.contains(*v))
            .cloned()
            .collect(),
        functions: facts
            .functions
            .iter()
            .filter(|f| !operator(f))
            .cloned()
            .collect(),
        program: Arc::new(program),
    })
}

/// Evaluates a [`Parsed`] tree in `ctx` on a stack deep enough for it (as rules are run);
/// `None` when the interpreter panicked.
pub(crate) fn resolve(parsed: &Parsed, ctx: &Context) -> Option<Result<Cel, ExecutionError>> {
    let needs = parsed
        .depth
        .saturating_mul(EVAL_STACK_PER_LEVEL)
        .saturating_add(EVAL_STACK_MARGIN);
    stacker::maybe_grow(needs, EVAL_STACK, || {
        catch_unwind(AssertUnwindSafe(|| Cel::resolve(&parsed.program, ctx))).ok()
    })
}

/// Compiled expressions by their text, shared by every schema in the process. A CRD's
/// rules are compiled when the CRD is written and again for each of its kinds after every
/// catalog rebuild; with the cache a text is parsed once while it is in use. Only
/// successes are kept. The cache holds at most [`CACHE_NODES`] tree nodes: when a new
/// program does not fit, programs no schema holds any more are dropped, and if it still
/// does not fit it is not kept.
struct ProgramCache {
    entries: Mutex<CacheEntries>,
}

#[derive(Default)]
struct CacheEntries {
    by_text: HashMap<String, (Compiled, usize)>,
    nodes: usize,
}

/// The most tree nodes [`ProgramCache`] holds (a node is about 150 bytes; a typical rule
/// has a few dozen).
const CACHE_NODES: usize = 200_000;

impl ProgramCache {
    fn global() -> &'static ProgramCache {
        static CACHE: OnceLock<ProgramCache> = OnceLock::new();
        CACHE.get_or_init(|| ProgramCache {
            entries: Mutex::new(CacheEntries::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, CacheEntries> {
        // The map is consistent after any panic (inserts and removals are single calls).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, src: &str) -> Option<Compiled> {
        self.lock().by_text.get(src).map(|(c, _)| c.clone())
    }

    fn insert(&self, src: &str, compiled: Compiled, nodes: usize) {
        let mut cache = self.lock();
        if cache.by_text.contains_key(src) {
            return;
        }
        if cache.nodes + nodes > CACHE_NODES {
            // Our entry holds one reference; a schema using the program holds another.
            let mut freed = 0;
            cache.by_text.retain(|_, (c, n)| {
                let used = Arc::strong_count(&c.program) > 1;
                if !used {
                    freed += *n;
                }
                used
            });
            cache.nodes -= freed;
        }
        if cache.nodes + nodes <= CACHE_NODES {
            cache.nodes += nodes;
            cache.by_text.insert(src.to_string(), (compiled, nodes));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation.

const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// kube's property name escaping (`model.Escape`); `None` for names CEL cannot reach.
fn escape(name: &str) -> Option<String> {
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    let ok_first = first.is_ascii_alphabetic() || matches!(first, '_' | '.' | '-' | '/');
    if !ok_first
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return None;
    }
    let mut out = String::new();
    let mut rest = name;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("__") {
            out.push_str("__underscores__");
            rest = r;
            continue;
        }
        let mut it = rest.chars();
        let c = it.next()?;
        match c {
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c => out.push(c),
        }
        rest = it.as_str();
    }
    Some(out)
}

/// The number of values in a JSON tree (the cost estimate's input).
fn count(v: &Value, depth: usize) -> u64 {
    if depth > DATA_DEPTH_LIMIT {
        return 1;
    }
    match v {
        Value::Array(items) => items
            .iter()
            .fold(1u64, |n, i| n.saturating_add(count(i, depth + 1))),
        Value::Object(m) => m.iter().fold(1u64, |n, (k, i)| {
            n.saturating_add(count(i, depth + 1))
                .saturating_add(k.len() as u64 / 64)
        }),
        Value::String(s) => 1 + s.len() as u64 / 64,
        _ => 1,
    }
}

fn map_value(entries: HashMap<Key, Cel>) -> Cel {
    Cel::Map(Map {
        map: Arc::new(entries),
    })
}

/// JSON → CEL with the schema's types: declared properties escaped, `number` as double,
/// embedded resources' and the root's `metadata` reduced to `name` and `generateName`.
/// A JSON number as CEL sees it: a double when `float` (a `number` in the schema, or
/// Go's `json.Unmarshal` into `any`), else an int, a uint when too big, a double when
/// fractional.
pub(crate) fn number(n: &serde_json::Number, float: bool) -> Cel {
    if float {
        Cel::Float(n.as_f64().unwrap_or(0.0))
    } else if let Some(i) = n.as_i64() {
        Cel::Int(i)
    } else if let Some(u) = n.as_u64() {
        Cel::UInt(u)
    } else {
        Cel::Float(n.as_f64().unwrap_or(0.0))
    }
}

fn to_cel(node: Option<&Node>, v: &Value, resource: bool, depth: usize) -> Cel {
    if depth > DATA_DEPTH_LIMIT {
        return Cel::Null;
    }
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => number(n, node.is_some_and(|n| n.ty == Some(Type::Number))),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let item_node = node.and_then(|n| n.items.as_deref());
            Cel::List(Arc::new(
                items
                    .iter()
                    .map(|i| {
                        to_cel(
                            item_node,
                            i,
                            item_node.is_some_and(|n| n.embedded),
                            depth + 1,
                        )
                    })
                    .collect(),
            ))
        }
        Value::Object(m) => {
            let mut out = HashMap::new();
            let structured = node.is_some_and(|n| !n.properties.is_empty());
            for (k, val) in m {
                if resource && (k == "apiVersion" || k == "kind") {
                    out.insert(Key::from(k.as_str()), to_cel(None, val, false, depth + 1));
                    continue;
                }
                if resource && k == "metadata" {
                    let mut meta = HashMap::new();
                    for f in ["name", "generateName"] {
                        if let Some(Value::String(s)) = val.get(f) {
                            meta.insert(Key::from(f), Cel::String(Arc::new(s.clone())));
                        }
                    }
                    out.insert(Key::from("metadata"), map_value(meta));
                    continue;
                }
                if structured {
                    let Some(n) = node else { continue };
                    let Some(p) = n.properties.get(k) else {
                        continue;
                    };
                    if let Some(name) = escape(k) {
                        out.insert(Key::from(name), to_cel(Some(p), val, p.embedded, depth + 1));
                    }
                } else {
                    let sub = node.and_then(Node::additional_schema);
                    out.insert(
                        Key::from(k.as_str()),
                        to_cel(sub, val, sub.is_some_and(|n| n.embedded), depth + 1),
                    );
                }
            }
            map_value(out)
        }
    }
}

/// cel-go's wording for the interpreter's evaluation errors.
fn eval_error(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".into(),
        ExecutionError::Overflow(..) => "integer overflow".into(),
        ExecutionError::UndeclaredReference(r) => format!("no such attribute(s): {r}"),
        ExecutionError::FunctionError { message, .. } => message.clone(),
        _ => "no such overload".into(),
    }
}

fn string_arg(ftx: &FunctionContext, i: usize) -> Result<Arc<String>, ExecutionError> {
    let expr = ftx
        .args
        .get(i)
        .ok_or_else(|| ftx.error("no such overload"))?;
    match ftx.ptx.resolve(expr)? {
        Cel::String(s) => Ok(s),
        _ => Err(ftx.error("no such overload")),
    }
}

fn int_arg(ftx: &FunctionContext, i: usize) -> Result<i64, ExecutionError> {
    let expr = ftx
        .args
        .get(i)
        .ok_or_else(|| ftx.error("no such overload"))?;
    match ftx.ptx.resolve(expr)? {
        Cel::Int(n) => Ok(n),
        _ => Err(ftx.error("no such overload")),
    }
}

fn this_string(ftx: &FunctionContext) -> Result<Arc<String>, ExecutionError> {
    match &ftx.this {
        Some(Cel::String(s)) => Ok(s.clone()),
        _ => Err(ftx.error("no such overload")),
    }
}

/// Character index → byte offset (`None` past the end).
fn byte_at(s: &str, chars: i64) -> Option<usize> {
    if chars < 0 {
        return None;
    }
    let n = usize::try_from(chars).ok()?;
    if n == s.chars().count() {
        return Some(s.len());
    }
    s.char_indices().nth(n).map(|(b, _)| b)
}

/// Adds kube's CEL string library (and its `size`, optional helpers) to a context; the
/// placement scheduler's CEL selectors use it too.
pub(crate) fn register(ctx: &mut Context) {
    ctx.add_function(
        "size",
        |ftx: &FunctionContext, This(this): This<Cel>| -> Result<i64, ExecutionError> {
            let n = match this {
                Cel::List(l) => l.len(),
                Cel::Map(m) => m.map.len(),
                Cel::String(s) => s.chars().count(),
                Cel::Bytes(b) => b.len(),
                _ => return Err(ftx.error("no such overload")),
            };
            Ok(i64::try_from(n).unwrap_or(i64::MAX))
        },
    );
    ctx.add_function("hasValue", |This(this): This<Cel>| {
        !matches!(this, Cel::Null)
    });
    ctx.add_function(
        "value",
        |ftx: &FunctionContext, This(this): This<Cel>| match this {
            Cel::Null => Err(ftx.error("optional.none() dereference")),
            v => Ok(v),
        },
    );
    ctx.add_function(
        "orValue",
        |ftx: &FunctionContext, This(this): This<Cel>| match this {
            Cel::Null => match ftx.args.first() {
                Some(e) => ftx.ptx.resolve(e),
                None => Err(ftx.error("no such overload")),
            },
            v => Ok(v),
        },
    );
    ctx.add_function("lowerAscii", |ftx: &FunctionContext| {
        this_string(ftx).map(|s| Cel::String(Arc::new(s.to_ascii_lowercase())))
    });
    ctx.add_function("upperAscii", |ftx: &FunctionContext| {
        this_string(ftx).map(|s| Cel::String(Arc::new(s.to_ascii_uppercase())))
    });
    ctx.add_function("trim", |ftx: &FunctionContext| {
        this_string(ftx).map(|s| Cel::String(Arc::new(s.trim().to_string())))
    });
    ctx.add_function("replace", |ftx: &FunctionContext| {
        let s = this_string(ftx)?;
        let (from, to) = (string_arg(ftx, 0)?, string_arg(ftx, 1)?);
        let out = match ftx.args.len() {
            2 => s.replace(from.as_str(), &to),
            _ => {
                let n = int_arg(ftx, 2)?;
                match usize::try_from(n) {
                    Ok(n) => s.replacen(from.as_str(), &to, n),
                    Err(_) => s.replace(from.as_str(), &to),
                }
            }
        };
        Ok::<Cel, ExecutionError>(Cel::String(Arc::new(out)))
    });
    ctx.add_function("split", |ftx: &FunctionContext| {
        let s = this_string(ftx)?;
        let sep = string_arg(ftx, 0)?;
        let parts: Vec<Cel> = if sep.is_empty() {
            s.chars()
                .map(|c| Cel::String(Arc::new(c.to_string())))
                .collect()
        } else {
            s.split(sep.as_str())
                .map(|p| Cel::String(Arc::new(p.to_string())))
                .collect()
        };
        Ok::<Cel, ExecutionError>(Cel::List(Arc::new(parts)))
    });
    ctx.add_function("join", |ftx: &FunctionContext| {
        let Some(Cel::List(items)) = &ftx.this else {
            return Err(ftx.error("no such overload"));
        };
        let sep = if ftx.args.is_empty() {
            Arc::new(String::new())
        } else {
            string_arg(ftx, 0)?
        };
        let mut parts = Vec::with_capacity(items.len());
        for i in items.iter() {
            match i {
                Cel::String(s) => parts.push(s.as_str().to_string()),
                _ => return Err(ftx.error("no such overload")),
            }
        }
        Ok(Cel::String(Arc::new(parts.join(sep.as_str()))))
    });
    ctx.add_function("indexOf", |ftx: &FunctionContext| {
        let s = this_string(ftx)?;
        let sub = string_arg(ftx, 0)?;
        let idx = s
            .find(sub.as_str())
            .map(|b| s[..b].chars().count() as i64)
            .unwrap_or(-1);
        Ok::<Cel, ExecutionError>(Cel::Int(idx))
    });
    ctx.add_function("lastIndexOf", |ftx: &FunctionContext| {
        let s = this_string(ftx)?;
        let sub = string_arg(ftx, 0)?;
        let idx = s
            .rfind(sub.as_str())
            .map(|b| s[..b].chars().count() as i64)
            .unwrap_or(-1);
        Ok::<Cel, ExecutionError>(Cel::Int(idx))
    });
    ctx.add_function("substring", |ftx: &FunctionContext| {
        let s = this_string(ftx)?;
        let start = int_arg(ftx, 0)?;
        let b0 =
            byte_at(&s, start).ok_or_else(|| ftx.error(format!("index out of range: {start}")))?;
        let b1 = if ftx.args.len() > 1 {
            let end = int_arg(ftx, 1)?;
            let b1 =
                byte_at(&s, end).ok_or_else(|| ftx.error(format!("index out of range: {end}")))?;
            if b1 < b0 {
                return Err(ftx.error(format!(
                    "invalid substring range. start: {start}, end: {end}"
                )));
            }
            b1
        } else {
            s.len()
        };
        Ok(Cel::String(Arc::new(s[b0..b1].to_string())))
    });
}

/// Evaluates one expression; panics of the interpreter are evaluation errors. A tree
/// deeper than the current stack has room for is evaluated on a stack of [`EVAL_STACK`]
/// (`stacker`, on this thread); most rules are shallow and run in place.
fn run(expr: &Compiled, this: &Cel, old: Option<&Cel>, optional_old: bool) -> Result<Cel, String> {
    let mut ctx = Context::default();
    register(&mut ctx);
    ctx.add_variable_from_value("self", this.clone());
    match old {
        Some(o) => ctx.add_variable_from_value("oldSelf", o.clone()),
        None if optional_old => ctx.add_variable_from_value("oldSelf", Cel::Null),
        None => {}
    }
    let needs = expr
        .depth
        .saturating_mul(EVAL_STACK_PER_LEVEL)
        .saturating_add(EVAL_STACK_MARGIN);
    let evaluated = stacker::maybe_grow(needs, EVAL_STACK, || {
        catch_unwind(AssertUnwindSafe(|| Cel::resolve(&expr.program, &ctx)))
    });
    match evaluated {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(eval_error(&e)),
        Err(_) => Err("no such overload".into()),
    }
}

struct Walker {
    budget: u64,
    exhausted: bool,
    errors: Vec<FieldError>,
}

/// Evaluates every rule of `root` over `object` (and `old` on updates).
pub(super) fn validate(root: &Node, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut w = Walker {
        budget: RUNTIME_BUDGET,
        exhausted: false,
        errors: Vec::new(),
    };
    let ratchet = old.map(|o| (o, object));
    w.walk(root, object, old, "", true, ratchet, 0);
    w.errors
}

impl Walker {
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        node: &Node,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        resource: bool,
        // The nearest correlated (old, new) pair: errors ratchet when it is unchanged.
        nearest: Option<(&Value, &Value)>,
        depth: usize,
    ) {
        if value.is_null() || self.exhausted || depth > DATA_DEPTH_LIMIT {
            return;
        }
        let nearest = match old {
            Some(o) => Some((o, value)),
            None => nearest,
        };
        if !node.cel.is_empty() {
            self.rules(node, value, old, path, resource, nearest);
        }
        for all_of in &node.checks.all_of {
            if !all_of.cel.is_empty() {
                self.rules(all_of, value, old, path, resource, None);
            }
        }
        match value {
            Value::Object(m) => {
                for (k, v) in m {
                    if resource && (k == "apiVersion" || k == "kind" || k == "metadata") {
                        continue;
                    }
                    let (sub, p) = match node.properties.get(k) {
                        Some(s) => (s, child(path, k)),
                        None => match node.additional_schema() {
                            Some(s) => (s, key(path, k)),
                            None => continue,
                        },
                    };
                    let o = old.and_then(|o| o.get(k));
                    self.walk(sub, v, o, &p, sub.embedded, nearest, depth + 1);
                }
            }
            Value::Array(items) => {
                let Some(sub) = node.items.as_deref() else {
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    let o = correlated_item(node, item, old);
                    let p = format!("{path}[{i}]");
                    self.walk(sub, item, o, &p, sub.embedded, nearest, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn rules(
        &mut self,
        node: &Node,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        resource: bool,
        nearest: Option<(&Value, &Value)>,
    ) {
        let type_name = node.ty.map(Type::name).unwrap_or("");
        let type_value = Value::String(type_name.into());
        let invalid = |detail: String| FieldError::invalid(path, &type_value, &detail);
        let field = if path.is_empty() { "<nil>" } else { path };
        let size = count(value, 0).saturating_add(old.map(|o| count(o, 0)).unwrap_or(0));
        let this = to_cel(Some(node), value, resource, 0);
        let old_cel = old.map(|o| to_cel(Some(node), o, resource, 0));
        let mut unchanged: Option<bool> = None;
        for rule in &node.cel {
            if self.budget == 0 {
                self.errors.push(FieldError::invalid(
                    field,
                    &type_value,
                    "validation failed due to running out of cost budget, no further validation rules will be run",
                ));
                self.exhausted = true;
                return;
            }
            if rule.program.uses_old_self && old.is_none() && !rule.optional_old_self {
                continue;
            }
            let cost = estimate(size, rule.program.loops);
            if cost > PER_CALL_LIMIT {
                self.errors.push(FieldError {
                    field: field.to_string(),
                    ..invalid(format!(
                        "'operation cancelled: actual cost limit exceeded': no further validation rules will be run due to call cost exceeds limit for rule: {}",
                        rule_error_string(rule)
                    ))
                });
                self.exhausted = true;
                return;
            }
            if cost > self.budget {
                self.errors.push(FieldError {
                    field: field.to_string(),
                    ..invalid("validation failed due to running out of cost budget, no further validation rules will be run".into())
                });
                self.exhausted = true;
                return;
            }
            self.budget -= cost;
            let result = run(
                &rule.program,
                &this,
                old_cel.as_ref(),
                rule.optional_old_self,
            );
            match result {
                Err(e) if e == "no such overload" => {
                    self.errors.push(FieldError {
                        field: field.to_string(),
                        ..invalid(format!(
                            "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {}",
                            rule_error_string(rule)
                        ))
                    });
                    continue;
                }
                Err(e) => {
                    self.errors.push(FieldError {
                        field: field.to_string(),
                        ..invalid(format!("{e} evaluating rule: {}", rule_error_string(rule)))
                    });
                    continue;
                }
                Ok(Cel::Bool(true)) => continue,
                Ok(_) => {}
            }
            let at = match &rule.field_path {
                Some(fp) => child(path, fp),
                None => path.to_string(),
            };
            let at = if at.is_empty() {
                "<nil>".to_string()
            } else {
                at
            };
            let mut detail = None;
            if let Some(expr) = &rule.message_expression {
                let cost = estimate(size, expr.loops);
                if cost <= PER_CALL_LIMIT && cost <= self.budget {
                    self.budget -= cost;
                    if let Ok(Cel::String(s)) =
                        run(expr, &this, old_cel.as_ref(), rule.optional_old_self)
                    {
                        let t = s.trim();
                        if !t.is_empty() && t.len() <= MAX_MESSAGE_BYTES && !has_newlines(t) {
                            detail = Some(t.to_string());
                        }
                    }
                }
            }
            let detail = detail.unwrap_or_else(|| {
                if rule.message.is_empty() {
                    format!("failed rule: {}", rule_error_string(rule))
                } else {
                    rule.message.clone()
                }
            });
            let omit = matches!(node.ty, Some(Type::Object | Type::Array));
            let error = match rule.reason {
                FieldErrorKind::Forbidden => FieldError::forbidden(&at, &detail),
                FieldErrorKind::Required => FieldError::required(&at, &detail),
                FieldErrorKind::Duplicate if omit => FieldError {
                    kind: FieldErrorKind::Duplicate,
                    field: at,
                    message: "Duplicate value".into(),
                },
                FieldErrorKind::Duplicate => FieldError::duplicate(&at, value),
                _ if omit => FieldError {
                    kind: FieldErrorKind::Invalid,
                    field: at,
                    message: format!("Invalid value: {detail}"),
                },
                _ => FieldError::invalid(&at, value, &detail),
            };
            if !rule.program.uses_old_self {
                let ratchet = *unchanged
                    .get_or_insert_with(|| nearest.is_some_and(|(o, n)| deep_equal(o, n)));
                if ratchet {
                    continue;
                }
            }
            self.errors.push(error);
        }
    }
}

fn rule_error_string(rule: &Rule) -> &str {
    if rule.message.is_empty() {
        &rule.rule
    } else {
        &rule.message
    }
}

fn estimate(size: u64, loops: u32) -> u64 {
    let base = size.saturating_add(1);
    (0..loops.max(1)).fold(1u64, |acc, _| acc.saturating_mul(base))
}

/// The old item correlated with `item`: only items of `x-kubernetes-list-type: map` lists
/// correlate, by their key fields.
fn correlated_item<'a>(node: &Node, item: &Value, old: Option<&'a Value>) -> Option<&'a Value> {
    if node.list_type != Some(ListType::Map) || node.list_map_keys.is_empty() {
        return None;
    }
    let same_key = |o: &&Value| node.list_map_keys.iter().all(|k| o.get(k) == item.get(k));
    old?.as_array()?.iter().find(same_key)
}
