package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

// runKwok runs the kwok controller with the arguments in os.Args[1:]. kwok's own flags
// (--config, the log flags) live in a flag set that is parsed before its cobra command is
// built, because the config file decides the command's defaults.
func runKwok() int {
	// Cobra adds pflag.CommandLine to every root command. Here it holds the flags the
	// Kubernetes packages linked into this binary register for their own commands,
	// among them a non-boolean --version that clashes with the one cobra gives kwok.
	pflag.CommandLine = pflag.NewFlagSet(os.Args[0], pflag.ExitOnError)

	global := pflag.NewFlagSet("kwok", pflag.ContinueOnError)
	global.ParseErrorsAllowlist.UnknownFlags = true
	global.Usage = func() {}

	ctx := signals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, global)
	ctx, err := kwokconfig.InitFlags(ctx, global)
	if err != nil {
		logger.Error("kwok: reading --config", "err", err)
		return 1
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(global)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok exited", "err", err)
		return 1
	}
	return 0
}

// kwokStages is the kwok config file `up` hands to kwok: the stages kwok ships as its
// "fast" profile, taken from its own packages. Nodes become Ready at once and then renew a
// Lease in kube-node-lease (so the node lifecycle controller keeps them Ready); pods bound
// to a managed node become Running and Ready, pods owned by a Job then Succeeded, and
// deleted pods go away without a kubelet.
func kwokStages() string {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	var b strings.Builder
	for _, d := range docs {
		b.WriteString("---\n")
		b.WriteString(strings.TrimSpace(d))
		b.WriteString("\n")
	}
	return b.String()
}

// writeKwokConfig writes kwokStages to path.
func writeKwokConfig(path string) error {
	return os.WriteFile(path, []byte(kwokStages()), 0o644)
}
