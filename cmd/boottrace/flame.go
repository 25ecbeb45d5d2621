package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/flame"
)

func newFlameCmd() *cobra.Command {
	var in inputFlags
	var all bool
	var out, title string
	var chart, folded bool
	var width int
	cmd := &cobra.Command{
		Use:   "flame [INPUT]",
		Short: "Write an SVG flamegraph, flamechart (--chart) or folded stacks (--folded)",
		Long: `Write an interactive SVG flamegraph of the boot: stacks are paths of nested
spans (phase; initcall level; initcall; ...), widths are total time, siblings
merged and sorted by name. Click a frame to zoom, press Ctrl-F to search.

--chart keeps time order instead: x is time since the first event, every
span where it happened. --folded writes "frame;frame;frame VALUE" lines
(VALUE = self time in nanoseconds) for flamegraph.pl, inferno or speedscope.

INPUT is a file, "-" for stdin, or nothing for the embedded example.`,
		Example: `  boottrace flame -o boot.svg console.log
  boottrace flame --chart -o chart.svg console.log
  boottrace flame --folded console.log | flamegraph.pl > boot.svg`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if chart && folded {
				return fmt.Errorf("--chart and --folded exclude each other")
			}
			if width < 200 || width > 100000 {
				return fmt.Errorf("--width %d: give a width between 200 and 100000 pixels", width)
			}
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			in.callTree = !chart && !folded
			t, err := in.load(cmd, args)
			if err != nil {
				return err
			}
			t = view(t, all)
			if title == "" {
				title = defaultTitle(args, chart)
			}
			opt := flame.SVGOptions{Title: title, Notes: t.Notes, Width: width}
			if t.Timed {
				opt.Unit = "ns"
			}
			return writeTo(cmd, out, func(w io.Writer) error {
				switch {
				case folded:
					return flame.WriteFolded(w, flame.Merge(t))
				case chart:
					return flame.WriteFlamechart(w, t, opt)
				}
				return flame.WriteFlamegraph(w, t, opt)
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	cmd.Flags().BoolVar(&chart, "chart", false, "write a time-ordered flamechart instead of a merged flamegraph")
	cmd.Flags().BoolVar(&folded, "folded", false, "write folded stacks (self time in ns) instead of SVG")
	cmd.Flags().StringVar(&title, "title", "", "title of the SVG (default: from INPUT)")
	cmd.Flags().IntVar(&width, "width", 1200, "width of the SVG in pixels")
	cmd.Flags().BoolVar(&all, "all", false, "show every track's time (the VMM's threads, helpers, other CPUs) instead of the boot's critical path")
	in.register(cmd)
	return cmd
}

func defaultTitle(args []string, chart bool) string {
	what := "Boot flamegraph"
	if chart {
		what = "Boot flamechart"
	}
	if len(args) == 0 {
		return what + ": embedded example"
	}
	if args[0] == "-" {
		return what
	}
	return what + ": " + filepath.Base(args[0])
}
