package ebpf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/boottrace/boottrace/trace/tracefile"
)

// TestLoadCapabilities runs Load as the user nobody in a child process:
// with no capabilities it must say which are missing; with CAP_BPF,
// CAP_PERFMON and CAP_DAC_READ_SEARCH (what ErrPrivileges names) it must
// load and see the child's own ioctls.
func TestLoadCapabilities(t *testing.T) {
	switch os.Getenv("BOOTTRACE_CAPS_CHILD") {
	case "none":
		_, err := Load(LoadOptions{})
		if !errors.Is(err, ErrPrivileges) || !strings.Contains(err.Error(), "CAP_BPF") {
			t.Fatalf("Load as uid %d without capabilities: %v, want ErrPrivileges naming CAP_BPF", os.Geteuid(), err)
		}
		return
	case "caps":
		p, err := Load(LoadOptions{})
		if err != nil {
			t.Fatalf("Load as uid %d with CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH: %v", os.Geteuid(), err)
		}
		defer p.Close()
		if err := p.Follow(uint32(os.Getpid())); err != nil {
			t.Fatal(err)
		}
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devnull.Close()
		unix.Syscall(unix.SYS_IOCTL, devnull.Fd(), unix.TCGETS, 0) // ENOTTY, but an ioctl
		timer := time.AfterFunc(10*time.Second, func() { p.Close() })
		defer timer.Stop()
		for {
			ev, err := p.Read()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if ev.Kind == tracefile.KindIoctlEnter && ev.Field("cmd") == unix.TCGETS {
				return
			}
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as nobody with chosen capabilities")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy nobody can run: the test binary's own directory is private.
	dir, err := os.MkdirTemp("", "boottrace-caps")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	copyExe := filepath.Join(dir, "ebpf.test")
	if err := os.WriteFile(copyExe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	for _, tc := range []struct {
		name string
		caps []uintptr
	}{
		{"none", nil},
		{"caps", []uintptr{capBPF, capPerfmon, capDACReadSearch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(copyExe, "-test.run", "^TestLoadCapabilities$", "-test.v")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "BOOTTRACE_CAPS_CHILD="+tc.name)
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
				AmbientCaps: tc.caps,
			}
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				t.Skipf("cannot run the test binary as nobody here (a noexec /tmp?): %v", err)
			}
			if err != nil {
				t.Fatalf("as nobody with capabilities %v: %v\n%s", tc.caps, err, out)
			}
		})
	}
}
