use serde_json::{Value, json};

use super::*;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:00:01Z";
const T2: &str = "2026-01-01T00:00:02Z";

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "paused": {"type": "boolean"},
                    "containers": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "image": {"type": "string"},
                                "ports": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "containerPort": {"type": "integer"},
                                            "protocol": {"type": "string", "default": "TCP"}
                                        }
                                    }
                                }
                            }
                        }
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "selector": {
                        "type": "object",
                        "x-kubernetes-map-type": "atomic",
                        "properties": {"a": {"type": "string"}, "b": {"type": "string"}}
                    },
                    "env": {
                        "type": "array",
                        "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-patch-merge-key": "name",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}
                    },
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {
                "type": "object",
                "properties": {"ready": {"type": "integer"}, "phase": {"type": "string"}}
            }
        }
    })
}

fn ty(schema: &Value) -> TypeInfo<'_> {
    TypeInfo {
        api_version: "example.io/v1",
        kind: "Widget",
        schema,
        status_subresource: true,
    }
}

fn mgr(name: &str) -> Manager<'_> {
    Manager {
        name,
        subresource: "",
    }
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "ns"}, "spec": spec})
}

/// An applied configuration owning nothing but identity.
fn bare() -> Value {
    json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}})
}

fn entries(object: &Value) -> Vec<Value> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(object: &'a Value, manager: &str) -> Option<&'a Value> {
    object
        .pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

fn fields(object: &Value, manager: &str) -> Value {
    entry(object, manager)
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

/// Stores the object as the registry would: give it a uid.
fn stored(mut object: Value) -> Value {
    object["metadata"]["uid"] = json!("u-1");
    object["metadata"]["resourceVersion"] = json!("1");
    object
}

// --- FieldsV1 --------------------------------------------------------------

#[test]
fn fields_v1_round_trip_and_kube_byte_order() {
    let text = r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:list":{"k:{\"name\":\"a\"}":{".":{},"f:image":{}}},"f:set":{"v:\"x\"":{},"v:3":{}}}}"#;
    let value: Value = serde_json::from_str(text).unwrap();
    let set = FieldSet::from_fields_v1(&value).unwrap();
    assert_eq!(set.to_fields_v1(), value);
    // kube orders numbers before strings inside a set, fields before keys.
    assert_eq!(
        set.to_json_string(),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:list":{"k:{\"name\":\"a\"}":{".":{},"f:image":{}}},"f:set":{"v:3":{},"v:\"x\"":{}}}}"#
    );
    let paths: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
    assert_eq!(
        paths,
        [
            ".metadata.labels.app",
            ".spec.list[name=\"a\"]",
            ".spec.list[name=\"a\"].image",
            ".spec.set[=3]",
            ".spec.set[=\"x\"]"
        ]
    );
}

#[test]
fn fields_v1_multi_key_and_escapes() {
    let mut set = FieldSet::new();
    set.insert(&[
        PathElement::Field("ports".into()),
        PathElement::Key(vec![
            ("containerPort".into(), json!(80)),
            ("protocol".into(), json!("TCP")),
        ]),
    ]);
    set.insert(&[
        PathElement::Field("tags".into()),
        PathElement::Value(json!("<a&b>")),
    ]);
    assert_eq!(
        set.to_json_string(),
        r#"{"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{}},"f:tags":{"v:\"\\u003ca\\u0026b\\u003e\"":{}}}"#
    );
    let back = FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap();
    assert_eq!(back, set);
    assert_eq!(
        path_string(&back.paths()[0]),
        ".ports[containerPort=80,protocol=\"TCP\"]"
    );
}

#[test]
fn fields_v1_rejects_garbage_and_skips_unknown_types() {
    assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    assert!(FieldSet::from_fields_v1(&json!({"x": {}})).is_err());
    assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
    assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
    let set = FieldSet::from_fields_v1(&json!({"z:what": {}, "f:a": {}})).unwrap();
    assert_eq!(set.paths().len(), 1);
    assert!(FieldSet::from_fields_v1(&json!({})).unwrap().is_empty());
}

// --- apply -------------------------------------------------------------------

#[test]
fn apply_creates_with_an_apply_entry() {
    let s = schema();
    let applied = json!({
        "apiVersion": "example.io/v1", "kind": "Widget",
        "metadata": {"name": "w", "labels": {"app": "x"}},
        "spec": {"replicas": 2, "containers": [{"name": "nginx", "image": "nginx:1"}], "tags": ["a"]}
    });
    let out = apply(None, &applied, &ty(&s), &mgr("kubectl"), false, T0).unwrap();
    assert_eq!(out["spec"]["replicas"], 2);
    let list = entries(&out);
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0],
        json!({
            "manager": "kubectl", "operation": "Apply", "apiVersion": "example.io/v1",
            "time": T0, "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:name": {}, "f:image": {}}},
                    "f:tags": {"v:\"a\"": {}}
                }
            }
        })
    );
}

#[test]
fn apply_requires_type_and_no_managed_fields() {
    let s = schema();
    let t = ty(&s);
    let e = apply(
        None,
        &json!({"kind": "Widget", "metadata": {"name": "w"}}),
        &t,
        &mgr("m"),
        false,
        T0,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid object type: /, Kind=Widget");
    let e = apply(
        None,
        &json!({"apiVersion": "example.io/v1", "metadata": {"name": "w"}}),
        &t,
        &mgr("m"),
        false,
        T0,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid object type: example.io/v1, Kind=");
    let e = apply(
        None,
        &json!({"apiVersion": "v1", "kind": "Widget"}),
        &t,
        &mgr("m"),
        false,
        T0,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid object type: /v1, Kind=Widget");
    let mut body = obj(json!({}));
    body["metadata"]["managedFields"] = json!([]);
    let e = apply(None, &body, &t, &mgr("m"), false, T0).unwrap_err();
    assert!(
        matches!(e, ApplyError::BadRequest(ref m) if m == "metadata.managedFields must be nil")
    );
}

#[test]
fn apply_again_by_the_same_manager_updates_and_removes_dropped_fields() {
    let s = schema();
    let t = ty(&s);
    let first = obj(
        json!({"replicas": 1, "paused": true, "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}),
    );
    let live = stored(apply(None, &first, &t, &mgr("m"), false, T0).unwrap());
    let second = obj(json!({"replicas": 3, "containers": [{"name": "a", "image": "a:2"}]}));
    let out = apply(Some(&live), &second, &t, &mgr("m"), false, T1).unwrap();
    assert_eq!(
        out["spec"],
        json!({"replicas": 3, "containers": [{"name": "a", "image": "a:2"}]})
    );
    assert_eq!(out["metadata"]["uid"], "u-1");
    assert_eq!(entries(&out).len(), 1);
    assert_eq!(entry(&out, "m").unwrap()["time"], T1);
    assert_eq!(
        fields(&out, "m"),
        json!({"f:spec": {"f:replicas": {}, "f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}, "f:image": {}}}}})
    );
}

#[test]
fn no_op_apply_keeps_the_time() {
    let s = schema();
    let t = ty(&s);
    let body = obj(json!({"replicas": 1}));
    let live = stored(apply(None, &body, &t, &mgr("m"), false, T0).unwrap());
    let out = apply(Some(&live), &body, &t, &mgr("m"), false, T2).unwrap();
    assert_eq!(entry(&out, "m").unwrap()["time"], T0);
    assert_eq!(out, live);
}

#[test]
fn removed_field_survives_when_another_manager_owns_it() {
    let s = schema();
    let t = ty(&s);
    let live = stored(
        apply(
            None,
            &obj(json!({"replicas": 2, "paused": true})),
            &t,
            &mgr("a"),
            false,
            T0,
        )
        .unwrap(),
    );
    // b applies the same replicas: shared ownership, no conflict.
    let live = apply(
        Some(&live),
        &obj(json!({"replicas": 2})),
        &t,
        &mgr("b"),
        false,
        T1,
    )
    .unwrap();
    assert_eq!(
        fields(&live, "a"),
        json!({"f:spec": {"f:replicas": {}, "f:paused": {}}})
    );
    assert_eq!(fields(&live, "b"), json!({"f:spec": {"f:replicas": {}}}));
    // a stops applying both: paused goes, replicas stays (b owns it).
    let out = apply(Some(&live), &bare(), &t, &mgr("a"), false, T2).unwrap();
    assert_eq!(out["spec"], json!({"replicas": 2}));
    assert!(entry(&out, "a").is_none());
    assert_eq!(fields(&out, "b"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn conflict_with_another_applier_and_force() {
    let s = schema();
    let t = ty(&s);
    let live = stored(apply(None, &obj(json!({"replicas": 2})), &t, &mgr("a"), false, T0).unwrap());
    let err = apply(
        Some(&live),
        &obj(json!({"replicas": 5})),
        &t,
        &mgr("b"),
        false,
        T1,
    )
    .unwrap_err();
    let ApplyError::Conflicts(ref list) = err else {
        panic!("{err:?}")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].path, ".spec.replicas");
    assert_eq!(list[0].cause_message(), "conflict with \"a\"");
    assert_eq!(
        err.conflict_message(),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
    );
    let out = apply(
        Some(&live),
        &obj(json!({"replicas": 5})),
        &t,
        &mgr("b"),
        true,
        T1,
    )
    .unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    assert!(entry(&out, "a").is_none());
    assert_eq!(fields(&out, "b"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn conflict_with_an_update_manager_names_its_version() {
    let s = schema();
    let t = ty(&s);
    let mut created = obj(json!({"replicas": 1, "paused": false}));
    track_update(None, &mut created, &t, &mgr("kube-controller-manager"), T0).unwrap();
    let live = stored(created);
    let err = apply(
        Some(&live),
        &obj(json!({"replicas": 3, "paused": true})),
        &t,
        &mgr("kubectl"),
        false,
        T1,
    )
    .unwrap_err();
    assert_eq!(
        err.conflict_message(),
        "Apply failed with 2 conflicts: conflicts with \"kube-controller-manager\" using example.io/v1:\n- .spec.paused\n- .spec.replicas"
    );
}

#[test]
fn multiple_managers_conflict_message_groups_sorted() {
    let conflicts = vec![
        Conflict {
            manager: "zeta".into(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: String::new(),
            path: ".spec.a".into(),
        },
        Conflict {
            manager: "alpha".into(),
            operation: Operation::Update,
            api_version: "v1".into(),
            subresource: "status".into(),
            path: ".status.b".into(),
        },
    ];
    assert_eq!(
        ApplyError::Conflicts(conflicts).conflict_message(),
        "Apply failed with 2 conflicts: conflicts with \"alpha\" with subresource \"status\" using v1:\n- .status.b\nconflicts with \"zeta\":\n- .spec.a"
    );
}

#[test]
fn associative_list_items_from_two_managers() {
    let s = schema();
    let t = ty(&s);
    let live = stored(
        apply(
            None,
            &obj(json!({"containers": [{"name": "a", "image": "a:1"}]})),
            &t,
            &mgr("one"),
            false,
            T0,
        )
        .unwrap(),
    );
    let live = apply(
        Some(&live),
        &obj(json!({"containers": [{"name": "b", "image": "b:1"}]})),
        &t,
        &mgr("two"),
        false,
        T1,
    )
    .unwrap();
    assert_eq!(
        live["spec"]["containers"],
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])
    );
    // Conflict on a's image.
    let err = apply(
        Some(&live),
        &obj(json!({"containers": [{"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}]})),
        &t,
        &mgr("two"),
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.conflict_message(),
        "Apply failed with 1 conflict: conflict with \"one\": .spec.containers[name=\"a\"].image"
    );
    // "one" drops its item: only b remains.
    let out = apply(Some(&live), &bare(), &t, &mgr("one"), false, T2).unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "b", "image": "b:1"}])
    );
}

#[test]
fn list_map_key_defaults_and_order() {
    let s = schema();
    let t = ty(&s);
    let body = obj(json!({"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}));
    let out = apply(None, &body, &t, &mgr("m"), false, T0).unwrap();
    assert_eq!(
        fields(&out, "m")["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"]["f:ports"],
        json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}})
    );
    // Applied order wins for shared items; live-only items keep their place.
    let live = stored(
        apply(
            None,
            &obj(json!({"containers": [{"name": "x"}, {"name": "y"}, {"name": "z"}]})),
            &t,
            &mgr("p"),
            false,
            T0,
        )
        .unwrap(),
    );
    let out = apply(
        Some(&live),
        &obj(json!({"containers": [{"name": "z"}, {"name": "new"}, {"name": "x"}]})),
        &t,
        &mgr("q"),
        false,
        T1,
    )
    .unwrap();
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["y", "z", "new", "x"]);
}

#[test]
fn duplicate_keys_in_applied_list_are_invalid() {
    let s = schema();
    let body = obj(json!({"containers": [{"name": "a"}, {"name": "a"}]}));
    let err = apply(None, &body, &ty(&s), &mgr("m"), false, T0).unwrap_err();
    assert_eq!(
        err.to_string(),
        ".spec.containers: duplicate entries for key [name=\"a\"]"
    );
    let body = obj(json!({"containers": [{"image": "a"}]}));
    let err = apply(None, &body, &ty(&s), &mgr("m"), false, T0).unwrap_err();
    assert!(
        err.to_string().contains("omits all key fields [\"name\"]"),
        "{err}"
    );
}

#[test]
fn set_lists_union_and_remove() {
    let s = schema();
    let t = ty(&s);
    let live = stored(
        apply(
            None,
            &obj(json!({"tags": ["a", "b"]})),
            &t,
            &mgr("one"),
            false,
            T0,
        )
        .unwrap(),
    );
    let live = apply(
        Some(&live),
        &obj(json!({"tags": ["c", "a"]})),
        &t,
        &mgr("two"),
        false,
        T1,
    )
    .unwrap();
    // Applied items in applied order, live-only items after the last shared one.
    assert_eq!(live["spec"]["tags"], json!(["c", "a", "b"]));
    let out = apply(
        Some(&live),
        &obj(json!({"tags": ["a"]})),
        &t,
        &mgr("one"),
        false,
        T2,
    )
    .unwrap();
    assert_eq!(out["spec"]["tags"], json!(["c", "a"]));
    assert_eq!(
        fields(&out, "one"),
        json!({"f:spec": {"f:tags": {"v:\"a\"": {}}}})
    );
}

#[test]
fn atomic_lists_and_maps_are_replaced_whole() {
    let s = schema();
    let t = ty(&s);
    let live = stored(
        apply(
            None,
            &obj(json!({"args": ["x", "y"], "selector": {"a": "1", "b": "2"}})),
            &t,
            &mgr("one"),
            false,
            T0,
        )
        .unwrap(),
    );
    assert_eq!(
        fields(&live, "one"),
        json!({"f:spec": {"f:args": {}, "f:selector": {}}})
    );
    let err = apply(
        Some(&live),
        &obj(json!({"args": ["z"]})),
        &t,
        &mgr("two"),
        false,
        T1,
    )
    .unwrap_err();
    assert_eq!(
        err.conflict_message(),
        "Apply failed with 1 conflict: conflict with \"one\": .spec.args"
    );
    let out = apply(
        Some(&live),
        &obj(json!({"args": ["z"], "selector": {"a": "9"}})),
        &t,
        &mgr("two"),
        true,
        T1,
    )
    .unwrap();
    assert_eq!(out["spec"]["args"], json!(["z"]));
    assert_eq!(out["spec"]["selector"], json!({"a": "9"}));
    assert!(entry(&out, "one").is_none());
}

#[test]
fn patch_merge_key_lists_and_unknown_fields() {
    let s = schema();
    let t = ty(&s);
    let live = stored(
        apply(None, &obj(json!({"env": [{"name": "A", "value": "1"}], "config": {"x": {"y": 1}, "l": [1, 2]}})), &t, &mgr("one"), false, T0)
            .unwrap(),
    );
    assert_eq!(
        fields(&live, "one"),
        json!({"f:spec": {
            "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
            "f:config": {"f:x": {".": {}, "f:y": {}}, "f:l": {}}
        }})
    );
    let out = apply(
        Some(&live),
        &obj(json!({"env": [{"name": "B", "value": "2"}], "config": {"x": {"z": 2}}})),
        &t,
        &mgr("two"),
        false,
        T1,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(
        out["spec"]["config"],
        json!({"x": {"y": 1, "z": 2}, "l": [1, 2]})
    );
}

#[test]
fn metadata_labels_finalizers_owner_references() {
    let s = schema();
    let t = ty(&s);
    let body = json!({
        "apiVersion": "example.io/v1", "kind": "Widget",
        "metadata": {
            "name": "w", "labels": {"a": "1"}, "annotations": {"n": "v"}, "finalizers": ["f1"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u9"}]
        }
    });
    let out = apply(None, &body, &t, &mgr("m"), false, T0).unwrap();
    assert_eq!(
        fields(&out, "m"),
        json!({"f:metadata": {
            "f:labels": {"f:a": {}}, "f:annotations": {"f:n": {}}, "f:finalizers": {"v:\"f1\"": {}},
            "f:ownerReferences": {"k:{\"uid\":\"u9\"}": {".": {}, "f:apiVersion": {}, "f:kind": {}, "f:name": {}, "f:uid": {}}}
        }})
    );
    // Dropping all of them removes them; name and the rest of metadata stay.
    let live = stored(out);
    let out = apply(Some(&live), &bare(), &t, &mgr("m"), false, T1).unwrap();
    assert_eq!(
        out["metadata"],
        json!({"name": "w", "uid": "u-1", "resourceVersion": "1"})
    );
}

#[test]
fn status_is_owned_only_through_the_status_subresource() {
    let s = schema();
    let t = ty(&s);
    let mut body = obj(json!({"replicas": 1}));
    body["status"] = json!({"ready": 1});
    let live = stored(apply(None, &body, &t, &mgr("m"), false, T0).unwrap());
    assert!(live.get("status").is_none());
    assert_eq!(fields(&live, "m"), json!({"f:spec": {"f:replicas": {}}}));
    let status_mgr = Manager {
        name: "ctrl",
        subresource: "status",
    };
    let mut body = obj(json!({"replicas": 9}));
    body["status"] = json!({"ready": 3});
    let out = apply(Some(&live), &body, &t, &status_mgr, false, T1).unwrap();
    assert_eq!(out["spec"]["replicas"], 1);
    assert_eq!(out["status"]["ready"], 3);
    let e = entry(&out, "ctrl").unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:ready": {}}}));
}

#[test]
fn first_apply_on_untracked_object_creates_before_first_apply() {
    let s = schema();
    let t = ty(&s);
    let live = stored(obj(json!({"replicas": 1, "paused": false})));
    let err = apply(
        Some(&live),
        &obj(json!({"replicas": 2})),
        &t,
        &mgr("m"),
        false,
        T1,
    )
    .unwrap_err();
    assert_eq!(
        err.conflict_message(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using example.io/v1: .spec.replicas"
    );
    let out = apply(
        Some(&live),
        &obj(json!({"replicas": 1})),
        &t,
        &mgr("m"),
        false,
        T1,
    )
    .unwrap();
    let list = entries(&out);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["manager"], "m");
    assert_eq!(list[1]["manager"], "before-first-apply");
    assert_eq!(list[1]["operation"], "Update");
    assert_eq!(
        list[1]["fieldsV1"],
        json!({"f:spec": {".": {}, "f:replicas": {}, "f:paused": {}}})
    );
}

// --- track_update ----------------------------------------------------------------

#[test]
fn track_update_create_and_edit() {
    let s = schema();
    let t = ty(&s);
    let mut created = obj(json!({"replicas": 1}));
    created["metadata"]["labels"] = json!({"a": "1"});
    track_update(None, &mut created, &t, &mgr("kubectl-create"), T0).unwrap();
    assert_eq!(
        entries(&created),
        vec![json!({
            "manager": "kubectl-create", "operation": "Update", "apiVersion": "example.io/v1",
            "time": T0, "fieldsType": "FieldsV1",
            // Fields that appear are owned with their parents (".") when the
            // parent appears too; the empty object of a CR is only its type.
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {".": {}, "f:replicas": {}}}
        })]
    );
    let live = stored(created);
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(4);
    edited["spec"]["paused"] = json!(true);
    track_update(Some(&live), &mut edited, &t, &mgr("kubectl-edit"), T1).unwrap();
    assert_eq!(
        fields(&edited, "kubectl-create"),
        json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {}})
    );
    assert_eq!(
        fields(&edited, "kubectl-edit"),
        json!({"f:spec": {"f:replicas": {}, "f:paused": {}}})
    );
    // Entries sort by time within an operation.
    let list = entries(&edited);
    assert_eq!(list[0]["manager"], "kubectl-create");
    assert_eq!(list[1]["manager"], "kubectl-edit");

    // The same manager again: its entry absorbs the new change.
    let live = edited;
    let mut again = live.clone();
    again["metadata"]["labels"]["a"] = json!("2");
    track_update(Some(&live), &mut again, &t, &mgr("kubectl-edit"), T2).unwrap();
    assert_eq!(
        fields(&again, "kubectl-create"),
        json!({"f:metadata": {"f:labels": {}}, "f:spec": {}})
    );
    assert_eq!(
        fields(&again, "kubectl-edit"),
        json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}, "f:paused": {}}})
    );
    assert_eq!(entry(&again, "kubectl-edit").unwrap()["time"], T2);
}

#[test]
fn track_update_without_changes_keeps_entries() {
    let s = schema();
    let t = ty(&s);
    let mut created = obj(json!({"replicas": 1}));
    track_update(None, &mut created, &t, &mgr("a"), T0).unwrap();
    let live = stored(created);
    let mut same = live.clone();
    same["metadata"]["resourceVersion"] = json!("2");
    track_update(Some(&live), &mut same, &t, &mgr("b"), T1).unwrap();
    assert_eq!(entries(&same), entries(&live));
}

#[test]
fn track_update_removal_releases_ownership_and_untracked_stays_untracked() {
    let s = schema();
    let t = ty(&s);
    let live = stored(
        apply(
            None,
            &obj(json!({"replicas": 1, "paused": true})),
            &t,
            &mgr("a"),
            false,
            T0,
        )
        .unwrap(),
    );
    let mut new = live.clone();
    new["spec"].as_object_mut().unwrap().remove("paused");
    track_update(Some(&live), &mut new, &t, &mgr("kubectl-edit"), T1).unwrap();
    assert_eq!(fields(&new, "a"), json!({"f:spec": {"f:replicas": {}}}));
    assert!(entry(&new, "kubectl-edit").is_none());

    let untracked = stored(obj(json!({"replicas": 1})));
    let mut new = untracked.clone();
    new["spec"]["replicas"] = json!(2);
    track_update(Some(&untracked), &mut new, &t, &mgr("x"), T1).unwrap();
    assert!(new["metadata"].get("managedFields").is_none());
}

#[test]
fn track_update_request_managed_fields_replace_or_clear() {
    let s = schema();
    let t = ty(&s);
    let live = stored(apply(None, &obj(json!({"replicas": 1})), &t, &mgr("a"), false, T0).unwrap());
    let mut cleared = live.clone();
    cleared["metadata"]["managedFields"] = json!([]);
    track_update(Some(&live), &mut cleared, &t, &mgr("x"), T1).unwrap();
    assert!(cleared["metadata"].get("managedFields").is_none());

    let mut moved = live.clone();
    moved["metadata"]["managedFields"][0]["manager"] = json!("renamed");
    track_update(Some(&live), &mut moved, &t, &mgr("x"), T1).unwrap();
    assert!(entry(&moved, "renamed").is_some());
    assert!(entry(&moved, "a").is_none());
}

#[test]
fn update_managers_are_capped_into_ancient_changes() {
    let s = schema();
    let t = ty(&s);
    let mut object = obj(json!({}));
    track_update(None, &mut object, &t, &mgr("creator"), T0).unwrap();
    let mut object = stored(object);
    object["spec"]["config"] = json!({});
    for i in 0..12 {
        let mut next = object.clone();
        next["spec"]["config"][format!("k{i}")] = json!(i);
        let time = format!("2026-01-01T00:01:{i:02}Z");
        track_update(
            Some(&object),
            &mut next,
            &t,
            &mgr(&format!("m{i:02}")),
            &time,
        )
        .unwrap();
        object = next;
    }
    let list = entries(&object);
    assert_eq!(list.len(), 10);
    let ancient = entry(&object, "ancient-changes").unwrap();
    // The oldest ("creator", m00, m01, m02) were folded together.
    assert_eq!(
        ancient["fieldsV1"],
        json!({"f:spec": {".": {}, "f:config": {"f:k0": {}, "f:k1": {}, "f:k2": {}}}})
    );
    assert_eq!(ancient["time"], "2026-01-01T00:01:02Z");
    assert!(entry(&object, "m02").is_none());
    assert!(entry(&object, "m03").is_some());
}

#[test]
fn kubectl_may_take_fields_matching_last_applied() {
    let s = schema();
    let t = ty(&s);
    let last = r#"{"apiVersion":"example.io/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"replicas":1}}"#;
    let mut created = obj(json!({"replicas": 1}));
    created["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last});
    track_update(
        None,
        &mut created,
        &t,
        &mgr("kubectl-client-side-apply"),
        T0,
    )
    .unwrap();
    let live = stored(created);
    let mut body = obj(json!({"replicas": 2}));
    body["metadata"]["annotations"] = json!({"x": "y"});
    let out = apply(Some(&live), &body, &t, &mgr("kubectl"), false, T1).unwrap();
    assert_eq!(out["spec"]["replicas"], 2);
    let text = out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(text.ends_with("}\n"));
    let rewritten: Value = serde_json::from_str(text).unwrap();
    assert_eq!(rewritten["spec"]["replicas"], 2);
    // Another manager gets the conflict.
    let err = apply(
        Some(&live),
        &obj(json!({"replicas": 2})),
        &t,
        &mgr("other"),
        false,
        T1,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Conflicts(_)));
}

#[test]
fn hostile_input_does_not_panic() {
    let s = schema();
    let t = ty(&s);
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = json!({"x": deep});
    }
    let body = obj(json!({"config": deep}));
    assert!(apply(None, &body, &t, &mgr("m"), false, T0).is_err());
    let mut new = body.clone();
    assert!(track_update(None, &mut new, &t, &mgr("m"), T0).is_err());
    // Unreadable live managedFields.
    let mut live = stored(obj(json!({})));
    live["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Nope"}]);
    let err = apply(Some(&live), &obj(json!({})), &t, &mgr("m"), false, T0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to decode managed fields: operation must be `Apply` or `Update`"
    );
    // Type mismatches merge without panicking.
    let live = stored(
        apply(
            None,
            &obj(json!({"containers": "oops"})),
            &t,
            &mgr("m"),
            false,
            T0,
        )
        .unwrap(),
    );
    let out = apply(
        Some(&live),
        &obj(json!({"containers": [{"name": "a"}]})),
        &t,
        &mgr("m"),
        false,
        T1,
    )
    .unwrap();
    assert_eq!(out["spec"]["containers"], json!([{"name": "a"}]));
    assert!(apply(None, &json!("str"), &t, &mgr("m"), false, T0).is_err());
    let weird = json!({"type": "object", "properties": {"spec": {"type": "array", "x-kubernetes-list-type": "map"}}});
    let t2 = TypeInfo {
        schema: &weird,
        ..t
    };
    assert!(
        apply(
            None,
            &obj(json!({"a": [1, {"b": null}]})),
            &t2,
            &mgr("m"),
            false,
            T0
        )
        .is_ok()
    );
}

#[test]
fn time_parsing() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339("2026-01-02T03:04:05Z"), Some(1_767_323_045));
    assert_eq!(
        parse_rfc3339("2026-01-02T04:04:05.5+01:00"),
        Some(1_767_323_045)
    );
    assert_eq!(parse_rfc3339("garbage"), None);
}
