package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/trace/analysis"
)

func newSummaryCmd() *cobra.Command {
	var in inputFlags
	var asJSON bool
	var top int
	cmd := &cobra.Command{
		Use:   "summary [INPUT...]",
		Short: "Print where the boot's wall clock went: budget, critical chain, phases, top spans, gaps",
		Long: `Print, in the manner of systemd-analyze time and critical-chain, where the
boot's wall-clock time went: its budget in one line (parts that add up to
the boot's time), the critical chain (what the boot waited on), then the
phases with their durations (early boot, initcalls and their levels, late
init, userspace; or the kernel's own), the spans of the critical path that
took the most time by self and by total time, and the longest gaps where
the input says nothing. Shares are of the boot's wall-clock time.

With several INPUTs (runs of one boot), print their spread instead: each
run's boot time, min, median, p90 and max, runs that stand out, and the
spread of every span of the critical path, flagging spans not in every run.

INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace summary console.log
  dmesg | boottrace summary -
  boottrace summary --json console.log | jq .budget
  boottrace summary runs/a-*.log`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				runs, err := in.loadAll(cmd, args)
				if err != nil {
					return err
				}
				r := analysis.SummarizeRuns(args, runs, top)
				return writeTo(cmd, "", func(w io.Writer) error {
					if asJSON {
						return r.WriteJSON(w)
					}
					return r.WriteText(w)
				})
			}
			t, err := in.load(cmd, args)
			if err != nil {
				return err
			}
			s := analysis.Summarize(t, top)
			return writeTo(cmd, "", func(w io.Writer) error {
				if asJSON {
					return s.WriteJSON(w)
				}
				return s.WriteText(w)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	cmd.Flags().IntVarP(&top, "top", "n", 15, "how many spans and gaps to list")
	in.register(cmd)
	return cmd
}
