package input

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/boottrace/boottrace/trace"

	"github.com/boottrace/boottrace/symbolize"
)

// FormatKernelLog names serial console and dmesg logs with printk timestamps.
const FormatKernelLog = "kernel log"

// ReadOptions configures the readers.
type ReadOptions struct {
	// Symbols resolves addresses and tells initcall levels. Nil keeps names
	// as the input printed them, with "+0x../0x.." offsets removed.
	Symbols *symbolize.Table
	// Format, when set, is the input's format (one of Formats) instead of
	// the one detected.
	Format string
	// CallTree asks only for the merged call tree (a flamegraph is drawn
	// from nothing else): a folded input is then kept as Trace.Calls,
	// without spans, in a fraction of the time and memory.
	CallTree bool
	// MaxMemory bounds the memory that reading the input and drawing it
	// may take, in bytes: DefaultMaxMemory when 0, none when negative.
	// Beyond it the input is read no further, and a note says where it
	// stopped and what was left.
	MaxMemory int64
}

// logLine is one timestamped line of a kernel log.
type logLine struct {
	ts   int64
	line int
	pid  int // from a printk caller prefix "[T123]", or -1
	msg  string
}

// parseLogPrefix splits "<6>[    1.234567][    T1] message" into its
// timestamp (ns), caller thread id (-1 when absent) and message.
func parseLogPrefix(b []byte) (ts int64, pid int, msg []byte, ok bool) {
	pid = -1
	if len(b) > 2 && b[0] == '<' {
		i := 1
		for i < len(b) && i < 5 && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i > 1 && i < len(b) && b[i] == '>' {
			b = b[i+1:]
		}
	}
	if len(b) < 3 || b[0] != '[' {
		return 0, 0, nil, false
	}
	i := 1
	for i < len(b) && b[i] == ' ' {
		i++
	}
	var sec, frac int64
	digits := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if digits++; digits > 10 {
			return 0, 0, nil, false
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	if digits == 0 || i >= len(b) || b[i] != '.' {
		return 0, 0, nil, false
	}
	i++
	scale := int64(1e9)
	fdigits := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if fdigits++; fdigits <= 9 {
			scale /= 10
			frac += int64(b[i]-'0') * scale
		}
	}
	if fdigits == 0 || i >= len(b) || b[i] != ']' {
		return 0, 0, nil, false
	}
	b = b[i+1:]
	// CONFIG_PRINTK_CALLER adds "[    T123]" (thread) or "[     C0]" (CPU context).
	if len(b) > 2 && b[0] == '[' {
		if j := bytes.IndexByte(b, ']'); j > 0 && j < 16 {
			f := bytes.TrimSpace(b[1:j])
			if len(f) > 1 && (f[0] == 'T' || f[0] == 'C') {
				if n, err := strconv.Atoi(string(f[1:])); err == nil {
					if f[0] == 'T' {
						pid = n
					}
					b = b[j+1:]
				}
			}
		}
	}
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return sec*1e9 + frac, pid, b, true
}

// maxBackwards is how far a timestamp may go back and still be kept (set to
// the previous one): printk stamps from different CPUs can interleave by a
// little. Larger jumps (a second boot in the same log) are skipped.
const maxBackwards = 10e6

// Skip reasons, shared with the fuzz tests.
const (
	skipNoTimestamp = "lines without a printk timestamp (firmware or userspace output, or garbage)"
	skipTooLong     = "lines longer than 256 KiB"
	skipBackwards   = "lines whose timestamp goes back more than 10 ms"
	skipNegative    = "lines with a negative timestamp (a corrupt or forged line)"
)

// negativeStamp reports a line that starts like a printk timestamp with a
// minus sign ("[   -1.000000] ..."), which no kernel prints.
func negativeStamp(b []byte) bool {
	if len(b) > 2 && b[0] == '<' {
		if i := bytes.IndexByte(b[:min(len(b), 6)], '>'); i > 0 {
			b = b[i+1:]
		}
	}
	if len(b) < 3 || b[0] != '[' {
		return false
	}
	b = bytes.TrimLeft(b[1:], " ")
	return len(b) > 1 && b[0] == '-' && b[1] >= '0' && b[1] <= '9'
}

// ReadKernelLog reads a serial console or dmesg log with printk timestamps.
// With initcall_debug, each initcall becomes a span named after its
// function whose duration is the one the kernel printed; every other line
// becomes a span covering the time since the previous line (the convention
// of the kernel's scripts/show_delta), nested in the boot phase it ran in.
func ReadKernelLog(r io.Reader, opt ReadOptions) (*trace.Trace, error) {
	return readKernelLog(newLineReader(r), opt)
}

func readKernelLog(lr *lineReader, opt ReadOptions) (*trace.Trace, error) {
	t := &trace.Trace{Format: FormatKernelLog, Timed: true}
	var lines []logLine
	var last int64
	// A BOOT_TRACE flush, when the log holds one, is the better record of
	// the boot: its lines are collected apart and win at the end.
	boot := newBootCollector()
	err := lr.each(&t.Skipped, func(b []byte) {
		if boot.add(b, lr.line, &t.Skipped) {
			return
		}
		ts, pid, msg, ok := parseLogPrefix(b)
		if !ok {
			switch {
			case negativeStamp(b):
				t.Skipped.Add(skipNegative, lr.line)
			case len(bytes.TrimSpace(b)) > 0:
				t.Skipped.Add(skipNoTimestamp, lr.line)
			}
			return
		}
		if len(lines) > 0 && ts < last {
			if last-ts > maxBackwards {
				t.Skipped.Add(skipBackwards, lr.line)
				return
			}
			ts = last
		}
		last = ts
		lines = append(lines, logLine{ts: ts, line: lr.line, pid: pid, msg: string(msg)})
	})
	if err != nil {
		return nil, err
	}
	if boot.seen {
		return boot.finish(t, opt)
	}
	if len(lines) == 0 {
		return t, fmt.Errorf("%w: no line with a printk timestamp such as \"[    0.123456] message\"", ErrNoData)
	}
	b := &logBuilder{opt: opt, t: t}
	b.build(lines)
	return t, nil
}

// placed is a structural span waiting to be nested.
type placed struct {
	span *trace.Span
	pid  int
	rank int
}

// Ranks order structural spans when nesting: a span may contain only spans
// of a higher rank (and probes may nest in probes).
const (
	rankPhase = iota
	rankLevel
	rankSMP
	rankInitcall
	rankProbe
	rankWait
)

type openCall struct {
	ref  string
	ts   int64
	line int
}

type logBuilder struct {
	opt     ReadOptions
	t       *trace.Trace
	structs []placed
	open    map[int][]openCall
	// openBy lists, for each reference with a "calling" not yet returned,
	// the pids that called it, oldest first: a "returned" finds its
	// "calling" without looking at every open one.
	openBy map[string][]int
	// ordinary are the lines that become line spans.
	ordinary []logLine
	// markers: first time each was seen, -1 when never.
	smpStart, smpEnd, runInit, freeing int64
	skewed, orphans, unfinished        int
}

var (
	reRunInit = regexp.MustCompile(`^Run \S+ as init process`)
	reAsyncID = regexp.MustCompile(`^[0-9]+_`)
)

func (b *logBuilder) build(lines []logLine) {
	b.open = make(map[int][]openCall)
	b.openBy = make(map[string][]int)
	b.smpStart, b.smpEnd, b.runInit, b.freeing = -1, -1, -1, -1
	for _, l := range lines {
		b.t.Marks = append(b.t.Marks, trace.Mark{Time: l.ts, Line: l.line, Text: trace.CleanName(l.msg)})
		if !b.structural(l) {
			b.marker(l)
			b.ordinary = append(b.ordinary, l)
		}
	}
	start, end := lines[0].ts, lines[len(lines)-1].ts
	for _, pid := range slices.Sorted(maps.Keys(b.open)) {
		for _, c := range b.open[pid] {
			s := &trace.Span{Name: b.funcName(c.ref).Func, Kind: trace.KindInitcall, Start: c.ts, End: end, Unfinished: true}
			b.structs = append(b.structs, placed{span: s, pid: pid, rank: rankInitcall})
			b.unfinished++
		}
	}
	b.phases(start, end)
	b.notes()

	main := &trace.Span{Name: "kernel", Kind: trace.KindTrack, Start: start, End: end}
	tracks := map[int]*trace.Span{}
	var byTrack = map[*trace.Span][]placed{}
	for _, p := range b.structs {
		tr := main
		if p.pid > 1 {
			if tracks[p.pid] == nil {
				tracks[p.pid] = &trace.Span{Name: fmt.Sprintf("pid %d", p.pid), Kind: trace.KindTrack, Start: p.span.Start, End: p.span.End}
			}
			tr = tracks[p.pid]
			tr.Start, tr.End = min(tr.Start, p.span.Start), max(tr.End, p.span.End)
		}
		byTrack[tr] = append(byTrack[tr], p)
	}
	overlapping := nest(main, byTrack[main])
	b.lineSpans(main)
	main.SortChildren()
	b.t.Tracks = append(b.t.Tracks, trace.Track{Span: main, Source: "kernel", CPU: -1})
	b.otherThreads(overlapping)
	pids := make([]int, 0, len(tracks))
	for pid := range tracks {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		tr := tracks[pid]
		b.otherThreads(nest(tr, byTrack[tr]))
		tr.SortChildren()
		b.t.Tracks = append(b.t.Tracks, trace.Track{Span: tr, Source: "kernel", CPU: -1})
	}
}

// otherThreads gives probes that overlap a sibling tracks of their own: two
// overlapping probes cannot have run on one thread (a probe run by another
// thread, with async driver probing, printed inside an initcall), and
// nested in the span they were printed in, they would make its total more
// than its printed duration.
func (b *logBuilder) otherThreads(ps []placed) {
	if len(ps) == 0 {
		return
	}
	n := 0
	for len(ps) > 0 {
		tr := &trace.Span{Name: fmt.Sprintf("async probes %d", len(b.t.Tracks)), Kind: trace.KindTrack, Start: ps[0].span.Start, End: ps[0].span.End}
		for _, p := range ps {
			tr.Start, tr.End = min(tr.Start, p.span.Start), max(tr.End, p.span.End)
		}
		n += len(ps)
		ps = nest(tr, ps)
		tr.SortChildren()
		b.t.Tracks = append(b.t.Tracks, trace.Track{Span: tr, Source: "kernel", CPU: -1})
	}
	b.t.Notes = append(b.t.Notes, fmt.Sprintf("%d driver probes overlap the probe before them (run by another thread: async probing): they are on tracks of their own (\"async probes\"), so initcalls keep their printed durations", n))
}

func (b *logBuilder) funcName(ref string) symbolize.Frame {
	f := b.opt.Symbols.Resolve(reAsyncID.ReplaceAllString(ref, ""))
	f.Func = trace.CleanName(f.Func) // the reference came from untrusted output
	return f
}

// structural handles initcall_debug's lines; it reports whether l was one.
func (b *logBuilder) structural(l logLine) bool {
	msg := l.msg
	switch {
	case strings.HasPrefix(msg, "calling "):
		f := strings.Fields(msg)
		if len(f) < 4 || f[len(f)-2] != "@" {
			return false
		}
		pid, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			return false
		}
		ref := strings.Join(f[1:len(f)-2], " ")
		b.open[pid] = append(b.open[pid], openCall{ref: ref, ts: l.ts, line: l.line})
		b.openBy[ref] = append(b.openBy[ref], pid)
		return true
	case strings.HasPrefix(msg, "initcall "):
		ref, rest, ok := strings.Cut(msg[len("initcall "):], " returned")
		if !ok {
			return false
		}
		usecs, ok := afterUsecs(rest)
		if !ok {
			return false
		}
		b.returned(l, strings.TrimSpace(ref), usecs)
		return true
	case strings.HasPrefix(msg, "async_continuing @ "):
		f := strings.Fields(msg)
		if len(f) != 5 || f[3] != "after" {
			return false
		}
		pid, err1 := strconv.Atoi(f[2])
		usecs, err2 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || usecs < 0 {
			return false
		}
		s := &trace.Span{Name: "async_synchronize_full", Kind: trace.KindWait, Start: l.ts - usecs*1000, End: l.ts}
		b.structs = append(b.structs, placed{span: s, pid: pid, rank: rankWait})
		return true
	case strings.HasPrefix(msg, "async_waiting @ "):
		return true
	}
	// "probe of DEV returned R after N usecs" (up to 6.2) and
	// "DEV: probe with driver DRV returned R after N usecs" (6.3 on).
	for _, p := range []string{"probe of ", "probe with driver "} {
		i := strings.Index(msg, p)
		if i < 0 {
			continue
		}
		what, rest, ok := strings.Cut(msg[i+len(p):], " returned")
		if !ok {
			return false
		}
		usecs, ok := afterUsecs(rest)
		if !ok {
			return false
		}
		if p == "probe with driver " && i > 2 {
			what = strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":")
		}
		s := &trace.Span{Name: "probe " + trace.CleanName(what), Kind: trace.KindProbe, Start: l.ts - usecs*1000, End: l.ts}
		b.structs = append(b.structs, placed{span: s, pid: l.pid, rank: rankProbe})
		return true
	}
	return false
}

// afterUsecs parses " 0 after 12 usecs" or " after 12 usecs" (async
// initcalls since 6.3 print no return value).
func afterUsecs(rest string) (int64, bool) {
	f := strings.Fields(rest)
	if len(f) < 3 || f[len(f)-1] != "usecs" || f[len(f)-3] != "after" {
		return 0, false
	}
	v, err := strconv.ParseInt(f[len(f)-2], 10, 64)
	if err != nil || v < 0 || v > 1e12 {
		return 0, false
	}
	return v, true
}

func (b *logBuilder) returned(l logLine, ref string, usecs int64) {
	dur := usecs * 1000
	fr := b.funcName(ref)
	s := &trace.Span{Name: fr.Func, Kind: trace.KindInitcall, Start: l.ts - dur, End: l.ts, File: fr.File, Line: fr.Line}
	pid := l.pid
	found := false
	if pids := b.openBy[ref]; len(pids) > 0 {
		// The latest caller of this function; its stack holds the call.
		p := pids[len(pids)-1]
		stack := b.open[p]
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].ref != ref {
				continue
			}
			pid, found = p, true
			if d := (l.ts - stack[i].ts) - dur; d > 1e6 || d < -1e6 {
				b.skewed++
			}
			// Calls above it never returned: they end here.
			for _, c := range stack[i+1:] {
				u := &trace.Span{Name: b.funcName(c.ref).Func, Kind: trace.KindInitcall, Start: c.ts, End: l.ts, Unfinished: true}
				b.structs = append(b.structs, placed{span: u, pid: p, rank: rankInitcall})
				b.unfinished++
				b.closed(c.ref, p)
			}
			b.closed(ref, p)
			b.open[p] = stack[:i]
			break
		}
	}
	if !found {
		b.orphans++
	}
	b.structs = append(b.structs, placed{span: s, pid: pid, rank: rankInitcall})
}

// closed takes one open call of ref by pid off openBy.
func (b *logBuilder) closed(ref string, pid int) {
	pids := b.openBy[ref]
	for j := len(pids) - 1; j >= 0; j-- {
		if pids[j] == pid {
			pids = append(pids[:j], pids[j+1:]...)
			break
		}
	}
	if len(pids) == 0 {
		delete(b.openBy, ref)
	} else {
		b.openBy[ref] = pids
	}
}

func (b *logBuilder) marker(l logLine) {
	set := func(p *int64) {
		if *p < 0 {
			*p = l.ts
		}
	}
	switch msg := l.msg; {
	case strings.HasPrefix(msg, "smp: Bringing up secondary CPUs"):
		set(&b.smpStart)
	case strings.HasPrefix(msg, "smp: Brought up"), strings.HasPrefix(msg, "smpboot: Total of"):
		if b.smpStart >= 0 {
			set(&b.smpEnd)
		}
	case strings.HasPrefix(msg, "Freeing unused kernel"):
		set(&b.freeing)
	case reRunInit.MatchString(msg):
		set(&b.runInit)
	}
}

// phases adds the boot phases the log shows. Initcalls run by pid 1 bound
// the "initcalls" phase when initcall_debug was on; otherwise console
// markers do (SMP bring-up starts it, freeing init memory ends it).
func (b *logBuilder) phases(start, end int64) {
	var first, last int64 = -1, -1
	var mainCalls []*trace.Span
	for _, p := range b.structs {
		if p.rank == rankInitcall && p.pid == 1 {
			mainCalls = append(mainCalls, p.span)
			if first < 0 || p.span.Start < first {
				first = p.span.Start
			}
			last = max(last, p.span.End)
		}
	}
	initStart, lateStart := first, last
	if first < 0 {
		initStart, lateStart = b.smpStart, b.freeing
		if initStart >= 0 || lateStart >= 0 {
			b.t.Notes = append(b.t.Notes, "no initcall_debug lines: phases inferred from console markers (SMP bring-up starts initcalls, freeing init memory starts late init); boot with initcall_debug loglevel=8 for per-initcall spans")
		}
	}
	bounds := []struct {
		name string
		at   int64
	}{{"early boot", start}, {"initcalls", initStart}, {"late init", lateStart}, {"userspace", b.runInit}}
	var kept []int
	for i, bd := range bounds {
		if bd.at < 0 || (len(kept) > 0 && bd.at <= bounds[kept[len(kept)-1]].at) || bd.at >= end {
			continue
		}
		kept = append(kept, i)
	}
	if len(kept) == 1 {
		return // no marker: lines sit directly under the track
	}
	var initPhase *trace.Span
	for k, i := range kept {
		e := end
		if k+1 < len(kept) {
			e = bounds[kept[k+1]].at
		}
		s := &trace.Span{Name: bounds[i].name, Kind: trace.KindPhase, Start: bounds[i].at, End: e}
		b.structs = append(b.structs, placed{span: s, pid: 1, rank: rankPhase})
		if bounds[i].name == "initcalls" {
			initPhase = s
		}
	}
	if b.smpStart >= 0 && b.smpEnd > b.smpStart {
		s := &trace.Span{Name: "smp_init", Kind: trace.KindPhase, Start: b.smpStart, End: b.smpEnd}
		b.structs = append(b.structs, placed{span: s, pid: 1, rank: rankSMP})
	}
	if initPhase != nil {
		b.levels(initPhase, mainCalls)
	}
}

// levels groups pid 1's initcalls by level. The symbol table knows every
// level; without it only early initcalls (those before SMP bring-up) can be
// told apart. Levels run in order, so a name the table places at several
// levels (two static functions called "init") takes the first one not
// before the current level. A level's span runs from its first initcall's
// start to its last one's end.
func (b *logBuilder) levels(phase *trace.Span, calls []*trace.Span) {
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].Start < calls[j].Start })
	haveMap := b.opt.Symbols.Len() > 0
	cur := symbolize.Level(-1)
	level := func(s *trace.Span) symbolize.Level {
		if !haveMap {
			if b.smpStart >= 0 && s.End <= b.smpStart {
				return symbolize.LevelEarly
			}
			return -1
		}
		best := symbolize.Level(-1)
		for _, i := range b.opt.Symbols.InitcallLevels(s.Name) {
			if i >= cur && (best < 0 || i < best) {
				best = i
			}
		}
		if best < 0 {
			return cur // unknown to the map: it runs in the current level
		}
		return best
	}
	var group *trace.Span
	for _, c := range calls {
		if c.Start < phase.Start || c.Start >= phase.End {
			continue
		}
		l := level(c)
		if l != cur || group == nil {
			cur = l
			group = nil
			if l >= 0 {
				group = &trace.Span{Name: l.String() + " initcalls", Kind: trace.KindLevel, Start: c.Start, End: c.End}
				b.structs = append(b.structs, placed{span: group, pid: 1, rank: rankLevel})
			}
		}
		if group != nil {
			group.End = max(group.End, c.End)
		}
	}
}

func (b *logBuilder) notes() {
	if b.skewed > 0 {
		b.t.Notes = append(b.t.Notes, fmt.Sprintf("%d initcalls printed a duration more than 1 ms away from their log timestamps (a coarse kernel clock before the clocksource switch); their spans keep the printed duration", b.skewed))
	}
	if b.orphans > 0 {
		b.t.Notes = append(b.t.Notes, fmt.Sprintf("%d initcalls returned without a \"calling\" line; their spans come from the printed duration", b.orphans))
	}
	if b.unfinished > 0 {
		b.t.Notes = append(b.t.Notes, fmt.Sprintf("partial: %d initcalls were called but never returned in the log; their spans end where the log does", b.unfinished))
	}
}

// nest places structural spans under root by time, each under the
// innermost open span that may contain it.
func nest(root *trace.Span, ps []placed) (overlapping []placed) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, c := ps[i], ps[j]
		if a.span.Start != c.span.Start {
			return a.span.Start < c.span.Start
		}
		if a.rank != c.rank {
			return a.rank < c.rank
		}
		return a.span.End > c.span.End
	})
	type open struct {
		span *trace.Span
		rank int
	}
	stack := []open{{root, -1}}
	for _, p := range ps {
		for len(stack) > 1 {
			top := stack[len(stack)-1]
			fits := p.span.Start < top.span.End || (p.span.Start == top.span.End && p.span.End == p.span.Start)
			allowed := top.rank < p.rank || (top.rank == rankProbe && p.rank == rankProbe)
			if fits && allowed && (top.rank <= rankLevel || p.span.End <= top.span.End) {
				break
			}
			stack = stack[:len(stack)-1]
		}
		top := stack[len(stack)-1].span
		// Two driver probes that overlap ran on two threads (async
		// probing). Other overlaps come from the coarse clock of early
		// boot and stay where they were printed.
		if n := len(top.Children); n > 0 && p.rank == rankProbe && top.Children[n-1].Kind == trace.KindProbe && top.Children[n-1].End > p.span.Start {
			overlapping = append(overlapping, p)
			continue
		}
		top.Children = append(top.Children, p.span)
		stack = append(stack, open{p.span, p.rank})
	}
	return overlapping
}

// lineSpans gives every ordinary line the time since the previous line or
// structural boundary, inside the innermost span it was printed in.
func (b *logBuilder) lineSpans(root *trace.Span) {
	pending := map[*trace.Span][]*trace.Span{}
	var prev int64 = root.Start
	lineTimes := make([]int64, 0, len(b.t.Marks))
	for _, m := range b.t.Marks {
		lineTimes = append(lineTimes, m.Time)
	}
	for _, l := range b.ordinary {
		// The previous line of any kind (initcall_debug's own lines too).
		i := sort.Search(len(lineTimes), func(i int) bool { return lineTimes[i] >= l.ts })
		prev = root.Start
		if i > 0 {
			prev = lineTimes[i-1]
		}
		n := root
		start := max(prev, n.Start)
		for {
			cs := n.Children
			j := sort.Search(len(cs), func(j int) bool { return cs[j].Start >= l.ts })
			// cs[:j] start before the line; the last of them may contain it.
			// A line printed at a span's very end belongs inside: the time
			// before it is what the span did.
			if j > 0 && cs[j-1].End >= l.ts {
				n = cs[j-1]
				start = max(start, n.Start)
				continue
			}
			if j > 0 {
				start = max(start, cs[j-1].End)
			}
			break
		}
		if l.ts <= start {
			continue
		}
		s := &trace.Span{Name: trace.CleanName(l.msg), Kind: trace.KindLine, Start: start, End: l.ts}
		pending[n] = append(pending[n], s)
	}
	for n, ls := range pending {
		n.Children = append(n.Children, ls...)
	}
}
