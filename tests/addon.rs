//! Add-ons end to end: our hub's add-on manager, two real Kubernetes control planes as the
//! managed clusters (`KubePeer`, where the add-on's Deployment really rolls out on kwok's
//! nodes) and our agents.
//!
//! A template add-on installed by a `Placements` strategy: ManagedClusterAddOns owned by
//! the ClusterManagementAddOn, configs resolved with spec hashes (`Configured`), the deploy
//! work rendered from the template and the AddOnDeploymentConfig, the Deployment applied
//! on each cluster and the add-on Available from the work's feedback, `Progressing`
//! completed with `lastAppliedConfig`, registrations, install namespace, the hub
//! RoleBinding, the add-on's hub kubeconfig Secret written by our agent (its CSR approved by
//! the hub), the cluster's feature label, its add-on annotations copied to the add-on, and
//! the CMA's install progression. Then a config
//! change rolls out, a cluster the placement drops loses the add-on, a `Manual` add-on a
//! user deleted stays deleted, a cluster whose agent stops makes its add-ons Unknown, and
//! deleting the CMA removes every add-on after its pre-delete hook Job ran. The template
//! also registers a custom signer, whose certificates the hub signs with a CA from a Secret.

mod common;
#[path = "support/placement.rs"]
mod support;

use std::time::Duration;

use common::addon::{ADDONS, cma, hello_configs, mca_path, template};
use common::kube_peer::{self, KubePeer};
use common::ocm::setup;
use serde_json::{Value, json};
use support::{Api, condition};

const NS: &str = "addons";
const WORKS: &str = "/apis/work.open-cluster-management.io/v1";
const CLUSTERS: &str = "/apis/cluster.open-cluster-management.io/v1/managedclusters";

const SIGNER: &str = "example.com/hello-signer";

/// A CA (made with openssl) as the Secret `open-cluster-management-hub/hello-signer-ca`.
fn signing_ca(api: &Api, dir: &std::path::Path) {
    use base64::Engine;
    let (crt, key) = (dir.join("signer.crt"), dir.join("signer.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args([
            "-subj",
            "/CN=hello-signer",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b64 = |p: &std::path::Path| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).expect("read"))
    };
    api.namespace("open-cluster-management-hub");
    api.create(
        "/api/v1/namespaces/open-cluster-management-hub/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "hello-signer-ca"},
            "data": {"tls.crt": b64(&crt), "tls.key": b64(&key)}}),
    );
}

fn deployment_config(level: &str) -> Value {
    json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "AddOnDeploymentConfig",
        "metadata": {"name": "hello-config", "namespace": NS},
        "spec": {"customizedVariables": [{"name": "LEVEL", "value": level}],
            // Empty: the template's own namespace (the default would move the agent to
            // `open-cluster-management-agent-addon`).
            "agentInstallNamespace": ""}})
}

/// The `args` of the add-on's Deployment on a managed cluster, once it exists.
fn deployed_args(spoke: &KubePeer) -> Option<String> {
    let out = spoke.kubectl(&[
        "get",
        "deployment",
        "hello-agent",
        "-n",
        "hello-ns",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].args}",
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

fn conditions_of(v: &Value) -> String {
    v.pointer("/status/conditions")
        .map(Value::to_string)
        .unwrap_or_default()
}

#[test]
fn template_addons_install_configure_report_and_clean_up() {
    if !kube_peer::available("template_addons_install_configure_report_and_clean_up") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path(), 2, json!({}));
    let api = Api::new(&s.hub, Duration::from_secs(240));
    api.namespace(NS);
    api.binding(NS, "default");
    api.placement(NS, "all", json!({}));
    api.wait("the placement selects both clusters", || {
        let selected = api.selected(NS, "all");
        (selected.len() == 2)
            .then_some(())
            .ok_or(format!("{selected:?}"))
    });
    // A custom signer besides the hub kubeconfig: its CA in a Secret of the hub's namespace.
    let mut tpl = template("hello-v1");
    tpl["spec"]["registration"]
        .as_array_mut()
        .expect("registrations")
        .push(
            json!({"type": "CustomSigner", "customSigner": {"signerName": SIGNER,
            "signingCA": {"name": "hello-signer-ca"}}}),
        );
    api.create(&format!("{ADDONS}/addontemplates"), &tpl);
    signing_ca(&api, dir.path());
    api.create(
        &format!("{ADDONS}/namespaces/{NS}/addondeploymentconfigs"),
        &deployment_config("debug"),
    );
    let supported = hello_configs("hello-v1", Some((NS, "hello-config")));
    let placements =
        json!({"type": "Placements", "placements": [{"namespace": NS, "name": "all"}]});
    let created = api.create(
        &format!("{ADDONS}/clustermanagementaddons"),
        &cma("hello", placements, supported),
    );
    let cma_uid = created["metadata"]["uid"].clone();

    // Installed, configured and available on both clusters.
    for (i, cluster) in ["c0", "c1"].iter().enumerate() {
        let addon = api.wait(&format!("hello is available on {cluster}"), || {
            let a = api
                .get(&mca_path(cluster, "hello"))
                .ok_or("no add-on yet")?;
            let status = |t: &str| condition(&a, t).map(|c| c.0);
            let ok = status("Available").as_deref() == Some("True")
                && status("Progressing").as_deref() == Some("False");
            ok.then(|| a.clone()).ok_or(conditions_of(&a))
        });
        let owner = &addon["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ClusterManagementAddOn", "{addon}");
        assert_eq!(owner["uid"], cma_uid);
        assert_eq!(owner["controller"], true);
        let status = &addon["status"];
        let refs = status["configReferences"]
            .as_array()
            .expect("configReferences");
        assert_eq!(refs.len(), 2, "{status}");
        for r in refs {
            let hash = r["desiredConfig"]["specHash"].as_str().unwrap_or("");
            assert_eq!(hash.len(), 64, "{r}");
            assert_eq!(r["lastAppliedConfig"], r["desiredConfig"], "{r}");
        }
        for (type_, reason) in [
            ("Configured", "ConfigurationsConfigured"),
            ("ManifestApplied", "AddonManifestApplied"),
            ("Available", "ProbeAvailable"),
            ("Progressing", "Completed"),
            ("RegistrationApplied", "SetPermissionApplied"),
        ] {
            let c = status["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
                .unwrap_or_else(|| panic!("no {type_}: {status}"));
            assert_eq!(c["reason"], reason, "{c}");
        }
        assert_eq!(status["namespace"], "hello-ns");
        assert_eq!(status["healthCheck"]["mode"], "Customized");
        assert_eq!(
            status["registrations"][0],
            json!({"signerName": "kubernetes.io/kube-apiserver-client", "subject": {
                "user": format!("system:open-cluster-management:cluster:{cluster}:addon:hello:agent:hello-agent"),
                "groups": [format!("system:open-cluster-management:cluster:{cluster}:addon:hello"),
                    "system:open-cluster-management:addon:hello", "system:authenticated"]}})
        );
        // The deploy work, rendered for this cluster.
        let work = api
            .get(&format!(
                "{WORKS}/namespaces/{cluster}/manifestworks/addon-hello-deploy-0"
            ))
            .expect("the deploy work");
        assert_eq!(
            work["metadata"]["labels"]["open-cluster-management.io/addon-name"],
            "hello"
        );
        assert_eq!(
            work["metadata"]["ownerReferences"][0]["kind"],
            "ManagedClusterAddOn"
        );
        let hashes: Value = serde_json::from_str(
            work["metadata"]["annotations"]["open-cluster-management.io/config-spec-hash"]
                .as_str()
                .expect("spec-hash annotation"),
        )
        .expect("JSON");
        assert!(
            hashes["addontemplates.addon.open-cluster-management.io//hello-v1"].is_string(),
            "{hashes}"
        );
        let deployment = work["spec"]["workload"]["manifests"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["kind"] == "Deployment"))
            .expect("the Deployment in the work");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["args"],
            json!([format!("--cluster={cluster}"), "--level=debug"])
        );
        assert_eq!(container["env"][0]["name"], "HUB_KUBECONFIG");
        assert_eq!(
            container["volumeMounts"][0]["mountPath"],
            "/managed/hub-kubeconfig"
        );
        assert_eq!(
            work["spec"]["manifestConfigs"][0]["feedbackRules"],
            json!([{"type": "WellKnownStatus"}])
        );
        // Really applied on the managed cluster.
        assert_eq!(
            deployed_args(&s.spokes[i]).as_deref(),
            Some(format!("[\"--cluster={cluster}\",\"--level=debug\"]").as_str())
        );
        // The add-on identity's permission on the hub.
        let binding = api
            .get(&format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/{cluster}/rolebindings/open-cluster-management:hello:clusterrole:agent"
            ))
            .expect("the add-on's RoleBinding");
        assert_eq!(binding["roleRef"]["name"], "hello-role");
        assert_eq!(
            binding["subjects"].as_array().map(Vec::len),
            Some(3),
            "{binding}"
        );
        // Our agent registered the add-on: the hub approved its CSR for the default
        // identity, and the hub kubeconfig Secret is in the install namespace.
        api.wait(
            &format!("the add-on's hub kubeconfig reaches {cluster}"),
            || {
                let out = s.spokes[i].kubectl(&[
                    "get",
                    "secret",
                    "hello-hub-kubeconfig",
                    "-n",
                    "hello-ns",
                    "-o",
                    "json",
                ]);
                let secret: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                secret["data"]["kubeconfig"]
                    .is_string()
                    .then_some(())
                    .ok_or(String::from_utf8_lossy(&out.stderr).to_string())
            },
        );
        // The custom signer's certificate, signed by the hub with the template's CA.
        api.wait(
            &format!("the custom signer's certificate reaches {cluster}"),
            || {
                let out = s.spokes[i].kubectl(&[
                    "get",
                    "secret",
                    "hello-example.com-hello-signer-client-cert",
                    "-n",
                    "hello-ns",
                    "-o",
                    "jsonpath={.data.tls\\.crt}",
                ]);
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                let csrs: Vec<Value> = api
                    .list(
                        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                        Some(&format!(
                            "open-cluster-management.io/cluster-name={cluster}"
                        )),
                    )
                    .into_iter()
                    .filter(|c| c["spec"]["signerName"] == SIGNER)
                    .map(|c| {
                        json!([
                            c["metadata"]["name"],
                            c["status"]["conditions"],
                            c["spec"]["usages"]
                        ])
                    })
                    .collect();
                let mca = api
                    .get(&mca_path(cluster, "hello"))
                    .map(|a| a["status"]["registrations"].clone());
                (!text.is_empty()).then_some(text).ok_or(format!(
                    "{} registrations {mca:?} CSRs: {csrs:?}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            },
        );
        // The hook Job is not deployed with the add-on; the add-on holds its finalizer.
        assert!(!work.to_string().contains("hello-cleanup"), "{work}");
        assert!(
            addon["metadata"]["finalizers"]
                .to_string()
                .contains("addon.open-cluster-management.io/addon-pre-delete"),
            "{}",
            addon["metadata"]
        );
        api.wait(
            &format!("{cluster} carries the add-on's feature label"),
            || {
                let c = api
                    .get(&format!("{CLUSTERS}/{cluster}"))
                    .ok_or("no cluster")?;
                (c["metadata"]["labels"]["feature.open-cluster-management.io/addon-hello"]
                    == "available")
                    .then_some(())
                    .ok_or(c["metadata"]["labels"].to_string())
            },
        );
    }
    let status = api.wait("the install progression completes", || {
        let c = api
            .get(&format!("{ADDONS}/clustermanagementaddons/hello"))
            .ok_or("no CMA")?;
        let p = &c["status"]["installProgressions"][0];
        (p["conditions"][0]["reason"] == "Completed")
            .then(|| c["status"].clone())
            .ok_or(c["status"].to_string())
    });
    assert_eq!(
        status["installProgressions"][0]["conditions"][0]["message"],
        "2/2 completed with no errors, 0 failed 0 timeout."
    );
    assert_eq!(
        status["defaultconfigReferences"].as_array().map(Vec::len),
        Some(2)
    );

    // The cluster's add-on annotations are copied to add-ons installed by placements.
    api.merge(
        &format!("{CLUSTERS}/c0"),
        &json!({"metadata": {"annotations": {"addon.open-cluster-management.io/values": "{\"x\":\"y\"}"}}}),
    );
    api.wait(
        "c0's add-on carries the cluster's add-on annotation",
        || {
            let a = api.get(&mca_path("c0", "hello")).ok_or("gone")?;
            (a["metadata"]["annotations"]["addon.open-cluster-management.io/values"]
                == "{\"x\":\"y\"}")
                .then_some(())
                .ok_or(a["metadata"].to_string())
        },
    );

    // A config change rolls out to both clusters.
    api.merge(
        &format!("{ADDONS}/namespaces/{NS}/addondeploymentconfigs/hello-config"),
        &json!({"spec": {"customizedVariables": [{"name": "LEVEL", "value": "info"}]}}),
    );
    for (i, cluster) in ["c0", "c1"].iter().enumerate() {
        api.wait(&format!("the new level reaches {cluster}"), || {
            let args = deployed_args(&s.spokes[i]).unwrap_or_default();
            args.contains("--level=info").then_some(()).ok_or(args)
        });
    }

    // The placement drops c1: its add-on, work and Deployment go.
    api.merge(
        &format!("{CLUSTERS}/c0"),
        &json!({"metadata": {"labels": {"tier": "gold"}}}),
    );
    api.merge(
        &format!("/apis/cluster.open-cluster-management.io/v1beta1/namespaces/{NS}/placements/all"),
        &json!({"spec": {"predicates": [{"requiredClusterSelector": {"labelSelector": {"matchLabels": {"tier": "gold"}}}}]}}),
    );
    api.wait("c1's add-on is removed", || {
        match api.get(&mca_path("c1", "hello")) {
            None => Ok(()),
            Some(a) => Err(a["metadata"].to_string()),
        }
    });
    api.wait("c1's Deployment is removed", || {
        match deployed_args(&s.spokes[1]) {
            None => Ok(()),
            Some(a) => Err(a),
        }
    });
    assert!(api.get(&mca_path("c0", "hello")).is_some());

    // Manual: a user's add-on gets the CMA as owner; once deleted, it stays deleted.
    api.create(
        &format!("{ADDONS}/clustermanagementaddons"),
        &cma("manual", json!({"type": "Manual"}), json!([])),
    );
    for cluster in ["c0", "c1"] {
        api.create(
            &format!("{ADDONS}/namespaces/{cluster}/managedclusteraddons"),
            &json!({"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
                "metadata": {"name": "manual", "namespace": cluster}, "spec": {}}),
        );
        api.wait(&format!("the manual add-on on {cluster} is owned"), || {
            let a = api.get(&mca_path(cluster, "manual")).ok_or("gone")?;
            (a["metadata"]["ownerReferences"][0]["name"] == "manual")
                .then_some(())
                .ok_or(a["metadata"].to_string())
        });
    }
    api.delete(&mca_path("c0", "manual"));
    // Dropping c1's owner makes the manager reconcile the CMA after the deletion: once
    // the owner is back, that pass has run.
    api.merge(
        &mca_path("c1", "manual"),
        &json!({"metadata": {"ownerReferences": null}}),
    );
    api.wait("the manager has reconciled the manual add-on again", || {
        let a = api.get(&mca_path("c1", "manual")).ok_or("gone")?;
        (a["metadata"]["ownerReferences"][0]["name"] == "manual")
            .then_some(())
            .ok_or(a["metadata"].to_string())
    });
    assert!(
        api.get(&mca_path("c0", "manual")).is_none(),
        "a deleted Manual add-on came back"
    );

    // A cluster whose agent stops is Unknown, and so are its add-ons.
    s.agents[1].kill();
    api.wait("c1's add-on is Unknown with its cluster", || {
        let a = api.get(&mca_path("c1", "manual")).ok_or("gone")?;
        let c = api.get(&format!("{CLUSTERS}/c1")).ok_or("no cluster")?;
        let unknown = condition(&a, "Available").is_some_and(|c| c.0 == "Unknown");
        let label = &c["metadata"]["labels"]["feature.open-cluster-management.io/addon-manual"];
        (unknown && label == "unreachable")
            .then_some(())
            .ok_or(format!("{} {label}", conditions_of(&a)))
    });

    // Deleting the CMA removes its add-ons, their works and what they deployed.
    api.delete(&format!("{ADDONS}/clustermanagementaddons/hello"));
    api.wait("c0's add-on is removed with its CMA", || {
        match api.get(&mca_path("c0", "hello")) {
            None => Ok(()),
            Some(a) => Err(a["metadata"].to_string()),
        }
    });
    // The pre-delete hook Job ran on c0 first (its events outlive it in `default`).
    let ran = s.spokes[0].kubectl_ok(&[
        "get",
        "events",
        "-n",
        "default",
        "--field-selector",
        "involvedObject.name=hello-cleanup",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(ran.contains("Completed"), "hook Job events: {ran}");
    api.wait("c0's Deployment is removed", || {
        match deployed_args(&s.spokes[0]) {
            None => Ok(()),
            Some(a) => Err(a),
        }
    });
}
