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
			if endsInNumber(prefix) {
				// "...packages: 1 76000" would read as a differential line
				// (counts 1 and 76000) to flamegraph.pl: keep the space
				// from separating the number.
				bw.WriteString("\u00a0")
			}
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

// foldedFrame keeps a frame from breaking the format: no separator, and no
// trailing digits-after-space ambiguity is possible since the value is the
// last field.
func foldedFrame(s string) string {
	if strings.ContainsAny(s, ";\n\r") {
		s = strings.NewReplacer(";", ",", "\n", " ", "\r", " ").Replace(s)
	}
	return s
}
