package examples_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boottrace/boottrace/ebpf"
	"github.com/boottrace/boottrace/ebpf/record"
	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/input"
)

// TestRecordQEMU records a real QEMU boot of the BOOT_TRACE kernel (TCG
// here: no KVM ioctls, but the VMM's threads, page faults and console
// timing are real) and checks the merged timeline.
func TestRecordQEMU(t *testing.T) {
	needTools(t)
	if os.Geteuid() != 0 {
		t.Skip(ebpf.ErrPrivileges)
	}
	build := buildKernel(t, "6.1", "microvm", "boottrace")
	dir := t.TempDir()
	initramfs := filepath.Join(dir, "initramfs.cpio.gz")
	if out, err := execOut("./init/mkinitramfs.sh", initramfs); err != nil {
		t.Fatalf("mkinitramfs: %v\n%s", err, out)
	}
	t.Setenv("MEM", "128")
	for _, mode := range []struct {
		name string
		args []string
		// What bounds the guest clock under TCG.
		tightest string
	}{
		{"flush", nil, "the flush's header line"},
		{"live", []string{"boottrace=live"}, "printed as it was taken"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			args := append([]string{"./boot.sh", filepath.Join(build, "arch/x86/boot/bzImage"), initramfs, "-"}, mode.args...)
			recordQEMU(t, build, args, mode.tightest)
		})
	}
}

func recordQEMU(t *testing.T, build string, command []string, tightest string) {
	var file, console bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := record.Record(ctx, record.Options{Command: command, Trace: &file, Console: &console})
	if errors.Is(err, ebpf.ErrPrivileges) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != "the guest's BOOT_TRACE flush ended" {
		t.Errorf("recording stopped because %s", res.Reason)
	}
	t.Logf("%d events, %d bytes (%.0f bytes/event), lost %d", res.Events, file.Len(), float64(file.Len())/float64(res.Events), res.Lost)
	syms, closeFn, err := symbolize.Open("", filepath.Join(build, "System.map"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	tr, err := input.Read(&file, input.ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	checkBudget(t, tr)
	var vmm, guest *trace.Track
	for i := range tr.Tracks {
		switch name := tr.Tracks[i].Name; {
		case strings.HasPrefix(name, "vmm main"):
			vmm = &tr.Tracks[i]
		case name == "guest kernel":
			guest = &tr.Tracks[i]
		}
	}
	if vmm == nil || guest == nil {
		t.Fatalf("tracks %v: want vmm main and guest kernel", trackNames(tr))
	}
	if vmm.Start != 0 {
		t.Errorf("the VMM's track starts at %d, want 0 (its exec)", vmm.Start)
	}
	// The guest boots after the VMM starts and before the recording ends.
	if guest.Start <= 0 || guest.End > tr.End() {
		t.Errorf("guest kernel at [%d, %d], recording [0, %d]", guest.Start, guest.End, tr.End())
	}
	if c := vmm.Children; len(c) == 0 || !strings.HasPrefix(c[0].Name, "vmm set-up") {
		t.Errorf("the VMM's track does not start with its set-up phase")
	}
	for _, phase := range []string{"start_kernel", "kernel_init_freeable"} {
		if len(find(tr, phase)) == 0 {
			t.Errorf("guest phase %s missing", phase)
		}
	}
	// QEMU touches guest memory for the whole boot: each fault is timed.
	timed := 0
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; strings.HasPrefix(s.Name, "[host] page fault") && s.Duration() > 0 {
				timed++
			}
			return true
		})
	}
	if timed < 100 {
		t.Errorf("%d timed page faults, want hundreds", timed)
	}
	notes := strings.Join(tr.Notes, "\n")
	for _, want := range []string{"clock: ", "page faults", "probes attached"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if !strings.Contains(notes, "clock: exact") && !(strings.Contains(notes, tightest) && strings.Contains(notes, "earlier")) {
		t.Errorf("the clock note gives neither an exact placement nor a bound from %s:\n%s", tightest, notes)
	}
	if res.Lost == 0 && !strings.Contains(notes, "no probe event lost") {
		t.Errorf("notes do not say that nothing was lost:\n%s", notes)
	}
}

func trackNames(tr *trace.Trace) []string {
	var n []string
	for _, t := range tr.Tracks {
		n = append(n, t.Name)
	}
	return n
}
