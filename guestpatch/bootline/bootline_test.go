package bootline

import (
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func line(payload string) string {
	return fmt.Sprintf("[    0.1] BOOT_TRACE %s *%08x", payload, crc32.ChecksumIEEE([]byte(payload)))
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Line
		found bool
		err   error
	}{
		{"no trace here", Line{}, false, nil},
		{line("H 1 6.1.0 2300000 1 10 0"), Line{Header: &Header{Version: 1, Release: "6.1.0", TSCkHz: 2300000, CPUs: 1, Records: 10}}, true, nil},
		{line("H 2 6.1.0 2300000 2 10 1 ff 39e00000 1"), Line{Header: &Header{Version: 2, Release: "6.1.0", TSCkHz: 2300000, CPUs: 2, Records: 10, Dropped: 1, TSC: 0xff, KASLR: 0x39e00000, Flags: FlagTSCUnstable}}, true, nil},
		{line("3 W 1 1 1f ffffffff81000100 msleep"), Line{Record: &Record{Seq: 3, Kind: 'W', CPU: 1, PID: 1, TSC: 0x1f, Addr: 0xffffffff81000100, Name: "msleep"}}, true, nil},
		{line("Z 10 5000"), Line{End: &End{Records: 10, Cycles: 5000}}, true, nil},
		{"BOOT_TRACE Z 10 5000 *00000000", Line{}, true, ErrBadCRC},
		{"BOOT_TRACE Z 10 50", Line{}, true, ErrCut},
		{line("3 Q 1 1 1f 0 x"), Line{}, true, ErrMalformed},
		{line("H 3 6.1.0 2300000 1 10 0"), Line{}, true, ErrMalformed},
		{line("H 1 6.1.0 2300000 1 2000000 0"), Line{}, true, ErrMalformed},
	} {
		got, found, err := Parse([]byte(tc.in))
		if found != tc.found || !errors.Is(err, tc.err) {
			t.Errorf("%q: found %v, err %v; want %v, %v", tc.in, found, err, tc.found, tc.err)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tc.in, diff)
			}
		}
	}
}

// TestStringRoundTrip: what String writes, Parse reads back unchanged
// (names made one word), and a kernel's line is written byte for byte.
func TestStringRoundTrip(t *testing.T) {
	for _, want := range []Line{
		{Header: &Header{Version: 2, Release: "6.1.0-boottrace", TSCkHz: 2300000, CPUs: 2, Records: 10, Dropped: 1, TSC: 0xff, KASLR: 0x39e00000, Flags: FlagTSCUnstable}},
		{Record: &Record{Seq: 3, Kind: 'W', CPU: 1, PID: 1, TSC: 0x1f, Addr: 0xffffffff81000100, Name: "msleep"}},
		{Record: &Record{Seq: 4, Kind: 'S', TSC: 0x20, Addr: 0xffffffff81000200}},
		{End: &End{Records: 10, Cycles: 5000}},
	} {
		var s string
		switch {
		case want.Header != nil:
			s = want.Header.String()
		case want.Record != nil:
			s = want.Record.String()
		default:
			s = want.End.String()
		}
		got, found, err := Parse([]byte(s))
		if !found || err != nil {
			t.Fatalf("%q: found %v, err %v", s, found, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q round trip (-want +got):\n%s", s, diff)
		}
	}
	if got, want := (Record{Seq: 3, Kind: 'W', CPU: 1, PID: 1, TSC: 0x1f, Addr: 0xffffffff81000100, Name: "msleep"}).String(), line("3 W 1 1 1f ffffffff81000100 msleep")[len("[    0.1] "):]; got != want {
		t.Errorf("record line %q, want the kernel's %q", got, want)
	}
	r, _, _ := Parse([]byte(Record{Kind: 'I', Name: "a mark\x00\xff"}.String()))
	if r.Record == nil || r.Record.Name != "a_mark__" {
		t.Errorf("name with spaces and bytes: %+v", r.Record)
	}
}
