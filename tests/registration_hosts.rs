//! Registration across hosts: the hub and two agent hosts are network namespaces on a
//! private bridge (`common::netns`), each agent host with its own real Kubernetes managed
//! cluster on its loopback. Join, accept and Available; a hub restart; an agent restart;
//! an agent host's link cut (Unknown after 5 × lease, the other host unaffected) and
//! restored (Available again); a ManifestWork reaching only its own cluster. Every address
//! is reached from inside a namespace only.

mod common;

use common::netns::{Lab, available, create, hub_url, raw, spoke_on};
use common::ocm::{self, Agent};
use common::{Hub, wait_until};

#[test]
fn join_restart_and_link_cut_across_hosts() {
    if !Lab::usable("join_restart_and_link_cut_across_hosts")
        || !common::kube_peer::available("join_restart_and_link_cut_across_hosts")
    {
        return;
    }
    let lab = Lab::new("mcpreg");
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub_host, a, b) = (lab.host("hub"), lab.host("a"), lab.host("b"));
    let mut hub = Hub::start_in(hub_host, &dir.path().join("hub"), &[]);
    hub.wait_ready();
    let url = hub_url(&hub, hub_host, "");
    let token = ocm::create_token_in(Some(hub_host.ns()), &hub, None, "1h");
    let spoke_a = spoke_on(a, &dir.path().join("spoke-a"));
    let spoke_b = spoke_on(b, &dir.path().join("spoke-b"));
    let fast = [
        "--lease-duration-seconds",
        "1",
        "--status-sync-seconds",
        "1",
    ];
    let mut agent_a = Agent::start_in(
        Some(a.ns()),
        "host-a",
        &url,
        &token,
        &spoke_a,
        &dir.path().join("agent-a"),
        &fast,
    );
    let _agent_b = Agent::start_in(
        Some(b.ns()),
        "host-b",
        &url,
        &token,
        &spoke_b,
        &dir.path().join("agent-b"),
        &fast,
    );
    wait_until("both clusters registered", || {
        raw(&hub, hub_host, &ocm::cluster_path("host-a")).is_some()
            && raw(&hub, hub_host, &ocm::cluster_path("host-b")).is_some()
    });
    for c in ["host-a", "host-b"] {
        let out = ocm::accept_in(Some(hub_host.ns()), &hub, c);
        assert!(out.contains("accepted"), "{out}");
    }
    let both = |hub: &Hub| {
        available(hub, hub_host, "host-a").as_deref() == Some("True")
            && available(hub, hub_host, "host-b").as_deref() == Some("True")
    };
    wait_until("both Available", || both(&hub));
    let mc = raw(&hub, hub_host, &ocm::cluster_path("host-a")).expect("mc");
    assert_eq!(
        mc["status"]["capacity"]["cpu"], "16",
        "two kwok nodes of 8 CPUs"
    );

    // A ManifestWork for host-a reaches host-a's cluster only.
    let work = r#"{"apiVersion":"work.open-cluster-management.io/v1","kind":"ManifestWork","metadata":{"name":"hello","namespace":"host-a"},"spec":{"workload":{"manifests":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hello","namespace":"default"},"data":{"from":"hub"}}]}}}"#;
    create(&hub, hub_host, work);
    let hello = "/api/v1/namespaces/default/configmaps/hello";
    wait_until("host-a's cluster has the work's ConfigMap", || {
        raw(&spoke_a, a, hello).is_some_and(|c| c["data"]["from"] == "hub")
    });
    wait_until("the work reports Applied", || {
        raw(
            &hub,
            hub_host,
            "/apis/work.open-cluster-management.io/v1/namespaces/host-a/manifestworks/hello",
        )
        .and_then(|w| ocm::condition(&w, "Applied"))
        .is_some_and(|c| c.0 == "True")
    });
    assert!(
        raw(&spoke_b, b, hello).is_none(),
        "host-b's cluster must not get host-a's work"
    );

    // Hub restart: same address, the agents resume by themselves.
    hub.terminate();
    let mut hub = Hub::start_in(hub_host, &dir.path().join("hub"), &[]);
    hub.wait_ready();
    let lease = "/apis/coordination.k8s.io/v1/namespaces/host-b/leases/managed-cluster-lease";
    let renewed = |hub: &Hub| {
        raw(hub, hub_host, lease).and_then(|l| l["spec"]["renewTime"].as_str().map(str::to_string))
    };
    let before = renewed(&hub);
    wait_until("host-b renews after the hub restart", || {
        renewed(&hub) != before
    });
    wait_until("both Available after the hub restart", || both(&hub));

    // Agent restart.
    agent_a.restart();
    let lease_a = "/apis/coordination.k8s.io/v1/namespaces/host-a/leases/managed-cluster-lease";
    let renewed_a = |hub: &Hub| {
        raw(hub, hub_host, lease_a)
            .and_then(|l| l["spec"]["renewTime"].as_str().map(str::to_string))
    };
    let before = renewed_a(&hub);
    wait_until("host-a renews after its restart", || {
        renewed_a(&hub) != before
    });

    // Cut host a's link: Unknown after 5 × 1 s; host b stays Available.
    lab.cut("a");
    wait_until("host-a becomes Unknown", || {
        available(&hub, hub_host, "host-a").as_deref() == Some("Unknown")
    });
    assert_eq!(available(&hub, hub_host, "host-b").as_deref(), Some("True"));
    lab.restore("a");
    wait_until("host-a is Available again", || both(&hub));
}
