package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/trace"
)

// TestFoldedBlocks reads folded input of many blocks, with lines that
// are too long (inside a block and across a block's end), not folded,
// blank, ended by CRLF, and a last line without a newline: every stack's
// value and every skipped line's number must be what a line-by-line
// reading gives, on any number of workers.
func TestFoldedBlocks(t *testing.T) {
	var in bytes.Buffer
	want := map[string]int64{}
	wantSkips := map[string][]int{}
	line := 0
	add := func(s string) {
		line++
		in.WriteString(s)
		in.WriteByte('\n')
	}
	// Too long by one byte, by more than what a block can hold after
	// another line, and by more than a block.
	longs := []string{strings.Repeat("x", MaxLineLen), strings.Repeat("y", 3*MaxLineLen), strings.Repeat("z", 2*foldBlockSize+77)}
	for i := 0; in.Len() < 12*foldBlockSize; i++ {
		stack := fmt.Sprintf("main;sub%d;leaf%d", i%7, i%13)
		switch {
		case i%4999 == 0:
			add(longs[(i/4999)%len(longs)]) // wherever it falls
			wantSkips[skipTooLong] = append(wantSkips[skipTooLong], line)
		case i%501 == 0:
			add("not folded")
			wantSkips[skipNotFolded] = append(wantSkips[skipNotFolded], line)
		case i%250 == 0:
			add("")
		case i%3 == 0:
			add(stack + " 2\r")
			want[stack] += 2
		default:
			add(stack + " 1")
			want[stack]++
		}
	}
	in.WriteString("main;last 5") // no newline
	want["main;last"] += 5
	tr, err := Read(bytes.NewReader(in.Bytes()), ReadOptions{Format: FormatFolded})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var walk func(prefix string, s *trace.Span)
	walk = func(prefix string, s *trace.Span) {
		if self := s.Self(); self > 0 {
			got[prefix] += self
		}
		for _, c := range s.Children {
			p := c.Name
			if prefix != "" {
				p = prefix + ";" + c.Name
			}
			walk(p, c)
		}
	}
	walk("", tr.Tracks[0].Span)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stacks (-want +got):\n%s", diff)
	}
	gotSkips := map[string][]int{}
	for _, r := range tr.Skipped.Reasons {
		gotSkips[r.Reason] = r.Lines
	}
	for r, lines := range wantSkips {
		wantSkips[r] = lines[:min(len(lines), trace.MaxLinesPerReason)]
	}
	if diff := cmp.Diff(wantSkips, gotSkips); diff != "" {
		t.Errorf("skipped lines (-want +got):\n%s", diff)
	}
}

// TestFoldedReadError ends the input with a read error in a block's
// middle: the lines before it are kept, and the error names the line.
func TestFoldedReadError(t *testing.T) {
	var in bytes.Buffer
	n := 0
	for in.Len() < foldBlockSize+foldBlockSize/2 {
		fmt.Fprintf(&in, "main;f%d 1\n", n%10)
		n++
	}
	in.WriteString("main;cut")
	boom := errors.New("disk on fire")
	_, err := Read(io.MultiReader(bytes.NewReader(in.Bytes()), errReader{boom}), ReadOptions{Format: FormatFolded})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", n+1)) {
		t.Errorf("got %v, want %v at line %d", err, boom, n+1)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
