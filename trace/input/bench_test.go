package input

import (
	"bytes"
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
