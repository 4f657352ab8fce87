//! kube-rs against the hub: typed and dynamic APIs, a watcher with both list strategies
//! (list-then-watch and streaming lists with the initial-events-end bookmark), and a
//! reflector store that follows changes. Without the hub controllers, whose finalizers
//! would turn the ManagedCluster deletes into updates.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

use common::Hub;

async fn client(hub: &Hub) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(hub.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_dynamic_apis_watchers_and_reflectors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = tokio::task::block_in_place(|| {
        let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
        hub.wait_ready();
        hub
    });
    let client = client(&hub).await;

    // Typed: ConfigMaps (k8s-openapi).
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "rs"}, "data": {"a": "1"}}))
            .expect("cm");
    let created = cms
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());

    // A reflector over ConfigMaps sees the existing object, then a change.
    let (reader, writer) = reflector::store();
    let rf = reflector(writer, watcher(cms.clone(), watcher::Config::default()));
    let mut applied = rf.applied_objects().boxed();
    let first = tokio::time::timeout(Duration::from_secs(30), applied.try_next())
        .await
        .expect("event")
        .expect("ok")
        .expect("some");
    assert_eq!(first.metadata.name.as_deref(), Some("rs"));
    cms.patch(
        "rs",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .expect("patch");
    let changed = tokio::time::timeout(Duration::from_secs(30), applied.try_next())
        .await
        .expect("event")
        .expect("ok")
        .expect("some");
    assert_eq!(
        changed
            .data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(reader.state().len(), 1);

    // Dynamic: ManagedClusters, with a streaming-list watcher (sendInitialEvents + bookmark).
    let gvk = GroupVersionKind::gvk("cluster.open-cluster-management.io", "v1", "ManagedCluster");
    let resource = ApiResource::from_gvk(&gvk);
    let clusters: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let mc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
        "metadata": {"name": "rs-cluster"}, "spec": {"hubAcceptsClient": false}
    }))
    .expect("mc");
    clusters
        .create(&PostParams::default(), &mc)
        .await
        .expect("create mc");
    let streaming = watcher::Config::default().streaming_lists();
    let mut events = watcher(clusters.clone(), streaming).boxed();
    let mut initial_done = false;
    let mut saw_cluster = false;
    while !initial_done {
        match tokio::time::timeout(Duration::from_secs(30), events.try_next())
            .await
            .expect("event")
            .expect("ok")
            .expect("some")
        {
            watcher::Event::InitApply(o) => {
                saw_cluster |= o.metadata.name.as_deref() == Some("rs-cluster")
            }
            watcher::Event::InitDone => initial_done = true,
            _ => {}
        }
    }
    assert!(
        saw_cluster,
        "initial events must include the existing cluster"
    );
    clusters
        .delete("rs-cluster", &Default::default())
        .await
        .expect("delete");
    let next = tokio::time::timeout(Duration::from_secs(30), events.try_next())
        .await
        .expect("event")
        .expect("ok")
        .expect("some");
    match next {
        watcher::Event::Delete(o) => assert_eq!(o.metadata.name.as_deref(), Some("rs-cluster")),
        other => panic!("expected the delete, got {other:?}"),
    }
    // Stopping the server waits for the process: not on an async worker.
    tokio::task::block_in_place(move || drop(hub));
}

/// A kube-rs `Controller`: every labelled ConfigMap gets an owned Secret mirroring its
/// data through `Patch::Apply` (server-side apply), kept in step as the ConfigMap changes
/// (watches of both kinds drive it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_owned_objects() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::runtime::controller::{Action, Controller};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let hub = tokio::task::block_in_place(|| {
        let mut hub = Hub::start(dir.path(), &["--no-controllers"]);
        hub.wait_ready();
        hub
    });
    let client = client(&hub).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");

    async fn reconcile(
        cm: Arc<ConfigMap>,
        secrets: Arc<Api<Secret>>,
    ) -> Result<Action, kube::Error> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let data: serde_json::Map<String, serde_json::Value> = cm
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        let owner = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name,
            "uid": cm.metadata.uid, "controller": true});
        let mirror = format!("{name}-mirror");
        // Server-side apply creates or updates the Secret in one call.
        let body = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": mirror, "ownerReferences": [owner]}, "stringData": data});
        secrets
            .patch(
                &mirror,
                &PatchParams::apply("mirror-controller").force(),
                &Patch::Apply(&body),
            )
            .await?;
        Ok(Action::await_change())
    }

    let controller = Controller::new(cms.clone(), watcher::Config::default().labels("app=ctl"))
        .owns(secrets.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(200)),
            Arc::new(secrets.clone()),
        )
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "ctl", "labels": {"app": "ctl"}}, "data": {"colour": "blue"}}),
    )
    .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let mirrored = |want: &'static str| {
        let secrets = secrets.clone();
        async move {
            for _ in 0..300 {
                if let Ok(Some(s)) = secrets.get_opt("ctl-mirror").await
                    && s.data
                        .as_ref()
                        .and_then(|d| d.get("colour"))
                        .map(|v| v.0.as_slice())
                        == Some(want.as_bytes())
                {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the controller never mirrored colour={want}");
        }
    };
    let first = mirrored("blue").await;
    let managers: Vec<String> = first
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "mirror-controller"),
        "{managers:?}"
    );
    let owners = first.metadata.owner_references.unwrap_or_default();
    assert_eq!(owners.first().map(|o| o.kind.as_str()), Some("ConfigMap"));
    cms.patch(
        "ctl",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"colour": "green"}})),
    )
    .await
    .expect("patch");
    mirrored("green").await;
    running.abort();
}
