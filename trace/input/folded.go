package input

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/boottrace/boottrace/trace"
)

// FormatFolded names folded stacks: "frame;frame;frame VALUE" per line, as
// written by FlameGraph's stackcollapse scripts, inferno and boottrace.
const FormatFolded = "folded"

// ReadFolded reads folded stacks into a merged span tree. Folded stacks
// carry no clock, so the trace is untimed: each frame's span is as long as
// its total value and siblings follow one another in first-seen order.
// The value is the last field; differential files (two counts) are not
// supported.
func ReadFolded(r io.Reader) (*trace.Trace, error) {
	return readFolded(newLineReader(r), ReadOptions{})
}

func readFolded(lr *lineReader, opt ReadOptions) (*trace.Trace, error) {
	t := &trace.Trace{Format: FormatFolded}
	c := trace.NewCallTree()
	perNode := int64(memoryPerNode)
	if opt.CallTree {
		perNode = memoryPerTreeNode
	}
	maxNodes := 0
	if budget := maxMemory(opt); budget > 0 {
		maxNodes = int(min(budget/perNode, 1<<31-1))
	}
	res, err := readCallTree(c, lr, &t.Skipped, maxNodes)
	if err != nil {
		return nil, err
	}
	if res.cutAfter > 0 {
		t.Notes = append(t.Notes, budgetNote(maxMemory(opt), "these folded stacks", res.cutAfter, fmt.Sprintf("at %d frames", c.Len()-1),
			fmt.Sprintf("views may need up to %d bytes of memory for each", perNode))+restNote(res.restLines, res.restBytes))
	}
	if c.Len() == 1 {
		return t, fmt.Errorf("%w: no line of folded stacks such as \"main;work;leaf 42\"", ErrNoData)
	}
	c.Freeze()
	if opt.CallTree {
		t.Calls, t.Merged = c, true
		if res.deeper > 0 {
			t.Notes = append(t.Notes, depthNote(res.deeper))
		}
		return t, nil
	}
	root, renamed := foldedSpans(c)
	t.Tracks = []trace.Track{{Span: root, Source: "folded", CPU: -1}}
	t.Merged = !renamed
	return t, nil
}

// foldedSpans turns the tree into spans laid end to end, siblings in
// first-seen order. All spans and child lists come from two allocations.
// renamed reports whether cleaning changed a frame's name (two siblings
// may then share one).
func foldedSpans(c *trace.CallTree) (root *trace.Span, renamed bool) {
	spans := make([]trace.Span, c.Len())
	kids := make([]*trace.Span, c.Len()-1)
	var build func(id int32, start int64) *trace.Span
	build = func(id int32, start int64) *trace.Span {
		s := &spans[id]
		s.Name = c.Name(id)
		s.Kind, s.Start = trace.KindFrame, start
		n := c.Children(id)
		s.Children, kids = kids[:n:n], kids[n:]
		at := start
		i := 0
		for ch := c.First(id); ch != 0; ch = c.Next(ch) {
			cs := build(ch, at)
			s.Children[i] = cs
			i++
			at = cs.End
		}
		s.End = trace.SatAdd(at, c.Self(id))
		return s
	}
	root = build(0, 0)
	// The synthetic root is the track; its frames are the stacks' roots.
	root.Name, root.Kind = "all", trace.KindTrack
	return root, c.Renamed()
}

// commonPrefix is the length of the longest common prefix of a and b:
// folded lines share hundreds of bytes, so whole blocks are compared with
// bytes.Equal (vectorized) before the first differing block is searched
// a word at a time.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+64 <= n && bytes.Equal(a[i:i+64], b[i:i+64]) {
		i += 64
	}
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// splitFolded splits "a;b;c 123" into the stack and its value. The value is
// the last field; differential files (two counts) are not supported.
func splitFolded(b []byte) ([]byte, int64, bool) {
	b = bytes.TrimRight(b, " \t")
	i := bytes.LastIndexByte(b, ' ')
	if i <= 0 {
		return nil, 0, false
	}
	v, err := strconv.ParseInt(string(b[i+1:]), 10, 64)
	if err != nil || v < 0 {
		return nil, 0, false
	}
	stack := bytes.TrimRight(b[:i], " ")
	if len(stack) == 0 {
		return nil, 0, false
	}
	return stack, v, true
}
