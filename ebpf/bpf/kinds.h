// Code generated from trace/tracefile/kind.go by "go generate ./ebpf"; DO NOT EDIT.

// Event kinds: struct event's kind, and counters[1 + kind].
enum event_kind {
	KIND_IOCTL_ENTER = 1, // syscalls:sys_enter_ioctl
	KIND_IOCTL_EXIT = 2, // syscalls:sys_exit_ioctl
	KIND_USERSPACE_EXIT = 3, // kvm:kvm_userspace_exit
	KIND_PIO = 4, // kvm:kvm_pio
	KIND_MMIO = 5, // kvm:kvm_mmio
	KIND_EMULATE_INSN = 6, // kvm:kvm_emulate_insn
	KIND_WRITE_TSC_OFFSET = 7, // kvm:kvm_write_tsc_offset
	KIND_KVM_EXIT = 8, // kvm:kvm_exit
	KIND_KVM_ENTRY = 9, // kvm:kvm_entry
	KIND_KVM_PAGE_FAULT = 10, // kvm:kvm_page_fault
	KIND_PAGE_FAULT_USER = 11, // exceptions:page_fault_user
	KIND_PAGE_FAULT_KERNEL = 12, // exceptions:page_fault_kernel
	KIND_SCHED_SWITCH = 13, // sched:sched_switch
	KIND_FORK = 14, // sched:sched_process_fork
	KIND_EXEC = 15, // sched:sched_process_exec
	KIND_EXIT = 16, // sched:sched_process_exit
	KIND_MINOR_FAULT_DONE = 17, // software:minor-faults
	KIND_MAJOR_FAULT_DONE = 18, // software:major-faults
	KIND_PAGE_ALLOC = 19, // kmem:mm_page_alloc
	KIND_GUEST_SAMPLE = 20, // boottrace:guest_sample
};
