package analysis

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Limit is how much a boot may regress: a share of the base ("5%") or a
// time ("2ms").
type Limit struct {
	Fraction float64 // 0.05 for 5%
	Duration int64   // nanoseconds
}

// ParseLimit reads "5%" or a duration ("2ms", "500us", "1.5s").
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 {
			return Limit{}, fmt.Errorf("limit %q: want a percentage such as 5%% or a time such as 2ms", s)
		}
		return Limit{Fraction: v / 100}, nil
	}
	for _, u := range []struct {
		suffix string
		ns     float64
	}{{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}} {
		if p, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(p, 64)
			if err == nil && v >= 0 {
				return Limit{Duration: int64(v * u.ns)}, nil
			}
		}
	}
	return Limit{}, fmt.Errorf("limit %q: want a percentage such as 5%% or a time such as 2ms", s)
}

func (l Limit) allows(base, increase float64) bool {
	if l.Fraction > 0 || l.Duration == 0 {
		return increase <= l.Fraction*base
	}
	return increase <= float64(l.Duration)
}

// Regression is a part of the boot that got slower beyond the limit.
type Regression struct {
	Path  string `json:"path"`
	Base  int64  `json:"base_ns"`
	Shift int64  `json:"shift_ns"`
}

// Regressions lists what regressed beyond the limit: the boot's total,
// and with several runs a side every span path whose shift is significant
// (a share limit applies to the span's own base time, or to the boot's for
// a span new in NEW). With one run a side only the total is judged: a
// span's change between two single boots is mostly noise.
func (d *Diff) Regressions(l Limit) []Regression {
	var out []Regression
	check := func(path string, base, ref int64, raw int64, s *Shift) {
		inc := float64(raw)
		if s != nil {
			if !s.Significant() {
				return
			}
			inc = s.Estimate
		}
		if inc > 0 && !l.allows(float64(ref), inc) {
			out = append(out, Regression{Path: path, Base: base, Shift: int64(inc)})
		}
	}
	check("boot total", d.Base, d.Base, d.New-d.Base, d.Total)
	if d.Total == nil {
		return out
	}
	for _, c := range d.paths {
		if !strings.Contains(c.Path, ";") {
			continue // a track's root: the total, again
		}
		ref := c.Base
		if ref == 0 {
			ref = d.Base
		}
		check(c.Path, c.Base, ref, c.New-c.Base, c.Shift)
	}
	return out
}

// WriteJUnit writes the gate's verdict as JUnit XML, which CI systems
// show: one test case for the boot's total and one per regressed span.
func WriteJUnit(w io.Writer, limit string, regs []Regression) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		ClassName string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "boottrace diff --max-regression " + limit}
	total := testcase{Name: "boot total", ClassName: "boottrace"}
	var cases []testcase
	for _, r := range regs {
		f := &failure{Message: fmt.Sprintf("%s slower (from %s), beyond %s", trace.FormatDuration(r.Shift), trace.FormatDuration(r.Base), limit), Text: r.Path}
		if r.Path == "boot total" {
			total.Failure = f
			continue
		}
		cases = append(cases, testcase{Name: r.Path, ClassName: "boottrace.span", Failure: f})
	}
	s.Cases = append([]testcase{total}, cases...)
	s.Tests, s.Failures = len(s.Cases), len(regs)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
