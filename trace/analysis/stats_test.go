package analysis

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/input"
)

// TestCompare2 checks the statistics against values worked out by hand
// (in milliseconds, as nanoseconds).
func TestCompare2(t *testing.T) {
	ms := func(v ...float64) []float64 {
		for i := range v {
			v[i] *= 1e6
		}
		return v
	}
	// Every NEW above every BASE: U = 0. With 5 and 5 values, the exact
	// two-sided p is 2/C(10,5) = 2/252; the 25 differences run from 6 to
	// 14 ms with median 10 ms (the Hodges–Lehmann estimate).
	base := ms(10, 11, 12, 13, 14)
	next := ms(20, 21, 22, 23, 24)
	s := Compare2(base, next)
	if math.Abs(s.P-2.0/252) > 1e-12 || s.Estimate != 10e6 {
		t.Errorf("shifted groups: %+v, want p = 2/252 and estimate 10 ms", s)
	}
	// The 95% interval from the normal approximation: k = floor(12.5 -
	// 1.96 × sqrt(25 × 11 / 12)) = floor(3.117) = 3: the 4th smallest and
	// 4th largest differences, 8 and 12 ms.
	if s.Low != 8e6 || s.High != 12e6 || !s.Significant() {
		t.Errorf("interval [%v, %v], significant %v; want [8e6, 12e6], true", s.Low, s.High, s.Significant())
	}
	// The same values on both sides: no shift.
	s = Compare2(base, base)
	if s.Estimate != 0 || s.Significant() || s.P != 1 {
		t.Errorf("A/A: %+v, want estimate 0, p 1", s)
	}
	// Interleaved values: U = 12 of 25 -> not significant.
	s = Compare2(ms(1, 3, 5, 7, 9), ms(2, 4, 6, 8, 10))
	if s.Significant() || s.Estimate != 1e6 {
		t.Errorf("interleaved: %+v, want estimate 1 ms, not significant", s)
	}
	// Ties use the normal approximation: still clearly significant here.
	s = Compare2(ms(1, 1, 2, 2, 2, 3), ms(5, 5, 6, 6, 7, 7))
	if !s.Significant() {
		t.Errorf("tied shifted groups: %+v, want significant", s)
	}
	// Below the effect-size floor (1% of BASE's median, 120.02 µs here): a
	// shift of 105 µs with p = 2/252 is not a change; 135 µs is.
	base = ms(12, 12.001, 12.002, 12.003, 12.004)
	for shift, want := range map[float64]bool{0.100: false, 0.130: true} {
		next := make([]float64, len(base))
		for i, b := range base {
			next[i] = b + shift*1e6 + 0.005e6
		}
		if s := Compare2(base, next); s.Significant() != want || math.Abs(s.Floor-120.02e3) > 1e-6 {
			t.Errorf("shift of %v ms more than the spread: %+v, significant %v, want %v with a floor of 120 µs", shift, s, s.Significant(), want)
		}
	}
	// And at least 10 µs, however short the span.
	if s := Compare2([]float64{1000, 1001, 1002}, []float64{9000, 9001, 9002}); s.Significant() || s.Floor != MinEffectNs {
		t.Errorf("an 8 µs shift of a 1 µs span: %+v, want not significant, floor 10 µs", s)
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]Limit{"5%": {Fraction: 0.05}, "2ms": {Duration: 2e6}, "1.5s": {Duration: 1.5e9}, "500us": {Duration: 500e3}} {
		if got, err := ParseLimit(in); err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-5%", "5"} {
		if _, err := ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) succeeded", bad)
		}
	}
}

// TestSummarizeRuns checks the spread of five runs, one of them far off,
// against values worked out by hand.
func TestSummarizeRuns(t *testing.T) {
	var runs []*trace.Trace
	var names []string
	for _, ms := range []int{10, 11, 12, 13, 50} {
		log := fmt.Sprintf("[    0.000000] Linux version 6.1.0\n[    0.%06d] Run /init as init process\n", ms*1000)
		tr, err := input.Read(strings.NewReader(log), input.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		runs, names = append(runs, tr), append(names, fmt.Sprintf("run-%d", ms))
	}
	r := SummarizeRuns(names, runs, -1)
	// p90 by nearest rank: the ceil(0.9 × 5) = 5th value.
	if want := (Spread{Min: 10e6, Median: 12e6, P90: 50e6, Max: 50e6}); r.Total != want {
		t.Errorf("spread %+v, want %+v", r.Total, want)
	}
	// Median 12 ms, absolute deviations 2, 1, 0, 1, 38: MAD 1 ms; only
	// the 50 ms run is over 3 MADs off.
	if len(r.Outliers) != 1 || r.Outliers[0].Run != "run-50" {
		t.Errorf("outliers %+v, want run-50 alone", r.Outliers)
	}
}
