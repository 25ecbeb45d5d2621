package flame

import (
	"cmp"
	"io"
	"maps"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/boottrace/boottrace/flame/perfettopb"
	"github.com/boottrace/boottrace/trace"
)

// WritePerfetto writes the trace in Perfetto's own protobuf format (the
// JSON one is its legacy input): a process track per source (kernel,
// guest, vmm, host) and a thread track per track under it, each span a
// slice begun and ended on its track with its kind as category and its
// source line, counts and whether it ended as debug annotations, a counter
// track under each thread's for its page faults and VM exits, and the
// notes (clock method and bound among them) as annotations of an instant
// at time 0 on a track of its own. Times are nanoseconds from the trace's
// start, which Perfetto needs to be 0 or more.
func WritePerfetto(w io.Writer, t *trace.Trace) error {
	const seq = 1 // one writer, one sequence
	origin := t.Start()
	var packets []*perfettopb.TracePacket
	at := func(ns int64) *uint64 { return proto.Uint64(uint64(max(ns-origin, 0))) }
	describe := func(d *perfettopb.TrackDescriptor) {
		packets = append(packets, &perfettopb.TracePacket{Data: &perfettopb.TracePacket_TrackDescriptor{TrackDescriptor: d},
			OptionalTrustedPacketSequenceId: &perfettopb.TracePacket_TrustedPacketSequenceId{TrustedPacketSequenceId: seq}})
	}
	event := func(ns int64, e *perfettopb.TrackEvent) {
		packets = append(packets, &perfettopb.TracePacket{Timestamp: at(ns), Data: &perfettopb.TracePacket_TrackEvent{TrackEvent: e},
			OptionalTrustedPacketSequenceId: &perfettopb.TracePacket_TrustedPacketSequenceId{TrustedPacketSequenceId: seq}})
	}
	// Process and thread ids are made up: a trace's tracks mix guest tasks,
	// VMM threads and CPUs, and Perfetto only needs them to be distinct.
	uuid := uint64(0)
	procs := map[string]uint64{}
	for i, tr := range t.Tracks {
		proc, ok := procs[tr.Source]
		if !ok {
			uuid++
			proc = uuid
			procs[tr.Source] = proc
			describe(&perfettopb.TrackDescriptor{Uuid: proto.Uint64(proc),
				Process: &perfettopb.ProcessDescriptor{Pid: proto.Int32(int32(len(procs))), ProcessName: proto.String(tr.Source)}})
		}
		uuid++
		track := uuid
		describe(&perfettopb.TrackDescriptor{Uuid: proto.Uint64(track), ParentUuid: proto.Uint64(proc),
			Thread: &perfettopb.ThreadDescriptor{Pid: proto.Int32(int32(len(procs))), Tid: proto.Int64(int64(i + 1)), ThreadName: proto.String(tr.Name)}})
		// Slices nest by the order of their ends on a track: where the
		// input's clock let a child outlast its parent or overlap its
		// sibling, it is clipped to fit.
		var visit func(s *trace.Span, lo, hi int64)
		visit = func(s *trace.Span, lo, hi int64) {
			start := min(max(s.Start, lo), hi)
			end := min(max(s.End, start), hi)
			begin := &perfettopb.TrackEvent{Type: perfettopb.TrackEvent_TYPE_SLICE_BEGIN.Enum(), TrackUuid: proto.Uint64(track),
				NameField: &perfettopb.TrackEvent_Name{Name: s.Name}, Categories: []string{s.Kind.String()}}
			if s.File != "" {
				begin.DebugAnnotations = append(begin.DebugAnnotations, annotation("source", s.File+":"+strconv.Itoa(s.Line)))
			}
			for _, k := range slices.Sorted(maps.Keys(s.Counts)) {
				begin.DebugAnnotations = append(begin.DebugAnnotations, &perfettopb.DebugAnnotation{NameField: &perfettopb.DebugAnnotation_Name{Name: k},
					Value: &perfettopb.DebugAnnotation_IntValue{IntValue: s.Counts[k]}})
			}
			if s.Unfinished {
				begin.DebugAnnotations = append(begin.DebugAnnotations, &perfettopb.DebugAnnotation{NameField: &perfettopb.DebugAnnotation_Name{Name: "unfinished"},
					Value: &perfettopb.DebugAnnotation_BoolValue{BoolValue: true}})
			}
			event(start, begin)
			next := start
			for _, c := range s.Children {
				visit(c, next, end)
				next = min(max(c.End, next), end)
			}
			event(end, &perfettopb.TrackEvent{Type: perfettopb.TrackEvent_TYPE_SLICE_END.Enum(), TrackUuid: proto.Uint64(track)})
		}
		visit(tr.Span, tr.Start, max(tr.End, tr.Start))
		// Page faults and VM exits: counter tracks under the thread's.
		counters := tr.HostCounters()
		for _, name := range slices.Sorted(maps.Keys(counters)) {
			uuid++
			describe(&perfettopb.TrackDescriptor{Uuid: proto.Uint64(uuid), ParentUuid: proto.Uint64(track),
				StaticOrDynamicName: &perfettopb.TrackDescriptor_Name{Name: name},
				Counter:             &perfettopb.CounterDescriptor{Unit: perfettopb.CounterDescriptor_UNIT_COUNT.Enum()}})
			for _, p := range counters[name] {
				event(p.Time, &perfettopb.TrackEvent{Type: perfettopb.TrackEvent_TYPE_COUNTER.Enum(), TrackUuid: proto.Uint64(uuid),
					CounterValueField: &perfettopb.TrackEvent_CounterValue{CounterValue: p.Value}})
			}
		}
	}
	if len(t.Notes) > 0 {
		uuid++
		describe(&perfettopb.TrackDescriptor{Uuid: proto.Uint64(uuid), StaticOrDynamicName: &perfettopb.TrackDescriptor_Name{Name: "boottrace notes"}})
		notes := &perfettopb.TrackEvent{Type: perfettopb.TrackEvent_TYPE_INSTANT.Enum(), TrackUuid: proto.Uint64(uuid),
			NameField: &perfettopb.TrackEvent_Name{Name: "notes (" + t.Format + ")"}}
		for i, n := range t.Notes {
			notes.DebugAnnotations = append(notes.DebugAnnotations, annotation("note "+strconv.Itoa(i+1), n))
		}
		event(origin, notes)
	}
	// Descriptors first, then events in time order (a slice's children
	// after it at equal times, and a slice's end before its next
	// sibling's begin: the order they were made in).
	slices.SortStableFunc(packets, func(a, b *perfettopb.TracePacket) int {
		return cmp.Or(cmp.Compare(packetOrder(a), packetOrder(b)), cmp.Compare(a.GetTimestamp(), b.GetTimestamp()))
	})
	if len(packets) > 0 { // a trace with nothing in it is an empty file
		packets[0].SequenceFlags = proto.Uint32(uint32(perfettopb.TracePacket_SEQ_INCREMENTAL_STATE_CLEARED))
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&perfettopb.Trace{Packet: packets})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// packetOrder puts track descriptors before events.
func packetOrder(p *perfettopb.TracePacket) int {
	if p.GetTrackDescriptor() != nil {
		return 0
	}
	return 1
}

func annotation(name, value string) *perfettopb.DebugAnnotation {
	return &perfettopb.DebugAnnotation{NameField: &perfettopb.DebugAnnotation_Name{Name: name},
		Value: &perfettopb.DebugAnnotation_StringValue{StringValue: value}}
}
