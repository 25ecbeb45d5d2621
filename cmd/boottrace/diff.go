package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/trace/analysis"
)

func newDiffCmd() *cobra.Command {
	var in inputFlags
	var asJSON, folded bool
	var top int
	var out string
	cmd := &cobra.Command{
		Use:   "diff BASE NEW",
		Short: "Compare two boots: their wall-clock budgets and the spans that changed",
		Long: `Compare two boots of any input kinds (kernel logs, BOOT_TRACE flushes,
recordings, folded stacks): the boot's wall-clock time and each part of its
budget, then the spans of the critical path whose time changed, matched by
their path (phase; initcall level; initcall; ...) and never by position,
the largest change first. Spans found on one side only are listed as added
or removed. Thread and process ids in names are ignored.

--folded writes flamegraph.pl's differential format ("stack BASE NEW", self
time in nanoseconds): flamegraph.pl draws NEW coloured by the change.

One boot against another is one sample each: under emulation, run-to-run
noise is a few percent, so a small change may be noise.`,
		Example: `  boottrace diff before.log after.log
  boottrace diff --system-map System.map old.trace new.trace
  boottrace diff --folded a.log b.log | flamegraph.pl > diff.svg`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && folded {
				return fmt.Errorf("--json and --folded exclude each other")
			}
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			base, err := in.load(cmd, args[:1])
			if err != nil {
				return err
			}
			next, err := in.load(cmd, args[1:])
			if err != nil {
				return err
			}
			d := analysis.Compare(base, next, top)
			return writeTo(cmd, out, func(w io.Writer) error {
				switch {
				case asJSON:
					return d.WriteJSON(w)
				case folded:
					return d.WriteFolded(w)
				}
				return d.WriteText(w)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	cmd.Flags().BoolVar(&folded, "folded", false, "write differential folded stacks (stack BASE NEW) for flamegraph.pl")
	cmd.Flags().IntVarP(&top, "top", "n", 25, "how many changed spans to list (-1: all)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	in.register(cmd)
	return cmd
}
