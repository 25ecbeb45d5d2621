package ebpf

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/trace/tracefile"
)

var update = flag.Bool("update", false, "rewrite bpf/kinds.h from tracefile.Kinds")

// kindsHeader is bpf/kinds.h as tracefile.Kinds defines it.
func kindsHeader() string {
	var b strings.Builder
	b.WriteString("// Code generated from trace/tracefile/kind.go by \"go test ./ebpf -run TestKindsHeader -update\"; DO NOT EDIT.\n\n")
	b.WriteString("// Event kinds: struct event's kind, and counters[1 + kind].\n")
	b.WriteString("enum event_kind {\n")
	for _, k := range tracefile.Kinds {
		fmt.Fprintf(&b, "\t%s = %d, // %s\n", k.C, k.Kind, k.Kind)
	}
	b.WriteString("};\n")
	return b.String()
}

// TestKindsHeader checks that the BPF programs number events as the trace
// file's reader does: bpf/kinds.h is generated from tracefile.Kinds.
func TestKindsHeader(t *testing.T) {
	want := kindsHeader()
	if *update {
		if err := os.WriteFile("bpf/kinds.h", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("bpf/kinds.h")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("bpf/kinds.h is not what tracefile.Kinds defines (go generate ./ebpf):\n%s", diff)
	}
}
