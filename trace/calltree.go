package trace

import (
	"bytes"
	"math"
)

// CallTree is a merged call tree held compactly: what folded stacks
// describe, without a Span per frame. Node 0 is the root (no name); a
// node's children are in the order they were added, and a child's id is
// larger than its parent's. Nodes hold no pointers, so the garbage
// collector never scans the millions a large profile has: names live in
// an arena and children form a linked list.
type CallTree struct {
	nodes [][]callNode
	count int32
	arena [][]byte
	texts []string // the arena as strings, once Freeze is called
	// wide indexes the children of nodes with many, by name.
	wide map[callKey]int32
	// unclean is set when a name needs cleaning (most never do).
	unclean bool
}

type callKey struct {
	parent int32
	name   string
}

type callNode struct {
	text              int32 // chunk<<arenaBits | offset of the name
	len               int32
	first, last, next int32 // children; 0 means none
	nchild            int32
	self              int64
}

// Nodes and names are kept in fixed-size chunks, so growing never copies
// (a large profile would otherwise allocate several times its size).
const (
	nodeBits  = 16
	arenaBits = 20 // 1 MiB chunks; a name is shorter
)

// wideNode is how many children a node has before they are found through
// the index map instead of a scan; most nodes have a few.
const wideNode = 8

// NewCallTree returns a tree with only its root.
func NewCallTree() *CallTree {
	c := &CallTree{wide: map[callKey]int32{}}
	c.add(nil)
	return c
}

func (c *CallTree) node(id int32) *callNode {
	return &c.nodes[id>>nodeBits][id&(1<<nodeBits-1)]
}

func (c *CallTree) text(n *callNode) []byte {
	ch := c.arena[n.text>>arenaBits]
	off := n.text & (1<<arenaBits - 1)
	return ch[off : off+n.len]
}

// rawName is the node's name as given, from the frozen strings.
func (c *CallTree) rawName(id int32) string {
	n := c.node(id)
	off := n.text & (1<<arenaBits - 1)
	return c.texts[n.text>>arenaBits][off : off+n.len]
}

func (c *CallTree) add(name []byte) int32 {
	if len(c.arena) == 0 || len(c.arena[len(c.arena)-1])+len(name) > 1<<arenaBits {
		c.arena = append(c.arena, make([]byte, 0, max(1<<arenaBits, len(name))))
	}
	ch := len(c.arena) - 1
	off := len(c.arena[ch])
	c.arena[ch] = append(c.arena[ch], name...)
	c.unclean = c.unclean || (c.count > 0 && !isClean(name))
	if int(c.count)>>nodeBits == len(c.nodes) {
		c.nodes = append(c.nodes, make([]callNode, 0, 1<<nodeBits))
	}
	id := c.count
	c.count++
	last := &c.nodes[len(c.nodes)-1]
	*last = append(*last, callNode{text: int32(ch<<arenaBits | off), len: int32(len(name))})
	return id
}

// Child finds or adds the child of parent named name (as given: names are
// cleaned when read, by Name).
func (c *CallTree) Child(parent int32, name []byte) int32 {
	p := c.node(parent)
	if p.nchild > wideNode {
		if id, ok := c.wide[callKey{parent, string(name)}]; ok {
			return id
		}
	} else if p.last != 0 && bytes.Equal(c.text(c.node(p.last)), name) {
		return p.last // sorted input continues with the last child
	} else {
		for ch := p.first; ch != 0; ch = c.node(ch).next {
			if bytes.Equal(c.text(c.node(ch)), name) {
				return ch
			}
		}
	}
	id := c.add(name)
	p = c.node(parent)
	if p.last == 0 {
		p.first = id
	} else {
		c.node(p.last).next = id
	}
	p.last = id
	p.nchild++
	switch {
	case p.nchild == wideNode+1:
		for ch := p.first; ch != 0; ch = c.node(ch).next {
			c.wide[callKey{parent, string(c.text(c.node(ch)))}] = ch
		}
	case p.nchild > wideNode+1:
		c.wide[callKey{parent, string(name)}] = id
	}
	return id
}

// AddSelf adds v to the node's own value, saturating (values come from
// untrusted input).
func (c *CallTree) AddSelf(id int32, v int64) {
	n := c.node(id)
	n.self = SatAdd(n.self, v)
}

// SatAdd adds without wrapping past math.MaxInt64: values come from
// untrusted input.
func SatAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Freeze ends building: the index is dropped and names become strings
// that Name returns without copying. Child must not be called after.
func (c *CallTree) Freeze() {
	c.wide = nil
	c.texts = make([]string, len(c.arena))
	for i, ch := range c.arena {
		c.texts[i] = string(ch)
	}
}

// Len is the number of nodes, the root included.
func (c *CallTree) Len() int { return int(c.count) }

// Self is the node's own value.
func (c *CallTree) Self(id int32) int64 { return c.node(id).self }

// Children is how many children the node has.
func (c *CallTree) Children(id int32) int { return int(c.node(id).nchild) }

// First is the node's first child and Next its next sibling; 0 means none.
func (c *CallTree) First(id int32) int32 { return c.node(id).first }

// Next is the node's next sibling, 0 if none.
func (c *CallTree) Next(id int32) int32 { return c.node(id).next }

// Name is the node's name, cleaned as CleanName cleans it. The tree must
// be frozen.
func (c *CallTree) Name(id int32) string {
	if id == 0 {
		return ""
	}
	name := c.rawName(id)
	if c.unclean {
		name = CleanName(name)
	}
	return name
}

// Renamed reports whether cleaning changed a name: two siblings may then
// share one.
func (c *CallTree) Renamed() bool {
	if !c.unclean {
		return false
	}
	for id := int32(1); id < c.count; id++ {
		if raw := c.rawName(id); CleanName(raw) != raw {
			return true
		}
	}
	return false
}

// isClean reports a name that CleanName leaves as it is because it is
// printable ASCII without a separator or a doubled or outer space (other
// names may be clean too, but are checked by cleaning them).
func isClean(s []byte) bool {
	if len(s) == 0 || len(s) > MaxNameLen || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i, c := range s {
		if c < 0x20 || c >= 0x7f || c == ';' || (c == ' ' && s[i+1] == ' ') {
			return false
		}
	}
	return true
}
