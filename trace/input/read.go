package input

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// Formats lists the names --format takes, in detection order.
var Formats = []string{FormatRecording, FormatBootTrace, FormatKernelLog, FormatFolded}

// detectWindow is how much of the input detection looks at: the first
// line whole, however long a line may be.
const detectWindow = MaxLineLen

// ReadFile reads the file at path with Read.
func ReadFile(path string, opt ReadOptions) (*trace.Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, opt)
}

// Read detects the input's format from its content (or takes
// opt.Format) and reads it, gunzipping it first if it is gzipped. On
// ErrNoData the returned trace still carries Skipped, to say why.
func Read(r io.Reader, opt ReadOptions) (*trace.Trace, error) {
	u, gz, err := uncompressed(r)
	if err != nil {
		return nil, err
	}
	return read(newLineReader(u), gz, opt)
}

func read(lr *lineReader, gz *gzipTail, opt ReadOptions) (*trace.Trace, error) {
	if opt.Format != "" && !slices.Contains(Formats, opt.Format) {
		return nil, fmt.Errorf("unknown format %q (one of %q)", opt.Format, Formats)
	}
	var err error
	format := opt.Format
	if format == "" {
		head, _ := lr.r.Peek(detectWindow)
		format = detect(head)
	}
	budget := maxMemory(opt)
	if perByte := memoryPerByte[format]; budget > 0 && perByte > 0 {
		lr.limit = budget / perByte
	}
	var t *trace.Trace
	switch format {
	case FormatRecording:
		t, err = readRecording(lr, opt)
	case FormatFolded:
		t, err = readFolded(lr, opt)
	case FormatBootTrace:
		t, err = readBootTrace(lr, opt)
	default:
		t, err = readKernelLog(lr, opt)
	}
	if t == nil {
		return nil, err
	}
	if lr.cut {
		t.Notes = append(t.Notes, cutNote(lr.r, format, budget, lr.line, lr.read, fmt.Sprintf("views may need up to %d bytes of memory per byte of it", memoryPerByte[format])))
	}
	if n := t.LimitDepth(); n > 0 {
		t.Notes = append(t.Notes, depthNote(n))
	}
	// Notes quote the input (a recording's stop reason, the VMM's exit, a
	// probe's error): they are printed, so they are cleaned.
	for i, n := range t.Notes {
		t.Notes[i] = trace.CleanText(n)
	}
	if gz != nil && gz.err != nil {
		t.Notes = append(t.Notes, fmt.Sprintf("partial: the gzip stream ends badly after %d bytes (%v); what came before is shown", gz.n, gz.err))
		if errors.Is(err, ErrNoData) && (len(t.Tracks) > 0) {
			err = nil
		}
	}
	return t, err
}

// depthNote says that n spans were cut by trace.MaxDepth.
func depthNote(n int) string {
	return fmt.Sprintf("partial: %d spans nested deeper than %d levels are folded into their ancestor at that depth (its self time holds theirs)", n, trace.MaxDepth)
}

// uncompressed returns what r holds, gunzipped if it is gzipped (trace
// files and logs are often kept compressed). A gzip stream cut short or
// followed by garbage ends the input where it went bad: gz says where.
func uncompressed(r io.Reader) (io.Reader, *gzipTail, error) {
	br := bufio.NewReaderSize(r, MaxLineLen)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		g := &gzipTail{r: zr}
		return g, g, nil
	}
	return br, nil, nil
}

// Uncompressed returns what r holds, gunzipped if it is gzipped.
func Uncompressed(r io.Reader) (io.Reader, error) {
	u, _, err := uncompressed(r)
	return u, err
}

// gzipTail reads a gzip stream, turning a bad end into the end of input.
type gzipTail struct {
	r   io.Reader
	n   int64
	err error
}

func (g *gzipTail) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, io.EOF
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	if err != nil && err != io.EOF {
		g.err = err
		err = io.EOF
	}
	return n, err
}

// detect names the format of the input's first bytes. A recording starts
// with its header; a BOOT_TRACE flush shows as soon as one of its lines
// parses; a kernel log wins as soon as one line carries a printk
// timestamp; folded stacks need every looked-at line that has content to
// look like a stack with a count.
func detect(head []byte) string {
	first, _, _ := bytes.Cut(head, []byte("\n"))
	if tracefile.IsHeader(first) {
		return FormatRecording
	}
	folded, other := 0, 0
	log := false
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil // maybe cut by the window: look no further
			if _, _, ok := splitFolded(line); ok && other == 0 && folded > 0 {
				break
			}
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if l, found, err := bootline.Parse(line); found && err == nil && (l.Header != nil || l.Record != nil) {
			return FormatBootTrace
		}
		if _, _, _, ok := parseLogPrefix(line); ok {
			log = true
			continue
		}
		if _, _, ok := splitFolded(line); ok {
			folded++
		} else {
			other++
		}
	}
	if !log && folded > 0 && folded >= other {
		return FormatFolded
	}
	return FormatKernelLog
}

// Describe is the error message for an input nothing could be read from.
func Describe(name string, t *trace.Trace, err error) string {
	msg := fmt.Sprintf("%s: %v", trace.CleanText(name), err)
	if t != nil && t.Skipped.Total > 0 {
		msg += fmt.Sprintf("\nskipped %d lines:\n%s", t.Skipped.Total, t.Skipped.String())
	}
	return msg + "\nboottrace reads serial console or dmesg logs with printk timestamps (\"[    0.123456] message\"), BOOT_TRACE flushes, trace files of \"boottrace record\" and folded stacks (\"frame;frame;frame 123\"); --input-format forces one"
}
