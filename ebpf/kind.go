package ebpf

import "github.com/boottrace/boottrace/trace/tracefile"

// Kind says which tracepoint or perf software event an event came from;
// the kinds are defined in package tracefile, which the BPF programs' own
// numbers (bpf/kinds.h) are generated from.
type Kind = tracefile.Kind

// softwareConfig is each perf software event's PERF_COUNT_SW_* number.
var softwareConfig = map[Kind]uint64{
	tracefile.KindMinorFaultDone: 5, // PERF_COUNT_SW_PAGE_FAULTS_MIN
	tracefile.KindMajorFaultDone: 6, // PERF_COUNT_SW_PAGE_FAULTS_MAJ
}
