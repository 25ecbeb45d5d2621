package tracefile

import "bytes"

// MaxLineLen is the longest console line kept whole; longer lines are
// dropped, so memory stays bounded on hostile guest output. The readers of
// logs use the same limit.
const MaxLineLen = 256 << 10

// LineSplitter cuts a recorded console, which arrives in pieces, into
// lines, numbering them from 1. The recorder and the reader of a trace
// file both use it, so they see the same lines.
type LineSplitter struct {
	buf     []byte
	line    int
	tooLong bool
}

// Line is the number of the last line passed on.
func (ls *LineSplitter) Line() int { return ls.line }

// Write takes the next piece and calls fn with every line it completes,
// without its newline or a trailing carriage return; a line over
// MaxLineLen is passed as nil with tooLong set.
func (ls *LineSplitter) Write(p []byte, fn func(line []byte, tooLong bool)) {
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
		ls.end(fn)
		p = p[i+1:]
	}
}

// Flush ends a last line that has no newline.
func (ls *LineSplitter) Flush(fn func(line []byte, tooLong bool)) {
	if len(ls.buf) > 0 || ls.tooLong {
		ls.end(fn)
	}
}

func (ls *LineSplitter) end(fn func(line []byte, tooLong bool)) {
	ls.line++
	if ls.tooLong {
		fn(nil, true)
	} else {
		fn(bytes.TrimRight(ls.buf, "\r"), false)
	}
	ls.buf, ls.tooLong = ls.buf[:0], false
}
