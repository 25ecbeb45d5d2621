package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boottrace/boottrace/trace/input"
	"github.com/boottrace/boottrace/trace/tracefile"
	"github.com/google/pprof/profile"
)

// run executes boottrace with args and stdin, returning stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func exampleLogs(t *testing.T) []string {
	logs, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.log"))
	traces, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.trace.gz"))
	logs = append(logs, traces...)
	if len(logs) < 2 {
		t.Fatalf("found %d example logs", len(logs))
	}
	return logs
}

func TestEveryExample(t *testing.T) {
	dir := t.TempDir()
	for _, log := range exampleLogs(t) {
		name := filepath.Base(filepath.Dir(log)) + "-" + filepath.Base(log)
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				{"flame", "-o", filepath.Join(dir, name+".svg"), log},
				{"flame", "--chart", "-o", filepath.Join(dir, name+".chart.svg"), log},
				{"pprof", "-o", filepath.Join(dir, name+".pb.gz"), log},
			} {
				if _, stderr, err := run(t, "", args...); err != nil {
					t.Fatalf("boottrace %v: %v\n%s", args, err, stderr)
				}
			}
			for _, f := range []string{name + ".svg", name + ".chart.svg"} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil || !bytes.Contains(b, []byte("</svg>")) {
					t.Errorf("%s: not a complete SVG (%v)", f, err)
				}
			}
			pf, err := os.Open(filepath.Join(dir, name+".pb.gz"))
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			p, err := profile.Parse(pf)
			if err != nil {
				t.Fatalf("pprof output does not parse: %v", err)
			}
			if len(p.Sample) < 20 {
				t.Errorf("pprof output has %d samples", len(p.Sample))
			}

			folded, _, err := run(t, "", "flame", "--folded", log)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(folded, "\n"); n < 10 {
				t.Errorf("folded output has %d lines", n)
			}
			summary, _, err := run(t, "", "summary", log)
			if err != nil {
				t.Fatal(err)
			}
			wants := []string{"Phases", "early boot", "userspace", "Top 15 by self time", "Longest gaps"}
			switch {
			case strings.HasPrefix(name, "boottrace-"):
				// BOOT_TRACE phases are the kernel's own.
				wants = []string{"Phases", "start_kernel", "kernel_init_freeable", "free_initmem", "Top 15 by self time", "BOOT_TRACE from Linux"}
			case strings.HasSuffix(name, ".trace.gz"):
				wants = []string{"Boot: ", "VMM set-up", "guest kernel", "KVM_CREATE_VM", "[host] userspace exit io 0x3f8", "clock: exact", "no probe event lost"}
				if strings.Contains(name, "qemu") {
					wants = []string{"Boot: ", "VMM launch", "kernel_init_freeable", "clock: ", "no probe event lost"}
				}
			}
			for _, want := range wants {
				if !strings.Contains(summary, want) {
					t.Errorf("summary lacks %q", want)
				}
			}
			js, _, err := run(t, "", "summary", "--json", log)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Duration int64 `json:"duration_ns"`
				Budget   *struct {
					Total int64 `json:"total_ns"`
					Parts []struct {
						Duration int64 `json:"duration_ns"`
					} `json:"parts"`
				} `json:"budget"`
			}
			if err := json.Unmarshal([]byte(js), &v); err != nil || v.Duration <= 0 {
				t.Errorf("summary --json: %v, duration %d", err, v.Duration)
			}
			if name == "folded" || v.Budget == nil {
				return
			}
			// The budget's parts add up to the boot's wall-clock time, and
			// so does the default flamegraph: every instant once.
			var parts int64
			for _, p := range v.Budget.Parts {
				parts += p.Duration
			}
			if parts != v.Budget.Total {
				t.Errorf("budget parts add up to %d ns, the boot took %d", parts, v.Budget.Total)
			}
			folded, _, err = run(t, "", "flame", "--folded", log)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, l := range strings.Split(strings.TrimSpace(folded), "\n") {
				n, _ := strconv.ParseInt(l[strings.LastIndexByte(l, ' ')+1:], 10, 64)
				sum += n
			}
			if sum != v.Budget.Total {
				t.Errorf("the default flamegraph holds %d ns, the boot took %d", sum, v.Budget.Total)
			}
		})
	}
}

func TestStdinAndFoldedInput(t *testing.T) {
	log, err := os.ReadFile(exampleLogs(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	folded, _, err := run(t, string(log), "flame", "--folded", "-")
	if err != nil {
		t.Fatal(err)
	}
	// Folded stacks are an input too: rendering them again gives the same stacks.
	again, _, err := run(t, folded, "flame", "--folded", "-")
	if err != nil {
		t.Fatal(err)
	}
	if again != folded {
		t.Error("folded → folded changed the stacks")
	}
}

func TestEmbeddedExample(t *testing.T) {
	out, stderr, err := run(t, "", "summary")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "embedded example") {
		t.Errorf("stderr does not say the embedded example was read: %q", stderr)
	}
	// The embedded System.map gives initcall levels.
	if !strings.Contains(out, "device initcalls") {
		t.Errorf("summary of the embedded example lacks initcall levels:\n%s", out)
	}
}

func TestBadInput(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("\x00\x01hello\nworld\n"), 0o644)
	_, _, err := run(t, "", "summary", garbage)
	if err == nil {
		t.Fatal("garbage input: no error")
	}
	for _, want := range []string{garbage, "line 1, 2", "printk timestamps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, _, err := run(t, "", "summary", filepath.Join(t.TempDir(), "missing.log")); err == nil {
		t.Error("missing input: no error")
	}
	_, stderr, err := run(t, "[    0.000000] a\nnoise\n[    0.100000] b\n", "summary", "-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "skipped 1 lines") || !strings.Contains(stderr, "line 2") {
		t.Errorf("stderr does not report the skipped line: %q", stderr)
	}
	if _, _, err := run(t, "", "flame", "--chart", "--folded"); err == nil {
		t.Error("--chart with --folded: no error")
	}
	if _, _, err := run(t, "", "summary", "--system-map", garbage); err == nil {
		t.Error("bad --system-map: no error")
	}
}

// TestRecordedSymbols checks that a trace file recorded with --system-map
// is symbolized without the flag, and that a symbol file gone since is
// said, not silently ignored.
func TestRecordedSymbols(t *testing.T) {
	dir := t.TempDir()
	systemMap, err := filepath.Abs(filepath.Join("..", "..", "examples", "record", "System.map.gz"))
	if err != nil {
		t.Fatal(err)
	}
	tr := withHeader(t, filepath.Join("..", "..", "examples", "record", "qemu-tcg.trace.gz"), func(h *tracefile.Header) { h.SystemMap = systemMap })
	file := filepath.Join(dir, "boot.trace")
	if err := os.WriteFile(file, tr, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, "", "summary", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "using the guest symbols the recording names") || !strings.Contains(out, "kernel_init_freeable") || strings.Contains(out, "0xffffffff") {
		t.Errorf("the recorded System.map was not used:\n%s\n%s", stderr, out)
	}
	gone := withHeader(t, filepath.Join("..", "..", "examples", "record", "qemu-tcg.trace.gz"), func(h *tracefile.Header) { h.SystemMap = filepath.Join(dir, "gone.map") })
	if err := os.WriteFile(file, gone, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := run(t, "", "summary", file); err != nil || !strings.Contains(stderr, "gone.map, which cannot be used") {
		t.Errorf("a missing recorded System.map is not reported: %v\n%q", err, stderr)
	}
	// A header is untrusted: a device it names is never opened (reading
	// /dev/urandom would never end, /dev/stdin would eat stdin).
	for _, dev := range []string{"/dev/urandom", "/dev/stdin"} {
		hostile := withHeader(t, filepath.Join("..", "..", "examples", "record", "qemu-tcg.trace.gz"), func(h *tracefile.Header) { h.SystemMap = dev })
		if err := os.WriteFile(file, hostile, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 1)
		go func() {
			_, stderr, _ := run(t, "", "summary", file)
			done <- stderr
		}()
		select {
		case stderr := <-done:
			if !strings.Contains(stderr, "not a regular file") {
				t.Errorf("a header naming %s: %q", dev, stderr)
			}
		case <-time.After(time.Minute):
			t.Fatalf("summary of a trace file whose header names %s does not end", dev)
		}
	}
}

// TestTerminalSafe checks that text from a trace file reaches the
// terminal cleaned: an escape sequence in the VMM's exit status, a bidi
// override in a probe's error.
func TestTerminalSafe(t *testing.T) {
	b := withHeader(t, filepath.Join("..", "..", "examples", "record", "minivmm.trace.gz"), func(h *tracefile.Header) {
		h.Missing = map[string]string{"x:y": "evil \u202e reversed"}
	})
	b = append(b, []byte(`{"t":1,"k":"end","end":{"reason":"stop\u001b]0;pwned\u0007","lost":0,"fired":{},"clock":[],"vmm_exit":"exit \u001b[2J"}}`+"\n")...)
	file := filepath.Join(t.TempDir(), "evil.trace")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, "", "summary", file)
	if err != nil {
		t.Fatal(err)
	}
	all := out + stderr
	if strings.ContainsAny(all, "\x1b\x07\u202e") {
		t.Errorf("raw control or bidi characters reached the output:\n%q", all)
	}
	if !strings.Contains(all, `\x1b]0;pwned`) || !strings.Contains(all, `\u202e`) {
		t.Errorf("the cleaned text is not shown escaped:\n%s", all)
	}
}

// withHeader returns the gzipped trace file at path, uncompressed, with
// its header changed by edit.
func withHeader(t *testing.T, path string, edit func(*tracefile.Header)) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := input.Uncompressed(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(u)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	var h tracefile.Header
	if err := json.Unmarshal(first, &h); err != nil {
		t.Fatal(err)
	}
	edit(&h)
	head, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(head, '\n'), rest...)
}

// TestReproducible runs every example through every command twice: the
// outputs must be byte-identical (no map order, no clock, no machine in
// them).
func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	for _, ex := range exampleLogs(t) {
		for _, args := range [][]string{{"flame"}, {"flame", "--chart"}, {"flame", "--folded"}, {"pprof"}, {"summary", "--json"}} {
			var outs [2][]byte
			for i := range outs {
				out := filepath.Join(dir, fmt.Sprintf("out%d", i))
				full := append(append([]string{}, args...), ex)
				if args[0] != "summary" {
					full = append(full, "-o", out)
				}
				stdout, _, err := run(t, "", full...)
				if err != nil {
					t.Fatalf("%v: %v", full, err)
				}
				if args[0] == "summary" {
					outs[i] = []byte(stdout)
				} else if outs[i], err = os.ReadFile(out); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(outs[0], outs[1]) {
				t.Errorf("%s %v: two runs differ", filepath.Base(ex), args)
			}
		}
	}
}

// TestPprofViews: the default profile opens on the critical path (its
// total the boot's wall-clock time) and holds every track's time as a
// second sample type, equal to what --all gives alone.
func TestPprofViews(t *testing.T) {
	rec := filepath.Join("..", "..", "examples", "record", "qemu-tcg.trace.gz")
	dir := t.TempDir()
	total := func(file string, index int) int64 {
		t.Helper()
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p, err := profile.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range p.Sample {
			n += s.Value[index]
		}
		return n
	}
	both, all := filepath.Join(dir, "both.pb.gz"), filepath.Join(dir, "all.pb.gz")
	for _, args := range [][]string{{"pprof", "-o", both, rec}, {"pprof", "--all", "-o", all, rec}} {
		if _, _, err := run(t, "", args...); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.Open(both)
	p, err := profile.Parse(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, st := range p.SampleType {
		types = append(types, st.Type)
	}
	if p.DefaultSampleType != "wall" || len(types) < 2 || types[0] != "wall" || types[1] != "all_tracks_wall" {
		t.Fatalf("sample types %v, default %q", types, p.DefaultSampleType)
	}
	out, _, err := run(t, "", "summary", "--json", rec)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Budget struct {
			Total int64 `json:"total_ns"`
		} `json:"budget"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if got := total(both, 0); got != s.Budget.Total || got == 0 {
		t.Errorf("wall adds up to %d ns, the budget is %d", got, s.Budget.Total)
	}
	if got, want := total(both, 1), total(all, 0); got != want {
		t.Errorf("all_tracks_wall adds up to %d ns, --all's wall to %d", got, want)
	}
}
