//! Work end to end: ManifestWorks on our hub, applied by real agents to real Kubernetes
//! control planes as the managed clusters (`KubePeer`: kube-apiserver, controller-manager,
//! scheduler and kwok's simulated nodes). Delivery to the right cluster only, updates and
//! removals, a Deployment rolled out by the real controllers with its WellKnownStatus
//! feedback, every delete option and update strategy (a server-side apply conflict
//! included), JSONPath feedback from a status written on the managed side, an agent offline
//! while works change, a hub restart, works that cannot apply (unknown kind, executor not
//! allowed by the managed cluster's own SubjectAccessReview) reported without disturbing
//! the rest, and the hub's ManifestWork admission.

mod common;

use common::kube_peer;
use common::ocm::{Setup, condition, get, setup};
use common::{ApiServer, Hub, client, wait_until, wait_until_within};
use serde_json::{Value, json};

const WORKS: &str = "/apis/work.open-cluster-management.io/v1/namespaces";

fn post(hub: &Hub, path: &str, body: &Value) -> reqwest::blocking::Response {
    client(&hub.data_dir, true)
        .post(hub.url(path))
        .json(body)
        .send()
        .expect("post")
}

fn work(cluster: &str, name: &str, manifests: Value, extra: Value) -> Value {
    let mut w = json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": name, "namespace": cluster}, "spec": {"workload": {"manifests": manifests}}});
    if let Some(e) = extra.as_object() {
        for (k, v) in e {
            w["spec"][k] = v.clone();
        }
    }
    w
}

fn create_work(hub: &Hub, w: &Value) {
    let ns = w["metadata"]["namespace"].as_str().expect("ns");
    let r = post(hub, &format!("{WORKS}/{ns}/manifestworks"), w);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
}

/// Replaces a work's spec (read-modify-write with retries on conflicts).
fn update_work(hub: &Hub, cluster: &str, name: &str, change: impl Fn(&mut Value)) {
    let path = format!("{WORKS}/{cluster}/manifestworks/{name}");
    for _ in 0..20 {
        let mut w = get(hub, &path).expect("work");
        change(&mut w);
        let r = client(&hub.data_dir, true)
            .put(hub.url(&path))
            .json(&w)
            .send()
            .expect("put");
        if r.status().is_success() {
            return;
        }
        assert_eq!(r.status(), 409, "{}", r.text().unwrap_or_default());
    }
    panic!("could not update {name}");
}

fn work_status(hub: &Hub, cluster: &str, name: &str) -> Option<Value> {
    get(hub, &format!("{WORKS}/{cluster}/manifestworks/{name}"))
}

fn work_condition(hub: &Hub, cluster: &str, name: &str, t: &str) -> Option<(String, String)> {
    work_status(hub, cluster, name).and_then(|w| condition(&w, t))
}

/// A ValidatingAdmissionPolicy on a managed cluster refusing the AppliedManifestWork of
/// any work named `blocked`.
const BLOCK_POLICY: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-blocked-works}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["work.open-cluster-management.io"]
      apiVersions: ["*"]
      operations: ["CREATE"]
      resources: ["appliedmanifestworks"]
  validations:
  - expression: "object.spec.manifestWorkName != 'blocked'"
    message: blocked by policy
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-blocked-works}
spec:
  policyName: no-blocked-works
  validationActions: [Deny]
"#;

/// `(status, reason, message)` of a work condition.
fn work_condition_full(
    hub: &Hub,
    cluster: &str,
    name: &str,
    t: &str,
) -> Option<(String, String, String)> {
    let w = work_status(hub, cluster, name)?;
    let c = w
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)?;
    Some((
        c["status"].as_str()?.into(),
        c["reason"].as_str()?.into(),
        c["message"].as_str().unwrap_or("").into(),
    ))
}

fn applied(hub: &Hub, cluster: &str, name: &str) -> bool {
    work_condition(hub, cluster, name, "Applied").is_some_and(|c| c.0 == "True")
}

/// A manifest's condition in the work status, by ordinal.
fn manifest_condition(w: &Value, ordinal: usize, t: &str) -> Option<(String, String, String)> {
    let m = w
        .pointer("/status/resourceStatus/manifests")?
        .as_array()?
        .iter()
        .find(|m| m["resourceMeta"]["ordinal"] == ordinal)?;
    let c = m["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)?;
    Some((
        c["status"].as_str()?.into(),
        c["reason"].as_str()?.into(),
        c["message"].as_str().unwrap_or("").into(),
    ))
}

/// A Deployment of `replicas` pods (their image never runs: kwok's nodes report them
/// Running and Ready).
fn deployment(name: &str, ns: &str, replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": "registry.invalid/app:1"}]}}}})
}

/// A feedback value of manifest `ordinal` in a work's status, by name.
fn feedback_value(w: &Value, ordinal: usize, name: &str) -> Option<Value> {
    w.pointer("/status/resourceStatus/manifests")?
        .as_array()?
        .iter()
        .find(|m| m["resourceMeta"]["ordinal"] == ordinal)?
        .pointer("/statusFeedback/values")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
        .map(|v| v["fieldValue"].clone())
}

fn cm(name: &str, ns: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn on_spoke(spoke: &dyn ApiServer, path: &str) -> Option<Value> {
    spoke.get_json(path)
}

#[test]
fn works_are_delivered_updated_reported_and_removed() {
    if !kube_peer::available("works_are_delivered_updated_reported_and_removed") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = setup(dir.path(), 2, json!({}));
    let (hub, a, b) = (&s.hub, &s.spokes[0], &s.spokes[1]);
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}});
    let manifests = json!([
        cm("settings", "app", json!({"level": "1"})),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "app"}, "stringData": {"pw": "s3cret"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "app"}, "spec": {"size": 3}},
        crd,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}},
        deployment("web", "app", 2),
    ]);
    let feedback = json!({"manifestConfigs": [{"resourceIdentifier": {"group": "example.com", "resource": "widgets", "namespace": "app", "name": "w"},
        "feedbackRules": [{"type": "JSONPaths", "jsonPaths": [{"name": "phase", "path": ".status.phase"}, {"name": "size", "path": ".spec.size"}]}]},
        {"resourceIdentifier": {"group": "apps", "resource": "deployments", "namespace": "app", "name": "web"},
        "feedbackRules": [{"type": "WellKnownStatus"}],
        "conditionRules": [{"condition": "Ready", "type": "CEL",
            "celExpressions": ["hasConditions(object.status)", "object.status.readyReplicas == object.spec.replicas"],
            "messageExpression": "result ? string(object.status.readyReplicas) + ' replicas ready' : ''"}]}]});
    create_work(hub, &work("c0", "app", manifests, feedback));
    wait_until("the work is applied on c0", || applied(hub, "c0", "app"));
    let waited = common::kubectl_run(
        hub,
        &[
            "wait",
            "--for=condition=Available",
            "-n",
            "c0",
            "manifestwork/app",
            "--timeout=30s",
        ],
    );
    assert!(
        waited.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let w = work_status(hub, "c0", "app").expect("work");
    assert_eq!(
        condition(&w, "Available").map(|c| c.1),
        Some("ResourcesAvailable".into())
    );
    assert!(
        w["metadata"]["finalizers"]
            .to_string()
            .contains("manifest-work-cleanup")
    );
    assert!(
        w["status"]["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .all(|c| c["observedGeneration"] == w["metadata"]["generation"])
    );
    for ordinal in 0..6 {
        assert_eq!(
            manifest_condition(&w, ordinal, "Applied").map(|c| c.1),
            Some("AppliedManifestComplete".into()),
            "manifest {ordinal}: {w}"
        );
    }
    assert_eq!(
        on_spoke(a, "/api/v1/namespaces/app/configmaps/settings").expect("cm")["data"]["level"],
        "1"
    );
    assert!(on_spoke(a, "/api/v1/namespaces/app/secrets/creds").is_some());
    assert!(on_spoke(a, "/apis/example.com/v1/namespaces/app/widgets/w").is_some());
    assert!(
        on_spoke(b, "/api/v1/namespaces/app").is_none(),
        "only c0 gets c0's work"
    );
    let amw = get(
        a,
        "/apis/work.open-cluster-management.io/v1/appliedmanifestworks",
    )
    .expect("amws")["items"][0]
        .clone();
    assert_eq!(amw["spec"]["manifestWorkName"], "app");
    assert_eq!(
        amw["status"]["appliedResources"].as_array().map(Vec::len),
        Some(6)
    );
    let owned = on_spoke(a, "/api/v1/namespaces/app/configmaps/settings").expect("cm");
    assert_eq!(
        owned["metadata"]["ownerReferences"][0]["uid"],
        amw["metadata"]["uid"]
    );

    // The Deployment rolls out through the managed cluster's own controllers (scheduler,
    // ReplicaSet controller, kwok's kubelet stand-in) and its real status comes back as
    // WellKnownStatus feedback.
    wait_until_within("the Deployment's real status reaches the hub", 180, || {
        work_status(hub, "c0", "app").is_some_and(|w| {
            feedback_value(&w, 5, "ReadyReplicas") == Some(json!({"type": "Integer", "integer": 2}))
                && feedback_value(&w, 5, "AvailableReplicas")
                    == Some(json!({"type": "Integer", "integer": 2}))
        })
    });
    let web = on_spoke(a, "/apis/apps/v1/namespaces/app/deployments/web").expect("deployment");
    assert_eq!(web["status"]["readyReplicas"], 2, "{web}");
    // A CEL condition rule on the Deployment, on the manifest and aggregated on the work.
    wait_until("the condition rule holds", || {
        work_condition_full(hub, "c0", "app", "Ready").is_some_and(|(status, reason, message)| {
            status == "True"
                && reason == "ConditionRulesAggregated"
                && message == "2 replicas ready"
        })
    });
    let w = work_status(hub, "c0", "app").expect("work");
    assert_eq!(
        manifest_condition(&w, 5, "Ready"),
        Some((
            "True".into(),
            "ConditionRuleEvaluated".into(),
            "2 replicas ready".into()
        ))
    );

    // The agent's own metrics count what it applied and its lease renewals.
    let scrape = || {
        reqwest::blocking::get(format!("http://{}/metrics", s.metrics[0]))
            .and_then(|r| r.text())
            .unwrap_or_default()
    };
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    wait_until("the agent's metrics show its work and its lease", || {
        let text = scrape();
        value(&text, "ocm_agent_manifests_applied_total") >= 6.0
            && value(&text, r#"ocm_agent_lease_renewals_total{result="ok"}"#) >= 1.0
    });

    // Feedback from a status written on the managed cluster.
    let mut widget = on_spoke(a, "/apis/example.com/v1/namespaces/app/widgets/w").expect("widget");
    widget["status"] = json!({"phase": "Ready"});
    let r = a
        .admin_http()
        .put(a.api_url("/apis/example.com/v1/namespaces/app/widgets/w/status"))
        .json(&widget)
        .send()
        .expect("status");
    assert!(r.status().is_success());
    wait_until("the feedback reaches the hub", || {
        work_status(hub, "c0", "app").is_some_and(|w| {
            w.to_string()
                .contains(r#"{"name":"phase","fieldValue":{"string":"Ready","type":"String"}}"#)
                || w.to_string()
                    .contains(r#"{"fieldValue":{"string":"Ready","type":"String"},"name":"phase"}"#)
        })
    });
    let w = work_status(hub, "c0", "app").expect("work");
    assert_eq!(
        manifest_condition(&w, 2, "StatusFeedbackSynced").map(|c| c.1),
        Some("StatusFeedbackSynced".into())
    );

    // Update a manifest and drop another: the ConfigMap changes, the Secret goes.
    update_work(hub, "c0", "app", |w| {
        w["spec"]["workload"]["manifests"][0]["data"]["level"] = json!("2");
        w["spec"]["workload"]["manifests"]
            .as_array_mut()
            .expect("m")
            .remove(1);
    });
    wait_until("the ConfigMap is updated", || {
        on_spoke(a, "/api/v1/namespaces/app/configmaps/settings")
            .is_some_and(|c| c["data"]["level"] == "2")
    });
    wait_until("the dropped Secret is deleted", || {
        on_spoke(a, "/api/v1/namespaces/app/secrets/creds").is_none()
    });

    // A manifest that can never apply is reported; the rest keeps working.
    create_work(
        hub,
        &work(
            "c1",
            "mixed",
            json!([
                {"apiVersion": "nothing.example/v1", "kind": "Gizmo", "metadata": {"name": "g", "namespace": "default"}},
                cm("fine", "default", json!({"k": "v"})),
            ]),
            json!({}),
        ),
    );
    wait_until("the unknown kind is reported", || {
        work_status(hub, "c1", "mixed")
            .and_then(|w| manifest_condition(&w, 0, "Applied"))
            .is_some_and(|c| {
                c.0 == "False"
                    && c.1 == "AppliedManifestFailed"
                    && c.2.contains("does not serve Gizmo")
            })
    });
    assert!(on_spoke(b, "/api/v1/namespaces/default/configmaps/fine").is_some());
    let w = work_status(hub, "c1", "mixed").expect("work");
    assert_eq!(
        condition(&w, "Applied").map(|c| c.1),
        Some("AppliedManifestWorkFailed".into())
    );
    assert_eq!(condition(&w, "Degraded").map(|c| c.0), Some("True".into()));

    // Two works wanting different content in one object: the second is told, the first
    // keeps it.
    create_work(
        hub,
        &work(
            "c1",
            "first",
            json!([cm("contested", "default", json!({"owner": "first"}))]),
            json!({}),
        ),
    );
    wait_until("the first work is applied", || applied(hub, "c1", "first"));
    create_work(
        hub,
        &work(
            "c1",
            "second",
            json!([cm("contested", "default", json!({"owner": "second"}))]),
            json!({}),
        ),
    );
    wait_until("the second work reports the conflict", || {
        work_status(hub, "c1", "second")
            .and_then(|w| manifest_condition(&w, 0, "Applied"))
            .is_some_and(|c| c.0 == "False" && c.2.contains("applied by another ManifestWork"))
    });
    assert_eq!(
        on_spoke(b, "/api/v1/namespaces/default/configmaps/contested").expect("cm")["data"]["owner"],
        "first"
    );

    // An executor without permission on the managed cluster.
    create_work(
        hub,
        &work(
            "c1",
            "as-robot",
            json!([cm("robot", "default", json!({}))]),
            json!({"executor": {"subject": {"type": "ServiceAccount", "serviceAccount": {"namespace": "default", "name": "robot"}}}}),
        ),
    );
    wait_until("the executor is refused", || {
        work_status(hub, "c1", "as-robot")
            .and_then(|w| manifest_condition(&w, 0, "Applied"))
            .is_some_and(|c| c.0 == "False" && c.2.contains("executor"))
    });
    assert!(on_spoke(b, "/api/v1/namespaces/default/configmaps/robot").is_none());
    // Once the managed cluster's own RBAC allows it, the next check passes.
    b.kubectl_ok(&[
        "create",
        "role",
        "robot-configmaps",
        "-n",
        "default",
        "--verb=get,create,update,patch",
        "--resource=configmaps",
    ]);
    b.kubectl_ok(&[
        "create",
        "rolebinding",
        "robot-configmaps",
        "-n",
        "default",
        "--role=robot-configmaps",
        "--serviceaccount=default:robot",
    ]);
    wait_until("the allowed executor's work is applied", || {
        applied(hub, "c1", "as-robot")
    });
    assert!(on_spoke(b, "/api/v1/namespaces/default/configmaps/robot").is_some());

    // A work that cannot be reconciled at all (the managed cluster's own admission refuses
    // its AppliedManifestWork) says so on the hub, not only in the agent's log; once the
    // policy goes, the work applies.
    b.kubectl_stdin_ok(&["apply", "-f", "-"], BLOCK_POLICY);
    wait_until("the managed cluster enforces the policy", || {
        let out = b.kubectl_stdin(
            &["create", "--dry-run=server", "-f", "-"],
            &json!({"apiVersion": "work.open-cluster-management.io/v1", "kind": "AppliedManifestWork",
                "metadata": {"name": "probe"},
                "spec": {"hubHash": "h", "agentID": "a", "manifestWorkName": "blocked"}})
            .to_string(),
        );
        String::from_utf8_lossy(&out.stderr).contains("blocked by policy")
    });
    create_work(
        hub,
        &work(
            "c1",
            "blocked",
            json!([cm("blocked", "default", json!({}))]),
            json!({}),
        ),
    );
    wait_until("the failure is reported on the hub", || {
        work_condition_full(hub, "c1", "blocked", "Applied").is_some_and(
            |(status, reason, message)| {
                status == "False"
                    && reason == "AppliedManifestWorkFailed"
                    && message.contains("blocked by policy")
            },
        )
    });
    b.kubectl_ok(&[
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        "no-blocked-works",
    ]);
    wait_until_within("the work applies once the policy is gone", 90, || {
        applied(hub, "c1", "blocked")
    });
    assert!(on_spoke(b, "/api/v1/namespaces/default/configmaps/blocked").is_some());

    // Deleting the work removes what it applied (Foreground by default), then the work.
    let r = client(&hub.data_dir, true)
        .delete(hub.url(&format!("{WORKS}/c0/manifestworks/app")))
        .send()
        .expect("delete");
    assert!(r.status().is_success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while work_status(hub, "c0", "app").is_some() {
        // Where a stalled deletion stands: the work's finalizers, what the agent still
        // waits for, and the managed cluster's namespace.
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until the work is gone; work: {}; applied: {}; namespace app: {}",
            work_status(hub, "c0", "app").unwrap_or_default(),
            on_spoke(
                a,
                "/apis/work.open-cluster-management.io/v1/appliedmanifestworks"
            )
            .unwrap_or_default(),
            on_spoke(a, "/api/v1/namespaces/app").unwrap_or_default(),
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(on_spoke(a, "/api/v1/namespaces/app/configmaps/settings").is_none());
    assert!(
        on_spoke(
            a,
            "/apis/work.open-cluster-management.io/v1/appliedmanifestworks"
        )
        .is_some_and(|l| l["items"].as_array().is_some_and(Vec::is_empty))
    );
}

#[test]
fn strategies_delete_options_offline_agent_and_hub_restart() {
    if !kube_peer::available("strategies_delete_options_offline_agent_and_hub_restart") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let Setup {
        hub: hub_process,
        spokes,
        mut agents,
        ..
    } = setup(dir.path(), 1, json!({}));
    let spoke = &spokes[0];
    let spoke_http = spoke.admin_http();
    let cms = "/api/v1/namespaces/default/configmaps";
    let id = |name: &str| json!({"group": "", "resource": "configmaps", "namespace": "default", "name": name});
    let strategy =
        |name: &str, s: Value| json!({"resourceIdentifier": id(name), "updateStrategy": s});

    // Someone else owns data.x of "shared" through server-side apply.
    let r = spoke_http
        .patch(spoke.api_url(&format!("{cms}/shared?fieldManager=someone-else")))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(cm("shared", "default", json!({"x": "theirs"})).to_string())
        .send()
        .expect("apply");
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    let r = spoke_http
        .post(spoke.api_url(cms))
        .json(&cm("existing", "default", json!({"seen": "yes"})))
        .send()
        .expect("post");
    assert_eq!(r.status(), 201);
    let hub = &hub_process;
    create_work(
        hub,
        &work(
            "c0",
            "strategies",
            json!([
                cm("once", "default", json!({"v": "1"})),
                cm("shared", "default", json!({"x": "ours"})),
                cm("existing", "default", json!({})),
                cm("absent", "default", json!({})),
            ]),
            json!({"manifestConfigs": [
                strategy("once", json!({"type": "CreateOnly"})),
                strategy("shared", json!({"type": "ServerSideApply", "serverSideApply": {"fieldManager": "work-agent", "force": false}})),
                {"resourceIdentifier": id("existing"), "updateStrategy": {"type": "ReadOnly"},
                 "feedbackRules": [{"type": "JSONPaths", "jsonPaths": [{"name": "seen", "path": ".data.seen"}]}]},
                strategy("absent", json!({"type": "ReadOnly"})),
            ]}),
        ),
    );
    wait_until(
        "the conflict and the read-only results are reported",
        || {
            work_status(hub, "c0", "strategies").is_some_and(|w| {
                manifest_condition(&w, 1, "Applied")
                    .is_some_and(|c| c.0 == "False" && c.2.contains("Conflict"))
                    && manifest_condition(&w, 3, "Applied").is_some_and(|c| c.0 == "False")
                    && manifest_condition(&w, 0, "Applied").is_some_and(|c| c.0 == "True")
                    && w.to_string().contains(r#""yes""#)
            })
        },
    );
    assert_eq!(
        get(spoke, &format!("{cms}/shared")).expect("shared")["data"]["x"],
        "theirs"
    );
    assert!(
        get(spoke, &format!("{cms}/absent")).is_none(),
        "ReadOnly creates nothing"
    );
    // CreateOnly: later changes are not applied; force wins the conflict.
    update_work(hub, "c0", "strategies", |w| {
        w["spec"]["workload"]["manifests"][0]["data"]["v"] = json!("2");
        w["spec"]["manifestConfigs"][1]["updateStrategy"]["serverSideApply"]["force"] = json!(true);
    });
    wait_until("forced apply takes the field", || {
        get(spoke, &format!("{cms}/shared")).is_some_and(|c| c["data"]["x"] == "ours")
    });
    assert_eq!(
        get(spoke, &format!("{cms}/once")).expect("once")["data"]["v"],
        "1",
        "CreateOnly never updates"
    );

    // ignoreFields: data.x is set at creation, then left to the managed cluster.
    let ssa_ignoring = json!({"type": "ServerSideApply", "serverSideApply": {
        "ignoreFields": [{"condition": "OnSpokePresent", "jsonPaths": [".data.x"],
            "jsonPointers": ["/data/w"], "jqPathExpressions": [".data | .[\"z\"]"]}]}});
    create_work(
        hub,
        &work(
            "c0",
            "ignoring",
            json!([cm(
                "tuned",
                "default",
                json!({"x": "hub", "y": "1", "z": "hub", "w": "hub"})
            )]),
            json!({"manifestConfigs": [strategy("tuned", ssa_ignoring)]}),
        ),
    );
    wait_until("the tuned ConfigMap is created whole", || {
        get(spoke, &format!("{cms}/tuned")).is_some_and(|c| c["data"]["x"] == "hub")
    });
    let r = spoke_http
        .patch(spoke.api_url(&format!("{cms}/tuned")))
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"data": {"x": "spoke", "z": "spoke", "w": "spoke"}}).to_string())
        .send()
        .expect("patch");
    assert!(r.status().is_success());
    update_work(hub, "c0", "ignoring", |w| {
        w["spec"]["workload"]["manifests"][0]["data"]["y"] = json!("2");
    });
    wait_until("the hub's change is applied", || {
        get(spoke, &format!("{cms}/tuned")).is_some_and(|c| c["data"]["y"] == "2")
    });
    let tuned = get(spoke, &format!("{cms}/tuned")).expect("tuned");
    for field in ["x", "z", "w"] {
        assert_eq!(
            tuned["data"][field], "spoke",
            "an ignored field (JSONPath x, jq z, pointer w) keeps the managed cluster's value"
        );
    }

    // Delete options.
    create_work(
        hub,
        &work(
            "c0",
            "orphan",
            json!([cm("kept", "default", json!({}))]),
            json!({"deleteOption": {"propagationPolicy": "Orphan"}}),
        ),
    );
    create_work(
        hub,
        &work(
            "c0",
            "selective",
            json!([
                cm("sel-kept", "default", json!({})),
                cm("sel-gone", "default", json!({}))
            ]),
            json!({"deleteOption": {"propagationPolicy": "SelectivelyOrphan", "selectivelyOrphans": {"orphaningRules": [id("sel-kept")]}}}),
        ),
    );
    wait_until("both applied", || {
        applied(hub, "c0", "orphan") && applied(hub, "c0", "selective")
    });
    for name in ["orphan", "selective"] {
        client(&hub.data_dir, true)
            .delete(hub.url(&format!("{WORKS}/c0/manifestworks/{name}")))
            .send()
            .expect("delete");
    }
    wait_until("both works are gone", || {
        work_status(hub, "c0", "orphan").is_none() && work_status(hub, "c0", "selective").is_none()
    });
    assert!(
        get(spoke, &format!("{cms}/kept")).is_some(),
        "Orphan keeps the resource"
    );
    assert!(
        get(spoke, &format!("{cms}/sel-kept")).is_some(),
        "an orphaning rule keeps its resource"
    );
    assert!(
        get(spoke, &format!("{cms}/sel-gone")).is_none(),
        "the rest is deleted"
    );

    // The agent is offline while works change; it catches up.
    agents[0].kill();
    create_work(
        hub,
        &work(
            "c0",
            "while-away",
            json!([cm("late", "default", json!({"n": "1"}))]),
            json!({}),
        ),
    );
    update_work(hub, "c0", "strategies", |w| {
        w["spec"]["workload"]["manifests"]
            .as_array_mut()
            .expect("m")
            .push(cm("added", "default", json!({})));
    });
    agents[0].restart();
    wait_until("the offline changes are applied", || {
        get(spoke, &format!("{cms}/late")).is_some()
            && get(spoke, &format!("{cms}/added")).is_some()
    });

    // A work that vanishes from the hub while the agent is away (its finalizer removed by
    // force): the agent marks the AppliedManifestWork for eviction and, after the grace
    // period, removes what it applied.
    agents[0].kill();
    let late = format!("{WORKS}/c0/manifestworks/while-away");
    let admin = client(&hub.data_dir, true);
    let r = admin
        .patch(hub.url(&late))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"metadata":{"finalizers":null}}"#)
        .send()
        .expect("strip finalizer");
    assert!(r.status().is_success());
    assert!(
        admin
            .delete(hub.url(&late))
            .send()
            .expect("delete")
            .status()
            .is_success()
    );
    assert!(work_status(hub, "c0", "while-away").is_none());
    agents[0].restart();
    let amws = "/apis/work.open-cluster-management.io/v1/appliedmanifestworks";
    wait_until(
        "the orphaned AppliedManifestWork is marked for eviction",
        || {
            get(spoke, amws).is_some_and(|l| {
                l["items"].as_array().into_iter().flatten().any(|a| {
                    a["spec"]["manifestWorkName"] == "while-away"
                        && a["status"]["evictionStartTime"].is_string()
                })
            })
        },
    );
    wait_until("its resources are evicted after the grace period", || {
        get(spoke, &format!("{cms}/late")).is_none()
    });
    wait_until("the AppliedManifestWork is gone", || {
        get(spoke, amws).is_some_and(|l| {
            l["items"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|a| a["spec"]["manifestWorkName"] != "while-away")
        })
    });
    assert!(
        get(spoke, &format!("{cms}/added")).is_some(),
        "other works are untouched"
    );

    // Hub restart on the same address: new works still arrive.
    let (port, hub_dir) = (hub_process.port, hub_process.data_dir.clone());
    hub_process.terminate();
    let config = dir.path().join("hub.json");
    let mut hub = Hub::start_on(&hub_dir, port, &["-c", config.to_str().expect("utf8")], &[]);
    hub.wait_ready();
    create_work(
        &hub,
        &work(
            "c0",
            "after-restart",
            json!([cm("fresh", "default", json!({}))]),
            json!({}),
        ),
    );
    wait_until("a work made after the hub restart is applied", || {
        get(spoke, &format!("{cms}/fresh")).is_some()
    });
}

#[test]
fn manifest_work_admission() {
    if !kube_peer::available("manifest_work_admission") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = setup(dir.path(), 1, json!({"maxManifestWorkBytes": 2000}));
    let hub = &s.hub;
    let path = format!("{WORKS}/c0/manifestworks");
    let check = |w: Value, code: u16, field: &str| {
        let r = post(hub, &path, &w);
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        assert_eq!(status, code, "{body}");
        assert!(body.contains(field), "{field} not named in {body}");
    };
    check(
        work("c0", "empty", json!([]), json!({})),
        422,
        "manifests should not be empty",
    );
    check(
        work(
            "c0",
            "nokind",
            json!([{"apiVersion": "v1", "metadata": {"name": "x"}}]),
            json!({}),
        ),
        422,
        "spec.workload.manifests[0].kind",
    );
    check(
        work(
            "c0",
            "noname",
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]),
            json!({}),
        ),
        422,
        "spec.workload.manifests[0].metadata.name",
    );
    check(
        work(
            "c0",
            "gen",
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "generateName": "a-"}}]),
            json!({}),
        ),
        422,
        "generateName",
    );
    check(
        work(
            "c0",
            "big",
            json!([cm("big", "default", json!({"blob": "x".repeat(3000)}))]),
            json!({}),
        ),
        422,
        "more than the limit of 2000 bytes",
    );
    // An executor needs execute-as: alice may create works but not execute as the robot.
    for (p, body) in [
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "work-editor"}, "rules": [{"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks"], "verbs": ["create", "get"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "alice-works"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "work-editor"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
        ),
    ] {
        assert!(post(hub, p, &body).status().is_success());
    }
    let as_robot = work(
        "c0",
        "exec",
        json!([cm("e", "default", json!({}))]),
        json!({"executor": {"subject": {"type": "ServiceAccount", "serviceAccount": {"namespace": "default", "name": "robot"}}}}),
    );
    let r = client(&hub.data_dir, true)
        .post(hub.url(&path))
        .header("Impersonate-User", "alice")
        .json(&as_robot)
        .send()
        .expect("post");
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap_or_default().contains("execute-as"));
    let plain = work(
        "c0",
        "plain",
        json!([cm("p", "default", json!({}))]),
        json!({}),
    );
    let r = client(&hub.data_dir, true)
        .post(hub.url(&path))
        .header("Impersonate-User", "alice")
        .json(&plain)
        .send()
        .expect("post");
    assert_eq!(
        r.status(),
        201,
        "without an executor alice may create works"
    );

    // A work whose condition rule says Complete goes ttlSecondsAfterFinished later, and
    // the agent removes what it applied.
    let done = json!({"resourceIdentifier": {"group": "", "resource": "configmaps", "namespace": "default", "name": "done"},
        "conditionRules": [{"condition": "Complete", "type": "CEL", "celExpressions": ["object.data.state == 'finished'"]}]});
    create_work(
        hub,
        &work(
            "c0",
            "finite",
            json!([cm("done", "default", json!({"state": "finished"}))]),
            json!({"manifestConfigs": [done], "deleteOption": {"propagationPolicy": "Foreground", "ttlSecondsAfterFinished": 1}}),
        ),
    );
    wait_until("the finished work is collected", || {
        work_status(hub, "c0", "finite").is_none()
    });
    wait_until("its ConfigMap is removed", || {
        on_spoke(&s.spokes[0], "/api/v1/namespaces/default/configmaps/done").is_none()
    });
}

/// Server-side apply on a real kube-apiserver for every kind a user ships: a Namespace, a
/// ConfigMap, a Secret, a CRD and a custom resource of it (listed before its CRD), each
/// with the `ServerSideApply` strategy. The agent's field manager owns what it applied; a
/// field dropped from the work is removed from the object (SSA's ownership, not a merge);
/// deleting the work removes every object, the CRD and the namespace included.
#[test]
fn server_side_apply_of_every_kind_and_cleanup() {
    if !kube_peer::available("server_side_apply_of_every_kind_and_cleanup") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = setup(dir.path(), 1, json!({}));
    let (hub, spoke) = (&s.hub, &s.spokes[0]);
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.ssa.example.com"},
        "spec": {"group": "ssa.example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}});
    let manifests = |data: Value| {
        json!([
            {"apiVersion": "ssa.example.com/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": "ssa"}, "spec": {"size": 3}},
            cm("settings", "ssa", data),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "ssa"}, "stringData": {"pw": "s3cret"}},
            crd.clone(),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ssa"}},
        ])
    };
    let ssa = json!({"type": "ServerSideApply", "serverSideApply": {"fieldManager": "work-agent", "force": false}});
    let config = |group: &str, resource: &str, namespace: &str, name: &str| {
        json!({"resourceIdentifier": {"group": group, "resource": resource, "namespace": namespace, "name": name},
               "updateStrategy": ssa.clone()})
    };
    let configs = json!({"manifestConfigs": [
        config("ssa.example.com", "gadgets", "ssa", "g"),
        config("", "configmaps", "ssa", "settings"),
        config("", "secrets", "ssa", "creds"),
        config("apiextensions.k8s.io", "customresourcedefinitions", "", "gadgets.ssa.example.com"),
        config("", "namespaces", "", "ssa"),
    ]});
    create_work(
        hub,
        &work("c0", "ssa", manifests(json!({"a": "1", "b": "2"})), configs),
    );
    wait_until_within("every manifest is server-side applied", 120, || {
        work_status(hub, "c0", "ssa").is_some_and(|w| {
            (0..5).all(|i| manifest_condition(&w, i, "Applied").is_some_and(|c| c.0 == "True"))
        })
    });
    let paths = [
        "/apis/ssa.example.com/v1/namespaces/ssa/gadgets/g",
        "/api/v1/namespaces/ssa/configmaps/settings",
        "/api/v1/namespaces/ssa/secrets/creds",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.ssa.example.com",
        "/api/v1/namespaces/ssa",
    ];
    for path in paths {
        let object = on_spoke(spoke, path).unwrap_or_else(|| panic!("{path} on the peer"));
        let applied_by_agent = object["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|f| {
                f.iter()
                    .any(|e| e["manager"] == "work-agent" && e["operation"] == "Apply")
            });
        assert!(
            applied_by_agent,
            "{path} is not applied by work-agent: {object}"
        );
    }
    assert_eq!(
        on_spoke(spoke, "/apis/ssa.example.com/v1/namespaces/ssa/gadgets/g").expect("gadget")["spec"]
            ["size"],
        3
    );

    // Dropping data.b from the work removes it from the ConfigMap: the field was ours.
    update_work(hub, "c0", "ssa", |w| {
        w["spec"]["workload"]["manifests"][1]["data"] = json!({"a": "10"});
    });
    wait_until("the ConfigMap follows the work, data.b removed", || {
        on_spoke(spoke, "/api/v1/namespaces/ssa/configmaps/settings")
            .is_some_and(|c| c["data"] == json!({"a": "10"}))
    });

    // Deleting the work removes every object it applied, its CRD and namespace included.
    let r = client(&hub.data_dir, true)
        .delete(hub.url(&format!("{WORKS}/c0/manifestworks/ssa")))
        .send()
        .expect("delete");
    assert!(r.status().is_success());
    wait_until_within("the work is gone", 180, || {
        work_status(hub, "c0", "ssa").is_none()
    });
    for path in paths {
        wait_until_within(&format!("{path} is gone from the peer"), 120, || {
            on_spoke(spoke, path).is_none()
        });
    }
}

/// jq expressions of `ignoreFields` run in a child process of the binary: a runaway one is
/// stopped after a second (or dies alone), reported, and not run again.
#[test]
fn jq_ignore_expressions_run_in_a_child_that_can_be_stopped() {
    use multicluster_controlplane::agent::work::ignore::jq_delete_with;
    let bin = std::path::Path::new(common::bin());
    let object = json!({"data": {"a": "1", "b": "2"}});
    assert_eq!(
        jq_delete_with(bin, &object, ".data.a").expect("deleted"),
        json!({"data": {"b": "2"}})
    );
    let bad = jq_delete_with(bin, &object, ".data.[").expect_err("a syntax error");
    assert!(bad.contains("JQ expression error"), "{bad}");
    // Two that overflow the child's stack, one that loops (ten billion steps).
    for (runaway, outcome) in [
        ("def f: f; f", "crashed"),
        ("def f: .data, f; f", "crashed"),
        (
            ".data | select(any(range(10000000000); . < 0))",
            "timed out",
        ),
    ] {
        let started = std::time::Instant::now();
        let err = jq_delete_with(bin, &object, runaway).expect_err(runaway);
        assert!(err.contains(outcome), "{runaway}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let again = jq_delete_with(bin, &object, runaway).expect_err(runaway);
        assert!(again.contains("not run again"), "{again}");
    }
}
