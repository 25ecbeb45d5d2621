package flame

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Totals gives a span path's total time on both sides of a diff ("root;a;b",
// as analysis.Diff names paths).
type Totals func(path string) (base, next int64, ok bool)

// WriteDiffFlamegraph writes a differential flamegraph, as flamegraph.pl's
// difffolded and inferno's diff do: the shape and widths of NEW (its
// critical path, one track), each frame coloured by its change against
// BASE — red slower, blue faster, the deeper the colour the larger the
// change — with both values in its tooltip.
func WriteDiffFlamegraph(w io.Writer, next *trace.Trace, totals Totals, opt SVGOptions) error {
	if opt.Width == 0 {
		opt.Width = 1200
	}
	root := Merge(next)
	rootName := ""
	if len(next.Tracks) == 1 {
		rootName = next.Tracks[0].Name
	}
	key := func(path []string) string {
		if len(next.Tracks) == 1 {
			return strings.Join(append([]string{rootName}, path...), ";")
		}
		return strings.Join(path, ";")
	}
	// The largest change sets the scale of the colours.
	var most float64
	graphRects(root, opt.Width, func(path []string, r *rect) {
		if b, n, ok := totals(key(path)); ok {
			most = math.Max(most, math.Abs(float64(n-b)))
		}
	})
	rects, maxDepth := graphRects(root, opt.Width, func(path []string, r *rect) {
		b, n, ok := totals(key(path))
		if !ok {
			r.fill = "rgb(235,235,235)"
			return
		}
		d := n - b
		r.fill = diffColor(float64(d), most)
		r.extra = fmt.Sprintf("; base %s, change %s", trace.FormatDuration(b), trace.FormatSigned(d))
	})
	opt.Notes = append([]string{"differential: the shape of NEW, red where it is slower than BASE, blue where faster"}, opt.Notes...)
	return writeSVG(w, rects, maxDepth, root.Total, 0, false, opt)
}

// diffColor is white for no change, deepening to red (slower) or blue
// (faster) with the change's share of the largest one.
func diffColor(d, most float64) string {
	if most <= 0 || d == 0 {
		return "rgb(240,240,240)"
	}
	i := math.Min(math.Abs(d)/most, 1)
	v := int(235 - 190*i)
	if d > 0 {
		return fmt.Sprintf("rgb(250,%d,%d)", v, v)
	}
	return fmt.Sprintf("rgb(%d,%d,250)", v, v)
}
