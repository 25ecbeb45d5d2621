package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/flame"
	"github.com/boottrace/boottrace/trace"
)

func newExportCmd() *cobra.Command {
	var in inputFlags
	var out, format string
	cmd := &cobra.Command{
		Use:   "export [--format chrome|perfetto] [-o FILE] [INPUT]",
		Short: "Write the boot as a timeline for Perfetto, chrome://tracing or speedscope",
		Long: `Write every track of the boot (the VMM's threads, vCPUs, guest tasks, kernel
threads) as a timeline: a process per source (kernel, guest, vmm), a thread
per track with its name, each span with its kind as category and its source
file, counts and whether it ended as arguments; the notes (how the clocks
were aligned, and how well) with it.

--format chrome (the default) is the Trace Event JSON format, which
Perfetto's UI (ui.perfetto.dev: Open trace file), chrome://tracing and
speedscope read; times are microseconds with the nanoseconds kept as
decimals. --format perfetto is Perfetto's own protobuf format (TrackEvent
slices on process and thread tracks, the notes as annotations of an instant
on a track of their own), for Perfetto's UI and trace processor; times are
nanoseconds from the boot's start.
INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace export -o boot.json boot.trace
  boottrace export --format perfetto -o boot.perfetto-trace boot.trace
  boottrace export console.log > boot.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			write := map[string]func(io.Writer, *trace.Trace) error{"chrome": flame.WriteChrome, "perfetto": flame.WritePerfetto}[format]
			if write == nil {
				return fmt.Errorf("--format %q: boottrace exports chrome (Trace Event JSON) or perfetto (Perfetto's protobuf)", format)
			}
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			t, err := in.load(cmd, args)
			if err != nil {
				return err
			}
			return writeTo(cmd, out, func(w io.Writer) error { return write(w, t) })
		},
	}
	cmd.Flags().StringVar(&format, "format", "chrome", "the export format: chrome (Trace Event JSON, for Perfetto, chrome://tracing, speedscope) or perfetto (Perfetto's protobuf)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	in.register(cmd)
	return cmd
}
