package analysis

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/internal/golden"
	"github.com/boottrace/boottrace/trace/input"
)

const smallLog = `[    0.000000] Linux version 6.1.0
[    0.001000] calling  early_fn+0x0/0x10 @ 1
[    0.001200] initcall early_fn+0x0/0x10 returned 0 after 200 usecs
[    0.002000] calling  serial8250_init+0x0/0x183 @ 1
[    0.002400] Serial: 8250/16550 driver & <friends>
[    0.003000] initcall serial8250_init+0x0/0x183 returned 0 after 1000 usecs
[    0.005000] Run /init as init process
[    0.006000] reboot: Power down
`

func TestSummary(t *testing.T) {
	tr, err := input.Read(strings.NewReader(smallLog), input.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(tr, 3)
	var phases []string
	for _, p := range s.Phases {
		phases = append(phases, p.Name)
	}
	if diff := cmp.Diff([]string{"early boot", "initcalls", "late init", "userspace"}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if s.Duration != 6e6 {
		t.Errorf("duration %d, want 6 ms", s.Duration)
	}
	if len(s.TopTotal) == 0 || s.TopTotal[0].Name != "Run /init as init process" {
		t.Errorf("top total = %+v", s.TopTotal)
	}
	if len(s.Gaps) != 3 || s.Gaps[0].Duration != 2e6 || s.Gaps[0].AfterLine != 6 {
		t.Errorf("gaps = %+v", s.Gaps)
	}
	var text, js bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "small-log-summary.txt", text.Bytes())
	if err := s.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "small-log-summary.json", js.Bytes())
}
