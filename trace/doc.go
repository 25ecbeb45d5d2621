// Package trace is boottrace's model of a boot: tracks of nested, timed
// spans, the moments the input recorded (marks), notes on how it was read
// and the lines it skipped. It reads nothing and draws nothing: the
// readers are in trace/input, the views (flamegraphs, flamecharts, pprof
// profiles, summaries) in package flame.
package trace
