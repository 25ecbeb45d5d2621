package input

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/boottrace/boottrace/trace"

	"github.com/boottrace/boottrace/symbolize"
)

// FormatBootTrace names the flush of the BOOT_TRACE kernel patch
// (guestpatch/): checksummed "BOOT_TRACE ..." lines among ordinary console
// output.
const FormatBootTrace = "BOOT_TRACE"

// maxBootRecords bounds what a forged header or sequence number can make
// the reader hold.
const maxBootRecords = bootline.MaxRecords

// BootHeader is what the flush's header line says about the boot.
type BootHeader = bootline.Header

// bootRecord is one record of the flush.
type bootRecord struct {
	seq  int
	kind byte
	cpu  int
	pid  int
	tsc  uint64
	addr uint64
	name string
	line int
	at   int64 // when its line arrived (see bootCollector.now)
}

// Skip reasons of the BOOT_TRACE reader.
const (
	skipBadCRC       = "BOOT_TRACE lines with a bad checksum"
	skipCut          = "BOOT_TRACE lines cut short (no checksum)"
	skipMalformed    = "BOOT_TRACE lines that do not parse"
	skipDuplicate    = "BOOT_TRACE lines repeated"
	skipSecondFlush  = "BOOT_TRACE lines of a second flush (another boot)"
	skipTSCRange     = "BOOT_TRACE records whose TSC jumps (before the first record or hours after it)"
	skipNoBegin      = "BOOT_TRACE end records without their begin"
	skipTSCBackwards = "BOOT_TRACE records whose TSC goes backwards on their task (placed at the record before)"
)

// ReadBootTrace reads a console capture holding a BOOT_TRACE flush. Every
// record whose line checks out is kept; lines that are cut, corrupted,
// repeated or missing are reported, and a flush with records missing is
// marked partial. Times are nanoseconds since the first record (the
// kernel's first C code), from the TSC frequency in the header.
func ReadBootTrace(r io.Reader, opt ReadOptions) (*trace.Trace, error) {
	return readBootTrace(newLineReader(r), opt)
}

func readBootTrace(lr *lineReader, opt ReadOptions) (*trace.Trace, error) {
	t := &trace.Trace{Format: FormatBootTrace, Timed: true}
	c := newBootCollector()
	if err := lr.each(&t.Skipped, func(b []byte) { c.add(b, lr.line, &t.Skipped) }); err != nil {
		return nil, err
	}
	return c.finish(t, opt)
}

// bootCollector gathers the BOOT_TRACE lines of a console capture, which
// may be interleaved with any other output.
type bootCollector struct {
	hdr  *BootHeader
	recs map[int]bootRecord
	// now is when the line being added arrived (a recorded console; 0
	// for a log), stamped on the header and the records: hdrAt, at.
	now         int64
	hdrAt       int64
	seen        bool // any BOOT_TRACE line at all
	ended       bool
	flushCycles uint64
	second      bool // a second flush began: everything after is skipped
	// fromMemory: the lines were read by the host from guest memory, not
	// printed by the guest.
	fromMemory bool
}

func newBootCollector() *bootCollector {
	return &bootCollector{recs: map[int]bootRecord{}}
}

// add takes line b if it is a BOOT_TRACE line and reports whether it was.
func (c *bootCollector) add(b []byte, line int, skipped *trace.Skips) bool {
	i := bootline.Find(b)
	if i < 0 {
		return false
	}
	i -= len(bootline.Tag)
	c.seen = true
	if c.second {
		skipped.Add(skipSecondFlush, line)
		return true
	}
	l, _, err := bootline.Parse(b[i:])
	switch {
	case errors.Is(err, bootline.ErrCut):
		skipped.Add(skipCut, line)
		return true
	case errors.Is(err, bootline.ErrBadCRC):
		skipped.Add(skipBadCRC, line)
		return true
	case err != nil:
		reason := skipMalformed
		if _, detail, ok := strings.Cut(err.Error(), " ("); ok {
			reason += " (" + detail
		}
		skipped.Add(reason, line)
		return true
	}
	switch {
	case l.Header != nil:
		h := l.Header
		h.Release = trace.CleanName(h.Release)
		switch {
		case c.hdr == nil:
			c.hdr, c.hdrAt = h, c.now
		case *h == *c.hdr && !c.ended:
			skipped.Add(skipDuplicate, line)
		default:
			c.second = true
			skipped.Add(skipSecondFlush, line)
		}
	case l.End != nil:
		c.ended = true
		c.flushCycles = l.End.Cycles
	default:
		r := l.Record
		rec := bootRecord{seq: r.Seq, kind: r.Kind, cpu: r.CPU, pid: r.PID, tsc: r.TSC, addr: r.Addr, line: line, at: c.now}
		if r.Name != "" {
			rec.name = trace.CleanName(r.Name)
		}
		if prev, dup := c.recs[rec.seq]; dup {
			if prev.tsc != rec.tsc || prev.kind != rec.kind {
				skipped.Add(skipMalformed+" (same sequence number, different record)", line)
			} else {
				skipped.Add(skipDuplicate, line)
			}
			return true
		}
		if len(c.recs) >= maxBootRecords || (c.hdr != nil && rec.seq >= c.hdr.Records) {
			skipped.Add(skipMalformed+" (sequence number beyond the header's record count)", line)
			return true
		}
		c.recs[rec.seq] = rec
	}
	return true
}

// finish builds the trace from what was collected.
func (c *bootCollector) finish(t *trace.Trace, opt ReadOptions) (*trace.Trace, error) {
	hdr := c.hdr
	if hdr == nil {
		if len(c.recs) == 0 {
			return t, fmt.Errorf("%w: no BOOT_TRACE header line (\"BOOT_TRACE H 1 ...\") with a valid checksum", ErrNoData)
		}
		return t, fmt.Errorf("%w: BOOT_TRACE records without their header line: the TSC frequency is unknown", ErrNoData)
	}
	if hdr.TSCkHz == 0 {
		return t, fmt.Errorf("%w: the guest kernel could not calibrate its TSC (BOOT_TRACE header says 0 kHz; see \"tsc:\" lines on its console), so record times cannot be converted; under an emulator on a busy host, boot again or pass tsc_early_khz=", ErrNoData)
	}
	// Records numbered past the header's count arrived before the header
	// was seen; drop them now.
	for s, r := range c.recs {
		if s >= hdr.Records {
			delete(c.recs, s)
			t.Skipped.Add(skipMalformed+" (sequence number beyond the header's record count)", r.line)
		}
	}
	if len(c.recs) == 0 {
		return t, fmt.Errorf("%w: a BOOT_TRACE header but no record with a valid checksum", ErrNoData)
	}
	ordered := c.ordered()
	t.Format = FormatBootTrace
	t.Notes = append(t.Notes, fmt.Sprintf("BOOT_TRACE from Linux %s: %d CPUs, TSC %d kHz, %d records; times from the guest TSC since the first record", hdr.Release, hdr.CPUs, hdr.TSCkHz, hdr.Records))
	if missing := hdr.Records - len(c.recs); missing > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("partial: %d of %d BOOT_TRACE records missing (lost or corrupted lines); spans they would have closed end where the trace does", missing, hdr.Records))
	}
	if hdr.KASLR != 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("KASLR: the kernel ran 0x%x above its link address; addresses are shown and resolved without that offset", hdr.KASLR))
	}
	if hdr.Flags&bootline.FlagTSCUnstable != 0 {
		t.Notes = append(t.Notes, "the guest kernel marked its TSC unstable: times may jump where it changed")
	}
	if hdr.Dropped > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("partial: the kernel dropped %d records on a full buffer (raise CONFIG_BOOT_TRACE_RECORDS)", hdr.Dropped))
	}
	if !c.ended {
		t.Notes = append(t.Notes, "partial: the flush's end line is missing (the capture was cut)")
	} else if c.flushCycles > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("the flush took %s, after the measured window", trace.FormatDuration(cyclesToNs(c.flushCycles, hdr.TSCkHz))))
	}
	buildBootSpans(t, hdr, ordered, opt.Symbols)
	return t, nil
}

func cyclesToNs(c, khz uint64) int64 {
	v := float64(c) * 1e6 / float64(khz)
	if v > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(v + 0.5)
}

// maxBootSpan is the longest a boot may run before a TSC value is taken
// for corruption: one hour.
const maxBootSpan = int64(3600e9)

// buildBootSpans nests the records into spans, one stack per task. The
// boot's critical path — pid 0 on the boot CPU (start_kernel), then pid 1
// (kernel_init) — is the "kernel" track; other tasks get their own.
func buildBootSpans(t *trace.Trace, hdr *BootHeader, recs []bootRecord, syms *symbolize.Table) {
	tsc0, _ := tscRange(recs, hdr.TSCkHz)
	bootCPU := recs[0].cpu
	type key struct{ pid, cpu int }
	type open struct {
		span *trace.Span
		rec  bootRecord
	}
	tracks := map[key]*trace.Span{}
	var order []key
	stacks := map[key][]open{}
	onCPU := map[key][]trace.CPUAt{}
	trackOf := func(r bootRecord) key {
		k := key{r.pid, -1}
		if r.pid == 0 {
			k.cpu = r.cpu // each CPU has its own idle task, all pid 0
		}
		if r.pid == 1 || (r.pid == 0 && r.cpu == bootCPU) {
			k = key{1, -1}
		}
		return k
	}
	var last int64
	jumps, samples := 0, 0
	// Task names, from the "comm=NAME" instants the kernel records as the
	// boot ends; and kernel_init's off-CPU spans with who ended them
	// ("woken" instants), named once every name is known.
	comms := map[int]string{}
	type wake struct {
		span  *trace.Span
		at    int64
		waker waker
		// since is when kernel_init's previous wait ended: what it woke
		// from then on, on its way to this wait, is what it handed off.
		since int64
	}
	var wakes []wake
	var lastOffEnd int64 // of kernel_init's last finished wait
	// Other tasks' wake-ups while kernel_init was off the CPU, by task, in
	// time order: they lead from its waker back to what set it going.
	type wokenAt struct {
		at    int64
		waker waker
	}
	othersWoken := map[int][]wokenAt{}
	period := samplePeriod(recs, tsc0, hdr.TSCkHz)
	frame := func(addr uint64) symbolize.Frame {
		// Addresses as System.map gives them: without the KASLR offset.
		if addr >= hdr.KASLR {
			addr -= hdr.KASLR
		}
		f := syms.Resolve("0x" + strconv.FormatUint(addr, 16))
		f.Func = trace.CleanName(f.Func)
		return f
	}
	for _, r := range recs {
		if r.tsc < tsc0 || cyclesToNs(r.tsc-tsc0, hdr.TSCkHz) > maxBootSpan {
			t.Skipped.Add(skipTSCRange, r.line)
			jumps++
			continue
		}
		if name, ok := strings.CutPrefix(r.name, "comm="); ok && r.kind == 'I' {
			comms[r.pid] = name
			continue
		}
		at := cyclesToNs(r.tsc-tsc0, hdr.TSCkHz)
		last = max(last, at)
		if r.kind == 'I' && r.pid != 1 && isWakeUp(r.name) {
			othersWoken[r.pid] = append(othersWoken[r.pid], wokenAt{at, wakerOf(r)})
			continue
		}
		k := trackOf(r)
		tr := tracks[k]
		if tr == nil {
			name := fmt.Sprintf("pid %d", k.pid)
			switch {
			case k.pid == 1:
				name = "kernel"
			case k.pid == 0:
				name = fmt.Sprintf("cpu%d idle", k.cpu)
			}
			// Named below, once the names (recorded last) are known.
			tr = &trace.Span{Name: name, Kind: trace.KindTrack, Start: at, End: at}
			tracks[k] = tr
			order = append(order, k)
		}
		prev := tr.End // this task's previous record
		if at < prev {
			// A task's records are taken in order: a TSC that goes back
			// (unsynchronized TSCs, a forged flush) is read as the moment
			// of the record before, so no span runs backwards.
			t.Skipped.Add(skipTSCBackwards, r.line)
			at = prev
		}
		tr.End = max(tr.End, at)
		// A wake-up is taken on the waker's CPU, not the woken task's.
		woken := r.kind == 'I' && isWakeUp(r.name)
		if n := len(onCPU[k]); !woken && (n == 0 || onCPU[k][n-1].CPU != r.cpu) {
			onCPU[k] = append(onCPU[k], trace.CPUAt{Time: at, CPU: r.cpu})
		}
		st := stacks[k]
		parent := tr
		if len(st) > 0 {
			parent = st[len(st)-1].span
		}
		push := func(s *trace.Span) {
			parent.Children = append(parent.Children, s)
			st = append(st, open{s, r})
			parent = s
		}
		// Every record is a moment the trace saw: the summary's longest
		// gaps between them show where the instrumentation is blind.
		t.Marks = append(t.Marks, trace.Mark{Time: at, Line: r.line, Text: markText(r, frame)})
		switch r.kind {
		case 'I':
			if !woken {
				break
			}
			// The wait it ends is the innermost off-CPU span open.
			for j := len(st) - 1; j >= 0; j-- {
				if st[j].span.Kind == trace.KindOffCPU {
					wakes = append(wakes, wake{st[j].span, at, wakerOf(r), lastOffEnd})
					break
				}
			}
		case 'B':
			// A phase's address field is an argument (a CPU number, say),
			// flagged with the top bit so that 0 is told apart from none.
			name := r.name
			if arg := r.addr &^ (1 << 63); r.addr != 0 {
				name += " " + strconv.FormatUint(arg, 10)
			}
			push(&trace.Span{Name: trace.CleanName(name), Kind: trace.KindPhase, Start: at})
		case 'F':
			f := frame(r.addr)
			push(&trace.Span{Name: f.Func, Kind: trace.KindInitcall, Start: at, File: f.File, Line: f.Line})
		case 'W':
			// The waiter's caller is a frame of its own, unless it is the
			// span already open (an initcall that sleeps itself), or a
			// wait that already says who called (the scheduler's records
			// of kernel_init going off the CPU inside msleep, say).
			name, kind := trace.CleanName(r.name), trace.KindWait
			if off, ok := offCPUNames[r.name]; ok {
				name, kind = off, trace.KindOffCPU
			}
			if f := frame(r.addr); r.addr != 0 && parent.Name != f.Func && parent.Kind != trace.KindWait {
				push(&trace.Span{Name: f.Func, Kind: trace.KindFrame, Start: at, File: f.File, Line: f.Line})
			}
			push(&trace.Span{Name: name, Kind: kind, Start: at})
		case 'S':
			// A timer tick's sample stands for the time since this task's
			// previous record or sample, within the open span's own time,
			// up to two tick periods (ticks come late, but not much later,
			// and before interrupts are on there are none). Samples in
			// the span's own function are its self time already.
			f := frame(r.addr)
			if f.Func == parent.Name {
				break
			}
			samples++
			start := max(at-2*period, prev, parent.Start)
			if n := len(parent.Children); n > 0 {
				c := parent.Children[n-1]
				if c.Kind == trace.KindSample && c.Name == f.Func && c.End >= start {
					c.End = at // the same function, tick after tick
					break
				}
				start = max(start, c.End)
			}
			if start < at {
				parent.Children = append(parent.Children, &trace.Span{Name: f.Func, Kind: trace.KindSample, Start: start, End: at, File: f.File, Line: f.Line})
			}
		case 'E', 'G', 'X':
			begin := map[byte]byte{'E': 'B', 'G': 'F', 'X': 'W'}[r.kind]
			j := len(st) - 1
			for ; j >= 0; j-- {
				o := st[j].rec
				if o.kind == begin && o.name == r.name && (r.kind == 'X' || o.addr == r.addr) {
					break
				}
			}
			if j < 0 {
				t.Skipped.Add(skipNoBegin, r.line)
				break
			}
			for _, o := range st[j+1:] {
				// Spans left open inside the one that ended never ended
				// themselves (their end record was lost).
				o.span.End, o.span.Unfinished = at, o.span.Kind != trace.KindFrame
			}
			st[j].span.End = at
			if st[j].span.Kind == trace.KindOffCPU && k.pid == 1 {
				lastOffEnd = at
			}
			st = st[:j]
			// A wait's caller frame closes with the wait.
			if r.kind == 'X' && len(st) > 0 && st[len(st)-1].span.Kind == trace.KindFrame && st[len(st)-1].rec.kind == 'W' {
				st[len(st)-1].span.End = at
				st = st[:len(st)-1]
			}
		}
		stacks[k] = st
	}
	task := func(pid int) string {
		switch name, ok := comms[pid]; {
		case pid < 0:
			return "an interrupt"
		case pid == 1:
			return "kernel_init"
		case pid == 0 && !ok:
			// A CPU's idle task: the boot CPU's before init, or a CPU
			// being brought up, finishing its bring-up.
			return "the idle task"
		case ok:
			return trace.CleanName(name)
		}
		return fmt.Sprintf("pid %d", pid)
	}
	// A link of a chain: the waker, and where it called for the wake-up
	// when the patch recorded that.
	link := func(w waker) string {
		if w.caller == 0 {
			return task(w.pid)
		}
		return task(w.pid) + " (" + frame(w.caller).Func + ")"
	}
	for _, ws := range othersWoken {
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].at < ws[j].at })
	}
	for _, w := range wakes {
		// Back from the waker: who woke it during the wait, and who woke
		// that one, until an interrupt, kernel_init itself (which woke it
		// on its way to the wait: work it handed off), a task that was
		// already running when the wait began, or maxWakeChain links.
		names := []string{link(w.waker)}
		seen := map[int]bool{1: true}
		for by, at := w.waker, w.at; by.pid > 0 && !seen[by.pid] && len(names) < maxWakeChain; {
			seen[by.pid] = true
			ws := othersWoken[by.pid]
			i := sort.Search(len(ws), func(i int) bool { return ws[i].at > at }) - 1
			if i < 0 || ws[i].at < w.span.Start && (ws[i].waker.pid != 1 || ws[i].at < w.since) {
				break
			}
			by, at = ws[i].waker, ws[i].at
			names = append(names, link(by))
		}
		w.span.Name += ", woken by " + strings.Join(names, " <- ")
	}
	unfinished := 0
	for _, k := range order {
		for _, o := range stacks[k] {
			o.span.End, o.span.Unfinished = last, true
			unfinished++
		}
	}
	if jumps > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("partial: %d records dropped for a TSC out of range", jumps))
	}
	if samples > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("%d timer-tick samples (a tick every %s) name the code running where no record did; each stands for the time since the task's record or sample before, up to two ticks", samples, trace.FormatDuration(period)))
	}
	if unfinished > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("partial: %d spans began but never ended in the trace; they end where it does", unfinished))
	}
	sort.SliceStable(order, func(i, j int) bool {
		if (order[i].pid == 1) != (order[j].pid == 1) {
			return order[i].pid == 1
		}
		return tracks[order[i]].Start < tracks[order[j]].Start
	})
	for _, k := range order {
		tr := tracks[k]
		if name, ok := comms[k.pid]; ok && k.pid > 1 {
			tr.Name += " (" + trace.CleanName(name) + ")"
		}
		fixEnds(tr)
		tr.SortChildren()
		t.Tracks = append(t.Tracks, trace.Track{Span: tr, Source: "guest", CPU: onlyCPU(onCPU[k]), OnCPU: onCPU[k]})
	}
}

// fixEnds makes every parent end no earlier than its children: an open
// span closed at the last record may otherwise end before a child.
func fixEnds(s *trace.Span) int64 {
	for _, c := range s.Children {
		s.End = max(s.End, fixEnds(c))
	}
	return s.End
}

func markText(r bootRecord, frame func(uint64) symbolize.Frame) string {
	switch r.kind {
	case 'S':
		return "tick in " + frame(r.addr).Func
	case 'E', 'X':
		return "end " + r.name
	case 'F':
		return "call " + frame(r.addr).Func
	case 'G':
		return "return " + frame(r.addr).Func
	case 'W':
		return r.name + " from " + frame(r.addr).Func
	}
	return r.name
}

// tscRange is the earliest and latest TSC of the records. Records of
// several CPUs interleave, so the first record in sequence need not be the
// earliest; values more than maxBootSpan from the first record's are taken
// for corruption and left out.
func tscRange(recs []bootRecord, khz uint64) (first, last uint64) {
	base := recs[0].tsc
	first, last = base, base
	for _, r := range recs {
		switch {
		case r.tsc < first && cyclesToNs(base-r.tsc, khz) <= maxBootSpan:
			first = r.tsc
		case r.tsc > last && cyclesToNs(r.tsc-base, khz) <= maxBootSpan:
			last = r.tsc
		}
	}
	return first, last
}

// ordered returns the collected records in sequence order, without
// samples after the boot's end.
func (c *bootCollector) ordered() []bootRecord {
	seqs := make([]int, 0, len(c.recs))
	for s := range c.recs {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs)
	out := make([]bootRecord, len(seqs))
	for i, s := range seqs {
		out[i] = c.recs[s]
	}
	// A tick can be sampled between the boot's last record and the start
	// of the flush: after the boot, so not part of it.
	for c.ended && len(out) > 1 && out[len(out)-1].kind == 'S' {
		out = out[:len(out)-1]
	}
	return out
}

// offCPUNames names the waits the scheduler records for kernel_init
// going off the CPU, as the host's off-CPU spans are named.
var offCPUNames = map[string]string{"sleep": "[off-cpu] sleeping", "preempt": "[off-cpu] preempted"}

// defaultSamplePeriod is the tick of HZ=250, for a trace with too few
// samples to measure it.
const defaultSamplePeriod = 4_000_000

// samplePeriod measures the timer tick from the samples: the common short
// interval between two samples on one CPU (ticks the kernel did not sample,
// idle ones, make longer intervals).
// maxWakeChain bounds how far back a wait's wakers are followed.
const maxWakeChain = 6

// isWakeUp says whether an instant records a wake-up: "woken" (the waker's
// pid), "woken_by" (its pid and caller, from later patches) or "woken_irq".
func isWakeUp(name string) bool {
	return name == "woken" || name == "woken_by" || name == "woken_irq"
}

// A waker is who a wake-up record names: a task's pid, or -1 for an
// interrupt or a timer, and the code address that called for the wake-up
// (0 when not recorded).
type waker struct {
	pid    int
	caller uint64
}

// kernelTextTop is what every x86-64 kernel text address has in its upper
// 32 bits (the kernel and modules run in the top 2 GiB), so "woken_by"
// records only the lower 32.
const kernelTextTop = 0xffffffff_00000000

// wakerOf reads a wake-up record. "woken_irq" carries its caller whole;
// "woken" and "woken_by" flag the pid as an argument with bit 63, as a
// phase record does, and "woken_by" packs the pid into bits 32-62 and the
// lower half of the caller into bits 0-31.
func wakerOf(r bootRecord) waker {
	arg := r.addr &^ (1 << 63)
	switch {
	case r.name == "woken_irq":
		return waker{-1, r.addr}
	case r.addr>>63 == 0:
		return waker{pid: -1}
	case r.name == "woken":
		return waker{pid: int(arg)}
	case r.name == "woken_by" && uint32(arg) != 0:
		return waker{int(arg >> 32), kernelTextTop | arg&0xffffffff}
	}
	return waker{pid: int(arg >> 32)}
}

func samplePeriod(recs []bootRecord, tsc0, khz uint64) int64 {
	last := map[int]int64{}
	var d []int64
	for _, r := range recs {
		if r.kind != 'S' || r.tsc < tsc0 {
			continue
		}
		at := cyclesToNs(r.tsc-tsc0, khz)
		if p, ok := last[r.cpu]; ok && at > p {
			d = append(d, at-p)
		}
		last[r.cpu] = at
	}
	if len(d) == 0 {
		return defaultSamplePeriod
	}
	// The interval most others are close to (within a quarter): a
	// sliding window over the sorted intervals.
	slices.Sort(d)
	best, bestN, j := 0, 0, 0
	for i := range d {
		for j < len(d) && d[j] <= d[i]+d[i]/4 {
			j++
		}
		if j-i > bestN {
			best, bestN = i, j-i
		}
	}
	return d[best+bestN/2]
}

// onlyCPU is the one CPU a task was seen on, or -1 when it moved or was
// never seen.
func onlyCPU(at []trace.CPUAt) int {
	if len(at) == 0 {
		return -1
	}
	for _, a := range at[1:] {
		if a.CPU != at[0].CPU {
			return -1
		}
	}
	return at[0].CPU
}
