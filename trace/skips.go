package trace

import (
	"fmt"
	"strings"
)

// MaxLinesPerReason bounds how many example line numbers a reason keeps.
const MaxLinesPerReason = 5

// Skips counts input lines a reader could not use, by reason, keeping the
// first few line numbers of each so a user can look at them.
type Skips struct {
	Total   int
	Reasons []SkipReason
}

// SkipReason is one reason lines were skipped.
type SkipReason struct {
	Reason string
	Count  int
	Lines  []int
}

// Add records that line (1-based) was skipped for reason.
func (s *Skips) Add(reason string, line int) {
	s.Total++
	for i := range s.Reasons {
		r := &s.Reasons[i]
		if r.Reason == reason {
			r.Count++
			if len(r.Lines) < MaxLinesPerReason {
				r.Lines = append(r.Lines, line)
			}
			return
		}
	}
	s.Reasons = append(s.Reasons, SkipReason{Reason: reason, Count: 1, Lines: []int{line}})
}

// String is a one-line-per-reason report for stderr.
func (s Skips) String() string {
	var b strings.Builder
	for _, r := range s.Reasons {
		ls := make([]string, len(r.Lines))
		for i, l := range r.Lines {
			ls[i] = fmt.Sprint(l)
		}
		more := ""
		if r.Count > len(r.Lines) {
			more = ", ..."
		}
		fmt.Fprintf(&b, "  %d %s (line %s%s)\n", r.Count, r.Reason, strings.Join(ls, ", "), more)
	}
	return b.String()
}
