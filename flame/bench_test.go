package flame

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/boottrace/boottrace/trace/input"
)

var benchInput = flag.String("write-bench-input", "", "write the 1,000,000-line folded benchmark input to this file (to time flamegraph.pl on it) and exit the test")

// genFolded writes n folded lines shaped like a real profile: a few
// thousand frame names, stacks 4 to 40 deep, each line sharing a prefix
// with the one before (unsorted: flamegraph.pl sorts, boottrace need not).
// Seeded, so every run writes the same bytes.
func genFolded(w io.Writer, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 4000)
	for i := range names {
		names[i] = fmt.Sprintf("subsys%02d_func_%04d", i%37, i)
	}
	bw := bufio.NewWriter(w)
	stack := []int{0}
	for i := 0; i < n; i++ {
		// Walk: pop a few frames, push a few, so neighbours share prefixes.
		keep := max(1, len(stack)-rng.IntN(4))
		stack = stack[:keep]
		for push := rng.IntN(4); push > 0 && len(stack) < 40; push-- {
			stack = append(stack, rng.IntN(len(names)))
		}
		for len(stack) < 4 {
			stack = append(stack, rng.IntN(len(names)))
		}
		for j, f := range stack {
			if j > 0 {
				bw.WriteByte(';')
			}
			bw.WriteString(names[f])
		}
		fmt.Fprintf(bw, " %d\n", 1+rng.IntN(1000))
	}
	bw.Flush()
}

func TestWriteBenchInput(t *testing.T) {
	if *benchInput == "" {
		t.Skip("set -write-bench-input FILE to write the folded benchmark input")
	}
	f, err := os.Create(*benchInput)
	if err != nil {
		t.Fatal(err)
	}
	genFolded(f, 1_000_000)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFoldedToSVG is the flamegraph.pl comparison: 1,000,000 folded
// lines read, merged and rendered to an SVG flamegraph.
func BenchmarkFoldedToSVG(b *testing.B) {
	var in bytes.Buffer
	genFolded(&in, 1_000_000)
	b.SetBytes(int64(in.Len()))
	b.ResetTimer()
	for b.Loop() {
		t, err := input.Read(bytes.NewReader(in.Bytes()), input.ReadOptions{CallTree: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteFlamegraph(io.Discard, t, SVGOptions{Title: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1e6*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkLogToSVGAndPprof is the whole path for a real 1,600-line boot
// log with initcall_debug: parse, flamegraph, flamechart and pprof.
func BenchmarkLogToSVGAndPprof(b *testing.B) {
	log, err := os.ReadFile(filepath.Join("..", "examples", "debian-6.1", "initcall.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(log)))
	for b.Loop() {
		t, err := input.Read(bytes.NewReader(log), input.ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteFlamegraph(io.Discard, t, SVGOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := WriteFlamechart(io.Discard, t, SVGOptions{Unit: "ns"}); err != nil {
			b.Fatal(err)
		}
		if err := WritePprof(io.Discard, t); err != nil {
			b.Fatal(err)
		}
	}
}
