// Command kindsh writes bpf/kinds.h from the trace file's kinds (go
// generate ./ebpf runs it before bpf2go, which compiles the programs that
// include it).
package main

import (
	"fmt"
	"os"

	"github.com/boottrace/boottrace/trace/tracefile"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kindsh OUT.h")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(tracefile.CHeader()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "kindsh:", err)
		os.Exit(1)
	}
}
