package trace

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says what a span stands for.
type Kind uint8

// Span kinds.
const (
	KindTrack    Kind = iota // a root: one thread, CPU or process
	KindPhase                // a boot phase: early boot, initcalls, ...
	KindLevel                // an initcall level
	KindInitcall             // one initcall, named after its function
	KindProbe                // a driver probe timed by initcall_debug
	KindWait                 // a wait (async_synchronize_full, msleep, ...)
	KindLine                 // time up to a log line, named after the line
	KindFrame                // a frame of a folded stack, or a caller
	KindIoctl                // an ioctl of the VMM (KVM_RUN, KVM_CREATE_VM, ...)
	KindHost                 // host work inside a guest or VMM span: "[host] ..."
	KindOffCPU               // a thread not running: "[off-cpu] ..."
	KindSample               // code a timer tick found running, named by function
)

var kindNames = [...]string{"track", "phase", "level", "initcall", "probe", "wait", "line", "frame", "ioctl", "host", "off-cpu", "sample"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Span is a named interval. Children lie inside their parent and do not
// overlap each other except where the input itself disagrees with its own
// clock (see Trace.Notes); self time is the part no child covers.
type Span struct {
	Name       string
	Kind       Kind
	Start, End int64 // nanoseconds on the trace's timeline
	Children   []*Span
	// File and Line locate the function a span is named after, when
	// symbols with line information resolved it.
	File string
	Line int
	// Unfinished marks a span whose end the input never showed; End is
	// then the last moment the input covers.
	Unfinished bool
	// Counts of host events, name → count: a page fault span counts
	// itself; a fault whose end was not seen is counted on the span it
	// interrupted.
	Counts map[string]int64
}

// Duration is the span's total time.
func (s *Span) Duration() int64 { return s.End - s.Start }

// Self is the span's duration minus what its children cover, never negative.
func (s *Span) Self() int64 {
	d := s.Duration()
	for _, c := range s.Children {
		d -= c.Duration()
	}
	return max(d, 0)
}

// Walk calls fn for s and every descendant, depth first, with the path of
// spans from the root to the visited one. Returning false skips children.
func (s *Span) Walk(fn func(path []*Span) bool) {
	var path []*Span
	var walk func(*Span)
	walk = func(n *Span) {
		path = append(path, n)
		if fn(path) {
			for _, c := range n.Children {
				walk(c)
			}
		}
		path = path[:len(path)-1]
	}
	walk(s)
}

// SortChildren orders every span's children by start, keeping the order of
// children that start together.
func (s *Span) SortChildren() {
	sort.SliceStable(s.Children, func(i, j int) bool { return s.Children[i].Start < s.Children[j].Start })
	for _, c := range s.Children {
		c.SortChildren()
	}
}

// Track is one root of the trace with where its time comes from.
type Track struct {
	*Span
	// Source says whose time the track shows: "kernel" for a kernel log,
	// later "guest", "vmm" or "host". pprof carries it as a label.
	Source string
	// CPU is the CPU the track ran on, or -1 when unknown or mixed.
	CPU int
	// Process is the host process (tgid) of a recorded thread's track, 0
	// when not known.
	Process int
	// OnCPU says, for a guest task's track, which CPU each record was
	// taken on, in time order: where the task ran when.
	OnCPU []CPUAt
}

// CPUAt is a moment a task was seen on a CPU.
type CPUAt struct {
	Time int64
	CPU  int
}

// CPUAt returns the CPU the track's task was last seen on at time t, or
// -1 before it was first seen.
func (tr Track) CPUAt(t int64) int {
	i := sort.Search(len(tr.OnCPU), func(i int) bool { return tr.OnCPU[i].Time > t })
	if i == 0 {
		return -1
	}
	return tr.OnCPU[i-1].CPU
}

// Mark is a moment the input recorded, such as a printed log line; the
// summary's longest gaps are the stretches between consecutive marks.
type Mark struct {
	Time int64
	Line int // line number in the input, 1-based
	Text string
}

// Trace is one boot: its tracks, what the input said along the way, and
// what the reader could not use.
type Trace struct {
	// Format names the input format that was detected ("kernel log", "folded").
	Format string
	// Timed is false when the input has no clock (folded stacks): spans are
	// then laid out one after another and "time" is just the value.
	Timed bool
	// Merged says no two siblings share a name, so the span tree already
	// is a merged call tree (folded input): views can skip merging.
	Merged bool
	Tracks []Track
	// Calls, when set, holds the whole input as a merged call tree and
	// Tracks is empty: a reader asked only for the tree (to draw a
	// flamegraph) keeps a large folded input this way, without a span
	// per frame.
	Calls *CallTree
	Marks []Mark
	// Notes say how the input was interpreted: clock caveats, phases
	// inferred from markers, partial data.
	Notes []string
	// Skipped counts the input lines the reader could not use, by reason.
	Skipped Skips
}

// Start and End bound all tracks.
func (t *Trace) Start() int64 {
	if len(t.Tracks) == 0 {
		return 0
	}
	s := t.Tracks[0].Start
	for _, tr := range t.Tracks[1:] {
		s = min(s, tr.Start)
	}
	return s
}

// End is the latest end of any track.
func (t *Trace) End() int64 {
	var e int64
	for i, tr := range t.Tracks {
		if i == 0 || tr.End > e {
			e = tr.End
		}
	}
	return e
}

// MaxNameLen bounds a frame name: names come from untrusted guest output.
const MaxNameLen = 160

// CleanName makes untrusted text usable as a frame name: valid UTF-8, no
// control characters, single spaces, no ';' (the folded-stack separator),
// bidirectional overrides shown escaped (see CleanText), at most
// MaxNameLen bytes.
func CleanName(s string) string {
	var b strings.Builder
	space := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				r = '?'
			}
		}
		esc := ""
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		case r == ';':
			r = ','
		case bidi(r):
			esc = fmt.Sprintf("\\u%04x", r)
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+max(utf8.RuneLen(r), len(esc)) > MaxNameLen {
			b.WriteString("…")
			break
		}
		if esc != "" {
			b.WriteString(esc)
		} else {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "?"
	}
	return b.String()
}

// bidi reports the Unicode characters that reorder the text around them
// (overrides, embeddings, isolates, marks): shown as they are, a name
// could display as another.
func bidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// MaxTextLen bounds a piece of untrusted text shown in a message.
const MaxTextLen = 1024

// CleanText makes untrusted text safe to print on a terminal or in a
// picture, as a message from input (a trace file's notes, paths, a VMM's
// exit status): valid UTF-8, control characters other than tab and
// bidirectional overrides shown escaped ("\x1b", "\u202e"), so no escape
// sequence reaches a terminal; at most MaxTextLen bytes.
func CleanText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\t') || bidi(r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= MaxTextLen {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= MaxTextLen {
			b.WriteString("…")
			break
		}
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, "\\x%02x", s[i])
				continue
			}
			b.WriteRune(r)
		case r < 0x80 && unicode.IsControl(r) && r != '\t':
			fmt.Fprintf(&b, "\\x%02x", r)
		case unicode.IsControl(r) && r != '\t' || bidi(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// FormatSigned prints a change of time with its sign: "+1.200 ms", "-3.0 µs",
// "+0 ns".
func FormatSigned(ns int64) string {
	if ns >= 0 {
		return "+" + FormatDuration(ns)
	}
	return FormatDuration(ns)
}

// HasRawAddresses reports whether some frame is named by a kernel address
// (0xffffffff...): no symbol named it.
func (t *Trace) HasRawAddresses() bool {
	if t.Calls != nil {
		for id := 1; id < t.Calls.Len(); id++ {
			if strings.HasPrefix(t.Calls.Name(int32(id)), "0xffffffff") {
				return true
			}
		}
	}
	for _, tr := range t.Tracks {
		raw := false
		tr.Walk(func(path []*Span) bool {
			raw = raw || strings.HasPrefix(path[len(path)-1].Name, "0xffffffff")
			return !raw
		})
		if raw {
			return true
		}
	}
	return false
}

// FormatDuration prints nanoseconds the way people read boot times.
func FormatDuration(ns int64) string {
	switch {
	case ns >= 1e9 || ns <= -1e9:
		return strconv.FormatFloat(float64(ns)/1e9, 'f', 3, 64) + " s"
	case ns >= 1e6 || ns <= -1e6:
		return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) + " ms"
	case ns >= 1e3 || ns <= -1e3:
		return strconv.FormatFloat(float64(ns)/1e3, 'f', 1, 64) + " µs"
	}
	return strconv.FormatInt(ns, 10) + " ns"
}

// MaxDepth bounds how deep spans nest in a trace: real boots nest a few
// dozen levels, while a hostile input nesting as deep as it is long would
// make every view's output grow with the square of its size (each stack
// written whole).
const MaxDepth = 256

// LimitDepth folds every span deeper than MaxDepth into its ancestor at
// that depth, whose self time then holds their time (totals are kept), and
// returns how many spans were folded.
func (t *Trace) LimitDepth() int {
	folded := 0
	var visit func(s *Span, depth int)
	visit = func(s *Span, depth int) {
		if depth == MaxDepth {
			for _, c := range s.Children {
				folded += 1 + c.count()
			}
			s.Children = nil
			return
		}
		for _, c := range s.Children {
			visit(c, depth+1)
		}
	}
	for _, tr := range t.Tracks {
		visit(tr.Span, 0)
	}
	return folded
}

// count is how many spans are under s.
func (s *Span) count() int {
	n := 0
	for _, c := range s.Children {
		n += 1 + c.count()
	}
	return n
}

// Clip returns a copy of s and the spans under it cut to [from, to]:
// spans outside it are left out, those across its ends are shortened.
func (s *Span) Clip(from, to int64) *Span {
	c := *s
	c.Start, c.End = max(s.Start, from), min(s.End, to)
	c.Children = nil
	for _, ch := range s.Children {
		if ch.End > from && ch.Start < to {
			c.Children = append(c.Children, ch.Clip(from, to))
		}
	}
	return &c
}

// HostCounter says what a host span counts as on a counter track of its
// thread: "page faults" (a fault, or KVM faulting guest memory in) or "VM
// exits" (handled in KVM or by the VMM), as the recording reader names
// them; "" for any other span.
func HostCounter(s *Span) string { return HostCounterOf(s.Kind, s.Name) }

// HostCounterOf is HostCounter of a span of that kind and name.
func HostCounterOf(kind Kind, name string) string {
	if kind != KindHost {
		return ""
	}
	switch {
	case strings.HasPrefix(name, "[host] page fault"), strings.HasPrefix(name, "[host] KVM fault-in"):
		return "page faults"
	case strings.HasPrefix(name, "[host] exit"), strings.HasPrefix(name, "[host] userspace exit"):
		return "VM exits"
	}
	return ""
}

// CounterPoint is a counter's value from a moment on.
type CounterPoint struct {
	Time  int64
	Value int64
}

// HostCounters are the running counts of a track's host spans by what they
// count as (HostCounter), one point per span, in time order.
func (s *Span) HostCounters() map[string][]CounterPoint {
	out := map[string][]CounterPoint{}
	s.Walk(func(path []*Span) bool {
		if c := HostCounter(path[len(path)-1]); c != "" {
			out[c] = append(out[c], CounterPoint{Time: path[len(path)-1].Start})
		}
		return true
	})
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Time < ps[j].Time })
		for i := range ps {
			ps[i].Value = int64(i + 1)
		}
	}
	return out
}
