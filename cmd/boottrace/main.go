// Command boottrace shows where the time of a Linux boot went: it reads a
// serial console or dmesg log (or folded stacks) and writes flamegraphs,
// flamecharts, pprof profiles and summaries.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "boottrace:", err)
		os.Exit(exitStatus(err))
	}
}
