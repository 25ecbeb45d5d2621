package input

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/trace"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/symbolize"
)

func readString(t *testing.T, s string) *trace.Trace {
	t.Helper()
	tr, err := Read(strings.NewReader(s), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// shape is a span tree reduced to what a test compares.
type shape struct {
	Name       string
	Kind       string
	Start, End int64
	Unfinished bool `cmp:",omitempty"`
	Children   []shape
}

func shapeOf(s *trace.Span) shape {
	sh := shape{Name: s.Name, Kind: s.Kind.String(), Start: s.Start, End: s.End, Unfinished: s.Unfinished}
	for _, c := range s.Children {
		sh.Children = append(sh.Children, shapeOf(c))
	}
	return sh
}

const us = int64(1000)

func TestReadKernelLogInitcalls(t *testing.T) {
	log := `[    0.000000] Linux version 6.1.0
[    0.000100] calling  con_init+0x0/0x22c @ 0
[    0.000150] initcall con_init+0x0/0x22c returned 0 after 40 usecs
[    0.001000] calling  early_fn+0x0/0x10 @ 1
[    0.001200] initcall early_fn+0x0/0x10 returned 0 after 200 usecs
[    0.002000] smp: Bringing up secondary CPUs ...
[    0.002500] smp: Brought up 1 node, 1 CPU
[    0.003000] calling  serial8250_init+0x0/0x183 @ 1
[    0.003400] Serial: 8250/16550 driver
[    0.003900] probe of serial8250 returned 0 after 300 usecs
[    0.004000] initcall serial8250_init+0x0/0x183 returned 0 after 1000 usecs
[    0.005000] Freeing unused kernel image (initmem) memory: 2824K
[    0.006000] Run /init as init process
[    0.007000] reboot: Power down
`
	tr := readString(t, log)
	if len(tr.Tracks) != 1 {
		t.Fatalf("%d tracks, want 1", len(tr.Tracks))
	}
	want := shape{Name: "kernel", Kind: "track", Start: 0, End: 7000 * us, Children: []shape{
		{Name: "early boot", Kind: "phase", Start: 0, End: 1000 * us, Children: []shape{
			{Name: "con_init", Kind: "initcall", Start: 110 * us, End: 150 * us},
		}},
		{Name: "initcalls", Kind: "phase", Start: 1000 * us, End: 4000 * us, Children: []shape{
			{Name: "early initcalls", Kind: "level", Start: 1000 * us, End: 1200 * us, Children: []shape{
				{Name: "early_fn", Kind: "initcall", Start: 1000 * us, End: 1200 * us},
			}},
			{Name: "smp_init", Kind: "phase", Start: 2000 * us, End: 2500 * us, Children: []shape{
				{Name: "smp: Brought up 1 node, 1 CPU", Kind: "line", Start: 2000 * us, End: 2500 * us},
			}},
			{Name: "serial8250_init", Kind: "initcall", Start: 3000 * us, End: 4000 * us, Children: []shape{
				{Name: "Serial: 8250/16550 driver", Kind: "line", Start: 3000 * us, End: 3400 * us},
				{Name: "probe serial8250", Kind: "probe", Start: 3600 * us, End: 3900 * us},
			}},
		}},
		{Name: "late init", Kind: "phase", Start: 4000 * us, End: 6000 * us, Children: []shape{
			{Name: "Freeing unused kernel image (initmem) memory: 2824K", Kind: "line", Start: 4000 * us, End: 5000 * us},
			{Name: "Run /init as init process", Kind: "line", Start: 5000 * us, End: 6000 * us},
		}},
		{Name: "userspace", Kind: "phase", Start: 6000 * us, End: 7000 * us, Children: []shape{
			{Name: "reboot: Power down", Kind: "line", Start: 6000 * us, End: 7000 * us},
		}},
	}}
	// "smp: Bringing up" sits at the boundary of early initcalls: its time
	// (1200..2000) is the initcalls phase's own.
	want.Children[1].Children = append(want.Children[1].Children[:1],
		append([]shape{{Name: "smp: Bringing up secondary CPUs ...", Kind: "line", Start: 1200 * us, End: 2000 * us}}, want.Children[1].Children[1:]...)...)
	if diff := cmp.Diff(want, shapeOf(tr.Tracks[0].Span)); diff != "" {
		t.Errorf("span tree (-want +got):\n%s", diff)
	}
	if len(tr.Marks) != 14 {
		t.Errorf("%d marks, want one per timestamped line (14)", len(tr.Marks))
	}
}

func TestReadKernelLogVariants(t *testing.T) {
	for _, tc := range []struct {
		name, log string
		want      string // the one initcall's name
		dur       int64
	}{
		{"printk caller", "[    1.000000][    T1] calling  foo+0x0/0x10 @ 1\n[    1.000500][    T1] initcall foo+0x0/0x10 returned 0 after 500 usecs\n", "foo", 500 * us},
		{"raw kmsg level", "<6>[    1.000000] calling  foo+0x0/0x10 @ 1\n<6>[    1.000500] initcall foo+0x0/0x10 returned 0 after 500 usecs\n", "foo", 500 * us},
		{"module", "[   10.000000] calling  vb_init+0x0/0x1000 [virtio_blk] @ 123\n[   10.000020] initcall vb_init+0x0/0x1000 [virtio_blk] returned 0 after 20 usecs\n", "vb_init [virtio_blk]", 20 * us},
		{"async 6.3+", "[    1.000000] calling  12_async_port_probe+0x0/0x50 @ 7\n[    1.000900] initcall 12_async_port_probe+0x0/0x50 returned after 900 usecs\n", "async_port_probe", 900 * us},
		{"error return", "[    1.000000] calling  bar+0x0/0x10 @ 1\n[    1.000010] initcall bar+0x0/0x10 returned -19 after 10 usecs\n", "bar", 10 * us},
		{"carriage returns", "[    1.000000] calling  foo+0x0/0x10 @ 1\r\n[    1.000500] initcall foo+0x0/0x10 returned 0 after 500 usecs\r\n", "foo", 500 * us},
		{"no kallsyms", "[    1.000000] calling  0xffffffff81234567 @ 1\n[    1.000500] initcall 0xffffffff81234567 returned 0 after 500 usecs\n", "0xffffffff81234567", 500 * us},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := readString(t, tc.log)
			got := initcallTotals(tr)
			if diff := cmp.Diff(map[string]int64{tc.want: tc.dur}, got); diff != "" {
				t.Errorf("initcall totals (-want +got):\n%s", diff)
			}
		})
	}
}

func initcallTotals(tr *trace.Trace) map[string]int64 {
	got := map[string]int64{}
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Kind == trace.KindInitcall {
				got[s.Name] += s.Duration()
			}
			return true
		})
	}
	return got
}

var reReturned = regexp.MustCompile(`initcall (?:[0-9]+_)?(\S+)( \[\S+\])? returned(?: -?[0-9]+)? after ([0-9]+) usecs`)

// TestExamplesInitcallTotals checks, for every example captured with
// initcall_debug, that each initcall's total in the profile equals the
// duration the kernel printed for it.
func TestExamplesInitcallTotals(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*initcall*.log"))
	if len(logs) == 0 {
		t.Fatal("no initcall_debug examples found")
	}
	for _, path := range logs {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{}
			for _, m := range reReturned.FindAllStringSubmatch(string(data), -1) {
				n, _ := strconv.ParseInt(m[3], 10, 64)
				want[symbolize.ParseRef(m[1]).Func+m[2]] += n * us
			}
			if len(want) < 100 {
				t.Errorf("only %d initcalls in %s", len(want), path)
			}
			tr, err := Read(strings.NewReader(string(data)), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, initcallTotals(tr)); diff != "" {
				t.Errorf("initcall totals (-printed +profile):\n%s", diff)
			}
			var phases []string
			for _, c := range tr.Tracks[0].Children {
				if c.Kind == trace.KindPhase {
					phases = append(phases, c.Name)
				}
			}
			if diff := cmp.Diff([]string{"early boot", "initcalls", "late init", "userspace"}, phases); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExamplesWithoutInitcallDebug(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "plain*.log"))
	if len(logs) == 0 {
		t.Fatal("no plain examples found")
	}
	for _, path := range logs {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tr, err := Read(f, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Line spans cover the whole boot: the track's own time is nil.
			if self := tr.Tracks[0].Self(); self != 0 {
				t.Errorf("track self time %d ns, want 0: lines leave gaps", self)
			}
			var phases []string
			for _, c := range tr.Tracks[0].Children {
				if c.Kind == trace.KindPhase {
					phases = append(phases, c.Name)
				}
			}
			if len(phases) < 3 || phases[0] != "early boot" || phases[len(phases)-1] != "userspace" {
				t.Errorf("phases = %v", phases)
			}
		})
	}
}

func TestLevelsFromSystemMap(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "examples", "debian-6.1", "initcall.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _, err := symbolize.Open("", filepath.Join("..", "..", "examples", "debian-6.1", "System.map.gz"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Read(f, ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	var levels []string
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; s.Kind == trace.KindLevel {
			levels = append(levels, s.Name)
		}
		return true
	})
	want := []string{"early initcalls", "pure initcalls", "core initcalls", "postcore initcalls", "arch initcalls",
		"subsys initcalls", "fs initcalls", "rootfs initcalls", "device initcalls", "late initcalls"}
	if diff := cmp.Diff(want, levels); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name        string
		log         string
		skipped     map[string]int
		notes       []string // substrings
		unfinished  int
		initcallsNs map[string]int64
	}{
		{
			name:    "garbage and binary noise",
			log:     "[    0.000000] Linux version\n\x00\x01\xff\xfe garbage\n[ 0.1x] bad stamp\n[    0.001000] ok\n",
			skipped: map[string]int{skipNoTimestamp: 2},
		},
		{
			name:    "timestamps going back",
			log:     "[    5.000000] a\n[    1.000000] second boot\n[    4.995000] slightly back\n[    6.000000] b\n",
			skipped: map[string]int{skipBackwards: 1},
		},
		{
			name:        "calling without returned",
			log:         "[    1.000000] calling  stuck+0x0/0x10 @ 1\n[    2.000000] still going\n",
			notes:       []string{"partial: 1 initcalls"},
			unfinished:  1,
			initcallsNs: map[string]int64{"stuck": 1e9},
		},
		{
			name:        "returned without calling",
			log:         "[    1.000000] hello\n[    2.000000] initcall lone+0x0/0x10 returned 0 after 300 usecs\n",
			notes:       []string{"1 initcalls returned without"},
			initcallsNs: map[string]int64{"lone": 300 * us},
		},
		{
			name:        "cut mid-line",
			log:         "[    1.000000] calling  a+0x0/0x10 @ 1\n[    1.000100] initcall a+0x0/0x10 returned 0 after 100 usecs\n[    1.00",
			skipped:     map[string]int{skipNoTimestamp: 1},
			initcallsNs: map[string]int64{"a": 100 * us},
		},
		{
			name:    "huge line",
			log:     "[    1.000000] a\n[    1.5] " + strings.Repeat("x", MaxLineLen+10) + "\n[    2.000000] b\n",
			skipped: map[string]int{skipTooLong: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := readString(t, tc.log)
			got := map[string]int{}
			for _, r := range tr.Skipped.Reasons {
				got[r.Reason] = r.Count
			}
			if tc.skipped == nil {
				tc.skipped = map[string]int{}
			}
			if diff := cmp.Diff(tc.skipped, got); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			for _, n := range tc.notes {
				if !strings.Contains(strings.Join(tr.Notes, "\n"), n) {
					t.Errorf("notes %q lack %q", tr.Notes, n)
				}
			}
			unfinished := 0
			tr.Tracks[0].Walk(func(path []*trace.Span) bool {
				if path[len(path)-1].Unfinished {
					unfinished++
				}
				return true
			})
			if unfinished != tc.unfinished {
				t.Errorf("%d unfinished spans, want %d", unfinished, tc.unfinished)
			}
			if tc.initcallsNs != nil {
				if diff := cmp.Diff(tc.initcallsNs, initcallTotals(tr)); diff != "" {
					t.Errorf("initcalls (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestNothingUsable(t *testing.T) {
	tr, err := Read(strings.NewReader("hello\nworld\n"), ReadOptions{})
	if err == nil {
		t.Fatal("no error for input without timestamps")
	}
	msg := Describe("in.txt", tr, err)
	for _, want := range []string{"in.txt", "line 1, 2", "printk timestamps"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// noise is an endless reader of binary junk with a newline now and then.
type noise struct {
	n, left int
	state   uint32
}

func (r *noise) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	for i := range p[:n] {
		r.state = r.state*1664525 + 1013904223
		b := byte(r.state >> 24)
		if b == '\n' && r.state&0x7 != 0 {
			b = 'x' // lines of a few kB on average, some far longer
		}
		p[i] = b
	}
	r.left -= n
	return n, nil
}

// TestNoiseMemoryBounded reads 128 MB of binary noise and checks that what
// the reader allocates does not grow with the input.
func TestNoiseMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 128 MB")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr, err := Read(bufio.NewReaderSize(&noise{left: 128 << 20}, 4096), ReadOptions{})
	if err == nil {
		t.Fatal("noise was read as a boot")
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d MB reading 128 MB of noise", alloc>>20)
	}
	if tr.Skipped.Total == 0 {
		t.Error("nothing reported as skipped")
	}
	for _, r := range tr.Skipped.Reasons {
		if len(r.Lines) > trace.MaxLinesPerReason {
			t.Errorf("reason %q keeps %d line numbers", r.Reason, len(r.Lines))
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[    0.000000] Linux version\n", FormatKernelLog},
		{"Probing EDD\n[    0.000000] Linux version\n", FormatKernelLog},
		{"main;foo;bar 10\nmain;foo 5\n", FormatFolded},
		{"a 1\n", FormatFolded},
		{"hello world\n", FormatKernelLog},
	} {
		if got := detect([]byte(tc.in)); got != tc.want {
			t.Errorf("detect(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"a;b":                 "a,b",
		"tab\there  and\nnew": "tab here and new",
		"\xff\xfebad":         "??bad",
		"":                    "?",
		"<script>":            "<script>", // escaping is the renderer's job
	} {
		if got := trace.CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := trace.CleanName(strings.Repeat("é", 500)); len(got) > trace.MaxNameLen+3 {
		t.Errorf("CleanName kept %d bytes", len(got))
	}
}

// TestAsyncProbeOverlap is the shape of a Debian cloud kernel's log with
// async driver probing: inside cmos_init (15,194 µs printed), a probe of
// serio0 run by another thread (10,348 µs) overlaps the initcall's own
// probe of 00:03 (9,664 µs). The overlapping probe goes to a track of its
// own, so cmos_init's children fit in its printed duration.
func TestAsyncProbeOverlap(t *testing.T) {
	log := `[    1.000000] calling  cmos_init+0x0/0x6f @ 1
[    1.012000] probe of serio0 returned 0 after 10348 usecs
[    1.014000] probe of 00:03 returned 0 after 9664 usecs
[    1.015194] initcall cmos_init+0x0/0x6f returned 0 after 15194 usecs
[    1.020000] Run /init as init process
`
	tr, err := ReadKernelLog(strings.NewReader(log), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkTrace(t, tr)
	var cmos *trace.Span
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Name == "cmos_init" {
				cmos = s
			}
			return true
		})
	}
	if cmos == nil {
		t.Fatal("no cmos_init span")
	}
	var inside int64
	for _, c := range cmos.Children {
		inside += c.Duration()
	}
	if cmos.Duration() != 15194e3 || inside > cmos.Duration() {
		t.Errorf("cmos_init lasts %d ns with %d ns of children, want 15194000 with at most that", cmos.Duration(), inside)
	}
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "async probes") {
		t.Errorf("the notes do not say where the overlapping probe went:\n%s", notes)
	}
	found := false
	for _, track := range tr.Tracks {
		for _, c := range track.Children {
			found = found || strings.HasPrefix(track.Name, "async probes") && strings.Contains(c.Name, "00:03")
		}
	}
	if !found {
		t.Error("the probe that overlaps another is on no track of its own")
	}
}

// TestNegativeTimestamp checks that a negative timestamp is reported as
// such, not as a line without a timestamp or one out of order.
func TestNegativeTimestamp(t *testing.T) {
	tr, err := ReadKernelLog(strings.NewReader("[    0.000000] a\n[   -1.500000] neg\n<6>[  -0.1] neg\n[    0.100000] b\n"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := trace.Skips{Total: 2, Reasons: []trace.SkipReason{{Reason: skipNegative, Count: 2, Lines: []int{2, 3}}}}
	if diff := cmp.Diff(want, tr.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}
