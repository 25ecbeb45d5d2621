package analysis

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Summary is what `boottrace summary` prints, in a form that marshals to
// JSON. Times are nanoseconds from the trace's origin.
type Summary struct {
	Format   string `json:"format"`
	Timed    bool   `json:"timed"`
	Start    int64  `json:"start_ns"`
	End      int64  `json:"end_ns"`
	Duration int64  `json:"duration_ns"`
	// Tracks and TrackTime: how many tracks run side by side and their
	// summed durations, the base of the shares when there are several.
	Tracks    int      `json:"tracks"`
	TrackTime int64    `json:"track_time_ns"`
	Phases    []Phase  `json:"phases"`
	TopSelf   []Entry  `json:"top_self"`
	TopTotal  []Entry  `json:"top_total"`
	Gaps      []Gap    `json:"longest_gaps"`
	Notes     []string `json:"notes,omitempty"`
	// Budget is the wall-clock budget and critical chain (timed input);
	// the top spans are those of its critical path.
	Budget  *Budget       `json:"budget,omitempty"`
	Skipped []SkipSummary `json:"skipped,omitempty"`
	// byTrack: phases are listed under their tracks, which run side by
	// side, so their durations do not add up to the boot.
	byTrack bool
}

// Phase is a boot phase (or an initcall level within one).
type Phase struct {
	Name     string `json:"name"`
	Depth    int    `json:"depth"`
	Start    int64  `json:"start_ns"`
	Duration int64  `json:"duration_ns"`
}

// Entry aggregates every span of one name.
type Entry struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	Time  int64  `json:"time_ns"`
}

// Gap is a stretch where the input recorded nothing.
type Gap struct {
	Start      int64  `json:"start_ns"`
	Duration   int64  `json:"duration_ns"`
	AfterLine  int    `json:"after_line"`
	After      string `json:"after"`
	BeforeLine int    `json:"before_line"`
	Before     string `json:"before"`
}

// SkipSummary reports input lines that were skipped, by reason.
type SkipSummary struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	Lines  []int  `json:"first_lines"`
}

// Summarize computes the summary, keeping the top n entries and gaps.
func Summarize(t *trace.Trace, n int) *Summary {
	s := &Summary{Format: t.Format, Timed: t.Timed, Start: t.Start(), End: t.End(), Notes: t.Notes}
	s.Duration = s.End - s.Start
	s.Tracks = len(t.Tracks)
	for _, tr := range t.Tracks {
		s.TrackTime += tr.Duration()
	}
	for _, r := range t.Skipped.Reasons {
		s.Skipped = append(s.Skipped, SkipSummary{r.Reason, r.Count, r.Lines})
	}
	// Phases of every track that has some; with several such tracks (a
	// recording: the VMM and the guest) each is listed under its track.
	for _, tr := range t.Tracks {
		if !t.Timed {
			break
		}
		var ps []Phase
		tr.Walk(func(path []*trace.Span) bool {
			sp := path[len(path)-1]
			if sp.Kind == trace.KindPhase || sp.Kind == trace.KindLevel {
				ps = append(ps, Phase{Name: sp.Name, Depth: len(path) - 2, Start: sp.Start, Duration: sp.Duration()})
			}
			return sp.Kind == trace.KindTrack || sp.Kind == trace.KindPhase || sp.Kind == trace.KindLevel
		})
		if len(ps) > 0 && len(t.Tracks) > 1 {
			s.byTrack = true
			for i := range ps {
				ps[i].Depth++
			}
			ps = append([]Phase{{Name: tr.Name, Start: tr.Start, Duration: tr.Duration()}}, ps...)
		}
		s.Phases = append(s.Phases, ps...)
	}
	// The top spans are those the boot waited on: its critical path.
	tops := t
	if b, ok := BudgetOf(t); ok {
		s.Budget = b
		tops = b.Path
	}
	type key struct {
		name string
		kind trace.Kind
	}
	self, total := map[key]*Entry{}, map[key]*Entry{}
	// onPath counts the spans of each name between the root and the one
	// visited: a recursive name's time is counted once, at its outermost
	// span.
	onPath := map[string]int{}
	var visit func(sp *trace.Span)
	visit = func(sp *trace.Span) {
		if sp.Kind != trace.KindTrack {
			k := key{sp.Name, sp.Kind}
			if self[k] == nil {
				self[k] = &Entry{Name: sp.Name, Kind: sp.Kind.String()}
				total[k] = &Entry{Name: sp.Name, Kind: sp.Kind.String()}
			}
			self[k].Count++
			self[k].Time += sp.Self()
			if onPath[sp.Name] == 0 {
				total[k].Count++
				total[k].Time += sp.Duration()
			}
		}
		onPath[sp.Name]++
		for _, c := range sp.Children {
			visit(c)
		}
		onPath[sp.Name]--
	}
	for _, tr := range tops.Tracks {
		onPath = map[string]int{}
		visit(tr.Span)
	}
	s.TopSelf = top(self, n, func(e *Entry) bool { return true })
	// Phases and levels would top the totals list without saying anything new.
	s.TopTotal = top(total, n, func(e *Entry) bool { return e.Kind != "phase" && e.Kind != "level" })
	s.Gaps = gaps(t.Marks, n)
	return s
}

func top[K comparable](m map[K]*Entry, n int, keep func(*Entry) bool) []Entry {
	var es []Entry
	for _, e := range m {
		if e.Time > 0 && keep(e) {
			es = append(es, *e)
		}
	}
	slices.SortFunc(es, func(a, b Entry) int {
		if c := cmp.Compare(b.Time, a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return es[:min(n, len(es))]
}

func gaps(marks []trace.Mark, n int) []Gap {
	var gs []Gap
	for i := 1; i < len(marks); i++ {
		a, b := marks[i-1], marks[i]
		if d := b.Time - a.Time; d > 0 {
			gs = append(gs, Gap{Start: a.Time, Duration: d, AfterLine: a.Line, After: a.Text, BeforeLine: b.Line, Before: b.Text})
		}
	}
	slices.SortStableFunc(gs, func(a, b Gap) int { return cmp.Compare(b.Duration, a.Duration) })
	return gs[:min(n, len(gs))]
}

// WriteJSON writes the summary as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes the summary for people, in the spirit of
// systemd-analyze: the phases, then where the time went.
func (s *Summary) WriteText(w io.Writer) error {
	val := trace.FormatDuration
	if !s.Timed {
		val = func(v int64) string { return fmt.Sprint(v) }
	}
	// Shares are of the boot's wall-clock time; without one (folded
	// stacks), of the summed time of the tracks side by side.
	base := s.Duration
	if s.Budget != nil {
		base = s.Budget.Total
	} else if s.Tracks > 1 {
		base = s.TrackTime
	}
	pct := func(v int64) string {
		if base <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(v)/float64(base))
	}
	if b := s.Budget; b != nil {
		fmt.Fprintln(w, b.Line())
		fmt.Fprintf(w, "Read from %s", s.Format)
		if s.Tracks > 1 {
			fmt.Fprintf(w, ": %d tracks side by side, %s of all their time (boottrace flame --all)", s.Tracks, val(s.TrackTime))
		}
		fmt.Fprintln(w)
		if len(b.Chain) > 0 {
			fmt.Fprintf(w, "\nCritical chain (what the boot waited on; @start +duration)\n")
			for _, l := range b.Chain {
				fmt.Fprintf(w, "%s%s @%s +%s\n", strings.Repeat("  ", l.Depth), l.Name, trace.FormatDuration(l.Start), trace.FormatDuration(l.Duration))
			}
		}
	} else {
		fmt.Fprintf(w, "Read from %s: %s", s.Format, val(s.Duration))
		if s.Tracks > 1 {
			fmt.Fprintf(w, "; %d tracks side by side, %s in all (the base of the shares)", s.Tracks, val(s.TrackTime))
		}
		fmt.Fprintln(w)
	}
	if len(s.Phases) > 0 {
		fmt.Fprintf(w, "\nPhases\n%12s %12s %6s  %s\n", "START", "DURATION", "SHARE", "PHASE")
		for _, p := range s.Phases {
			fmt.Fprintf(w, "%12s %12s %6s  %s%s\n", trace.FormatDuration(p.Start), val(p.Duration), pct(p.Duration), strings.Repeat("  ", p.Depth), p.Name)
		}
	}
	entries := func(title string, es []Entry) {
		fmt.Fprintf(w, "\n%s\n%12s %6s %6s  %-8s  %s\n", title, "TIME", "SHARE", "COUNT", "KIND", "NAME")
		for _, e := range es {
			fmt.Fprintf(w, "%12s %6s %6d  %-8s  %s\n", val(e.Time), pct(e.Time), e.Count, e.Kind, e.Name)
		}
	}
	entries(fmt.Sprintf("Top %d by self time", len(s.TopSelf)), s.TopSelf)
	entries(fmt.Sprintf("Top %d by total time (spans with their children)", len(s.TopTotal)), s.TopTotal)
	if len(s.Gaps) > 0 {
		fmt.Fprintf(w, "\nLongest gaps where the input records nothing\n%12s %12s  %-11s  %s\n", "AT", "GAP", "LINES", "LAST EVENT BEFORE THE GAP → FIRST EVENT AFTER IT")
		for _, g := range s.Gaps {
			fmt.Fprintf(w, "%12s %12s  %-11s  %s → %s\n", trace.FormatDuration(g.Start), val(g.Duration), fmt.Sprintf("%d-%d", g.AfterLine, g.BeforeLine), short(g.After), short(g.Before))
		}
	}
	if len(s.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes")
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	for _, sk := range s.Skipped {
		lines := make([]string, len(sk.Lines))
		for i, l := range sk.Lines {
			lines[i] = fmt.Sprint(l)
		}
		what := "lines"
		if len(lines) == 1 {
			what = "line"
		}
		fmt.Fprintf(w, "\nSkipped: %d × %s (%s %s)\n", sk.Count, sk.Reason, what, strings.Join(lines, ", "))
	}
	return nil
}

func short(s string) string {
	if r := []rune(s); len(r) > 48 {
		return string(r[:47]) + "…"
	}
	return s
}
