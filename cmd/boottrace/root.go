package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "boottrace",
		Short: "Show where every microsecond of a Linux boot goes",
		Long: `boottrace turns the record of a Linux boot into a profile: where the time
went between power-on (or launching the VMM) and init running.

It reads, detected from content (plain or gzipped):
  - a serial console or dmesg log with printk timestamps ("[    1.234567] ...").
    Boot with "initcall_debug loglevel=8" to get one span per initcall.
  - the BOOT_TRACE lines a kernel with boottrace's patch prints at the end of
    its boot ("boottrace patch"): every phase, initcall and wait, in TSC cycles.
  - trace files of "boottrace record": the VMM's KVM ioctls, exits, page
    faults and scheduling, on one timeline with the guest's BOOT_TRACE.
  - folded stacks ("frame;frame;frame VALUE"), as written by flamegraph.pl's
    stackcollapse scripts, inferno or "boottrace flame --folded".

and says where the boot's wall-clock time went (summary: the budget and the
critical chain), draws it (flame: flamegraphs and time-ordered flamecharts;
pprof; export: a timeline for Perfetto; report: one HTML page), and compares
boots, real change or noise (diff, bench).
Without INPUT, every command reads the example boot shipped inside boottrace.`,
		Example: `  boottrace flame -o boot.svg console.log       # flamegraph
  boottrace flame --chart -o chart.svg console.log   # flamechart, x = time
  boottrace pprof -o boot.pb.gz console.log && go tool pprof -top boot.pb.gz
  dmesg | boottrace summary -                     # budget, critical chain, phases, top spans, gaps
  boottrace diff before.log after.log             # what changed
  boottrace report -o boot.html boot.trace        # one page to share
  sudo boottrace record -o boot.trace -- qemu-system-x86_64 -M microvm ... -serial stdio`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newFlameCmd(), newPprofCmd(), newSummaryCmd(), newPatchCmd(), newRecordCmd(), newDiffCmd(), newExportCmd(), newBenchCmd(), newReportCmd())
	return root
}
