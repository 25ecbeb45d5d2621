package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	dir, bin, vmm := buildForRecord(t)
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

// TestRecordFailsEarly checks that what makes a recording impossible is
// an error before the trace file is touched: a VMM that does not exist, a
// PID that is no process, a user without the privileges.
func TestRecordFailsEarly(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "boot.trace")
	const previous = "a previous recording\n"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no such VMM", []string{"--", filepath.Join(dir, "nonexistent-vmm")}, "did not start"},
		{"no such pid", []string{"--pid", "999999999"}, "no such process"},
		{"negative pid", []string{"--pid", "-5"}, "not a process id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(previous), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := run(t, "", append([]string{"record", "-o", file}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("record %v: %v, want an error saying %q", tc.args, err, tc.want)
			}
			if b, _ := os.ReadFile(file); string(b) != previous {
				t.Errorf("the trace file was touched: %q", b)
			}
		})
	}
	t.Run("no privileges", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to run boottrace as nobody")
		}
		// A directory nobody can reach (a test's own temporary directory is
		// private).
		pub, err := os.MkdirTemp("", "boottrace-nobody")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(pub)
		os.Chmod(pub, 0o777)
		bin, file := filepath.Join(pub, "boottrace"), filepath.Join(pub, "boot.trace")
		if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, b)
		}
		if err := os.WriteFile(file, []byte(previous), 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(file, 0o666)
		cmd := exec.Command(bin, "record", "-o", file, "--", "true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "CAP_BPF") {
			t.Errorf("record as nobody: %v\n%s", err, out)
		}
		if b, _ := os.ReadFile(file); string(b) != previous {
			t.Errorf("the trace file was touched: %q", b)
		}
	})
}

// TestRecordInPidNamespace runs boottrace record in a pid namespace of its
// own, as in a container: the probes see global ids, boottrace its own;
// the recording must be the same as outside.
func TestRecordInPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("boottrace record needs root")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm for the test VMM")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare (util-linux)")
	}
	dir := t.TempDir()
	bin, vmm := filepath.Join(dir, "boottrace"), filepath.Join(dir, "minivmm")
	for pkg, out := range map[string]string{".": bin, "../../ebpf/testdata/minivmm": vmm} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	file := filepath.Join(dir, "boot.trace")
	out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", bin, "record", "-o", file, "--", vmm).CombinedOutput()
	if err != nil {
		t.Fatalf("boottrace record in a pid namespace: %v\n%s", err, out)
	}
	tr, err := input.ReadFile(file, input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(tr.Notes, "\n")
	for _, want := range []string{"144 port I/O exits on 0x3f8", "no probe event lost"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "no exec of the VMM") {
		t.Errorf("the VMM's exec was not seen:\n%s", notes)
	}
	if !strings.HasPrefix(tr.Tracks[0].Name, "vmm main") {
		t.Errorf("first track %q, want the VMM's main thread", tr.Tracks[0].Name)
	}
}

// buildForRecord builds boottrace and the test VMM into a temporary
// directory, skipping where boottrace record cannot run.
func buildForRecord(t *testing.T) (dir, bin, vmm string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("boottrace record needs root")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm for the test VMM")
	}
	dir = t.TempDir()
	bin, vmm = filepath.Join(dir, "boottrace"), filepath.Join(dir, "minivmm")
	for pkg, out := range map[string]string{".": bin, "../../ebpf/testdata/minivmm": vmm} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	return dir, bin, vmm
}

// TestRecordSampleGuest runs "boottrace record --sample-guest" as a user
// would, on the test VMM's call-tree guest, and draws the recording: the
// default flamegraph (the boot's critical path) has the guest's stacks
// under its BOOT_TRACE span, named from the System.map given to record
// (the trace file names it for flame).
func TestRecordSampleGuest(t *testing.T) {
	dir, bin, vmm := buildForRecord(t)
	symbols, file := filepath.Join(dir, "System.map"), filepath.Join(dir, "boot.trace")
	if out, err := exec.Command(vmm, "-stacks", "1", "-symbols", symbols).CombinedOutput(); err != nil {
		t.Fatalf("minivmm: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "record", "--sample-guest", "--sample-rate", "0", "--", vmm).CombinedOutput(); err == nil || !strings.Contains(string(out), "--sample-rate 0") {
		t.Errorf("--sample-rate 0 taken: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "record", "--sample-guest", "--sample-rate", "2000", "--system-map", symbols, "-o", file, "--", vmm, "-stacks", "300").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "the guest sampler attached to no hook") {
			t.Skipf("no guest sampler on this kernel:\n%s", out)
		}
		t.Fatalf("record: %v\n%s", err, out)
	}
	folded, err := exec.Command(bin, "flame", "--folded", file).Output()
	if err != nil {
		t.Fatalf("flame: %v", err)
	}
	if !bytes.Contains(folded, []byte(";main;a;b;spin ")) {
		// VMX reads RIP and (with EPT) CR3 lazily: at kvm_exit they may
		// not be loaded.
		summary, _ := exec.Command(bin, "summary", file).CombinedOutput()
		if bytes.Contains(summary, []byte("CR3 not loaded")) || bytes.Contains(summary, []byte("without RIP")) {
			t.Skipf("this host's KVM had not loaded the guest's RIP or CR3 at the hook: samples are RIP only or none (see the README)\n%s", summary)
		}
	}
	if !regexp.MustCompile(`(?m);guest_loop;main;a;b;spin \d+$`).Match(folded) {
		t.Errorf("no main;a;b;spin stack under the guest's span:\n%s", folded)
	}
}
