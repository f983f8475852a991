// The real kube-apiserver, built from the k8s.io/kubernetes Go module (v1.37.2) for the tests'
// throwaway control plane: the same main as k8s.io/kubernetes/cmd/kube-apiserver. go.mod replaces
// every staging module (k8s.io/api, k8s.io/apiserver, ...) by its published v0.37.2, the usual way
// to build Kubernetes as a dependency.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
