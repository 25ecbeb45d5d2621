package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRunOrder: bench counterbalances the two commands, A B B A A B ...,
// so each goes first in half the pairs and both sit at the same mean
// position in time.
func TestRunOrder(t *testing.T) {
	var got [][]int
	for i := 1; i <= 4; i++ {
		got = append(got, runOrder(i, 2))
	}
	if diff := cmp.Diff([][]int{{0, 1}, {1, 0}, {0, 1}, {1, 0}}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{0}, runOrder(2, 1)); diff != "" {
		t.Errorf("one command (-want +got):\n%s", diff)
	}
}
