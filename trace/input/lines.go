package input

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// MaxLineLen is the longest input line a reader looks at; longer lines are
// skipped whole so memory stays bounded on hostile input.
const MaxLineLen = tracefile.MaxLineLen

// lineReader yields lines without their newline, numbering them from 1. It
// never holds more than MaxLineLen bytes of a line.
type lineReader struct {
	r    *bufio.Reader
	line int
}

func newLineReader(r io.Reader) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < MaxLineLen {
		br = bufio.NewReaderSize(r, MaxLineLen)
	}
	return &lineReader{r: br}
}

// next returns the next line; tooLong reports a line that was discarded for
// its length. At the end of input it returns io.EOF; a last line without a
// newline is still returned first.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	b, err := lr.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.line++
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = lr.r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, true, err
		}
		return nil, true, nil
	}
	if len(b) == 0 && err != nil {
		return nil, false, err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	lr.line++
	b = bytes.TrimRight(b, "\r\n")
	return b, false, nil
}

// each calls fn with every line that is not too long, counting the ones
// that are in skipped. It stops at the end of input, or at a read error,
// which it returns with the line number.
func (lr *lineReader) each(skipped *trace.Skips, fn func(line []byte)) error {
	for {
		b, tooLong, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", lr.line+1, err)
		}
		if tooLong {
			skipped.Add(skipTooLong, lr.line)
			continue
		}
		fn(b)
	}
}

// consoleLines adapts fn to a LineSplitter, counting lines too long to
// keep in skipped.
func consoleLines(ls *tracefile.LineSplitter, skipped *trace.Skips, fn func(line []byte)) func([]byte, bool) {
	return func(line []byte, tooLong bool) {
		if tooLong {
			skipped.Add(skipTooLong, ls.Line())
			return
		}
		fn(line)
	}
}
