package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/flame"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/analysis"
)

// exitRegressed is diff's exit status when --max-regression is exceeded:
// apart from 1, the status of every error, so CI tells a slower boot from
// a broken run.
const exitRegressed = 3

// regressedError is what diff returns when the boot regressed.
type regressedError struct{ msg string }

func (e *regressedError) Error() string { return e.msg }

func newDiffCmd() *cobra.Command {
	var in inputFlags
	var asJSON, folded, svg bool
	var top int
	var out, maxReg, junit string
	cmd := &cobra.Command{
		Use:   "diff BASE NEW | diff BASE... -- NEW...",
		Short: "Compare boots: their wall-clock budgets and the spans that changed, real or noise",
		Long: `Compare two boots, or two groups of boots, of any input kinds (kernel logs,
BOOT_TRACE flushes, recordings, folded stacks): the boot's wall-clock time and
each part of its budget, then the spans of the critical path whose time
changed, matched by their path (phase; initcall level; initcall; ...) and
never by position, the largest change first. Spans found on one side only
are listed as added or removed. Thread and process ids in names are ignored.

With several runs a side (BASE... -- NEW...), values are medians, and every
change comes with the Hodges–Lehmann estimate of the shift, its 95% interval
and the p-value of a Mann–Whitney U test (no assumption that the noise is
normal); "*" marks a change significant at p < 0.05 and at least 1% of BASE's
median (and 10 µs): smaller shifts are never called changes, so the same
boot on both sides (A/A) reports none. One boot against another
is one sample each: under emulation, run-to-run noise is a few percent.

--max-regression 5% (or 2ms) makes diff a CI gate: it exits with status 3
(not 1, the status of errors) when the boot's total or any span regressed
significantly beyond the limit, naming them; --junit FILE also writes the
verdict as JUnit XML. --folded writes flamegraph.pl's differential format
("stack BASE NEW", self time in nanoseconds).`,
		Example: `  boottrace diff before.log after.log
  boottrace diff runs/a/*.log -- runs/b/*.log
  boottrace diff --max-regression 5% --junit boot.xml base/*.trace -- new/*.trace
  boottrace diff --folded a.log b.log | flamegraph.pl > diff.svg`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 && len(args) != 2 {
				return errors.New("give BASE and NEW, or BASE... -- NEW...")
			}
			if dash == 0 || dash == len(args) {
				return errors.New("give at least one boot on each side of --")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if btoi(asJSON)+btoi(folded)+btoi(svg) > 1 {
				return fmt.Errorf("--json, --folded and --svg exclude each other")
			}
			var limit analysis.Limit
			if maxReg != "" {
				var err error
				if limit, err = analysis.ParseLimit(maxReg); err != nil {
					return fmt.Errorf("--max-regression: %w", err)
				}
			}
			if err := checkOutput(out, inputArgs(args)...); err != nil {
				return err
			}
			dash := cmd.ArgsLenAtDash()
			if dash < 0 {
				dash = 1
			}
			base, err := in.loadAll(cmd, args[:dash])
			if err != nil {
				return err
			}
			next, err := in.loadAll(cmd, args[dash:])
			if err != nil {
				return err
			}
			d := analysis.CompareRuns(base, next, top)
			if err := writeTo(cmd, out, func(w io.Writer) error {
				switch {
				case asJSON:
					return d.WriteJSON(w)
				case folded:
					return d.WriteFolded(w)
				case svg:
					shape := analysis.Shape(next[0])
					opt := flame.SVGOptions{Title: fmt.Sprintf("%s → %s", filepath.Base(args[0]), filepath.Base(args[dash])), Notes: d.Notes}
					if shape.Timed {
						opt.Unit = "ns"
					}
					return flame.WriteDiffFlamegraph(w, shape, d.Totals, opt)
				}
				return d.WriteText(w)
			}); err != nil {
				return err
			}
			if maxReg == "" {
				return nil
			}
			regs := d.Regressions(limit)
			if junit != "" {
				if err := writeTo(cmd, junit, func(w io.Writer) error { return analysis.WriteJUnit(w, maxReg, regs) }); err != nil {
					return err
				}
			}
			if len(regs) == 0 {
				return nil
			}
			var names []string
			for i, r := range regs {
				if i == 10 {
					names = append(names, fmt.Sprintf("and %d more", len(regs)-10))
					break
				}
				names = append(names, fmt.Sprintf("%s (+%s)", r.Path, trace.FormatDuration(r.Shift)))
			}
			return &regressedError{fmt.Sprintf("regressed beyond %s: %s", maxReg, strings.Join(names, "; "))}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	cmd.Flags().BoolVar(&folded, "folded", false, "write differential folded stacks (stack BASE NEW) for flamegraph.pl")
	cmd.Flags().BoolVar(&svg, "svg", false, "write a differential flamegraph: NEW's shape, red where slower, blue where faster")
	cmd.Flags().IntVarP(&top, "top", "n", 25, "how many changed spans to list (-1: all)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	cmd.Flags().StringVar(&maxReg, "max-regression", "", "exit with status 3 when the boot or a span regressed (significantly, with several runs) beyond this: `LIMIT` such as 5% or 2ms")
	cmd.Flags().StringVar(&junit, "junit", "", "with --max-regression, write the verdict as JUnit XML to `FILE`")
	in.register(cmd)
	return cmd
}

// exitStatus is the process's status for an error Execute returned.
func exitStatus(err error) int {
	var reg *regressedError
	if errors.As(err, &reg) {
		return exitRegressed
	}
	return 1
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
