// Package ebpf holds boottrace's host probes: BPF programs on tracepoints
// (syscalls, kvm, exceptions, sched) and perf software events, filtered by
// the VMM's thread group, their generated Go bindings, the loader that
// attaches what the running kernel has, and the reading and decoding of
// their events. The recorder built on it is package ebpf/record.
//
// Only the loader (files *_linux.go) needs privileges; decoding a
// tracepoint's raw record with its format works anywhere.
package ebpf
