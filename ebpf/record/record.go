// Package record runs a VMM under boottrace's host probes (package ebpf)
// and writes a trace file (package trace/tracefile) as events arrive: the
// VMM started behind a gate so the probes follow it from its first
// instruction, its console teed to the terminal and the file, and the
// rules that stop a recording (the VMM's exit, the end of the guest's
// BOOT_TRACE flush, a console line, a timeout, Ctrl-C).
package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"time"
)

// Options configure a recording.
type Options struct {
	// Command starts the VMM (any command); PID attaches to a running one.
	Command []string
	PID     int
	// Trace receives the trace file.
	Trace io.Writer
	// Console receives the VMM's standard output as it arrives (the
	// serial console, for VMMs run with -serial stdio or equivalent).
	Console io.Writer
	Stdin   io.Reader
	Stderr  io.Writer
	// Until stops the recording at the first console line matching it.
	Until *regexp.Regexp
	// Timeout stops the recording (and the VMM) after this long; 0: none.
	Timeout time.Duration
	// KeepRunning leaves the VMM running when the recording stops early.
	KeepRunning bool
	// Progress, if set, is told when the recording begins.
	Progress io.Writer
	// Vmlinux and SystemMap name the guest's symbols in the trace file.
	Vmlinux, SystemMap string
	// RingBytes sizes the probes' ring buffer (ebpf.LoadOptions); 0: the default.
	RingBytes int
	// SamplePeriod, if not 0, samples the guest's call stack from the host
	// at most once per period on each vCPU thread (ebpf.LoadOptions).
	SamplePeriod time.Duration
}

// Result says how a recording went.
type Result struct {
	Reason   string // why it stopped
	Events   int
	Lost     uint64
	Errors   uint64 // events that could not be read or decoded
	Fired    map[string]uint64
	Attached []string
	Missing  map[string]string
}

// ErrNotStarted is returned when the VMM could not be started (the
// shell that runs it exits 126 or 127: not found, not executable).
var ErrNotStarted = errors.New("the VMM did not start")

// Check says what would make a recording fail before it begins: a VMM
// command that cannot be found, a PID that is not a running process.
// missing privileges. The output can be created once it passes.
func Check(opt Options) error {
	if err := checkPrivileges(); err != nil {
		return err
	}
	switch {
	case len(opt.Command) == 0 && opt.PID == 0:
		return errors.New("nothing to record: give a VMM command or --pid")
	case len(opt.Command) > 0 && opt.PID != 0:
		return errors.New("give either a VMM command or --pid, not both")
	case opt.RingBytes < 0 || opt.RingBytes&(opt.RingBytes-1) != 0 || opt.RingBytes > 0 && opt.RingBytes < os.Getpagesize():
		return fmt.Errorf("buffer of %d bytes: give a power of two of at least %d", opt.RingBytes, os.Getpagesize())
	case opt.SamplePeriod < 0:
		return fmt.Errorf("sample period %s: give a positive period, or 0 for none", opt.SamplePeriod)
	case opt.PID < 0:
		return fmt.Errorf("--pid %d: not a process id", opt.PID)
	case opt.PID > 0:
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", opt.PID)); err != nil {
			return fmt.Errorf("--pid %d: no such process", opt.PID)
		}
		return nil
	}
	if _, err := exec.LookPath(opt.Command[0]); err != nil {
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	return nil
}
