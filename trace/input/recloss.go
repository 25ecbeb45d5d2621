package input

import (
	"fmt"
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// lossGap is where one CPU's event numbers skip: events lost between two
// moments.
type lossGap struct {
	cpu         uint16
	lost        uint32
	after, upto int64 // the events on either side (monotonic ns)
}

// losses locates lost probe events from the per-CPU numbers each event
// carries: on one CPU they count up by one, so a jump is a loss, between
// the two events around it. Numbers that come back (a probe that ran
// nested inside another on the same CPU reserves its place later) fill
// the gap they left.
type losses struct {
	last []eventAt // by CPU; seq 0: none yet
	gaps []lossGap
}

type eventAt struct {
	seq  uint32
	time int64
}

func (l *losses) add(e *tracefile.Event) {
	if e.Seq == 0 {
		return // a recording from before events were numbered
	}
	if int(e.CPU) >= len(l.last) {
		l.last = append(l.last, make([]eventAt, int(e.CPU)+1-len(l.last))...)
	}
	prev := l.last[e.CPU]
	switch {
	case prev.seq == 0:
		if e.Seq > 1 {
			l.gaps = append(l.gaps, lossGap{cpu: e.CPU, lost: e.Seq - 1, after: e.Time, upto: e.Time})
		}
	case e.Seq > prev.seq+1:
		l.gaps = append(l.gaps, lossGap{cpu: e.CPU, lost: e.Seq - prev.seq - 1, after: prev.time, upto: e.Time})
	case e.Seq <= prev.seq:
		for i := len(l.gaps) - 1; i >= 0; i-- {
			if g := &l.gaps[i]; g.cpu == e.CPU && g.lost > 0 {
				g.lost--
				break
			}
		}
		return
	}
	l.last[e.CPU] = eventAt{e.Seq, e.Time}
}

// total is the number of events located as lost.
func (l *losses) total() uint64 {
	var n uint64
	for _, g := range l.gaps {
		n += uint64(g.lost)
	}
	return n
}

// note says where events were lost, the largest gaps first, times from
// origin; lost is what the probes counted.
func (l *losses) note(lost uint64, origin int64) string {
	gaps := slices.DeleteFunc(slices.Clone(l.gaps), func(g lossGap) bool { return g.lost == 0 })
	if len(gaps) == 0 {
		if lost > 0 {
			return fmt.Sprintf("the %d lost events could not be located (a recording without event numbers)", lost)
		}
		return ""
	}
	slices.SortStableFunc(gaps, func(a, b lossGap) int { return int(b.lost) - int(a.lost) })
	var where []string
	for _, g := range gaps[:min(len(gaps), 3)] {
		where = append(where, fmt.Sprintf("%d on CPU %d between %s and %s", g.lost, g.cpu, trace.FormatDuration(g.after-origin), trace.FormatDuration(g.upto-origin)))
	}
	more := ""
	if len(gaps) > 3 {
		more = fmt.Sprintf(" and %d more gaps", len(gaps)-3)
	}
	return fmt.Sprintf("partial: %d events located as lost (gaps in the per-CPU event numbers; the probes counted %d): %s%s; spans across a gap may end early or be missing", l.total(), lost, strings.Join(where, ", "), more)
}
