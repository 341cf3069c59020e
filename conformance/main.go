// Command argo-harness runs Argo Workflows' own Go code on flowpack's manifests:
// "validate" applies Argo's validator (and, for v4, the full CRD's schema and CEL rules the
// Kubernetes API server applies), "run" drives Argo's own workflow controller over fake
// Kubernetes clients and executes every pod it creates as a real process on this machine.
package main

import (
	"fmt"
	"os"
)

// Set at build time with -ldflags -X (see the Makefile target argo-harness).
var (
	argoVersion = "unknown"
	crdSubdir   = ""
)

const usage = `usage:
  argo-harness validate [--json] [--serve] FILE...
  argo-harness run FILE [--store DIR] [--timeout SECONDS] [--stuck-after SECONDS] [--log FILE] [--keep] [--stream]
  argo-harness version`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "validate":
		os.Exit(cmdValidate(os.Args[2:]))
	case "run":
		os.Exit(cmdRun(os.Args[2:]))
	case "version":
		fmt.Println(argoVersion)
	case podProcessCommand:
		os.Exit(podProcessMain(os.Args[2:]))
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
