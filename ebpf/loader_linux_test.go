package ebpf

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/boottrace/boottrace/trace/tracefile"
	"golang.org/x/sys/unix"
)

// loadOrSkip loads the probes, skipping with the reason where this
// machine cannot (not root, no BPF).
func loadOrSkip(t *testing.T) *Probes {
	t.Helper()
	p, err := Load(LoadOptions{})
	if errors.Is(err, ErrPrivileges) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestIoctlEvents follows this test process, makes a real KVM ioctl and
// checks its enter and exit come back decoded.
func TestIoctlEvents(t *testing.T) {
	p := loadOrSkip(t)
	kvm, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no /dev/kvm: %v", err)
	}
	defer kvm.Close()
	if err := p.Follow(uint32(os.Getpid())); err != nil {
		t.Fatal(err)
	}
	const kvmGetAPIVersion = 0xae00
	version, _, errno := unix.Syscall(unix.SYS_IOCTL, kvm.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 {
		t.Fatalf("KVM_GET_API_VERSION: %v", errno)
	}
	got := map[Kind]Event{}
	deadline := time.AfterFunc(10*time.Second, func() { p.Close() })
	defer deadline.Stop()
	for got[tracefile.KindIoctlExit].Kind == 0 {
		ev, err := p.Read()
		if err != nil {
			t.Fatalf("read: %v (events so far %v)", err, got)
		}
		if ev.Kind == tracefile.KindIoctlEnter && ev.Field("cmd") == kvmGetAPIVersion {
			got[ev.Kind] = ev
		}
		if ev.Kind == tracefile.KindIoctlExit && got[tracefile.KindIoctlEnter].Kind != 0 && ev.TID == got[tracefile.KindIoctlEnter].TID {
			got[ev.Kind] = ev
		}
	}
	if ret := got[tracefile.KindIoctlExit].Field("ret"); ret != int64(version) {
		t.Errorf("exit ret = %d, want the API version %d", ret, version)
	}
	if d := got[tracefile.KindIoctlExit].Time - got[tracefile.KindIoctlEnter].Time; d <= 0 || d > 1e9 {
		t.Errorf("ioctl took %d ns", d)
	}
	lost, fired, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if lost != 0 || fired["syscalls:sys_enter_ioctl"] == 0 {
		t.Errorf("lost %d, fired %v", lost, fired)
	}
	t.Logf("attached %v; missing %v", p.Attached, p.Missing)
}

// TestPerfEventIoctl attaches the fault probes the way kernels 5.10–5.14
// need (PERF_EVENT_IOC_SET_BPF: they have no BPF link for perf events)
// and checks that this process's page faults still end in events.
func TestPerfEventIoctl(t *testing.T) {
	perfEventLinks = false
	defer func() { perfEventLinks = true }()
	p := loadOrSkip(t)
	if _, missing := p.Missing[tracefile.KindMinorFaultDone.String()]; missing {
		t.Skipf("minor-faults not attached: %v", p.Missing)
	}
	if err := p.Follow(uint32(os.Getpid())); err != nil {
		t.Fatal(err)
	}
	// Fresh anonymous memory, touched page by page: minor faults.
	mem, err := unix.Mmap(-1, 0, 64<<12, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	for i := 0; i < len(mem); i += 1 << 12 {
		mem[i] = 1
	}
	deadline := time.AfterFunc(10*time.Second, func() { p.Close() })
	defer deadline.Stop()
	for {
		ev, err := p.Read()
		if err != nil {
			t.Fatalf("no minor-fault event: %v", err)
		}
		if ev.Kind == tracefile.KindMinorFaultDone {
			return
		}
	}
}

func TestLockdownMode(t *testing.T) {
	for in, want := range map[string]string{"[none] integrity confidentiality\n": "none", "none integrity [confidentiality]\n": "confidentiality", "garbage": "", "]x[": ""} {
		if got := lockdownMode(in); got != want {
			t.Errorf("lockdownMode(%q) = %q, want %q", in, got, want)
		}
	}
}
