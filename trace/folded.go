package trace

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
)

// FormatFolded names folded stacks: "frame;frame;frame VALUE" per line, as
// written by FlameGraph's stackcollapse scripts, inferno and boottrace.
const FormatFolded = "folded"

// ReadFolded reads folded stacks into a merged span tree. Folded stacks
// carry no clock, so the trace is untimed: each frame's span is as long as
// its total value and siblings follow one another in first-seen order.
// The value is the last field; differential files (two counts) are not
// supported.
func ReadFolded(r io.Reader) (*Trace, error) {
	return readFolded(newLineReader(r))
}

type foldKey struct {
	parent int32
	name   string
}

// foldNode holds no pointers, so the garbage collector never scans the
// millions of them a large profile has: the frame text lives in one arena
// and children form a linked list.
type foldNode struct {
	off, len          int32 // frame text in the arena
	first, last, next int32 // children; 0 means none (node 0 is the root)
	nchild            int32
	self              int64
}

// folder merges folded stacks into a tree of foldNodes.
type folder struct {
	nodes []foldNode
	arena []byte
	// wide indexes the children of nodes with many, by frame text.
	wide map[foldKey]int32
}

// wideNode is how many children a node has before they are found through
// the index map instead of a scan; most nodes have a few.
const wideNode = 8

func (f *folder) text(n *foldNode) []byte { return f.arena[n.off : n.off+n.len] }

// child finds or adds the child of parent named frame.
func (f *folder) child(parent int32, frame []byte) int32 {
	p := &f.nodes[parent]
	if p.nchild > wideNode {
		if id, ok := f.wide[foldKey{parent, string(frame)}]; ok {
			return id
		}
	} else if p.last != 0 && bytes.Equal(f.text(&f.nodes[p.last]), frame) {
		return p.last // sorted input continues with the last child
	} else {
		for c := p.first; c != 0; c = f.nodes[c].next {
			if bytes.Equal(f.text(&f.nodes[c]), frame) {
				return c
			}
		}
	}
	id := int32(len(f.nodes))
	f.nodes = append(f.nodes, foldNode{off: int32(len(f.arena)), len: int32(len(frame))})
	f.arena = append(f.arena, frame...)
	p = &f.nodes[parent]
	if p.last == 0 {
		p.first = id
	} else {
		f.nodes[p.last].next = id
	}
	p.last = id
	p.nchild++
	switch {
	case p.nchild == wideNode+1:
		for c := p.first; c != 0; c = f.nodes[c].next {
			f.wide[foldKey{parent, string(f.text(&f.nodes[c]))}] = c
		}
	case p.nchild > wideNode+1:
		f.wide[foldKey{parent, string(frame)}] = id
	}
	return id
}

func readFolded(lr *lineReader) (*Trace, error) {
	t := &Trace{Format: FormatFolded}
	f := &folder{nodes: []foldNode{{}}, wide: map[foldKey]int32{}}
	// Consecutive lines usually share a prefix (folded files are sorted), so
	// frames equal to the previous line's reuse its path without a lookup.
	var buf, prevBuf []byte
	var frames, prevFrames [][]byte
	var path []int32
	for {
		b, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lr.line+1, err)
		}
		if tooLong {
			t.Skipped.Add(skipTooLong, lr.line)
			continue
		}
		stack, value, ok := splitFolded(b)
		if !ok {
			if len(bytes.TrimSpace(b)) > 0 {
				t.Skipped.Add("lines that are not \"frame;frame VALUE\"", lr.line)
			}
			continue
		}
		buf = append(buf[:0], stack...)
		frames = frames[:0]
		for rest := buf; len(rest) > 0; {
			fr := rest
			if i := bytes.IndexByte(rest, ';'); i >= 0 {
				fr, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			if len(fr) > 0 {
				frames = append(frames, fr)
			}
		}
		shared := 0
		for shared < len(frames) && shared < len(prevFrames) && bytes.Equal(frames[shared], prevFrames[shared]) {
			shared++
		}
		path = path[:shared]
		cur := int32(0)
		if shared > 0 {
			cur = path[shared-1]
		}
		for _, frame := range frames[shared:] {
			cur = f.child(cur, frame)
			path = append(path, cur)
		}
		f.nodes[cur].self = satAdd(f.nodes[cur].self, value)
		buf, prevBuf = prevBuf, buf
		frames, prevFrames = prevFrames, frames
	}
	if len(f.nodes) == 1 {
		return t, fmt.Errorf("%w: no line of folded stacks such as \"main;work;leaf 42\"", ErrNoData)
	}
	root, renamed := f.spans()
	t.Tracks = []Track{{Span: root, Source: "folded", CPU: -1}}
	t.Merged = !renamed
	return t, nil
}

// spans turns the tree into spans laid end to end, siblings in first-seen
// order. Names are substrings of one copy of the arena, and all spans and
// child lists come from two allocations. renamed reports whether cleaning
// changed a frame's name (two siblings may then share one).
func (f *folder) spans() (root *Span, renamed bool) {
	text := string(f.arena)
	spans := make([]Span, len(f.nodes))
	kids := make([]*Span, len(f.nodes)-1)
	var build func(id int32, start int64) *Span
	build = func(id int32, start int64) *Span {
		n := &f.nodes[id]
		s := &spans[id]
		raw := text[n.off : n.off+n.len]
		s.Name, s.Kind, s.Start = cleanFast(raw), KindFrame, start
		renamed = renamed || s.Name != raw
		s.Children, kids = kids[:n.nchild:n.nchild], kids[n.nchild:]
		at := start
		i := 0
		for c := n.first; c != 0; c = f.nodes[c].next {
			cs := build(c, at)
			s.Children[i] = cs
			i++
			at = cs.End
		}
		s.End = satAdd(at, n.self)
		return s
	}
	root = build(0, 0)
	// The synthetic root is the track; its frames are the stacks' roots.
	root.Name, root.Kind = "all", KindTrack
	return root, renamed
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

// satAdd adds without wrapping: values come from untrusted input.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// cleanFast is CleanName without the copy for the common case of a frame
// that is already clean: printable ASCII, no separator, single spaces.
func cleanFast(s string) string {
	if s == "" || len(s) > maxNameLen || s[0] == ' ' || s[len(s)-1] == ' ' {
		return CleanName(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == ';' || (c == ' ' && s[i+1] == ' ') {
			return CleanName(s)
		}
	}
	return s
}
