package input

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
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
