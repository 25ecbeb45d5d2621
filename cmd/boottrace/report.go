package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/flame"
)

func newReportCmd() *cobra.Command {
	var in inputFlags
	var out, title string
	cmd := &cobra.Command{
		Use:   "report [INPUT...] [-o FILE]",
		Short: "Write one self-contained HTML page: budget, flamegraph, flamechart, tables, notes",
		Long: `Write one HTML file that opens offline and alone (no network request, no other
file) to share a boot analysis: the wall-clock budget and critical chain,
the flamegraph of the critical path and the flamechart of every track
(interactive: zoom, search), the top spans and the longest gaps as sortable
tables, and the notes. With several inputs, a section for each and its
diff against the first. Every name is shown as text: guest output cannot
inject markup or script.
INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace report -o boot.html boot.trace
  boottrace report -o compare.html before.log after.log`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				names = []string{""}
			}
			var inputs []flame.ReportInput
			for _, n := range names {
				var a []string
				if n != "" {
					a = []string{n}
				}
				t, err := in.load(cmd, a)
				if err != nil {
					return err
				}
				name := filepath.Base(n)
				if n == "" {
					name = "embedded example"
				}
				inputs = append(inputs, flame.ReportInput{Name: name, Trace: t})
			}
			if title == "" {
				title = "Boot report: " + inputs[0].Name
				if len(inputs) > 1 {
					title = fmt.Sprintf("Boot report: %d boots", len(inputs))
				}
			}
			return writeTo(cmd, out, func(w io.Writer) error { return flame.WriteReport(w, title, inputs) })
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "boot.html", "write to `FILE` (\"-\" for stdout)")
	cmd.Flags().StringVar(&title, "title", "", "the page's title (default: from INPUT)")
	in.register(cmd)
	return cmd
}
