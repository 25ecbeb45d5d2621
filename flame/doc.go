// Package flame renders a trace's span tree in the formats people already
// open: folded stacks (flamegraph.pl, inferno, speedscope), interactive SVG
// flamegraphs and time-ordered flamecharts, gzipped pprof profiles, and a
// plain-text or JSON summary.
package flame
