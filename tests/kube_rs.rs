//! kube-rs against the hub: typed and dynamic APIs, a watcher with both list strategies
//! (list-then-watch and streaming lists with the initial-events-end bookmark), and a
//! reflector store that follows changes.

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
        let mut hub = Hub::start(dir.path(), &[]);
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
