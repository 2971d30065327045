// Command etcd is upstream etcd's server entry point (go.etcd.io/etcd/server/v3/etcdmain),
// built by scripts/peers.sh for hfkit's test cluster. No upstream code is copied here:
// this module only pins the version (go.mod) and calls etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
