package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/analysis"
	"github.com/boottrace/boottrace/trace/capture"
)

func newBenchCmd() *cobra.Command {
	var in inputFlags
	var runs int
	var dir, until, vs string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "bench --runs N -o DIR [--vs COMMAND] -- COMMAND...",
		Short: "Boot N times, keep each console, and compare (A B B A A B ... with --vs)",
		Long: `Run a boot N times — COMMAND is anything that boots a machine and writes its
serial console to standard output (examples/boot.sh, QEMU with -serial
stdio, a Firecracker wrapper) — and keep each console as DIR/a-001.log, ...
A run ends at the end of the guest's BOOT_TRACE flush (a kernel booted with
boottrace=console; examples/boot.sh adds it), at a console line
matching --until, at --timeout (the command is then stopped with its
process group), or when the command exits. No privileges needed.

With --vs "OTHER COMMAND" (run by /bin/sh), the two commands run
interleaved and counterbalanced, A B B A A B B A ..., so that slow drift of
the host and any effect of going first in a pair hit both alike
(DIR/b-001.log, ...), and bench prints the diff of the two groups: medians,
shifts with their intervals and whether they are significant (see
"boottrace diff"). Without --vs it prints each run's boot time and their
spread. A progress line shows run i of N and the last boot time.`,
		Example: `  boottrace bench --runs 10 -o runs -- examples/boot.sh bzImage initrd.gz - 
  boottrace bench --runs 8 -o ab --vs "examples/boot.sh bzImage initrd.gz - ip=..." -- examples/boot.sh bzImage initrd.gz -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runs < 1 {
				return fmt.Errorf("--runs %d: run at least once", runs)
			}
			var re *regexp.Regexp
			if until != "" {
				var err error
				if re, err = regexp.Compile(until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer cancel()
			groups := []struct {
				name    string
				command []string
				runs    []*trace.Trace
			}{{name: "a", command: args}}
			if vs != "" {
				groups = append(groups, struct {
					name    string
					command []string
					runs    []*trace.Trace
				}{name: "b", command: []string{"/bin/sh", "-c", vs}})
			}
			e := cmd.ErrOrStderr()
			for i := 1; i <= runs; i++ {
				for _, g := range runOrder(i, len(groups)) {
					path := filepath.Join(dir, fmt.Sprintf("%s-%03d.log", groups[g].name, i))
					f, err := os.Create(path)
					if err != nil {
						return err
					}
					reason, err := capture.Run(ctx, capture.Options{Command: groups[g].command, Until: re, Timeout: timeout, Stderr: e}, f)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
					if err != nil {
						return fmt.Errorf("run %d (%s): %w", i, groups[g].name, err)
					}
					t, err := in.load(cmd, []string{path})
					if err != nil {
						return fmt.Errorf("run %d (%s): %w", i, path, err)
					}
					groups[g].runs = append(groups[g].runs, t)
					took := "no wall-clock budget"
					if b, ok := analysis.BudgetOf(t); ok {
						took = trace.FormatDuration(b.Total)
					}
					fmt.Fprintf(e, "boottrace: run %d of %d (%s): %s; %s\n", i, runs, groups[g].name, took, reason)
				}
			}
			w := cmd.OutOrStdout()
			if vs == "" {
				d := analysis.CompareRuns(groups[0].runs, groups[0].runs, 0)
				fmt.Fprintf(w, "%d runs of %q: median boot %s\n", runs, args, trace.FormatDuration(d.Base))
				for i, t := range groups[0].runs {
					if b, ok := analysis.BudgetOf(t); ok {
						fmt.Fprintf(w, "  run %3d  %s\n", i+1, trace.FormatDuration(b.Total))
					}
				}
				return nil
			}
			return analysis.CompareRuns(groups[0].runs, groups[1].runs, 25).WriteText(w)
		},
	}
	cmd.Flags().IntVar(&runs, "runs", 5, "how many boots (of each command, with --vs)")
	cmd.Flags().StringVarP(&dir, "output", "o", "runs", "keep the consoles in `DIR`")
	cmd.Flags().StringVar(&vs, "vs", "", "also run this `COMMAND` (by /bin/sh), interleaved, and print the diff")
	cmd.Flags().StringVar(&until, "until", "", "end a boot at the first console line matching this regular expression")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "end a boot (stopping the command) after this long")
	in.register(cmd)
	return cmd
}

// runOrder is the order in which run i (from 1) boots the groups: A B, then
// B A, and so on (A B B A A B ...). Plain alternation (A B A B) puts B
// after A every time: under a drift, or any effect of going first, B would
// differ from A for that alone.
func runOrder(i, groups int) []int {
	order := make([]int, groups)
	for g := range order {
		order[g] = g
		if i%2 == 0 {
			order[g] = groups - 1 - g
		}
	}
	return order
}
