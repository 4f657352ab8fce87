"""The official Python `kubernetes` client against the hub: list, watch and patch.

Usage: client_smoke.py KUBECONFIG. Prints one line per check and exits non-zero on the
first failure. OCM kinds go through CustomObjectsApi (JSON merge patches); core kinds
through CoreV1Api.
"""
import sys
import threading

from kubernetes import client, config, watch

GROUP, VERSION, PLURAL = "cluster.open-cluster-management.io", "v1", "managedclusters"


def main(kubeconfig: str) -> None:
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    custom = client.CustomObjectsApi()

    names = sorted(ns.metadata.name for ns in core.list_namespace().items)
    assert {"default", "kube-system", "kube-public"} <= set(names), names
    print("list namespaces ok")

    # Start a watch from the current list revision, then make changes.
    listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    rv = listed["metadata"]["resourceVersion"]
    seen = []
    done = threading.Event()

    def run_watch() -> None:
        w = watch.Watch()
        for event in w.stream(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                              resource_version=rv, timeout_seconds=20):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) >= 3:
                w.stop()
        done.set()

    thread = threading.Thread(target=run_watch)
    thread.start()
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ManagedCluster",
            "metadata": {"name": "py-cluster"}, "spec": {"hubAcceptsClient": False}}
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    patched = custom.patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, "py-cluster", {"spec": {"hubAcceptsClient": True}})
    assert patched["spec"]["hubAcceptsClient"] is True, patched
    assert patched["metadata"]["generation"] == 2, patched["metadata"]
    print("create and merge patch ok")
    custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, "py-cluster")
    done.wait(30)
    assert seen == [("ADDED", "py-cluster"), ("MODIFIED", "py-cluster"), ("DELETED", "py-cluster")], seen
    print("watch ok")

    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "py-cm"}, "data": {"k": "v"}})
    assert cm.data == {"k": "v"}
    got = core.read_namespaced_config_map("py-cm", "default")
    assert got.metadata.uid == cm.metadata.uid
    core.delete_namespaced_config_map("py-cm", "default")
    print("core create/read/delete ok")


if __name__ == "__main__":
    main(sys.argv[1])
