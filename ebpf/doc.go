// Package ebpf holds boottrace's host probes: BPF programs on tracepoints
// (syscalls, kvm, exceptions, sched) filtered by the VMM's thread group,
// their generated Go bindings, the loader that attaches what the running
// kernel has, and the event decoding above it.
//
// Only the loader and recorder (files *_linux.go) need privileges; event
// decoding works on recorded bytes anywhere.
package ebpf
