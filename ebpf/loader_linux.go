package ebpf

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/boottrace/boottrace/trace/tracefile"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrPrivileges is returned when the probes cannot be loaded for want of
// privileges.
var ErrPrivileges = errors.New("loading BPF probes needs root, or the capabilities CAP_BPF, CAP_PERFMON and (tracefs being readable by root only) CAP_DAC_READ_SEARCH: run with sudo, or setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep on the binary")

// Capabilities (linux/capability.h).
const (
	capDACReadSearch = 2
	capSysAdmin      = 21
	capPerfmon       = 38
	capBPF           = 39
)

// missingCaps names the capabilities Load needs that the process lacks in
// its effective set: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN for both.
func missingCaps() ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) {
		return nil, nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	return missing, nil
}

// Probes are the loaded BPF programs, their links and the ring buffer.
type Probes struct {
	objs    probesObjects
	links   []io.Closer // links, and perf events a program is attached to by ioctl
	reader  *ringbuf.Reader
	rec     ringbuf.Record
	formats map[Kind]tracefile.Format
	// samplers are the guest sampler's attached programs (closed with links).
	samplers []*ebpf.Program
	closed   bool // objs closed
	cookie   uint64
	// Attached lists the tracepoints that attached; Missing says why the
	// others did not (absent from this kernel, or refused).
	Attached []string
	Missing  map[string]string
}

// tracefsDirs are where tracefs is found or mounted.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracefs finds tracefs, mounting it at /sys/kernel/tracing if needed.
// Mounting it changes no tracing state; boottrace only reads formats.
func tracefs() (string, error) {
	for _, d := range tracefsDirs {
		if _, err := os.Stat(filepath.Join(d, "events")); err == nil {
			return d, nil
		}
	}
	if err := unix.Mount("nodev", tracefsDirs[0], "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("tracefs is not mounted and mounting it failed (%w): run as root, or mount -t tracefs nodev /sys/kernel/tracing", err)
	}
	return tracefsDirs[0], nil
}

// CheckPrivileges says, without loading anything, whether Load can run:
// the capabilities it needs, and tracefs readable (mounted if it was not).
// Its error wraps ErrPrivileges when privileges are missing.
func CheckPrivileges() error {
	_, err := tracefsChecked()
	return err
}

func tracefsChecked() (string, error) {
	missing, err := missingCaps()
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w (missing %s)", ErrPrivileges, strings.Join(missing, ", "))
	}
	dir, err := tracefs()
	if err != nil {
		return "", err
	}
	if _, err := os.ReadDir(filepath.Join(dir, "events")); err != nil {
		return "", fmt.Errorf("%w (tracefs: %v)", ErrPrivileges, err)
	}
	return dir, nil
}

// lockdown is the kernel's lockdown mode ("none", "integrity",
// "confidentiality"), "" when it cannot be read.
func lockdown() string {
	b, err := os.ReadFile("/sys/kernel/security/lockdown")
	if err != nil {
		return ""
	}
	return lockdownMode(string(b))
}

// lockdownMode reads the mode in brackets: "none [integrity] confidentiality".
func lockdownMode(s string) string {
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// LoadOptions configure Load.
type LoadOptions struct {
	// RingBytes sizes the ring buffer the events pass through: a power of
	// two, at least a page; 0 is DefaultRingBytes.
	RingBytes int
	// SamplePeriod, if not 0, loads the guest sampler too (bpf/sample.c):
	// a guest call stack at most once per period on each vCPU thread.
	SamplePeriod time.Duration
}

// DefaultRingBytes is the ring buffer's size unless told otherwise: about
// 120,000 events of burst.
const DefaultRingBytes = 16 << 20

// Load loads the probes and attaches every tracepoint the running kernel
// has. Close the returned Probes.
func Load(opt LoadOptions) (*Probes, error) {
	ring := opt.RingBytes
	if ring == 0 {
		ring = DefaultRingBytes
	}
	if ring < os.Getpagesize() || ring&(ring-1) != 0 {
		return nil, fmt.Errorf("ring buffer of %d bytes: it must be a power of two of at least %d", ring, os.Getpagesize())
	}
	dir, err := tracefsChecked()
	if err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	p := &Probes{formats: map[Kind]tracefile.Format{}, Missing: map[string]string{}}
	for _, k := range tracefile.Kinds {
		if !k.Kind.Tracepoint() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "events", k.Group, k.Event, "format"))
		if err != nil {
			p.Missing[k.Kind.String()] = missingWhy(dir, k)
			continue
		}
		f, err := tracefile.ParseFormat(bytes.NewReader(b))
		if err != nil {
			p.Missing[k.Kind.String()] = err.Error()
			continue
		}
		p.formats[k.Kind] = f
	}
	spec, err := loadProbes()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}
	offsets := map[string]struct {
		kind  Kind
		field string
	}{
		"next_pid_off":    {tracefile.KindSchedSwitch, "next_pid"},
		"fork_parent_off": {tracefile.KindFork, "parent_pid"},
		"fork_child_off":  {tracefile.KindFork, "child_pid"},
		"ioctl_cmd_off":   {tracefile.KindIoctlEnter, "cmd"},
		"ioctl_arg_off":   {tracefile.KindIoctlEnter, "arg"},
		"emulate_rip_off": {tracefile.KindEmulateInsn, "rip"},
	}
	for _, v := range slices.Sorted(maps.Keys(offsets)) {
		o := offsets[v]
		fl, ok := p.formats[o.kind].Field(o.field)
		if !ok {
			continue
		}
		if err := spec.Variables[v].Set(uint32(fl.Offset)); err != nil {
			return nil, fmt.Errorf("set %s: %w", v, err)
		}
	}
	spec.Maps["events"].MaxEntries = uint32(ring)
	var cookie [8]byte
	if _, err := rand.Read(cookie[:]); err != nil {
		return nil, fmt.Errorf("announce cookie: %w", err)
	}
	p.cookie = binary.LittleEndian.Uint64(cookie[:]) | 1
	if err := spec.Variables["announce_cookie"].Set(p.cookie); err != nil {
		return nil, fmt.Errorf("set announce_cookie: %w", err)
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		if mode := lockdown(); mode == "confidentiality" {
			return nil, fmt.Errorf("load BPF programs: the kernel is locked down (%s): BPF may not read kernel memory, which every probe does (it copies the tracepoint's record); record on a kernel booted with lockdown=integrity or none: %w", mode, err)
		}
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("%w: %v", ErrPrivileges, err)
		}
		return nil, fmt.Errorf("load BPF programs: %w", err)
	}
	progs := programs(&p.objs.probesPrograms)
	for _, k := range tracefile.Kinds {
		key := k.Kind.String()
		if _, missing := p.Missing[key]; missing || !k.Kind.Tracepoint() {
			continue
		}
		l, err := link.Tracepoint(k.Group, k.Event, progs[k.Kind], nil)
		if err != nil {
			p.Missing[key] = err.Error()
			continue
		}
		p.links = append(p.links, l)
		p.Attached = append(p.Attached, key)
	}
	if len(p.links) == 0 {
		p.Close()
		return nil, fmt.Errorf("no tracepoint attached: %v", p.Missing)
	}
	if opt.SamplePeriod > 0 {
		if err := p.loadSampler(uint64(opt.SamplePeriod.Nanoseconds())); err != nil {
			p.Close()
			return nil, err
		}
	}
	for _, k := range tracefile.Kinds {
		if !k.Kind.Software() {
			continue
		}
		if err := p.attachSoftware(k, progs[k.Kind]); err != nil {
			p.Missing[k.Kind.String()] = err.Error()
			continue
		}
		p.formats[k.Kind] = tracefile.Format{{Name: "address", Size: 8}}
		p.Attached = append(p.Attached, k.Kind.String())
	}
	p.reader, err = ringbuf.NewReader(p.objs.Events)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	return p, nil
}

// missingWhy says why a tracepoint's format is not in tracefs: KVM's come
// with the kvm module, which a VMM started after the probes may load too
// late for them.
func missingWhy(dir string, k tracefile.KindInfo) string {
	if k.Group == "kvm" {
		if _, err := os.Stat("/sys/module/kvm"); err != nil {
			return "the kvm module is not loaded: load it (modprobe kvm_intel or kvm_amd) before recording"
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "events", k.Group)); err != nil {
		return "not in this kernel (no " + k.Group + " tracepoints)"
	}
	return "not in this kernel"
}

// attachSoftware opens a perf software event on every online CPU (all
// processes: the program filters by tgid, and threads the VMM creates
// later are covered) and attaches prog to each.
func (p *Probes) attachSoftware(se tracefile.KindInfo, prog *ebpf.Program) error {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: softwareConfig[se.Kind], Sample: 1}
	links, err := perCPUEvents(se.Event, attr, prog)
	p.links = append(p.links, links...)
	return err
}

// perCPUEvents opens a perf event on every online CPU, with prog attached
// to each, or none (the event's only effect is then its own: a timer's
// interrupts, say). On an error it closes what it opened.
func perCPUEvents(name string, attr unix.PerfEventAttr, prog *ebpf.Program) ([]io.Closer, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("list CPUs: %w", err)
	}
	cpus, err := parseCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	attr.Size = uint32(unsafe.Sizeof(unix.PerfEventAttr{}))
	var links []io.Closer
	for _, cpu := range cpus {
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			closeAll(links)
			return nil, fmt.Errorf("perf_event_open %s on CPU %d: %w", name, cpu, err)
		}
		if prog == nil {
			links = append(links, perfEventFD(fd))
			continue
		}
		l, err := attachPerfEvent(fd, prog)
		if err != nil {
			closeAll(links)
			return nil, fmt.Errorf("attach to %s on CPU %d: %w", name, cpu, err)
		}
		links = append(links, l)
	}
	return links, nil
}

// attachPerfEvent attaches prog to the perf event fd, with a BPF link
// where the kernel has them for perf events (5.15 on; the link then holds
// the event and fd is closed), else with the PERF_EVENT_IOC_SET_BPF ioctl
// on the event, which stays open until it is closed.
func attachPerfEvent(fd int, prog *ebpf.Program) (io.Closer, error) {
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
	if !perfEventLinks {
		err = unix.EINVAL
		if l != nil {
			l.Close()
		}
	}
	if err == nil {
		unix.Close(fd)
		return l, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, ebpf.ErrNotSupported) {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("no BPF link for perf events (kernel before 5.15), and PERF_EVENT_IOC_SET_BPF failed: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("enable perf event: %w", err)
	}
	return perfEventFD(fd), nil
}

// perfEventLinks is false only in tests: the ioctl path, as on 5.10–5.14.
var perfEventLinks = true

// perfEventFD is a perf event a program was attached to by ioctl: closing
// it detaches the program.
type perfEventFD int

func (f perfEventFD) Close() error { return unix.Close(int(f)) }

func closeAll(links []io.Closer) {
	for _, l := range links {
		l.Close()
	}
}

// parseCPUList reads a kernel CPU list such as "0-3,8".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || b < a {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// programs maps each kind to the BPF program that emits it.
func programs(ps *probesPrograms) map[Kind]*ebpf.Program {
	return map[Kind]*ebpf.Program{
		tracefile.KindIoctlEnter: ps.IoctlEnter, tracefile.KindIoctlExit: ps.IoctlExit,
		tracefile.KindUserspaceExit: ps.KvmUserspaceExit, tracefile.KindPio: ps.KvmPio, tracefile.KindMmio: ps.KvmMmio,
		tracefile.KindEmulateInsn: ps.KvmEmulateInsn, tracefile.KindWriteTSCOffset: ps.KvmWriteTscOffset,
		tracefile.KindKVMExit: ps.KvmExit, tracefile.KindKVMEntry: ps.KvmEntry, tracefile.KindKVMPageFault: ps.KvmPageFault,
		tracefile.KindPageFaultUser: ps.PageFaultUser, tracefile.KindPageFaultKernel: ps.PageFaultKernel,
		tracefile.KindSchedSwitch: ps.SchedSwitch, tracefile.KindFork: ps.SchedProcessFork,
		tracefile.KindExec: ps.SchedProcessExec, tracefile.KindExit: ps.SchedProcessExit,
		tracefile.KindMinorFaultDone: ps.MinorFaultDone, tracefile.KindMajorFaultDone: ps.MajorFaultDone,
		tracefile.KindPageAlloc: ps.MmPageAlloc,
	}
}

// announceIoctl is the magic ioctl command (bpf/probes.c) with which a
// process announces itself to the probes.
const announceIoctl = 0x42540001

// Announce tells the probes that the next process this one forks and that
// execs is the VMM: they follow it by its global ids, which this process
// may not see (in a pid namespace of its own, as in a container). Adopted
// then returns its tgid.
func (p *Probes) Announce() error {
	zero := uint32(0)
	if err := p.objs.Announce.Put(uint32(1), zero); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	// On fd -1: the tracepoint sees the call, the call itself fails.
	unix.Syscall(unix.SYS_IOCTL, ^uintptr(0), announceIoctl, uintptr(p.cookie))
	var tgid uint32
	if err := p.objs.Announce.Lookup(zero, &tgid); err != nil || tgid == 0 {
		return fmt.Errorf("announce: the probes did not see it (%v)", err)
	}
	return nil
}

// Adopted returns the global tgid of the process adopted after Announce,
// or false if none was.
func (p *Probes) Adopted() (uint32, bool) {
	var tgid uint32
	if err := p.objs.Announce.Lookup(uint32(1), &tgid); err != nil || tgid == 0 {
		return 0, false
	}
	return tgid, true
}

// Follow makes the probes report a process (and the processes it forks).
func (p *Probes) Follow(tgid uint32) error {
	one := uint8(1)
	if err := p.objs.Tgids.Put(tgid, one); err != nil {
		return fmt.Errorf("follow %d: %w", tgid, err)
	}
	return p.FollowThread(tgid)
}

// FollowThread makes the probes see a thread of a followed process being
// switched in (threads created later are learnt from fork).
func (p *Probes) FollowThread(tid uint32) error {
	if err := p.objs.Threads.Put(tid, uint8(1)); err != nil {
		return fmt.Errorf("follow thread %d: %w", tid, err)
	}
	return nil
}

// Read blocks for the next event. After Drain it returns the events still
// in the ring buffer, then ringbuf.ErrFlushed; after Close,
// ringbuf.ErrClosed. It is not safe for concurrent use: it reuses one
// record buffer.
func (p *Probes) Read() (Event, error) {
	if err := p.reader.ReadInto(&p.rec); err != nil {
		return Event{}, err
	}
	return p.decode(p.rec.RawSample)
}

// Drain detaches every probe, so no event comes after it, and makes Read
// return what the ring buffer still holds, then ringbuf.ErrFlushed.
func (p *Probes) Drain() error {
	err := p.detach()
	return errors.Join(err, p.reader.Flush())
}

func (p *Probes) detach() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	return errors.Join(errs...)
}

// eventSize is struct event's size in bpf/probes.c.
const eventSize = int(unsafe.Sizeof(probesEvent{}))

// decode reads struct event (bpf/probes.c) into its generated Go type. The
// ring buffer hands over the C struct's bytes in the host's layout, which
// probesEvent has too (structs.HostLayout).
func (p *Probes) decode(b []byte) (Event, error) {
	if len(b) < eventSize {
		return Event{}, fmt.Errorf("short event: %d bytes, want %d", len(b), eventSize)
	}
	raw := (*probesEvent)(unsafe.Pointer(&b[0]))
	ev := Event{Time: int64(raw.Ts), TGID: raw.Tgid, TID: raw.Tid, Kind: Kind(raw.Kind), CPU: raw.Cpu, Seq: raw.Seq, Raw: raw.Raw[:]}
	f, ok := p.formats[ev.Kind]
	if !ok {
		return ev, fmt.Errorf("event of unknown kind %d", raw.Kind)
	}
	if ev.Kind == tracefile.KindGuestSample {
		return ev, decodeGuestSample(b, &ev)
	}
	ev.Format = f
	if ev.Kind == tracefile.KindIoctlEnter && raw.Arg != [32]byte{} {
		ev.Arg = raw.Arg[:]
	}
	return ev, nil
}

// Emulated returns how many instructions KVM emulated at each guest RIP,
// as the probes counted them (RIPs beyond the map's room came as events).
func (p *Probes) Emulated() (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	var rip, n uint64
	it := p.objs.Emulated.Iterate()
	for it.Next(&rip, &n) {
		out[rip] = n
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read emulated instructions: %w", err)
	}
	return out, nil
}

// countFollowFailed is the counter of threads and processes the probes
// could not follow, their maps being full (bpf/probes.c).
const countFollowFailed = 63

// sum adds up a per-CPU counter.
func (p *Probes) sum(idx uint32) (uint64, error) {
	var per []uint64
	if err := p.objs.Counters.Lookup(idx, &per); err != nil {
		return 0, err
	}
	var t uint64
	for _, v := range per {
		t += v
	}
	return t, nil
}

// FollowFailed returns how many threads and processes of the VMM could
// not be followed (the probes' maps were full).
func (p *Probes) FollowFailed() (uint64, error) { return p.sum(countFollowFailed) }

// Counters returns events lost to a full ring buffer and events per kind.
func (p *Probes) Counters() (lost uint64, fired map[string]uint64, err error) {
	fired = map[string]uint64{}
	sum := p.sum
	if lost, err = sum(0); err != nil {
		return 0, nil, fmt.Errorf("read counters: %w", err)
	}
	for _, ki := range tracefile.Kinds {
		k := ki.Kind
		n, err := sum(1 + uint32(k))
		if err != nil {
			return 0, nil, fmt.Errorf("read counters: %w", err)
		}
		if n > 0 {
			fired[k.String()] = n
		}
	}
	return lost, fired, nil
}

// Close detaches and unloads everything, each object once; a blocked
// Read returns ringbuf.ErrClosed.
func (p *Probes) Close() error {
	var errs []error
	if p.reader != nil {
		errs = append(errs, p.reader.Close()) // a second Close is a no-op
	}
	errs = append(errs, p.detach())
	if !p.closed {
		p.closed = true
		errs = append(errs, p.objs.Close())
	}
	return errors.Join(errs...)
}

// Formats lists field layouts for the trace file, so a recording is
// self-describing.
func (p *Probes) Formats() map[string]tracefile.Format {
	out := map[string]tracefile.Format{}
	for k, f := range p.formats {
		out[strings.TrimSpace(k.String())] = f
	}
	return out
}
