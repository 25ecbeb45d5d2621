// Package trace is boottrace's model of a boot: tracks of nested, timed
// spans, plus the readers that build that model from what users have — a
// serial console or dmesg log, or folded stacks — detected from content.
//
// The span tree is the truth; flamegraphs, flamecharts, pprof profiles and
// summaries (package flame) are views of it.
package trace
