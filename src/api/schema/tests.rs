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

/// A root schema with `spec` of the given properties.
fn spec_schema(props: Value) -> Structural {
    compile(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": props}}
    }))
}

fn errors(s: &Structural, object: Value) -> Vec<String> {
    s.validate(&object)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn spec_errors(props: Value, spec: Value) -> Vec<String> {
    errors(&spec_schema(props), json!({"spec": spec}))
}

// ----------------------------------------------------------------------------------------
// Validation messages, one per keyword.

#[test]
fn keyword_messages() {
    let cases: Vec<(Value, Value, Vec<&str>)> = vec![
        (
            json!({"x": {"type": "integer"}}),
            json!({"x": "s"}),
            vec![
                r#"spec.x: Invalid value: "string": spec.x in body must be of type integer: "string""#,
            ],
        ),
        (json!({"x": {"type": "integer"}}), json!({"x": 1.0}), vec![]),
        (
            json!({"x": {"type": "integer"}}),
            json!({"x": 1.5}),
            vec![
                r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#,
                r#"<nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.x"#,
            ],
        ),
        (json!({"x": {"type": "number"}}), json!({"x": 3}), vec![]),
        (
            json!({"x": {"type": "string"}}),
            json!({"x": true}),
            vec![
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type string: "boolean""#,
            ],
        ),
        (
            json!({"x": {"type": "object"}}),
            json!({"x": []}),
            vec![
                r#"spec.x: Invalid value: "array": spec.x in body must be of type object: "array""#,
            ],
        ),
        (
            json!({"x": {"type": "string", "nullable": true}}),
            json!({"x": null}),
            vec![],
        ),
        (
            json!({"x": {"type": "string"}}),
            json!({"x": null}),
            vec![r#"spec.x: Invalid value: "null": spec.x in body must be of type string: "null""#],
        ),
        (
            json!({"x": {"type": "string", "enum": ["NoSelect", "PreferNoSelect"]}}),
            json!({"x": "Foo"}),
            vec![
                r#"spec.x: Unsupported value: "Foo": supported values: "NoSelect", "PreferNoSelect""#,
            ],
        ),
        (
            json!({"x": {"type": "integer", "enum": [1, 2]}}),
            json!({"x": 3}),
            vec![r#"spec.x: Unsupported value: 3: supported values: "1", "2""#],
        ),
        (
            json!({"x": {"type": "integer", "enum": [1, 2]}}),
            json!({"x": 2.0}),
            vec![],
        ),
        (
            json!({"x": {"type": "string", "pattern": "^[a-z]+$"}}),
            json!({"x": "abc1"}),
            vec![r#"spec.x: Invalid value: "abc1": spec.x in body should match '^[a-z]+$'"#],
        ),
        (
            json!({"x": {"type": "string", "maxLength": 5}}),
            json!({"x": "abcdef"}),
            vec!["spec.x: Too long: may not be more than 5 bytes"],
        ),
        (
            json!({"x": {"type": "string", "maxLength": 1}}),
            json!({"x": "ab"}),
            vec!["spec.x: Too long: may not be more than 1 byte"],
        ),
        (
            json!({"x": {"type": "string", "maxLength": 2}}),
            json!({"x": "éé"}),
            vec![],
        ),
        (
            json!({"x": {"type": "string", "minLength": 3}}),
            json!({"x": "ab"}),
            vec![r#"spec.x: Invalid value: "ab": spec.x in body should be at least 3 chars long"#],
        ),
        (
            json!({"x": {"type": "integer", "maximum": 5}}),
            json!({"x": 6}),
            vec!["spec.x: Invalid value: 6: spec.x in body should be less than or equal to 5"],
        ),
        (
            json!({"x": {"type": "integer", "maximum": 5, "exclusiveMaximum": true}}),
            json!({"x": 5}),
            vec!["spec.x: Invalid value: 5: spec.x in body should be less than 5"],
        ),
        (
            json!({"x": {"type": "number", "minimum": 0.5}}),
            json!({"x": 0.25}),
            vec![
                "spec.x: Invalid value: 0.25: spec.x in body should be greater than or equal to 0.5",
            ],
        ),
        (
            json!({"x": {"type": "integer", "minimum": 1, "exclusiveMinimum": true}}),
            json!({"x": 1}),
            vec!["spec.x: Invalid value: 1: spec.x in body should be greater than 1"],
        ),
        (
            json!({"x": {"type": "integer", "multipleOf": 2}}),
            json!({"x": 7}),
            vec!["spec.x: Invalid value: 7: spec.x in body should be a multiple of 2"],
        ),
        (
            json!({"x": {"type": "number", "multipleOf": 0.5}}),
            json!({"x": 0.75}),
            vec!["spec.x: Invalid value: 0.75: spec.x in body should be a multiple of 0.5"],
        ),
        (
            json!({"x": {"type": "integer", "format": "int32"}}),
            json!({"x": 3_000_000_000_i64}),
            vec![
                r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.x"#,
            ],
        ),
        (
            json!({"x": {"type": "integer", "format": "int64"}}),
            json!({"x": 3_000_000_000_i64}),
            vec![],
        ),
        (
            json!({"x": {"type": "array", "items": {"type": "string"}, "maxItems": 8}}),
            json!({"x": vec!["a"; 9]}),
            vec!["spec.x: Too many: 9: must have at most 8 items"],
        ),
        (
            json!({"x": {"type": "array", "items": {"type": "string"}, "minItems": 2}}),
            json!({"x": ["a"]}),
            vec!["spec.x: Invalid value: 1: spec.x in body should have at least 2 items"],
        ),
        (
            json!({"x": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1}}),
            json!({"x": {"a": "1", "b": "2"}}),
            vec!["spec.x: Too many: 2: must have at most 1 item"],
        ),
        (
            json!({"x": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1}}),
            json!({"x": {}}),
            vec!["spec.x: Invalid value: 0: spec.x in body should have at least 1 properties"],
        ),
        (
            json!({"x": {"type": "object", "additionalProperties": {"type": "string"}}}),
            json!({"x": {"k": 1}}),
            vec![
                r#"spec.x.k: Invalid value: "integer": spec.x.k in body must be of type string: "integer""#,
            ],
        ),
        (
            json!({"x": {"type": "object", "additionalProperties": false}}),
            json!({"x": {"k": 1}}),
            vec![r#"spec.x: Invalid value: "k": spec.x.k in body is a forbidden property"#],
        ),
        (
            json!({"x": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}}),
            json!({"x": {}}),
            vec!["spec.x.a: Required value"],
        ),
        (
            json!({"x": {"type": "array", "items": {"type": "object", "properties": {"effect": {"type": "string", "enum": ["A"]}}}}}),
            json!({"x": [{"effect": "A"}, {"effect": "B"}]}),
            vec![r#"spec.x[1].effect: Unsupported value: "B": supported values: "A""#],
        ),
    ];
    for (props, spec, want) in cases {
        let got = spec_errors(props.clone(), spec.clone());
        assert_eq!(got, want, "schema {props} object {spec}");
    }
}

#[test]
fn formats() {
    let cases = [
        ("date-time", "2024-01-01T00:00:00Z", true),
        ("date-time", "yesterday", false),
        ("byte", "aGk=", true),
        ("byte", "%%%", false),
        ("int-or-string-is-unknown", "anything", true),
    ];
    for (format, value, ok) in cases {
        let got = spec_errors(
            json!({"x": {"type": "string", "format": format}}),
            json!({"x": value}),
        );
        if ok {
            assert!(got.is_empty(), "{format} {value}: {got:?}");
        } else {
            assert_eq!(
                got,
                vec![format!(
                    r#"spec.x: Invalid value: "{value}": spec.x in body must be of type {format}: "{value}""#
                )]
            );
        }
    }
    let reasons: Vec<&str> = spec_schema(json!({"x": {"type": "string", "format": "date-time"}}))
        .validate(&json!({"spec": {"x": "no"}}))
        .iter()
        .map(FieldError::reason)
        .collect();
    assert_eq!(reasons, ["FieldValueTypeInvalid"]);
}

#[test]
fn reasons() {
    let s = spec_schema(json!({
        "a": {"type": "string", "enum": ["x"]},
        "b": {"type": "string", "maxLength": 1},
        "c": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
        "d": {"type": "integer"},
        "e": {"type": "string", "pattern": "^x$"},
        "f": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "g": {"type": "object", "required": ["r"], "properties": {"r": {"type": "string"}}},
    }));
    let errs = s.validate(&json!({"spec": {
        "a": "y", "b": "yy", "c": ["1", "2"], "d": "s", "e": "y", "f": ["a", "a"], "g": {}
    }}));
    let got: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.reason()))
        .collect();
    assert_eq!(
        got,
        [
            ("spec.a", "FieldValueNotSupported"),
            ("spec.b", "FieldValueTooLong"),
            ("spec.c", "FieldValueTooMany"),
            ("spec.d", "FieldValueTypeInvalid"),
            ("spec.e", "FieldValueInvalid"),
            ("spec.g.r", "FieldValueRequired"),
            ("spec.f[1]", "FieldValueDuplicate"),
        ]
    );
}

#[test]
fn int_or_string() {
    let props = json!({"port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}});
    assert!(spec_errors(props.clone(), json!({"port": 80})).is_empty());
    assert!(spec_errors(props.clone(), json!({"port": "http"})).is_empty());
    assert_eq!(
        spec_errors(props, json!({"port": true})),
        vec![
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            r#"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#,
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer: "boolean""#,
        ]
    );
    let plain = json!({"port": {"x-kubernetes-int-or-string": true}});
    assert!(spec_errors(plain.clone(), json!({"port": 1})).is_empty());
    assert_eq!(
        spec_errors(plain, json!({"port": 1.5})),
        vec![
            r#"spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number""#,
        ]
    );
}

#[test]
fn composition() {
    let props = json!({"x": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "b$"}]}});
    assert!(spec_errors(props.clone(), json!({"x": "ac"})).is_empty());
    assert_eq!(
        spec_errors(props.clone(), json!({"x": "ab"})),
        vec![
            r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
        ]
    );
    assert_eq!(
        spec_errors(props, json!({"x": "cc"})),
        vec![
            r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found none valid"#,
            r#"spec.x: Invalid value: "cc": spec.x in body should match '^a'"#,
        ]
    );
    let props = json!({"x": {"type": "string", "allOf": [{"maxLength": 2}, {"pattern": "^a"}]}});
    assert_eq!(
        spec_errors(props, json!({"x": "bbb"})),
        vec![
            "spec.x: Too long: may not be more than 2 bytes",
            r#"spec.x: Invalid value: "bbb": spec.x in body should match '^a'"#,
            r#"<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf). None validated"#,
        ]
    );
    let props = json!({"x": {"type": "string", "not": {"enum": ["bad"]}}});
    assert_eq!(
        spec_errors(props, json!({"x": "bad"})),
        vec![r#"<nil>: Invalid value: "": "spec.x" must not validate the schema (not)"#,]
    );
    let props = json!({"x": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}});
    assert!(spec_errors(props.clone(), json!({"x": {"b": "1"}})).is_empty());
    assert_eq!(
        spec_errors(props, json!({"x": {}})),
        vec![
            r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
            "spec.x.a: Required value",
        ]
    );
}

#[test]
fn list_types() {
    let set = json!({"x": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}});
    assert_eq!(
        spec_errors(set.clone(), json!({"x": ["a", "b", "a", "a", "b"]})),
        vec![
            r#"spec.x[2]: Duplicate value: "a""#,
            r#"spec.x[4]: Duplicate value: "b""#,
        ]
    );
    let ints = json!({"x": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}}});
    assert!(spec_errors(ints.clone(), json!({"x": [1, 1.5]})).is_empty());
    assert_eq!(
        spec_errors(ints, json!({"x": [1, 1]})),
        vec!["spec.x[1]: Duplicate value: 1"]
    );
    let map = json!({"x": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}});
    assert_eq!(
        spec_errors(
            map.clone(),
            json!({"x": [{"name": "a", "v": 1}, {"name": "a", "v": 2}]})
        ),
        vec![r#"spec.x[1]: Duplicate value: {"name":"a"}"#,]
    );
    assert!(spec_errors(map, json!({"x": [{"name": "a"}, {"name": "b"}]})).is_empty());
    let two = json!({"x": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "p"],
        "items": {"type": "object", "required": ["k", "p"], "properties": {"k": {"type": "string"}, "p": {"type": "integer"}}}}});
    assert_eq!(
        spec_errors(
            two,
            json!({"x": [{"k": "a", "p": 1}, {"k": "a", "p": 2}, {"k": "a", "p": 1}]})
        ),
        vec![r#"spec.x[2]: Duplicate value: {"k":"a","p":1}"#,]
    );
    // Nested in a map: field.Path keys use brackets.
    let nested = json!({"m": {"type": "object", "additionalProperties":
        {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}});
    assert_eq!(
        spec_errors(nested, json!({"m": {"k": ["a", "a"]}})),
        vec![r#"spec.m[k][1]: Duplicate value: "a""#]
    );
}

// ----------------------------------------------------------------------------------------
// Pruning.

#[test]
fn pruning_paths_and_islands() {
    let s = compile(json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "known": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                         "properties": {"typed": {"type": "object", "properties": {"z": {"type": "string"}}}}},
                "anyMap": {"type": "object", "additionalProperties": true},
            }},
            "status": {"type": "object", "properties": {}}
        }
    }));
    let mut obj = json!({
        "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "bogus": 1},
        "spec": {
            "known": "k", "foo": 1,
            "items": [{"a": "x", "bar": 2}, {"baz": 3}],
            "labels": {"one": {"v": "1", "w": "2"}},
            "free": {"anything": {"deep": true}, "typed": {"z": "1", "drop": 1}},
            "anyMap": {"s": "kept", "o": {"gone": 1}},
            "kind": "nested meta fields are pruned",
        },
        "status": {"x": 1},
        "extra": true
    });
    let pruned = s.prune(&mut obj);
    assert_eq!(
        pruned,
        [
            "extra",
            "spec.anyMap.o.gone",
            "spec.foo",
            "spec.free.typed.drop",
            "spec.items[0].bar",
            "spec.items[1].baz",
            "spec.kind",
            "spec.labels.one.w",
            "status.x",
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "bogus": 1},
            "spec": {
                "known": "k",
                "items": [{"a": "x"}, {}],
                "labels": {"one": {"v": "1"}},
                "free": {"anything": {"deep": true}, "typed": {"z": "1"}},
                "anyMap": {"s": "kept", "o": {}},
            },
            "status": {}
        })
    );
}

#[test]
fn pruning_embedded_resources() {
    let s = compile(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "raw": {"type": "array", "items": {"type": "object", "x-kubernetes-embedded-resource": true,
                                                "x-kubernetes-preserve-unknown-fields": true}},
            "byName": {"type": "object", "additionalProperties": {"type": "object",
                        "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}},
        }}}
    }));
    let mut obj = json!({"spec": {
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1, "labels": {"a": "b"}},
                     "spec": {"a": "1", "b": 2}, "other": 3},
        "raw": [{"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                 "metadata": {"ownerReferences": [{"name": "o", "what": 1}], "creationTimestamp": null}}],
        "byName": {"x": {"apiVersion": "v1", "kind": "Secret", "metadata": {"nope": true}}},
    }});
    let pruned = s.prune(&mut obj);
    assert_eq!(
        pruned,
        [
            "spec.template.other",
            "spec.template.spec.b",
            "spec.byName[x].metadata.nope",
            "spec.raw[0].metadata.ownerReferences[0].what",
            "spec.template.metadata.junk",
        ]
    );
    assert_eq!(
        obj["spec"]["template"],
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"a": "1"}})
    );
    assert_eq!(
        obj["spec"]["raw"][0],
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
        "metadata": {"ownerReferences": [{"name": "o"}]}})
    );
    assert!(s.validate(&obj).is_empty());

    let errs = errors(
        &s,
        json!({"spec": {
            "template": {"metadata": {"name": "a/b"}},
            "raw": [{"apiVersion": "a/b/c", "kind": "bad_kind"}, {"apiVersion": 1, "kind": ""}],
        }}),
    );
    assert_eq!(
        errs,
        [
            "spec.raw[0].apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c",
            "spec.raw[0].kind: Invalid value: \"bad_kind\": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            "spec.raw[1].apiVersion: Invalid value: 1: must be a string",
            "spec.raw[1].kind: Invalid value: \"\": must not be empty",
            "spec.template.apiVersion: Required value",
            "spec.template.kind: Required value",
            "spec.template.metadata.name: Invalid value: \"a/b\": may not contain '/'",
        ]
    );
}

#[test]
fn pruning_drops_non_nullable_nulls() {
    let s = spec_schema(json!({
        "a": {"type": "string"},
        "b": {"type": "string", "nullable": true},
        "c": {"type": "string", "default": "d"},
        "m": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    }));
    let mut obj =
        json!({"spec": {"a": null, "b": null, "c": null, "m": {"k": null}, "free": {"u": null}}});
    assert!(s.prune(&mut obj).is_empty());
    assert_eq!(
        obj,
        json!({"spec": {"b": null, "c": null, "m": {}, "free": {"u": null}}})
    );
    s.default(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"b": null, "c": "d", "m": {}, "free": {"u": null}}})
    );
}

// ----------------------------------------------------------------------------------------
// Defaulting.

#[test]
fn defaulting() {
    let s = compile(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "default": {}, "properties": {
            "replicas": {"type": "integer", "default": 1},
            "nested": {"type": "object", "default": {"inner": {}}, "properties": {
                "inner": {"type": "object", "properties": {"deep": {"type": "string", "default": "x"}}}
            }},
            "list": {"type": "array", "items": {"type": "object", "properties": {
                "p": {"type": "integer", "default": 80}}}},
            "scalars": {"type": "array", "items": {"type": "string", "default": "z"}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "on": {"type": "boolean", "default": true}}}},
            "nullableWithDefault": {"type": "string", "nullable": true, "default": "n"},
        }}}
    }));
    let mut obj = json!({"metadata": {"name": "x"}});
    s.default(&mut obj);
    assert_eq!(
        obj,
        json!({"metadata": {"name": "x"}, "spec": {
        "replicas": 1, "nested": {"inner": {"deep": "x"}}, "nullableWithDefault": "n"}})
    );

    let mut obj = json!({"spec": {"replicas": 3, "list": [{}, {"p": 1}], "scalars": [null, "a"],
        "map": {"a": {}, "b": {"on": false}}, "nullableWithDefault": null}});
    s.default(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"replicas": 3, "list": [{"p": 80}, {"p": 1}], "scalars": ["z", "a"],
        "map": {"a": {"on": true}, "b": {"on": false}}, "nullableWithDefault": null,
        "nested": {"inner": {"deep": "x"}}}})
    );
}

// ----------------------------------------------------------------------------------------
// admit and fieldValidation.

fn managed_cluster_schema() -> Structural {
    compile(json!({
        "type": "object",
        "description": "ManagedCluster represents the desired state and current status of a managed cluster.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "hubAcceptsClient": {"type": "boolean"},
                    "leaseDurationSeconds": {"type": "integer", "format": "int32", "default": 60},
                    "managedClusterClientConfigs": {"type": "array", "items": {
                        "type": "object", "required": ["url"],
                        "properties": {
                            "caBundle": {"type": "string", "format": "byte"},
                            "url": {"type": "string", "pattern": "^https?://"}
                        }}},
                    "taints": {"type": "array", "items": {
                        "type": "object", "required": ["effect", "key"],
                        "properties": {
                            "effect": {"type": "string", "enum": ["NoSelect", "PreferNoSelect", "NoSelectIfNew"]},
                            "key": {"type": "string", "maxLength": 316,
                                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"},
                            "timeAdded": {"type": "string", "format": "date-time", "nullable": true},
                            "value": {"type": "string", "maxLength": 1024}
                        }}}
                }
            },
            "status": {"type": "object", "properties": {
                "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                    "items": {"type": "object", "required": ["type", "status"], "properties": {
                        "type": {"type": "string", "maxLength": 316},
                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]}}}}
            }}
        }
    }))
}

#[test]
fn managed_cluster_like_crd() {
    let s = managed_cluster_schema();
    let good = json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": "c1"},
        "spec": {"hubAcceptsClient": true,
                 "managedClusterClientConfigs": [{"url": "https://c1:6443", "caBundle": "aGk="}],
                 "taints": [{"key": "cluster.open-cluster-management.io/unreachable", "effect": "NoSelect",
                             "timeAdded": null}]}});
    let mut obj = good.clone();
    let admitted = s.admit(&mut obj, FieldValidation::Strict);
    assert_eq!(admitted, Ok(Admitted::default()));
    assert_eq!(obj["spec"]["leaseDurationSeconds"], json!(60));

    let mut bad = good.clone();
    bad["spec"]["taints"][0]["effect"] = json!("Foo");
    bad["spec"]["managedClusterClientConfigs"][0]["url"] = json!("ftp://x");
    bad["spec"]["leaseDurationSeconds"] = json!("sixty");
    bad["status"] =
        json!({"conditions": [{"type": "A", "status": "True"}, {"type": "A", "status": "Maybe"}]});
    match s.admit(&mut bad, FieldValidation::Strict) {
        Err(Rejection::Invalid(errs)) => {
            let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
            assert_eq!(
                got,
                [
                    r#"spec.leaseDurationSeconds: Invalid value: "string": spec.leaseDurationSeconds in body must be of type integer: "string""#,
                    r#"spec.managedClusterClientConfigs[0].url: Invalid value: "ftp://x": spec.managedClusterClientConfigs[0].url in body should match '^https?://'"#,
                    r#"spec.taints[0].effect: Unsupported value: "Foo": supported values: "NoSelect", "PreferNoSelect", "NoSelectIfNew""#,
                    r#"status.conditions[1].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown""#,
                    r#"status.conditions[1]: Duplicate value: {"type":"A"}"#,
                ]
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    // Unknown fields under each policy.
    let mut with_unknown = good.clone();
    with_unknown["spec"]["foo"] = json!(1);
    with_unknown["spec"]["taints"][0]["bar"] = json!(2);
    let mut o = with_unknown.clone();
    let warned = s.admit(&mut o, FieldValidation::Warn).unwrap_or_default();
    assert_eq!(
        warned.warnings,
        [
            r#"unknown field "spec.foo""#,
            r#"unknown field "spec.taints[0].bar""#
        ]
    );
    assert!(o["spec"].get("foo").is_none());
    let mut o = with_unknown.clone();
    let ignored = s.admit(&mut o, FieldValidation::Ignore).unwrap_or_default();
    assert!(ignored.warnings.is_empty());
    assert_eq!(ignored.unknown_fields.len(), 2);
    let mut o = with_unknown;
    let rejection = s.admit(&mut o, FieldValidation::Strict).err();
    assert_eq!(
        rejection.as_ref().map(ToString::to_string).as_deref(),
        Some(
            r#"strict decoding error: unknown field "spec.foo", unknown field "spec.taints[0].bar""#
        )
    );
    assert_eq!(
        rejection
            .map(|r| r.bad_request_message("ManagedCluster", "v1"))
            .as_deref(),
        Some(
            r#"ManagedCluster in version "v1" cannot be handled as a ManagedCluster: strict decoding error: unknown field "spec.foo", unknown field "spec.taints[0].bar""#
        )
    );
}

#[test]
fn field_validation_parameter() {
    assert_eq!(FieldValidation::parse(""), Ok(FieldValidation::Warn));
    assert_eq!(FieldValidation::parse("Warn"), Ok(FieldValidation::Warn));
    assert_eq!(
        FieldValidation::parse("Strict"),
        Ok(FieldValidation::Strict)
    );
    assert_eq!(
        FieldValidation::parse("Ignore"),
        Ok(FieldValidation::Ignore)
    );
    assert_eq!(FieldValidation::default(), FieldValidation::Warn);
    let err = FieldValidation::parse("strict")
        .err()
        .map(|e| (e.to_string(), e.reason()));
    assert_eq!(err, Some((
        r#"fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#.to_string(),
        "FieldValueNotSupported",
    )));
}

#[test]
fn root_metadata_name_is_validated_not_pruned() {
    let s = compile(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}}}));
    let mut obj = json!({"metadata": {"name": "toolong", "labels": {"a": "b"}}});
    assert!(s.prune(&mut obj).is_empty());
    assert_eq!(obj["metadata"]["labels"], json!({"a": "b"}));
    assert_eq!(
        errors(&s, obj),
        ["metadata.name: Too long: may not be more than 5 bytes"]
    );
}

// ----------------------------------------------------------------------------------------
// Compilation.

#[test]
fn rejects_non_structural_schemas() {
    let cases = [
        (
            json!({"type": "object", "properties": {"spec": {"properties": {}}}}),
            "openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array"}}}),
            "openAPIV3Schema.properties[a].items: Required value: must be specified",
        ),
        (
            json!({"type": "array", "items": {"type": "string"}}),
            r#"openAPIV3Schema.type: Invalid value: "array": must be object at the root"#,
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            "openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}}),
            "openAPIV3Schema.properties[a].anyOf[0].type: Forbidden: must be empty to be structural",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "allOf": [{"properties": {"b": {"maxLength": 1}}}]}}}),
            "openAPIV3Schema.properties[a].properties[b]: Required value: because it is defined in openAPIV3Schema.properties[a].allOf[0].properties[b]",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}}),
            "openAPIV3Schema.properties[a].pattern: Invalid value: \"(unclosed\": must be a valid regular expression",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "foo"}}}),
            r#"openAPIV3Schema.properties[a].type: Unsupported value: "foo": supported values: "array", "boolean", "integer", "number", "object", "string""#,
        ),
        (
            json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}}),
            "openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}}}),
            "openAPIV3Schema.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "x-kubernetes-embedded-resource": true}}}),
            "openAPIV3Schema.properties[a].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ),
        (
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            "openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
        ),
        (
            json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map",
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}}),
            "openAPIV3Schema.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map",
        ),
        (
            json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}}),
            "openAPIV3Schema.properties[l].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}}),
            r#"openAPIV3Schema.properties[a].default: Invalid value: "string":  in body must be of type integer: "string""#,
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "default": {"c": 1}}}}),
            r#"openAPIV3Schema.properties[a].default: Invalid value: {"c":1}: must not have unknown fields"#,
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-preserve-unknown-fields": false}}}),
            "openAPIV3Schema.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined",
        ),
    ];
    for (schema, want) in cases {
        let got = compile_err(schema.clone());
        assert!(
            got.contains(want),
            "schema {schema}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn bounded_depth() {
    let mut schema = json!({"type": "string"});
    for _ in 0..100 {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    assert!(matches!(
        Structural::compile(&schema),
        Err(SchemaError::TooDeep { .. })
    ));

    // Deep data under a schema-less map does not overflow.
    let s = spec_schema(json!({"m": {"type": "object", "additionalProperties": true}}));
    let mut deep = json!(1);
    for _ in 0..1_000 {
        deep = json!([deep]);
    }
    let mut obj = json!({"spec": {"m": {"k": deep}}});
    assert!(s.prune(&mut obj).is_empty());
    let _ = s.validate(&obj);
    s.default(&mut obj);
}

#[test]
fn never_panics_on_odd_inputs() {
    let schemas = [
        json!(null),
        json!(1),
        json!([]),
        json!({"type": 5}),
        json!({"properties": []}),
        json!({"type": "object", "properties": {"a": {"type": "integer", "maximum": "x", "enum": 3}}}),
    ];
    for schema in schemas {
        assert!(Structural::compile(&schema).is_err(), "{schema}");
    }
    let s = managed_cluster_schema();
    for obj in [
        json!(null),
        json!("x"),
        json!([1, 2]),
        json!({"spec": "x"}),
        json!({"spec": {"taints": {}}}),
    ] {
        let mut o = obj.clone();
        let _ = s.admit(&mut o, FieldValidation::Strict);
        let _ = s.validate(&obj);
    }
}

#[test]
fn cel_rules_are_kept() {
    let s = spec_schema(json!({"a": {"type": "string",
        "x-kubernetes-validations": [{"rule": "self.size() > 1"}]}}));
    assert!(s.has_cel_rules());
    assert!(!managed_cluster_schema().has_cel_rules());
}

#[test]
fn table() {
    // (schema properties of spec, object spec, expected errors, expected pruned paths)
    type Case = (Value, Value, Vec<&'static str>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            json!({"a": {"type": "string"}}),
            json!({"a": "x", "b": 1}),
            vec![],
            vec!["spec.b"],
        ),
        (
            json!({"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}),
            json!({"a": {"x": {"y": 1}}}),
            vec![],
            vec![],
        ),
        (
            json!({"a": {"type": "array", "items": {"type": "integer", "minimum": 0}}}),
            json!({"a": [1, -1, "x"]}),
            vec![
                "spec.a[1]: Invalid value: -1: spec.a[1] in body should be greater than or equal to 0",
                r#"spec.a[2]: Invalid value: "string": spec.a[2] in body must be of type integer: "string""#,
            ],
            vec![],
        ),
        (
            json!({"a": {"type": "object", "additionalProperties": {"type": "integer", "maximum": 3}}}),
            json!({"a": {"k": 4}}),
            vec!["spec.a.k: Invalid value: 4: spec.a.k in body should be less than or equal to 3"],
            vec![],
        ),
        (
            json!({"a": {"type": "string", "format": "k8s-short-name"}}),
            json!({"a": "Bad"}),
            vec![
                r#"spec.a: Invalid value: "Bad": spec.a in body must be of type k8s-short-name: "Bad""#,
            ],
            vec![],
        ),
        (
            json!({"a": {"type": "boolean", "format": "whatever"}}),
            json!({"a": true}),
            vec![],
            vec![],
        ),
        (
            json!({"a": {"type": "string", "pattern": "^\\d+$"}}),
            json!({"a": "١٢"}),
            vec![r#"spec.a: Invalid value: "١٢": spec.a in body should match '^\d+$'"#],
            vec![],
        ),
    ];
    for (props, spec, want_errors, want_pruned) in cases {
        let s = spec_schema(props.clone());
        let mut obj = json!({"spec": spec});
        let pruned = s.prune(&mut obj);
        assert_eq!(pruned, want_pruned, "{props}");
        assert_eq!(errors(&s, obj), want_errors, "{props}");
    }
}

#[test]
fn update_ratcheting() {
    let s = spec_schema(json!({
        "name": {"type": "string", "maxLength": 3},
        "other": {"type": "string", "maxLength": 3},
        "list": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                 "items": {"type": "object", "required": ["k"], "properties": {
                     "k": {"type": "string"}, "v": {"type": "integer", "maximum": 1}}}},
        "plain": {"type": "array", "items": {"type": "integer", "maximum": 1}},
    }));
    let old = json!({"spec": {"name": "toolong", "list": [{"k": "a", "v": 5}], "plain": [5]}});
    // Unchanged invalid values pass; a create of the same object does not.
    assert!(s.validate_update(&old, &old).is_empty());
    assert_eq!(s.validate(&old).len(), 3);
    // Changed fields are validated; list-map items correlate by key, other items do not.
    let new = json!({"spec": {"name": "toolong", "other": "toolong",
                              "list": [{"k": "b", "v": 1}, {"k": "a", "v": 5}], "plain": [5, 0]}});
    let got: Vec<String> = s
        .validate_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "spec.other: Too long: may not be more than 3 bytes",
            "spec.plain[0]: Invalid value: 5: spec.plain[0] in body should be less than or equal to 1",
        ]
    );
    let mut obj = new.clone();
    assert!(
        matches!(s.admit_update(&mut obj, &old, FieldValidation::Strict), Err(Rejection::Invalid(e)) if e.len() == 2)
    );
}

#[test]
fn odd_values_in_messages() {
    // null on a nullable enum field: kube prints the Go nil as JSON.
    let props = json!({"x": {"type": "string", "nullable": true, "enum": ["a"]}});
    assert_eq!(
        spec_errors(props, json!({"x": null})),
        [r#"spec.x: Unsupported value: null: supported values: "a""#]
    );
    // POSIX classes and Go's ASCII-only \w.
    let props = json!({"x": {"type": "string", "pattern": "^[[:alpha:]]\\w*$"}});
    assert!(spec_errors(props.clone(), json!({"x": "a_1"})).is_empty());
    assert_eq!(spec_errors(props, json!({"x": "aé"})).len(), 1);
    // Object values are printed as Go JSON.
    let props = json!({"x": {"type": "object", "properties": {"a": {"type": "string"}}, "enum": [{"a": "b"}]}});
    assert_eq!(
        spec_errors(props, json!({"x": {"a": "<"}})),
        [r#"spec.x: Unsupported value: {"a":"\u003c"}: supported values: "{\"a\":\"b\"}""#,]
    );
}
