package trace

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReadKernelLog parses a real boot log with initcall_debug
// (1,617 lines), repeated to 100 boots so per-call setup does not dominate.
func BenchmarkReadKernelLog(b *testing.B) {
	log, err := os.ReadFile(filepath.Join("..", "examples", "debian-6.1", "initcall.log"))
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
