package ebpf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boottrace/boottrace/trace"
)

// TestRecordMiniVMM records testdata/minivmm, a VMM making real KVM
// ioctls on this machine's /dev/kvm with a long-mode guest that writes TSC
// records to the serial port, and checks the merged timeline.
func TestRecordMiniVMM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm")
	}
	if os.Geteuid() != 0 {
		t.Skip(ErrPrivileges)
	}
	vmm := filepath.Join(t.TempDir(), "minivmm")
	if out, err := exec.Command("go", "build", "-o", vmm, "./testdata/minivmm").CombinedOutput(); err != nil {
		t.Fatalf("build minivmm: %v\n%s", err, out)
	}
	if out, err := exec.Command(vmm).CombinedOutput(); err != nil {
		t.Skipf("this machine's /dev/kvm cannot run the minivmm guest: %v\n%s", err, out)
	}
	var file, console bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Record(ctx, RecordOptions{Command: []string{vmm}, Trace: &file, Console: &console})
	if errors.Is(err, ErrPrivileges) {
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
	tr, err := trace.Read(&file, trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != trace.FormatRecording {
		t.Fatalf("format %q", tr.Format)
	}
	ioctls := map[string][]*trace.Span{}
	var exits int
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			switch s.Kind {
			case trace.KindIoctl:
				ioctls[s.Name] = append(ioctls[s.Name], s)
			case trace.KindHost:
				if s.Name == "[host] userspace exit io 0x3f8" && track.Source == "vmm" {
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
	if len(ioctls["KVM_RUN"]) != outs+1 || exits != outs {
		t.Errorf("%d KVM_RUNs and %d serial exits, want %d and %d", len(ioctls["KVM_RUN"]), exits, outs+1, outs)
	}
	notes := strings.Join(tr.Notes, "\n")
	for _, want := range []string{"144 port I/O exits on 0x3f8", "no probe event lost", "page faults on guest memory", "clock: exact"} {
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
	// The host's exits are also under the guest span they interrupted:
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
