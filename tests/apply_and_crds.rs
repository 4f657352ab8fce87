//! API depth through kubectl: client-side apply and `edit` (strategic merge patches on
//! built-in kinds), server-side apply (conflicts, force, field removal, managedFields),
//! and a CustomResourceDefinition served at run time, then deleted with its objects.

mod common;

use common::{Hub, kubectl_cmd, kubectl_run};

fn start() -> (tempfile::TempDir, Hub) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = Hub::start(dir.path(), &[]);
    hub.wait_ready();
    (dir, hub)
}

/// Runs kubectl with `stdin`.
fn run(hub: &Hub, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = kubectl_cmd(hub, args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    child.wait_with_output().expect("output")
}

/// Runs kubectl with `stdin`, asserts success, returns (stdout, stderr).
fn ok(hub: &Hub, args: &[&str], stdin: &str) -> (String, String) {
    let out = run(hub, args, stdin);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
    (stdout, stderr)
}

fn get(hub: &Hub, args: &[&str]) -> String {
    let out = kubectl_run(hub, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn client_side_apply_edit_and_server_side_apply() {
    let (dir, hub) = start();
    // Client-side apply: create, then a change computed as a strategic merge patch.
    let v1 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {app: demo, tier: a}\ndata:\n  one: '1'\n  two: '2'\n";
    let (out, err) = ok(&hub, &["apply", "-f", "-"], v1);
    assert!(out.contains("created") && err.is_empty(), "{out}{err}");
    let v2 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {app: demo}\ndata:\n  one: '1'\n  three: '3'\n";
    let (out, err) = ok(&hub, &["apply", "-f", "-"], v2);
    assert!(out.contains("configured") && err.is_empty(), "{out}{err}");
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "cm",
                "cfg",
                "-o",
                "jsonpath={.data} {.metadata.labels}"
            ]
        ),
        r#"{"one":"1","three":"3"} {"app":"demo"}"#
    );

    // `kubectl edit` through a scripted editor (a strategic merge patch again).
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i \"s/three: \\\"3\\\"/three: \\\"33\\\"/\" \"$1\"\n",
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = kubectl_cmd(&hub, &["edit", "configmap", "cfg"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .expect("edit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        get(&hub, &["get", "cm", "cfg", "-o", "jsonpath={.data.three}"]),
        "33"
    );

    // Server-side apply: two managers, a conflict, force, and field removal.
    let mine =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n  b: '2'\n";
    ok(
        &hub,
        &["apply", "--server-side", "--field-manager=alpha", "-f", "-"],
        mine,
    );
    let theirs =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  b: '20'\n  c: '3'\n";
    let conflict = run(
        &hub,
        &["apply", "--server-side", "--field-manager=beta", "-f", "-"],
        theirs,
    );
    assert!(!conflict.status.success());
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains("conflict with \"alpha\"") && stderr.contains(".data.b"),
        "{stderr}"
    );
    ok(
        &hub,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=beta",
            "-f",
            "-",
        ],
        theirs,
    );
    assert_eq!(
        get(&hub, &["get", "cm", "ssa", "-o", "jsonpath={.data}"]),
        r#"{"a":"1","b":"20","c":"3"}"#
    );
    // alpha stops applying `a`: it is removed (nobody else owns it).
    ok(
        &hub,
        &["apply", "--server-side", "--field-manager=alpha", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata: {}\n",
    );
    assert_eq!(
        get(&hub, &["get", "cm", "ssa", "-o", "jsonpath={.data}"]),
        r#"{"b":"20","c":"3"}"#
    );
    let managers = get(
        &hub,
        &[
            "get",
            "cm",
            "ssa",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
    );
    assert!(managers.contains("beta"), "{managers}");
}

#[test]
fn custom_resource_definitions_at_run_time() {
    let (_dir, hub) = start();
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3, maximum: 10}
              colour: {type: string, enum: [red, blue]}
";
    ok(&hub, &["apply", "-f", "-"], crd);
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "crd",
                "widgets.example.com",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"
            ]
        ),
        "True"
    );
    // Served at once, with defaults, validation and printer columns.
    ok(
        &hub,
        &["apply", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {colour: red}\n",
    );
    let table = get(&hub, &["get", "wd"]);
    assert!(
        table.contains("SIZE") && table.contains("w1") && table.contains('3'),
        "{table}"
    );
    let bad = kubectl_run(
        &hub,
        &[
            "patch",
            "wd",
            "w1",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":11}}"#,
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("spec.size"));
    assert!(get(&hub, &["explain", "widgets.spec"]).contains("colour"));
    assert!(get(&hub, &["api-resources", "--api-group=example.com"]).contains("widgets"));
    // Deleting the CRD deletes its objects and stops serving the kind.
    get(
        &hub,
        &[
            "delete",
            "crd",
            "widgets.example.com",
            "--wait=true",
            "--timeout=30s",
        ],
    );
    let gone = kubectl_run(&hub, &["get", "widgets.example.com"]);
    assert!(!gone.status.success());
    assert!(!get(&hub, &["api-resources"]).contains("widgets"));
}

/// Several served versions with one storage version: an object written through either
/// version is read through both, each answer in its own apiVersion.
#[test]
fn custom_resources_in_several_versions() {
    let (_dir, hub) = start();
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: dials.example.com
spec:
  group: example.com
  scope: Cluster
  names: {plural: dials, singular: dial, kind: Dial}
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {level: {type: integer}}}}}}
  - name: v1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {level: {type: integer}}}}}}
";
    ok(&hub, &["apply", "-f", "-"], crd);
    ok(
        &hub,
        &["apply", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Dial\nmetadata: {name: d1}\nspec: {level: 4}\n",
    );
    // kubectl prefers v1 (kube's version priority); the object is readable through both.
    assert_eq!(
        get(
            &hub,
            &["get", "dials", "d1", "-o", "jsonpath={.apiVersion}"]
        ),
        "example.com/v1"
    );
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "dials.v1beta1.example.com",
                "d1",
                "-o",
                "jsonpath={.apiVersion} {.spec.level}"
            ]
        ),
        "example.com/v1beta1 4"
    );
    assert_eq!(
        get(
            &hub,
            &[
                "get",
                "crd",
                "dials.example.com",
                "-o",
                "jsonpath={.status.storedVersions}"
            ]
        ),
        r#"["v1beta1"]"#
    );
}
