package analysis

import (
	"bytes"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/trace/input"
)

// TestCompare diffs two small logs whose one initcall slept 10 ms longer
// and whose other one is gone, values worked out by hand.
func TestCompare(t *testing.T) {
	base := `[    0.000000] Linux version 6.1.0
[    0.001000] calling  a_init+0x0/0x10 @ 1
[    0.002000] initcall a_init+0x0/0x10 returned 0 after 1000 usecs
[    0.002000] calling  b_init+0x0/0x10 @ 1
[    0.004000] initcall b_init+0x0/0x10 returned 0 after 2000 usecs
[    0.005000] Run /init as init process
`
	next := `[    0.000000] Linux version 6.1.0
[    0.001000] calling  a_init+0x0/0x40 @ 1
[    0.012000] initcall a_init+0x0/0x40 returned 0 after 11000 usecs
[    0.013000] Run /init as init process
`
	bt, err := input.Read(strings.NewReader(base), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nt, err := input.Read(strings.NewReader(next), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := Compare(bt, nt, -1)
	if d.Base != 5e6 || d.New != 13e6 {
		t.Errorf("totals %d → %d, want 5 ms → 13 ms", d.Base, d.New)
	}
	got := map[string]Change{}
	for _, c := range d.Changes {
		got[c.Path] = c
	}
	// a_init's offsets differ (+0x0/0x10, +0x0/0x40): the same span.
	if c := got["kernel;initcalls;a_init"]; c.Base != 1e6 || c.New != 11e6 || c.Status != "changed" {
		t.Errorf("a_init: %+v, want 1 ms → 11 ms", c)
	}
	if c := got["kernel;initcalls;b_init"]; c.Base != 2e6 || c.New != 0 || c.Status != "removed" {
		t.Errorf("b_init: %+v, want removed", c)
	}
	var folded bytes.Buffer
	if err := d.WriteFolded(&folded); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(folded.String(), "kernel;initcalls;a_init 1000000 11000000\n") {
		t.Errorf("differential folded output lacks a_init's line:\n%s", folded.String())
	}
	// The same boot on both sides: no change.
	if same := Compare(bt, bt, -1); len(same.Changes) != 0 || same.Base != same.New {
		t.Errorf("a boot against itself: %d → %d, changes %+v", same.Base, same.New, same.Changes)
	}
}
