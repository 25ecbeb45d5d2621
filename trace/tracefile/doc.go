// Package tracefile is the trace file format of "boottrace record":
// versioned JSON lines, a header describing the recording, then one event
// per line as it arrived (probe events, console output), then an end line.
// The recorder (package ebpf/record) writes it and the reader (package
// trace/input) reads it; neither needs the other. The probe event kinds
// are defined here once.
package tracefile
