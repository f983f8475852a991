// The real etcd server (v3.7.0, the version k8s.io/kubernetes v1.37.2 pins), built from its Go
// module for the tests' throwaway control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
