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
	build := buildKernel(t, "6.1", testKernel...)
	dir := t.TempDir()
	initramfs := filepath.Join(dir, "initramfs.cpio.gz")
	if out, err := execOut("./init/mkinitramfs.sh", initramfs); err != nil {
		t.Fatalf("mkinitramfs: %v\n%s", err, out)
	}
	t.Setenv("MEM", "128")
	for _, mode := range []struct {
		name string
		env  []string
		args []string // after the command line's own
		// Why the recording stops, and what may bound the guest clock
		// under TCG: the moments the host saw records, on the console or
		// in guest memory, whichever is tighter.
		reason   string
		tightest []string
	}{
		// No console at all: the guest's serial port is off, and the
		// trace is read from guest memory while the guest runs.
		// init holds the VM until the recorder has read the trace.
		{"memory", []string{"SERIAL=off", "BOOTTRACE="}, []string{"hold"}, "the guest's boot ended (BOOT_TRACE read from guest memory)", []string{"of guest memory"}},
		{"console", nil, nil, "the guest's BOOT_TRACE flush ended", []string{"the flush's header line", "of guest memory"}},
		{"live", []string{"BOOTTRACE=live"}, nil, "the guest's BOOT_TRACE flush ended", []string{"printed as it was taken", "of guest memory"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, e := range mode.env {
				k, v, _ := strings.Cut(e, "=")
				t.Setenv(k, v)
			}
			args := append([]string{"./boot.sh", filepath.Join(build, "arch/x86/boot/bzImage"), initramfs, "-"}, mode.args...)
			recordQEMU(t, build, args, mode.reason, mode.tightest)
		})
	}
}

func recordQEMU(t *testing.T, build string, command []string, reason string, tightest []string) {
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
	if res.Reason != reason {
		t.Errorf("recording stopped because %s, want %s", res.Reason, reason)
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
	bound := false
	for _, what := range tightest {
		bound = bound || strings.Contains(notes, "tightest: ") && strings.Contains(notes, what)
	}
	if !strings.Contains(notes, "clock: exact") && !(bound && strings.Contains(notes, "earlier")) {
		t.Errorf("the clock note gives neither an exact placement nor a bound from %s:\n%s", tightest, notes)
	}
	if reason == "the guest's boot ended (BOOT_TRACE read from guest memory)" {
		if bytes.Contains(console.Bytes(), []byte("BOOT_TRACE")) {
			t.Error("a BOOT_TRACE line on a console that was off")
		}
		if !strings.Contains(notes, "read by the host from guest memory") {
			t.Errorf("notes do not say the trace came from guest memory:\n%s", notes)
		}
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
