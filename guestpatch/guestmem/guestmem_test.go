package guestmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/google/go-cmp/cmp"
)

// image is guest RAM as the kernel lays it out, built field by field, for
// the cases a real boot does not give: forged and torn descriptors and
// records. (A real boot's memory is read in the end-to-end test,
// examples.TestRecordQEMU.)
type image struct {
	ram      []byte
	hostBase uint64 // where the VMM maps guest-physical 0
	desc     Desc
	descAt   uint64 // guest-physical
}

const (
	kernelMap  = 0xffffffff80000000
	physBase   = 0x100000
	pageOffset = 0xffff888000000000
)

func newImage() *image {
	im := &image{ram: make([]byte, 8<<20), hostBase: 0x7f0000000000, descAt: 0x200040}
	copy(im.desc.Magic[:], Magic)
	im.desc.Version, im.desc.RecSize = 1, recSize
	im.desc.SelfPhys = im.descAt
	im.desc.BufPhys, im.desc.NextPhys, im.desc.DroppedPhys = 0x300000, 0x200100, 0x200140
	im.desc.KernelMap, im.desc.PhysBase, im.desc.PageOffset = kernelMap, physBase, pageOffset
	im.desc.Cap, im.desc.TSCkHz, im.desc.CPUs, im.desc.KASLR = 16, 2000000, 1, 0x1e000000
	copy(im.desc.Release[:], "6.1.0-test")
	return im
}

// literal places a name in the kernel image and returns its address there.
func (im *image) literal(phys uint64, s string) uint64 {
	copy(im.ram[phys:], s+"\x00")
	return phys - physBase + kernelMap
}

func (im *image) record(slot int, kind byte, tsc, name, addr uint64) {
	b := im.ram[im.desc.BufPhys+uint64(slot)*recSize:]
	binary.LittleEndian.PutUint64(b[0:], tsc)
	binary.LittleEndian.PutUint64(b[8:], name)
	binary.LittleEndian.PutUint64(b[16:], addr)
	binary.LittleEndian.PutUint32(b[24:], 1)
	binary.LittleEndian.PutUint16(b[28:], 0)
	b[30] = kind
}

func (im *image) counts(next, dropped uint32) {
	binary.LittleEndian.PutUint32(im.ram[im.desc.NextPhys:], next)
	binary.LittleEndian.PutUint32(im.ram[im.desc.DroppedPhys:], dropped)
}

func (im *image) sync() {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, im.desc)
	copy(im.ram[im.descAt:], b.Bytes())
}

// ReadAt reads the VMM's address space: guest RAM at hostBase, nothing
// elsewhere (as /proc/PID/mem fails outside mappings).
func (im *image) ReadAt(p []byte, off int64) (int, error) {
	o := uint64(off)
	if o < im.hostBase || o >= im.hostBase+uint64(len(im.ram)) {
		return 0, errors.New("EIO")
	}
	n := copy(p, im.ram[o-im.hostBase:])
	if n < len(p) {
		return n, errors.New("EIO")
	}
	return n, nil
}

func (im *image) region() []Region {
	return []Region{{im.hostBase, im.hostBase + uint64(len(im.ram))}}
}

func TestPoll(t *testing.T) {
	im := newImage()
	start := im.literal(physBase+0x10000, "start_kernel")
	im.record(0, 'I', 100, im.literal(physBase+0x10020, "x86_64_start_kernel"), 0)
	im.record(1, 'B', 200, start, 0)
	im.record(2, 'S', 300, 0, 0xffffffff9e001234)
	// Slot 3 reserved, not written yet.
	im.counts(4, 0)
	im.sync()
	g, err := Locate(im, im.region())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := g.Poll()
	if err != nil {
		t.Fatal(err)
	}
	want := []bootline.Record{
		{Seq: 0, Kind: 'I', PID: 1, TSC: 100, Name: "x86_64_start_kernel"},
		{Seq: 1, Kind: 'B', PID: 1, TSC: 200, Name: "start_kernel"},
		{Seq: 2, Kind: 'S', PID: 1, TSC: 300, Addr: 0xffffffff9e001234},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Fatalf("first poll (-want +got):\n%s", diff)
	}
	if g.Done() {
		t.Fatal("done before the flag")
	}
	// Slot 3 written, a mark copied into the direct map, the boot ended
	// with slot 5 reserved and never written.
	im.record(3, 'E', 400, start, 0)
	copy(im.ram[0x400000:], "my-mark\x00")
	im.record(4, 'I', 500, pageOffset+0x400000, 0)
	im.counts(6, 2)
	im.desc.Done, im.desc.DoneTSC = 1, 600
	im.sync()
	recs, err = g.Poll()
	if err != nil {
		t.Fatal(err)
	}
	want = []bootline.Record{
		{Seq: 3, Kind: 'E', PID: 1, TSC: 400, Name: "start_kernel"},
		{Seq: 4, Kind: 'I', PID: 1, TSC: 500, Name: "my-mark"},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("second poll (-want +got):\n%s", diff)
	}
	if !g.Done() || g.Skipped["a record reserved but never written"] != 1 {
		t.Errorf("done %v, skipped %v", g.Done(), g.Skipped)
	}
	h := g.Header()
	wantH := bootline.Header{Version: 2, Release: "6.1.0-test", TSCkHz: 2000000, CPUs: 1, Records: 6, Dropped: 2, TSC: 600, KASLR: 0x1e000000}
	if diff := cmp.Diff(wantH, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if recs, err := g.Poll(); err != nil || len(recs) != 0 {
		t.Errorf("a poll after the end: %v, %v", recs, err)
	}
}

// TestLocateRefuses: a descriptor that is not where it says, or that
// points outside guest memory, is not trusted.
func TestLocateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forge  func(*image)
		region func(*image) []Region
	}{
		{"not yet set up (the image as linked)", func(im *image) { im.desc.SelfPhys = 0 }, nil},
		{"claims another address", func(im *image) { im.desc.SelfPhys += 4096 }, nil},
		{"beyond the region's start", func(im *image) { im.desc.SelfPhys = im.descAt + 1<<30 }, nil},
		{"buffer outside RAM", func(im *image) { im.desc.BufPhys = 1 << 40 }, nil},
		{"buffer wraps", func(im *image) { im.desc.BufPhys = ^uint64(0) - 8 }, nil},
		{"counter outside RAM", func(im *image) { im.desc.NextPhys = uint64(len(im.ram)) - 2 }, nil},
		{"huge buffer", func(im *image) { im.desc.Cap = 1 << 30 }, nil},
		{"newer version", func(im *image) { im.desc.Version = 2 }, nil},
		{"other record size", func(im *image) { im.desc.RecSize = 40 }, nil},
		{"unaligned copy", func(im *image) { im.descAt += 8; im.desc.SelfPhys = im.descAt }, nil},
		{"no RAM mapping", nil, func(im *image) []Region { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := newImage()
			if tc.forge != nil {
				tc.forge(im)
			}
			im.sync()
			regions := im.region()
			if tc.region != nil {
				regions = tc.region(im)
			}
			if _, err := Locate(im, regions); !errors.Is(err, ErrNotFound) {
				t.Errorf("Locate: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestPollHostile: records and names forged after the descriptor was
// found are skipped and counted; none is read outside guest memory.
func TestPollHostile(t *testing.T) {
	im := newImage()
	im.sync()
	g, err := Locate(im, im.region())
	if err != nil {
		t.Fatal(err)
	}
	im.record(0, 'Q', 1, 0, 0)                                       // unknown kind
	im.record(1, 'B', 2, 0x1234, 0)                                  // not a kernel address
	im.record(2, 'B', 3, kernelMap+uint64(len(im.ram))*4, 0)         // past guest memory
	im.record(3, 'I', 4, im.literal(uint64(len(im.ram))-3, "ab"), 0) // at the very end
	im.record(4, 'B', 5, im.literal(physBase+0x2000, string(bytes.Repeat([]byte("n"), 200))), 0)
	im.counts(1000, 0) // beyond the buffer: read up to its capacity
	im.sync()
	recs, err := g.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name != "ab" || len(recs[1].Name) != maxName {
		t.Errorf("records %+v", recs)
	}
	want := map[string]int{"a record of unknown kind 0x51": 1, "a record whose name is not in guest memory": 2}
	if diff := cmp.Diff(want, g.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if g.Count != int(im.desc.Cap) {
		t.Errorf("count %d, want the capacity %d", g.Count, im.desc.Cap)
	}
	// The descriptor changed under the reader: refused, not followed.
	im.desc.BufPhys = 1 << 40
	im.sync()
	if _, err := g.Poll(); err == nil {
		t.Error("a descriptor moved outside guest memory was followed")
	}
}
