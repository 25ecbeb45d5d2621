package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineLen is the longest input line a reader looks at; longer lines are
// skipped whole so memory stays bounded on hostile input.
const MaxLineLen = 256 << 10

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
func (lr *lineReader) each(skipped *Skips, fn func(line []byte)) error {
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

// lineSplitter is lineReader for input that arrives in pieces (the
// recorded console): it cuts lines across pieces, numbering them from 1,
// and never holds more than MaxLineLen bytes of a line.
type lineSplitter struct {
	buf     []byte
	line    int
	tooLong bool
}

// write takes the next piece and calls fn with every line it completes.
func (ls *lineSplitter) write(p []byte, skipped *Skips, fn func(line []byte)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		part := p
		if i >= 0 {
			part = p[:i]
		}
		if !ls.tooLong && len(ls.buf)+len(part) > MaxLineLen {
			ls.tooLong, ls.buf = true, ls.buf[:0]
		}
		if !ls.tooLong {
			ls.buf = append(ls.buf, part...)
		}
		if i < 0 {
			return
		}
		ls.end(skipped, fn)
		p = p[i+1:]
	}
}

// flush ends a last line that has no newline.
func (ls *lineSplitter) flush(skipped *Skips, fn func(line []byte)) {
	if len(ls.buf) > 0 || ls.tooLong {
		ls.end(skipped, fn)
	}
}

func (ls *lineSplitter) end(skipped *Skips, fn func(line []byte)) {
	ls.line++
	if ls.tooLong {
		skipped.Add(skipTooLong, ls.line)
	} else {
		fn(bytes.TrimRight(ls.buf, "\r"))
	}
	ls.buf, ls.tooLong = ls.buf[:0], false
}
