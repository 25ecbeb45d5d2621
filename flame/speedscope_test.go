package flame

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/boottrace/boottrace/trace"
)

// speedscopeDir is speedscope's web app, as npm installs it (scripts/
// install-deps.sh puts it in the cache), or $SPEEDSCOPE_DIR.
func speedscopeDir(t *testing.T) string {
	dir := os.Getenv("SPEEDSCOPE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Skip("no cache directory to find speedscope in")
		}
		dir = filepath.Join(cache, "boottrace", "npm", "node_modules", "speedscope", "dist", "release")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Skipf("no speedscope in %s: npm install --prefix ~/.cache/boottrace/npm speedscope@1.25.0 (scripts/install-deps.sh does), or set SPEEDSCOPE_DIR", dir)
	}
	return dir
}

// TestSpeedscopeLoads opens boottrace's exports of a real recording in
// speedscope, a real consumer: the Trace Event JSON, the pprof profile and
// the folded stacks; and the Trace Event JSON of every example log. Each
// must load (speedscope names the profile and draws it) with no error, and
// a Trace Event file show its tracks: the first by name, and how many.
func TestSpeedscopeLoads(t *testing.T) {
	app := speedscopeDir(t)
	b := newBrowser(t)
	rec := readFile(t, filepath.Join("..", "examples", "record", "qemu-tcg.trace.gz"))
	profiles := t.TempDir()
	var chrome, pprof, folded bytes.Buffer
	if err := WriteChrome(&chrome, rec); err != nil {
		t.Fatal(err)
	}
	if err := WritePprof(&pprof, rec); err != nil {
		t.Fatal(err)
	}
	if err := WriteFolded(&folded, Merge(rec)); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"boot.json": chrome.Bytes(), "boot.pb.gz": pprof.Bytes(), "boot.folded": folded.Bytes()}
	// Speedscope shows a Trace Event file's first thread by name, and how
	// many there are when there are several: "vmm main (boot.sh) (tid 1)
	// (1/12)".
	shows := func(tr *trace.Trace) string {
		if len(tr.Tracks) == 1 {
			return tr.Tracks[0].Name + " (tid 1)"
		}
		return fmt.Sprintf("%s (tid 1) (1/%d)", tr.Tracks[0].Name, len(tr.Tracks))
	}
	threads := map[string]string{"boot.json": shows(rec)}
	// The Trace Event JSON of every other example too.
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.log"))
	for _, ex := range examples {
		tr := readFile(t, ex)
		var b bytes.Buffer
		if err := WriteChrome(&b, tr); err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(ex)) + "-" + strings.TrimSuffix(filepath.Base(ex), ".log") + ".json"
		files[name] = b.Bytes()
		threads[name] = shows(tr)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(profiles, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/profiles/", http.StripPrefix("/profiles/", http.FileServer(http.Dir(profiles))))
	mux.Handle("/", http.FileServer(http.Dir(app)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for name := range files {
		t.Run(name, func(t *testing.T) {
			var title, text string
			err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/index.html#profileURL=/profiles/"+name),
				chromedp.WaitReady("body"),
				chromedp.Poll(`document.title.includes("`+name+`") || document.body.innerText.includes("rror")`, nil, chromedp.WithPollingTimeout(30*time.Second)),
				chromedp.Title(&title),
				chromedp.Evaluate(`document.body.innerText`, &text))
			if err != nil {
				b.mu.Lock()
				defer b.mu.Unlock()
				t.Fatalf("speedscope did not load %s: %v (dialogs %q)", name, err, b.dialogs)
			}
			if !strings.Contains(title, name) || strings.Contains(text, "rror") {
				t.Errorf("speedscope did not load %s: title %q, page:\n%.600s", name, title, text)
			}
			if want, ok := threads[name]; ok && !strings.Contains(text, want) {
				t.Errorf("speedscope does not show the tracks of %s: want %q in\n%.600s", name, want, text)
			}
		})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 || len(b.dialogs) > 0 {
		t.Errorf("errors %q, dialogs %q", b.errors, b.dialogs)
	}
}
