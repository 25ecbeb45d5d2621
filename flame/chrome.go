package flame

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/boottrace/boottrace/trace"
)

// chromeEvent is one event of the Trace Event format that Perfetto's UI,
// chrome://tracing and speedscope read.
type chromeEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   json.Number    `json:"ts"`
	Dur  json.Number    `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// micros writes nanoseconds as microseconds with the nanoseconds kept as
// decimals, the format's unit.
func micros(ns int64) json.Number {
	neg := ns < 0
	if neg {
		ns = -ns
	}
	s := strconv.FormatInt(ns/1000, 10)
	if r := ns % 1000; r != 0 {
		s += "." + strconv.FormatInt(1000+r, 10)[1:]
	}
	if neg {
		s = "-" + s
	}
	return json.Number(s)
}

// WriteChrome writes the trace in the Trace Event JSON format: a process
// per source (kernel, guest, vmm), a thread per track with its name, a
// complete event ("X") per span with its kind, file:line and counts,
// counters ("C") of each thread's page faults and VM exits, and
// the notes (clock method and bound among them) in the metadata. It is
// written as it goes: memory does not grow with the events.
func WriteChrome(w io.Writer, t *trace.Trace) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	first := true
	emit := func(e chromeEvent) {
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		b, _ := json.Marshal(e)
		bw.Write(b)
	}
	bw.WriteString(`{"displayTimeUnit":"ns","otherData":`)
	meta := map[string]any{"boottrace": t.Format, "notes": t.Notes}
	if err := enc.Encode(meta); err != nil {
		return err
	}
	bw.WriteString(`,"traceEvents":[` + "\n")
	pids := map[string]int{}
	for ti, tr := range t.Tracks {
		pid, ok := pids[tr.Source]
		if !ok {
			pid = len(pids) + 1
			pids[tr.Source] = pid
			emit(chromeEvent{Name: "process_name", Ph: "M", Pid: pid, Ts: "0", Args: map[string]any{"name": tr.Source}})
		}
		tid := ti + 1
		emit(chromeEvent{Name: "thread_name", Ph: "M", Pid: pid, Tid: tid, Ts: "0", Args: map[string]any{"name": tr.Name}})
		var visit func(s *trace.Span)
		visit = func(s *trace.Span) {
			e := chromeEvent{Name: s.Name, Cat: s.Kind.String(), Ph: "X", Ts: micros(s.Start), Dur: micros(max(s.Duration(), 0)), Pid: pid, Tid: tid}
			if s.File != "" || len(s.Counts) > 0 || s.Unfinished {
				e.Args = map[string]any{}
				if s.File != "" {
					e.Args["source"] = s.File + ":" + strconv.Itoa(s.Line)
				}
				for k, v := range s.Counts {
					e.Args[k] = v
				}
				if s.Unfinished {
					e.Args["unfinished"] = true
				}
			}
			emit(e)
			for _, c := range s.Children {
				visit(c)
			}
		}
		visit(tr.Span)
		// Page faults and VM exits as counters: running counts on the
		// thread's process, one series per thread.
		counters := tr.HostCounters()
		for _, name := range slices.Sorted(maps.Keys(counters)) {
			for _, p := range counters[name] {
				emit(chromeEvent{Name: name + " (" + tr.Name + ")", Ph: "C", Ts: micros(p.Time), Pid: pid, Tid: tid, Args: map[string]any{"count": p.Value}})
			}
		}
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}
