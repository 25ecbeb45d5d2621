package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boottrace/boottrace/ebpf"
	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/input"
)

// TestRecordGuestStacks samples the minivmm's -stacks guest from the host:
// code and stack at kernel-like virtual addresses behind real 4-level page
// tables, main calling a → b → spin (2n iterations) and c → spin (n) with
// frame pointers, for one second of the guest's TSC (emulated here, native
// on a VMX or SVM host). The walk is real: RIP, RBP and CR3 from KVM's
// vCPU state, every frame read through the guest's page tables and KVM's
// memory slots. Both stacks must show, symbolized from the guest's
// System.map, in the proportion of their instructions (two to one) within
// a tolerance: with the guest's BOOT_TRACE flush under its span
// ("guest_loop", from the guest's first record to its last), and without
// one on a track of the vCPU thread's own.
func TestRecordGuestStacks(t *testing.T) {
	vmm := buildMiniVMM(t)
	symbols := filepath.Join(t.TempDir(), "System.map")
	if out, err := exec.Command(vmm, "-stacks", "1", "-symbols", symbols, "-no-flush").CombinedOutput(); err != nil {
		t.Fatalf("minivmm -stacks: %v\n%s", err, out)
	}
	f, err := os.Open(symbols)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := symbolize.ReadSystemMap(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		flush bool
		root  string // the stacks' parent
	}{
		{"with BOOT_TRACE", true, "guest_loop"},
		{"without BOOT_TRACE", false, "guest stacks (vcpu thread "},
	} {
		t.Run(c.name, func(t *testing.T) {
			var file bytes.Buffer
			cmd := []string{vmm, "-stacks", "1000", "-spin", "3000"}
			if !c.flush {
				cmd = append(cmd, "-no-flush")
			}
			opt := Options{Trace: &file, Console: io.Discard, SystemMap: symbols, SamplePeriod: 200 * time.Microsecond, Command: cmd}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := Record(ctx, opt)
			if errors.Is(err, ebpf.ErrNoSampler) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, why := range res.Missing {
				if strings.Contains(k, "cpu-clock") {
					t.Errorf("the sampler's timer was not opened: %s", why)
				}
			}
			tr, err := input.Read(&file, input.ReadOptions{Symbols: syms})
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(tr.Notes, "\n")
			// Samples by stack below the parent (pprof's guest_samples): a
			// count, so a vCPU thread preempted on a busy host, whose
			// sample then stands for less time, does not skew it.
			byStack := map[string]int64{}
			var all int64
			for _, track := range tr.Tracks {
				track.Walk(func(path []*trace.Span) bool {
					i := slices.IndexFunc(path, func(s *trace.Span) bool { return strings.HasPrefix(s.Name, c.root) })
					if i < 0 || i == len(path)-1 || path[i+1].Kind != trace.KindSample {
						return true
					}
					var names []string
					for _, s := range path[i+1:] {
						names = append(names, s.Name)
					}
					n := path[len(path)-1].Counts["guest samples"]
					byStack[strings.Join(names, ";")] += n
					all += n
					return true
				})
			}
			ab, cs := byStack["main;a;b;spin"], byStack["main;c;spin"]
			if ab == 0 && (strings.Contains(notes, "CR3 not loaded") || strings.Contains(notes, "without RIP")) {
				// VMX reads RIP and (with EPT) CR3 lazily: at kvm_exit
				// they may not be loaded.
				t.Skipf("this host's KVM had not loaded the guest's RIP or CR3 at the hook, so samples are RIP only or none (see the README's guest stacks section):\n%s", notes)
			}
			if ab+cs > 0 && ab+cs < 200 {
				t.Skipf("%d samples of the two stacks: too few to weigh them (this host exits rarely?)\n%s", ab+cs, notes)
			}
			if ab == 0 || cs == 0 {
				t.Fatalf("no main;a;b;spin or main;c;spin under %q: %v\n%s", c.root, byStack, notes)
			}
			// spin runs 2n iterations under b for n under c: two thirds.
			share := float64(ab) / float64(ab+cs)
			t.Logf("main;a;b;spin: %.3f of the two stacks", share)
			if share < 0.6 || share > 0.73 {
				t.Errorf("main;a;b;spin is %.3f of the two stacks' samples, want 2/3 within 0.07: %v", share, byStack)
			}
			// The rest (prologues, the loop in main, the records) is a small part.
			if float64(ab+cs) < 0.9*float64(all) {
				t.Errorf("the two stacks have %d of %d samples: %v", ab+cs, all, byStack)
			}
			if res.Fired["boottrace:guest_sample"] == 0 || !strings.Contains(notes, "guest stacks: ") || !strings.Contains(notes, "boottrace:guest_sample ") {
				t.Errorf("no note on the guest samples:\n%s", notes)
			}
			if c.flush && !strings.Contains(notes, "under the guest's BOOT_TRACE spans") {
				t.Errorf("the notes do not say the samples are under the guest's spans:\n%s", notes)
			}
		})
	}
}
