package input

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/boottrace/boottrace/trace/tracefile"
)

// BenchmarkReadKernelLog parses a real boot log with initcall_debug
// (1,617 lines), repeated to 100 boots so per-call setup does not dominate.
func BenchmarkReadKernelLog(b *testing.B) {
	log, err := os.ReadFile(filepath.Join("..", "..", "examples", "debian-6.1", "initcall.log"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(log, []byte("\n"))
	b.SetBytes(int64(len(log)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(log), ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReadRecording reads the recorded QEMU boot (about 18,000 probe
// events and the guest's console): events per second and memory per event.
func BenchmarkReadRecording(b *testing.B) {
	rec := exampleRecording(b, "qemu-tcg.trace.gz")
	events := bytes.Count(rec, []byte("\n"))
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		if _, err := Read(bytes.NewReader(rec), ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/float64(events), "B/line")
}

// BenchmarkOpenCalls reads a log of N "calling" lines that never return
// and N "returned" lines of other functions, at N and 4N: time per line
// should stay the same (it grew with N when each "returned" looked at
// every open "calling").
func BenchmarkOpenCalls(b *testing.B) {
	for _, n := range []int{10_000, 40_000} {
		var log bytes.Buffer
		t := 0
		for i := range n {
			t++
			fmt.Fprintf(&log, "[%6d.%06d] calling  fn%d+0x0/0x10 @ 1\n", t/1e6, t%1e6, i)
		}
		for i := range n {
			t++
			fmt.Fprintf(&log, "[%6d.%06d] initcall other%d+0x0/0x10 returned 0 after 1 usecs\n", t/1e6, t%1e6, i)
		}
		b.Run(fmt.Sprintf("lines=%d", 2*n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Read(bytes.NewReader(log.Bytes()), ReadOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/line")
		})
	}
}

// BenchmarkReadProbes reads a version 2 trace file of 1,000,000 probe
// events shaped like a vCPU's run loop (KVM_RUN entered, a port write, the
// exit to the VMM, KVM_RUN returned), with the tracepoint formats of the
// recorded minivmm: events per second read into spans.
func BenchmarkReadProbes(b *testing.B) {
	rec := exampleRecording(b, "minivmm.trace.gz")
	line, _, _ := bytes.Cut(rec, []byte("\n"))
	h, err := tracefile.ParseHeader(line)
	if err != nil {
		b.Fatal(err)
	}
	raw := func(kind tracefile.Kind, fields map[string]int64) []byte {
		r := make([]byte, 64)
		for _, f := range h.Formats[kind.String()] {
			if v, ok := fields[f.Name]; ok && f.Offset+f.Size <= len(r) {
				for i := range f.Size {
					r[f.Offset+i] = byte(v >> (8 * i))
				}
			}
		}
		return r
	}
	const pid, vcpu = 100, 101
	var file bytes.Buffer
	w, _ := tracefile.NewWriter(&file, tracefile.Header{PID: pid, Formats: h.Formats})
	w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid})
	loop := []struct {
		kind   tracefile.Kind
		fields map[string]int64
	}{
		{tracefile.KindIoctlEnter, map[string]int64{"fd": 12, "cmd": 0xae80}},
		{tracefile.KindPio, map[string]int64{"rw": 1, "port": 0x3f8, "size": 1, "count": 1}},
		{tracefile.KindUserspaceExit, map[string]int64{"reason": 2}},
		{tracefile.KindIoctlExit, map[string]int64{"ret": 0}},
	}
	const events = 1_000_000
	for i := range events {
		l := loop[i%len(loop)]
		w.WriteProbe(&tracefile.Probe{Time: int64(2000 + 250*i), Kind: l.kind, TGID: pid, TID: vcpu, CPU: 1, Seq: uint32(i + 1), Raw: raw(l.kind, l.fields)})
	}
	w.Write(tracefile.Event{Time: int64(2000 + 250*events), Kind: "end", End: &tracefile.End{Reason: "test"}})
	w.Flush()
	b.SetBytes(int64(file.Len()))
	b.ResetTimer()
	for b.Loop() {
		tr, err := Read(bytes.NewReader(file.Bytes()), ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if tr.Skipped.Total > 0 {
			b.Fatalf("skipped %s", tr.Skipped.String())
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
