package tracefile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProbeLine writes probe events and reads them back; every line cut
// short, and forged numbers, are rejected rather than read as other
// values.
func TestProbeLine(t *testing.T) {
	raw := make([]byte, 64)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	raw[60] = 0 // zeros inside and at the end stay
	in := []Probe{
		{Time: 123456789, Kind: KindIoctlEnter, TGID: 7, TID: 8, CPU: 1, Seq: 42, Raw: raw, Arg: []byte("0123456789abcdef0123456789abcdef")},
		{Time: 1<<63 - 1, Kind: KindSchedSwitch, TGID: 1<<32 - 1, TID: 0, CPU: 1<<16 - 1, Seq: 1<<32 - 1, Raw: make([]byte, 64)},
		{Time: 0, Kind: KindMinorFaultDone, Raw: raw[:8]},
	}
	var file bytes.Buffer
	w, err := NewWriter(&file, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if err := w.WriteProbe(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(file.String(), "\n"), "\n")[1:]
	var buf []byte
	for i, line := range lines {
		var got Probe
		if err := ParseProbe([]byte(line), &got, &buf); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if diff := cmp.Diff(in[i], got, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
			t.Errorf("round trip (-wrote +read):\n%s", diff)
		}
		for cut := 0; cut < len(line); cut++ {
			if ParseProbe([]byte(line[:cut]), &got, &buf) == nil {
				t.Errorf("%q cut to %d bytes was read", line, cut)
			}
		}
	}
	for _, forged := range []string{
		"e 1 99999999999999999999 1 1 1 1 0 0 ",             // time beyond int64
		"e 1 1 4294967296 1 1 1 0 0 ",                       // tgid beyond uint32
		"e 1 1 1 1 65536 1 0 0 ",                            // cpu beyond uint16
		"e 1 1 1 1 1 1 5000 0 " + strings.Repeat("A", 6667), // beyond MaxProbeData
		"e 1 1 1 1 1 1 2 0 AAAA",                            // more data than it says
		"e 1 1 1 1 1 1 3 0 AA",                              // less
		"e 1 -1 1 1 1 1 0 0 ",
		"e 1 1 1 1 1 1 0 0",
		"e  1 1 1 1 1 1 0 0 ",
	} {
		var got Probe
		if ParseProbe([]byte(forged), &got, &buf) == nil {
			t.Errorf("forged line %.60q was read: %+v", forged, got)
		}
	}
}

// TestDecoderVersion1 reads a version 1 event line (decoded fields in
// JSON) and a Probe line with one decoder, and gets the same fields.
func TestDecoderVersion1(t *testing.T) {
	f := Format{{Name: "cmd", Offset: 8, Size: 4}, {Name: "arg", Offset: 16, Size: 8, Signed: true}}
	raw := make([]byte, 24)
	raw[8], raw[9] = 0x80, 0xae
	for i := 16; i < 24; i++ {
		raw[i] = 0xff // -1
	}
	var file bytes.Buffer
	w, _ := NewWriter(&file, Header{Formats: map[string]Format{KindIoctlEnter.String(): f}})
	w.Write(Event{Time: 5, Kind: KindIoctlEnter.String(), Fields: map[string]int64{"cmd": 0xae80, "arg": -1}})
	w.WriteProbe(&Probe{Time: 5, Kind: KindIoctlEnter, Raw: raw})
	w.Flush()
	lines := bytes.Split(bytes.TrimSuffix(file.Bytes(), []byte("\n")), []byte("\n"))
	h, err := ParseHeader(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(h)
	for _, l := range lines[1:] {
		var e Event
		if err := d.Event(l, &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if e.Kind != "syscalls:sys_enter_ioctl" || e.Value("cmd") != 0xae80 || e.Value("arg") != -1 || e.Value("none") != 0 {
			t.Errorf("%q: kind %q, cmd 0x%x, arg %d", l, e.Kind, e.Value("cmd"), e.Value("arg"))
		}
	}
}

// BenchmarkProbes writes probe events to a trace file and decodes them
// back, as boottrace record and the reader do: events per second each way.
func BenchmarkProbes(b *testing.B) {
	raw := make([]byte, 64)
	for i := range raw {
		raw[i] = byte(i)
	}
	h := Header{Formats: map[string]Format{KindIoctlEnter.String(): {{Name: "cmd", Offset: 24, Size: 8}}}}
	p := Probe{Time: 1_000_000_000, Kind: KindIoctlEnter, TGID: 1234, TID: 1235, CPU: 1, Raw: raw}
	var file bytes.Buffer
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			file.Reset()
			w, _ := NewWriter(&file, h)
			for i := range 100_000 {
				p.Seq, p.Time = uint32(i), p.Time+250
				w.WriteProbe(&p)
			}
			w.Flush()
		}
		b.ReportMetric(100_000*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	lines := bytes.Split(bytes.TrimSuffix(file.Bytes(), []byte("\n")), []byte("\n"))
	hdr, err := ParseHeader(lines[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		var e Event
		for b.Loop() {
			d := NewDecoder(hdr)
			for _, l := range lines[1:] {
				if err := d.Event(l, &e); err != nil || e.Value("cmd") != 0x1f1e1d1c1b1a1918 {
					b.Fatal(err, e.Value("cmd"))
				}
			}
		}
		b.ReportMetric(float64(len(lines)-1)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
