package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/trace/tracefile"
	"github.com/spf13/cobra"
)

// TestOutputs checks how commands write: a failed write fails the command
// and keeps the file that was there; -o naming the input is refused;
// --width is checked.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "in.log")
	if err := os.WriteFile(log, []byte("[    0.000000] a\n[    0.001000] b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "", "flame", "-o", log, log); err == nil || !strings.Contains(err.Error(), "is the input") {
		t.Errorf("flame -o INPUT INPUT: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(log); !bytes.HasPrefix(b, []byte("[    0.000000] a")) {
		t.Errorf("the input was overwritten: %.40q", b)
	}
	for _, w := range []string{"-100", "0"} {
		if _, _, err := run(t, "", "flame", "--width", w, log); err == nil || !strings.Contains(err.Error(), "--width") {
			t.Errorf("--width %s: %v, want an error", w, err)
		}
	}

	// A write that fails half-way leaves the previous file as it was.
	out := filepath.Join(dir, "boot.svg")
	if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	err := writeTo(cmd, out, func(w io.Writer) error {
		w.Write([]byte("half"))
		return os.ErrDeadlineExceeded
	})
	if err == nil {
		t.Error("a failed write did not fail")
	}
	if b, _ := os.ReadFile(out); string(b) != "previous" {
		t.Errorf("a failed write left %q, want the previous file", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".boot.svg.*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// TestWriteToFull runs summary into /dev/full: the failed write is an error.
func TestWriteToFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	cmd := newRootCmd()
	cmd.SetOut(full)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"summary"})
	if err := cmd.Execute(); err == nil {
		t.Error("summary > /dev/full succeeded")
	}
}

// TestFormats checks detection of hard cases and --input-format: a folded file
// whose first line is over 64 KiB, a trace file header with spaces after
// its colons, a gzip stream cut short.
func TestFormats(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("frame;", 70<<10/6) + "leaf 5\nother 3\n"
	folded := filepath.Join(dir, "long.folded")
	os.WriteFile(folded, []byte(long), 0o644)
	if out, _, err := run(t, "", "summary", "--json", folded); err != nil || !strings.Contains(out, `"format": "folded"`) {
		t.Errorf("a folded file with a 70 KiB first line is not read as folded:\n%.300s", out)
	}

	// The same stacks forced to be read as a kernel log: nothing usable.
	if _, _, err := run(t, "", "summary", "--input-format", "kernel log", folded); err == nil {
		t.Error("--input-format 'kernel log' on folded stacks succeeded")
	}
	if _, _, err := run(t, "", "summary", "--input-format", "nonsense", folded); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("--input-format nonsense: %v", err)
	}

	spaced := withHeader(t, filepath.Join("..", "..", "examples", "record", "minivmm.trace.gz"), func(h *tracefile.Header) {})
	first, rest, _ := bytes.Cut(spaced, []byte("\n"))
	first = bytes.ReplaceAll(first, []byte(`":`), []byte(`": `))
	spacedFile := filepath.Join(dir, "spaced.trace")
	os.WriteFile(spacedFile, append(append(first, '\n'), rest...), 0o644)
	if out, _, err := run(t, "", "summary", "--json", spacedFile); err != nil || !strings.Contains(out, `"format": "recording"`) {
		t.Errorf("a trace file whose header has spaces after its colons: %v\n%.300s", err, out)
	}

	// A gzip stream cut in the middle: what came before is kept.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	var logText strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&logText, "[%12.6f] line %d\n", float64(i)/1000, i)
	}
	zw.Write([]byte(logText.String()))
	zw.Close()
	cut := filepath.Join(dir, "cut.log.gz")
	os.WriteFile(cut, gz.Bytes()[:gz.Len()*2/3], 0o644)
	out, _, err := run(t, "", "summary", cut)
	if err != nil || !strings.Contains(out, "partial: the gzip stream ends badly") {
		t.Errorf("a cut gzip: %v\n%s", err, out)
	}
}

// TestDeepNesting reads a log of 20,000 driver probes, each inside the
// next: every output stays within a small multiple of the input's size
// (stacks are cut at trace.MaxDepth, with a note), where a stack written
// whole per span would make them grow with the square of the depth.
func TestDeepNesting(t *testing.T) {
	const n = 20_000
	var log bytes.Buffer
	for i := range n {
		us := 1_000_000 + i
		fmt.Fprintf(&log, "[%5d.%06d] probe of dev%d returned 0 after %d usecs\n", us/1e6, us%1e6, i, 2*i+1)
	}
	in := filepath.Join(t.TempDir(), "deep.log")
	if err := os.WriteFile(in, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"flame", "--folded"}, {"summary"}, {"pprof", "-o", "-"}, {"flame"}} {
		out, _, err := run(t, "", append(args, in)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if len(out) > 20*log.Len() {
			t.Errorf("%v: %d bytes of output for %d of input", args, len(out), log.Len())
		}
		if args[0] == "summary" && !strings.Contains(out, "folded into their ancestor") {
			t.Errorf("summary does not say that stacks were cut:\n%.2000s", out)
		}
	}
}

// TestDiffExamples diffs two real boots of one kernel, without and with
// ip= on its command line: the 10 ms msleep of ip_auto_config (the time
// off the CPU in it) must lead the changes.
func TestDiffExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "boottrace-6.1")
	out, _, err := run(t, "", "diff", "--json", "--system-map", filepath.Join(dir, "System.map-up.gz"), filepath.Join(dir, "up.log"), filepath.Join(dir, "up-ip.log"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Changes []struct {
			Path   string `json:"path"`
			Status string `json:"status"`
			Base   int64  `json:"base_ns"`
			New    int64  `json:"new_ns"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) == 0 || !strings.Contains(d.Changes[0].Path, ";ip_auto_config;msleep") || d.Changes[0].New-d.Changes[0].Base < 10e6 {
		t.Errorf("the first change is not ip_auto_config, longer by 10 ms or more: %+v", d.Changes[:min(3, len(d.Changes))])
	}
}

// TestSymbolHint checks that input whose frames are raw addresses says
// which flag would name them.
func TestSymbolHint(t *testing.T) {
	_, stderr, err := run(t, "", "summary", filepath.Join("..", "..", "examples", "boottrace-6.1", "up.log"))
	if err != nil || !strings.Contains(stderr, "--system-map") {
		t.Errorf("no hint to pass --system-map: %v\n%s", err, stderr)
	}
}

// TestDiffGate checks diff as a CI gate: beyond the limit it fails with
// its own exit status (3, not 1) and writes a JUnit failure; within it,
// and for the same boots on both sides, it passes.
func TestDiffGate(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "boottrace-6.1")
	up, ip := filepath.Join(dir, "up.log"), filepath.Join(dir, "up-ip.log")
	junit := filepath.Join(t.TempDir(), "boot.xml")
	_, _, err := run(t, "", "diff", "--max-regression", "1%", "--junit", junit, up, ip)
	if exitStatus(err) != exitRegressed || !strings.Contains(fmt.Sprint(err), "boot total") {
		t.Errorf("a 2.3%% slower boot against a 1%% limit: %v (status %d)", err, exitStatus(err))
	}
	var suite struct {
		Failures int `xml:"failures,attr"`
	}
	b, _ := os.ReadFile(junit)
	if err := xml.Unmarshal(b, &suite); err != nil || suite.Failures != 1 {
		t.Errorf("JUnit: %v, %d failures, want 1:\n%s", err, suite.Failures, b)
	}
	if _, _, err := run(t, "", "diff", "--max-regression", "5%", up, ip); err != nil {
		t.Errorf("within a 5%% limit: %v", err)
	}
	smp := filepath.Join(dir, "smp.log")
	if _, _, err := run(t, "", "diff", "--max-regression", "2ms", up, smp, "--", up, smp); err != nil {
		t.Errorf("the same boots on both sides: %v", err)
	}
	if _, _, err := run(t, "", "diff", "--max-regression", "fast", up, ip); err == nil || exitStatus(err) != 1 {
		t.Errorf("a bad limit: %v, want an ordinary error", err)
	}
}

// TestDiffAA compares ten real boots of one kernel, taken as two
// interleaved groups with the same command on both sides
// (examples/capture-aa.sh): the total must not be called a change, nor
// may the gate fail, though the boots differ by several percent.
func TestDiffAA(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "aa-6.1")
	a, _ := filepath.Glob(filepath.Join(dir, "a-*.log.gz"))
	b, _ := filepath.Glob(filepath.Join(dir, "b-*.log.gz"))
	if len(a) != 5 || len(b) != 5 {
		t.Fatalf("%d and %d runs in %s, want 5 and 5", len(a), len(b), dir)
	}
	args := append([]string{"diff", "--max-regression", "1%", "--system-map", filepath.Join(dir, "System.map.gz")}, a...)
	out, _, err := run(t, "", append(append(args, "--"), b...)...)
	if err != nil {
		t.Fatalf("A/A gate: %v\n%s", err, out)
	}
	total, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(total, "Boot: ") || strings.Contains(total, "*") || !strings.Contains(total, "medians of 5 → 5 runs") {
		t.Errorf("the A/A total is called a change, or not compared run by run:\n%s", total)
	}
}
