package flame

import (
	"slices"
	"strings"

	"github.com/boottrace/boottrace/trace"
)

// Node is a frame of the merged call tree: every path of span names that
// occurs in the trace, with time summed over its occurrences.
type Node struct {
	Name     string
	Kind     trace.Kind // of the first span merged into it
	Self     int64      // nanoseconds (or folded values) with no child frame
	Total    int64
	Children []*Node // sorted by name, as flamegraph.pl sorts stacks
}

// Merge folds all tracks into one tree under a root named "all". A trace
// with a single track starts its stacks at the track's children, so a
// kernel log's frames begin with its phases.
func Merge(t *trace.Trace) *Node {
	if t.Calls != nil {
		return mergeCalls(t.Calls, func(int64) int64 { return 0 })
	}
	return merge(t, 0)
}

// merge is Merge leaving out frames whose total is below minTotal (too
// narrow to draw), when the trace is already merged and totals are known
// before merging.
func merge(t *trace.Trace, minTotal int64) *Node {
	root := &Node{Name: "all"}
	m := &merger{index: map[*Node]map[string]*Node{}}
	if t.Merged && len(t.Tracks) == 1 {
		tr := t.Tracks[0]
		root.Self, root.Total = tr.Self(), tr.Duration()
		root.Children = m.mirrorAll(tr.Children, minTotal)
		return root
	}
	for _, tr := range t.Tracks {
		if len(t.Tracks) == 1 {
			root.Self += tr.Self()
			for _, c := range tr.Children {
				m.add(root, c)
			}
		} else {
			m.add(root, tr.Span)
		}
	}
	finish(root)
	return root
}

// merger finds a node's child by name; wide nodes get an index so that a
// folded input with 100k siblings does not merge in quadratic time. Nodes
// come from a slab: a large profile has millions.
type merger struct {
	index map[*Node]map[string]*Node
	slab  []Node
}

func (m *merger) newNode(name string) *Node {
	if len(m.slab) == 0 {
		m.slab = make([]Node, 4096)
	}
	n := &m.slab[0]
	m.slab = m.slab[1:]
	n.Name = name
	return n
}

func (m *merger) add(parent *Node, s *trace.Span) {
	n := m.child(parent, s.Name)
	if n.Self == 0 && n.Total == 0 && len(n.Children) == 0 && n.Kind == 0 {
		n.Kind = s.Kind
	}
	n.Self += s.Self()
	for _, c := range s.Children {
		m.add(n, c)
	}
}

// mirrorAll copies already merged spans without looking names up; a
// span's duration is then its total.
func (m *merger) mirrorAll(spans []*trace.Span, minTotal int64) []*Node {
	var out []*Node
	for _, s := range spans {
		if s.Duration() < minTotal || s.Duration() == 0 {
			continue
		}
		n := m.newNode(s.Name)
		n.Kind = s.Kind
		n.Self, n.Total = s.Self(), s.Duration()
		n.Children = m.mirrorAll(s.Children, minTotal)
		out = append(out, n)
	}
	sortByName(out)
	return out
}

func (m *merger) child(parent *Node, name string) *Node {
	if idx := m.index[parent]; idx != nil {
		if n := idx[name]; n != nil {
			return n
		}
	} else {
		for _, c := range parent.Children {
			if c.Name == name {
				return c
			}
		}
	}
	n := m.newNode(name)
	parent.Children = append(parent.Children, n)
	if idx := m.index[parent]; idx != nil {
		idx[name] = n
	} else if len(parent.Children) > 16 {
		idx := make(map[string]*Node, 2*len(parent.Children))
		for _, c := range parent.Children {
			idx[c.Name] = c
		}
		m.index[parent] = idx
	}
	return n
}

// mergeCalls turns a call tree into Nodes, leaving out frames whose total
// is below minTotal(the tree's total) and cutting it at trace.MaxDepth
// (deeper frames' time is their ancestor's self time there), as a trace
// read into spans would be cut. Where cleaning gave two siblings one name
// they are merged, and nothing is left out (a frame's total is known only
// once merged).
func mergeCalls(c *trace.CallTree, minTotal func(total int64) int64) *Node {
	tot := make([]int64, c.Len())
	var sum func(id int32) int64
	sum = func(id int32) int64 {
		t := c.Self(id)
		for ch := c.First(id); ch != 0; ch = c.Next(ch) {
			t = trace.SatAdd(t, sum(ch))
		}
		tot[id] = t
		return t
	}
	root := &Node{Name: "all", Self: c.Self(0), Total: sum(0)}
	least := minTotal(root.Total)
	if c.Renamed() {
		least = 0
	}
	m := &merger{index: map[*Node]map[string]*Node{}}
	var add func(parent *Node, id int32, depth int)
	add = func(parent *Node, id int32, depth int) {
		for ch := c.First(id); ch != 0; ch = c.Next(ch) {
			if tot[ch] == 0 || tot[ch] < least {
				continue
			}
			n := m.child(parent, c.Name(ch))
			n.Kind = trace.KindFrame
			n.Total = trace.SatAdd(n.Total, tot[ch])
			if depth+1 >= trace.MaxDepth {
				n.Self = trace.SatAdd(n.Self, tot[ch])
				continue
			}
			n.Self = trace.SatAdd(n.Self, c.Self(ch))
			add(n, ch, depth+1)
		}
	}
	add(root, 0, 0)
	sortTree(root)
	return root
}

func sortTree(n *Node) {
	sortByName(n.Children)
	for _, c := range n.Children {
		sortTree(c)
	}
}

// sortByName puts siblings in name order, as flamegraph.pl sorts stacks.
func sortByName(nodes []*Node) {
	slices.SortFunc(nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
}

// finish sorts children and computes totals.
func finish(n *Node) int64 {
	sortByName(n.Children)
	n.Total = n.Self
	for _, c := range n.Children {
		n.Total += finish(c)
	}
	return n.Total
}
