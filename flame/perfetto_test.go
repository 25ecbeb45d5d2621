package flame

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/boottrace/boottrace/flame/perfettopb"
	"github.com/boottrace/boottrace/trace"
)

// TestPerfettoRoundTrip writes real traces (a recorded QEMU boot, a
// BOOT_TRACE flush, a kernel log) in Perfetto's protobuf format, decodes
// the file and rebuilds every track's slices from their begin and end
// events as Perfetto does (an end closes the track's innermost open
// slice): the same spans, nested the same, at the same times, with their
// kinds and annotations; process and thread tracks named; the notes kept.
func TestPerfettoRoundTrip(t *testing.T) {
	for _, file := range []string{
		filepath.Join("..", "examples", "record", "qemu-tcg.trace.gz"),
		filepath.Join("..", "examples", "boottrace-6.1", "smp-ip.log"),
		filepath.Join("..", "examples", "debian-6.1", "initcall.log"),
	} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			tr := readFile(t, file)
			pt := perfettoOf(t, tr)
			origin := tr.Start()
			var want []string
			for _, track := range tr.Tracks {
				// Where the input's clock lets a span outlast its parent or
				// overlap the sibling before it, the slice is clipped to fit
				// (slices nest by the order of their ends).
				var walk func(s *trace.Span, depth int, lo, hi int64)
				walk = func(s *trace.Span, depth int, lo, hi int64) {
					start := min(max(s.Start, lo), hi)
					end := min(max(s.End, start), hi)
					want = append(want, fmt.Sprintf("%s\t%s%s [%s] %d-%d", track.Name, strings.Repeat(". ", depth), s.Name, s.Kind, start-origin, end-origin))
					next := start
					for _, c := range s.Children {
						walk(c, depth+1, next, end)
						next = min(max(c.End, next), end)
					}
				}
				walk(track.Span, 0, track.Start, max(track.End, track.Start))
			}
			names := map[uint64]string{}
			open := map[uint64][]int{}
			var got []string
			notes := 0
			var last uint64
			for i, p := range pt.Packet {
				if i == 0 && p.GetSequenceFlags() != uint32(perfettopb.TracePacket_SEQ_INCREMENTAL_STATE_CLEARED) {
					t.Error("the first packet does not clear the sequence's state")
				}
				if p.GetTrustedPacketSequenceId() == 0 {
					t.Fatalf("packet %d has no sequence id", i)
				}
				if d := p.GetTrackDescriptor(); d != nil {
					names[d.GetUuid()] = d.GetThread().GetThreadName()
					continue
				}
				e := p.GetTrackEvent()
				if p.GetTimestamp() < last {
					t.Fatalf("packet %d goes back in time", i)
				}
				last = p.GetTimestamp()
				id := e.GetTrackUuid()
				switch e.GetType() {
				case perfettopb.TrackEvent_TYPE_SLICE_BEGIN:
					line := fmt.Sprintf("%s\t%s%s [%s] %d-", names[id], strings.Repeat(". ", len(open[id])), e.GetName(), strings.Join(e.GetCategories(), ","), p.GetTimestamp())
					got = append(got, line)
					open[id] = append(open[id], len(got)-1)
				case perfettopb.TrackEvent_TYPE_SLICE_END:
					st := open[id]
					if len(st) == 0 {
						t.Fatalf("an end with no slice open on track %q", names[id])
					}
					got[st[len(st)-1]] += fmt.Sprint(p.GetTimestamp())
					open[id] = st[:len(st)-1]
				case perfettopb.TrackEvent_TYPE_INSTANT:
					notes = len(e.GetDebugAnnotations())
				}
			}
			for id, st := range open {
				if len(st) > 0 {
					t.Errorf("%d slices never ended on track %q", len(st), names[id])
				}
			}
			// The tracks' events interleave in the file; each track's own
			// come in the order its spans were walked.
			byTrack := func(lines []string) map[string][]string {
				m := map[string][]string{}
				for _, l := range lines {
					k, _, _ := strings.Cut(l, "\t")
					m[k] = append(m[k], l)
				}
				return m
			}
			if diff := cmp.Diff(byTrack(want), byTrack(got)); diff != "" {
				t.Errorf("slices (-spans +perfetto):\n%.3000s", diff)
			}
			if notes != len(tr.Notes) {
				t.Errorf("%d notes annotated, want %d", notes, len(tr.Notes))
			}
		})
	}
}

// TestPerfettoEmpty exports a trace with nothing in it: an empty file,
// not a panic.
func TestPerfettoEmpty(t *testing.T) {
	if pt := perfettoOf(t, &trace.Trace{}); len(pt.Packet) != 0 {
		t.Errorf("%d packets, want none", len(pt.Packet))
	}
}

// perfettoOf exports tr in Perfetto's format and decodes the file.
func perfettoOf(t *testing.T, tr *trace.Trace) *perfettopb.Trace {
	t.Helper()
	var b bytes.Buffer
	if err := WritePerfetto(&b, tr); err != nil {
		t.Fatal(err)
	}
	var pt perfettopb.Trace
	if err := proto.Unmarshal(b.Bytes(), &pt); err != nil {
		t.Fatal(err)
	}
	return &pt
}

// TestExportCounters exports real recordings (QEMU under TCG, the minivmm
// on KVM) in both formats: each thread with page faults or VM exits has a
// counter of each, whose values count up by one at each such span's start
// and end at the number of spans.
func TestExportCounters(t *testing.T) {
	for _, file := range []string{"qemu-tcg.trace.gz", "minivmm-2vcpu.trace.gz"} {
		t.Run(file, func(t *testing.T) {
			tr := readFile(t, filepath.Join("..", "examples", "record", file))
			want := map[string]int64{}
			for _, track := range tr.Tracks {
				track.Walk(func(path []*trace.Span) bool {
					if c := trace.HostCounter(path[len(path)-1]); c != "" {
						want[c+" ("+track.Name+")"]++
					}
					return true
				})
			}
			if len(want) == 0 {
				t.Fatal("no page fault or VM exit in the recording")
			}
			// Trace Event JSON: "C" events, the last value of each series.
			var js bytes.Buffer
			if err := WriteChrome(&js, tr); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				TraceEvents []struct {
					Name string         `json:"name"`
					Ph   string         `json:"ph"`
					Args map[string]any `json:"args"`
				} `json:"traceEvents"`
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, e := range doc.TraceEvents {
				if e.Ph == "C" {
					n, _ := e.Args["count"].(float64)
					if int64(n) != got[e.Name]+1 {
						t.Fatalf("counter %q goes from %d to %v", e.Name, got[e.Name], e.Args["count"])
					}
					got[e.Name] = int64(n)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Trace Event JSON counters (-spans +export):\n%s", diff)
			}
			// Perfetto: counter tracks under the thread tracks.
			pt := perfettoOf(t, tr)
			names := map[uint64]string{}
			for _, p := range pt.Packet {
				if d := p.GetTrackDescriptor(); d != nil {
					names[d.GetUuid()] = d.GetThread().GetThreadName()
					if d.GetCounter() != nil {
						names[d.GetUuid()] = d.GetName() + " (" + names[d.GetParentUuid()] + ")"
					}
				}
			}
			got = map[string]int64{}
			for _, p := range pt.Packet {
				if e := p.GetTrackEvent(); e.GetType() == perfettopb.TrackEvent_TYPE_COUNTER {
					got[names[e.GetTrackUuid()]] = max(got[names[e.GetTrackUuid()]], e.GetCounterValue())
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Perfetto counters (-spans +export):\n%s", diff)
			}
		})
	}
}
