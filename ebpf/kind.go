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

// String is the tracepoint's "group:name".
func (k Kind) String() string {
	if k >= 1 && int(k) <= len(Tracepoints) {
		tp := Tracepoints[k-1]
		return tp.Group + ":" + tp.Name
	}
	return "unknown"
}
