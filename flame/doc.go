// Package flame renders a trace's span tree in the formats people already
// open: folded stacks (flamegraph.pl, inferno, speedscope), interactive SVG
// flamegraphs and time-ordered flamecharts, and gzipped pprof profiles.
// Each is a pure function of the span tree (package trace).
package flame
