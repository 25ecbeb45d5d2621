package flame

import (
	"github.com/boottrace/boottrace/trace"
)

// timeline is every span of a trace for the report's canvas flamechart,
// in columns (one entry per span, in walk order) so that a trace of
// 100,000 spans is a few megabytes of JSON and the page draws only what
// is wide enough to see at the current zoom.
type timeline struct {
	Unit   string   `json:"unit"`
	Total  int64    `json:"total"`
	Names  []string `json:"names"`  // distinct span names
	Colors []string `json:"colors"` // per name: by the kind it first had
	Kinds  []string `json:"kinds"`  // per span kind number
	Tracks []string `json:"tracks"` // track names, by band
	Bands  []int32  `json:"bands"`  // first row of each track
	Start  []int64  `json:"start"`  // since the trace's start
	Dur    []int64  `json:"dur"`
	Row    []int32  `json:"row"`
	Name   []int32  `json:"name"`
	Kind   []int8   `json:"kind"`
	Rows   int32    `json:"rows"`
	// Legend is the kinds present, in the SVGs' legend order, each with
	// the middle of its colours.
	Legend []legendKey `json:"legend"`
}

type legendKey struct {
	Kind  string `json:"kind"`
	Color string `json:"color"`
}

// newTimeline lays a trace's tracks out as WriteFlamechart does: each
// track a band of rows, spans at their depth.
func newTimeline(t *trace.Trace) *timeline {
	tl := &timeline{Total: t.End() - t.Start()}
	if t.Timed {
		tl.Unit = "ns"
	}
	for k := trace.KindTrack; k <= trace.KindSample; k++ {
		tl.Kinds = append(tl.Kinds, k.String())
	}
	origin := t.Start()
	index := map[string]int32{}
	used := map[trace.Kind]bool{}
	tl.Rows = int32(chartRows(t, func(s *trace.Span, depth, row int) bool {
		if depth == 0 {
			tl.Tracks = append(tl.Tracks, s.Name)
			tl.Bands = append(tl.Bands, int32(row))
		}
		n, ok := index[s.Name]
		if !ok {
			n = int32(len(tl.Names))
			index[s.Name] = n
			tl.Names = append(tl.Names, s.Name)
			tl.Colors = append(tl.Colors, string(appendColor(nil, s.Kind, s.Name)))
		}
		tl.Start = append(tl.Start, s.Start-origin)
		tl.Dur = append(tl.Dur, max(s.Duration(), 0))
		tl.Row = append(tl.Row, int32(row))
		tl.Name = append(tl.Name, n)
		tl.Kind = append(tl.Kind, int8(s.Kind))
		used[colorClass(s.Kind, s.Name)] = true
		return true
	}))
	for _, k := range legendOrder(used) {
		tl.Legend = append(tl.Legend, legendKey{className(k), middleColor(k)})
	}
	return tl
}
