package analysis

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Diff compares two boots: their wall-clock budgets part by part, and the
// spans of their critical paths matched by path (phase; initcall; ...),
// never by position.
type Diff struct {
	Base  int64        `json:"base_total_ns"`
	New   int64        `json:"new_total_ns"`
	Parts []PartChange `json:"parts"`
	// Changes are the span paths whose time changed, the largest change
	// first; spans on one side only are "added" or "removed".
	Changes []Change `json:"changes"`
	Notes   []string `json:"notes,omitempty"`
	// paths keeps every path's self time on both sides, for the
	// differential folded output.
	paths []Change
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
}

// instance matches what differs between two boots of the same thing
// without meaning anything: thread and process ids in track names.
var instance = regexp.MustCompile(`\b(process|thread|pid) [0-9]+\b`)

func normalize(name string) string {
	return instance.ReplaceAllString(name, "$1 N")
}

// Compare diffs two boots, keeping the n largest changes (all with n < 0).
func Compare(base, next *trace.Trace, n int) *Diff {
	d := &Diff{}
	bb, okb := BudgetOf(base)
	nb, okn := BudgetOf(next)
	bv, nv := base, next
	if okb && okn {
		bv, nv = bb.Path, nb.Path
		d.Base, d.New = bb.Total, nb.Total
		d.Parts = diffParts(bb.Parts, nb.Parts)
	} else {
		d.Base, d.New = totalTime(base), totalTime(next)
		d.Notes = append(d.Notes, "one side has no clock (folded stacks): every track's time is compared, not a wall-clock budget")
	}
	bs, ns := pathStats(bv), pathStats(nv)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range bs {
			if !yield(k) {
				return
			}
		}
		for k := range ns {
			if _, dup := bs[k]; !dup && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		c := Change{Path: k, Status: "changed"}
		if s, ok := bs[k]; ok {
			c.Base, c.BaseSelf = s.total, s.self
		} else {
			c.Status = "added"
		}
		if s, ok := ns[k]; ok {
			c.New, c.NewSelf = s.total, s.self
		} else {
			c.Status = "removed"
		}
		d.paths = append(d.paths, c)
		if c.Base != c.New {
			d.Changes = append(d.Changes, c)
		}
	}
	slices.SortStableFunc(d.Changes, func(a, b Change) int {
		return cmp.Compare(abs(b.New-b.Base), abs(a.New-a.Base))
	})
	if n >= 0 && len(d.Changes) > n {
		d.Changes = d.Changes[:n]
	}
	if symbolized(bv) != symbolized(nv) {
		d.Notes = append(d.Notes, "one side has raw addresses (0xffff...) where the other has names: give both the same --system-map or --vmlinux")
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

func diffParts(base, next []Part) []PartChange {
	var out []PartChange
	idx := map[string]int{}
	for _, p := range base {
		idx[p.Name] = len(out)
		out = append(out, PartChange{Name: p.Name, Base: p.Duration})
	}
	for _, p := range next {
		if i, ok := idx[p.Name]; ok {
			out[i].New = p.Duration
		} else {
			out = append(out, PartChange{Name: p.Name, New: p.Duration})
		}
	}
	return out
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

// symbolized reports whether a trace names its functions: no frame is a
// raw kernel address.
func symbolized(t *trace.Trace) bool {
	raw := false
	for _, tr := range t.Tracks {
		tr.Walk(func(path []*trace.Span) bool {
			raw = raw || strings.HasPrefix(path[len(path)-1].Name, "0xffff")
			return !raw
		})
	}
	return !raw
}

// WriteText prints the diff as a table, the boot's total and its parts
// first.
func (d *Diff) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Boot: %s → %s (%s)\n", trace.FormatDuration(d.Base), trace.FormatDuration(d.New), change(d.Base, d.New))
	for _, p := range d.Parts {
		fmt.Fprintf(w, "  %-40s %12s → %12s  %s\n", p.Name, trace.FormatDuration(p.Base), trace.FormatDuration(p.New), change(p.Base, p.New))
	}
	fmt.Fprintf(w, "\nLargest changes (span paths of the critical path, by total time)\n%12s %12s %22s  %-8s %s\n", "BASE", "NEW", "CHANGE", "STATUS", "PATH")
	for _, c := range d.Changes {
		fmt.Fprintf(w, "%12s %12s %22s  %-8s %s\n", trace.FormatDuration(c.Base), trace.FormatDuration(c.New), change(c.Base, c.New), c.Status, c.Path)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
	return nil
}

func change(base, next int64) string {
	s := trace.FormatDuration(next - base)
	if next >= base {
		s = "+" + s
	}
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
