package ebpf

// Kind says which tracepoint an event came from. The values match the
// kind numbers in bpf/probes.c.
type Kind uint16

// Event kinds.
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
)

// Tracepoint names a kernel tracepoint and the BPF program attached to it.
type Tracepoint struct {
	Kind    Kind
	Group   string
	Name    string
	Program string // the program's name in bpf/probes.c
}

// Tracepoints lists every probe, in Kind order.
var Tracepoints = []Tracepoint{
	{KindIoctlEnter, "syscalls", "sys_enter_ioctl", "ioctl_enter"},
	{KindIoctlExit, "syscalls", "sys_exit_ioctl", "ioctl_exit"},
	{KindUserspaceExit, "kvm", "kvm_userspace_exit", "kvm_userspace_exit"},
	{KindPio, "kvm", "kvm_pio", "kvm_pio"},
	{KindMmio, "kvm", "kvm_mmio", "kvm_mmio"},
	{KindEmulateInsn, "kvm", "kvm_emulate_insn", "kvm_emulate_insn"},
	{KindWriteTSCOffset, "kvm", "kvm_write_tsc_offset", "kvm_write_tsc_offset"},
	{KindKVMExit, "kvm", "kvm_exit", "kvm_exit"},
	{KindKVMEntry, "kvm", "kvm_entry", "kvm_entry"},
	{KindKVMPageFault, "kvm", "kvm_page_fault", "kvm_page_fault"},
	{KindPageFaultUser, "exceptions", "page_fault_user", "page_fault_user"},
	{KindPageFaultKernel, "exceptions", "page_fault_kernel", "page_fault_kernel"},
	{KindSchedSwitch, "sched", "sched_switch", "sched_switch"},
	{KindFork, "sched", "sched_process_fork", "sched_process_fork"},
	{KindExec, "sched", "sched_process_exec", "sched_process_exec"},
	{KindExit, "sched", "sched_process_exit", "sched_process_exit"},
}

// SoftwareEvent names a perf software event and the BPF program attached
// to it on every CPU.
type SoftwareEvent struct {
	Kind    Kind
	Name    string // as perf list names it
	Config  uint64 // PERF_COUNT_SW_*
	Program string
}

// SoftwareEvents lists the perf events, in Kind order after Tracepoints.
// Their one field is the fault address.
var SoftwareEvents = []SoftwareEvent{
	{KindMinorFaultDone, "minor-faults", 5, "minor_fault_done"}, // PERF_COUNT_SW_PAGE_FAULTS_MIN
	{KindMajorFaultDone, "major-faults", 6, "major_fault_done"}, // PERF_COUNT_SW_PAGE_FAULTS_MAJ
}

// String is the tracepoint's "group:name", or "software:name" for a perf
// software event.
func (k Kind) String() string {
	if k >= 1 && int(k) <= len(Tracepoints) {
		tp := Tracepoints[k-1]
		return tp.Group + ":" + tp.Name
	}
	for _, se := range SoftwareEvents {
		if se.Kind == k {
			return "software:" + se.Name
		}
	}
	return "unknown"
}
