package flame

import (
	"bufio"
	_ "embed"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// SVGOptions shape a flamegraph or flamechart.
type SVGOptions struct {
	Title string
	// Notes are printed under the title: how the input was read, what was
	// skipped, the clock alignment.
	Notes []string
	// Width in pixels; 1200 (flamegraph.pl's default) when zero.
	Width int
	// Unit of the values: "ns" for traces with a clock, "" for counts.
	Unit string
}

const (
	frameHeight = 16
	fontSize    = 12
	fontWidth   = 0.59 // of the font size, for Verdana-like fonts
	pad         = 10
	minWidthPx  = 0.1 // narrower frames are left out, as flamegraph.pl does
)

// rect is one frame to draw: x and w in value units, depth in rows.
type rect struct {
	name         string
	kind         trace.Kind
	fill         string // a colour of its own (differential graphs), else by kind
	extra        string // more for the tooltip
	depth        int
	x, w         int64
	self         int64
	tooltipStart bool // chart: tell the start time in the tooltip
}

// WriteFlamegraph writes an interactive SVG flamegraph of the trace's
// merged call tree: root at the bottom, siblings in name order, width =
// total time.
func WriteFlamegraph(w io.Writer, t *trace.Trace, opt SVGOptions) error {
	if opt.Width == 0 {
		opt.Width = 1200
	}
	total := t.End() - t.Start()
	if t.Merged && len(t.Tracks) == 1 {
		total = t.Tracks[0].Duration()
	}
	// The least total drawn: narrower frames are left out as they merge.
	least := func(total int64) int64 {
		if s := pxScale(opt.Width, total); s > 0 {
			return int64(minWidthPx / s)
		}
		return 0
	}
	var root *Node
	if t.Calls != nil {
		root = mergeCalls(t.Calls, least)
	} else {
		root = merge(t, least(total))
	}
	rects, maxDepth := graphRects(root, opt.Width, nil)
	return writeSVG(w, rects, maxDepth, root.Total, 0, false, opt)
}

// graphRects lays a merged tree out as a flamegraph; each, if set, gives a
// frame (with the path of names from the root's first child) its colour
// and tooltip.
func graphRects(root *Node, width int, each func(path []string, r *rect)) ([]rect, int) {
	scale := pxScale(width, root.Total)
	var rects []rect
	var path []string
	maxDepth := 0
	var walk func(n *Node, depth int, x int64)
	walk = func(n *Node, depth int, x int64) {
		if float64(n.Total)*scale < minWidthPx {
			return
		}
		if depth > 0 {
			path = append(path, n.Name)
			defer func() { path = path[:len(path)-1] }()
		}
		r := rect{name: n.Name, kind: n.Kind, depth: depth, x: x, w: n.Total, self: n.Self}
		if each != nil {
			each(path, &r)
		}
		rects = append(rects, r)
		maxDepth = max(maxDepth, depth)
		for _, c := range n.Children {
			walk(c, depth+1, x)
			x += c.Total
		}
	}
	walk(root, 0, 0)
	return rects, maxDepth
}

// WriteFlamechart writes an interactive SVG flamechart: x is time since the
// start of the trace, siblings in start order, each track in its own band.
func WriteFlamechart(w io.Writer, t *trace.Trace, opt SVGOptions) error {
	if opt.Width == 0 {
		opt.Width = 1200
	}
	origin, end := t.Start(), t.End()
	total := end - origin
	scale := pxScale(opt.Width, total)
	var rects []rect
	rows := chartRows(t, func(s *trace.Span, depth, row int) bool {
		if float64(s.Duration())*scale < minWidthPx && depth > 0 {
			return false
		}
		rects = append(rects, rect{name: s.Name, kind: s.Kind, depth: row, x: s.Start - origin, w: s.Duration(), self: s.Self(), tooltipStart: t.Timed})
		return true
	})
	return writeSVG(w, rects, rows-1, total, origin, true, opt)
}

// chartRows lays a trace's tracks out in time order, each track a band of
// rows below the one before, a span on the row of its depth; visit gets
// each span (depth 0: the track's root) and returning false leaves out
// what is under it. It returns how many rows the bands take.
func chartRows(t *trace.Trace, visit func(s *trace.Span, depth, row int) bool) int {
	base := 0
	for _, tr := range t.Tracks {
		deepest := 0
		tr.Walk(func(path []*trace.Span) bool {
			d := len(path) - 1
			if !visit(path[d], d, base+d) {
				return false
			}
			deepest = max(deepest, d)
			return true
		})
		base += deepest + 1
	}
	return base
}

func pxScale(width int, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return float64(width-2*pad) / float64(total)
}

//go:embed flame.js
var flameJS string

// writeSVG lays the frames out; topDown puts depth 0 at the top (charts)
// instead of the bottom (flamegraphs).
func writeSVG(w io.Writer, rects []rect, maxDepth int, total, origin int64, topDown bool, opt SVGOptions) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	width := opt.Width
	// The notes take one line, the first note; all of them are in its
	// tooltip.
	var notes []string
	maxChars := int(float64(opt.Width-2*pad) / (fontSize * fontWidth))
	if len(opt.Notes) > 0 {
		first := opt.Notes[0]
		if len(opt.Notes) > 1 {
			first += fmt.Sprintf(" (and %d more notes: hover here)", len(opt.Notes)-1)
		}
		notes = wrap(first, maxChars)[:1]
	}
	var kinds []trace.Kind
	if len(rects) > 0 && rects[0].fill == "" {
		kinds = usedKinds(rects)
	}
	headerLines := 2 + len(notes)
	if len(kinds) > 0 {
		headerLines++
	}
	top := pad + headerLines*(fontSize+6) + 8
	if topDown {
		top += fontSize + 8 // time axis
	}
	height := top + (maxDepth+1)*frameHeight + 2*pad + fontSize
	scale := pxScale(width, total)

	fmt.Fprintf(bw, `<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg" data-total="%d" data-unit="%s" data-topdown="%t">
<style>
text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; }
.f text { pointer-events: none; }
.f:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; }
.hide { display: none; }
#details, #matched { font-size: %dpx; }
.btn { cursor: pointer; fill: #333; }
</style>
<rect x="0" y="0" width="100%%" height="100%%" fill="#f8f8f8"/>
`, width, height, width, height, total, opt.Unit, topDown, fontSize, fontSize)
	y := pad + fontSize
	fmt.Fprintf(bw, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" style=\"font-size:%dpx\">%s</text>\n", width/2, y+2, fontSize+5, esc(opt.Title))
	y += fontSize + 10
	for _, n := range notes {
		fmt.Fprintf(bw, "<text id=\"notes\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\"><title>%s</title>%s</text>\n", width/2, y, esc(strings.Join(opt.Notes, "\n")), esc(n))
		y += fontSize + 6
	}
	if len(kinds) > 0 {
		writeLegend(bw, kinds, width, y)
		y += fontSize + 6
	}
	fmt.Fprintf(bw, "<text id=\"reset\" class=\"btn hide\" x=\"%d\" y=\"%d\">Reset zoom</text>\n", pad, pad+fontSize)
	fmt.Fprintf(bw, "<text id=\"search\" class=\"btn\" x=\"%d\" y=\"%d\" text-anchor=\"end\">Search</text>\n", width-pad, pad+fontSize)
	fmt.Fprintf(bw, "<text id=\"clear\" class=\"btn hide\" x=\"%d\" y=\"%d\" text-anchor=\"end\">Clear search</text>\n", width-pad-60, pad+fontSize)
	fmt.Fprintf(bw, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n", width-pad, height-pad)
	fmt.Fprintf(bw, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", pad, height-pad)
	if topDown {
		fmt.Fprintf(bw, "<g id=\"axis\" data-y=\"%d\">\n", top-6)
		writeAxis(bw, top-6, total, width, scale)
		bw.WriteString("</g>\n")
	}
	fmt.Fprintf(bw, "<g id=\"frames\" data-top=\"%d\" data-height=\"%d\">\n", top, height)
	var line []byte
	for _, r := range rects {
		x := float64(pad) + float64(r.x)*scale
		wpx := float64(r.w) * scale
		var ry int
		if topDown {
			ry = top + r.depth*frameHeight
		} else {
			ry = height - 2*pad - fontSize - (r.depth+1)*frameHeight
		}
		line = line[:0]
		line = append(line, `<g class="f" data-x="`...)
		line = strconv.AppendInt(line, r.x, 10)
		line = append(line, `" data-w="`...)
		line = strconv.AppendInt(line, r.w, 10)
		line = append(line, `" data-d="`...)
		line = strconv.AppendInt(line, int64(r.depth), 10)
		line = append(line, `"><title>`...)
		line = appendTooltip(line, r, total, origin, opt.Unit)
		line = append(line, `</title><rect x="`...)
		line = strconv.AppendFloat(line, x, 'f', 1, 64)
		line = append(line, `" y="`...)
		line = strconv.AppendInt(line, int64(ry), 10)
		line = append(line, `" width="`...)
		line = strconv.AppendFloat(line, wpx, 'f', 1, 64)
		line = append(line, `" height="`...)
		line = strconv.AppendInt(line, frameHeight-1, 10)
		line = append(line, `" fill="`...)
		if r.fill != "" {
			line = append(line, r.fill...)
		} else {
			line = appendColor(line, r.kind, r.name)
		}
		line = append(line, `" rx="2"/><text x="`...)
		line = strconv.AppendFloat(line, x+3, 'f', 1, 64)
		line = append(line, `" y="`...)
		line = strconv.AppendInt(line, int64(ry+frameHeight-4), 10)
		line = append(line, `">`...)
		line = appendEscaped(line, fitText(r.name, wpx))
		line = append(line, "</text></g>\n"...)
		bw.Write(line)
	}
	bw.WriteString("</g>\n<script><![CDATA[\n")
	bw.WriteString(flameJS)
	bw.WriteString("]]></script>\n</svg>\n")
	return bw.Flush()
}

// wrap breaks a note into lines of at most n characters, at spaces.
func wrap(s string, n int) []string {
	var lines []string
	for len([]rune(s)) > n && n > 10 {
		r := []rune(s)
		cut := n
		for cut > n/2 && r[cut] != ' ' {
			cut--
		}
		lines = append(lines, string(r[:cut]))
		s = strings.TrimLeft(string(r[cut:]), " ")
	}
	return append(lines, s)
}

// writeAxis draws time ticks at a round step.
func writeAxis(w io.Writer, y int, total int64, width int, scale float64) {
	if total <= 0 {
		return
	}
	step := niceStep(total / 10)
	for t := int64(0); t <= total; t += step {
		x := float64(pad) + float64(t)*scale
		fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/>", x, y-fontSize, x, y+4)
		fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%d\" fill=\"#555\">%s</text>\n", x+2, y, esc(axisLabel(t, step)))
	}
}

// axisLabel prints a tick in the largest unit that keeps every tick whole.
func axisLabel(t, step int64) string {
	for _, u := range []struct {
		ns   int64
		name string
	}{{1e9, "s"}, {1e6, "ms"}, {1e3, "µs"}} {
		if step%u.ns == 0 {
			return strconv.FormatInt(t/u.ns, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(t, 10) + " ns"
}

func niceStep(v int64) int64 {
	if v <= 0 {
		return 1
	}
	step := int64(1)
	for step*10 <= v {
		step *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if step*m >= v {
			return step * m
		}
	}
	return step * 10
}

func appendTooltip(b []byte, r rect, total, origin int64, unit string) []byte {
	b = appendEscaped(b, r.name)
	b = append(b, " ("...)
	if unit == "ns" {
		b = append(b, trace.FormatDuration(r.w)...)
	} else {
		b = strconv.AppendInt(b, r.w, 10)
	}
	if total > 0 {
		b = append(b, ", "...)
		b = strconv.AppendFloat(b, 100*float64(r.w)/float64(total), 'f', 2, 64)
		b = append(b, '%')
	}
	if r.self != r.w && unit == "ns" {
		b = append(b, ", self "...)
		b = append(b, trace.FormatDuration(r.self)...)
	}
	if r.tooltipStart {
		b = append(b, ", at "...)
		b = append(b, trace.FormatDuration(r.x)...)
	}
	b = appendEscaped(b, r.extra)
	return append(b, ')')
}

// fitText shortens a name to what fits in a frame of wpx pixels.
func fitText(name string, wpx float64) string {
	chars := int(wpx / (fontSize * fontWidth))
	if chars < 3 {
		return ""
	}
	if len(name) <= chars {
		return name
	}
	r := []rune(name)
	if len(r) <= chars {
		return name
	}
	return string(r[:chars-2]) + ".."
}

// palette gives each kind of span a hue range, so what a frame is shows
// at a glance (a legend names them); a hash of the name varies the shade
// within it, so a frame has the same colour in every graph.
var palette = map[trace.Kind][3][2]int{
	// kind: {red lo, span}, {green lo, span}, {blue lo, span}
	trace.KindTrack:    {{200, 30}, {200, 30}, {150, 30}},
	trace.KindPhase:    {{225, 30}, {170, 50}, {40, 40}},  // amber
	trace.KindLevel:    {{225, 30}, {190, 40}, {80, 40}},  // light amber
	trace.KindInitcall: {{215, 40}, {70, 90}, {20, 40}},   // warm red-orange
	trace.KindProbe:    {{170, 40}, {110, 40}, {60, 30}},  // brown
	trace.KindWait:     {{150, 50}, {90, 40}, {190, 50}},  // purple
	trace.KindLine:     {{190, 30}, {190, 30}, {190, 30}}, // grey
	trace.KindFrame:    {{230, 25}, {120, 60}, {30, 30}},  // orange
	trace.KindIoctl:    {{40, 40}, {160, 50}, {150, 40}},  // teal
	trace.KindHost:     {{70, 50}, {130, 50}, {200, 55}},  // blue
	trace.KindOffCPU:   {{130, 40}, {150, 30}, {170, 30}}, // blue-grey
	trace.KindSample:   {{90, 50}, {180, 50}, {70, 50}},   // green
	kindFault:          {{200, 40}, {60, 40}, {90, 40}},   // crimson
}

// kindFault colours the host's page faults apart from its other work (VM
// exits): a colour class of its own, not a kind of span.
const kindFault = trace.KindSample + 100

// colorClass is the palette entry of a frame.
func colorClass(kind trace.Kind, name string) trace.Kind {
	if trace.HostCounterOf(kind, name) == "page faults" {
		return kindFault
	}
	return kind
}

// className is a colour class's name in legends.
func className(k trace.Kind) string {
	if k == kindFault {
		return "page fault"
	}
	return k.String()
}

// kindOrder is the legend's order.
var kindOrder = []trace.Kind{trace.KindPhase, trace.KindLevel, trace.KindInitcall, trace.KindProbe, trace.KindFrame, trace.KindWait,
	trace.KindOffCPU, trace.KindSample, trace.KindLine, trace.KindIoctl, trace.KindHost, kindFault, trace.KindTrack}

// appendColor appends the frame's fill, rgb(r,g,b).
func appendColor(b []byte, kind trace.Kind, name string) []byte {
	// FNV-1a, as hash/fnv computes it, without its allocation per frame.
	v := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		v ^= uint32(name[i])
		v *= 16777619
	}
	p, ok := palette[colorClass(kind, name)]
	if !ok {
		p = palette[trace.KindFrame]
	}
	b = append(b, "rgb("...)
	for i := range 3 {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(p[i][0]+int((v>>(8*i))&0xff)%max(p[i][1], 1)), 10)
	}
	return append(b, ')')
}

// usedKinds lists the colour classes the frames have, in legend order.
func usedKinds(rects []rect) []trace.Kind {
	seen := map[trace.Kind]bool{}
	for _, r := range rects {
		seen[colorClass(r.kind, r.name)] = true
	}
	return legendOrder(seen)
}

// legendOrder lists the colour classes seen, in legend order.
func legendOrder(seen map[trace.Kind]bool) []trace.Kind {
	var ks []trace.Kind
	for _, k := range kindOrder {
		if seen[k] {
			ks = append(ks, k)
		}
	}
	return ks
}

// writeLegend draws a swatch in each kind's middle colour and its name.
func writeLegend(w *bufio.Writer, kinds []trace.Kind, width, y int) {
	const item = 92
	x := (width - len(kinds)*item) / 2
	w.WriteString("<g id=\"legend\">\n")
	for _, k := range kinds {
		fmt.Fprintf(w, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" fill=\"#555\">%s</text>\n",
			x, y-9, middleColor(k), x+14, y, className(k))
		x += item
	}
	w.WriteString("</g>\n")
}

// middleColor is the middle of a kind's colours, for legends.
func middleColor(k trace.Kind) string {
	p := palette[k]
	return fmt.Sprintf("rgb(%d,%d,%d)", p[0][0]+p[0][1]/2, p[1][0]+p[1][1]/2, p[2][0]+p[2][1]/2)
}

func esc(s string) string {
	return string(appendEscaped(nil, s))
}

func appendEscaped(b []byte, s string) []byte {
	// Most names need no escaping: printable ASCII without markup.
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		c := s[i]
		clean = c >= 0x20 && c < 0x7f && c != '&' && c != '<' && c != '>' && c != '"' && c != '\''
	}
	if clean {
		return append(b, s...)
	}
	var sb strings.Builder
	xml.EscapeText(&sb, []byte(s))
	return append(b, sb.String()...)
}
