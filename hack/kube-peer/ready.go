package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// poll calls check every 100 ms until it holds, and logs how long after start that was.
func poll(ctx context.Context, start time.Time, what string, check func() (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := check()
		if ok {
			logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitAPIServer returns once the apiserver answers /readyz.
func waitAPIServer(ctx context.Context, cs *kubernetes.Clientset, start time.Time) error {
	return poll(ctx, start, "the apiserver's /readyz", func() (bool, error) {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, err
	})
}

// waitCluster returns once the cluster is usable: the fake nodes exist and kwok reports
// them Ready, and the controller-manager has created the default ServiceAccount (pods
// cannot be created in a namespace before it exists).
func waitCluster(ctx context.Context, cs *kubernetes.Clientset, start time.Time, nodes int) error {
	for i := range nodes {
		node := fakeNode(nodeName(i))
		if err := poll(ctx, start, "node "+node.Name+" created", func() (bool, error) {
			_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
			return err == nil || apierrors.IsAlreadyExists(err), err
		}); err != nil {
			return err
		}
	}
	if err := poll(ctx, start, fmt.Sprintf("%d nodes Ready", nodes), func() (bool, error) {
		for i := range nodes {
			n, err := cs.CoreV1().Nodes().Get(ctx, nodeName(i), metav1.GetOptions{})
			if err != nil || !nodeReady(n) {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	return poll(ctx, start, "the default ServiceAccount (controller-manager)", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
}

func adminClient(pki *pkiFiles, server string) (*kubernetes.Clientset, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(pki.path(name)) }
	ca, err := read("ca.crt")
	if err != nil {
		return nil, err
	}
	cert, err := read("admin.crt")
	if err != nil {
		return nil, err
	}
	key, err := read("admin.key")
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(&rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca, CertData: cert, KeyData: key},
		Timeout:         5 * time.Second,
		QPS:             100,
		Burst:           200,
		UserAgent:       "kube-peer-up",
	})
}

func nodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// fakeNode is a node as a kubelet of a mid-sized machine would register it, marked for
// kwok (which fills in conditions, addresses and nodeInfo, keeping these resources).
func fakeNode(name string) *corev1.Node {
	res := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse(cpu),
			corev1.ResourceMemory:           resource.MustParse(mem),
			corev1.ResourcePods:             resource.MustParse("110"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"beta.kubernetes.io/os":         "linux",
				"beta.kubernetes.io/arch":       "amd64",
				"node-role.kubernetes.io/agent": "",
				"type":                          "kwok",
			},
			Annotations: map[string]string{
				kwokNodeAnnotation:             "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    res("8", "32Gi"),
			Allocatable: res("7800m", "31Gi"),
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    "amd64",
				OperatingSystem: "linux",
			},
		},
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
