package ebpf

import "github.com/boottrace/boottrace/trace/tracefile"

// Event is one probe event, as the ring buffer handed it over.
type Event struct {
	Time int64 // CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
	TGID uint32
	TID  uint32
	CPU  uint16
	// Seq numbers the events of one CPU from 1, lost ones included: a
	// gap is a loss, located in time.
	Seq  uint32
	Kind Kind
	// Raw is the tracepoint's record as the probe captured it, laid out
	// as Format says. It is valid until the next Read.
	Raw    []byte
	Format tracefile.Format
	// Arg holds the memory region a KVM_SET_USER_MEMORY_REGION ioctl
	// pointed to (struct kvm_userspace_memory_region), else nil. It is
	// valid until the next Read.
	Arg []byte
}

// Field is the integer field name of the record, 0 if it has none.
func (e Event) Field(name string) int64 {
	v, _ := e.Format.Value(e.Raw, name)
	return v
}

// Probe is the event as a trace file keeps it.
func (e Event) Probe() tracefile.Probe {
	return tracefile.Probe{Time: e.Time, Kind: e.Kind, TGID: e.TGID, TID: e.TID, CPU: e.CPU, Seq: e.Seq, Raw: e.Raw, Arg: e.Arg}
}
