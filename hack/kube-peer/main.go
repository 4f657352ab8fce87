// Command kube-peer is a real Kubernetes control plane for the project's tests, built as
// one multi-call binary so the four Go programs share one build and one file on disk:
//
//	kube-peer apiserver ARGS...           kube-apiserver
//	kube-peer controller-manager ARGS...  kube-controller-manager
//	kube-peer scheduler ARGS...           kube-scheduler
//	kube-peer kwok ARGS...                kwok (simulated nodes and pod status)
//	kube-peer up --dir DIR [...]          all of the above plus etcd, on loopback (up.go)
//
// The components are the upstream commands, called through their libraries; nothing of
// theirs is copied here.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones without the host's zoneinfo

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the build info metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = `usage: kube-peer COMMAND [ARGS...]

commands:
  up --dir DIR [--nodes N] [--etcd PATH] [--port N] [--timeout D] [--remove-dir]
                      start etcd and every component below on loopback, create N fake
                      nodes, write DIR/admin.kubeconfig and print one ready line
  apiserver           kube-apiserver
  controller-manager  kube-controller-manager
  scheduler           kube-scheduler
  kwok                kwok (fake nodes, pod status)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	command := os.Args[1]
	// The components read their flags from os.Args themselves (cobra, and kwok's config
	// flags before its command even exists): show each one a command line of its own.
	os.Args = append([]string{filepath.Base(os.Args[0]) + "-" + command}, os.Args[2:]...)
	switch command {
	case "up":
		os.Exit(runUp(os.Args[1:]))
	case "apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kwok":
		os.Exit(runKwok())
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "kube-peer: unknown command %q\n\n%s", command, usage)
		os.Exit(2)
	}
}
