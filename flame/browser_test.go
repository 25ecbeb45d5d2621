package flame

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/input"
)

// hostile is a name no output may turn into markup.
const hostile = `<img src=x onerror=alert(1)>`

// browser starts headless Chromium (skipping without it) and records what
// a page does: network requests, console errors and exceptions, dialogs.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
	dialogs  []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no chromium: apt-get install chromium (scripts/install-deps.sh does as root)")
	}
	// The browser's profile outlives the test's own directory by a
	// moment after it is stopped: it is removed last, come what may.
	profile, err := os.MkdirTemp("", "boottrace-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				b.errors = append(b.errors, "console.error")
			}
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, e.Message)
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(false))
		}
	})
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		t.Skipf("chromium does not start here: %v", err)
	}
	return b
}

// check fails the test for any request off the page's own file, console
// error or dialog.
func (b *browser) check(t *testing.T, file string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		if r != "file://"+file && !strings.HasPrefix(r, "about:") && !strings.HasPrefix(r, "data:") {
			t.Errorf("network request: %s", r)
		}
	}
	if len(b.errors) > 0 || len(b.dialogs) > 0 {
		t.Errorf("errors %q, dialogs %q", b.errors, b.dialogs)
	}
}

// hostileTrace is a kernel log with an untrusted name in a line and in an
// initcall.
func hostileTrace(t *testing.T) ReportInput {
	log := "[    0.000000] Linux version 6.1.0\n" +
		"[    0.001000] calling  " + strings.ReplaceAll(hostile, " ", "_") + "+0x0/0x10 @ 1\n" +
		"[    0.003000] initcall " + strings.ReplaceAll(hostile, " ", "_") + "+0x0/0x10 returned 0 after 2000 usecs\n" +
		"[    0.004000] " + hostile + "\n" +
		"[    0.005000] Run /init as init process\n"
	tr, err := input.Read(strings.NewReader(log), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ReportInput{Name: hostile, Trace: tr}
}

// TestReportInBrowser opens a report of a real recording and of a log full
// of markup in headless Chromium: no network request, no error, no
// script run from a name; the names shown as text.
func TestReportInBrowser(t *testing.T) {
	b := newBrowser(t)
	rec := readFile(t, filepath.Join("..", "examples", "record", "qemu-tcg.trace.gz"))
	var html bytes.Buffer
	if err := WriteReport(&html, "report "+hostile, []ReportInput{{Name: "qemu-tcg", Trace: rec}, hostileTrace(t)}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "boot.html")
	if err := os.WriteFile(file, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var text string
	var frames int
	var spans []int
	start := time.Now()
	err := chromedp.Run(b.ctx, chromedp.Navigate("file://"+file), chromedp.WaitReady("body"),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Evaluate(`document.body.innerText`, &text),
		chromedp.Evaluate(`document.querySelectorAll("iframe").length`, &frames),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(".timeline")).map(t => t.timeline.spans)`, &spans))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report of %d bytes loaded in %s", html.Len(), time.Since(start))
	b.check(t, file)
	if !strings.Contains(text, hostile) || !strings.Contains(text, "Boot: ") {
		t.Errorf("the page does not show the budget and the hostile name as text:\n%.1500s", text)
	}
	if frames != 2 {
		t.Errorf("%d flamegraphs, want one for each of 2 boots", frames)
	}
	if want := []int{spanCount(rec), spanCount(hostileTrace(t).Trace)}; !slices.Equal(spans, want) {
		t.Errorf("the flamecharts hold %v spans, want every span of each boot: %v", spans, want)
	}
}

// TestFlamechartInBrowser clicks a frame of a flamechart: the time axis
// must follow the zoom; and searches in lower case for an upper-case name.
func TestFlamechartInBrowser(t *testing.T) {
	b := newBrowser(t)
	tr := readFile(t, filepath.Join("..", "examples", "debian-6.1", "initcall.log"))
	var svg bytes.Buffer
	if err := WriteFlamechart(&svg, tr, SVGOptions{Title: "chart " + hostile, Unit: "ns"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "chart.svg")
	if err := os.WriteFile(file, svg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after, matched string
	err := chromedp.Run(b.ctx, chromedp.Navigate("file://"+file), chromedp.WaitReady("svg"),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#axis text")).map(t => t.textContent).join(" ")`, &before),
		// Zoom into the "initcalls" phase.
		chromedp.Evaluate(`(() => { const g = Array.from(document.querySelectorAll("g.f")).find(g => g.querySelector("title").textContent.startsWith("initcalls ")); g.dispatchEvent(new MouseEvent("click")); return true })()`, nil),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#axis text")).map(t => t.textContent).join(" ")`, &after),
		// Search: the prompt answered with a lower-case name.
		chromedp.Evaluate(`window.prompt = () => "SERIAL8250"; document.getElementById("search").dispatchEvent(new MouseEvent("click")); document.getElementById("matched").textContent`, &matched))
	if err != nil {
		t.Fatal(err)
	}
	b.check(t, file)
	if before == after || after == "" {
		t.Errorf("the axis did not follow the zoom: %q, then %q", before, after)
	}
	if !strings.HasPrefix(matched, "Matched ") || strings.HasPrefix(matched, "Matched 0 ") {
		t.Errorf("a search in another case found nothing: %q", matched)
	}
}

// spanCount is how many spans the trace has, its tracks' roots included.
func spanCount(tr *trace.Trace) int {
	n := 0
	for _, track := range tr.Tracks {
		track.Walk(func([]*trace.Span) bool { n++; return true })
	}
	return n
}

// TestReportLargeInBrowser opens the report of a boot log of 100,000
// lines (as many spans, each narrower than a pixel at full view) in
// headless Chromium: the flamechart holds every span, draws only those
// wide enough to see (and it is the number drawn, not the number held,
// that grows with a zoom), and a zoom to one millisecond draws the spans
// that were too narrow before, with the time axis rescaled.
func TestReportLargeInBrowser(t *testing.T) {
	b := newBrowser(t)
	var log bytes.Buffer
	for i := range 100_000 {
		us := 1000 + 37*i
		fmt.Fprintf(&log, "[%5d.%06d] driver%d: message %d\n", us/1e6, us%1e6, i%300, i)
	}
	tr, err := input.Read(&log, input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := WriteReport(&html, "large", []ReportInput{{Name: "100,000 lines", Trace: tr}}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "large.html")
	if err := os.WriteFile(file, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var spans, full, zoomed int
	var before, after string
	var ms float64
	start := time.Now()
	err = chromedp.Run(b.ctx, chromedp.Navigate("file://"+file), chromedp.WaitReady(".timeline"),
		chromedp.Evaluate(`document.querySelector(".timeline").timeline.spans`, &spans),
		chromedp.Evaluate(`document.querySelector(".timeline").timeline.drawn()`, &full),
		chromedp.Evaluate(`document.querySelector(".tl-range").textContent`, &before),
		chromedp.Evaluate(`(() => { const t0 = performance.now(); document.querySelector(".timeline").timeline.zoom(2e9, 2.001e9); return performance.now() - t0 })()`, &ms),
		chromedp.Evaluate(`document.querySelector(".timeline").timeline.drawn()`, &zoomed),
		chromedp.Evaluate(`document.querySelector(".tl-range").textContent`, &after))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes; loaded and drawn in %s; %d spans, %d drawn at full view, %d after a zoom to 1 ms, which took %.1f ms", html.Len(), time.Since(start), spans, full, zoomed, ms)
	b.check(t, file)
	if spans != spanCount(tr) || spans < 100_000 {
		t.Errorf("the flamechart holds %d spans, want all %d", spans, spanCount(tr))
	}
	// At full view a line's span is 0.01 px wide: only the tracks and
	// phases are drawn. One millisecond holds 27 lines.
	if full > 100 {
		t.Errorf("%d spans drawn at full view, want only those wide enough to see", full)
	}
	if zoomed < full+20 {
		t.Errorf("%d spans drawn after a zoom to 1 ms (%d before): the lines there were not drawn", zoomed, full)
	}
	if before == after || !strings.Contains(after, "2.000 s") {
		t.Errorf("the time range did not follow the zoom: %q, then %q", before, after)
	}
}
