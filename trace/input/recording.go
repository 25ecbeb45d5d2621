package input

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// Skip reasons of the trace file reader.
const (
	skipBadEvent   = "trace file lines that are not events (cut or corrupted)"
	skipUnmatched  = "ioctl exits without their entry (the recording began mid-call)"
	skipSecondHead = "trace file headers after the first"
	skipFaultEnd   = "page fault ends without their start (the recording began mid-fault)"
	skipLate       = "probe events out of time order by more than 10 ms"
	skipLostEnd    = "ioctls and exits whose end event is missing (ended at the next one's start)"
)

// ReadRecording reads a trace file written by "boottrace record": the
// VMM's threads with their ioctls (KVM ones by name), exits to the VMM,
// VM exits, off-CPU time, and the guest's BOOT_TRACE records placed on the
// same timeline. Time 0 is the exec of the VMM.
func ReadRecording(r io.Reader, opt ReadOptions) (*trace.Trace, error) {
	return readRecording(newLineReader(r), opt)
}

func readRecording(lr *lineReader, opt ReadOptions) (*trace.Trace, error) {
	t := &trace.Trace{Format: FormatRecording, Timed: true}
	var hdr *tracefile.Header
	var rb *recBuilder
	// The console is read as it comes, so a guest that prints a lot costs
	// no memory: only its BOOT_TRACE lines are kept.
	console := newBootCollector()
	var lines tracefile.LineSplitter
	var consoleSkips trace.Skips
	addLine := consoleLines(&lines, &consoleSkips, func(b []byte) { console.add(b, lines.Line(), &consoleSkips) })
	// Records read from guest memory come as the lines the kernel prints.
	memory := newBootCollector()
	memory.fromMemory = true
	var memLines tracefile.LineSplitter
	var memSkips trace.Skips
	addMemLine := consoleLines(&memLines, &memSkips, func(b []byte) { memory.add(b, memLines.Line(), &memSkips) })
	var end *tracefile.End
	var hdrErr error
	var dec *tracefile.Decoder
	var e tracefile.Event
	err := lr.each(&t.Skipped, func(b []byte) {
		if len(bytes.TrimSpace(b)) == 0 || hdrErr != nil {
			return
		}
		if tracefile.IsHeader(b) {
			if hdr != nil {
				t.Skipped.Add(skipSecondHead, lr.line)
				return
			}
			var err error
			if hdr, err = tracefile.ParseHeader(b); err != nil {
				hdrErr = fmt.Errorf("%w: line %d: %v", ErrNoData, lr.line, err)
			} else {
				dec = tracefile.NewDecoder(hdr)
			}
			return
		}
		// One event for every line: what keeps it copies it.
		if dec == nil || dec.Event(b, &e) != nil {
			t.Skipped.Add(skipBadEvent, lr.line)
			return
		}
		switch e.Kind {
		case tracefile.KindSerial:
			console.now = e.Time
			lines.Write([]byte(e.Data), addLine)
		case tracefile.KindGuestMemory:
			memory.now = e.Time
			memLines.Write([]byte(e.Data), addMemLine)
		case tracefile.KindKVMDebugfs:
			if rb == nil {
				rb = newRecBuilder(t, hdr, opt)
			}
			rb.debugfsEvent(e)
		case "end":
			end = e.End
		default:
			if rb == nil {
				rb = newRecBuilder(t, hdr, opt)
			}
			rb.add(&e, lr.line)
		}
	})
	if err != nil {
		return nil, err
	}
	if hdrErr != nil {
		return t, hdrErr
	}
	lines.Flush(addLine)
	memLines.Flush(addMemLine)
	if hdr == nil {
		return t, fmt.Errorf("%w: no boottrace trace file header", ErrNoData)
	}
	if end != nil {
		hdr.Clock = append(hdr.Clock, end.Clock...)
	}
	// The guest's trace from its memory, unless the console has all of it
	// too (boottrace=console, live): console lines bound the clock more
	// tightly than the reads of memory do.
	guest, guestSkips, other := console, &consoleSkips, memory
	if len(memory.recs) > 0 && (!console.ended || len(console.recs) < len(memory.recs)) {
		guest, guestSkips, other = memory, &memSkips, console
	}
	if rb == nil {
		if len(guest.recs) == 0 {
			return t, fmt.Errorf("%w: the trace file has a header but no event (the recording stopped before anything happened)", ErrNoData)
		}
		rb = newRecBuilder(t, hdr, opt)
	}
	rb.build(guest, other, guestSkips, end, opt)
	return t, nil
}

// build turns what was read into the trace, in the only order that works:
// the VMM's tracks are finished first (time 0 and every thread known),
// then the guest is placed on them (its clock bounds need the VMM's exec
// and vCPUs; host work moves under guest spans), then the set-up phase is
// cut (under an emulator it ends at the guest's first record), and the
// notes say what all of it found.
func (rb *recBuilder) build(guest, other *bootCollector, skips *trace.Skips, end *tracefile.End, opt ReadOptions) {
	rb.finish()
	var guestTracks []trace.Track
	guestStart := rb.guest(guest, other, skips, opt)
	for _, tr := range rb.t.Tracks {
		if tr.Source == "guest" {
			guestTracks = append(guestTracks, tr)
		}
	}
	var kaslr uint64
	if guest != nil && guest.hdr != nil {
		kaslr = guest.hdr.KASLR
	}
	rb.placeSamples(guestTracks, kaslr)
	rb.setup(guestStart)
	rb.notes(end)
}

func (rb *recBuilder) notes(end *tracefile.End) {
	t := rb.t
	if end != nil {
		for rip, n := range end.Emulated {
			if v, err := strconv.ParseUint(rip, 0, 64); err == nil && n < 1<<31 {
				rb.emulated[v] += int(n)
				rb.emulatedInEnd += n
			}
		}
	}
	if end == nil {
		t.Notes = append(t.Notes, "partial: the recording has no end line (boottrace was killed or the file was cut); everything up to the last line is shown")
	} else {
		t.Notes = append(t.Notes, "recording stopped: "+end.Reason)
		if end.Exit != "" {
			t.Notes = append(t.Notes, "the VMM ended with "+end.Exit)
		}
		if end.Unfollowed > 0 {
			t.Notes = append(t.Notes, fmt.Sprintf("partial: %d threads or processes of the VMM could not be followed (the probes' maps were full): their events are missing", end.Unfollowed))
		}
		if end.Errors > 0 {
			t.Notes = append(t.Notes, fmt.Sprintf("partial: %d probe events could not be read or decoded by the recorder", end.Errors))
		}
		if end.Lost > 0 {
			t.Notes = append(t.Notes, fmt.Sprintf("partial: %d probe events were lost to a full ring buffer", end.Lost))
		}
		if n := rb.losses.note(end.Lost, rb.origin); n != "" {
			t.Notes = append(t.Notes, n)
		}
		if end.Lost == 0 && rb.losses.total() == 0 {
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
		// Every event that fired and was not lost should be in the file.
		var short []string
		for _, ki := range tracefile.Kinds {
			name := ki.Kind.String()
			got := rb.byKind[ki.Kind]
			if ki.Kind == tracefile.KindEmulateInsn {
				got += rb.emulatedInEnd // counted by the probes, not sent
			}
			if n := end.Fired[name]; got < n && end.Lost == 0 {
				short = append(short, fmt.Sprintf("%s %d of %d", name, got, n))
			}
		}
		if len(short) > 0 {
			t.Notes = append(t.Notes, "partial: fewer events in the file than fired (the recorder was stopped before it drained them): "+strings.Join(short, ", "))
		}
	}
	for _, tp := range slices.Sorted(maps.Keys(rb.hdr.Missing)) {
		t.Notes = append(t.Notes, fmt.Sprintf("not attached: %s (%s)", tp, rb.hdr.Missing[tp]))
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
	for order, n := range rb.pages {
		counts = append(counts, fmt.Sprintf("%d pages of %s allocated by the host for the VMM's threads (kmem:mm_page_alloc; pprof sample types host_pages_allocated_...)", n, pageSize(order)))
	}
	for a, n := range rb.accesses {
		counts = append(counts, a.count(n))
	}
	sort.Strings(counts)
	t.Notes = append(t.Notes, counts...)
	if len(rb.emulated) > 0 {
		t.Notes = append(t.Notes, rb.emulatedNote())
	}
	if rb.regionUnread > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("partial: the argument of %d KVM_SET_USER_MEMORY_REGION ioctls could not be read: faults in those slots count as the VMM's own memory", rb.regionUnread))
	}
	t.Notes = append(t.Notes, rb.vmStatsNotes()...)
	if !rb.debugfsSeen && len(rb.vcpuFDs) > 0 {
		t.Notes = append(t.Notes, "KVM's debugfs said nothing of the VM (not mounted, not readable, or the VM lived less than a few milliseconds): the guest clock relies on kvm_write_tsc_offset alone; mount -t debugfs none /sys/kernel/debug before recording")
	}
}

// vmStatsNotes says what KVM's debugfs counted for each VM, as last read
// while it ran: how KVM mapped guest memory (page sizes) and its exits
// and faults.
func (rb *recBuilder) vmStatsNotes() []string {
	var notes []string
	for _, k := range slices.SortedFunc(maps.Keys(rb.vmStats), vcpuKey.compare) {
		st := rb.vmStats[k]
		var parts []string
		if _, ok := st["pages_4k"]; ok {
			parts = append(parts, fmt.Sprintf("guest memory mapped by KVM in %d pages of 4 KiB, %d of 2 MiB, %d of 1 GiB", st["pages_4k"], st["pages_2m"], st["pages_1g"]))
		}
		for _, c := range []string{"exits", "io_exits", "mmio_exits", "halt_exits", "irq_exits", "insn_emulation", "pf_taken", "pf_fixed", "pf_guest", "pf_spurious"} {
			if n, ok := st[c]; ok {
				parts = append(parts, fmt.Sprintf("%s %d", c, n))
			}
		}
		if len(parts) > 0 {
			notes = append(notes, fmt.Sprintf("KVM's debugfs of VM %d-%d, read while it ran (values as of %s): %s", k.tgid, k.n, trace.FormatDuration(st["at"]-rb.origin), strings.Join(parts, ", ")))
		}
	}
	return notes
}

// FormatRecording names a trace file written by "boottrace record".
const FormatRecording = "recording"
