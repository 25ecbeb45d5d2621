package analysis

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Diff compares two boots: their wall-clock budgets part by part, and the
// spans of their critical paths matched by path (phase; initcall; ...),
// never by position.
type Diff struct {
	// Runs are how many boots each side has; with several, Base and New
	// are medians and Total says whether the change is significant.
	Runs  [2]int       `json:"runs"`
	Base  int64        `json:"base_total_ns"`
	New   int64        `json:"new_total_ns"`
	Total *Shift       `json:"total_shift,omitempty"`
	Parts []PartChange `json:"parts"`
	// Changes are the span paths whose time changed, the largest change
	// first; spans on one side only are "added" or "removed".
	Changes []Change `json:"changes"`
	Notes   []string `json:"notes,omitempty"`
	// paths keeps every path on both sides, for the differential folded
	// output and flamegraph.
	paths  []Change
	byPath map[string]int
}

// PartChange is one part of the budget on both sides.
type PartChange struct {
	Name string `json:"name"`
	Base int64  `json:"base_ns"`
	New  int64  `json:"new_ns"`
}

// Change is one span path on both sides: total time (with what is under
// it) and self time, summed over the spans of that path.
type Change struct {
	Path     string `json:"path"`
	Base     int64  `json:"base_ns"`
	New      int64  `json:"new_ns"`
	BaseSelf int64  `json:"base_self_ns"`
	NewSelf  int64  `json:"new_self_ns"`
	Status   string `json:"status"` // "changed", "added" or "removed"
	// With several runs a side: medians above, the shift of the totals,
	// and in how many runs the path was present.
	Shift     *Shift `json:"shift,omitempty"`
	SelfShift *Shift `json:"self_shift,omitempty"`
	BaseRuns  int    `json:"base_runs,omitempty"`
	NewRuns   int    `json:"new_runs,omitempty"`
}

// instance matches what differs between two boots of the same thing
// without meaning anything: thread and process ids in track names.
var instance = regexp.MustCompile(`\b(process|thread|pid) [0-9]+\b`)

func normalize(name string) string {
	return instance.ReplaceAllString(name, "$1 N")
}

// Compare diffs two boots, keeping the n largest changes (all with n < 0).
func Compare(base, next *trace.Trace, n int) *Diff {
	return CompareRuns([]*trace.Trace{base}, []*trace.Trace{next}, n)
}

// side is one group of runs, reduced to what is compared.
type side struct {
	totals []float64
	parts  map[string][]float64
	paths  []map[string]*stat
	clock  bool
	raw    bool
}

func sideOf(runs []*trace.Trace) side {
	sd := side{parts: map[string][]float64{}, clock: true}
	var order []string
	for i, t := range runs {
		view := t
		if b, ok := BudgetOf(t); ok {
			view = b.Path
			sd.totals = append(sd.totals, float64(b.Total))
			for _, p := range b.Parts {
				if _, seen := sd.parts[p.Name]; !seen {
					order = append(order, p.Name)
				}
				for len(sd.parts[p.Name]) < i {
					sd.parts[p.Name] = append(sd.parts[p.Name], 0)
				}
				sd.parts[p.Name] = append(sd.parts[p.Name], float64(p.Duration))
			}
		} else {
			sd.clock = false
			sd.totals = append(sd.totals, float64(totalTime(t)))
		}
		sd.paths = append(sd.paths, pathStats(view))
		sd.raw = sd.raw || view.HasRawAddresses()
	}
	for _, name := range order {
		for len(sd.parts[name]) < len(runs) {
			sd.parts[name] = append(sd.parts[name], 0)
		}
	}
	return sd
}

// values is a path's totals and self times over a side's runs (0 where it
// is absent), and in how many runs it is present.
func (sd side) values(path string) (totals, selfs []float64, present int) {
	for _, m := range sd.paths {
		if st, ok := m[path]; ok {
			present++
			totals, selfs = append(totals, float64(st.total)), append(selfs, float64(st.self))
		} else {
			totals, selfs = append(totals, 0), append(selfs, 0)
		}
	}
	return totals, selfs, present
}

func med(v []float64) int64 {
	s := slices.Sorted(slices.Values(v))
	return int64(math.Round(median(s)))
}

// CompareRuns diffs two groups of boots: medians, and with more than one
// run a side, the Hodges–Lehmann shift of each path with a Mann–Whitney
// test, so that noise is told from a real change.
func CompareRuns(base, next []*trace.Trace, n int) *Diff {
	bs, ns := sideOf(base), sideOf(next)
	multi := len(base) > 1 || len(next) > 1
	d := &Diff{Runs: [2]int{len(base), len(next)}, Base: med(bs.totals), New: med(ns.totals)}
	if multi {
		sh := Compare2(bs.totals, ns.totals)
		d.Total = &sh
	}
	if !bs.clock || !ns.clock {
		d.Notes = append(d.Notes, "one side has no clock (folded stacks): every track's time is compared, not a wall-clock budget")
	} else {
		for _, name := range slices.Sorted(maps.Keys(bs.parts)) {
			if _, ok := ns.parts[name]; !ok {
				d.Parts = append(d.Parts, PartChange{Name: name, Base: med(bs.parts[name])})
			}
		}
		var names []string
		for name := range ns.parts {
			names = append(names, name)
		}
		for _, name := range slices.Sorted(slices.Values(names)) {
			pc := PartChange{Name: name, New: med(ns.parts[name])}
			if v, ok := bs.parts[name]; ok {
				pc.Base = med(v)
			}
			d.Parts = append(d.Parts, pc)
		}
		slices.SortStableFunc(d.Parts, func(a, b PartChange) int { return cmp.Compare(max(b.Base, b.New), max(a.Base, a.New)) })
	}
	keys := map[string]bool{}
	for _, sd := range []side{bs, ns} {
		for _, m := range sd.paths {
			for k := range m {
				keys[k] = true
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		bt, bself, bp := bs.values(k)
		nt, nself, np := ns.values(k)
		c := Change{Path: k, Status: "changed", Base: med(bt), New: med(nt), BaseSelf: med(bself), NewSelf: med(nself)}
		switch {
		case bp == 0:
			c.Status = "added"
		case np == 0:
			c.Status = "removed"
		}
		if multi {
			sh, self := Compare2(bt, nt), Compare2(bself, nself)
			c.Shift, c.SelfShift, c.BaseRuns, c.NewRuns = &sh, &self, bp, np
		}
		d.paths = append(d.paths, c)
		if c.Base != c.New || c.BaseSelf != c.NewSelf || (c.Shift != nil && c.Shift.Estimate != 0) {
			d.Changes = append(d.Changes, c)
		}
	}
	// The largest change in a span's own time first: an ancestor's total
	// grows with every change under it, and would list the same change
	// once per level.
	size := func(c Change) float64 {
		if c.SelfShift != nil {
			return math.Abs(c.SelfShift.Estimate)
		}
		return float64(abs(c.NewSelf - c.BaseSelf))
	}
	// Significant changes first (with several runs), then by size.
	sig := func(c Change) int {
		if c.SelfShift != nil && (c.SelfShift.Significant() || c.Shift.Significant()) {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(d.Changes, func(a, b Change) int {
		if c := cmp.Compare(sig(b), sig(a)); c != 0 {
			return c
		}
		return cmp.Compare(size(b), size(a))
	})
	if n >= 0 && len(d.Changes) > n {
		d.Changes = d.Changes[:n]
	}
	if bs.raw != ns.raw {
		d.Notes = append(d.Notes, "one side has raw addresses (0xffff...) where the other has names: give both the same --system-map or --vmlinux")
	}
	if multi {
		d.Notes = append(d.Notes, fmt.Sprintf("changes: medians of %d and %d runs; shift = Hodges–Lehmann estimate with its 95%% interval, p from the Mann–Whitney U test; significant (*) when p < %.2f, listed first; with hundreds of spans compared, about 5%% of unchanged ones show as significant by chance: trust a change that is large, or seen again", len(base), len(next), Alpha))
	}
	return d
}

func abs(v int64) int64 { return max(v, -v) }

func totalTime(t *trace.Trace) int64 {
	var s int64
	for _, tr := range t.Tracks {
		s += tr.Duration()
	}
	return s
}

type stat struct{ total, self int64 }

// pathStats sums each span path's total and self time. A path's total
// counts a recursive path once (a span inside one of the same path adds
// its self time only).
func pathStats(t *trace.Trace) map[string]*stat {
	m := map[string]*stat{}
	for _, tr := range t.Tracks {
		var names []string
		var visit func(s *trace.Span)
		visit = func(s *trace.Span) {
			names = append(names, normalize(s.Name))
			k := strings.Join(names, ";")
			st := m[k]
			if st == nil {
				st = &stat{}
				m[k] = st
			}
			st.total += s.Duration()
			st.self += s.Self()
			for _, c := range s.Children {
				visit(c)
			}
			names = names[:len(names)-1]
		}
		visit(tr.Span)
	}
	return m
}

// WriteText prints the diff as a table, the boot's total and its parts
// first.
func (d *Diff) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Boot: %s → %s (%s)", trace.FormatDuration(d.Base), trace.FormatDuration(d.New), change(d.Base, d.New))
	if d.Total != nil {
		fmt.Fprintf(w, "; medians of %d → %d runs; shift %s", d.Runs[0], d.Runs[1], shiftText(*d.Total))
	}
	fmt.Fprintln(w)
	for _, p := range d.Parts {
		fmt.Fprintf(w, "  %-40s %12s → %12s  %s\n", p.Name, trace.FormatDuration(p.Base), trace.FormatDuration(p.New), change(p.Base, p.New))
	}
	fmt.Fprintf(w, "\nLargest changes (span paths of the critical path, by the change in their own time; times are totals)\n")
	if d.Total != nil {
		fmt.Fprintf(w, "%12s %12s %-44s %6s  %-8s %s\n", "BASE", "NEW", "SHIFT [95% INTERVAL]", "RUNS", "STATUS", "PATH")
		for _, c := range d.Changes {
			fmt.Fprintf(w, "%12s %12s %-44s %6s  %-8s %s\n", trace.FormatDuration(c.Base), trace.FormatDuration(c.New), shiftText(*c.Shift), fmt.Sprintf("%d/%d", c.BaseRuns, c.NewRuns), c.Status, c.Path)
		}
	} else {
		fmt.Fprintf(w, "%12s %12s %22s  %-8s %s\n", "BASE", "NEW", "CHANGE", "STATUS", "PATH")
		for _, c := range d.Changes {
			fmt.Fprintf(w, "%12s %12s %22s  %-8s %s\n", trace.FormatDuration(c.Base), trace.FormatDuration(c.New), change(c.Base, c.New), c.Status, c.Path)
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
	return nil
}

// shiftText is a shift with its interval, starred when significant.
func shiftText(s Shift) string {
	f := func(v float64) string { return trace.FormatSigned(int64(math.Round(v))) }
	t := fmt.Sprintf("%s [%s, %s] p=%.3f", f(s.Estimate), f(s.Low), f(s.High), s.P)
	if s.Significant() {
		t += " *"
	}
	return t
}

func change(base, next int64) string {
	s := trace.FormatSigned(next - base)
	if base > 0 {
		s += fmt.Sprintf(", %+.1f%%", 100*float64(next-base)/float64(base))
	}
	return s
}

// WriteJSON writes the diff as indented JSON.
func (d *Diff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// WriteFolded writes flamegraph.pl's differential format, "stack BASE NEW"
// per path with self time on either side, in nanoseconds; flamegraph.pl
// draws NEW's shape coloured by the change.
func (d *Diff) WriteFolded(w io.Writer) error {
	for _, c := range d.paths {
		if c.BaseSelf == 0 && c.NewSelf == 0 {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s %d %d\n", c.Path, c.BaseSelf, c.NewSelf); err != nil {
			return err
		}
	}
	return nil
}

// Totals returns a span path's total time on both sides (medians with
// several runs), for a differential flamegraph.
func (d *Diff) Totals(path string) (base, next int64, ok bool) {
	if d.byPath == nil {
		d.byPath = make(map[string]int, len(d.paths))
		for i, c := range d.paths {
			d.byPath[c.Path] = i
		}
	}
	i, ok := d.byPath[path]
	if !ok {
		return 0, 0, false
	}
	return d.paths[i].Base, d.paths[i].New, true
}

// Shape is what a differential flamegraph draws: NEW's critical path (its
// first run's), or the trace itself without a clock.
func Shape(next *trace.Trace) *trace.Trace {
	if b, ok := BudgetOf(next); ok {
		return b.Path
	}
	return next
}
