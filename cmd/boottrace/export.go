package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/flame"
)

func newExportCmd() *cobra.Command {
	var in inputFlags
	var out, format string
	cmd := &cobra.Command{
		Use:   "export --format chrome [-o FILE] [INPUT]",
		Short: "Write the boot as a timeline for Perfetto, chrome://tracing or speedscope",
		Long: `Write every track of the boot (the VMM's threads, vCPUs, guest tasks, kernel
threads) as a timeline in the Trace Event JSON format, which Perfetto's UI
(ui.perfetto.dev: Open trace file), chrome://tracing and speedscope read: a
process per source (kernel, guest, vmm), a thread per track with its name,
one complete event per span with its kind as category and its source file,
counts and whether it ended in the arguments; the notes (how the clocks
were aligned, and how well) in the metadata. Times are microseconds with
the nanoseconds kept as decimals.
INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace export --format chrome -o boot.json boot.trace
  boottrace export --format chrome console.log > boot.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "chrome" {
				return fmt.Errorf("--format %q: the format boottrace exports is chrome (Trace Event JSON)", format)
			}
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			t, err := in.load(cmd, args)
			if err != nil {
				return err
			}
			return writeTo(cmd, out, func(w io.Writer) error { return flame.WriteChrome(w, t) })
		},
	}
	cmd.Flags().StringVar(&format, "format", "chrome", "the export format: chrome (Trace Event JSON, for Perfetto, chrome://tracing, speedscope)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	in.register(cmd)
	return cmd
}
