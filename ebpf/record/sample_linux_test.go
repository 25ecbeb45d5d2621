package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
// on a VMX or SVM host). The recording's guest stacks track must show those two
// stacks, symbolized from the guest's System.map, in the proportion of
// their instructions (two to one) within a tolerance; the walk is real:
// RIP, RBP and CR3 from KVM's vCPU state, every frame read through the
// guest's page tables and KVM's memory slots.
func TestRecordGuestStacks(t *testing.T) {
	vmm := buildMiniVMM(t)
	symbols := filepath.Join(t.TempDir(), "System.map")
	if out, err := exec.Command(vmm, "-stacks", "1", "-symbols", symbols).CombinedOutput(); err != nil {
		t.Fatalf("minivmm -stacks: %v\n%s", err, out)
	}
	var file bytes.Buffer
	opt := Options{Trace: &file, Console: io.Discard, SystemMap: symbols, SamplePeriod: 200 * time.Microsecond,
		Command: []string{vmm, "-stacks", "1000", "-spin", "3000"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Record(ctx, opt)
	if errors.Is(err, ebpf.ErrNoSampler) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
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
	tr, err := input.Read(&file, input.ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(tr.Notes, "\n")
	t.Logf("fired %v\n%s", res.Fired, notes)
	// Time by stack below the track, as a flamegraph adds it up.
	byStack := map[string]int64{}
	var all int64
	for _, track := range tr.Tracks {
		if !strings.HasPrefix(track.Name, "guest stacks") {
			continue
		}
		track.Walk(func(path []*trace.Span) bool {
			if len(path) < 2 {
				return true
			}
			var names []string
			for _, s := range path[1:] {
				names = append(names, s.Name)
			}
			self := path[len(path)-1].Self()
			byStack[strings.Join(names, ";")] += self
			all += self
			return true
		})
	}
	if strings.Contains(notes, "CR3 not loaded") && byStack["main;a;b;spin"] == 0 {
		// VMX with EPT reads CR3 lazily: at kvm_exit it is not loaded.
		t.Skipf("this host's KVM had not loaded the guest's CR3 at the hook, so samples are RIP only (see the README's guest stacks section):\n%s", notes)
	}
	ab, c := byStack["main;a;b;spin"], byStack["main;c;spin"]
	if ab == 0 || c == 0 {
		t.Fatalf("no main;a;b;spin or main;c;spin among the guest stacks: %v\n%s", byStack, notes)
	}
	// spin runs 2n iterations under b for n under c: two thirds.
	share := float64(ab) / float64(ab+c)
	t.Logf("main;a;b;spin: %.3f of the two stacks", share)
	if share < 0.6 || share > 0.73 {
		t.Errorf("main;a;b;spin is %.3f of the two stacks' time, want 2/3 within 0.07: %v", share, byStack)
	}
	// The rest (prologues, the loop in main) is a small part.
	if float64(ab+c) < 0.9*float64(all) {
		t.Errorf("the two stacks are %d of %d ns of samples: %v", ab+c, all, byStack)
	}
	if res.Fired["boottrace:guest_sample"] == 0 || !strings.Contains(notes, "guest stacks: ") || !strings.Contains(notes, "boottrace:guest_sample ") {
		t.Errorf("no note on the guest samples:\n%s", notes)
	}
}
