package ebpf

// Event is one decoded probe event.
type Event struct {
	Time int64 // CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
	TGID uint32
	TID  uint32
	CPU  uint16
	// Seq numbers the events of one CPU from 1, lost ones included: a
	// gap is a loss, located in time.
	Seq    uint32
	Kind   Kind
	Fields map[string]int64
	// Arg holds the memory region a KVM_SET_USER_MEMORY_REGION ioctl
	// pointed to (struct kvm_userspace_memory_region), else nil.
	Arg []byte
	// Comm is the name of the thread switched out (sched_switch).
	Comm string
}
