package trace

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/boottrace/boottrace/symbolize"
)

// Skip reasons of the trace file reader.
const (
	skipBadEvent   = "trace file lines that are not events (cut or corrupted)"
	skipUnmatched  = "ioctl exits without their entry (the recording began mid-call)"
	skipSecondHead = "trace file headers after the first"
	skipFaultEnd   = "page fault ends without their start (the recording began mid-fault)"
	skipLate       = "probe events out of time order by more than 10 ms"
)

// memslot is a guest memory range from KVM_SET_USER_MEMORY_REGION.
type memslot struct {
	slot      uint32
	gpa, size uint64
	uaddr     uint64
}

// thread is one VMM thread while a recording is read.
type thread struct {
	tid      uint32
	track    *Span
	stack    []*Span
	vcpu     bool
	vcpuID   int // from KVM_CREATE_VCPU, -1 when unknown
	comm     string
	offSince int64
	offState int64
	runEnd   int64  // when the last KVM_RUN returned
	exit     string // why it returned
	// access is the device address of the last port I/O or MMIO, named
	// as the exit to the VMM it may cause: "io 0x3f8", "mmio 0xfeb00000".
	access string
	fault  *openFault // a page fault entered and not yet accounted
}

// openFault is a page fault between exceptions:page_fault_* and the
// software event that accounts it.
type openFault struct {
	start  int64
	addr   int64
	parent *Span // what the fault interrupted
}

// ReadRecording reads a trace file written by "boottrace record": the
// VMM's threads with their ioctls (KVM ones by name), exits to the VMM,
// VM exits, off-CPU time, and the guest's BOOT_TRACE records placed on the
// same timeline. Time 0 is the exec of the VMM.
func ReadRecording(r io.Reader, opt ReadOptions) (*Trace, error) {
	return readRecording(newLineReader(r), opt)
}

func readRecording(lr *lineReader, opt ReadOptions) (*Trace, error) {
	t := &Trace{Format: FormatRecording, Timed: true}
	var hdr *RecordingHeader
	var rb *recBuilder
	// The console is read as it comes, so a guest that prints a lot costs
	// no memory: only its BOOT_TRACE lines are kept.
	console := newBootCollector()
	var lines lineSplitter
	var consoleSkips Skips
	addLine := func(b []byte) { console.add(b, lines.line, &consoleSkips) }
	var end *RecordingEnd
	var hdrErr error
	err := lr.each(&t.Skipped, func(b []byte) {
		if len(bytes.TrimSpace(b)) == 0 || hdrErr != nil {
			return
		}
		if bytes.HasPrefix(b, []byte(recordingMagic)) {
			if hdr != nil {
				t.Skipped.Add(skipSecondHead, lr.line)
				return
			}
			hdr = &RecordingHeader{}
			if err := json.Unmarshal(b, hdr); err != nil {
				hdrErr = fmt.Errorf("%w: line %d: trace file header: %v", ErrNoData, lr.line, err)
			} else if hdr.Version != RecordingVersion {
				hdrErr = fmt.Errorf("%w: trace file version %d; this boottrace reads version %d", ErrNoData, hdr.Version, RecordingVersion)
			}
			return
		}
		var e RecEvent
		if hdr == nil || json.Unmarshal(b, &e) != nil || e.Kind == "" {
			t.Skipped.Add(skipBadEvent, lr.line)
			return
		}
		switch e.Kind {
		case "serial":
			console.now = e.Time
			lines.write([]byte(e.Data), &consoleSkips, addLine)
		case "end":
			end = e.End
		default:
			if rb == nil {
				rb = newRecBuilder(t, hdr, opt)
			}
			rb.add(e)
		}
	})
	if err != nil {
		return nil, err
	}
	if hdrErr != nil {
		return t, hdrErr
	}
	lines.flush(&consoleSkips, addLine)
	if hdr == nil {
		return t, fmt.Errorf("%w: no boottrace trace file header", ErrNoData)
	}
	if end != nil {
		hdr.Clock = append(hdr.Clock, end.Clock...)
	}
	if rb == nil {
		rb = newRecBuilder(t, hdr, opt)
	}
	rb.finish()
	guestStart := rb.guest(console, &consoleSkips, opt)
	rb.setup(guestStart)
	rb.notes(end)
	return t, nil
}

func newRecBuilder(t *Trace, hdr *RecordingHeader, opt ReadOptions) *recBuilder {
	return &recBuilder{
		t: t, hdr: hdr, threads: map[uint32]*thread{}, vcpuFDs: map[int64]int{}, creating: map[uint32]int{},
		syms: opt.Symbols, origin: -1, faults: map[string]int{}, accesses: map[string]int{}, emulated: map[uint64]int{},
	}
}

type recBuilder struct {
	t *Trace
	// held are events waiting for their turn (see add); newest is the
	// latest time seen, done the time of the last event built.
	held      eventHeap
	newest    int64
	done      int64
	events    int
	faultList []faultClass
	// vcpuFDs maps a vCPU's file descriptor to its id (KVM_CREATE_VCPU's
	// argument), and creating holds the id a thread is creating.
	vcpuFDs  map[int64]int
	creating map[uint32]int
	hdr      *RecordingHeader
	threads  map[uint32]*thread
	order    []uint32
	slots    []memslot
	origin   int64
	last     int64
	faults   map[string]int
	// kvmFaults counts kvm:kvm_page_fault.
	kvmFaults int
	// accesses counts port I/O and MMIO by device address; emulated
	// counts instructions KVM emulated by guest RIP.
	accesses map[string]int
	emulated map[uint64]int
	syms     *symbolize.Table
	tscOff   *int64
}

func (rb *recBuilder) thread(tid uint32, at int64) *thread {
	th := rb.threads[tid]
	if th == nil {
		th = &thread{tid: tid, offSince: -1, vcpuID: -1, track: &Span{Kind: KindTrack, Start: at, End: at}}
		rb.threads[tid] = th
		rb.order = append(rb.order, tid)
	}
	th.track.End = max(th.track.End, at)
	return th
}

func (th *thread) top() *Span {
	if len(th.stack) > 0 {
		return th.stack[len(th.stack)-1]
	}
	return th.track
}

func (th *thread) push(s *Span) {
	p := th.top()
	p.Children = append(p.Children, s)
	th.stack = append(th.stack, s)
}

// faultClass is a page fault to classify once all memory slots are known:
// a VMM touches guest memory before it tells KVM where it is. A timed
// fault is a span of its own; one whose end never came (it failed, or its
// software event is missing) is counted on the span it interrupted.
type faultClass struct {
	addr  uint64
	span  *Span
	timed bool
	major bool
}

// reorderWindow is how late, in event time, a probe event may come in the
// file and still be put in order. The recorder writes events as the ring
// buffer hands them over, which is in time order but for microseconds
// between CPUs.
const reorderWindow = int64(10e6)

// maxHeld bounds the events held while the VMM's exec (time 0) has not
// been seen.
const maxHeld = 1 << 20

// eventHeap orders events by time, then by their place in the file.
type eventHeap []heldEvent

type heldEvent struct {
	RecEvent
	seq int
}

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	return h[i].Time < h[j].Time || h[i].Time == h[j].Time && h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(heldEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// add takes the next probe event of the file. Events are built into spans
// in time order as soon as no earlier one can still come, so only a
// window of them is held, not the recording.
func (rb *recBuilder) add(e RecEvent) {
	rb.events++
	if rb.origin < 0 && e.Kind == "sched:sched_process_exec" && int(e.TGID) == rb.hdr.PID {
		rb.origin = e.Time
	}
	if e.Time < rb.done {
		rb.t.Skipped.Add(skipLate, 0)
		return
	}
	rb.newest = max(rb.newest, e.Time)
	heap.Push(&rb.held, heldEvent{e, rb.events})
	// Attached to a running VMM, time 0 is the first event; else the
	// VMM's exec, which comes first unless the file lacks it.
	if rb.origin < 0 && (rb.held.Len() > maxHeld || rb.hdr.Attach && rb.held[0].Time < rb.newest-reorderWindow) {
		rb.noOrigin()
	}
	for rb.origin >= 0 && rb.held.Len() > 0 && rb.held[0].Time < rb.newest-reorderWindow {
		rb.event(heap.Pop(&rb.held).(heldEvent).RecEvent)
	}
}

// noOrigin makes the first event time 0, for want of the VMM's exec.
func (rb *recBuilder) noOrigin() {
	if rb.held.Len() > 0 {
		rb.origin = rb.held[0].Time
		rb.t.Notes = append(rb.t.Notes, "no exec of the VMM in the recording (attached to a running VMM?): time 0 is the first event")
	}
}

// untimed counts a fault whose end was not seen on what it interrupted.
func (rb *recBuilder) untimed(th *thread) {
	if th.fault != nil {
		rb.faultList = append(rb.faultList, faultClass{addr: uint64(th.fault.addr), span: th.fault.parent})
		th.fault = nil
	}
}

// event builds one probe event into the VMM's thread tracks.
func (rb *recBuilder) event(e RecEvent) {
	rb.done = e.Time
	if e.Time < rb.origin {
		return // the gate's shell before it became the VMM
	}
	rb.last = max(rb.last, e.Time)
	f := e.Fields
	{
		switch e.Kind {
		case "syscalls:sys_enter_ioctl":
			th := rb.thread(e.TID, e.Time)
			name := ioctlName(f["cmd"])
			if name == "KVM_CREATE_VCPU" {
				rb.creating[e.TID] = int(f["arg"])
			}
			if name == "KVM_RUN" {
				th.vcpu = true
				if id, ok := rb.vcpuFDs[f["fd"]]; ok {
					th.vcpuID = id
				}
				if th.runEnd > 0 && th.exit != "" {
					// The VMM handled the exit between two KVM_RUNs.
					wrap(th.top(), &Span{Name: "[host] userspace exit " + th.exit, Kind: KindHost, Start: th.runEnd, End: e.Time})
				}
				th.exit, th.runEnd = "", 0
			}
			if name == "KVM_SET_USER_MEMORY_REGION" && len(e.Mem) >= 32 {
				rb.slots = append(rb.slots, memslot{
					slot: binary.LittleEndian.Uint32(e.Mem[0:]), gpa: binary.LittleEndian.Uint64(e.Mem[8:]),
					size: binary.LittleEndian.Uint64(e.Mem[16:]), uaddr: binary.LittleEndian.Uint64(e.Mem[24:]),
				})
			}
			th.push(&Span{Name: name, Kind: KindIoctl, Start: e.Time})
		case "syscalls:sys_exit_ioctl":
			th := rb.thread(e.TID, e.Time)
			j := len(th.stack) - 1
			for j >= 0 && th.stack[j].Kind != KindIoctl {
				j--
			}
			if j < 0 {
				rb.t.Skipped.Add(skipUnmatched, 0)
				return
			}
			for _, s := range th.stack[j:] {
				s.End = e.Time
			}
			if th.stack[j].Name == "KVM_RUN" {
				th.runEnd = e.Time
			}
			if id, ok := rb.creating[e.TID]; ok && th.stack[j].Name == "KVM_CREATE_VCPU" {
				if f["ret"] >= 0 {
					rb.vcpuFDs[f["ret"]] = id
				}
				delete(rb.creating, e.TID)
			}
			th.stack = th.stack[:j]
		case "kvm:kvm_pio":
			th := rb.thread(e.TID, e.Time)
			th.access = fmt.Sprintf("io 0x%x", f["port"])
			rb.accesses[fmt.Sprintf("port I/O exits on 0x%x", f["port"])]++
		case "kvm:kvm_mmio":
			// Grouped by page: a device's registers share one.
			th := rb.thread(e.TID, e.Time)
			th.access = fmt.Sprintf("mmio 0x%x", f["gpa"]&^0xfff)
			rb.accesses[fmt.Sprintf("MMIO accesses on page 0x%x", f["gpa"]&^0xfff)]++
		case "kvm:kvm_emulate_insn":
			rb.thread(e.TID, e.Time)
			rb.emulated[uint64(f["rip"])]++
		case "kvm:kvm_userspace_exit":
			th := rb.thread(e.TID, e.Time)
			th.exit = exitReason(f["reason"])
			if strings.HasPrefix(th.access, th.exit+" ") {
				th.exit = th.access
			}
			th.access = ""
		case "kvm:kvm_exit":
			th := rb.thread(e.TID, e.Time)
			th.push(&Span{Name: "[host] exit " + vmExitName(f["isa"], f["exit_reason"]), Kind: KindHost, Start: e.Time})
		case "kvm:kvm_entry":
			th := rb.thread(e.TID, e.Time)
			if top := th.top(); top.Kind == KindHost && top.End == 0 {
				top.End = e.Time
				th.stack = th.stack[:len(th.stack)-1]
			}
		case "kvm:kvm_page_fault":
			// KVM resolving a guest access to memory it has not mapped yet
			// (inside an EPT/NPT violation exit, when the host reports those).
			top := rb.thread(e.TID, e.Time).top()
			if top.Counts == nil {
				top.Counts = map[string]int64{}
			}
			top.Counts["KVM page faults on guest memory"]++
			rb.kvmFaults++
		case "kvm:kvm_write_tsc_offset":
			off := f["next_tsc_offset"]
			rb.tscOff = &off
		case "exceptions:page_fault_user", "exceptions:page_fault_kernel":
			th := rb.thread(e.TID, e.Time)
			rb.untimed(th)
			th.fault = &openFault{start: e.Time, addr: f["address"], parent: th.top()}
		case "software:minor-faults", "software:major-faults":
			th := rb.thread(e.TID, e.Time)
			if th.fault == nil || th.fault.addr != f["address"] {
				rb.untimed(th)
				rb.t.Skipped.Add(skipFaultEnd, 0)
				return
			}
			s := &Span{Kind: KindHost, Start: th.fault.start, End: e.Time}
			wrap(th.fault.parent, s)
			rb.faultList = append(rb.faultList, faultClass{addr: uint64(f["address"]), span: s, timed: true, major: e.Kind == "software:major-faults"})
			th.fault = nil
		case "sched:sched_switch":
			if prev := uint32(f["prev_pid"]); rb.followed(e, prev) {
				th := rb.thread(prev, e.Time)
				th.offSince, th.offState = e.Time, f["prev_state"]
				if e.Comm != "" {
					th.comm = CleanName(e.Comm)
				}
			}
			if next := uint32(f["next_pid"]); rb.threads[next] != nil && rb.threads[next].offSince >= 0 {
				th := rb.threads[next]
				name := "[off-cpu] sleeping"
				if th.offState == 0 {
					name = "[off-cpu] preempted"
				}
				s := &Span{Name: name, Kind: KindOffCPU, Start: th.offSince, End: e.Time}
				th.top().Children = append(th.top().Children, s)
				th.offSince = -1
				th.track.End = max(th.track.End, e.Time)
			}
		case "sched:sched_process_fork":
			rb.thread(e.TID, e.Time)
			rb.thread(uint32(f["child_pid"]), e.Time)
		default:
			rb.thread(e.TID, e.Time)
		}
	}
}

// finish builds the events still held, ends what never ended, names the
// tracks and classifies the faults.
func (rb *recBuilder) finish() {
	if rb.origin < 0 {
		rb.noOrigin()
	}
	for rb.held.Len() > 0 {
		rb.event(heap.Pop(&rb.held).(heldEvent).RecEvent)
	}
	unfinished := 0
	for _, tid := range rb.order {
		th := rb.threads[tid]
		rb.untimed(th)
		for _, s := range th.stack {
			s.End, s.Unfinished = rb.last, true
			unfinished++
		}
		th.track.End = max(th.track.End, rb.last)
	}
	if unfinished > 0 {
		rb.t.Notes = append(rb.t.Notes, fmt.Sprintf("partial: %d ioctls or exits had not returned when the recording ended", unfinished))
	}
	sort.SliceStable(rb.order, func(i, j int) bool {
		a, b := rb.threads[rb.order[i]], rb.threads[rb.order[j]]
		if (int(a.tid) == rb.hdr.PID) != (int(b.tid) == rb.hdr.PID) {
			return int(a.tid) == rb.hdr.PID
		}
		if a.vcpu != b.vcpu {
			return a.vcpu
		}
		return a.tid < b.tid
	})
	for _, tid := range rb.order {
		th := rb.threads[tid]
		switch {
		case int(tid) == rb.hdr.PID:
			th.track.Name = "vmm main"
		case th.vcpu:
			th.track.Name = fmt.Sprintf("vmm vcpu thread %d", tid)
		default:
			th.track.Name = fmt.Sprintf("vmm thread %d", tid)
		}
		if th.comm != "" {
			th.track.Name += " (" + th.comm + ")"
		}
		shift(th.track, -rb.origin)
		fixEnds(th.track)
		th.track.sortChildren()
		rb.t.Tracks = append(rb.t.Tracks, Track{Span: th.track, Source: "vmm", CPU: -1})
	}
	for _, f := range rb.faultList {
		what := rb.classify(f.addr)
		rb.faults[what]++
		if f.timed {
			f.span.Name = "[host] page fault " + what
			if f.major {
				f.span.Name += " (major)"
			}
		}
		if f.span.Counts == nil {
			f.span.Counts = map[string]int64{}
		}
		f.span.Counts["page faults on "+what]++
	}
}

// followed reports whether a switched-out task is a VMM thread: the event
// runs in its context, so its tgid is the event's.
func (rb *recBuilder) followed(e RecEvent, tid uint32) bool {
	return rb.threads[tid] != nil || int(e.TGID) == rb.hdr.PID
}

func (rb *recBuilder) classify(addr uint64) string {
	for _, s := range rb.slots {
		if addr >= s.uaddr && addr < s.uaddr+s.size {
			return "guest memory"
		}
	}
	if len(rb.slots) == 0 {
		return "VMM or guest memory" // no KVM memory slots: an emulator
	}
	return "VMM memory"
}

// clone copies s and everything under it, counts included.
func (s *Span) clone() *Span {
	c := *s
	c.Children = make([]*Span, len(s.Children))
	for i, ch := range s.Children {
		c.Children[i] = ch.clone()
	}
	if s.Counts != nil {
		c.Counts = maps.Clone(s.Counts)
	}
	return &c
}

// wrap adds s to parent, moving under it the children parent gained while
// s ran (off-CPU time inside a page fault, faults inside an exit's
// handling), so no time is counted twice.
func wrap(parent, s *Span) {
	i := len(parent.Children)
	for i > 0 && parent.Children[i-1].Start >= s.Start && parent.Children[i-1].End <= s.End {
		i--
	}
	s.Children = append(s.Children, parent.Children[i:]...)
	parent.Children = append(parent.Children[:i], s)
}

func shift(s *Span, d int64) {
	s.Start += d
	s.End += d
	for _, c := range s.Children {
		shift(c, d)
	}
}

// guest places the guest's BOOT_TRACE records, read from the recorded
// console, on the host timeline, and returns when the guest's first
// record was taken (-1 without a guest trace).
func (rb *recBuilder) guest(c *bootCollector, skipped *Skips, opt ReadOptions) int64 {
	if c.hdr == nil || len(c.recs) == 0 {
		rb.t.Notes = append(rb.t.Notes, "no BOOT_TRACE flush on the console: the guest is shown only through the VMM")
		return -1
	}
	g := &Trace{}
	if _, err := c.finish(g, opt); err != nil {
		rb.t.Notes = append(rb.t.Notes, "the guest's BOOT_TRACE flush on the console is unusable: "+err.Error())
		return -1
	}
	ordered := c.ordered()
	tsc0, tscLast := tscRange(ordered, c.hdr.TSCkHz)
	khz := c.hdr.TSCkHz
	upper, upperWhat := consoleBound(c, ordered, tsc0, tscLast)
	lower, lowerWhat := rb.startBound(upper, cyclesToNs(tsc0, khz))
	// A KVM TSC offset places the guest exactly, if it fits the bounds and
	// the recording; nested and PVM hosts may report an offset they do not
	// apply, so an offset of 0 is tried too.
	var guestOrigin int64 // host monotonic ns of tsc0
	method := ""
	if rb.tscOff != nil && len(rb.hdr.Clock) > 1 {
		for _, cand := range []struct {
			off  int64
			what string
		}{{*rb.tscOff, "the KVM TSC offset (kvm_write_tsc_offset)"}, {0, "guest TSC = host TSC (the reported KVM TSC offset does not fit the recording: a nested or PVM host that applies none)"}} {
			o := rb.monoOfTSC(tsc0 - uint64(cand.off))
			if o >= rb.hdr.Clock[0].Mono && o >= lower-1e6 && o <= upper+1e6 {
				guestOrigin = o
				method = "exact, from " + cand.what + " and the host TSC/monotonic pairs (about 1 µs)"
				break
			}
		}
	}
	if method == "" {
		guestOrigin = upper
		method = fmt.Sprintf("bound from the console: a BOOT_TRACE line reaches the VMM after its TSC was read, so guest spans are placed at their latest possible time (tightest: %s); they ran at most %s earlier (%s)",
			upperWhat, FormatDuration(upper-lower), lowerWhat)
	}
	delta := guestOrigin - rb.origin
	for _, tr := range g.Tracks {
		tr.Name = "guest " + tr.Name
		shift(tr.Span, delta)
		tr.Source = "guest"
		rb.t.Tracks = append(rb.t.Tracks, tr)
	}
	for _, m := range g.Marks {
		m.Time += delta
		rb.t.Marks = append(rb.t.Marks, m)
	}
	rb.t.Notes = append(rb.t.Notes, g.Notes...)
	rb.t.Notes = append(rb.t.Notes, "clock: "+method)
	rb.hostInGuest(g.Tracks)
	for _, r := range skipped.Reasons {
		for range r.Count {
			rb.t.Skipped.Add(r.Reason+" (in the recorded console)", 0)
		}
	}
	return guestOrigin - rb.origin
}

// consoleBound is the latest host time the guest's first record (tsc0)
// can have been taken: every BOOT_TRACE line with a known TSC — records
// printed live, the flush's header — reached the VMM's console after that
// TSC was read. It returns the tightest bound and what gave it.
func consoleBound(c *bootCollector, recs []bootRecord, tsc0, tscLast uint64) (int64, string) {
	khz := c.hdr.TSCkHz
	ref, what := c.hdr.TSC, "the flush's header line"
	if ref == 0 {
		// Kernels that do not print the header's TSC print it after the
		// last record.
		ref, what = tscLast, "the flush's header line, printed after the last record"
	}
	best := c.hdrAt - cyclesToNs(ref-tsc0, khz)
	live := false
	for _, r := range recs {
		if r.tsc < tsc0 || r.tsc > tscLast {
			continue // outside the trace's TSC range: a jump
		}
		if b := r.at - cyclesToNs(r.tsc-tsc0, khz); b < best {
			best, live = b, true
		}
	}
	if live {
		what = "a record printed as it was taken (boottrace=live)"
	}
	return best, what
}

// startBound is the earliest host time the guest's first record can have
// been taken, upper being the latest: the VM exists only after the VMM's
// exec (or its first KVM_CREATE_VCPU), and as KVM and QEMU's emulator
// start the guest TSC at 0 then, tsc0 more nanoseconds after that — when
// that does not contradict upper (a host that gives the guest its own
// TSC).
func (rb *recBuilder) startBound(upper, sinceStart int64) (int64, string) {
	start, what := rb.origin, "the VMM's exec"
	for _, th := range rb.threads {
		th.track.Walk(func(path []*Span) bool {
			// Tracks are already shifted to time 0 = rb.origin.
			if s := path[len(path)-1]; s.Name == "KVM_CREATE_VCPU" && (what != "its first KVM_CREATE_VCPU" || rb.origin+s.Start < start) {
				start, what = rb.origin+s.Start, "its first KVM_CREATE_VCPU"
			}
			return true
		})
	}
	at := FormatDuration(start - rb.origin)
	if start+sinceStart <= upper {
		return start + sinceStart, fmt.Sprintf("the guest TSC counts from 0 when the VM starts, after %s at %s", what, at)
	}
	return start, fmt.Sprintf("the guest cannot have run before %s at %s", what, at)
}

// setup adds the VMM's set-up phase to its main thread: from its exec to
// the first KVM_RUN of any vCPU or, without KVM (an emulator), to the
// guest's first record.
func (rb *recBuilder) setup(guestStart int64) {
	main := rb.threads[uint32(rb.hdr.PID)]
	if main == nil {
		return
	}
	end, what := int64(-1), ""
	for _, tr := range rb.t.Tracks {
		if tr.Source != "vmm" {
			continue
		}
		for _, c := range tr.Children {
			if c.Name == "KVM_RUN" && (end < 0 || c.Start < end) {
				end, what = c.Start, "first KVM_RUN"
			}
		}
	}
	if end < 0 && guestStart > 0 {
		end, what = guestStart, "the guest's first C code"
	}
	if end <= main.track.Start {
		return
	}
	setup := &Span{Name: "vmm set-up (exec to " + what + ")", Kind: KindPhase, Start: main.track.Start, End: end}
	var rest []*Span
	for _, c := range main.track.Children {
		if c.End <= end {
			setup.Children = append(setup.Children, c)
		} else {
			rest = append(rest, c)
		}
	}
	main.track.Children = append([]*Span{setup}, rest...)
}

// monoOfTSC converts a host TSC to CLOCK_MONOTONIC with the clock pairs
// taken at the start and end of the recording.
func (rb *recBuilder) monoOfTSC(tsc uint64) int64 {
	pairs := rb.hdr.Clock
	a := pairs[0]
	if len(pairs) < 2 {
		return a.Mono
	}
	b := pairs[len(pairs)-1]
	hz := float64(b.TSC-a.TSC) / float64(b.Mono-a.Mono)
	return a.Mono + int64(float64(int64(tsc-a.TSC))/hz)
}

func (rb *recBuilder) notes(end *RecordingEnd) {
	t := rb.t
	if end == nil {
		t.Notes = append(t.Notes, "partial: the recording has no end line (boottrace was killed or the file was cut); everything up to the last line is shown")
	} else {
		t.Notes = append(t.Notes, "recording stopped: "+end.Reason)
		if end.Exit != "" {
			t.Notes = append(t.Notes, "the VMM ended with "+end.Exit)
		}
		if end.Lost > 0 {
			t.Notes = append(t.Notes, fmt.Sprintf("partial: %d probe events were lost to a full ring buffer", end.Lost))
		} else {
			t.Notes = append(t.Notes, "no probe event lost")
		}
	}
	t.Notes = append(t.Notes, fmt.Sprintf("probes attached: %d of %d; %d events", len(rb.hdr.Attached), len(rb.hdr.Attached)+len(rb.hdr.Missing), rb.events))
	if end != nil {
		var fired []string
		for _, tp := range rb.hdr.Attached {
			if n := end.Fired[tp]; n > 0 {
				fired = append(fired, fmt.Sprintf("%s %d", tp, n))
			}
		}
		t.Notes = append(t.Notes, "fired: "+strings.Join(fired, ", "))
	}
	for tp, why := range rb.hdr.Missing {
		t.Notes = append(t.Notes, fmt.Sprintf("not attached: %s (%s)", tp, why))
	}
	var counts []string
	for k, v := range rb.faults {
		counts = append(counts, fmt.Sprintf("%d page faults on %s", v, k))
	}
	if len(rb.faults) > 0 && len(rb.slots) == 0 {
		t.Notes = append(t.Notes, "page faults on guest memory are not told from the VMM's own: the VMM gave KVM no memory slots (an emulator, such as QEMU's TCG)")
	}
	if rb.kvmFaults > 0 {
		counts = append(counts, fmt.Sprintf("%d KVM page faults on guest memory (kvm_page_fault), counted on the exit or KVM_RUN they happened in", rb.kvmFaults))
	}
	for what, n := range rb.accesses {
		counts = append(counts, fmt.Sprintf("%d %s", n, what))
	}
	sort.Strings(counts)
	t.Notes = append(t.Notes, counts...)
	if len(rb.emulated) > 0 {
		t.Notes = append(t.Notes, rb.emulatedNote())
	}
}

// hostInGuest copies the host's work on each vCPU — exits handled by the
// VMM and VM exits handled by KVM — under the guest span it interrupted:
// the span of the guest task that was on that vCPU's CPU then (the vCPUs
// in id order are the guest's CPUs 0, 1, ...). With one vCPU and no id,
// the guest's first track is used.
func (rb *recBuilder) hostInGuest(guest []Track) {
	var vcpus []*thread
	for _, th := range rb.threads {
		if th.vcpu {
			vcpus = append(vcpus, th)
		}
	}
	if len(vcpus) == 0 || len(guest) == 0 {
		return
	}
	if len(vcpus) > 1 {
		for _, th := range vcpus {
			if th.vcpuID < 0 {
				rb.t.Notes = append(rb.t.Notes, "host exits stay on the VMM's vCPU threads: the recording does not say which vCPU each thread ran")
				return
			}
		}
	}
	// The guest numbers its CPUs in the order of the firmware's table,
	// which VMMs write in vCPU id order (on x86 the id is the APIC id,
	// which may have gaps): the k-th smallest id runs guest CPU k.
	ids := slices.Sorted(maps.Values(rb.vcpuFDs))
	ids = slices.Compact(ids)
	cpuOf := func(id int) int {
		if i, ok := slices.BinarySearch(ids, id); ok {
			return i
		}
		return id
	}
	placed := 0
	for _, th := range vcpus {
		cpu := cpuOf(th.vcpuID)
		th.track.Walk(func(path []*Span) bool {
			s := path[len(path)-1]
			if s.Kind != KindHost {
				return true
			}
			var root *Span
			for _, g := range guest {
				if (len(vcpus) == 1 && th.vcpuID < 0) || g.CPUAt(s.Start) == cpu {
					if g.Start <= s.Start && s.End <= g.End {
						root = g.Span
						break
					}
				}
			}
			if root == nil {
				return false
			}
			// The deepest guest span holding the host work.
			at := root
			for {
				var next *Span
				for _, c := range at.Children {
					if c.Kind != KindHost && c.Start <= s.Start && s.End <= c.End {
						next = c
						break
					}
				}
				if next == nil {
					break
				}
				at = next
			}
			at.Children = append(at.Children, s.clone())
			placed++
			return false
		})
	}
	if placed > 0 {
		for _, g := range guest {
			g.sortChildren()
		}
		rb.t.Notes = append(rb.t.Notes, fmt.Sprintf("%d host exits placed under the guest spans they interrupted (and kept on the vCPU threads)", placed))
	}
}

// emulatedNote says how many instructions KVM emulated and where in the
// guest most were, by symbol when the guest's symbols are given.
func (rb *recBuilder) emulatedNote() string {
	type at struct {
		rip uint64
		n   int
	}
	var all []at
	total := 0
	for rip, n := range rb.emulated {
		all = append(all, at{rip, n})
		total += n
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].rip < all[j].rip })
	var top []string
	for _, a := range all[:min(3, len(all))] {
		where := fmt.Sprintf("0x%x", a.rip)
		if name, off, ok := rb.syms.Lookup(a.rip); ok {
			where += fmt.Sprintf(" (%s+0x%x)", name, off)
		}
		top = append(top, fmt.Sprintf("%s %d", where, a.n))
	}
	return fmt.Sprintf("%d instructions emulated by KVM (kvm_emulate_insn), most at guest RIP %s", total, strings.Join(top, ", "))
}
