package input

// A recording's probe events become the VMM's thread tracks here: ioctls,
// exits, page faults and off-CPU time, built in time order as they come.

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"

	"github.com/boottrace/boottrace/symbolize"
)

// memslot is a guest memory range from KVM_SET_USER_MEMORY_REGION, of a
// VM (the VMM's process and the VM's file descriptor).
type memslot struct {
	tgid      uint32
	vmfd      int64
	slot      uint32
	gpa, size uint64
	uaddr     uint64
	// deleted is when the slot was deleted or replaced (0: never).
	deleted int64
}

// vcpuKey names a vCPU across the recording: two VMMs (or two VMs) each
// have a vCPU 0, and file descriptor numbers repeat across processes.
type vcpuKey struct {
	tgid uint32
	n    int64 // the vCPU's id, or its file descriptor
}

// compare orders vcpuKeys by process, then number.
func (a vcpuKey) compare(b vcpuKey) int {
	return cmp.Or(cmp.Compare(a.tgid, b.tgid), cmp.Compare(a.n, b.n))
}

// thread is one VMM thread while a recording is read.
type thread struct {
	tid      uint32
	tgid     uint32 // its process, from its own events (0: none seen)
	exited   int64  // when it exited (sched_process_exit), else 0
	track    *trace.Span
	stack    []*trace.Span
	vcpu     bool
	vcpuID   int // from KVM_CREATE_VCPU, -1 when unknown
	comm     string
	offSince int64
	offState int64
	runEnd   int64  // when the last KVM_RUN returned
	exit     string // why it returned
	// access is the device address of the last port I/O or MMIO, named
	// as the exit to the VMM it may cause: "io 0x3f8", "mmio 0xfeb00000".
	access deviceAccess
	fault  *openFault // a page fault entered and not yet accounted
	// region is the memory slot a KVM_SET_USER_MEMORY_REGION in progress
	// sets: it takes effect if the ioctl succeeds.
	region *memslot
}

// openFault is a page fault between exceptions:page_fault_* and the
// software event that accounts it.
type openFault struct {
	start  int64
	addr   int64
	parent *trace.Span // what the fault interrupted
	pages  map[string]int64
}

func newRecBuilder(t *trace.Trace, hdr *tracefile.Header, opt ReadOptions) *recBuilder {
	return &recBuilder{
		t: t, hdr: hdr, threads: map[uint32]*thread{}, byKind: make([]uint64, len(tracefile.Kinds)+1), tscOffs: map[vcpuKey][]tscOffset{}, pages: map[int64]int{}, vcpuFDs: map[vcpuKey]int{}, creating: map[uint32]int{}, tscKHz: map[uint32]int64{}, vmStats: map[vcpuKey]map[string]int64{},
		syms: opt.Symbols, origin: -1, faults: map[string]int{}, accesses: map[deviceAccess]int{}, accessNames: map[deviceAccess]string{}, emulated: map[uint64]int{},
	}
}

type recBuilder struct {
	t *trace.Trace
	// held are events waiting for their turn (see add); newest is the
	// latest time seen, done the time of the last event built.
	held      heldEvents
	newest    int64
	done      int64
	events    int
	faultList []faultClass
	// vcpuFDs maps a vCPU's file descriptor to its id (KVM_CREATE_VCPU's
	// argument), and creating holds the id a thread is creating.
	vcpuFDs  map[vcpuKey]int
	creating map[uint32]int
	hdr      *tracefile.Header
	threads  map[uint32]*thread
	order    []uint32
	slots    []memslot
	// slotsEver is whether any slot was made; regionUnread counts memory
	// region ioctls whose argument the probes could not read.
	slotsEver    bool
	regionUnread int
	origin       int64
	last         int64
	faults       map[string]int
	// kvmFaults counts kvm:kvm_page_fault.
	kvmFaults int
	// accesses counts port I/O and MMIO by device address; emulated
	// counts instructions KVM emulated by guest RIP.
	accesses    map[deviceAccess]int
	accessNames map[deviceAccess]string // names made once per address
	emulated    map[uint64]int
	// emulatedInEnd is how many of them the end line counted.
	emulatedInEnd uint64
	// byKind counts the probe events in the file, to compare with what fired.
	byKind []uint64 // by tracefile.Kind
	// losses locates lost events from their numbers.
	losses losses
	syms   *symbolize.Table
	// tscOffs are the TSC offsets KVM wrote (kvm_write_tsc_offset) or
	// debugfs showed, by vCPU, in time order; tscKHz is the guest TSC
	// frequency each VMM process set (KVM_SET_TSC_KHZ): the guest's TSC is
	// then scaled, or caught up where the hardware cannot scale.
	tscOffs map[vcpuKey][]tscOffset
	tscKHz  map[uint32]int64
	// debugfs is what KVM's debugfs said of each vCPU (its TSC) and VM
	// (its counters), last seen; debugfsSeen whether the recorder read
	// debugfs at all.
	debugfs     map[vcpuKey]map[string]int64
	vmStats     map[vcpuKey]map[string]int64
	debugfsSeen bool
	// pages counts the host's page allocations by order.
	pages map[int64]int
	// samples are the guest stacks sampled on each vCPU thread;
	// samplesNoRIP and samplesBad count those left out.
	samples                  map[uint32][]guestSample
	samplesNoRIP, samplesBad int
}

// pageSize names the size of a page allocation of the given order.
func pageSize(order int64) string {
	switch order {
	case 0:
		return "4 KiB"
	case 9:
		return "2 MiB"
	case 18:
		return "1 GiB"
	}
	return fmt.Sprintf("order %d, %d KiB", order, 4<<order)
}

// tscOffset is one TSC offset of a vCPU from the time at on: from
// kvm_write_tsc_offset, or read in debugfs (with the scaling ratio there,
// 0 where the hardware has none).
type tscOffset struct {
	at, off int64
	debugfs bool
	ratio   float64
}

func (rb *recBuilder) thread(tid uint32, at int64) *thread {
	th := rb.threads[tid]
	if th == nil {
		th = &thread{tid: tid, offSince: -1, vcpuID: -1, track: &trace.Span{Kind: trace.KindTrack, Start: at, End: at}}
		rb.threads[tid] = th
		rb.order = append(rb.order, tid)
	}
	th.track.End = max(th.track.End, at)
	return th
}

func (th *thread) top() *trace.Span {
	if len(th.stack) > 0 {
		return th.stack[len(th.stack)-1]
	}
	return th.track
}

func (th *thread) push(s *trace.Span) {
	p := th.top()
	p.Children = append(p.Children, s)
	th.stack = append(th.stack, s)
}

// faultClass is a page fault to classify once all memory slots are known:
// a VMM touches guest memory before it tells KVM where it is. A timed
// fault is a span of its own; one whose end never came (it failed, or its
// software event is missing) is counted on the span it interrupted.
type faultClass struct {
	at    int64
	tgid  uint32
	addr  uint64
	span  *trace.Span
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

// deviceAccess is a port (I/O) or page (MMIO) a vCPU thread accessed.
type deviceAccess struct {
	mmio, valid bool
	addr        int64
}

// kind is the exit reason the access comes with: "io" or "mmio".
func (a deviceAccess) kind() string {
	if a.mmio {
		return "mmio"
	}
	return "io"
}

// name is how an exit for the access is named: "io 0x3f8".
func (a deviceAccess) name() string { return fmt.Sprintf("%s 0x%x", a.kind(), a.addr) }

// count says n accesses in a note.
func (a deviceAccess) count(n int) string {
	if a.mmio {
		return fmt.Sprintf("%d MMIO accesses on page 0x%x", n, a.addr)
	}
	return fmt.Sprintf("%d port I/O exits on 0x%x", n, a.addr)
}

// heldEvents orders events by time, then by their place in the file.
// They come nearly in order (the recorder writes them as the ring buffer
// hands them over), so most are appended to a sorted queue and only the
// few that are late go to a heap: no event is moved more than a heap's
// depth, whatever the input's order.
type heldEvents struct {
	queue []heldEvent // sorted, from head on
	head  int
	late  eventHeap
}

type heldEvent struct {
	tracefile.Event
	seq  int
	line int // in the file, for skip reports
}

func (a *heldEvent) before(b *heldEvent) bool {
	return a.Time < b.Time || a.Time == b.Time && a.seq < b.seq
}

func (h *heldEvents) Len() int { return len(h.queue) - h.head + len(h.late) }

func (h *heldEvents) push(e heldEvent) {
	if n := len(h.queue); n == h.head || !e.before(&h.queue[n-1]) {
		h.queue = append(h.queue, e)
		return
	}
	heap.Push(&h.late, e)
}

// lateFirst reports whether the earliest event is a late one.
func (h *heldEvents) lateFirst() bool {
	return len(h.late) > 0 && (h.head == len(h.queue) || h.late[0].before(&h.queue[h.head]))
}

// first is the earliest event; Len must not be 0.
func (h *heldEvents) first() *heldEvent {
	if h.lateFirst() {
		return &h.late[0]
	}
	return &h.queue[h.head]
}

// pop removes the earliest event; Len must not be 0.
func (h *heldEvents) pop() heldEvent {
	if h.lateFirst() {
		return heap.Pop(&h.late).(heldEvent)
	}
	e := h.queue[h.head]
	h.queue[h.head] = heldEvent{} // its memory can go
	h.head++
	if h.head == len(h.queue) {
		h.queue, h.head = h.queue[:0], 0
	} else if h.head >= 1024 && h.head >= len(h.queue)/2 {
		n := copy(h.queue, h.queue[h.head:])
		h.queue, h.head = h.queue[:n], 0
	}
	return e
}

// eventHeap orders late events by time, then by their place in the file.
type eventHeap []heldEvent

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].before(&h[j]) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(heldEvent)) }

func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// add takes the next probe event of the file. Events are built into spans
// in time order as soon as no earlier one can still come, so only a
// window of them is held, not the recording.
func (rb *recBuilder) add(e *tracefile.Event, line int) {
	rb.events++
	if int(e.Type) < len(rb.byKind) {
		rb.byKind[e.Type]++
	}
	rb.losses.add(e)
	if rb.origin < 0 && e.Type == tracefile.KindExec && int(e.TGID) == rb.hdr.PID {
		rb.origin = e.Time
	}
	if e.Time < rb.done {
		rb.t.Skipped.Add(skipLate, line)
		return
	}
	rb.newest = max(rb.newest, e.Time)
	rb.held.push(heldEvent{*e, rb.events, line})
	// Attached to a running VMM, time 0 is the first event; else the
	// VMM's exec, which comes first unless the file lacks it.
	if rb.origin < 0 && (rb.held.Len() > maxHeld || rb.hdr.Attach && rb.held.first().Time < rb.newest-reorderWindow) {
		rb.noOrigin()
	}
	for rb.origin >= 0 && rb.held.Len() > 0 && rb.held.first().Time < rb.newest-reorderWindow {
		h := rb.held.pop()
		rb.event(&h)
	}
}

// noOrigin makes the first event time 0, for want of the VMM's exec.
func (rb *recBuilder) noOrigin() {
	if rb.held.Len() > 0 {
		rb.origin = rb.held.first().Time
		rb.t.Notes = append(rb.t.Notes, "no exec of the VMM in the recording (attached to a running VMM?): time 0 is the first event")
	}
}

// untimed counts a fault whose end was not seen on what it interrupted.
func (rb *recBuilder) untimed(th *thread) {
	if f := th.fault; f != nil {
		if f.parent.Counts == nil {
			f.parent.Counts = map[string]int64{}
		}
		for what, n := range f.pages {
			f.parent.Counts[what] += n
		}
		rb.faultList = append(rb.faultList, faultClass{at: f.start, tgid: th.tgid, addr: uint64(f.addr), span: f.parent})
		th.fault = nil
	}
}

// event builds one probe event into the VMM's thread tracks.
func (rb *recBuilder) event(h *heldEvent) {
	e := &h.Event
	rb.done = e.Time
	if e.Time < rb.origin {
		return // the gate's shell before it became the VMM
	}
	rb.last = max(rb.last, e.Time)
	f := e.Value
	kind := e.Type
	// Every event but the switch-in side of sched_switch runs in the
	// context of the thread it names.
	defer func() {
		if th := rb.threads[e.TID]; th != nil && e.TGID != 0 {
			th.tgid = e.TGID
		}
	}()
	{
		switch kind {
		case tracefile.KindIoctlEnter:
			th := rb.thread(e.TID, e.Time)
			// A thread is in one syscall at a time: an ioctl still open
			// lost its exit event. It ends here, so that it does not
			// swallow every later one.
			rb.closeLost(th, e.Time, trace.KindIoctl, h.line)
			name := ioctlName(f("cmd"))
			if name == "KVM_CREATE_VCPU" {
				rb.creating[e.TID] = int(f("arg"))
			}
			if name == "KVM_SET_TSC_KHZ" {
				rb.tscKHz[e.TGID] = f("arg")
			}
			if name == "KVM_RUN" {
				th.vcpu = true
				if id, ok := rb.vcpuFDs[vcpuKey{e.TGID, f("fd")}]; ok {
					th.vcpuID = id
				}
				if th.runEnd > 0 && th.exit != "" {
					// The VMM handled the exit between two KVM_RUNs.
					wrap(th.top(), &trace.Span{Name: "[host] userspace exit " + th.exit, Kind: trace.KindHost, Start: th.runEnd, End: e.Time})
				}
				th.exit, th.runEnd = "", 0
			}
			th.region = nil
			if strings.HasPrefix(name, "KVM_SET_USER_MEMORY_REGION") {
				if len(e.Mem) < 32 {
					rb.regionUnread++
				} else {
					th.region = &memslot{
						tgid: e.TGID, vmfd: f("fd"),
						slot: binary.LittleEndian.Uint32(e.Mem[0:]), gpa: binary.LittleEndian.Uint64(e.Mem[8:]),
						size: binary.LittleEndian.Uint64(e.Mem[16:]), uaddr: binary.LittleEndian.Uint64(e.Mem[24:]),
					}
				}
			}
			th.push(&trace.Span{Name: name, Kind: trace.KindIoctl, Start: e.Time})
		case tracefile.KindIoctlExit:
			th := rb.thread(e.TID, e.Time)
			j := len(th.stack) - 1
			for j >= 0 && th.stack[j].Kind != trace.KindIoctl {
				j--
			}
			if j < 0 {
				rb.t.Skipped.Add(skipUnmatched, h.line)
				return
			}
			for _, s := range th.stack[j:] {
				s.End = e.Time
			}
			if th.stack[j].Name == "KVM_RUN" {
				th.runEnd = e.Time
			}
			if id, ok := rb.creating[e.TID]; ok && th.stack[j].Name == "KVM_CREATE_VCPU" {
				if f("ret") >= 0 {
					rb.vcpuFDs[vcpuKey{e.TGID, f("ret")}] = id
				}
				delete(rb.creating, e.TID)
			}
			if th.region != nil && strings.HasPrefix(th.stack[j].Name, "KVM_SET_USER_MEMORY_REGION") && f("ret") == 0 {
				rb.setSlot(*th.region, e.Time)
			}
			th.region = nil
			th.stack = th.stack[:j]
		case tracefile.KindPio:
			th := rb.thread(e.TID, e.Time)
			th.access = deviceAccess{valid: true, addr: f("port")}
			rb.accesses[th.access]++
		case tracefile.KindMmio:
			// Grouped by page: a device's registers share one.
			th := rb.thread(e.TID, e.Time)
			th.access = deviceAccess{mmio: true, valid: true, addr: f("gpa") &^ 0xfff}
			rb.accesses[th.access]++
		case tracefile.KindEmulateInsn:
			rb.thread(e.TID, e.Time)
			rb.emulated[uint64(f("rip"))]++
		case tracefile.KindGuestSample:
			rb.thread(e.TID, e.Time)
			rb.sample(e)
		case tracefile.KindUserspaceExit:
			th := rb.thread(e.TID, e.Time)
			th.exit = exitReason(f("reason"))
			if a := th.access; a.valid && th.exit == a.kind() {
				name, ok := rb.accessNames[a]
				if !ok {
					name = a.name()
					rb.accessNames[a] = name
				}
				th.exit = name
			}
			th.access = deviceAccess{}
		case tracefile.KindKVMExit:
			th := rb.thread(e.TID, e.Time)
			// An exit still open lost its kvm_entry.
			if top := th.top(); top.Kind == trace.KindHost && top.End == 0 && len(th.stack) > 0 {
				rb.closeLost(th, e.Time, trace.KindHost, h.line)
			}
			th.push(&trace.Span{Name: "[host] exit " + vmExitName(f("isa"), f("exit_reason")), Kind: trace.KindHost, Start: e.Time})
		case tracefile.KindKVMEntry:
			th := rb.thread(e.TID, e.Time)
			if top := th.top(); top.Kind == trace.KindHost && top.End == 0 {
				top.End = e.Time
				th.stack = th.stack[:len(th.stack)-1]
				faultIn(top)
			}
		case tracefile.KindKVMPageFault:
			// KVM resolving a guest access to memory it has not mapped yet
			// (inside an EPT/NPT violation exit, when the host reports those).
			top := rb.thread(e.TID, e.Time).top()
			if top.Counts == nil {
				top.Counts = map[string]int64{}
			}
			top.Counts["KVM page faults on guest memory"]++
			rb.kvmFaults++
		case tracefile.KindPageAlloc:
			// Pages the host allocated while this thread ran: a fault, KVM
			// faulting guest memory in, a prefault. Counted on what the
			// thread was doing (the fault in progress, if any), by page size.
			what := "host pages allocated (" + pageSize(f("order")) + ")"
			th := rb.thread(e.TID, e.Time)
			if th.fault != nil {
				if th.fault.pages == nil {
					th.fault.pages = map[string]int64{}
				}
				th.fault.pages[what]++
			} else {
				top := th.top()
				if top.Counts == nil {
					top.Counts = map[string]int64{}
				}
				top.Counts[what]++
			}
			rb.pages[f("order")]++
		case tracefile.KindWriteTSCOffset:
			k := vcpuKey{e.TGID, f("vcpu_id")}
			rb.tscOffs[k] = append(rb.tscOffs[k], tscOffset{at: e.Time, off: f("next_tsc_offset")})
		case tracefile.KindPageFaultUser, tracefile.KindPageFaultKernel:
			th := rb.thread(e.TID, e.Time)
			rb.untimed(th)
			th.fault = &openFault{start: e.Time, addr: f("address"), parent: th.top()}
		case tracefile.KindMinorFaultDone, tracefile.KindMajorFaultDone:
			th := rb.thread(e.TID, e.Time)
			if th.fault == nil || th.fault.addr != f("address") {
				rb.untimed(th)
				rb.t.Skipped.Add(skipFaultEnd, h.line)
				return
			}
			s := &trace.Span{Kind: trace.KindHost, Start: th.fault.start, End: e.Time, Counts: th.fault.pages}
			wrap(th.fault.parent, s)
			rb.faultList = append(rb.faultList, faultClass{at: th.fault.start, tgid: e.TGID, addr: uint64(f("address")), span: s, timed: true, major: kind == tracefile.KindMajorFaultDone})
			th.fault = nil
		case tracefile.KindSchedSwitch:
			if prev := uint32(f("prev_pid")); rb.followed(e, prev) {
				th := rb.thread(prev, e.Time)
				th.offSince, th.offState = e.Time, f("prev_state")
				if e.Comm != "" {
					th.comm = trace.CleanName(e.Comm)
				}
			}
			if next := uint32(f("next_pid")); rb.threads[next] != nil && rb.threads[next].offSince >= 0 {
				th := rb.threads[next]
				name := "[off-cpu] sleeping"
				// Preemption reports TASK_REPORT_MAX (0x100), not 0:
				// no state bit in the low byte is runnable.
				if th.offState&0xff == 0 {
					name = "[off-cpu] preempted"
				}
				s := &trace.Span{Name: name, Kind: trace.KindOffCPU, Start: th.offSince, End: e.Time}
				th.top().Children = append(th.top().Children, s)
				th.offSince = -1
				th.track.End = max(th.track.End, e.Time)
			}
		case tracefile.KindFork:
			rb.thread(e.TID, e.Time)
			rb.thread(uint32(f("child_pid")), e.Time)
		case tracefile.KindExit:
			rb.thread(e.TID, e.Time).exited = e.Time
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
		h := rb.held.pop()
		rb.event(&h)
	}
	unfinished := 0
	for _, tid := range rb.order {
		th := rb.threads[tid]
		rb.untimed(th)
		// A thread that exited ends there; the others run to the end.
		end := rb.last
		if th.exited > 0 {
			end = th.exited
		}
		for _, s := range th.stack {
			s.End, s.Unfinished = end, true
			unfinished++
		}
		th.track.End = max(th.track.End, end)
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
			if th.tgid == tid {
				th.track.Name = fmt.Sprintf("vmm child process %d", tid)
			}
		}
		if th.comm != "" {
			th.track.Name += " (" + th.comm + ")"
		}
		shift(th.track, -rb.origin)
		fixEnds(th.track)
		th.track.SortChildren()
		rb.t.Tracks = append(rb.t.Tracks, trace.Track{Span: th.track, Source: "vmm", CPU: -1, Process: int(th.tgid)})
	}
	for _, f := range rb.faultList {
		what := rb.classify(f.tgid, f.addr, f.at)
		rb.faults[what]++
		if f.timed {
			f.span.Name = "[host] page fault " + what
			if f.major {
				f.span.Name += " (major)"
			}
			f.span.Name += pagesSuffix(f.span.Counts)
		}
		if f.span.Counts == nil {
			f.span.Counts = map[string]int64{}
		}
		f.span.Counts["page faults on "+what]++
	}
}

// closeLost ends the open spans of a kind on a thread's stack, and what
// is nested in them, at time at: their end event was lost.
func (rb *recBuilder) closeLost(th *thread, at int64, kind trace.Kind, line int) {
	j := len(th.stack) - 1
	for j >= 0 && th.stack[j].Kind != kind {
		j--
	}
	if j < 0 {
		return
	}
	for _, s := range th.stack[j:] {
		s.End, s.Unfinished = at, true
	}
	th.stack = th.stack[:j]
	rb.t.Skipped.Add(skipLostEnd, line)
}

// followed reports whether a switched-out task is a VMM thread: the event
// runs in its context, so its tgid is the event's.
func (rb *recBuilder) followed(e *tracefile.Event, tid uint32) bool {
	return rb.threads[tid] != nil || int(e.TGID) == rb.hdr.PID
}

// setSlot applies a KVM_SET_USER_MEMORY_REGION that succeeded at time
// at: a slot is made, moved or (size 0) deleted.
func (rb *recBuilder) setSlot(m memslot, at int64) {
	for i, s := range rb.slots {
		if s.tgid == m.tgid && s.vmfd == m.vmfd && s.slot == m.slot && s.deleted == 0 {
			rb.slots[i].deleted = at
		}
	}
	if m.size > 0 {
		rb.slots = append(rb.slots, m)
		rb.slotsEver = true
	}
}

// classify says whose memory a fault of process tgid at addr, at time at,
// was in: guest memory if a slot of that process held the address and was
// not deleted before then. A slot made after the fault counts (a VMM
// writes guest memory before it tells KVM where it is); one deleted
// before it does not (VMMs delete and remake slots, and the address may be
// reused for the VMM's own memory).
func (rb *recBuilder) classify(tgid uint32, addr uint64, at int64) string {
	for _, s := range rb.slots {
		if (s.tgid == tgid || tgid == 0) && addr >= s.uaddr && addr < s.uaddr+s.size && (s.deleted == 0 || at < s.deleted) {
			return "guest memory"
		}
	}
	if !rb.slotsEver {
		return "VMM or guest memory" // no KVM memory slots: an emulator
	}
	return "VMM memory"
}

// faultIn names an EPT/NPT violation exit in which the host allocated
// guest memory for what it is: KVM faulting in guest memory on first
// touch, the main host cost of a KVM boot, which no page fault event
// reports (get_user_pages runs handle_mm_fault without registers).
func faultIn(s *trace.Span) {
	if (s.Name == "[host] exit ept violation" || s.Name == "[host] exit npf") && s.Counts != nil {
		if suffix := pagesSuffix(s.Counts); suffix != "" {
			s.Name = "[host] KVM fault-in guest memory" + suffix
		}
	}
}

// pagesSuffix names the largest page a span allocated, " (2 MiB page)",
// or "" when it allocated none: 2 MiB against 4 KiB is whether guest
// memory is backed by huge pages (a 4 KiB page-table page may come with a
// huge page; not the other way round).
func pagesSuffix(counts map[string]int64) string {
	best, bestOrder := "", int64(-1)
	for what, n := range counts {
		size, ok := strings.CutPrefix(what, "host pages allocated (")
		if !ok || n == 0 {
			continue
		}
		size = strings.TrimSuffix(size, ")")
		for order := range int64(19) {
			if pageSize(order) == size && order > bestOrder {
				best, bestOrder = size, order
			}
		}
	}
	if best == "" {
		return ""
	}
	return " (" + best + " page)"
}

// wrap adds s to parent, moving under it the children parent gained while
// s ran (off-CPU time inside a page fault, faults inside an exit's
// handling), so no time is counted twice.
func wrap(parent, s *trace.Span) {
	i := len(parent.Children)
	for i > 0 && parent.Children[i-1].Start >= s.Start && parent.Children[i-1].End <= s.End {
		i--
	}
	s.Children = append(s.Children, parent.Children[i:]...)
	parent.Children = append(parent.Children[:i], s)
}

func shift(s *trace.Span, d int64) {
	s.Start += d
	s.End += d
	for _, c := range s.Children {
		shift(c, d)
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

// debugfsEvent takes what the recorder read in KVM's debugfs: a vCPU's
// TSC offset and scaling ratio, or a VM's counters.
func (rb *recBuilder) debugfsEvent(e tracefile.Event) {
	rb.debugfsSeen = true
	f := e.Fields
	vcpu, ok := f["vcpu"]
	if !ok {
		return
	}
	if vcpu < 0 {
		st := maps.Clone(f)
		st["at"] = e.Time
		rb.vmStats[vcpuKey{e.TGID, f["vm_fd"]}] = st
		return
	}
	off, ok := f["tsc_offset"]
	if !ok {
		return
	}
	o := tscOffset{at: e.Time, off: off, debugfs: true}
	if r, ok := f["tsc_scaling_ratio"]; ok && f["tsc_scaling_ratio_frac_bits"] > 0 && f["tsc_scaling_ratio_frac_bits"] < 64 {
		o.ratio = float64(uint64(r)) / math.Exp2(float64(f["tsc_scaling_ratio_frac_bits"]))
	}
	k := vcpuKey{e.TGID, vcpu}
	rb.tscOffs[k] = append(rb.tscOffs[k], o)
}

// bootVCPU is the vCPU that runs the guest's CPU 0: the lowest id of the
// process whose vCPU thread ran first, and when that first KVM_RUN began
// (host time; -1 without one).
func (rb *recBuilder) bootVCPU() (vcpuKey, int64) {
	var proc uint32
	firstRun := int64(-1)
	for _, tid := range rb.order {
		th := rb.threads[tid]
		if !th.vcpu {
			continue
		}
		for _, c := range th.track.Children {
			if c.Name == "KVM_RUN" && (firstRun < 0 || c.Start+rb.origin < firstRun) {
				firstRun, proc = c.Start+rb.origin, th.tgid
			}
		}
	}
	boot := vcpuKey{proc, -1}
	for k := range rb.tscOffs {
		if (proc == 0 || k.tgid == proc) && (boot.n < 0 || k.n < boot.n || proc == 0 && k.tgid < boot.tgid) {
			boot = k
		}
	}
	return boot, firstRun
}

// offsetAt is the vCPU's TSC offset in effect at host time at (the first
// one known before then, else the first), from debugfs or the tracepoint.
func offsetAt(offs []tscOffset, at int64, debugfs bool) (tscOffset, bool) {
	var found tscOffset
	ok := false
	for _, o := range offs {
		if o.debugfs != debugfs {
			continue
		}
		if !ok || o.at <= at {
			found, ok = o, true
		}
	}
	return found, ok
}

// guestClock is one way of reading the guest's TSC on the host's clock:
// guest TSC = host TSC × ratio + offset, taken from what. at gives the
// offset in effect at a host time, for offsets that change as the guest
// runs (KVM catching up a TSC the hardware cannot scale, a restore).
type guestClock struct {
	ratio float64
	what  string
	at    func(int64) int64
}

// guestClocks lists the ways to place the guest's TSC, best first: KVM's
// debugfs (the offset and ratio KVM applies), then kvm_write_tsc_offset
// with the ratio from KVM_SET_TSC_KHZ, then the guest TSC as the host's.
func (rb *recBuilder) guestClocks(hostKHz float64) (clocks []guestClock, notes []string) {
	boot, firstRun := rb.bootVCPU()
	offs := rb.tscOffs[boot]
	name := fmt.Sprintf("vCPU %d", boot.n)
	d, fromDebugfs := offsetAt(offs, firstRun, true)
	if fromDebugfs {
		ratio, what := 1.0, ""
		if d.ratio > 0 {
			ratio = d.ratio
			what = fmt.Sprintf(" and tsc-scaling-ratio (%.6f)", d.ratio)
		}
		clocks = append(clocks, guestClock{ratio, "KVM's debugfs tsc-offset of " + name + what, func(at int64) int64 { o, _ := offsetAt(offs, at, true); return o.off }})
	}
	khz := rb.tscKHz[boot.tgid]
	if _, ok := offsetAt(offs, firstRun, false); ok {
		ratio, what := 1.0, ""
		if khz > 0 && hostKHz > 0 && !rb.debugfsSeen {
			ratio = float64(khz) / hostKHz
			what = fmt.Sprintf("; the guest TSC scaled to %d kHz on a %.0f kHz host (KVM_SET_TSC_KHZ)", khz, hostKHz)
		}
		clocks = append(clocks, guestClock{ratio, name + "'s KVM TSC offset (kvm_write_tsc_offset)" + what, func(at int64) int64 { o, _ := offsetAt(offs, at, false); return o.off }})
	}
	if len(clocks) > 0 || len(rb.tscOffs) > 0 {
		clocks = append(clocks, guestClock{1, "guest TSC = host TSC (the reported KVM TSC offset does not fit the recording: a nested or PVM host that applies none)", func(int64) int64 { return 0 }})
	}
	if fromDebugfs && d.ratio == 0 && khz > 0 && hostKHz > 0 && float64(khz) > hostKHz*1.001 {
		notes = append(notes, fmt.Sprintf("the VMM set the guest TSC to %d kHz (KVM_SET_TSC_KHZ) on a %.0f kHz host that cannot scale it (debugfs has no tsc-scaling-ratio): KVM runs the guest TSC at the host's rate and moves it forward at clock updates, so guest durations are not exact", khz, hostKHz))
	}
	// Every vCPU should have the boot vCPU's offset (KVM matches the
	// offsets a VMM writes at start): one that does not has its records
	// misplaced by the difference.
	if o, ok := offsetAt(offs, firstRun, fromDebugfs); ok {
		for _, k := range slices.SortedFunc(maps.Keys(rb.tscOffs), vcpuKey.compare) {
			if k.tgid != boot.tgid || k == boot {
				continue
			}
			if p, ok := offsetAt(rb.tscOffs[k], firstRun, o.debugfs); ok && p.off != o.off && hostKHz > 0 {
				notes = append(notes, fmt.Sprintf("vCPU %d's TSC offset differs from vCPU %d's by %d cycles (%s): its records are misplaced by that much", k.n, boot.n, p.off-o.off, trace.FormatDuration(int64(math.Abs(float64(p.off-o.off))/hostKHz*1e6))))
			}
		}
	}
	return clocks, notes
}
