package input

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/boottrace/boottrace/trace"
)

// checkTrace holds for anything a reader returns without error: spans
// never end before they start, names are clean, and skipped-line reports
// stay bounded.
func checkTrace(t *testing.T, tr *trace.Trace) {
	t.Helper()
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			if s.End < s.Start {
				t.Fatalf("span %q ends (%d) before it starts (%d)", s.Name, s.End, s.Start)
			}
			if s.Self() < 0 {
				t.Fatalf("span %q has negative self time", s.Name)
			}
			if !utf8.ValidString(s.Name) || strings.ContainsAny(s.Name, ";\n\r\x00") || s.Name == "" {
				t.Fatalf("span name %q is not clean", s.Name)
			}
			return true
		})
	}
	for _, r := range tr.Skipped.Reasons {
		if len(r.Lines) > trace.MaxLinesPerReason {
			t.Fatalf("reason %q keeps %d lines", r.Reason, len(r.Lines))
		}
	}
}

func addExampleSeeds(f *testing.F) {
	logs, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			f.Fatal(err)
		}
		// A window of each example keeps seeds small and fuzzing fast.
		f.Add(b[:min(len(b), 4096)])
		if len(b) > 8192 {
			f.Add(b[len(b)/2 : len(b)/2+4096])
		}
	}
}

func FuzzReadKernelLog(f *testing.F) {
	addExampleSeeds(f)
	f.Add([]byte("[    1.000000] calling  a+0x0/0x10 @ 1\n[    1.000100] initcall a+0x0/0x10 returned 0 after 100 usecs\n"))
	f.Add([]byte("[    1.000000][    T1] calling  12_a+0x0/0x10 @ 5\n[    0.5] initcall 12_a returned after 99999999 usecs\n"))
	f.Add([]byte("<6>[    1.0] async_continuing @ 1 after 5 usec\n[ 2.0] probe of x returned 0 after 1 usecs\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := ReadKernelLog(bytes.NewReader(in), ReadOptions{})
		if err != nil {
			return
		}
		checkTrace(t, tr)
	})
}

func FuzzReadFolded(f *testing.F) {
	f.Add([]byte("a;b;c 10\na;b 5\n"))
	f.Add([]byte("a;;b 1\n;x 2\n a 3 4\n"))
	f.Add([]byte("a 9223372036854775807\na 9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := ReadFolded(bytes.NewReader(in))
		if err != nil {
			return
		}
		checkTrace(t, tr)
	})
}
