package ebpf

import (
	"io"
	"regexp"
	"time"
)

// RecordOptions configure a recording.
type RecordOptions struct {
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
}

// RecordResult says how a recording went.
type RecordResult struct {
	Reason   string // why it stopped
	Events   int
	Lost     uint64
	Fired    map[string]uint64
	Attached []string
	Missing  map[string]string
}
