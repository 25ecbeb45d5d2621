package flame

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// WriteFolded writes one "frame;frame;frame VALUE" line per stack with
// self time, VALUE in integer nanoseconds, in sorted stack order.
func WriteFolded(w io.Writer, root *Node) error {
	bw := bufio.NewWriter(w)
	var prefix []byte
	var walk func(n *Node)
	walk = func(n *Node) {
		mark := len(prefix)
		if len(prefix) > 0 {
			prefix = append(prefix, ';')
		}
		prefix = append(prefix, foldedFrame(n.Name)...)
		if n.Self > 0 {
			bw.Write(prefix)
			bw.WriteByte(' ')
			bw.WriteString(strconv.FormatInt(n.Self, 10))
			bw.WriteByte('\n')
		}
		for _, c := range n.Children {
			walk(c)
		}
		prefix = prefix[:mark]
	}
	for _, c := range root.Children {
		walk(c)
	}
	return bw.Flush()
}

func endsInNumber(b []byte) bool {
	i := len(b)
	for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' {
		i--
	}
	return i < len(b) && i > 0 && (b[i-1] == ' ' || b[i-1] == '.')
}

// foldedFrame keeps a frame from breaking the format: no separator; and a
// name ending in a number after a space ("pid 19") gets that space made
// non-breaking, in every stack it is in, so that flamegraph.pl does not
// read "...;pid 19 76000" as a differential line with counts 19 and 76000,
// and every tool sees one frame name wherever it stands.
func foldedFrame(s string) string {
	if strings.ContainsAny(s, ";\n\r") {
		s = strings.NewReplacer(";", ",", "\n", " ", "\r", " ").Replace(s)
	}
	if b := []byte(s); endsInNumber(b) {
		i := strings.LastIndexByte(s, ' ')
		if i >= 0 && i == len(strings.TrimRight(s, "0123456789"))-1 {
			s = s[:i] + "\u00a0" + s[i+1:]
		}
	}
	return s
}
