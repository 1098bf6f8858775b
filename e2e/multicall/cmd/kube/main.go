// Command kube is one multi-call binary for the pinned Kubernetes release: kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy and the project's
// embedded etcd in one link (an experiment of issue 16: does one link cut the cold build time
// and the disk of seven separately linked binaries? docs in ../../README.md).
//
// It runs the component named by its own name (a symlink kube-apiserver -> kube), or by its first
// argument (`kube kubectl version --client`). etcd.go is the control plane's cmd/etcd/main.go
// (a symlink, so the two cannot drift): its main() runs etcd; every other component runs here,
// in init, which Go runs before main, and exits.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// The components, by the name each is installed under: the same entry points as the separate
// mains in ../../cluster/components/cmd and ../../node/components/cmd.
var components = map[string]func() int{
	"kube-apiserver":          func() int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func() int { return cli.Run(controllermanager.NewControllerManagerCommand()) },
	"kube-scheduler":          func() int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kubelet":                 func() int { return cli.Run(kubelet.NewKubeletCommand(context.Background())) },
	"kube-proxy":              func() int { return cli.Run(proxy.NewProxyCommand()) },
	"kubectl": func() int {
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	},
}

func init() {
	name := filepath.Base(os.Args[0])
	if _, known := components[name]; !known && name != "etcd" && len(os.Args) > 1 {
		// `kube <component> args...`: the component sees itself as os.Args[0].
		name = os.Args[1]
		os.Args = os.Args[1:]
	}
	if name == "etcd" {
		return // etcd.go's main
	}
	run, known := components[name]
	if !known {
		names := []string{"etcd"}
		for n := range components {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [args...], or a symlink named COMPONENT; components: %v\n", names)
		os.Exit(2)
	}
	os.Exit(run())
}
