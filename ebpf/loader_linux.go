package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrPrivileges is returned when the probes cannot be loaded for want of
// privileges.
var ErrPrivileges = errors.New("loading BPF probes needs root (or CAP_BPF and CAP_PERFMON): run with sudo")

// Probes are the loaded BPF programs, their links and the ring buffer.
type Probes struct {
	objs    probesObjects
	links   []link.Link
	reader  *ringbuf.Reader
	rec     ringbuf.Record
	formats map[Kind]Format
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

// Load loads the probes and attaches every tracepoint the running kernel
// has. Close the returned Probes.
func Load() (*Probes, error) {
	if os.Geteuid() != 0 {
		return nil, ErrPrivileges
	}
	dir, err := tracefs()
	if err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	p := &Probes{formats: map[Kind]Format{}, Missing: map[string]string{}}
	for _, tp := range Tracepoints {
		b, err := os.ReadFile(filepath.Join(dir, "events", tp.Group, tp.Name, "format"))
		if err != nil {
			p.Missing[tp.Group+":"+tp.Name] = "not in this kernel"
			continue
		}
		f, err := ParseFormat(bytes.NewReader(b))
		if err != nil {
			p.Missing[tp.Group+":"+tp.Name] = err.Error()
			continue
		}
		p.formats[tp.Kind] = f
	}
	spec, err := loadProbes()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}
	offsets := map[string]struct {
		kind  Kind
		field string
	}{
		"next_pid_off":    {KindSchedSwitch, "next_pid"},
		"fork_parent_off": {KindFork, "parent_pid"},
		"fork_child_off":  {KindFork, "child_pid"},
		"ioctl_cmd_off":   {KindIoctlEnter, "cmd"},
		"ioctl_arg_off":   {KindIoctlEnter, "arg"},
	}
	for v, o := range offsets {
		fl, ok := p.formats[o.kind].Field(o.field)
		if !ok {
			continue
		}
		if err := spec.Variables[v].Set(uint32(fl.Offset)); err != nil {
			return nil, fmt.Errorf("set %s: %w", v, err)
		}
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("%w: %v", ErrPrivileges, err)
		}
		return nil, fmt.Errorf("load BPF programs: %w", err)
	}
	progs := map[string]*ebpf.Program{}
	for name, prog := range programsByName(&p.objs.probesPrograms) {
		progs[name] = prog
	}
	for _, tp := range Tracepoints {
		key := tp.Group + ":" + tp.Name
		if _, missing := p.Missing[key]; missing {
			continue
		}
		l, err := link.Tracepoint(tp.Group, tp.Name, progs[tp.Program], nil)
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
	for _, se := range SoftwareEvents {
		key := se.Kind.String()
		if err := p.attachSoftware(se, progs[se.Program]); err != nil {
			p.Missing[key] = err.Error()
			continue
		}
		p.formats[se.Kind] = Format{{Name: "address", Size: 8}}
		p.Attached = append(p.Attached, key)
	}
	p.reader, err = ringbuf.NewReader(p.objs.Events)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	return p, nil
}

// attachSoftware opens a perf software event on every online CPU (all
// processes: the program filters by tgid, and threads the VMM creates
// later are covered) and attaches prog to each.
func (p *Probes) attachSoftware(se SoftwareEvent, prog *ebpf.Program) error {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return fmt.Errorf("list CPUs: %w", err)
	}
	cpus, err := parseCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	var links []link.Link
	for _, cpu := range cpus {
		attr := unix.PerfEventAttr{
			Type: unix.PERF_TYPE_SOFTWARE, Config: se.Config,
			Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{})), Sample: 1,
		}
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			closeAll(links)
			return fmt.Errorf("perf_event_open %s on CPU %d: %w", se.Name, cpu, err)
		}
		// The link holds the event; the descriptor is not needed after.
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
		unix.Close(fd)
		if err != nil {
			closeAll(links)
			return fmt.Errorf("attach to %s on CPU %d: %w", se.Name, cpu, err)
		}
		links = append(links, l)
	}
	p.links = append(p.links, links...)
	return nil
}

func closeAll(links []link.Link) {
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

func programsByName(ps *probesPrograms) map[string]*ebpf.Program {
	return map[string]*ebpf.Program{
		"ioctl_enter": ps.IoctlEnter, "ioctl_exit": ps.IoctlExit,
		"kvm_userspace_exit": ps.KvmUserspaceExit, "kvm_pio": ps.KvmPio, "kvm_mmio": ps.KvmMmio,
		"kvm_emulate_insn": ps.KvmEmulateInsn, "kvm_write_tsc_offset": ps.KvmWriteTscOffset,
		"kvm_exit": ps.KvmExit, "kvm_entry": ps.KvmEntry, "kvm_page_fault": ps.KvmPageFault,
		"page_fault_user": ps.PageFaultUser, "page_fault_kernel": ps.PageFaultKernel,
		"sched_switch": ps.SchedSwitch, "sched_process_fork": ps.SchedProcessFork,
		"sched_process_exec": ps.SchedProcessExec, "sched_process_exit": ps.SchedProcessExit,
		"minor_fault_done": ps.MinorFaultDone, "major_fault_done": ps.MajorFaultDone,
	}
}

// Follow makes the probes report a process (and the processes it forks).
func (p *Probes) Follow(tgid uint32) error {
	one := uint8(1)
	if err := p.objs.Tgids.Put(tgid, one); err != nil {
		return fmt.Errorf("follow %d: %w", tgid, err)
	}
	return p.objs.Threads.Put(tgid, one)
}

// Read blocks for the next event. After Close it returns ringbuf.ErrClosed.
// It is not safe for concurrent use: it reuses one record buffer.
func (p *Probes) Read() (Event, error) {
	if err := p.reader.ReadInto(&p.rec); err != nil {
		return Event{}, err
	}
	return p.decode(p.rec.RawSample)
}

// decode reads struct event (bpf/probes.c) by hand: binary.Read's
// reflection would cost more than the rest of the pipeline.
func (p *Probes) decode(b []byte) (Event, error) {
	const rawOff, argOff = 24, 24 + 64
	if len(b) < argOff+32 {
		return Event{}, fmt.Errorf("short event: %d bytes", len(b))
	}
	le := binary.LittleEndian
	ev := Event{
		Time: int64(le.Uint64(b[0:])), TGID: le.Uint32(b[8:]), TID: le.Uint32(b[12:]),
		Kind: Kind(le.Uint16(b[16:])), CPU: le.Uint16(b[18:]),
	}
	if f, ok := p.formats[ev.Kind]; ok {
		ev.Fields = f.Decode(b[rawOff : rawOff+64])
		if ev.Kind == KindSchedSwitch {
			ev.Comm = f.String(b[rawOff:rawOff+64], "prev_comm")
		}
	}
	if ev.Kind == KindIoctlEnter {
		arg := b[argOff : argOff+32]
		if !bytes.Equal(arg, make([]byte, 32)) {
			ev.Arg = append([]byte(nil), arg...)
		}
	}
	return ev, nil
}

// Counters returns events lost to a full ring buffer and events per kind.
func (p *Probes) Counters() (lost uint64, fired map[string]uint64, err error) {
	fired = map[string]uint64{}
	sum := func(idx uint32) (uint64, error) {
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
	if lost, err = sum(0); err != nil {
		return 0, nil, fmt.Errorf("read counters: %w", err)
	}
	kinds := make([]Kind, 0, len(Tracepoints)+len(SoftwareEvents))
	for _, tp := range Tracepoints {
		kinds = append(kinds, tp.Kind)
	}
	for _, se := range SoftwareEvents {
		kinds = append(kinds, se.Kind)
	}
	for _, k := range kinds {
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

// Close detaches and unloads everything; a blocked Read returns.
func (p *Probes) Close() error {
	var errs []error
	if p.reader != nil {
		errs = append(errs, p.reader.Close())
	}
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// Formats lists field layouts for the trace file, so a recording is
// self-describing.
func (p *Probes) Formats() map[string]Format {
	out := map[string]Format{}
	for k, f := range p.formats {
		out[strings.TrimSpace(k.String())] = f
	}
	return out
}
