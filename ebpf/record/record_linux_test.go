package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/boottrace/boottrace/ebpf"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/input"
	"github.com/boottrace/boottrace/trace/tracefile"
)

func buildMiniVMM(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm")
	}
	if os.Geteuid() != 0 {
		t.Skip(ebpf.ErrPrivileges)
	}
	vmm := filepath.Join(t.TempDir(), "minivmm")
	if out, err := exec.Command("go", "build", "-o", vmm, "../testdata/minivmm").CombinedOutput(); err != nil {
		t.Fatalf("build minivmm: %v\n%s", err, out)
	}
	if out, err := exec.Command(vmm).CombinedOutput(); err != nil {
		t.Skipf("this machine's /dev/kvm cannot run the minivmm guest: %v\n%s", err, out)
	}
	return vmm
}

// TestRecordAttach attaches to a running minivmm with --pid.
func TestRecordAttach(t *testing.T) {
	vmm := buildMiniVMM(t)
	cmd := exec.Command(vmm, "-delay", "2s")
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	var file bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Record(ctx, Options{PID: cmd.Process.Pid, Trace: &file})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != "the VMM exited" {
		t.Errorf("stopped because %s", res.Reason)
	}
	tr, err := input.Read(&file, input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if path[len(path)-1].Name == "KVM_RUN" {
				runs++
			}
			return true
		})
	}
	if runs != 8*18+1 {
		t.Errorf("%d KVM_RUNs after attaching, want %d", runs, 8*18+1)
	}
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "no exec of the VMM") {
		t.Errorf("notes do not say time 0 is the first event:\n%s", notes)
	}
}

// TestRecordMiniVMM records testdata/minivmm, a VMM making real KVM
// ioctls on this machine's /dev/kvm with a long-mode guest that writes TSC
// records to the serial port, and checks the merged timeline.
func TestRecordMiniVMM(t *testing.T) {
	vmm := buildMiniVMM(t)
	var file, console bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Record(ctx, Options{Command: []string{vmm}, Trace: &file, Console: &console, SystemMap: "/boot/System.map-guest"})
	if errors.Is(err, ebpf.ErrPrivileges) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost != 0 {
		t.Errorf("%d events lost", res.Lost)
	}
	if !strings.Contains(console.String(), "BOOT_TRACE Z 10") {
		t.Fatalf("console lacks the guest's flush:\n%s", console.String())
	}
	first, _, _ := bytes.Cut(file.Bytes(), []byte("\n"))
	if h, err := tracefile.ParseHeader(first); err != nil || h.SystemMap != "/boot/System.map-guest" {
		t.Errorf("the trace file's header does not name the guest's symbols: %+v", h)
	}
	recorded := bytes.Clone(file.Bytes())
	tr, err := input.Read(&file, input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != input.FormatRecording {
		t.Fatalf("format %q", tr.Format)
	}
	defer checkLossesLocated(t, recorded)
	ioctls := map[string][]*trace.Span{}
	var exits, guestFaults, timedFaults int64
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			guestFaults += s.Counts["page faults on guest memory"]
			if strings.HasPrefix(s.Name, "[host] page fault guest memory") && s.Duration() > 0 {
				timedFaults++
			}
			switch s.Kind {
			case trace.KindIoctl:
				ioctls[s.Name] = append(ioctls[s.Name], s)
			case trace.KindHost:
				// On the vCPU thread, or moved under the guest span it
				// interrupted: once either way.
				if s.Name == "[host] userspace exit io 0x3f8" {
					exits++
				}
			}
			return true
		})
	}
	for _, name := range []string{"KVM_GET_API_VERSION", "KVM_CREATE_VM", "KVM_SET_USER_MEMORY_REGION", "KVM_CREATE_VCPU", "KVM_SET_SREGS", "KVM_SET_REGS", "KVM_RUN"} {
		if len(ioctls[name]) == 0 {
			t.Errorf("no %s", name)
		}
		for _, s := range ioctls[name] {
			if s.Duration() <= 0 {
				t.Errorf("%s lasted %d ns", name, s.Duration())
			}
		}
	}
	// 8 records of 18 bytes, each byte an OUT: 144 exits, all but the
	// last followed by another KVM_RUN.
	const outs = 8 * 18
	// The VMM writes the guest's page tables and code into guest memory.
	if guestFaults == 0 || timedFaults == 0 {
		t.Errorf("%d page faults on guest memory, %d of them timed: want some", guestFaults, timedFaults)
	}
	if len(ioctls["KVM_RUN"]) != outs+1 || exits != outs {
		t.Errorf("%d KVM_RUNs and %d serial exits, want %d and %d", len(ioctls["KVM_RUN"]), exits, outs+1, outs)
	}
	notes := strings.Join(tr.Notes, "\n")
	// Emulated instructions are counted in the probes, not sent one by one.
	lines, events := fileEvents(t, recorded)
	for _, e := range events {
		if e.Kind == "kvm:kvm_emulate_insn" {
			t.Fatal("kvm_emulate_insn events in the file: they should be counted by the probes")
		}
	}
	if len(lines) < 100 {
		t.Errorf("%d lines in the trace file", len(lines))
	}
	for _, want := range []string{"144 port I/O exits on 0x3f8", "no probe event lost", "page faults on guest memory", "clock: exact", "pages of 4 KiB allocated by the host", "instructions emulated by KVM"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// Every guest record lands inside a KVM_RUN: the guest ran then.
	records := 0
	for _, m := range tr.Marks {
		if !strings.HasPrefix(m.Text, "guest_record_") {
			continue
		}
		records++
		inside := false
		for _, run := range ioctls["KVM_RUN"] {
			inside = inside || (run.Start <= m.Time && m.Time <= run.End)
		}
		if !inside {
			t.Errorf("%s at %d ns is in no KVM_RUN", m.Text, m.Time)
		}
	}
	if records != 8 {
		t.Errorf("%d guest records, want 8", records)
	}
	// The host's exits are under the guest span they interrupted:
	// between the first record and the last, 7 records' 18 OUTs.
	var loop *trace.Span
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Name == "guest_loop" {
				loop = s
			}
			return true
		})
	}
	if loop == nil {
		t.Fatal("no guest_loop span")
	}
	inGuest := 0
	for _, c := range loop.Children {
		if c.Name == "[host] userspace exit io 0x3f8" {
			inGuest++
		}
	}
	if inGuest < 7*18-1 || inGuest > outs {
		t.Errorf("%d serial exits under guest_loop, want about %d", inGuest, 7*18)
	}
}

// fileEvents splits a trace file into its lines and decodes each event
// line (the header's and others' Kind is "").
func fileEvents(t *testing.T, file []byte) ([][]byte, []tracefile.Event) {
	t.Helper()
	lines := bytes.Split(bytes.TrimSuffix(file, []byte("\n")), []byte("\n"))
	h, err := tracefile.ParseHeader(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	dec := tracefile.NewDecoder(h)
	events := make([]tracefile.Event, len(lines))
	for i, l := range lines[1:] {
		if err := dec.Event(l, &events[i+1]); err != nil {
			t.Fatalf("line %d: %v: %q", i+2, err, l)
		}
	}
	return lines, events
}

// checkLossesLocated drops events from a real recording, as a full ring
// buffer would: the reader must locate each loss from the per-CPU event
// numbers, and the timeline must survive it (every KVM_RUN still one span).
func checkLossesLocated(t *testing.T, recorded []byte) {
	t.Helper()
	var kept [][]byte
	dropped, runs := 0, 0
	lines, events := fileEvents(t, recorded)
	for i, line := range lines {
		if e := events[i]; e.Kind != "" {
			if e.Kind == "syscalls:sys_enter_ioctl" && e.Value("cmd") == 0xae80 {
				runs++
			}
			// Every tenth KVM_RUN's return, and a port write.
			if e.Kind == "syscalls:sys_exit_ioctl" && runs%10 == 5 || e.Kind == "kvm:kvm_pio" && runs == 50 {
				if e.Seq == 0 {
					t.Fatalf("an event without its number: %s", line)
				}
				dropped++
				continue
			}
		}
		kept = append(kept, line)
	}
	tr, err := input.Read(bytes.NewReader(bytes.Join(kept, []byte("\n"))), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(tr.Notes, "\n")
	if want := fmt.Sprintf("partial: %d events located as lost", dropped); dropped == 0 || !strings.Contains(notes, want) {
		t.Errorf("%d events dropped; notes lack %q:\n%s", dropped, want, notes)
	}
	got := 0
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if path[len(path)-1].Name == "KVM_RUN" {
				got++
			}
			return true
		})
	}
	if got != runs {
		t.Errorf("%d KVM_RUN spans after the losses, want all %d", got, runs)
	}
}

// TestRecordStops checks the ways a recording ends early: a console line
// matching --until, --timeout, an interrupt (Ctrl-C), and a VMM that
// crashes mid-boot. The VMM is stopped where it still runs, and the trace
// keeps what came before, with the reason.
func TestRecordStops(t *testing.T) {
	vmm := buildMiniVMM(t)
	for _, tc := range []struct {
		name      string
		opt       Options
		interrupt time.Duration // cancel the context after this long
		reason    string
		ioctls    []string // must be in the trace
	}{
		{name: "until", opt: Options{Command: []string{vmm, "-delay", "300ms"}, Until: regexp.MustCompile(`^T[0-9a-f]{16}$`)}, reason: "a console line matched", ioctls: []string{"KVM_CREATE_VM", "KVM_RUN"}},
		{name: "timeout", opt: Options{Command: []string{vmm, "-delay", "30s"}, Timeout: 500 * time.Millisecond}, reason: "timeout after 500ms"},
		{name: "interrupt", opt: Options{Command: []string{vmm, "-delay", "30s"}}, interrupt: 500 * time.Millisecond, reason: "interrupted"},
		{name: "crash", opt: Options{Command: []string{vmm, "-crash-after", "3"}}, reason: "the VMM exited", ioctls: []string{"KVM_CREATE_VM", "KVM_RUN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var file bytes.Buffer
			tc.opt.Trace = &file
			start := time.Now()
			ctx := context.Background()
			if tc.interrupt > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.interrupt)
				defer cancel()
			}
			res, err := Record(ctx, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.Reason, tc.reason) {
				t.Errorf("stopped because %q, want %q", res.Reason, tc.reason)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s: the VMM was not stopped", d)
			}
			tr, err := input.Read(&file, input.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(tr.Notes, "\n")
			if !strings.Contains(notes, "recording stopped: "+tc.reason) {
				t.Errorf("notes lack the reason:\n%s", notes)
			}
			if tc.name == "crash" && !strings.Contains(notes, "the VMM ended with signal: killed") {
				t.Errorf("notes lack how the VMM ended:\n%s", notes)
			}
			for _, name := range tc.ioctls {
				found := false
				for _, track := range tr.Tracks {
					track.Walk(func(path []*trace.Span) bool {
						found = found || path[len(path)-1].Name == name
						return !found
					})
				}
				if !found {
					t.Errorf("the trace lost the %s before the end", name)
				}
			}
		})
	}
}

// TestRecordTwoVCPUs runs the minivmm guest on two vCPUs, each on its own
// thread: each vCPU's exits must land under the guest span of its own CPU.
func TestRecordTwoVCPUs(t *testing.T) {
	vmm := buildMiniVMM(t)
	var file bytes.Buffer
	if _, err := Record(context.Background(), Options{Command: []string{vmm, "-vcpus", "2"}, Trace: &file}); err != nil {
		t.Fatal(err)
	}
	tr, err := input.Read(&file, input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perCPU := map[string]int{}
	for _, track := range tr.Tracks {
		if track.Source != "guest" {
			continue
		}
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Kind == trace.KindHost && len(path) >= 2 && path[len(path)-2].Name == "guest_loop" {
				perCPU[track.Name]++
			}
			return true
		})
	}
	if len(perCPU) != 2 {
		t.Fatalf("exits under guest spans of %d tracks (%v), want the 2 CPUs' tracks", len(perCPU), perCPU)
	}
	for name, n := range perCPU {
		if n < 7*18-1 || n > 8*18 {
			t.Errorf("%s: %d exits under its guest_loop, want about %d", name, n, 7*18)
		}
	}
}

// lineGate is a console that closes reached once it has seen n lines.
type lineGate struct {
	n       int
	reached chan struct{}
}

func (g *lineGate) Write(b []byte) (int, error) {
	if g.n > 0 {
		if g.n -= bytes.Count(b, []byte("\n")); g.n <= 0 {
			close(g.reached)
		}
	}
	return len(b), nil
}

// TestRecordHostModes records the minivmm doing what real VMMs do to the
// host: guest memory populated on first touch (with and without huge
// pages), a guest TSC frequency set with KVM_SET_TSC_KHZ, two VMMs in one
// recording, thread churn past the size of the probes' maps, and a ring
// buffer overrun.
func TestRecordHostModes(t *testing.T) {
	vmm := buildMiniVMM(t)
	record := func(t *testing.T, opt Options, args ...string) (*trace.Trace, Result, string) {
		t.Helper()
		var file bytes.Buffer
		opt.Trace = &file
		if opt.Console == nil {
			opt.Console = io.Discard
		}
		opt.Command = []string{"/bin/sh", "-c", strings.ReplaceAll(strings.Join(args, " "), "minivmm", vmm)}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := Record(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := input.Read(&file, input.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr, res, strings.Join(tr.Notes, "\n")
	}
	// spans lists every span by name, with its process.
	type found struct {
		span    *trace.Span
		process int
	}
	spans := func(tr *trace.Trace) map[string][]found {
		out := map[string][]found{}
		for _, track := range tr.Tracks {
			track.Walk(func(path []*trace.Span) bool {
				s := path[len(path)-1]
				out[s.Name] = append(out[s.Name], found{s, track.Process})
				return true
			})
		}
		return out
	}
	counted := func(tr *trace.Trace, what string) (n int64) {
		for _, track := range tr.Tracks {
			track.Walk(func(path []*trace.Span) bool {
				n += path[len(path)-1].Counts[what]
				return true
			})
		}
		return n
	}

	t.Run("fresh memory", func(t *testing.T) {
		// 16 MiB the guest writes to, 4,096 pages the host has never
		// allocated: whatever the path (a fault here, KVM's fault-in
		// under EPT/NPT), each is a page allocated for the vCPU thread.
		tr, _, notes := record(t, Options{}, "minivmm -records 2 -touch 16")
		if n := counted(tr, "host pages allocated (4 KiB)"); n < 4096 {
			t.Errorf("%d pages of 4 KiB allocated on the VMM's spans, want at least the 4096 the guest touched\n%s", n, notes)
		}
		named := 0
		for name, ss := range spans(tr) {
			if strings.HasSuffix(name, "guest memory (4 KiB page)") {
				named += len(ss)
			}
		}
		if named < 4096 {
			t.Errorf("%d faults on guest memory named with their 4 KiB page, want 4096", named)
		}
	})

	t.Run("remapped memory", func(t *testing.T) {
		// After the guest's 4,096 faults, the VMM fails to add a slot over
		// the touched one, deletes it, and writes both memories again:
		// 256 + 4,096 faults on memory that is no longer the guest's.
		tr, _, notes := record(t, Options{}, "minivmm -records 2 -touch 16 -remap")
		if n := len(spans(tr)["KVM_SET_USER_MEMORY_REGION"]); n != 4 {
			t.Errorf("%d KVM_SET_USER_MEMORY_REGION, want 4 (slot 0, slot 1, the refused one, the deletion)", n)
		}
		guest, vmm := counted(tr, "page faults on guest memory"), counted(tr, "page faults on VMM memory")
		if guest < 4096 || guest > 4096+64 || vmm < 4096+256 {
			t.Errorf("%d faults on guest memory (want the guest's 4,096 and the few of the set-up), %d on the VMM's (want at least the 4,352 after the remap)\n%s", guest, vmm, notes)
		}
	})

	t.Run("huge pages", func(t *testing.T) {
		if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || bytes.Contains(b, []byte("[never]")) {
			t.Skip("transparent huge pages are off on this host")
		}
		tr, _, notes := record(t, Options{}, "minivmm -records 2 -touch 16 -thp")
		if n := counted(tr, "host pages allocated (2 MiB)"); n < 1 {
			t.Errorf("no 2 MiB page allocated for memory advised MADV_HUGEPAGE\n%s", notes)
		}
		named := 0
		for name, ss := range spans(tr) {
			if strings.HasSuffix(name, "guest memory (2 MiB page)") {
				named += len(ss)
			}
		}
		if named == 0 {
			t.Error("no fault or fault-in of guest memory named with its 2 MiB page")
		}
	})

	t.Run("TSC frequency", func(t *testing.T) {
		out, err := exec.Command(vmm, "-records", "1").Output()
		if err != nil {
			t.Fatal(err)
		}
		var khz int
		if _, err := fmt.Sscanf(string(out[bytes.Index(out, []byte("H 1 minivmm")):]), "H 1 minivmm %d", &khz); err != nil {
			t.Fatalf("no TSC frequency in the minivmm's flush: %v\n%s", err, out)
		}
		// Twice the host's: KVM scales it where the hardware can, else
		// catches it up (below the host's rate it refuses).
		tr, _, notes := record(t, Options{}, fmt.Sprintf("minivmm -records 200 -tsc-khz %d", 2*khz))
		if len(spans(tr)["KVM_SET_TSC_KHZ"]) != 1 {
			t.Error("no KVM_SET_TSC_KHZ")
		}
		if strings.Contains(notes, "KVM's debugfs said nothing") {
			t.Skipf("KVM's debugfs cannot be read here (a container?), and with it what KVM did with the frequency:\n%s", notes)
		}
		if !strings.Contains(notes, "clock: exact") {
			t.Errorf("the guest clock is not exact:\n%s", notes)
		}
		if !strings.Contains(notes, "tsc-scaling-ratio (2.0") && !strings.Contains(notes, "cannot scale it (debugfs has no tsc-scaling-ratio)") {
			t.Errorf("notes say neither the scaling ratio nor that the host cannot scale:\n%s", notes)
		}
	})

	t.Run("two VMMs", func(t *testing.T) {
		tr, _, notes := record(t, Options{}, "minivmm -records 20 -no-flush & minivmm -records 20 -no-flush; wait")
		runs := map[int]int{}
		for _, f := range spans(tr)["KVM_RUN"] {
			runs[f.process]++
			for _, c := range f.span.Children {
				if c.Kind == trace.KindIoctl {
					t.Errorf("%s inside a KVM_RUN", c.Name)
				}
			}
		}
		if len(runs) != 2 {
			t.Fatalf("KVM_RUNs of %d processes, want 2: %v", len(runs), runs)
		}
		for proc, n := range runs {
			if n != 20*18+1 {
				t.Errorf("process %d: %d KVM_RUNs, want %d", proc, n, 20*18+1)
			}
		}
		// Each VMM writes its guest's page tables: faults on its own
		// guest memory, told apart by process.
		if !strings.Contains(notes, "page faults on guest memory") {
			t.Errorf("no fault on guest memory:\n%s", notes)
		}
	})

	t.Run("thread churn", func(t *testing.T) {
		// 1,500 threads come and go before the second VMM is forked: the
		// probes must still have room to follow it.
		tr, res, notes := record(t, Options{}, "minivmm -records 1 -churn 1500 -no-flush && minivmm -records 2")
		if res.Fired["sched:sched_process_fork"] < 1500 {
			t.Errorf("%d forks, want the 1,500 threads", res.Fired["sched:sched_process_fork"])
		}
		if strings.Contains(notes, "could not be followed") {
			t.Errorf("the probes could not follow everything:\n%s", notes)
		}
		runs := map[int]int{}
		for _, f := range spans(tr)["KVM_RUN"] {
			runs[f.process]++
		}
		if len(runs) != 2 {
			t.Errorf("KVM_RUNs of %d processes, want both VMMs': %v", len(runs), runs)
		}
	})

	t.Run("ring overrun", func(t *testing.T) {
		// A 16 KiB ring holds about 120 events; nothing is read until the
		// guest has written 50 records (3,600 events).
		gate := &lineGate{n: 50, reached: make(chan struct{})}
		beforeReading = func() {
			select {
			case <-gate.reached:
			case <-time.After(time.Minute):
			}
		}
		defer func() { beforeReading = nil }()
		tr, res, notes := record(t, Options{RingBytes: 16 << 10, Console: gate}, "minivmm -records 200")
		if res.Lost == 0 {
			t.Fatalf("no event lost from a 16 KiB ring held for 50 records")
		}
		for _, want := range []string{
			fmt.Sprintf("partial: %d probe events were lost to a full ring buffer", res.Lost),
			fmt.Sprintf("events located as lost (gaps in the per-CPU event numbers; the probes counted %d)", res.Lost),
		} {
			if !strings.Contains(notes, want) {
				t.Errorf("notes lack %q:\n%s", want, notes)
			}
		}
		// The timeline survives: a KVM_RUN whose return was lost ends at
		// the next one, so on each vCPU thread no two overlap and none
		// holds another ioctl.
		perTrack := map[*trace.Span][]*trace.Span{}
		for _, track := range tr.Tracks {
			track.Walk(func(path []*trace.Span) bool {
				if s := path[len(path)-1]; s.Name == "KVM_RUN" {
					perTrack[track.Span] = append(perTrack[track.Span], s)
					for _, c := range s.Children {
						if c.Kind == trace.KindIoctl {
							t.Errorf("%s inside a KVM_RUN", c.Name)
						}
					}
				}
				return true
			})
		}
		for _, runs := range perTrack {
			for i := 1; i < len(runs); i++ {
				if runs[i].Start < runs[i-1].End {
					t.Errorf("KVM_RUN at %d ns overlaps the one before, which ends at %d ns", runs[i].Start, runs[i-1].End)
				}
			}
		}
		if len(perTrack) == 0 {
			t.Error("no KVM_RUN left")
		}
	})
}
