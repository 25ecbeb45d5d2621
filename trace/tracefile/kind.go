package tracefile

import (
	"fmt"
	"strings"
)

// Kind is a probe event's kind: which tracepoint or perf software event it
// came from. This table is the one definition: the BPF programs take their
// numbers from bpf/kinds.h, generated from it (go generate ./ebpf), the
// trace file names events by Name, and the reader switches on Kind.
type Kind uint16

// Probe event kinds. 0 is no kind.
const (
	KindIoctlEnter Kind = iota + 1
	KindIoctlExit
	KindUserspaceExit
	KindPio
	KindMmio
	KindEmulateInsn
	KindWriteTSCOffset
	KindKVMExit
	KindKVMEntry
	KindKVMPageFault
	KindPageFaultUser
	KindPageFaultKernel
	KindSchedSwitch
	KindFork
	KindExec
	KindExit
	KindMinorFaultDone
	KindMajorFaultDone
	KindPageAlloc
	KindGuestSample
	kindEnd
)

// KindInfo says where a kind's events come from.
type KindInfo struct {
	Kind Kind
	// Group and Event name the tracepoint ("kvm", "kvm_pio"), or
	// "software" and the perf event's name as perf list gives it, or
	// "boottrace" and an event of boottrace's own (a guest stack sample).
	Group, Event string
	// C is the kind's constant in bpf/kinds.h.
	C string
}

// Kinds lists every kind, in Kind order.
var Kinds = []KindInfo{
	{KindIoctlEnter, "syscalls", "sys_enter_ioctl", "KIND_IOCTL_ENTER"},
	{KindIoctlExit, "syscalls", "sys_exit_ioctl", "KIND_IOCTL_EXIT"},
	{KindUserspaceExit, "kvm", "kvm_userspace_exit", "KIND_USERSPACE_EXIT"},
	{KindPio, "kvm", "kvm_pio", "KIND_PIO"},
	{KindMmio, "kvm", "kvm_mmio", "KIND_MMIO"},
	{KindEmulateInsn, "kvm", "kvm_emulate_insn", "KIND_EMULATE_INSN"},
	{KindWriteTSCOffset, "kvm", "kvm_write_tsc_offset", "KIND_WRITE_TSC_OFFSET"},
	{KindKVMExit, "kvm", "kvm_exit", "KIND_KVM_EXIT"},
	{KindKVMEntry, "kvm", "kvm_entry", "KIND_KVM_ENTRY"},
	{KindKVMPageFault, "kvm", "kvm_page_fault", "KIND_KVM_PAGE_FAULT"},
	{KindPageFaultUser, "exceptions", "page_fault_user", "KIND_PAGE_FAULT_USER"},
	{KindPageFaultKernel, "exceptions", "page_fault_kernel", "KIND_PAGE_FAULT_KERNEL"},
	{KindSchedSwitch, "sched", "sched_switch", "KIND_SCHED_SWITCH"},
	{KindFork, "sched", "sched_process_fork", "KIND_FORK"},
	{KindExec, "sched", "sched_process_exec", "KIND_EXEC"},
	{KindExit, "sched", "sched_process_exit", "KIND_EXIT"},
	{KindMinorFaultDone, "software", "minor-faults", "KIND_MINOR_FAULT_DONE"},
	{KindMajorFaultDone, "software", "major-faults", "KIND_MAJOR_FAULT_DONE"},
	{KindPageAlloc, "kmem", "mm_page_alloc", "KIND_PAGE_ALLOC"},
	{KindGuestSample, "boottrace", "guest_sample", "KIND_GUEST_SAMPLE"},
}

// Software reports whether the kind is a perf software event rather than
// a tracepoint.
func (k Kind) Software() bool { return k.valid() && Kinds[k-1].Group == "software" }

// Tracepoint reports whether the kind's events come from a tracepoint of
// that name (and its record's layout from the tracepoint's format file).
func (k Kind) Tracepoint() bool {
	return k.valid() && Kinds[k-1].Group != "software" && Kinds[k-1].Group != "boottrace"
}

func (k Kind) valid() bool { return k >= 1 && k < kindEnd }

// String is the name events of the kind have in a trace file:
// "group:event" ("kvm:kvm_pio", "software:minor-faults").
func (k Kind) String() string {
	if !k.valid() {
		return "unknown"
	}
	return Kinds[k-1].Group + ":" + Kinds[k-1].Event
}

var byName = func() map[string]Kind {
	m := make(map[string]Kind, len(Kinds))
	for _, k := range Kinds {
		m[k.Kind.String()] = k.Kind
	}
	return m
}()

// KindOf returns the kind a trace file names, or 0 for a name it does
// not know (a newer recorder's, say).
func KindOf(name string) Kind { return byName[name] }

// CHeader is bpf/kinds.h of package ebpf: the kinds as a C enum, for the
// BPF programs to number their events as the trace file's reader does.
func CHeader() string {
	var b strings.Builder
	b.WriteString("// Code generated from trace/tracefile/kind.go by \"go generate ./ebpf\"; DO NOT EDIT.\n\n")
	b.WriteString("// Event kinds: struct event's kind, and counters[1 + kind].\n")
	b.WriteString("enum event_kind {\n")
	for _, k := range Kinds {
		fmt.Fprintf(&b, "\t%s = %d, // %s\n", k.C, k.Kind, k.Kind)
	}
	b.WriteString("};\n")
	return b.String()
}

// GuestSampleFormat lays out a guest sample's record (boottrace:guest_sample,
// from the guest sampler): the guest's RIP, the walk's status (bits 0-7:
// how many return addresses follow, 8-15: why the walk ended), then the
// return addresses, 8 bytes each, innermost first.
var GuestSampleFormat = Format{{Name: "rip", Offset: 0, Size: 8}, {Name: "status", Offset: 8, Size: 8}}
