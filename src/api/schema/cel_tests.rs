//! CEL validation rules: compiling, evaluating, kube's messages.

use serde_json::{Value, json};

use super::*;

fn compile(schema: Value) -> Structural {
    match Structural::compile(&schema) {
        Ok(s) => s,
        Err(e) => panic!("schema should compile: {e}"),
    }
}

fn compile_err(schema: Value) -> String {
    match Structural::compile(&schema) {
        Ok(_) => panic!("schema should not compile"),
        Err(e) => e.to_string(),
    }
}

/// A root schema whose `spec` is `spec_schema`.
fn with_spec(spec_schema: Value) -> Structural {
    compile(json!({"type": "object", "properties": {"spec": spec_schema}}))
}

fn errs(s: &Structural, spec: Value) -> Vec<String> {
    s.validate(&json!({"spec": spec}))
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn update_errs(s: &Structural, spec: Value, old: Value) -> Vec<String> {
    s.validate_update(&json!({"spec": spec}), &json!({"spec": old}))
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn replicas() -> Structural {
    with_spec(json!({
        "type": "object",
        "properties": {
            "minReplicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"}
        },
        "x-kubernetes-validations": [{
            "rule": "self.minReplicas <= self.maxReplicas",
            "message": "minReplicas must not exceed maxReplicas"
        }]
    }))
}

#[test]
fn object_rule_with_message() {
    let s = replicas();
    assert!(s.has_cel_rules());
    assert!(errs(&s, json!({"minReplicas": 1, "maxReplicas": 3})).is_empty());
    assert_eq!(
        errs(&s, json!({"minReplicas": 5, "maxReplicas": 3})),
        ["spec: Invalid value: minReplicas must not exceed maxReplicas"]
    );
    let e = s.validate(&json!({"spec": {"minReplicas": 5, "maxReplicas": 3}}));
    assert_eq!(e[0].reason(), "FieldValueInvalid");
    // A missing field is an evaluation error, reported with the node's type.
    assert_eq!(
        errs(&s, json!({"minReplicas": 5})),
        [
            "spec: Invalid value: \"object\": no such key: maxReplicas evaluating rule: minReplicas must not exceed maxReplicas"
        ]
    );
}

#[test]
fn default_message_and_root_rules() {
    let s = compile(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        "x-kubernetes-validations": [
            {"rule": "has(self.spec) && self.spec.a > 0"},
            {"rule": "self.metadata.name.startsWith('ok')"}
        ]
    }));
    let e: Vec<String> = s
        .validate(&json!({"metadata": {"name": "bad", "namespace": "x"}, "spec": {"a": 0}}))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        e,
        [
            "<nil>: Invalid value: failed rule: has(self.spec) && self.spec.a > 0",
            "<nil>: Invalid value: failed rule: self.metadata.name.startsWith('ok')",
        ]
    );
    assert!(
        s.validate(&json!({"metadata": {"name": "ok1"}, "spec": {"a": 1}}))
            .is_empty()
    );
}

#[test]
fn string_and_integer_rules_show_the_value() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self.matches('^[a-z]+$') && self.size() <= 5 && !self.endsWith('x')"}
            ]},
            "n": {"type": "integer", "x-kubernetes-validations": [
                {"rule": "self % 2 == 0", "message": "must be even"}
            ]},
            "ratio": {"type": "number", "x-kubernetes-validations": [
                {"rule": "self < 1.0"}
            ]}
        }
    }));
    assert!(errs(&s, json!({"name": "abc", "n": 4, "ratio": 0.5})).is_empty());
    assert_eq!(
        errs(&s, json!({"name": "Abc", "n": 3, "ratio": 1})),
        [
            "spec.n: Invalid value: 3: must be even",
            "spec.name: Invalid value: \"Abc\": failed rule: self.matches('^[a-z]+$') && self.size() <= 5 && !self.endsWith('x')",
            "spec.ratio: Invalid value: 1: failed rule: self < 1.0",
        ]
    );
}

#[test]
fn list_and_map_rules_with_macros() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "string", "x-kubernetes-validations": [
                    {"rule": "self != 'forbidden'", "message": "item is forbidden"}
                ]},
                "x-kubernetes-validations": [
                    {"rule": "self.all(x, x.size() < 4)", "message": "items are too long"},
                    {"rule": "self.exists_one(x, x == 'a')", "message": "exactly one a"},
                    {"rule": "self.filter(x, x.startsWith('b')).size() <= 1 && self.map(x, x + '!').exists(y, y == 'a!')",
                     "message": "map and filter"}
                ]
            },
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "x-kubernetes-validations": [
                    {"rule": "self.all(k, k.startsWith('x-')) && ('x-a' in self)", "message": "label keys"}
                ]
            }
        }
    }));
    assert!(errs(&s, json!({"items": ["a", "b"], "labels": {"x-a": "1"}})).is_empty());
    assert_eq!(
        errs(
            &s,
            json!({"items": ["a", "a", "bb", "bbbbb"], "labels": {"y": "1"}})
        ),
        [
            "spec.items: Invalid value: items are too long",
            "spec.items: Invalid value: exactly one a",
            "spec.items: Invalid value: map and filter",
            "spec.labels: Invalid value: label keys",
        ]
    );
    assert_eq!(
        errs(
            &s,
            json!({"items": ["a", "forbidden"], "labels": {"x-a": "1"}})
        ),
        [
            "spec.items: Invalid value: items are too long",
            "spec.items[1]: Invalid value: \"forbidden\": item is forbidden"
        ]
    );
}

#[test]
fn transition_rules_use_old_self_only_on_updates() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "id is immutable"}
            ]},
            "count": {"type": "integer", "x-kubernetes-validations": [
                {"rule": "!oldSelf.hasValue() || self >= oldSelf.value()", "optionalOldSelf": true,
                 "message": "count may not decrease"},
                {"rule": "self >= oldSelf.orValue(2)", "optionalOldSelf": true,
                 "message": "at least the old value or 2"}
            ]}
        }
    }));
    // Creates: `self == oldSelf` is skipped; optionalOldSelf rules run without an old value.
    assert!(errs(&s, json!({"id": "a", "count": 3})).is_empty());
    assert_eq!(
        errs(&s, json!({"id": "a", "count": 1})),
        ["spec.count: Invalid value: 1: at least the old value or 2"]
    );
    assert!(
        update_errs(
            &s,
            json!({"id": "a", "count": 4}),
            json!({"id": "a", "count": 3})
        )
        .is_empty()
    );
    assert_eq!(
        update_errs(
            &s,
            json!({"id": "b", "count": 2}),
            json!({"id": "a", "count": 3})
        ),
        [
            "spec.count: Invalid value: 2: count may not decrease",
            "spec.count: Invalid value: 2: at least the old value or 2",
            "spec.id: Invalid value: \"b\": id is immutable",
        ]
    );
    // A field added on update has no old value: the transition rule is skipped.
    assert!(update_errs(&s, json!({"id": "b", "count": 3}), json!({"count": 3})).is_empty());
}

#[test]
fn map_list_items_correlate_by_key() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {"ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [
                    {"rule": "self.port == oldSelf.port", "message": "port is immutable"}
                ]
            }
        }}
    }));
    let old = json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]});
    assert!(
        update_errs(
            &s,
            json!({"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 1}, {"name": "c", "port": 9}]}),
            old.clone()
        )
        .is_empty()
    );
    assert_eq!(
        update_errs(&s, json!({"ports": [{"name": "b", "port": 3}]}), old),
        ["spec.ports[0]: Invalid value: port is immutable"]
    );
}

#[test]
fn message_expression_field_path_and_reason() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {
            "min": {"type": "integer"},
            "max": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mode": {"type": "string"}
        },
        "x-kubernetes-validations": [
            {"rule": "self.min <= self.max",
             "messageExpression": "'min (' + string(self.min) + ') exceeds max (' + string(self.max) + ')'",
             "fieldPath": ".min"},
            {"rule": "self.tags.size() == 0 || self.tags.exists(t, t == 'x') == false",
             "reason": "FieldValueForbidden", "message": "tag x is required to be absent",
             "fieldPath": ".tags"},
            {"rule": "has(self.mode)", "reason": "FieldValueRequired", "message": "mode is required",
             "fieldPath": "['mode']"},
            {"rule": "self.tags.size() == 0 || self.tags[0] != 'dup'", "reason": "FieldValueDuplicate"},
            {"rule": "self.min != 7", "messageExpression": "self.min == 7 ? '' : 'x'",
             "message": "static fallback"}
        ]
    }));
    let e = s.validate(&json!({"spec": {"min": 7, "max": 3, "tags": ["dup", "x"]}}));
    let texts: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "spec.min: Invalid value: min (7) exceeds max (3)",
            "spec.tags: Forbidden: tag x is required to be absent",
            "spec.mode: Required value: mode is required",
            "spec: Duplicate value",
            "spec: Invalid value: static fallback",
        ]
    );
    let reasons: Vec<&str> = e.iter().map(FieldError::reason).collect();
    assert_eq!(
        reasons,
        [
            "FieldValueInvalid",
            "FieldValueForbidden",
            "FieldValueRequired",
            "FieldValueDuplicate",
            "FieldValueInvalid"
        ]
    );
}

#[test]
fn compile_errors_reject_the_schema() {
    let schema = |rule: Value| {
        json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"a": {"type": "integer"}},
            "x-kubernetes-validations": [rule]}}})
    };
    let e = compile_err(schema(json!({"rule": "self.a >"})));
    assert!(
        e.starts_with(
            "invalid openAPIV3Schema: openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {\"Rule\":\"self.a \\u003e\",\"Message\":\"\",\"MessageExpression\":\"\",\"Reason\":null,\"FieldPath\":\"\",\"OptionalOldSelf\":null}: compilation failed: ERROR: <input>:1:"
        ),
        "{e}"
    );
    let e = compile_err(schema(json!({"rule": "self.a > limit"})));
    assert!(
        e.ends_with("compilation failed: ERROR: <input>:1:9: undeclared reference to 'limit' (in container '')"),
        "{e}"
    );
    let e = compile_err(schema(json!({"rule": "self.a.quantity() > 1"})));
    assert!(e.contains("undeclared reference to 'quantity'"), "{e}");
    let e = compile_err(schema(
        json!({"rule": "self.a > 0", "messageExpression": "'x' +"}),
    ));
    assert!(
        e.contains("x-kubernetes-validations[0].messageExpression: Invalid value: {")
            && e.contains("messageExpression compilation failed: ERROR: <input>:1:"),
        "{e}"
    );
    assert_eq!(
        compile_err(schema(json!({"rule": "  "}))),
        "invalid openAPIV3Schema: openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Required value: rule is not specified"
    );
    assert_eq!(
        compile_err(schema(json!({"rule": "true", "reason": "Nope"}))),
        "invalid openAPIV3Schema: openAPIV3Schema.properties[spec].x-kubernetes-validations[0].reason: Unsupported value: \"Nope\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
    );
    assert_eq!(
        compile_err(schema(json!({"rule": "true", "fieldPath": ".b"}))),
        "invalid openAPIV3Schema: openAPIV3Schema.properties[spec].x-kubernetes-validations[0].fieldPath: Invalid value: \".b\": must be a valid path"
    );
    assert_eq!(
        compile_err(schema(json!({"rule": "true", "message": "a\nb"}))),
        "invalid openAPIV3Schema: openAPIV3Schema.properties[spec].x-kubernetes-validations[0].message: Invalid value: \"a\\nb\": must not contain line breaks"
    );
    assert_eq!(
        compile_err(schema(json!({"rule": "true", "optionalOldSelf": true}))),
        "invalid openAPIV3Schema: openAPIV3Schema.properties[spec].x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule"
    );
    // Struct construction cannot be evaluated by the interpreter.
    let e = compile_err(schema(json!({"rule": "Foo{a: 1} == self"})));
    assert!(e.contains("compilation failed"), "{e}");
    // Pathological nesting is refused before parsing.
    let deep = format!("{}true{}", "(".repeat(5000), ")".repeat(5000));
    let e = compile_err(schema(json!({"rule": deep})));
    assert!(e.contains("recursion limit exceeded"), "{e}");
    for rule in [
        format!("{}true", "!".repeat(16000)),
        format!("self.a == 0{}", " + 1".repeat(4000)),
        format!("self.a == {}1", "-".repeat(16000)),
    ] {
        // Either a compile error or a program that stays shallow (`!!x` is `x`), never a
        // crash; evaluating what compiles must not crash either.
        match Structural::compile(&schema(json!({ "rule": rule }))) {
            Err(e) => assert!(e.to_string().contains("compilation failed"), "{e}"),
            Ok(s) => {
                let _ = s.validate(&json!({"spec": {"a": 0}}));
            }
        }
    }
    let long = format!("self.a > 0{}", " && true".repeat(3000));
    let e = compile_err(schema(json!({"rule": long})));
    assert!(e.contains("size exceeds limit"), "{e}");
}

#[test]
fn rules_wait_for_blocking_schema_errors() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string", "pattern": "^x"}},
        "x-kubernetes-validations": [{"rule": "self.a > 0", "message": "a must be positive"}]
    }));
    // A type error blocks CEL; kube says so in one more error.
    assert_eq!(
        errs(&s, json!({"a": "zero"})),
        [
            "spec.a: Invalid value: \"string\": spec.a in body must be of type integer: \"string\"",
            "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ]
    );
    // A non-blocking error (pattern) does not.
    assert_eq!(
        errs(&s, json!({"a": 0, "b": "y"})),
        [
            "spec.b: Invalid value: \"y\": spec.b in body should match '^x'",
            "spec: Invalid value: a must be positive",
        ]
    );
}

#[test]
fn unchanged_values_ratchet_rule_errors() {
    let s = replicas();
    let bad = json!({"minReplicas": 5, "maxReplicas": 3});
    assert!(update_errs(&s, bad.clone(), bad.clone()).is_empty());
    assert_eq!(
        update_errs(&s, json!({"minReplicas": 6, "maxReplicas": 3}), bad),
        ["spec: Invalid value: minReplicas must not exceed maxReplicas"]
    );
}

#[test]
fn escaped_property_names() {
    let s = with_spec(json!({
        "type": "object",
        "properties": {"namespace": {"type": "string"}, "x-y": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.__namespace__ == 'a' && self.x__dash__y == 1"}]
    }));
    assert!(errs(&s, json!({"namespace": "a", "x-y": 1})).is_empty());
    assert_eq!(errs(&s, json!({"namespace": "b", "x-y": 1})).len(), 1);
}

#[test]
fn evaluation_never_panics_and_cost_is_bounded() {
    let s = with_spec(json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-validations": [
            {"rule": "self.s.all(x, x == 1)"},
            {"rule": "'abc'[9223372036854775807] == 'a'"},
            {"rule": "1 / 0 == 1"},
            {"rule": "self.l.all(a, self.l.all(b, self.l.all(c, a + b + c >= 0)))"}
        ]
    }));
    let big: Vec<i64> = (0..200).collect();
    let e = errs(&s, json!({"s": "str", "l": big}));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(e[0].contains("'no such overload'"), "{e:?}");
    assert!(
        e[2].contains("division by zero evaluating rule: 1 / 0 == 1"),
        "{e:?}"
    );
    assert!(
        e[3].contains("call cost exceeds limit for rule: self.l.all(a"),
        "{e:?}"
    );
    // Small lists are fine.
    let e = errs(&s, json!({"s": [1], "l": [1, 2]}));
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn string_extensions() {
    let s = with_spec(json!({
        "type": "string",
        "x-kubernetes-validations": [
            {"rule": "self.lowerAscii() == 'ab-cd' && self.upperAscii() == 'AB-CD'"},
            {"rule": "self.split('-').size() == 2 && ['x', 'y'].join('-') == 'x-y'"},
            {"rule": "self.indexOf('-') == 2 && self.substring(0, 2).lowerAscii() == 'ab'"},
            {"rule": "self.replace('-', '') .size() == 4 && ' x '.trim() == 'x'"}
        ]
    }));
    assert!(
        errs(&s, json!("Ab-Cd")).is_empty(),
        "{:?}",
        errs(&s, json!("Ab-Cd"))
    );
}

#[test]
fn the_same_rule_text_is_compiled_once() {
    let a = cel::compile_expr("self.a > 0 && self.a < 7").expect("compiles");
    let b = cel::compile_expr("self.a > 0 && self.a < 7").expect("compiles");
    assert!(std::sync::Arc::ptr_eq(&a.program, &b.program));
    assert_eq!((a.uses_old_self, a.loops), (b.uses_old_self, b.loops));
    let c = cel::compile_expr("self.l.all(x, self.l.exists(y, x == y)) && oldSelf == self")
        .expect("compiles");
    assert!(c.uses_old_self);
    assert_eq!(c.loops, 2);
    // Errors are not kept: the same message every time.
    for _ in 0..2 {
        let e = cel::compile_expr("self.a > limit").err();
        assert_eq!(
            e.as_deref(),
            Some("ERROR: <input>:1:9: undeclared reference to 'limit' (in container '')")
        );
    }
}

/// Rules near the limits, compiled and evaluated on a thread with a tokio worker's stack
/// (2 MiB): the parser gets a stack of its own, accepted trees are shallow enough.
#[test]
fn deep_rules_near_the_limits_on_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let schema = |rule: &str| {
                json!({"type": "object", "properties": {"spec": {"type": "object",
                    "properties": {"a": {"type": "integer"}, "l": {"type": "array", "items": {"type": "integer"}}},
                    "x-kubernetes-validations": [{"rule": rule}]}}})
            };
            let mut out = Vec::new();
            for (rule, accepted) in [
                // 250 brackets: the bracket limit, and no tree levels.
                (format!("{}self.a >= 0{}", "(".repeat(250), ")".repeat(250)), true),
                // Trees just inside and just outside the tree limit (4 levels per list).
                (format!("{}self.a{} != []", "[".repeat(145), "]".repeat(145)), true),
                (format!("{}self.a{} != []", "[".repeat(152), "]".repeat(152)), false),
                (format!("self.a >= 0{}", " + 0".repeat(140)), true),
                (format!("self.a >= 0{}", " + 0".repeat(3000)), false),
                (format!("self.a >= 0 && {}true", "self.a == 1 ? false : ".repeat(140)), true),
                (format!("{}true{}", "self.l.all(x, ".repeat(8), ")".repeat(8)), true),
                // The shapes evaluation needs the most stack for, near the tree limit.
                (format!("{}self.a{} == 0", "[".repeat(70), "][0]".repeat(70)), true),
                (format!("{}self.a{} == 0", "{0: ".repeat(52), "}[0]".repeat(52)), true),
                (format!("{}true{}", "(".repeat(251), ")".repeat(251)), false),
            ] {
                let got = match Structural::compile(&schema(&rule)) {
                    Ok(s) => Ok(s.validate(&json!({"spec": {"a": 0, "l": [1]}})).len()),
                    Err(e) => Err(e.to_string()),
                };
                out.push((rule.len(), accepted, got));
            }
            out
        })
        .expect("thread");
    for (len, accepted, got) in handle.join().expect("no stack overflow") {
        match got {
            Ok(errors) => assert!(accepted && errors == 0, "{len} bytes: {errors} errors"),
            Err(e) => assert!(
                !accepted && e.contains("compilation failed: ERROR: <input>:1:1: expression recursion limit exceeded: 250"),
                "{len} bytes: {e}"
            ),
        }
    }
}

/// Hostile rules, on a thread with a tokio worker's stack (2 MiB): each is refused with
/// kube's message (or, if accepted, evaluates to an error); nothing panics out of the
/// compiler and no stack overflows.
#[test]
fn hostile_rules_are_refused_cleanly() {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let fill = |unit: &str, head: &str, tail: &str| {
                let n = (cel::MAX_RULE_BYTES - head.len() - tail.len()) / unit.len();
                format!("{head}{}{tail}", unit.repeat(n))
            };
            let too_deep = "expression recursion limit exceeded: 250";
            let cases: Vec<(String, &str)> = vec![
                // Rules of the most bytes allowed, thousands of levels deep.
                (fill(" + 1", "self.a", " > 0"), too_deep),
                (fill(".a", "self", " == 1"), too_deep),
                (fill("[0]", "self.l", " == 1"), too_deep),
                (fill(".lowerAscii()", "'a'", " == 'a'"), too_deep),
                (fill("true ? false : ", "", "true"), too_deep),
                // The parser folds repeated unary operators: shallow, accepted (and
                // evaluated).
                (fill("!!", "", "true"), "accepted"),
                (fill("--", "", "1 > 0"), "accepted"),
                // The parser balances chains of `&&` and `||`: shallow, accepted.
                (fill("self.a == 1 || ", "", "true"), "accepted"),
                (
                    format!("{}true{}", "self.l.all(x, ".repeat(240), ")".repeat(240)),
                    too_deep,
                ),
                // Over the limits of size and brackets.
                (
                    "1 == 1 && ".repeat(2000) + "true",
                    "expression size exceeds limit of 16384 bytes",
                ),
                (format!("{}1{} == 1", "[".repeat(300), "]".repeat(300)), too_deep),
                (format!("{}true{}", "(".repeat(5000), ")".repeat(5000)), too_deep),
                // Malformed input: the parser's errors or its panics become errors.
                ("self.a >".into(), "unsupported expression"),
                ("'unterminated".into(), "unsupported expression"),
                ("self..a".into(), "Syntax error"),
                ("\u{0}\u{1}".into(), "unsupported expression"),
                ("self.a > 0 && Foo{a: 1} == self".into(), "message construction"),
                ("ß.ü > ∞".into(), "ERROR: <input>:1:"),
            ];
            cases
                .into_iter()
                .map(|(rule, expected)| {
                    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
                        "properties": {"a": {"type": "integer"}, "l": {"type": "array", "items": {"type": "integer"}}},
                        "x-kubernetes-validations": [{"rule": rule}]}}});
                    let got = match Structural::compile(&schema) {
                        Ok(s) => {
                            let errors = s.validate(&json!({"spec": {"a": 0, "l": [1]}}));
                            format!("accepted, {} errors", errors.len())
                        }
                        Err(e) => e.to_string(),
                    };
                    (rule.chars().take(40).collect::<String>(), expected, got)
                })
                .collect::<Vec<_>>()
        })
        .expect("thread");
    let wrong: Vec<String> = handle
        .join()
        .expect("no panic, no stack overflow")
        .into_iter()
        .filter(|(_, expected, got)| match *expected {
            "accepted" => !got.starts_with("accepted"),
            _ => !(got.contains("compilation failed: ERROR: <input>:") && got.contains(expected)),
        })
        .map(|(rule, expected, got)| format!("{rule}…: expected {expected:?}, got {got}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}
