package record

import (
	"bytes"
	"context"
	"encoding/json"
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
			if s.Name == "[host] page fault guest memory" && s.Duration() > 0 {
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
	if bytes.Contains(recorded, []byte(`"k":"kvm:kvm_emulate_insn"`)) {
		t.Error("kvm_emulate_insn events in the file: they should be counted by the probes")
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

// checkLossesLocated drops events from a real recording, as a full ring
// buffer would: the reader must locate each loss from the per-CPU event
// numbers, and the timeline must survive it (every KVM_RUN still one span).
func checkLossesLocated(t *testing.T, recorded []byte) {
	t.Helper()
	var kept [][]byte
	dropped, runs := 0, 0
	for i, line := range bytes.Split(recorded, []byte("\n")) {
		var e tracefile.Event
		if i > 0 && json.Unmarshal(line, &e) == nil {
			if e.Kind == "syscalls:sys_enter_ioctl" && e.Fields["cmd"] == 0xae80 {
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
