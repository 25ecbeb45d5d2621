package input

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// guestSample is a guest call stack the guest sampler read from the host
// (boottrace:guest_sample): RIP, then the return addresses it found by
// following frame pointers, innermost first.
type guestSample struct {
	at     int64
	frames []uint64
	end    walkEnd
}

// walkEnd is why the sampler's walk ended (enum walk_end, bpf/sample.c).
type walkEnd uint8

const (
	walkDone  walkEnd = 0 // the outermost frame: a zero frame pointer or return address
	walkNoRIP walkEnd = 2 // no sample at all
)

var walkEndNames = [...]string{"", "depth limit", "RIP not loaded at the hook", "CR3 not loaded at the hook",
	"address not mapped by the guest's page tables", "guest-physical address in no memory slot",
	"VMM memory not readable", "frame pointer not above the one before", "5-level paging not walked",
	"paging outside long mode (a 32-bit guest) not walked"}

func (w walkEnd) String() string {
	if int(w) < len(walkEndNames) {
		return walkEndNames[w]
	}
	return fmt.Sprintf("walk end %d", w)
}

// sample takes one guest sample event; a record shorter than the return
// addresses it announces is counted as unreadable.
func (rb *recBuilder) sample(e *tracefile.Event) {
	status := uint64(e.Value("status"))
	n, end := int(status&0xff), walkEnd(status>>8&0xff)
	if len(e.Raw) < 16+8*n {
		rb.samplesBad++
		return
	}
	if end == walkNoRIP {
		rb.samplesNoRIP++
		return
	}
	frames := make([]uint64, 0, 1+n)
	frames = append(frames, uint64(e.Value("rip")))
	for i := range n {
		frames = append(frames, binary.LittleEndian.Uint64(e.Raw[16+8*i:]))
	}
	if rb.samples == nil {
		rb.samples = map[uint32][]guestSample{}
	}
	rb.samples[e.TID] = append(rb.samples[e.TID], guestSample{e.Time, frames, end})
}

// placeSamples draws each vCPU thread's guest samples: each sample a stack
// of frames, outermost first, standing for the time up to the thread's
// next sample (at most twice the usual interval). A sample goes under the
// guest's BOOT_TRACE span it fell in (on the guest CPU the thread runs:
// the deepest span holding it, in the part no other span there covers);
// samples no guest span holds (an unpatched guest, or before its first
// record) go on a track of the thread's own; samples after the guest's
// last record (its boot has ended) are left out. The same frames in samples
// one after another under one parent are one span, which counts them
// ("guest samples": pprof's sample type guest_samples). kaslr is the
// guest's KASLR offset, taken off every address before it is looked up.
func (rb *recBuilder) placeSamples(guest []trace.Track, kaslr uint64) {
	if len(rb.samples) == 0 {
		if rb.samplesNoRIP+rb.samplesBad > 0 {
			rb.t.Notes = append(rb.t.Notes, fmt.Sprintf("guest samples: none usable (%d without RIP, %d unreadable)", rb.samplesNoRIP, rb.samplesBad))
		}
		return
	}
	name := func(addr uint64, ret bool) string {
		if addr >= kaslr {
			addr -= kaslr
		}
		look := addr
		if ret {
			look-- // a return address can be the next function's first byte
		}
		if fn, _, ok := rb.syms.Lookup(look); ok {
			return trace.CleanName(fn)
		}
		return fmt.Sprintf("0x%x", addr)
	}
	for _, g := range guest {
		g.SortChildren()
	}
	_, cpus, cpusKnown := rb.vcpuCPUs()
	// The guest's boot ends with its last record: samples after it are
	// not the boot's.
	var guestEnd int64
	for _, g := range guest {
		guestEnd = max(guestEnd, g.End)
	}
	total, resolved, inGuest, hidden, after := 0, 0, 0, 0, 0
	ends := map[walkEnd]int{}
	var interval int64
	for _, tid := range slices.Sorted(maps.Keys(rb.samples)) {
		ss := rb.samples[tid]
		slices.SortStableFunc(ss, func(a, b guestSample) int { return cmp.Compare(a.at, b.at) })
		interval = medianInterval(ss)
		track := &trace.Span{Name: fmt.Sprintf("guest stacks (vcpu thread %d)", tid), Kind: trace.KindTrack, Start: ss[0].at - rb.origin}
		cpu, ok := cpus[tid]
		// The previous sample's frames, outermost first, and their parent.
		var open []*trace.Span
		var openParent *trace.Span
		for i, s := range ss {
			start, end := s.at-rb.origin, s.at-rb.origin+interval
			if i+1 < len(ss) {
				end = start + min(ss[i+1].at-s.at, 2*interval)
			}
			total++
			if len(guest) > 0 && start >= guestEnd {
				after++
				continue
			}
			parent := track
			if root := guestAt(guest, cpu, start); cpusKnown && ok && root != nil {
				parent, start, end = under(root, start, end)
				if start >= end {
					hidden++
					continue
				}
				inGuest++
			} else {
				track.End = max(track.End, end)
			}
			names := make([]string, 0, len(s.frames)+1)
			if s.end != walkDone {
				names = append(names, "[partial stack: "+s.end.String()+"]")
				ends[s.end]++
			}
			for j := len(s.frames) - 1; j >= 0; j-- {
				names = append(names, name(s.frames[j], j > 0))
			}
			if !strings.HasPrefix(names[len(names)-1], "0x") {
				resolved++
			}
			k := 0
			for openParent == parent && k < len(open) && k < len(names) && open[k].End == start && open[k].Name == names[k] {
				open[k].End = end
				k++
			}
			open, openParent = open[:k], parent
			at := parent
			if k > 0 {
				at = open[k-1]
			}
			for _, n := range names[k:] {
				sp := &trace.Span{Name: n, Kind: trace.KindSample, Start: start, End: end}
				at.Children = append(at.Children, sp)
				open = append(open, sp)
				at = sp
			}
			// Counted on the innermost frame: pprof's guest_samples.
			leaf := open[len(open)-1]
			if leaf.Counts == nil {
				leaf.Counts = map[string]int64{}
			}
			leaf.Counts["guest samples"]++
		}
		if len(track.Children) > 0 {
			track.Start = track.Children[0].Start
			rb.t.Tracks = append(rb.t.Tracks, trace.Track{Span: track, Source: "guest", CPU: -1, Process: int(rb.threads[tid].tgid)})
		}
	}
	for _, g := range guest {
		g.SortChildren()
	}
	note := fmt.Sprintf("guest stacks: %d samples read from the host (one every %s on each vCPU thread, by following the guest's frame pointers), %d of %d with a symbol for RIP",
		total, trace.FormatDuration(interval), resolved, total-hidden-after)
	if inGuest > 0 {
		note += fmt.Sprintf(", %d under the guest's BOOT_TRACE spans", inGuest)
	}
	if hidden > 0 {
		note += fmt.Sprintf(", %d left out where other guest spans cover their time", hidden)
	}
	if after > 0 {
		note += fmt.Sprintf(", %d after the guest's last record left out", after)
	}
	var why []string
	for _, w := range slices.Sorted(maps.Keys(ends)) {
		why = append(why, fmt.Sprintf("%d %s", ends[w], w))
	}
	if len(why) > 0 {
		note += "; walks that ended early: " + strings.Join(why, ", ")
	}
	early := 0
	for _, n := range ends {
		early += n
	}
	if 2*early > total-hidden-after {
		note += " (most walks ended early: a guest kernel without frame pointers gives little more than RIP; build it with CONFIG_FRAME_POINTER=y, CONFIG_UNWINDER_FRAME_POINTER=y)"
	}
	if rb.samplesNoRIP+rb.samplesBad > 0 {
		note += fmt.Sprintf("; left out: %d without RIP, %d unreadable", rb.samplesNoRIP, rb.samplesBad)
	}
	rb.t.Notes = append(rb.t.Notes, note)
}

// under finds where a sample of [start, end) goes in a guest track: the
// deepest span holding start that is neither host work nor a sample, and
// the part of [start, end) that none of that span's children covers.
func under(root *trace.Span, start, end int64) (parent *trace.Span, from, to int64) {
	at := root
	for {
		var next *trace.Span
		for _, c := range at.Children {
			if c.Kind != trace.KindHost && c.Kind != trace.KindSample && c.Start <= start && start < c.End {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		at = next
	}
	from, to = start, min(end, at.End)
	for _, c := range at.Children { // in time order
		switch {
		case c.End <= from || c.Start >= to:
		case c.Start <= from:
			from = c.End
		default:
			to = c.Start
		}
	}
	return at, from, to
}

// medianInterval is the median time between a thread's samples: the
// sampling period as the samples show it (the sampler takes a sample at
// the first hook a period after the last).
func medianInterval(ss []guestSample) int64 {
	var d []int64
	for i := 1; i < len(ss); i++ {
		if gap := ss[i].at - ss[i-1].at; gap > 0 {
			d = append(d, gap)
		}
	}
	if len(d) == 0 {
		return 1_000_000
	}
	slices.Sort(d)
	return d[len(d)/2]
}
