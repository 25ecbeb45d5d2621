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
self time, the stack being the path of nested spans. The default sample
type, "wall" (nanoseconds), is the boot's critical path: its total is the
boot's wall-clock time. "all_tracks_wall" holds every track's time (the
VMM's threads, helpers, other CPUs: "go tool pprof
-sample_index=all_tracks_wall"), and counted host events (page faults)
have sample types of their own. Labels tell the source (kernel, guest,
vmm, host), the track and the span's kind ("-tagfocus kind=wait").
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
			path := view(t, all)
			if path == t {
				return writeTo(cmd, out, func(w io.Writer) error { return flame.WritePprof(w, t) })
			}
			// The critical path by default, every track beside it.
			p := flame.ProfileViews(path, flame.View{Name: flame.AllTracks, Trace: t})
			return writeTo(cmd, out, func(w io.Writer) error { return p.Write(w) })
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` (default boot.pb.gz; \"-\" for stdout)")
	cmd.Flags().BoolVar(&all, "all", false, "only every track's time (the VMM's threads, helpers, other CPUs), without the boot's critical path")
	in.register(cmd)
	return cmd
}
