package tracefile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kvmPioFormat is /sys/kernel/tracing/events/kvm/kvm_pio/format as this
// machine's 6.18 kernel writes it.
const kvmPioFormat = `name: kvm_pio
ID: 1878
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:unsigned int rw;	offset:8;	size:4;	signed:0;
	field:unsigned int port;	offset:12;	size:4;	signed:0;
	field:unsigned int size;	offset:16;	size:4;	signed:0;
	field:unsigned int count;	offset:20;	size:4;	signed:0;
	field:unsigned int val;	offset:24;	size:4;	signed:0;

print fmt: "pio_%s at 0x%x size %d count %d val 0x%x %s", REC->rw ? "write" : "read", REC->port, REC->size, REC->count, REC->val, REC->count > 1 ? "(...)" : ""
`

func TestParseFormat(t *testing.T) {
	f, err := ParseFormat(strings.NewReader(kvmPioFormat))
	if err != nil {
		t.Fatal(err)
	}
	if fl, ok := f.Field("port"); !ok || fl.Offset != 12 || fl.Size != 4 {
		t.Errorf("port = %+v, %v", fl, ok)
	}
	raw := make([]byte, 64)
	raw[8] = 1                    // rw = write
	raw[12], raw[13] = 0xf8, 0x03 // port 0x3f8
	raw[16] = 1                   // size
	raw[20] = 1                   // count
	raw[24] = 'A'                 // val
	want := map[string]int64{"rw": 1, "port": 0x3f8, "size": 1, "count": 1, "val": 'A'}
	if diff := cmp.Diff(want, f.Decode(raw)); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestParseFormatSigned(t *testing.T) {
	f, err := ParseFormat(strings.NewReader("format:\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 24)
	for i := 16; i < 24; i++ {
		raw[i] = 0xff
	}
	if got := f.Decode(raw)["ret"]; got != -1 {
		t.Errorf("ret = %d, want -1", got)
	}
	if _, err := ParseFormat(strings.NewReader("garbage")); err == nil {
		t.Error("garbage: no error")
	}
}
