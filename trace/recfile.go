package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// FormatRecording names a trace file written by "boottrace record".
const FormatRecording = "recording"

// recordingMagic starts the first line of every trace file.
const recordingMagic = `{"boottrace":"recording"`

// RecordingVersion is the trace file format's version.
const RecordingVersion = 1

// ClockPair is a host TSC reading and a CLOCK_MONOTONIC reading taken
// together, to convert between the two.
type ClockPair struct {
	TSC  uint64 `json:"tsc"`
	Mono int64  `json:"mono_ns"`
}

// RecordingHeader is the first line of a trace file: it describes the
// recording, so the file can be read without the machine it came from.
type RecordingHeader struct {
	Magic    string            `json:"boottrace"` // "recording"
	Version  int               `json:"version"`
	Command  []string          `json:"command,omitempty"`
	PID      int               `json:"pid"`
	Attach   bool              `json:"attach,omitempty"` // --pid: attached to a running VMM
	Host     string            `json:"host_kernel,omitempty"`
	Clock    []ClockPair       `json:"clock"`
	Attached []string          `json:"attached"`
	Missing  map[string]string `json:"missing,omitempty"`
	// Formats are the tracepoints' field layouts on the recording host.
	Formats map[string]any `json:"formats,omitempty"`
	// Vmlinux and SystemMap are the guest's symbols as given to record
	// (absolute paths): the other commands use them unless given others.
	Vmlinux   string `json:"vmlinux,omitempty"`
	SystemMap string `json:"system_map,omitempty"`
}

// ReadRecordingHeader returns the header of a trace file (gzipped or not),
// or false if r does not start with one.
func ReadRecordingHeader(r io.Reader) (*RecordingHeader, bool) {
	u, err := Uncompressed(r)
	if err != nil {
		return nil, false
	}
	line, tooLong, err := newLineReader(u).next()
	if err != nil || tooLong || !bytes.HasPrefix(line, []byte(recordingMagic)) {
		return nil, false
	}
	var h RecordingHeader
	if json.Unmarshal(line, &h) != nil {
		return nil, false
	}
	return &h, true
}

// RecEvent is one line of a trace file after the header.
type RecEvent struct {
	Time int64  `json:"t"` // CLOCK_MONOTONIC nanoseconds
	Kind string `json:"k"` // tracepoint ("kvm:kvm_pio"), "serial" or "end"
	TGID uint32 `json:"pid,omitempty"`
	TID  uint32 `json:"tid,omitempty"`
	CPU  uint16 `json:"cpu,omitempty"`
	// Fields are the tracepoint's integer fields.
	Fields map[string]int64 `json:"f,omitempty"`
	// Mem is the memory region of KVM_SET_USER_MEMORY_REGION.
	Mem []byte `json:"mem,omitempty"`
	// Comm names the thread switched out (sched_switch).
	Comm string `json:"comm,omitempty"`
	// Data is serial output (Kind "serial").
	Data string `json:"data,omitempty"`
	// End is set on the last line (Kind "end").
	End *RecordingEnd `json:"end,omitempty"`
}

// RecordingEnd closes a recording: why it stopped and what was lost.
type RecordingEnd struct {
	Reason string            `json:"reason"`
	Lost   uint64            `json:"lost"`
	Fired  map[string]uint64 `json:"fired"`
	Clock  []ClockPair       `json:"clock"`
	Exit   string            `json:"vmm_exit,omitempty"`
}

// RecordingWriter appends to a trace file as events arrive. It is safe
// for concurrent use.
type RecordingWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

// NewRecordingWriter writes the header line and returns the writer.
func NewRecordingWriter(w io.Writer, h RecordingHeader) (*RecordingWriter, error) {
	h.Magic, h.Version = "recording", RecordingVersion
	rw := &RecordingWriter{w: bufio.NewWriterSize(w, 64<<10)}
	rw.line(h)
	return rw, rw.Flush()
}

func (rw *RecordingWriter) line(v any) {
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
func (rw *RecordingWriter) Write(e RecEvent) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.line(e)
	return rw.err
}

// Flush writes out what is buffered, so the file holds every event so far.
func (rw *RecordingWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err == nil {
		rw.err = rw.w.Flush()
	}
	return rw.err
}
