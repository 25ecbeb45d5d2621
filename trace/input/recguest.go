package input

// The guest side of a recording: its BOOT_TRACE records placed on the
// host's clock, and the host's work copied under the guest spans it
// interrupted.

import (
	"fmt"
	"maps"
	"slices"

	"github.com/boottrace/boottrace/trace"
)

// guest places the guest's BOOT_TRACE records, read from the recorded
// console or from guest memory, on the host timeline, and returns when the guest's first
// record was taken (-1 without a guest trace).
//
// other holds the same records from the other source, if any (the console
// as well as memory): the moments it saw them bound the clock too.
func (rb *recBuilder) guest(c, other *bootCollector, skipped *trace.Skips, opt ReadOptions) int64 {
	where := "the console"
	if c.fromMemory {
		where = "guest memory"
	}
	if c.hdr == nil || len(c.recs) == 0 {
		rb.t.Notes = append(rb.t.Notes, "no BOOT_TRACE records on the console or in guest memory: the guest is shown only through the VMM")
		return -1
	}
	g := &trace.Trace{}
	if _, err := c.finish(g, opt); err != nil {
		rb.t.Notes = append(rb.t.Notes, "the guest's BOOT_TRACE records from "+where+" are unusable: "+err.Error())
		return -1
	}
	if c.fromMemory {
		rb.t.Notes = append(rb.t.Notes, "the guest's BOOT_TRACE records were read by the host from guest memory, while the guest ran (no console needed)")
	}
	ordered := c.ordered()
	tsc0, tscLast := tscRange(ordered, c.hdr.TSCkHz)
	khz := c.hdr.TSCkHz
	upper, upperWhat := consoleBound(c, ordered, tsc0, tscLast)
	if other != nil && other.hdr != nil && other.hdr.TSCkHz == khz && len(other.recs) > 0 {
		if b, what := consoleBound(other, other.ordered(), tsc0, tscLast); b < upper {
			upper, upperWhat = b, what
		}
	}
	lower, lowerWhat := rb.startBound(upper, cyclesToNs(tsc0, khz))
	// A KVM TSC offset places the guest exactly, if it fits the bounds and
	// the recording; nested and PVM hosts may report an offset they do not
	// apply, so an offset of 0 is tried too.
	var guestOrigin int64 // host monotonic ns of tsc0
	method := ""
	// With TSC scaling, guest TSC = host TSC × ratio + offset, the offset
	// being the one in effect when the record was taken: placed once with
	// the offset at the first KVM_RUN, then again with the one at the
	// time found.
	clocks, clockNotes := rb.guestClocks(rb.hostTSCkHz())
	rb.t.Notes = append(rb.t.Notes, clockNotes...)
	if len(rb.hdr.Clock) > 1 {
		_, firstRun := rb.bootVCPU()
		for _, cand := range clocks {
			o := int64(-1)
			for _, at := range []int64{firstRun, -1} {
				if at < 0 {
					at = o
				}
				o = rb.monoOfTSC(uint64(float64(tsc0-uint64(cand.at(at))) / cand.ratio))
			}
			if o >= rb.hdr.Clock[0].Mono && o >= lower-1e6 && o <= upper+1e6 {
				guestOrigin = o
				method = "exact, from " + cand.what + " and the host TSC/monotonic pairs (about 1 µs)"
				break
			}
		}
	}
	if method == "" {
		guestOrigin = upper
		method = fmt.Sprintf("bound from "+where+": a BOOT_TRACE record is seen by the host after its TSC was read, so guest spans are placed at their latest possible time (tightest: %s); they ran at most %s earlier (%s)",
			upperWhat, trace.FormatDuration(upper-lower), lowerWhat)
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
	// Line numbers there are of the console's lines, not the file's.
	for _, r := range skipped.Reasons {
		r.Reason += " (in the recorded " + map[bool]string{false: "console; console line numbers", true: "reads of guest memory; their line numbers"}[c.fromMemory] + ")"
		rb.t.Skipped.Reasons = append(rb.t.Skipped.Reasons, r)
		rb.t.Skipped.Total += r.Count
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
	if c.fromMemory {
		what = "the read of guest memory that found the boot ended"
	}
	if ref == 0 && c.fromMemory {
		ref, what = tscLast, "the last read of guest memory"
	} else if ref == 0 {
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
	switch {
	case live && c.fromMemory:
		what = "a read of guest memory while the boot ran"
	case live:
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
	for _, tid := range rb.order {
		rb.threads[tid].track.Walk(func(path []*trace.Span) bool {
			// Tracks are already shifted to time 0 = rb.origin.
			if s := path[len(path)-1]; s.Name == "KVM_CREATE_VCPU" && (what != "its first KVM_CREATE_VCPU" || rb.origin+s.Start < start) {
				start, what = rb.origin+s.Start, "its first KVM_CREATE_VCPU"
			}
			return true
		})
	}
	at := trace.FormatDuration(start - rb.origin)
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
	setup := &trace.Span{Name: "vmm set-up (exec to " + what + ")", Kind: trace.KindPhase, Start: main.track.Start, End: end}
	var rest []*trace.Span
	for _, c := range main.track.Children {
		if c.End <= end {
			setup.Children = append(setup.Children, c)
		} else {
			rest = append(rest, c)
		}
	}
	main.track.Children = append([]*trace.Span{setup}, rest...)
}

// hostTSCkHz is the host TSC's frequency from the clock pairs, 0 when
// they cannot tell.
func (rb *recBuilder) hostTSCkHz() float64 {
	pairs := rb.hdr.Clock
	if len(pairs) < 2 {
		return 0
	}
	a, b := pairs[0], pairs[len(pairs)-1]
	if b.Mono <= a.Mono || b.TSC <= a.TSC {
		return 0
	}
	return float64(b.TSC-a.TSC) / float64(b.Mono-a.Mono) * 1e6
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

// hostInGuest moves the host's work on each vCPU — exits handled by the
// VMM and VM exits handled by KVM — under the guest span it interrupted:
// the span of the guest task that was on that vCPU's CPU then (the vCPUs
// in id order are the guest's CPUs 0, 1, ...). With one vCPU and no id,
// the guest's first track is used. The work leaves the vCPU thread, so
// that no time is counted twice: there, the time is the vCPU thread's own.
func (rb *recBuilder) hostInGuest(guest []trace.Track) {
	vcpus, cpus, ok := rb.vcpuCPUs()
	if len(vcpus) == 0 || len(guest) == 0 {
		return
	}
	if !ok {
		rb.t.Notes = append(rb.t.Notes, "host exits stay on the VMM's vCPU threads: the recording does not say which vCPU each thread ran")
		return
	}
	placed := 0
	for _, th := range vcpus {
		cpu := cpus[th.tid]
		for j := range rb.t.Tracks {
			if rb.t.Tracks[j].Span == th.track {
				rb.t.Tracks[j].CPU = max(cpu, 0)
			}
		}
		var moved []*trace.Span
		th.track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			if s.Kind != trace.KindHost {
				return true
			}
			root := guestAt(guest, cpu, s.Start)
			if root == nil || s.End > root.End {
				return false
			}
			// The deepest guest span holding the host work.
			at := root
			for {
				var next *trace.Span
				for _, c := range at.Children {
					if c.Kind != trace.KindHost && c.Start <= s.Start && s.End <= c.End {
						next = c
						break
					}
				}
				if next == nil {
					break
				}
				at = next
			}
			at.Children = append(at.Children, s)
			moved = append(moved, s)
			return false
		})
		removeSpans(th.track, moved)
		placed += len(moved)
	}
	if placed > 0 {
		for _, g := range guest {
			g.SortChildren()
		}
		rb.t.Notes = append(rb.t.Notes, fmt.Sprintf("%d host exits moved from the vCPU threads under the guest spans they interrupted", placed))
	}
}

// vcpuCPUs finds the VMM's vCPU threads and the guest CPU each runs. The
// guest numbers its CPUs in the order of the firmware's table, which VMMs
// write in vCPU id order (on x86 the id is the APIC id, which may have
// gaps): the k-th smallest id runs guest CPU k. One vCPU whose id is not
// known runs CPU 0 (anyCPU: whatever the guest's records say); ok is false
// when there are several and one's id is not known.
func (rb *recBuilder) vcpuCPUs() (vcpus []*thread, cpus map[uint32]int, ok bool) {
	for _, tid := range rb.order {
		if th := rb.threads[tid]; th.vcpu {
			vcpus = append(vcpus, th)
		}
	}
	ids := slices.Compact(slices.Sorted(maps.Values(rb.vcpuFDs)))
	cpus = map[uint32]int{}
	for _, th := range vcpus {
		switch i, found := slices.BinarySearch(ids, th.vcpuID); {
		case th.vcpuID < 0 && len(vcpus) == 1:
			cpus[th.tid] = anyCPU
		case th.vcpuID < 0:
			return vcpus, nil, false
		case found:
			cpus[th.tid] = i
		default:
			cpus[th.tid] = th.vcpuID
		}
	}
	return vcpus, cpus, true
}

// anyCPU is the guest CPU of a lone vCPU whose id is not known: the guest
// track that covers a moment is its, whatever CPU the guest says.
const anyCPU = -2

// guestAt is the guest track that ran on guest CPU cpu at host time at.
func guestAt(guest []trace.Track, cpu int, at int64) *trace.Span {
	for _, g := range guest {
		if (cpu == anyCPU || g.CPUAt(at) == cpu) && g.Start <= at && at <= g.End {
			return g.Span
		}
	}
	return nil
}

// removeSpans takes the given spans out of the tree under s.
func removeSpans(s *trace.Span, gone []*trace.Span) {
	if len(gone) == 0 {
		return
	}
	set := make(map[*trace.Span]bool, len(gone))
	for _, g := range gone {
		set[g] = true
	}
	var prune func(*trace.Span)
	prune = func(n *trace.Span) {
		kept := n.Children[:0]
		for _, c := range n.Children {
			if !set[c] {
				prune(c)
				kept = append(kept, c)
			}
		}
		clear(n.Children[len(kept):])
		n.Children = kept
	}
	prune(s)
}
