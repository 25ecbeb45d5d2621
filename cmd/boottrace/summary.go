package main

import (
	"io"

	"github.com/boottrace/boottrace/trace/analysis"
	"github.com/spf13/cobra"
)

func newSummaryCmd() *cobra.Command {
	var in inputFlags
	var asJSON bool
	var top int
	cmd := &cobra.Command{
		Use:   "summary [INPUT]",
		Short: "Print the boot's phases, the top spans and the longest silent gaps",
		Long: `Print the boot's phases with their durations (early boot, initcalls and their
levels, late init, userspace), the spans that took the most time by self and
by total time, and the longest gaps where the log says nothing.

INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace summary console.log
  dmesg | boottrace summary -
  boottrace summary --json console.log | jq .phases`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
