package input

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"

	"github.com/google/go-cmp/cmp"
)

// TestLineSplitterMatchesReader checks that cutting input into pieces
// gives the lines lineReader gives for the whole: across piece
// boundaries, with CRLF, an over-long line and no final newline.
func TestLineSplitterMatchesReader(t *testing.T) {
	long := strings.Repeat("x", MaxLineLen+100)
	for _, in := range []string{
		"",
		"one\n",
		"one\r\ntwo\n\nthree",
		"a\n" + long + "\nb\n",
		long + "\r\nafter",
		"\n\n\r\n",
		"end with long " + long,
	} {
		var want []string
		var wantSkips trace.Skips
		lr := newLineReader(strings.NewReader(in))
		lr.each(&wantSkips, func(b []byte) { want = append(want, fmt.Sprintf("%d:%s", lr.line, b)) })
		rng := rand.New(rand.NewPCG(1, uint64(len(in))))
		for _, size := range []int{1, 2, 3, 7, 4096, -1} {
			var got []string
			var skips trace.Skips
			var ls tracefile.LineSplitter
			fn := consoleLines(&ls, &skips, func(b []byte) { got = append(got, fmt.Sprintf("%d:%s", ls.Line(), b)) })
			for rest := in; len(rest) > 0; {
				n := size
				if n < 0 {
					n = 1 + rng.IntN(len(rest))
				}
				n = min(n, len(rest))
				ls.Write([]byte(rest[:n]), fn)
				rest = rest[n:]
			}
			ls.Flush(fn)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%.20q in pieces of %d: lines (-reader +splitter):\n%s", in, size, diff)
			}
			if diff := cmp.Diff(wantSkips, skips); diff != "" {
				t.Errorf("%.20q in pieces of %d: skips (-reader +splitter):\n%s", in, size, diff)
			}
		}
	}
}

// readStreamed reads the trace file write writes, as it is written, and
// returns the largest heap seen each time write calls measure (after a
// garbage collection: what the reader holds).
func readStreamed(t *testing.T, write func(w *tracefile.Writer, measure func())) (*trace.Trace, uint64) {
	t.Helper()
	pr, pw := io.Pipe()
	var peak uint64
	go func() {
		w, _ := tracefile.NewWriter(pw, tracefile.Header{PID: 1})
		w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: 1, TID: 1})
		write(w, func() {
			w.Flush()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		})
		pw.CloseWithError(w.Flush())
	}()
	tr, err := Read(pr, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr, peak
}

// TestRecordingConsoleMemoryBounded reads a recording whose guest printed
// 64 MB on its console before the BOOT_TRACE flush: the heap must not grow
// with the console.
func TestRecordingConsoleMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MB")
	}
	tr, peak := readStreamed(t, func(w *tracefile.Writer, measure func()) {
		chunk := strings.Repeat("[    1.000000] a guest that prints a lot\n", 100)
		at := int64(2000)
		for written := 0; written < 64<<20; written += len(chunk) {
			w.Write(tracefile.Event{Time: at, Kind: "serial", Data: chunk})
			at++
			if written%(8<<20) < len(chunk) {
				measure()
			}
		}
		w.Write(tracefile.Event{Time: at + 1e6, Kind: "serial", Data: strings.Join(smallFlush(), "")})
	})
	if peak > 32<<20 {
		t.Errorf("heap reached %d MB reading a 64 MB console", peak>>20)
	}
	found := false
	for _, track := range tr.Tracks {
		found = found || track.Source == "guest"
	}
	if !found {
		t.Errorf("the BOOT_TRACE flush after the noise was not read: %q", tr.Notes)
	}
}

// TestRecordingEventsMemoryBounded reads a recording of 500,000 probe
// events: they are built in time order as they come, so the heap must not
// grow with their number (it held every event before).
func TestRecordingEventsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 500,000 events")
	}
	tr, peak := readStreamed(t, func(w *tracefile.Writer, measure func()) {
		for i := range 500_000 {
			// Counted, not a span: only the reader's own memory shows.
			w.Write(tracefile.Event{Time: 2000 + int64(i)*10_000, Kind: "kvm:kvm_emulate_insn", TGID: 1, TID: 1, Fields: map[string]int64{"rip": 0x8021}})
			if i%100_000 == 0 {
				measure()
			}
		}
	})
	if peak > 32<<20 {
		t.Errorf("heap reached %d MB reading 500,000 events", peak>>20)
	}
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "500000 instructions emulated") {
		t.Errorf("not every event was read:\n%s", notes)
	}
}
