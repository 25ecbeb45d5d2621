package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/flame"
)

func newPprofCmd() *cobra.Command {
	var in inputFlags
	var all bool
	var out string
	cmd := &cobra.Command{
		Use:   "pprof [INPUT]",
		Short: "Write a gzipped pprof profile (wall time in nanoseconds)",
		Long: `Write the boot as a gzipped pprof profile: one sample per span with its
self time, the stack being the path of nested spans. Sample type is wall
time in nanoseconds; labels tell the source (kernel, guest, vmm, host).
Open it with "go tool pprof" (-top, -web, -http=:8080) or any pprof viewer.

INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace pprof -o boot.pb.gz console.log
  go tool pprof -top boot.pb.gz
  go tool pprof -http=localhost:8080 boot.pb.gz`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = "boot.pb.gz"
			}
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			t, err := in.load(cmd, args)
			if err != nil {
				return err
			}
			t = view(t, all)
			return writeTo(cmd, out, func(w io.Writer) error { return flame.WritePprof(w, t) })
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` (default boot.pb.gz; \"-\" for stdout)")
	cmd.Flags().BoolVar(&all, "all", false, "show every track's time (the VMM's threads, helpers, other CPUs) instead of the boot's critical path")
	in.register(cmd)
	return cmd
}
