package flame

import (
	"bytes"
	_ "embed"
	"html/template"
	"io"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/analysis"
)

//go:embed report.html
var reportHTML string

//go:embed timeline.js
var timelineJS string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{"dur": trace.FormatDuration}).Parse(reportHTML))

// ReportInput is one boot of a report.
type ReportInput struct {
	Name  string
	Trace *trace.Trace
}

// WriteReport writes one self-contained HTML page (no network request, no
// other file) with the boot's budget and critical chain, its flamegraph
// (an SVG in a frame of its own) and flamechart (every span, drawn on a
// canvas: zoom, search, tooltips), the top spans
// as sortable tables, the longest gaps and the notes; with several
// inputs, one section each and their diff against the first. Every name
// comes from untrusted input: html/template makes it text, never markup.
func WriteReport(w io.Writer, title string, inputs []ReportInput) error {
	type section struct {
		Name     string
		Summary  *analysis.Summary
		Graph    string
		Timeline *timeline
		Diff     string
		Budget   string
	}
	var secs []section
	for i, in := range inputs {
		view := in.Trace
		s := analysis.Summarize(in.Trace, 25)
		sec := section{Name: in.Name, Summary: s}
		if s.Budget != nil {
			view = s.Budget.Path
			sec.Budget = s.Budget.Line()
		}
		opt := SVGOptions{Title: in.Name, Notes: in.Trace.Notes}
		if in.Trace.Timed {
			opt.Unit = "ns"
		}
		var g bytes.Buffer
		if err := WriteFlamegraph(&g, view, opt); err != nil {
			return err
		}
		sec.Graph, sec.Timeline = g.String(), newTimeline(in.Trace)
		if i > 0 {
			var d bytes.Buffer
			if err := analysis.Compare(inputs[0].Trace, in.Trace, 25).WriteText(&d); err != nil {
				return err
			}
			sec.Diff = d.String()
		}
		secs = append(secs, sec)
	}
	return reportTmpl.Execute(w, struct {
		Title      string
		Sections   []section
		TimelineJS template.JS
	}{title, secs, template.JS(timelineJS)})
}
