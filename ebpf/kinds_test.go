package ebpf

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/trace/tracefile"
)

// TestKindsHeader checks that the BPF programs number events as the trace
// file's reader does: bpf/kinds.h is what tracefile.Kinds defines.
func TestKindsHeader(t *testing.T) {
	got, err := os.ReadFile("bpf/kinds.h")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tracefile.CHeader(), string(got)); diff != "" {
		t.Errorf("bpf/kinds.h is not what tracefile.Kinds defines (go generate ./ebpf):\n%s", diff)
	}
}
