package analysis

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/boottrace/boottrace/trace"
)

// Runs summarizes several boots of one thing: the spread of the boot's
// time and of each span's, which runs stand out, and which spans are not
// in every run.
type Runs struct {
	Names  []string `json:"runs"`
	Totals []int64  `json:"totals_ns"`
	Total  Spread   `json:"total"`
	// Outliers are runs whose boot time is more than 3 median absolute
	// deviations from the median.
	Outliers []Outlier    `json:"outliers,omitempty"`
	Spans    []SpanSpread `json:"spans"`
}

// Spread is the distribution of one value over the runs.
type Spread struct {
	Min    int64 `json:"min_ns"`
	Median int64 `json:"median_ns"`
	P90    int64 `json:"p90_ns"`
	Max    int64 `json:"max_ns"`
}

// Outlier is a run that stands out, and by how much.
type Outlier struct {
	Run  string `json:"run"`
	Why  string `json:"why"`
	Time int64  `json:"total_ns"`
}

// SpanSpread is a span path over the runs (0 where it is absent).
type SpanSpread struct {
	Path    string `json:"path"`
	Present int    `json:"present"`
	Spread
}

// SummarizeRuns summarizes the runs' critical paths, keeping the n spans
// with the largest median total time.
func SummarizeRuns(names []string, runs []*trace.Trace, n int) *Runs {
	sd := sideOf(runs)
	r := &Runs{Names: names}
	for _, v := range sd.totals {
		r.Totals = append(r.Totals, int64(v))
	}
	r.Total = spreadOf(sd.totals)
	// Median absolute deviation: robust to the outliers it finds.
	med := float64(r.Total.Median)
	var dev []float64
	for _, v := range sd.totals {
		dev = append(dev, math.Abs(v-med))
	}
	slices.Sort(dev)
	mad := median(dev)
	for i, v := range sd.totals {
		if len(runs) >= 3 && mad > 0 && math.Abs(v-med) > 3*mad {
			r.Outliers = append(r.Outliers, Outlier{Run: names[i], Time: int64(v),
				Why: fmt.Sprintf("boot time %s from the median, over 3 median absolute deviations (%s)", trace.FormatSigned(int64(v-med)), trace.FormatDuration(int64(mad)))})
		}
	}
	keys := map[string]bool{}
	for _, m := range sd.paths {
		for k := range m {
			keys[k] = true
		}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		totals, _, present := sd.values(k)
		r.Spans = append(r.Spans, SpanSpread{Path: k, Present: present, Spread: spreadOf(totals)})
	}
	slices.SortStableFunc(r.Spans, func(a, b SpanSpread) int { return cmp.Compare(b.Median, a.Median) })
	if n >= 0 && len(r.Spans) > n {
		r.Spans = r.Spans[:n]
	}
	return r
}

// spreadOf is min, median, 90th percentile (nearest rank) and max.
func spreadOf(v []float64) Spread {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return Spread{}
	}
	rank := int(math.Ceil(0.9*float64(len(s)))) - 1
	return Spread{Min: int64(s[0]), Median: int64(math.Round(median(s))), P90: int64(s[max(rank, 0)]), Max: int64(s[len(s)-1])}
}

// WriteText prints the runs' spread, the outliers and the spans.
func (r *Runs) WriteText(w io.Writer) error {
	t := r.Total
	fmt.Fprintf(w, "%d runs: boot median %s (min %s, p90 %s, max %s; spread %s)\n", len(r.Totals),
		trace.FormatDuration(t.Median), trace.FormatDuration(t.Min), trace.FormatDuration(t.P90), trace.FormatDuration(t.Max), trace.FormatDuration(t.Max-t.Min))
	for i, name := range r.Names {
		fmt.Fprintf(w, "  %-40s %12s\n", name, trace.FormatDuration(r.Totals[i]))
	}
	for _, o := range r.Outliers {
		fmt.Fprintf(w, "Outlier: %s: %s\n", o.Run, o.Why)
	}
	fmt.Fprintf(w, "\nSpans of the critical path over the runs (total time)\n%12s %12s %12s %12s %7s  %s\n", "MIN", "MEDIAN", "P90", "MAX", "RUNS", "PATH")
	for _, s := range r.Spans {
		flag := ""
		if s.Present < len(r.Totals) {
			flag = " (not in every run)"
		}
		fmt.Fprintf(w, "%12s %12s %12s %12s %7s  %s%s\n", trace.FormatDuration(s.Min), trace.FormatDuration(s.Median), trace.FormatDuration(s.P90), trace.FormatDuration(s.Max),
			fmt.Sprintf("%d/%d", s.Present, len(r.Totals)), s.Path, flag)
	}
	return nil
}

// WriteJSON writes the runs' summary as indented JSON.
func (r *Runs) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
