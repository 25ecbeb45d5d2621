package flame

import (
	"io"
	"sort"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/boottrace/boottrace/trace"
)

// Profile converts the span tree to a pprof profile: one sample per span
// with self time, its stack the path of span names (leaf first, as pprof
// stores it), value in wall-time nanoseconds (the default sample type),
// labelled with the track's source (kernel, guest or vmm; host for
// "[host]" spans), the track, the span's kind and, when known, its CPU
// ("go tool pprof -tagfocus kind=wait"). Folded input has no clock, so its
// samples count whatever unit the folded values had.
func Profile(t *trace.Trace) *profile.Profile { return ProfileViews(t) }

// ProfileViews is Profile of several views of one boot in one profile, a
// sample type each: the first is the default ("wall", as Profile), each
// further one "VIEW_wall" after its name (trace.Trace.Format is not a
// view; the caller names them: see AllTracks). Counted host events come
// from the last view, which should hold every track, so none counts twice.
func ProfileViews(t *trace.Trace, more ...View) *profile.Profile {
	views := append([]View{{Trace: t}}, more...)
	sampleType := &profile.ValueType{Type: "wall", Unit: "nanoseconds"}
	if !t.Timed {
		sampleType = &profile.ValueType{Type: "samples", Unit: "count"}
	}
	types := []*profile.ValueType{sampleType}
	for _, v := range more {
		types = append(types, &profile.ValueType{Type: v.Name + "_" + sampleType.Type, Unit: sampleType.Unit})
	}
	p := &profile.Profile{
		SampleType:    types,
		PeriodType:    sampleType,
		Period:        1,
		DurationNanos: max(t.End()-t.Start(), 0),
		Comments:      append([]string{"boottrace: " + t.Format}, t.Notes...),
		// Opened on time, not on the page-fault counts that follow it.
		DefaultSampleType: sampleType.Type,
	}
	if !t.Timed {
		p.DurationNanos = 0
	}
	type fkey struct {
		name, file string
		line       int
	}
	funcs := map[fkey]*profile.Location{}
	loc := func(s *trace.Span) *profile.Location {
		k := fkey{s.Name, s.File, s.Line}
		if l, ok := funcs[k]; ok {
			return l
		}
		// No system name: pprof would shorten one that looks like a C++
		// or Go symbol, and cut "[host] page fault (major)" or
		// "finish_task_switch.isra.0".
		fn := &profile.Function{ID: uint64(len(p.Function) + 1), Name: s.Name, Filename: s.File}
		p.Function = append(p.Function, fn)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn, Line: int64(s.Line)}}}
		p.Location = append(p.Location, l)
		funcs[k] = l
		return l
	}
	// Label maps are shared between the samples of a track and kind (pprof
	// only reads them), so a profile of many spans holds few maps.
	type labelKey struct {
		view, track int
		host        bool
		kind        trace.Kind
	}
	labelSets := map[labelKey]map[string][]string{}
	labelsOf := func(view, track int, tr trace.Track, kind trace.Kind) map[string][]string {
		k := labelKey{view, track, kind == trace.KindHost, kind}
		if l, ok := labelSets[k]; ok {
			return l
		}
		// Host work inside a VMM or guest span is the host's.
		l := map[string][]string{"source": {tr.Source}, "track": {tr.Name}, "kind": {kind.String()}}
		if k.host {
			l["source"] = []string{"host"}
		}
		labelSets[k] = l
		return l
	}
	// Counted host events (page faults) become extra sample types, so
	// "go tool pprof -sample_index=..." shows where they happened.
	var counts []string
	seen := map[string]bool{}
	last := len(views) - 1
	for _, tr := range views[last].Trace.Tracks {
		tr.Walk(func(path []*trace.Span) bool {
			for k := range path[len(path)-1].Counts {
				if !seen[k] {
					seen[k] = true
					counts = append(counts, k)
				}
			}
			return true
		})
	}
	sort.Strings(counts)
	for _, k := range counts {
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: strings.ReplaceAll(k, " ", "_"), Unit: "count"})
	}
	values := func(view int, s *trace.Span, self int64) []int64 {
		v := make([]int64, len(views)+len(counts))
		v[view] = self
		if view == last {
			for i, k := range counts {
				v[len(views)+i] = s.Counts[k]
			}
		}
		return v
	}
	for vi, view := range views {
		addSamples(p, view.Trace, vi, vi == last, loc, labelsOf, values)
	}
	return p
}

// View is a view of a boot to put in a profile beside another.
type View struct {
	Name  string
	Trace *trace.Trace
}

// AllTracks names the view of every track ("boottrace pprof --all"), the
// sample type "all_tracks_wall" beside the critical path's "wall".
const AllTracks = "all_tracks"

func addSamples(p *profile.Profile, t *trace.Trace, view int, withCounts bool, loc func(*trace.Span) *profile.Location,
	labelsOf func(view, track int, tr trace.Track, kind trace.Kind) map[string][]string,
	values func(view int, s *trace.Span, self int64) []int64) {
	for ti, tr := range t.Tracks {
		var num map[string][]int64
		if tr.CPU >= 0 {
			num = map[string][]int64{"cpu": {int64(tr.CPU)}}
		}
		skipRoot := len(t.Tracks) == 1
		tr.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			self := s.Self()
			if self <= 0 && (len(s.Counts) == 0 || !withCounts) {
				return true
			}
			if skipRoot {
				path = path[1:]
				if len(path) == 0 {
					return true
				}
			}
			locs := make([]*profile.Location, len(path))
			for i, ps := range path {
				locs[len(path)-1-i] = loc(ps)
			}
			p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: values(view, s, max(self, 0)), Label: labelsOf(view, ti, tr, s.Kind), NumLabel: num})
			return true
		})
	}
}

// WritePprof writes the trace as a gzipped pprof profile.
func WritePprof(w io.Writer, t *trace.Trace) error {
	return Profile(t).Write(w)
}
