package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Budget is where the boot's wall-clock time went: from its first moment
// (the VMM's exec in a recording, the first record or line otherwise) to
// its end, every nanosecond charged once to what the boot was waiting on
// then. Its parts add up to Total exactly.
type Budget struct {
	Total int64  `json:"total_ns"`
	Span  string `json:"span"` // what starts and ends the boot, in words
	Parts []Part `json:"parts"`
	Chain []Link `json:"critical_chain"`
	// Path is the critical path as a trace of one track: what the
	// flamegraph and pprof show by default.
	Path *trace.Trace `json:"-"`
}

// Part is one share of the budget.
type Part struct {
	Name     string `json:"name"`
	Duration int64  `json:"duration_ns"`
}

// Link is a span on the critical path, as systemd-analyze critical-chain
// lists units: when it started, how long it took, how deep it nests.
type Link struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Depth    int    `json:"depth"`
	Start    int64  `json:"start_ns"`
	Duration int64  `json:"duration_ns"`
}

// maxLinks bounds the critical chain; links shorter than 1% of the boot
// are left out.
const maxLinks = 40

// BudgetOf computes the budget of a timed trace; ok is false for one
// without a clock (folded stacks).
func BudgetOf(t *trace.Trace) (b *Budget, ok bool) {
	if !t.Timed || len(t.Tracks) == 0 {
		return nil, false
	}
	if b, ok := recordingBudget(t); ok {
		return b, true
	}
	// A kernel log or a BOOT_TRACE flush: the first track is the boot's
	// path (pid 0 on the boot CPU, then kernel_init); other threads'
	// work is off it.
	main := t.Tracks[0]
	path := main.Clip(main.Start, main.End)
	b = &Budget{Total: main.Duration(), Span: "first " + what(t) + " to last"}
	b.Parts = sweep(path)
	b.finish(t, path)
	return b, true
}

func what(t *trace.Trace) string {
	if t.Format == "BOOT_TRACE" {
		return "record"
	}
	return "line"
}

// sweep charges a span's time to its children in time order, each instant
// once (children that overlap, under a coarse clock, are cut), and the
// rest to "(outside any phase)".
func sweep(s *trace.Span) []Part {
	var parts []Part
	at := s.Start
	var rest int64
	idx := map[string]int{}
	for _, c := range s.Children {
		from, to := max(c.Start, at), min(c.End, s.End)
		if from > at {
			rest += from - at
		}
		if to <= from {
			continue
		}
		if c.Kind != trace.KindPhase && c.Kind != trace.KindLevel {
			// Samples, lines, waits between phases.
			rest += to - from
			at = to
			continue
		}
		if i, ok := idx[c.Name]; ok {
			parts[i].Duration += to - from
		} else {
			idx[c.Name] = len(parts)
			parts = append(parts, Part{c.Name, to - from})
		}
		at = to
	}
	rest += max(s.End-at, 0)
	if rest > 0 {
		parts = append(parts, Part{"(outside any phase)", rest})
	}
	return parts
}

// recordingBudget splits a recorded boot into the VMM's launch (wrappers
// before the VMM process runs), its set-up (to the first KVM_RUN), the
// guest before its first record (firmware, decompression), the host's
// work while the guest ran (exits, faults, the vCPU off the CPU) and the
// guest kernel's own time.
func recordingBudget(t *trace.Trace) (*Budget, bool) {
	var guest *trace.Track
	var vmm []trace.Track
	for i, tr := range t.Tracks {
		switch {
		case tr.Source == "guest" && guest == nil:
			guest = &t.Tracks[i]
		case tr.Source == "vmm":
			vmm = append(vmm, tr)
		}
	}
	if len(vmm) == 0 {
		return nil, false
	}
	end := vmm[0].End
	for _, tr := range vmm {
		end = max(end, tr.End)
	}
	guestStart := end
	if guest != nil {
		guestStart, end = guest.Start, guest.End
	}
	// The VMM proper: the process whose threads run the vCPUs, else the
	// one with the most threads (a wrapper script has one).
	proc := vmmProcess(vmm)
	vmmMain := vmm[0]
	for _, tr := range vmm {
		if tr.Process == proc {
			vmmMain = tr // tracks are in start order within a process
			break
		}
	}
	launchEnd := min(max(vmmMain.Start, 0), guestStart)
	setupEnd := guestStart
	// The first KVM_RUN of any thread, at its top level or inside the
	// main thread's set-up phase.
	for _, tr := range vmm {
		tr.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Name == "KVM_RUN" && s.Start < setupEnd {
				setupEnd = max(s.Start, launchEnd)
			}
			return len(path) == 1 || len(path) == 2 && strings.HasPrefix(path[1].Name, "vmm set-up")
		})
	}
	root := &trace.Span{Name: "boot (critical path)", Kind: trace.KindTrack, Start: 0, End: end}
	b := &Budget{Total: end, Span: "VMM exec to the guest's end of boot"}
	add := func(name string, s *trace.Span) {
		if s.Duration() <= 0 {
			return
		}
		root.Children = append(root.Children, s)
		b.Parts = append(b.Parts, Part{name, s.Duration()})
	}
	add("VMM launch", &trace.Span{Name: "VMM launch (until the VMM process runs)", Kind: trace.KindPhase, Start: 0, End: launchEnd})
	setup := vmmMain.Clip(launchEnd, setupEnd)
	setup.Name, setup.Kind = "VMM set-up ("+vmmMain.Name+")", trace.KindPhase
	add("VMM set-up", setup)
	// Before the guest's first record, the host's work on the boot vCPU
	// (faulting in guest memory, exits) is what the guest waited on.
	before := &trace.Span{Name: "guest before its first record (firmware, decompression)", Kind: trace.KindPhase, Start: setupEnd, End: guestStart}
	if guest == nil {
		before.Name = "VM running (no BOOT_TRACE from the guest)"
	}
	if boot := bootVCPU(vmm, proc); boot != nil && guestStart > setupEnd {
		for _, c := range boot.Clip(setupEnd, guestStart).Children {
			before.Children = append(before.Children, hostWork(c)...)
		}
	}
	hostBefore := hostTime(before)
	if guest == nil {
		add("VM running", before)
	} else if before.Duration() > 0 {
		root.Children = append(root.Children, before)
		b.Parts = append(b.Parts, Part{"guest before its first record", before.Duration() - hostBefore})
	}
	if guest != nil {
		g := guest.Clip(guestStart, end)
		g.Kind = trace.KindPhase
		root.Children = append(root.Children, g)
		host := hostTime(g)
		b.Parts = append(b.Parts, Part{"host (exits, faults)", host + hostBefore}, Part{"guest kernel", g.Duration() - host})
		b.Span = "VMM exec to the end of the guest's boot"
	}
	b.finish(t, root)
	return b, true
}

// hostTime adds up the host's work (exits, faults, the vCPU thread off
// the CPU) under s, each span once.
func hostTime(s *trace.Span) int64 {
	var host int64
	s.Walk(func(path []*trace.Span) bool {
		if c := path[len(path)-1]; isHost(c) {
			host += c.Duration()
			return false
		}
		return true
	})
	return host
}

func isHost(s *trace.Span) bool { return s.Kind == trace.KindHost || s.Kind == trace.KindOffCPU }

// hostWork is the outermost host spans in s (s itself, if it is one).
func hostWork(s *trace.Span) []*trace.Span {
	if isHost(s) {
		return []*trace.Span{s}
	}
	var out []*trace.Span
	for _, c := range s.Children {
		out = append(out, hostWork(c)...)
	}
	return out
}

// bootVCPU is the VMM's thread that runs the guest's CPU 0.
func bootVCPU(vmm []trace.Track, proc int) *trace.Track {
	var first *trace.Track
	for i, tr := range vmm {
		if tr.Process != proc || !strings.Contains(tr.Name, "vcpu") {
			continue
		}
		if tr.CPU == 0 {
			return &vmm[i]
		}
		if first == nil {
			first = &vmm[i]
		}
	}
	return first
}

// vmmProcess picks the VMM's process among the recorded threads.
func vmmProcess(vmm []trace.Track) int {
	threads := map[int]int{}
	vcpu := 0
	for _, tr := range vmm {
		threads[tr.Process]++
		if strings.Contains(tr.Name, "vcpu") && vcpu == 0 {
			vcpu = tr.Process
		}
	}
	if vcpu != 0 {
		return vcpu
	}
	best := vmm[0].Process
	for _, p := range slices.Sorted(maps.Keys(threads)) {
		if threads[p] > threads[best] {
			best = p
		}
	}
	return best
}

// exact makes a path's spans charge each instant once: children cut to
// their parent and, where siblings overlap (a coarse early clock, async
// work printed inside an initcall), each one's start moved to the end of
// the one before. The span tree is a copy: the trace's own is untouched.
func exact(s *trace.Span) {
	slices.SortStableFunc(s.Children, func(a, b *trace.Span) int { return cmp.Compare(a.Start, b.Start) })
	at := s.Start
	kept := s.Children[:0]
	for _, c := range s.Children {
		from, to := max(c.Start, at), min(c.End, s.End)
		if to <= from {
			continue
		}
		if from != c.Start || to != c.End {
			c = c.Clip(from, to)
		}
		exact(c)
		kept = append(kept, c)
		at = to
	}
	s.Children = kept
}

// finish makes the path trace and the chain.
func (b *Budget) finish(t *trace.Trace, root *trace.Span) {
	root.Kind = trace.KindTrack
	exact(root)
	// The root's own time has no frame in folded stacks or pprof (a
	// profile of one track starts at its children): name it.
	var filled []*trace.Span
	at := root.Start
	gap := func(to int64) {
		if to > at {
			filled = append(filled, &trace.Span{Name: "(outside any phase)", Kind: trace.KindPhase, Start: at, End: to})
		}
	}
	for _, c := range root.Children {
		gap(c.Start)
		filled = append(filled, c)
		at = c.End
	}
	gap(root.End)
	root.Children = filled
	b.Path = &trace.Trace{Format: t.Format, Timed: true, Marks: t.Marks, Notes: t.Notes,
		Tracks: []trace.Track{{Span: root, Source: "boot", CPU: -1}}}
	least := max(b.Total/100, 1)
	var visit func(s *trace.Span, depth int)
	visit = func(s *trace.Span, depth int) {
		for i := 0; i < len(s.Children) && len(b.Chain) < maxLinks; {
			// Consecutive siblings of one name (a wait repeated) are one
			// link.
			c, n, d := s.Children[i], 1, s.Children[i].Duration()
			for i+n < len(s.Children) && s.Children[i+n].Name == c.Name {
				d += s.Children[i+n].Duration()
				n++
			}
			i += n
			if d < least {
				continue
			}
			name := c.Name
			if n > 1 {
				name = fmt.Sprintf("%s ×%d", c.Name, n)
			}
			b.Chain = append(b.Chain, Link{Name: name, Kind: c.Kind.String(), Depth: depth, Start: c.Start, Duration: d})
			// Four levels, and always into a wait: what ended it (who
			// woke kernel_init, and from where) is its child.
			if n == 1 && (depth < 3 || c.Kind == trace.KindWait) {
				visit(c, depth+1)
			}
		}
	}
	visit(root, 0)
}

// Line is the budget in one line, as systemd-analyze time says it:
// "Boot: 12.1 ms VMM set-up + ... = 147.2 ms (VMM exec to ...)".
func (b *Budget) Line() string {
	parts := slices.Clone(b.Parts)
	slices.SortStableFunc(parts, func(x, y Part) int { return cmp.Compare(y.Duration, x.Duration) })
	var ps []string
	for _, p := range parts {
		if p.Duration > 0 {
			ps = append(ps, trace.FormatDuration(p.Duration)+" "+p.Name)
		}
	}
	return fmt.Sprintf("Boot: %s = %s (%s)", strings.Join(ps, " + "), trace.FormatDuration(b.Total), b.Span)
}
