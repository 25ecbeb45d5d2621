//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutputFIFO writes -o into a FIFO, as into /dev/null or a pipe to a
// viewer: the output goes through it, and it stays a FIFO (writing to a
// temporary file and renaming it over the path, as for files, replaced
// /dev/null with a file when run as root).
func TestOutputFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "out.svg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	if _, _, err := run(t, "", "flame", "-o", fifo); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("after writing, the output path is %v (%v), want the FIFO", fi.Mode(), err)
	}
	if out := <-got; !strings.HasPrefix(out, "<?xml") || !strings.HasSuffix(out, "</svg>\n") {
		t.Errorf("read from the FIFO: %.60q ... (%d bytes), want the whole SVG", out, len(out))
	}
	if _, _, err := run(t, "", "flame", "-o", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("-o DIRECTORY: %v, want a refusal", err)
	}
}
