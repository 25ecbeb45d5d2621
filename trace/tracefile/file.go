package tracefile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Magic starts the first line of every trace file.
const Magic = `{"boottrace":"recording"`

// Version is the trace file format's version. Version 2 writes probe
// events as Probe lines (the tracepoint's raw record); version 1 files,
// whose probe events are JSON lines with decoded fields, are still read.
const Version = 2

// ClockPair is a host TSC reading and a CLOCK_MONOTONIC reading taken
// together, to convert between the two.
type ClockPair struct {
	TSC  uint64 `json:"tsc"`
	Mono int64  `json:"mono_ns"`
}

// Header is the first line of a trace file: it describes the recording,
// so the file can be read without the machine it came from.
type Header struct {
	Magic    string            `json:"boottrace"` // "recording"
	Version  int               `json:"version"`
	Command  []string          `json:"command,omitempty"`
	PID      int               `json:"pid"`
	Attach   bool              `json:"attach,omitempty"` // --pid: attached to a running VMM
	Host     string            `json:"host_kernel,omitempty"`
	Clock    []ClockPair       `json:"clock"`
	Attached []string          `json:"attached"`
	Missing  map[string]string `json:"missing,omitempty"`
	// Formats are the tracepoints' field layouts on the recording host,
	// by kind name: how a Probe line's raw record is decoded.
	Formats map[string]Format `json:"formats,omitempty"`
	// Kinds names the kind numbers of Probe lines (Kinds[n-1] is kind n),
	// so that a file stays readable when the kinds are renumbered.
	Kinds []string `json:"kinds,omitempty"`
	// Vmlinux and SystemMap are the guest's symbols as given to record
	// (absolute paths): the other commands use them unless given others.
	Vmlinux   string `json:"vmlinux,omitempty"`
	SystemMap string `json:"system_map,omitempty"`
}

// ParseHeader decodes a header line, checking its version.
func ParseHeader(line []byte) (*Header, error) {
	var h Header
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, fmt.Errorf("trace file header: %w", err)
	}
	if h.Magic != "recording" {
		return nil, fmt.Errorf("trace file header: not a boottrace recording")
	}
	if h.Version < 1 || h.Version > Version {
		return nil, fmt.Errorf("trace file version %d; this boottrace reads versions 1 to %d", h.Version, Version)
	}
	return &h, nil
}

// IsHeader reports whether a line starts like a trace file header (JSON
// with or without spaces after its first key).
func IsHeader(line []byte) bool {
	if bytes.HasPrefix(line, []byte(Magic)) {
		return true
	}
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(trimmed, []byte(`"boottrace"`)) {
		return false // most lines: no decoding, no allocation
	}
	var probe struct {
		Magic *string `json:"boottrace"`
	}
	return json.Unmarshal(trimmed, &probe) == nil && probe.Magic != nil && *probe.Magic == "recording"
}

// Event is one line of a trace file after the header.
type Event struct {
	Time int64  `json:"t"` // CLOCK_MONOTONIC nanoseconds
	Kind string `json:"k"` // a Kind's name ("kvm:kvm_pio"), "serial" or "end"
	TGID uint32 `json:"pid,omitempty"`
	TID  uint32 `json:"tid,omitempty"`
	CPU  uint16 `json:"cpu,omitempty"`
	// Seq numbers a CPU's probe events from 1, lost ones included (0: a
	// recording from before it existed).
	Seq uint32 `json:"seq,omitempty"`
	// Fields are the tracepoint's integer fields.
	Fields map[string]int64 `json:"f,omitempty"`
	// Mem is the memory region of KVM_SET_USER_MEMORY_REGION.
	Mem []byte `json:"mem,omitempty"`
	// Comm names the thread switched out (sched_switch).
	Comm string `json:"comm,omitempty"`
	// Data is serial output (Kind "serial"), or BOOT_TRACE lines read
	// from guest memory (Kind "guest-memory").
	Data string `json:"data,omitempty"`
	// End is set on the last line (Kind "end").
	End *End `json:"end,omitempty"`
	// Raw and Format are a Probe line's record and its kind's layout;
	// Fields is nil then.
	Raw    []byte `json:"-"`
	Format Format `json:"-"`
	// Type is Kind as this reader numbers probe events (0 for other
	// lines), set by Decoder.
	Type Kind `json:"-"`
}

// Value is the integer field name, from Fields or decoded from Raw; 0
// when the event has no such field.
func (e *Event) Value(name string) int64 {
	if e.Fields != nil {
		return e.Fields[name]
	}
	v, _ := e.Format.Value(e.Raw, name)
	return v
}

// Kinds of lines that are not probe events.
const (
	KindSerial = "serial"
	// KindGuestMemory carries the guest's BOOT_TRACE records read out of
	// its memory, as the lines the kernel would print.
	KindGuestMemory = "guest-memory"
	// KindKVMDebugfs carries what KVM's debugfs directory of a VM said
	// when it changed (TGID: the VM's process): with Fields "vcpu" -1, the
	// VM's counters; else that vCPU's tsc_offset and, where the hardware
	// scales the TSC, tsc_scaling_ratio and tsc_scaling_ratio_frac_bits.
	// Fields "vm_fd" is the VM's file descriptor.
	KindKVMDebugfs = "kvm-debugfs"
	KindEnd        = "end"
)

// End closes a recording: why it stopped and what was lost.
type End struct {
	Reason string            `json:"reason"`
	Lost   uint64            `json:"lost"`
	Fired  map[string]uint64 `json:"fired"`
	Clock  []ClockPair       `json:"clock"`
	// Emulated counts instructions KVM emulated by guest RIP ("0x..."), as
	// the probes counted them instead of sending events.
	Emulated map[string]uint64 `json:"emulated,omitempty"`
	Exit     string            `json:"vmm_exit,omitempty"`
	// Errors counts events the recorder could not read or decode.
	Errors uint64 `json:"read_errors,omitempty"`
	// Unfollowed counts threads and processes of the VMM the probes could
	// not follow (their maps were full): their events are missing.
	Unfollowed uint64 `json:"unfollowed,omitempty"`
}

// Writer appends to a trace file as events arrive. It is safe for
// concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
	buf []byte // a Probe line being encoded
}

// NewWriter writes the header line and returns the writer.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Magic, h.Version = "recording", Version
	h.Kinds = nil
	for _, k := range Kinds {
		h.Kinds = append(h.Kinds, k.Kind.String())
	}
	rw := &Writer{w: bufio.NewWriterSize(w, 256<<10)}
	rw.line(h)
	return rw, rw.Flush()
}

func (rw *Writer) line(v any) {
	if rw.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		rw.err = fmt.Errorf("encode trace line: %w", err)
		return
	}
	b = append(b, '\n')
	_, rw.err = rw.w.Write(b)
}

// Write appends one event.
func (rw *Writer) Write(e Event) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.line(e)
	return rw.err
}

// Flush writes out what is buffered, so the file holds every event so far.
func (rw *Writer) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err == nil {
		rw.err = rw.w.Flush()
	}
	return rw.err
}
