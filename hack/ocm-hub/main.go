// Command ocm-hub runs the hub-side controllers of Open Cluster Management (the module
// open-cluster-management.io/ocm, pinned in go.mod) from one binary, so tests can turn a
// real Kubernetes API server into a real upstream OCM hub without container images:
//
//	ocm-hub registration controller --kubeconfig FILE [flags]   (cluster registration)
//	ocm-hub work manager --kubeconfig FILE [flags]              (ManifestWork hub manager)
//	ocm-hub placement controller --kubeconfig FILE [flags]      (placement scheduling)
//	ocm-hub addon manager --kubeconfig FILE [flags]             (add-on manager)
//
// Each controller is the command upstream's own binaries (cmd/registration, cmd/work,
// cmd/placement, cmd/addon) run in the cluster-manager Deployments; this file only picks
// one of them. Called through a link named registration, work, placement or addon, the
// tool name may be left out. Flags that matter outside a pod: --disable-leader-election,
// --namespace (events; otherwise read from the service-account mount) and --listen
// (health/metrics endpoint; otherwise 0.0.0.0:8443).
package main

import (
	goflag "flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/featuregate"
	"k8s.io/component-base/logs"

	ocmfeature "open-cluster-management.io/api/feature"
	"open-cluster-management.io/ocm/pkg/cmd/hub"
	"open-cluster-management.io/ocm/pkg/features"
	"open-cluster-management.io/ocm/pkg/version"
)

// tool is one upstream binary: the hub command it contributes and the feature gates its
// main registers before parsing flags (none for placement and addon).
type tool struct {
	short   string
	command func() *cobra.Command
	gates   map[featuregate.Feature]featuregate.FeatureSpec
}

var tools = map[string]tool{
	"registration": {"Cluster registration hub controller", hub.NewRegistrationController, ocmfeature.DefaultHubRegistrationFeatureGates},
	"work":         {"ManifestWork hub manager", hub.NewWorkController, ocmfeature.DefaultHubWorkFeatureGates},
	"placement":    {"Placement scheduling controller", hub.NewPlacementController, nil},
	"addon":        {"Add-on manager", hub.NewAddonManager, nil},
}

func main() {
	args := os.Args[1:]
	name := filepath.Base(os.Args[0])
	if _, ok := tools[name]; !ok {
		name = ""
		if len(args) > 0 {
			if _, ok := tools[args[0]]; ok {
				name, args = args[0], args[1:]
			}
		}
	}
	if name == "" {
		fmt.Fprintf(os.Stderr, "usage: %s registration|work|placement|addon <command> [flags]\n", filepath.Base(os.Args[0]))
		fmt.Fprintln(os.Stderr, "  registration controller, work manager, placement controller, addon manager")
		os.Exit(2)
	}
	t := tools[name]

	pflag.CommandLine.SetNormalizeFunc(utilflag.WordSepNormalizeFunc)
	pflag.CommandLine.AddGoFlagSet(goflag.CommandLine)
	logs.AddFlags(pflag.CommandLine)
	logs.InitLogs()
	defer logs.FlushLogs()

	// The gates go onto the shared hub gate before flags are parsed, as upstream's mains do,
	// so --feature-gates knows them; only the chosen tool's gates, like its own binary.
	if t.gates != nil {
		utilruntime.Must(features.HubMutableFeatureGate.Add(t.gates))
		features.HubMutableFeatureGate.AddFlag(pflag.CommandLine)
	}

	root := &cobra.Command{
		Use:   name,
		Short: t.short,
		Run: func(cmd *cobra.Command, _ []string) {
			_ = cmd.Help()
			os.Exit(2)
		},
	}
	if v := version.Get().String(); v != "" {
		root.Version = v
	} else {
		root.Version = "<unknown>"
	}
	root.AddCommand(t.command())
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		logs.FlushLogs()
		os.Exit(1)
	}
}
