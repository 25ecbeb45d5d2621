package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/boottrace/boottrace/examples"
	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// LoadOptions say how to load what a command names.
type LoadOptions struct {
	// Vmlinux and SystemMap are symbol files given by the user; without
	// them the input's own are used: the embedded example's, or those a
	// recording names.
	Vmlinux, SystemMap string
	// Format forces a format (one of Formats).
	Format string
	// Stdin is read for the name "-".
	Stdin io.Reader
	// Log is told which input and symbols are used, and what was skipped.
	Log io.Writer
	// CallTree and MaxMemory are those of ReadOptions.
	CallTree  bool
	MaxMemory int64
}

// Load reads the input a command names: a path, "-" for standard input,
// or "" for the example embedded in boottrace. It chooses the symbols
// (see LoadOptions), reports skipped lines on opt.Log, and turns an input
// with nothing usable into an error that says what boottrace reads.
func Load(name string, opt LoadOptions) (*trace.Trace, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	var r io.Reader
	display := name
	var syms *symbolize.Table
	switch name {
	case "":
		ex := examples.Default()
		display, r = ex.Name, bytes.NewReader(ex.Log)
		fmt.Fprintf(opt.Log, "boottrace: no INPUT given; reading the embedded example %s\n", ex.Name)
		if opt.Vmlinux == "" && opt.SystemMap == "" {
			t, err := symbolize.ReadSystemMapGz(bytes.NewReader(ex.SystemMap))
			if err != nil {
				return nil, fmt.Errorf("embedded example symbols: %w", err)
			}
			syms = t
		}
	case "-":
		display, r = "stdin", opt.Stdin
	default:
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open input: %w", err)
		}
		defer f.Close()
		r = f
	}
	u, gz, err := uncompressed(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", trace.CleanText(display), err)
	}
	lr := newLineReader(u)
	vmlinux, systemMap := opt.Vmlinux, opt.SystemMap
	if syms == nil && vmlinux == "" && systemMap == "" {
		vmlinux, systemMap = recordedSymbols(lr, display, opt.Log)
	}
	if syms == nil {
		t, closeFn, err := symbolize.Open(vmlinux, systemMap)
		if err != nil {
			return nil, err
		}
		defer closeFn()
		syms = t
	}
	t, err := read(lr, gz, ReadOptions{Symbols: syms, Format: opt.Format, CallTree: opt.CallTree, MaxMemory: opt.MaxMemory})
	if errors.Is(err, ErrNoData) {
		return nil, errors.New(Describe(display, t, err))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", trace.CleanText(display), err)
	}
	if t.Skipped.Total > 0 {
		fmt.Fprintf(opt.Log, "boottrace: %s: read as %s; skipped %d lines:\n%s", trace.CleanText(display), t.Format, t.Skipped.Total, t.Skipped.String())
	}
	if syms.Len() == 0 && t.HasRawAddresses() {
		fmt.Fprintf(opt.Log, "boottrace: %s names kernel functions by address: pass --system-map (the System.map of the kernel that booted, as its build left it) or --vmlinux to name them\n", trace.CleanText(display))
	}
	return t, nil
}

// recordedSymbols returns the symbol files a trace file's header names
// ("boottrace record --system-map" keeps them there), if they are regular
// files that can still be read. The header is untrusted: its paths are
// shown cleaned, and a device or FIFO (/dev/stdin, /dev/urandom) is never
// opened.
func recordedSymbols(lr *lineReader, name string, log io.Writer) (vmlinux, systemMap string) {
	head, _ := lr.r.Peek(detectWindow)
	first, _, _ := bytes.Cut(head, []byte("\n"))
	if !tracefile.IsHeader(first) {
		return "", ""
	}
	h, err := tracefile.ParseHeader(first)
	if err != nil || h.Vmlinux == "" && h.SystemMap == "" {
		return "", ""
	}
	for _, p := range []string{h.Vmlinux, h.SystemMap} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			fmt.Fprintf(log, "boottrace: %s was recorded with the symbols %s, which cannot be used (%v): pass --vmlinux or --system-map\n",
				trace.CleanText(name), trace.CleanText(p), trace.CleanText(err.Error()))
			return "", ""
		}
	}
	fmt.Fprintf(log, "boottrace: using the guest symbols the recording names: %s\n", trace.CleanText(strings.TrimSpace(h.Vmlinux+" "+h.SystemMap)))
	return h.Vmlinux, h.SystemMap
}
