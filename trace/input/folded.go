package input

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
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
	return readFolded(newLineReader(r))
}

type foldKey struct {
	parent int32
	name   string
}

// foldNode holds no pointers, so the garbage collector never scans the
// millions of them a large profile has: the frame text lives in an arena
// and children form a linked list.
type foldNode struct {
	text              int32 // chunk<<arenaBits | offset of the frame text
	len               int32
	first, last, next int32 // children; 0 means none (node 0 is the root)
	nchild            int32
	self              int64
}

// Nodes and frame text are kept in fixed-size chunks, so growing never
// copies (a large profile would otherwise allocate several times its size).
const (
	nodeBits  = 16
	arenaBits = 20 // 1 MiB chunks; a frame is at most MaxLineLen (256 KiB)
)

// folder merges folded stacks into a tree of foldNodes.
type folder struct {
	nodes [][]foldNode
	count int32
	arena [][]byte
	// wide indexes the children of nodes with many, by frame text.
	wide map[foldKey]int32
}

// wideNode is how many children a node has before they are found through
// the index map instead of a scan; most nodes have a few.
const wideNode = 8

func (f *folder) node(id int32) *foldNode {
	return &f.nodes[id>>nodeBits][id&(1<<nodeBits-1)]
}

func (f *folder) text(n *foldNode) []byte {
	c := f.arena[n.text>>arenaBits]
	off := n.text & (1<<arenaBits - 1)
	return c[off : off+n.len]
}

func (f *folder) add(frame []byte) int32 {
	if len(f.arena) == 0 || len(f.arena[len(f.arena)-1])+len(frame) > 1<<arenaBits {
		f.arena = append(f.arena, make([]byte, 0, 1<<arenaBits))
	}
	c := len(f.arena) - 1
	off := len(f.arena[c])
	f.arena[c] = append(f.arena[c], frame...)
	if int(f.count)>>nodeBits == len(f.nodes) {
		f.nodes = append(f.nodes, make([]foldNode, 0, 1<<nodeBits))
	}
	id := f.count
	f.count++
	last := &f.nodes[len(f.nodes)-1]
	*last = append(*last, foldNode{text: int32(c<<arenaBits | off), len: int32(len(frame))})
	return id
}

// child finds or adds the child of parent named frame.
func (f *folder) child(parent int32, frame []byte) int32 {
	p := f.node(parent)
	if p.nchild > wideNode {
		if id, ok := f.wide[foldKey{parent, string(frame)}]; ok {
			return id
		}
	} else if p.last != 0 && bytes.Equal(f.text(f.node(p.last)), frame) {
		return p.last // sorted input continues with the last child
	} else {
		for c := p.first; c != 0; c = f.node(c).next {
			if bytes.Equal(f.text(f.node(c)), frame) {
				return c
			}
		}
	}
	id := f.add(frame)
	p = f.node(parent)
	if p.last == 0 {
		p.first = id
	} else {
		f.node(p.last).next = id
	}
	p.last = id
	p.nchild++
	switch {
	case p.nchild == wideNode+1:
		for c := p.first; c != 0; c = f.node(c).next {
			f.wide[foldKey{parent, string(f.text(f.node(c)))}] = c
		}
	case p.nchild > wideNode+1:
		f.wide[foldKey{parent, string(frame)}] = id
	}
	return id
}

func readFolded(lr *lineReader) (*trace.Trace, error) {
	t := &trace.Trace{Format: FormatFolded}
	f := &folder{wide: map[foldKey]int32{}}
	f.add(nil) // the root
	// Consecutive lines usually share a prefix (folded files are sorted):
	// frames inside the bytes the line shares with the previous one keep the
	// previous line's path, and only the rest is split and looked up.
	var buf, prevBuf []byte
	var ends []int // end offset of each non-empty frame of the previous line
	var path []int32
	err := lr.each(&t.Skipped, func(b []byte) {
		stack, value, ok := splitFolded(b)
		if !ok {
			if len(bytes.TrimSpace(b)) > 0 {
				t.Skipped.Add("lines that are not \"frame;frame VALUE\"", lr.line)
			}
			return
		}
		buf = append(buf[:0], stack...)
		n := commonPrefix(buf, prevBuf)
		shared := 0
		for shared < len(ends) {
			e := ends[shared]
			if e > n || (e == n && n < len(buf) && buf[n] != ';') {
				break
			}
			shared++
		}
		ends, path = ends[:shared], path[:shared]
		cur := int32(0)
		pos := 0
		if shared > 0 {
			cur, pos = path[shared-1], ends[shared-1]
		}
		for pos < len(buf) {
			end := len(buf)
			if i := bytes.IndexByte(buf[pos:], ';'); i >= 0 {
				end = pos + i
			}
			if end > pos {
				cur = f.child(cur, buf[pos:end])
				path = append(path, cur)
				ends = append(ends, end)
			}
			pos = end + 1
		}
		leaf := f.node(cur)
		leaf.self = satAdd(leaf.self, value)
		buf, prevBuf = prevBuf, buf
	})
	if err != nil {
		return nil, err
	}
	if f.count == 1 {
		return t, fmt.Errorf("%w: no line of folded stacks such as \"main;work;leaf 42\"", ErrNoData)
	}
	root, renamed := f.spans()
	t.Tracks = []trace.Track{{Span: root, Source: "folded", CPU: -1}}
	t.Merged = !renamed
	return t, nil
}

// spans turns the tree into spans laid end to end, siblings in first-seen
// order. Names are substrings of one copy of the arena, and all spans and
// child lists come from two allocations. renamed reports whether cleaning
// changed a frame's name (two siblings may then share one).
func (f *folder) spans() (root *trace.Span, renamed bool) {
	texts := make([]string, len(f.arena))
	for i, c := range f.arena {
		texts[i] = string(c)
	}
	spans := make([]trace.Span, f.count)
	kids := make([]*trace.Span, f.count-1)
	var build func(id int32, start int64) *trace.Span
	build = func(id int32, start int64) *trace.Span {
		n := f.node(id)
		s := &spans[id]
		off := n.text & (1<<arenaBits - 1)
		raw := texts[n.text>>arenaBits][off : off+n.len]
		s.Kind, s.Start = trace.KindFrame, start
		if id != 0 { // the root has no text
			s.Name = cleanFast(raw)
			renamed = renamed || s.Name != raw
		}
		s.Children, kids = kids[:n.nchild:n.nchild], kids[n.nchild:]
		at := start
		i := 0
		for c := n.first; c != 0; c = f.node(c).next {
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
	root.Name, root.Kind = "all", trace.KindTrack
	return root, renamed
}

// commonPrefix is the length of the longest common prefix of a and b,
// compared a word at a time: folded lines share hundreds of bytes.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
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
	if s == "" || len(s) > trace.MaxNameLen || s[0] == ' ' || s[len(s)-1] == ' ' {
		return trace.CleanName(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == ';' || (c == ' ' && s[i+1] == ' ') {
			return trace.CleanName(s)
		}
	}
	return s
}
