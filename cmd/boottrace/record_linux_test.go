package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boottrace/boottrace/trace/input"
)

// TestRecordSignals runs boottrace record as a user would and stops it with
// Ctrl-C (SIGINT) or SIGTERM while the VMM runs: it must stop the VMM, say
// why, and leave a complete trace file.
func TestRecordSignals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("boottrace record needs root")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm for the test VMM")
	}
	dir := t.TempDir()
	bin, vmm := filepath.Join(dir, "boottrace"), filepath.Join(dir, "minivmm")
	for pkg, out := range map[string]string{".": bin, "../../ebpf/testdata/minivmm": vmm} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			file := filepath.Join(dir, "boot.trace")
			cmd := exec.Command(bin, "record", "-o", file, "--", vmm, "-delay", "30s")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Signal once the recording has begun: the header is written
			// after the probes are attached.
			for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
				if b, _ := os.ReadFile(file); bytes.HasSuffix(b, []byte("\n")) {
					break
				}
				if time.Since(start) > 30*time.Second {
					cmd.Process.Kill()
					t.Fatalf("no trace header after 30 s:\n%s", stderr.String())
				}
			}
			time.Sleep(300 * time.Millisecond)
			began := time.Now()
			cmd.Process.Signal(sig)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("boottrace record: %v\n%s", err, stderr.String())
			}
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("took %s to stop", d)
			}
			if !strings.Contains(stderr.String(), "(interrupted)") {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
			}
			tr, err := input.ReadFile(file, input.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(tr.Notes, "\n")
			if !strings.Contains(notes, "recording stopped: interrupted") || !strings.Contains(notes, "the VMM ended with signal: terminated") {
				t.Errorf("notes do not say how it ended:\n%s", notes)
			}
		})
	}
}
