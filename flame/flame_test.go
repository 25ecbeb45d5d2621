package flame

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/pprof/profile"

	"github.com/boottrace/boottrace/internal/golden"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/input"
)

func readFile(t testing.TB, path string) *trace.Trace {
	t.Helper()
	tr, err := input.ReadFile(path, input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func readString(t testing.TB, s string) *trace.Trace {
	t.Helper()
	tr, err := input.Read(strings.NewReader(s), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

const smallFolded = `main;init;parse 30
main;init 10
main;run;work;<script>alert(1)</script> 50
main;run;idle 10
`

const smallLog = `[    0.000000] Linux version 6.1.0
[    0.001000] calling  early_fn+0x0/0x10 @ 1
[    0.001200] initcall early_fn+0x0/0x10 returned 0 after 200 usecs
[    0.002000] calling  serial8250_init+0x0/0x183 @ 1
[    0.002400] Serial: 8250/16550 driver & <friends>
[    0.003000] initcall serial8250_init+0x0/0x183 returned 0 after 1000 usecs
[    0.005000] Run /init as init process
[    0.006000] reboot: Power down
`

func TestGoldenSVG(t *testing.T) {
	var fg, fc bytes.Buffer
	if err := WriteFlamegraph(&fg, readString(t, smallFolded), SVGOptions{Title: "small & <folded>"}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "small-folded.svg", fg.Bytes())
	tr := readString(t, smallLog)
	if err := WriteFlamechart(&fc, tr, SVGOptions{Title: "small log", Unit: "ns", Notes: tr.Notes}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "small-log-chart.svg", fc.Bytes())
}

// TestSVGWellFormed renders every example and hostile names, and checks
// the SVG parses as XML with every name escaped.
func TestSVGWellFormed(t *testing.T) {
	hostile := "[    0.000000] a\n[    0.001000] <script>alert('x')</script> & \"q\" \x01\xff]]>\n[    0.002000] b\n"
	inputs := map[string]*trace.Trace{"hostile": readString(t, hostile), "folded": readString(t, smallFolded)}
	logs, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.log"))
	for _, l := range logs {
		inputs[l] = readFile(t, l)
	}
	for name, tr := range inputs {
		for _, chart := range []bool{false, true} {
			var b bytes.Buffer
			var err error
			if chart {
				err = WriteFlamechart(&b, tr, SVGOptions{Title: name, Unit: "ns"})
			} else {
				err = WriteFlamegraph(&b, tr, SVGOptions{Title: name})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := wellFormed(b.Bytes()); err != nil {
				t.Errorf("%s (chart %v): %v", name, chart, err)
			}
			if strings.Contains(b.String(), "<script>alert") {
				t.Errorf("%s: a name reached the SVG unescaped", name)
			}
		}
	}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestFoldedRoundTrip writes folded stacks of a real boot, reads them back
// and checks the same stacks come out.
func TestFoldedRoundTrip(t *testing.T) {
	tr := readFile(t, filepath.Join("..", "examples", "debian-6.1", "initcall.log"))
	var first, second bytes.Buffer
	if err := WriteFolded(&first, Merge(tr)); err != nil {
		t.Fatal(err)
	}
	back, err := input.Read(bytes.NewReader(first.Bytes()), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Format != input.FormatFolded {
		t.Fatalf("folded output detected as %q", back.Format)
	}
	if err := WriteFolded(&second, Merge(back)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first.String(), second.String()); diff != "" {
		t.Errorf("folded round trip (-first +second):\n%s", diff)
	}
	if got, want := Merge(back).Total, Merge(tr).Total; got != want {
		t.Errorf("total after round trip %d, want %d", got, want)
	}
}

func TestWriteFolded(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFolded(&b, Merge(readString(t, smallFolded))); err != nil {
		t.Fatal(err)
	}
	want := `main;init 10
main;init;parse 30
main;run;idle 10
main;run;work;<script>alert(1)</script> 50
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("folded (-want +got):\n%s", diff)
	}
}

// TestPprofRoundTrip checks that pprof reads the profile back and that
// each function's flat time equals the self time in the span tree.
func TestPprofRoundTrip(t *testing.T) {
	tr := readFile(t, filepath.Join("..", "examples", "debian-6.1", "initcall.log"))
	var b bytes.Buffer
	if err := WritePprof(&b, tr); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	if got := p.SampleType[0]; got.Type != "wall" || got.Unit != "nanoseconds" {
		t.Errorf("sample type %s/%s, want wall/nanoseconds", got.Type, got.Unit)
	}
	flat := map[string]int64{}
	for _, s := range p.Sample {
		flat[s.Location[0].Line[0].Function.Name] += s.Value[0]
		if s.Label["source"][0] != "kernel" {
			t.Fatalf("sample without source label: %v", s.Label)
		}
	}
	want := map[string]int64{}
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if len(path) > 1 {
			if s := path[len(path)-1]; s.Self() > 0 {
				want[s.Name] += s.Self()
			}
		}
		return true
	})
	if diff := cmp.Diff(want, flat); diff != "" {
		t.Errorf("flat time per function (-spans +pprof):\n%s", diff)
	}
	// Stacks are leaf first: the root frame of every sample is a phase.
	for _, s := range p.Sample {
		root := s.Location[len(s.Location)-1].Line[0].Function.Name
		switch root {
		case "early boot", "initcalls", "late init", "userspace":
		default:
			t.Fatalf("sample rooted at %q, not a phase", root)
		}
	}
}

// TestPprofLabels checks what pprof users need to open a profile: wall time
// as the default sample type (not the page-fault counts after it), names
// that pprof's simplifier leaves whole (no system name), and labels to
// focus on a kind of span or a track.
func TestPprofLabels(t *testing.T) {
	tr := readFile(t, filepath.Join("..", "examples", "record", "minivmm.trace.gz"))
	p := Profile(tr)
	if p.DefaultSampleType != "wall" {
		t.Errorf("default sample type %q, want wall", p.DefaultSampleType)
	}
	for _, f := range p.Function {
		if f.SystemName != "" {
			t.Fatalf("function %q has the system name %q", f.Name, f.SystemName)
		}
	}
	kinds := map[string]bool{}
	for _, s := range p.Sample {
		if len(s.Label["track"]) != 1 {
			t.Fatalf("a sample without its track: %v", s.Label)
		}
		for _, k := range s.Label["kind"] {
			kinds[k] = true
		}
	}
	for _, k := range []string{"ioctl", "host", "off-cpu"} {
		if !kinds[k] {
			t.Errorf("no sample labelled kind=%s (kinds: %v)", k, kinds)
		}
	}
}

// TestChrome exports a real initcall_debug boot: the JSON parses, every
// span is one complete event, and each initcall's duration is the one the
// kernel printed, to the nanosecond.
func TestChrome(t *testing.T) {
	tr := readFile(t, filepath.Join("..", "examples", "debian-6.1", "initcall.log"))
	var b bytes.Buffer
	if err := WriteChrome(&b, tr); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Name string      `json:"name"`
			Cat  string      `json:"cat"`
			Ph   string      `json:"ph"`
			Dur  json.Number `json:"dur"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("the export is not JSON: %v", err)
	}
	var want, got []string
	spans := 0
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			spans++
			if s := path[len(path)-1]; s.Kind == trace.KindInitcall {
				want = append(want, fmt.Sprintf("%s %d", s.Name, s.Duration()))
			}
			return true
		})
	}
	complete := 0
	for _, e := range doc.TraceEvents {
		if e.Ph != "X" {
			continue
		}
		complete++
		if e.Cat == "initcall" {
			us, err := strconv.ParseFloat(string(e.Dur), 64)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %d", e.Name, int64(math.Round(us*1000))))
		}
	}
	if complete != spans {
		t.Errorf("%d complete events for %d spans", complete, spans)
	}
	if len(want) < 100 {
		t.Fatalf("only %d initcalls in the example", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initcall durations (-spans +export):\n%s", diff)
	}
}

// TestFoldedNumberNames checks that a frame named like "pid 19" is written
// the same way wherever it stands (leaf or not), so that flamegraph.pl
// and speedscope see one frame, and reads back as "pid 19".
func TestFoldedNumberNames(t *testing.T) {
	tr := readString(t, "a;pid 19 5\na;pid 19;b 3\n")
	var b bytes.Buffer
	if err := WriteFolded(&b, Merge(tr)); err != nil {
		t.Fatal(err)
	}
	want := "a;pid\u00a019 5\na;pid\u00a019;b 3\n"
	if b.String() != want {
		t.Errorf("folded:\n%q\nwant\n%q", b.String(), want)
	}
	back := readString(t, b.String())
	if diff := cmp.Diff(tr.Tracks[0].Children[0].Children[0].Name, back.Tracks[0].Children[0].Children[0].Name); diff != "" {
		t.Errorf("the name does not read back: %s", diff)
	}
}

// TestDiffFlamegraph draws NEW's shape coloured against BASE: a frame
// that got slower red, one that got faster blue, a new one grey, with
// both values in the tooltip.
func TestDiffFlamegraph(t *testing.T) {
	next := readString(t, "a;slow 30\na;fast 5\na;new 1\n")
	totals := func(path string) (int64, int64, bool) {
		switch path {
		case "all;a;slow":
			return 10, 30, true
		case "all;a;fast":
			return 20, 5, true
		case "all;a":
			return 30, 36, true
		}
		return 0, 0, false
	}
	var b bytes.Buffer
	if err := WriteDiffFlamegraph(&b, next, totals, SVGOptions{Title: "diff"}); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	frame := func(name string) string {
		i := strings.Index(svg, "<title>"+name+" (")
		if i < 0 {
			t.Fatalf("no frame %s:\n%s", name, svg)
		}
		return svg[i : i+strings.Index(svg[i:], "</g>")]
	}
	if f := frame("slow"); !strings.Contains(f, `fill="rgb(250,`) || !strings.Contains(f, "base 10 ns, change +20 ns") {
		t.Errorf("the slower frame is not red with both values: %s", f)
	}
	if f := frame("fast"); !strings.Contains(f, `,250)"`) {
		t.Errorf("the faster frame is not blue: %s", f)
	}
	if f := frame("new"); !strings.Contains(f, `fill="rgb(235,235,235)"`) {
		t.Errorf("a frame BASE lacks is not grey: %s", f)
	}
}

// TestCallTreeSameAsSpans draws folded inputs kept as a call tree (how
// the flame command reads them) and read into spans: the SVG and folded
// output must not differ, also where names need cleaning (siblings that
// then share a name are merged), stacks are deeper than trace.MaxDepth,
// or frames are too narrow to draw.
func TestCallTreeSameAsSpans(t *testing.T) {
	var deep strings.Builder
	for i := range trace.MaxDepth + 40 {
		if i > 0 {
			deep.WriteByte(';')
		}
		fmt.Fprintf(&deep, "f%d", i)
	}
	var gen bytes.Buffer
	genFolded(&gen, 20_000)
	inputs := map[string]string{
		"small":   smallFolded,
		"renamed": "main;a\tb 5\nmain;a b 7\nmain;a  b;x 3\nmain;c\x01 1\nmain;big 1000000\nmain;x\ty 60\nmain;x y 60\n",
		"deep":    deep.String() + " 9\n" + deep.String()[:300] + " 4\nmain 1\n",
		"narrow":  "main;big 1000000000\nmain;tiny;leaf 1\nother 1\n",
		"gen":     gen.String(),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			spans, err := input.Read(strings.NewReader(in), input.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			calls, err := input.Read(strings.NewReader(in), input.ReadOptions{CallTree: true})
			if err != nil {
				t.Fatal(err)
			}
			if calls.Calls == nil || len(calls.Tracks) > 0 {
				t.Fatalf("CallTree read gave %d tracks and calls %v", len(calls.Tracks), calls.Calls != nil)
			}
			if diff := cmp.Diff(spans.Notes, calls.Notes); diff != "" {
				t.Errorf("notes (-spans +calls):\n%s", diff)
			}
			var a, b bytes.Buffer
			for _, tr := range []struct {
				t *trace.Trace
				w *bytes.Buffer
			}{{spans, &a}, {calls, &b}} {
				if err := WriteFlamegraph(tr.w, tr.t, SVGOptions{Title: name, Notes: tr.t.Notes}); err != nil {
					t.Fatal(err)
				}
				if err := WriteFolded(tr.w, Merge(tr.t)); err != nil {
					t.Fatal(err)
				}
			}
			if a.String() != b.String() {
				t.Errorf("output differs: spans %d bytes, call tree %d bytes", a.Len(), b.Len())
			}
		})
	}
}
