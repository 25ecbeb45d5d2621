package input

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"

	"github.com/boottrace/boottrace/trace"
)

// Folded input is read in three stages so that all cores work on it: one
// goroutine cuts the input into blocks of whole lines, workers parse each
// block into the changes every line makes to the path of the line before
// it, and the tree is built from those changes, block after block in input
// order (so siblings keep their first-seen order and the result is the
// same on any number of cores). Only the tree's lookups are sequential.

// foldBlockSize is how much input a block holds; it is more than
// MaxLineLen, so a block without a newline is a line too long to keep.
const foldBlockSize = 1 << 20

const skipNotFolded = "lines that are not \"frame;frame VALUE\""

// foldBlock is a run of whole lines and, once a worker has parsed it, what
// each line adds to the tree.
type foldBlock struct {
	data    []byte
	tooLong bool  // the block stands for one line too long to keep
	err     error // the read error that ended the input after data
	// Parsed by a worker:
	lines  int      // lines in data
	ops    []foldOp // one per folded line
	frames []int32  // start and end in data of each op's new frames
	skips  []foldSkip
	done   chan struct{}
}

// foldOp is one line: keep the first shared frames of the previous line's
// path, then descend through nframes new frames and add value to the leaf.
type foldOp struct {
	shared, nframes int32
	line, start     int32 // in the block: line from 0, and its offset
	value           int64
}

type foldSkip struct {
	line   int // in the block, from 0
	reason string
}

// foldRead is what reading folded stacks found besides the tree.
type foldRead struct {
	deeper int // nodes deeper than trace.MaxDepth
	// cutAfter is the last line read when the budget stopped reading
	// (0: it did not); rest counts what was left.
	cutAfter             int
	restLines, restBytes int64
}

// readCallTree adds the lines of lr to c, counting skipped lines, until c
// has maxNodes nodes (0: no limit).
func readCallTree(c *trace.CallTree, lr *lineReader, skipped *trace.Skips, maxNodes int) (res foldRead, err error) {
	// Blocks in flight are memory the budget does not see: a few suffice.
	workers := min(runtime.GOMAXPROCS(0), 8)
	inflight := workers + 2
	free := make(chan *foldBlock, inflight)
	for range inflight {
		free <- &foldBlock{data: make([]byte, 0, foldBlockSize), done: make(chan struct{}, 1)}
	}
	work := make(chan *foldBlock, inflight)
	order := make(chan *foldBlock, inflight)
	var counting atomic.Bool // past the budget: blocks are only counted
	go cutBlocks(lr.r, free, work, order)
	for range workers {
		go func() {
			for b := range work {
				b.parse(counting.Load())
				b.done <- struct{}{}
			}
		}()
	}
	line := 0 // lines before the block
	var path []int32
	for b := range order {
		<-b.done
		read := b.lines // lines of the block that are read
		if res.cutAfter > 0 {
			read = 0
		}
		fr := b.frames
		for _, op := range b.ops {
			if read == 0 {
				break
			}
			if maxNodes > 0 && c.Len() >= maxNodes {
				read = int(op.line)
				res.cutAfter = line + read
				res.restBytes += int64(len(b.data) - int(op.start))
				counting.Store(true)
				break
			}
			path = path[:op.shared]
			cur := int32(0)
			if op.shared > 0 {
				cur = path[op.shared-1]
			}
			for range op.nframes {
				n := c.Len()
				cur = c.Child(cur, b.data[fr[0]:fr[1]])
				path = append(path, cur)
				if c.Len() > n && len(path) > trace.MaxDepth {
					res.deeper++
				}
				fr = fr[2:]
			}
			c.AddSelf(cur, op.value)
		}
		for _, s := range b.skips {
			if s.line < read {
				skipped.Add(s.reason, line+s.line+1)
			}
		}
		if res.cutAfter > 0 {
			res.restLines += int64(b.lines - read)
			if read == 0 {
				res.restBytes += int64(len(b.data))
			}
		}
		line += b.lines
		if b.err != nil && err == nil && res.cutAfter == 0 {
			err = fmt.Errorf("line %d: %w", line+1, b.err)
		}
		free <- b
	}
	return res, err
}

// cutBlocks reads r into blocks that end at a newline and sends each to the
// workers and, in input order, to the tree builder. A line longer than
// MaxLineLen is never held whole: its block is sent marked tooLong.
func cutBlocks(r *bufio.Reader, free, work, order chan *foldBlock) {
	defer close(work)
	defer close(order)
	send := func(b *foldBlock) {
		work <- b
		order <- b
	}
	var carry []byte
	for {
		b := <-free
		b.data = append(b.data[:0], carry...)
		b.tooLong, b.err = false, nil
		var err error
		for len(b.data) < cap(b.data) && err == nil {
			var n int
			n, err = r.Read(b.data[len(b.data):cap(b.data)])
			b.data = b.data[:len(b.data)+n]
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// The line the error cut is incomplete: it is not read.
				if i := bytes.LastIndexByte(b.data, '\n'); i >= 0 {
					b.data = b.data[:i+1]
				} else {
					b.data = b.data[:0]
				}
				b.err = err
			}
			send(b)
			return
		}
		i := bytes.LastIndexByte(b.data, '\n')
		carry = append(carry[:0], b.data[i+1:]...)
		b.data = b.data[:i+1]
		if len(carry) < MaxLineLen {
			send(b)
			continue
		}
		// The rest of the block is a line already too long: skip to its end.
		carry = carry[:0]
		send(b)
		b = <-free
		b.data, b.tooLong, b.err = b.data[:0], true, nil
		for {
			_, err = r.ReadSlice('\n')
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			b.err = err
		}
		send(b)
		if err != nil {
			return
		}
	}
}

// parse splits the block's lines into ops. Consecutive lines usually share
// a prefix (folded files are sorted): frames inside the bytes a line shares
// with the one before keep that line's path, and only the rest is split.
func (b *foldBlock) parse(countOnly bool) {
	b.lines, b.ops, b.frames, b.skips = 0, b.ops[:0], b.frames[:0], b.skips[:0]
	if b.tooLong {
		b.lines = 1
		b.skips = append(b.skips, foldSkip{0, skipTooLong})
		return
	}
	if countOnly {
		b.lines = bytes.Count(b.data, []byte("\n"))
		if len(b.data) > 0 && b.data[len(b.data)-1] != '\n' {
			b.lines++
		}
		return
	}
	var prev []byte
	var ends []int32 // end of each non-empty frame of prev, from its start
	data := b.data
	for start := 0; start < len(data); {
		end := len(data)
		next := end
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i
			next = end + 1
		}
		line := b.lines
		b.lines++
		raw := data[start:end]
		base := start
		start = next
		if len(raw) >= MaxLineLen {
			b.skips = append(b.skips, foldSkip{line, skipTooLong})
			continue
		}
		stack, value, ok := splitFolded(bytes.TrimRight(raw, "\r"))
		if !ok {
			if len(bytes.TrimSpace(raw)) > 0 {
				b.skips = append(b.skips, foldSkip{line, skipNotFolded})
			}
			continue
		}
		n := int32(commonPrefix(stack, prev))
		shared := 0
		for shared < len(ends) {
			e := ends[shared]
			if e > n || (e == n && int(n) < len(stack) && stack[n] != ';') {
				break
			}
			shared++
		}
		ends = ends[:shared]
		op := foldOp{shared: int32(shared), line: int32(line), start: int32(base), value: value}
		pos := int32(0)
		if shared > 0 {
			pos = ends[shared-1]
		}
		for int(pos) < len(stack) {
			e := int32(len(stack))
			if i := bytes.IndexByte(stack[pos:], ';'); i >= 0 {
				e = pos + int32(i)
			}
			if e > pos {
				b.frames = append(b.frames, int32(base)+pos, int32(base)+e)
				ends = append(ends, e)
				op.nframes++
			}
			pos = e + 1
		}
		b.ops = append(b.ops, op)
		prev = stack
	}
}
