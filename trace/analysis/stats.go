package analysis

import (
	"math"
	"slices"
)

// Shift compares two groups of measurements without assuming the noise is
// normal: the Hodges–Lehmann estimate of how much NEW is above BASE (the
// median of all pairwise differences), its confidence interval, and the
// two-sided p-value of the Mann–Whitney U test (exact for small groups
// without ties, by the normal approximation with a tie correction
// otherwise).
type Shift struct {
	Estimate float64 `json:"estimate"`
	Low      float64 `json:"ci_low"`
	High     float64 `json:"ci_high"`
	P        float64 `json:"p"`
	// Floor is the smallest shift that counts (MinEffect of BASE's
	// median, at least MinEffectNs).
	Floor float64 `json:"floor"`
}

// Alpha is the significance level: a change is significant when its
// p-value is below it (and its 95% interval then excludes 0).
const Alpha = 0.05

// MinEffect and MinEffectNs are the effect-size floor: a shift smaller
// than 1% of BASE's median, or than 10 µs, is never called significant,
// however small its p-value. Without it an A/A comparison (the same boot
// on both sides) flags one span in twenty by chance, and boots that are
// nearly deterministic (QEMU -icount) make nanosecond differences
// "significant".
const (
	MinEffect   = 0.01
	MinEffectNs = 10e3
)

// Significant reports whether the shift is unlikely to be noise and large
// enough to matter.
func (s Shift) Significant() bool { return s.P < Alpha && math.Abs(s.Estimate) >= s.Floor }

// Compare2 computes the shift of next against base; both need at least
// one value.
func Compare2(base, next []float64) Shift {
	n1, n2 := len(base), len(next)
	diffs := make([]float64, 0, n1*n2)
	for _, b := range base {
		for _, x := range next {
			diffs = append(diffs, x-b)
		}
	}
	slices.Sort(diffs)
	s := Shift{Estimate: median(diffs), P: mannWhitneyP(base, next)}
	sortedBase := slices.Sorted(slices.Values(base))
	s.Floor = max(MinEffect*math.Abs(median(sortedBase)), MinEffectNs)
	// The interval's ends are order statistics of the differences: k from
	// the U distribution's lower critical value (normal approximation).
	m := float64(n1 * n2)
	k := int(math.Floor(m/2 - 1.959964*math.Sqrt(m*float64(n1+n2+1)/12)))
	if k < 0 {
		k = 0
	}
	if k >= len(diffs) {
		k = len(diffs) - 1
	}
	s.Low, s.High = diffs[k], diffs[len(diffs)-1-k]
	return s
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// mannWhitneyP is the two-sided p-value of the Mann–Whitney U test.
func mannWhitneyP(a, b []float64) float64 {
	n1, n2 := len(a), len(b)
	type v struct {
		x   float64
		grp int
	}
	all := make([]v, 0, n1+n2)
	for _, x := range a {
		all = append(all, v{x, 0})
	}
	for _, x := range b {
		all = append(all, v{x, 1})
	}
	slices.SortFunc(all, func(p, q v) int {
		switch {
		case p.x < q.x:
			return -1
		case p.x > q.x:
			return 1
		}
		return 0
	})
	// Ranks, ties sharing their mean rank.
	var r1, tie float64
	ties := false
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].x == all[i].x {
			j++
		}
		rank := float64(i+j+1) / 2
		t := float64(j - i)
		if t > 1 {
			ties = true
			tie += t*t*t - t
		}
		for k := i; k < j; k++ {
			if all[k].grp == 0 {
				r1 += rank
			}
		}
		i = j
	}
	u1 := r1 - float64(n1*(n1+1))/2
	u := math.Min(u1, float64(n1*n2)-u1)
	if !ties && n1*n2 <= 400 {
		return exactP(n1, n2, u)
	}
	n := float64(n1 + n2)
	mu := float64(n1*n2) / 2
	sigma := math.Sqrt(float64(n1*n2) / 12 * ((n + 1) - tie/(n*(n-1))))
	if sigma == 0 {
		return 1
	}
	z := (mu - u - 0.5) / sigma // continuity correction
	return math.Min(1, math.Erfc(max(z, 0)/math.Sqrt2))
}

// exactP is P(U <= u) × 2 under the null hypothesis, from the count of
// rank arrangements giving each U.
func exactP(n1, n2 int, u float64) float64 {
	// counts[i][j][k]: arrangements of i and j values with U = k, built
	// with the recurrence f(i, j, k) = f(i-1, j, k-j) + f(i, j-1, k).
	maxU := n1 * n2
	prev := make([][]float64, n2+1)
	for j := range prev {
		prev[j] = make([]float64, maxU+1)
		prev[j][0] = 1 // i = 0
	}
	for i := 1; i <= n1; i++ {
		cur := make([][]float64, n2+1)
		for j := 0; j <= n2; j++ {
			cur[j] = make([]float64, maxU+1)
			for k := 0; k <= maxU; k++ {
				if k-j >= 0 {
					cur[j][k] += prev[j][k-j]
				}
				if j > 0 {
					cur[j][k] += cur[j-1][k]
				}
			}
		}
		prev = cur
	}
	counts := prev[n2]
	var total, below float64
	for k, c := range counts {
		total += c
		if float64(k) <= u {
			below += c
		}
	}
	return math.Min(1, 2*below/total)
}
