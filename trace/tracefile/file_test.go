package tracefile

import "testing"

// TestKinds checks that every kind's trace-file name maps back to it.
func TestKinds(t *testing.T) {
	for i, k := range Kinds {
		if k.Kind != Kind(i+1) {
			t.Errorf("Kinds[%d] is kind %d: the table must be in Kind order", i, k.Kind)
		}
		if KindOf(k.Kind.String()) != k.Kind {
			t.Errorf("%s does not map back to its kind", k.Kind)
		}
	}
	if KindOf("kvm:no_such_event") != 0 {
		t.Error("an unknown name has a kind")
	}
}

// TestIsHeader checks the headers a reader must take: as boottrace writes
// them, and with spaces after the colons (a file reformatted by a tool).
func TestIsHeader(t *testing.T) {
	for in, want := range map[string]bool{
		`{"boottrace":"recording","version":1}`:    true,
		`{"boottrace": "recording", "version": 1}`: true,
		`{"boottrace": "something else"}`:          false,
		`[    0.000000] Linux version`:             false,
	} {
		if got := IsHeader([]byte(in)); got != want {
			t.Errorf("IsHeader(%s) = %v, want %v", in, got, want)
		}
	}
}
