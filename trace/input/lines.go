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
	// limit, when positive, is how many bytes are read before reading
	// stops (the memory budget); read counts them, and cut says the
	// limit was reached.
	limit, read int64
	cut         bool
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
	if lr.limit > 0 && lr.read >= lr.limit {
		if _, err := lr.r.Peek(1); err == nil {
			lr.cut = true
		}
		return nil, false, io.EOF
	}
	b, err := lr.r.ReadSlice('\n')
	lr.read += int64(len(b))
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.line++
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = lr.r.ReadSlice('\n')
			lr.read += int64(len(b))
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
