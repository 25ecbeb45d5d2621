package input

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
)

// btLine frames a payload the way the kernel patch does.
func btLine(payload string) string {
	return fmt.Sprintf("[    1.000000] BOOT_TRACE %s *%08x\n", payload, crc32.ChecksumIEEE([]byte(payload)))
}

// flushLines is a flush of recs (at 1 GHz) by a kernel with cpus CPUs:
// header, records, end.
func flushLines(cpus int, recs []string) []string {
	lines := []string{btLine(fmt.Sprintf("H 1 6.1.0 1000000 %d %d 0", cpus, len(recs)))}
	for _, r := range recs {
		lines = append(lines, btLine(r))
	}
	return append(lines, btLine(fmt.Sprintf("Z %d 5000", len(recs))))
}

// smallFlush is a boot at 1 GHz (1 cycle = 1 ns): start_kernel with an
// initcall that sleeps in msleep, called by the initcall itself, and one
// that waits in rcu_barrier called from a helper.
func smallFlush() []string {
	type rec struct {
		kind      string
		pid       int
		tsc       uint64
		addr, arg string
	}
	var recs []string
	for i, r := range []rec{
		{"I", 0, 1000, "0", "x86_64_start_kernel"},
		{"B", 0, 1100, "0", "start_kernel"},
		{"E", 0, 5000, "0", "start_kernel"},
		{"F", 1, 6000, "ffffffff81000100", "-"},
		{"W", 1, 6100, "ffffffff81000110", "msleep"},
		{"X", 1, 16100, "ffffffff81000110", "msleep"},
		{"G", 1, 17000, "ffffffff81000100", "-"},
		{"F", 1, 18000, "ffffffff81000200", "-"},
		{"W", 1, 18100, "ffffffff81000310", "rcu_barrier"},
		{"X", 1, 19100, "ffffffff81000310", "rcu_barrier"},
		{"G", 1, 20000, "ffffffff81000200", "-"},
		{"B", 1, 20100, "8000000000000000", "bringup_cpu"},
		{"E", 1, 20200, "8000000000000000", "bringup_cpu"},
		{"I", 1, 21000, "0", "run_init_process"},
	} {
		recs = append(recs, fmt.Sprintf("%d %s 0 %d %x %s %s", i, r.kind, r.pid, r.tsc, r.addr, r.arg))
	}
	lines := []string{"[    0.000000] Linux version 6.1.0\n", btLine(fmt.Sprintf("H 1 6.1.0 1000000 1 %d 0", len(recs)))}
	for _, r := range recs {
		lines = append(lines, btLine(r))
	}
	return append(lines, btLine(fmt.Sprintf("Z %d 5000", len(recs))), "boottrace-init: reached userspace\n")
}

const smallFlushMap = `ffffffff81000100 t ip_auto_config
ffffffff81000200 t inet_init
ffffffff81000300 t helper
`

func TestReadBootTrace(t *testing.T) {
	syms, err := symbolize.ReadSystemMap(strings.NewReader(smallFlushMap))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Read(strings.NewReader(strings.Join(smallFlush(), "")), ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatBootTrace {
		t.Fatalf("format %q", tr.Format)
	}
	want := shape{Name: "kernel", Kind: "track", Start: 0, End: 20000, Children: []shape{
		{Name: "start_kernel", Kind: "phase", Start: 100, End: 4000},
		{Name: "ip_auto_config", Kind: "initcall", Start: 5000, End: 16000, Children: []shape{
			{Name: "msleep", Kind: "wait", Start: 5100, End: 15100},
		}},
		{Name: "inet_init", Kind: "initcall", Start: 17000, End: 19000, Children: []shape{
			{Name: "helper", Kind: "frame", Start: 17100, End: 18100, Children: []shape{
				{Name: "rcu_barrier", Kind: "wait", Start: 17100, End: 18100},
			}},
		}},
		{Name: "bringup_cpu 0", Kind: "phase", Start: 19100, End: 19200},
	}}
	if diff := cmp.Diff(want, shapeOf(tr.Tracks[0].Span)); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	var marks []string
	for _, m := range tr.Marks {
		marks = append(marks, m.Text)
	}
	want2 := []string{"x86_64_start_kernel", "start_kernel", "end start_kernel", "call ip_auto_config", "msleep from ip_auto_config",
		"end msleep", "return ip_auto_config", "call inet_init", "rcu_barrier from helper", "end rcu_barrier", "return inet_init",
		"bringup_cpu", "end bringup_cpu", "run_init_process"}
	if diff := cmp.Diff(want2, marks); diff != "" {
		t.Errorf("marks (-want +got):\n%s", diff)
	}
	if strings.Contains(strings.Join(tr.Notes, "\n"), "partial") {
		t.Errorf("a complete flush is marked partial: %q", tr.Notes)
	}
}

// TestBootTraceSamples checks timer-tick samples: each stands for the
// tick before it inside the open span, consecutive ones in the same
// function make one frame, and ones in the span's own function stay its
// self time.
func TestBootTraceSamples(t *testing.T) {
	syms, err := symbolize.ReadSystemMap(strings.NewReader(smallFlushMap + `ffffffff81000400 t calibrate_APIC_clock
ffffffff81000500 t other
`))
	if err != nil {
		t.Fatal(err)
	}
	recs := []string{
		"0 I 0 0 3e8 0 x86_64_start_kernel", // 1000
		"1 B 0 0 44c 0 start_kernel",        // 1100
		"2 F 0 0 7d0 ffffffff81000100 -",    // 2000: ip_auto_config begins
		"3 G 0 0 898 ffffffff81000100 -",    // 2200: and returns
		"4 S 0 0 13ec ffffffff81000410 -",   // 5100: calibrate_APIC_clock
		"5 S 0 0 238c ffffffff81000420 -",   // 9100: calibrate_APIC_clock
		"6 S 0 0 332c ffffffff81000510 -",   // 13100: other
		"7 S 0 0 3a98 ffffffff81000100 -",   // 15000: ip_auto_config's code, not in it: a frame
		"8 E 0 0 4268 0 start_kernel",       // 17000
		"9 I 0 1 4650 0 run_init_process",   // 18000: the boot ends
		"10 S 0 1 4a38 ffffffff81000500 -",  // 19000: a tick before the flush
	}
	tr, err := Read(strings.NewReader(strings.Join(flushLines(1, recs), "")), ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	// Ticks every 4 µs (the intervals are 4000, 4000 and 1900 ns).
	want := shape{Name: "kernel", Kind: "track", Start: 0, End: 17000, Children: []shape{
		{Name: "start_kernel", Kind: "phase", Start: 100, End: 16000, Children: []shape{
			{Name: "ip_auto_config", Kind: "initcall", Start: 1000, End: 1200},
			{Name: "calibrate_APIC_clock", Kind: "sample", Start: 1200, End: 8100},
			{Name: "other", Kind: "sample", Start: 8100, End: 12100},
			{Name: "ip_auto_config", Kind: "sample", Start: 12100, End: 14000},
		}},
	}}
	if diff := cmp.Diff(want, shapeOf(tr.Tracks[0].Span)); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	if last := tr.Marks[len(tr.Marks)-1].Text; last != "run_init_process" {
		t.Errorf("the boot ends at %q, want run_init_process (the tick after it is not part of it)", last)
	}
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "4 timer-tick samples (a tick every 4.0 µs)") {
		t.Errorf("notes lack the samples:\n%s", notes)
	}
}

// TestBootTraceOffCPU checks the scheduler's records of kernel_init off
// the CPU: inside a hooked wait they need no caller frame, elsewhere the
// code that blocked is one; a preemption has none.
func TestBootTraceOffCPU(t *testing.T) {
	syms, err := symbolize.ReadSystemMap(strings.NewReader(smallFlushMap))
	if err != nil {
		t.Fatal(err)
	}
	recs := []string{
		"0 I 0 0 3e8 0 x86_64_start_kernel",    // 1000
		"1 F 0 1 7d0 ffffffff81000100 -",       // 2000: ip_auto_config
		"2 W 0 1 834 ffffffff81000110 msleep",  // 2100
		"3 W 0 1 898 ffffffff81000120 sleep",   // 2200: blocked inside msleep
		"4 X 0 1 2ee0 0 sleep",                 // 12000
		"5 X 0 1 2f44 ffffffff81000110 msleep", // 12100
		"6 W 0 1 32c8 ffffffff81000310 sleep",  // 13000: blocked in helper
		"7 X 0 1 36b0 0 sleep",                 // 14000
		"8 W 0 1 38a4 0 preempt",               // 14500
		"9 X 0 1 3a98 0 preempt",               // 15000
		"10 G 0 1 3e80 ffffffff81000100 -",     // 16000
		"11 I 0 1 4268 0 run_init_process",     // 17000
	}
	tr, err := Read(strings.NewReader(strings.Join(flushLines(1, recs), "")), ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	want := shape{Name: "kernel", Kind: "track", Start: 0, End: 16000, Children: []shape{
		{Name: "ip_auto_config", Kind: "initcall", Start: 1000, End: 15000, Children: []shape{
			{Name: "msleep", Kind: "wait", Start: 1100, End: 11100, Children: []shape{
				{Name: "[off-cpu] sleeping", Kind: "off-cpu", Start: 1200, End: 11000},
			}},
			{Name: "helper", Kind: "frame", Start: 12000, End: 13000, Children: []shape{
				{Name: "[off-cpu] sleeping", Kind: "off-cpu", Start: 12000, End: 13000},
			}},
			{Name: "[off-cpu] preempted", Kind: "off-cpu", Start: 13500, End: 14000},
		}},
	}}
	if diff := cmp.Diff(want, shapeOf(tr.Tracks[0].Span)); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func TestReadBootTraceDamaged(t *testing.T) {
	base := smallFlush()
	corrupt := func(l string) string { return strings.Replace(l, "msleep", "msleeq", 1) }
	for _, tc := range []struct {
		name    string
		edit    func([]string) []string
		skipped map[string]int
		partial bool
	}{
		{"interleaved with console output", func(ls []string) []string {
			out := []string{}
			for _, l := range ls {
				out = append(out, l, "[    1.5] some driver: hello\n", "\x00\xffnoise\n")
			}
			return out
		}, nil, false},
		{"duplicated lines", func(ls []string) []string { return append(ls[:6:6], ls[5:]...) }, map[string]int{skipDuplicate: 1}, false},
		{"out of order", func(ls []string) []string {
			out := append([]string{}, ls...)
			out[4], out[5] = out[5], out[4]
			return out
		}, nil, false},
		{"bad checksum", func(ls []string) []string {
			out := append([]string{}, ls...)
			out[6] = corrupt(out[6])
			return out
		}, map[string]int{skipBadCRC: 1, skipNoBegin: 1}, true},
		{"line cut mid-way", func(ls []string) []string {
			out := append([]string{}, ls...)
			out[7] = out[7][:30] + "\n"
			return out
		}, map[string]int{skipCut: 1}, true},
		{"lost line", func(ls []string) []string { return append(ls[:8:8], ls[9:]...) }, nil, true},
		{"capture cut before the end", func(ls []string) []string { return ls[:10] }, nil, true},
		{"TSC jump", func(ls []string) []string {
			out := append([]string{}, ls...)
			out[9] = btLine("7 F 0 1 ffffffffffff ffffffff81000200 -")
			return out
		}, map[string]int{skipTSCRange: 1, skipNoBegin: 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Join(tc.edit(append([]string{}, base...)), "")
			tr, err := Read(strings.NewReader(in), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, r := range tr.Skipped.Reasons {
				if strings.HasPrefix(r.Reason, "BOOT_TRACE") {
					got[r.Reason] = r.Count
				}
			}
			if tc.skipped == nil {
				tc.skipped = map[string]int{}
			}
			if diff := cmp.Diff(tc.skipped, got); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			partial := strings.Contains(strings.Join(tr.Notes, "\n"), "partial")
			if partial != tc.partial {
				t.Errorf("partial = %v, want %v (notes %q)", partial, tc.partial, tr.Notes)
			}
			checkTrace(t, tr)
		})
	}
}

func TestReadBootTraceNothingUsable(t *testing.T) {
	for name, in := range map[string]string{
		"records without header": strings.Join(smallFlush()[2:], ""),
		"header only":            smallFlush()[1],
		"all corrupted":          strings.ReplaceAll(strings.Join(smallFlush(), ""), " *", " *0"),
	} {
		if _, err := Read(strings.NewReader(in), ReadOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzReadBootTrace(f *testing.F) {
	f.Add([]byte(strings.Join(smallFlush(), "")))
	f.Add([]byte(btLine("H 1 x 1 1 3 0") + btLine("0 B 0 0 1 0 a") + btLine("1 W 0 0 2 5 w") + btLine("2 E 0 0 3 0 a")))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := ReadBootTrace(bytes.NewReader(in), ReadOptions{})
		if err != nil {
			return
		}
		checkTrace(t, tr)
	})
}

// TestBootTraceBackwards reads a flush whose TSC goes backwards (a TSC
// that is not synchronized, a forged flush): no span may have a negative
// duration, and what was out of order is reported.
func TestBootTraceBackwards(t *testing.T) {
	recs := []string{
		"0 I 0 0 9000 0 x86_64_start_kernel",
		"1 B 0 0 9100 0 start_kernel",
		"2 E 0 0 2000 0 start_kernel",
		"3 F 0 1 1500 ffffffff81000100 -",
		"4 G 0 1 1000 ffffffff81000100 -",
		"5 I 0 1 500 0 run_init_process",
	}
	tr, err := ReadBootTrace(strings.NewReader(strings.Join(flushLines(1, recs), "\n")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkTrace(t, tr)
	if d := tr.End() - tr.Start(); d < 0 {
		t.Errorf("the boot lasts %d ns", d)
	}
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Duration() < 0 {
				t.Errorf("%s lasts %d ns", s.Name, s.Duration())
			}
			return true
		})
	}
	if tr.Skipped.Total == 0 && !strings.Contains(strings.Join(tr.Notes, "\n"), "backwards") {
		t.Errorf("nothing says the TSC went backwards:\n%s", strings.Join(tr.Notes, "\n"))
	}
}

// FuzzBootTraceRecords fuzzes the records behind valid checksums: mutated
// lines mostly break their checksum, so the record builder would not be
// reached. Each 8 bytes are one record: kind, pid, cpu, a signed TSC step.
func FuzzBootTraceRecords(f *testing.F) {
	f.Add([]byte("I\x00\x00\x00\x10\x00\x00\x00B\x00\x00\x00\x10\x00\x00\x00E\x00\x00\x00\xf0\xff\xff\xff"))
	f.Add([]byte("F\x01\x00\x00\x10\x00\x00\x00W\x01\x00\x00\x10\x00\x00\x00S\x01\x00\x00\x01\x00\x00\x00X\x01\x00\x00\x10\x00\x00\x00G\x01\x00\x00\x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var recs []string
		tsc := int64(1 << 40)
		for i := 0; i+8 <= len(in) && len(recs) < 256; i += 8 {
			kind := "BEFGIWXS"[int(in[i])%8]
			tsc += int64(int32(binary.LittleEndian.Uint32(in[i+4:]))) * 1000
			recs = append(recs, fmt.Sprintf("%d %c %d %d %x ffffffff81000%03x name%d", len(recs), kind, in[i+2]%4, in[i+1]%4, uint64(tsc), in[i+3], in[i+3]%3))
		}
		if len(recs) == 0 {
			return
		}
		tr, err := ReadBootTrace(strings.NewReader(strings.Join(flushLines(4, recs), "\n")), ReadOptions{})
		if err != nil {
			return
		}
		checkTrace(t, tr)
		if tr.End() < tr.Start() {
			t.Fatalf("the boot ends before it starts")
		}
	})
}

// TestBootTraceHeaderErrors checks that a header boottrace cannot use says
// why: a newer format version, more records than a kernel buffer holds.
func TestBootTraceHeaderErrors(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"H 3 6.1.0 1000000 1 1 0", "flush format version 3; this boottrace reads versions 1 to 2"},
		{"H 2 6.1.0 1000000 1 1 0", "version 2 header with 7 fields"},
		{"H 1 6.1.0 1000000 1 2000000 0", "2000000 records; a kernel buffer holds 0 to 1048576"},
	} {
		in := btLine(tc.header) + "\n" + btLine("0 I 0 0 1000 0 x86_64_start_kernel") + "\n"
		tr, err := ReadBootTrace(strings.NewReader(in), ReadOptions{})
		if err == nil {
			t.Errorf("%s: read without error", tc.header)
			continue
		}
		if got := tr.Skipped.String(); !strings.Contains(got, tc.want) {
			t.Errorf("%s: skipped lines say\n%s\nwant %q", tc.header, got, tc.want)
		}
	}
}

// TestBootTraceKASLR reads a version 2 flush from a kernel that ran 16 MiB
// above its link address: its addresses resolve with the offset taken
// off, and without it they would resolve to nothing rather than to the
// wrong function.
func TestBootTraceKASLR(t *testing.T) {
	const off = 0x1000000
	syms, err := symbolize.ReadSystemMap(strings.NewReader("ffffffff81000000 T _stext\nffffffff81000100 t my_initcall\nffffffff81000200 t other\nffffffff81200000 B _end\n"))
	if err != nil {
		t.Fatal(err)
	}
	at := func(a uint64) string { return strconv.FormatUint(a+off, 16) }
	lines := []string{btLine("H 2 6.1.0 1000000 1 4 0 1000 " + strconv.FormatUint(off, 16) + " 0")}
	for _, r := range []string{
		"0 I 0 0 1000 0 x86_64_start_kernel",
		"1 F 0 1 2000 " + at(0xffffffff81000100) + " -",
		"2 G 0 1 3000 " + at(0xffffffff81000100) + " -",
		"3 I 0 1 4000 0 run_init_process",
	} {
		lines = append(lines, btLine(r))
	}
	lines = append(lines, btLine("Z 4 100"))
	tr, err := ReadBootTrace(strings.NewReader(strings.Join(lines, "\n")), ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			names[path[len(path)-1].Name] = true
			return true
		})
	}
	if !names["my_initcall"] {
		t.Errorf("the initcall is not named my_initcall with the KASLR offset taken off: %v", names)
	}
	if !strings.Contains(strings.Join(tr.Notes, "\n"), "KASLR") {
		t.Errorf("the notes do not state the KASLR offset:\n%s", strings.Join(tr.Notes, "\n"))
	}
	// The same addresses against the table as they are: past _end, so
	// refused, not named after the last symbol.
	if name, _, ok := syms.Lookup(0xffffffff81000100 + off); ok {
		t.Errorf("an address past _end resolved to %s", name)
	}
}

// TestBootTraceWakerCallers follows wakers that say where they called for
// the wake-up ("woken_by", the waker's pid and the lower half of its caller
// in one address; "woken_irq" with its caller whole), under KASLR: the
// chain names each waker with its caller, symbolized, and a waker whose
// caller was not recorded with none; pid 0 is a CPU's idle task.
func TestBootTraceWakerCallers(t *testing.T) {
	syms, err := symbolize.ReadSystemMap(strings.NewReader("ffffffff81000100 t rcu_gp_kthread\nffffffff81000200 t wakeme_after_rcu\nffffffff81000300 t process_timeout\nffffffff81000400 t cpu_startup_entry\n"))
	if err != nil {
		t.Fatal(err)
	}
	// KASLR offset 0x1000000: the kernel ran 16 MiB above System.map.
	recs := []string{
		"0 I 0 0 3e8 0 x86_64_start_kernel",       // 1000
		"1 W 0 1 7d0 0 sleep",                     // 2000
		"2 I 0 20 7e4 ffffffff82000310 woken_irq", // 2020: rcu_gp woken by a timer in process_timeout
		"3 I 0 13 802 8000001482000110 woken_by",  // 2050: pid 13 woken by pid 20 in rcu_gp_kthread
		"4 I 0 1 898 8000000d82000210 woken_by",   // 2200: kernel_init woken by pid 13 in wakeme_after_rcu
		"5 X 0 1 8fc 0 sleep",                     // 2300
		"6 W 0 1 960 0 sleep",                     // 2400
		"7 I 0 1 9c4 8000000d00000000 woken_by",   // 2500: by pid 13, caller not found
		"8 X 0 1 a28 0 sleep",                     // 2600
		"9 W 0 1 a2e 0 sleep",                     // 2606
		"10 I 0 1 a30 0 woken_irq",                // 2608: by an interrupt, caller not found
		"11 X 0 1 a32 0 sleep",                    // 2610
		"12 W 0 1 a3c 0 sleep",                    // 2620
		"13 I 1 1 a3e 8000000082000400 woken_by",  // 2622: by pid 0, a CPU's idle task
		"14 X 0 1 a40 0 sleep",                    // 2624
		"15 I 0 1 a8c 0 run_init_process",         // 2700
		"16 I 0 13 2710 0 comm=kworker/0:1",       // 10000
		"17 I 0 20 27d8 0 comm=rcu_gp",            // 10200
	}
	lines := []string{btLine(fmt.Sprintf("H 2 6.1.0 1000000 1 %d 0 2710 1000000 0", len(recs)))}
	for _, r := range recs {
		lines = append(lines, btLine(r))
	}
	lines = append(lines, btLine(fmt.Sprintf("Z %d 5000", len(recs))))
	tr, err := Read(strings.NewReader(strings.Join(lines, "")), ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	var waits []string
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; s.Kind == trace.KindOffCPU {
			waits = append(waits, s.Name)
		}
		return true
	})
	want := []string{
		"[off-cpu] sleeping, woken by kworker/0:1 (wakeme_after_rcu) <- rcu_gp (rcu_gp_kthread) <- an interrupt (process_timeout)",
		"[off-cpu] sleeping, woken by kworker/0:1",
		"[off-cpu] sleeping, woken by an interrupt",
		"[off-cpu] sleeping, woken by the idle task (cpu_startup_entry)",
	}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

// TestBootTraceWakeups names kernel_init's waits by who ended them (the
// "woken" instants the scheduler records, with the waker's pid), following
// the wakers back through the other tasks' wake-ups during the wait
// (which make no track of their own), and the
// tasks' tracks by their names ("comm=" instants, recorded as the boot
// ends, which neither extend a track nor count as marks).
func TestBootTraceWakeups(t *testing.T) {
	recs := []string{
		"0 I 0 0 3e8 0 x86_64_start_kernel",          // 1000
		"1 I 0 13 5dc 800000000000001e woken",        // 1500: pid 13 woken by 30, before the wait
		"2 W 0 1 7d0 0 sleep",                        // 2000
		"3 I 1 20 7e4 0 woken_irq",                   // 2020: pid 20 woken by a timer
		"4 I 1 13 802 8000000000000014 woken",        // 2050: pid 13 woken by pid 20
		"5 S 0 13 834 ffffffff81000110 -",            // 2100: pid 13 runs
		"6 I 0 1 898 800000000000000d woken",         // 2200: woken by pid 13
		"7 X 0 1 8fc 0 sleep",                        // 2300
		"8 W 0 1 960 0 sleep",                        // 2400
		"9 I 0 1 9c4 0 woken_irq",                    // 2500: by a timer
		"10 X 0 1 a28 0 sleep",                       // 2600
		"11 I 0 13 a2c 8000000000000001 woken",       // 2604: kernel_init hands pid 13 work
		"12 W 0 1 a2e 0 sleep",                       // 2606
		"13 I 0 1 a30 800000000000000d woken",        // 2608: by pid 13
		"14 X 0 1 a32 0 sleep",                       // 2610
		"15 W 0 1 a3c 0 sleep",                       // 2620
		"16 I 0 1 a3e 800000000000000d woken",        // 2622: by pid 13, woken before the last wait
		"17 X 0 1 a40 0 sleep",                       // 2624
		"18 I 0 1 a8c 0 run_init_process",            // 2700
		"19 I 0 13 2710 0 comm=kworker/0:1",          // 10000
		"20 I 0 14 2774 0 comm=never_seen_elsewhere", // 10100
		"21 I 0 20 27d8 0 comm=rcu_gp",               // 10200
	}
	tr, err := Read(strings.NewReader(strings.Join(flushLines(1, recs), "")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, track := range tr.Tracks {
		names = append(names, track.Name)
		if track.End > 2700 {
			t.Errorf("track %s ends at %d, after the boot's last record", track.Name, track.End)
		}
	}
	if diff := cmp.Diff([]string{"kernel", "pid 13 (kworker/0:1)"}, names); diff != "" {
		t.Errorf("tracks (-want +got):\n%s", diff)
	}
	var waits []string
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; s.Kind == trace.KindOffCPU {
			waits = append(waits, s.Name)
		}
		return true
	})
	// The first wait's waker was itself woken during it, by a task a timer
	// woke: the chain goes back to the interrupt. The third one's waker was
	// woken by kernel_init on its way to the wait (work it handed off); the
	// last one's waker was woken before kernel_init's previous wait ended,
	// so the chain stops at it.
	want := []string{"[off-cpu] sleeping, woken by kworker/0:1 <- rcu_gp <- an interrupt", "[off-cpu] sleeping, woken by an interrupt",
		"[off-cpu] sleeping, woken by kworker/0:1 <- kernel_init", "[off-cpu] sleeping, woken by kworker/0:1"}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	for _, m := range tr.Marks {
		if strings.HasPrefix(m.Text, "comm=") {
			t.Errorf("a task name taken for a mark: %q", m.Text)
		}
	}
}
