package analysis

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/trace"
)

// TestBudgetChain checks the critical chain's shape: four levels deep, but
// always into a wait, whose child says what ended it; links under 1% of
// the boot left out.
func TestBudgetChain(t *testing.T) {
	sp := func(name string, kind trace.Kind, start, end int64, children ...*trace.Span) *trace.Span {
		return &trace.Span{Name: name, Kind: kind, Start: start, End: end, Children: children}
	}
	off := sp("[off-cpu] sleeping, woken by an interrupt (process_timeout)", trace.KindOffCPU, 600, 900)
	deep := sp("deeper", trace.KindFrame, 100, 200, sp("deepest", trace.KindFrame, 100, 200))
	kernel := sp("kernel", trace.KindTrack, 0, 1000,
		sp("kernel_init_freeable", trace.KindPhase, 0, 1000,
			sp("do_basic_setup", trace.KindPhase, 0, 1000,
				sp("ip_auto_config", trace.KindInitcall, 0, 1000,
					sp("helper", trace.KindFrame, 100, 300, deep),
					sp("msleep", trace.KindWait, 500, 950, off),
					sp("tiny", trace.KindFrame, 960, 965)))))
	b, ok := BudgetOf(&trace.Trace{Format: "BOOT_TRACE", Timed: true, Tracks: []trace.Track{{Span: kernel, CPU: -1}}})
	if !ok {
		t.Fatal("no budget")
	}
	var got []string
	for _, l := range b.Chain {
		got = append(got, fmt.Sprint(l.Depth, " ", l.Name))
	}
	want := []string{
		"0 kernel_init_freeable",
		"1 do_basic_setup",
		"2 ip_auto_config",
		"3 helper",
		"3 msleep",
		"4 [off-cpu] sleeping, woken by an interrupt (process_timeout)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
}
