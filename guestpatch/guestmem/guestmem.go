// Package guestmem reads a guest kernel's BOOT_TRACE buffer straight out
// of its memory, as the VMM maps it, so that a boot with no console at all
// (Firecracker's boot-time measurements disable the serial port: every
// byte is a VM exit) is profiled as it really ran.
//
// The patched kernel keeps a descriptor in its .data (struct
// boot_trace_desc in kernel/boot_trace.c): a magic, its own
// guest-physical address, the buffer's and the counters', what turns the
// kernel's name pointers into guest-physical addresses, and a done flag
// set once the count is final. Locate scans the VMM's memory for the
// magic and trusts a copy only where its own address agrees with where it
// was found; Poll then reads the records taken since the last poll. All
// of it is guest memory: untrusted, checked field by field, every read
// bounded by the region that maps guest RAM.
//
// The records come back as bootline.Records, so that the reader builds
// the same spans from them as from a console flush.
package guestmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/boottrace/boottrace/guestpatch/bootline"
)

// Magic starts the kernel's descriptor (16 bytes, NUL included).
const Magic = "BOOT_TRACE_DESC\x00"

// descAlign is the descriptor's alignment in the kernel (__aligned(64)).
const descAlign = 64

// recSize is the size of struct boot_trace_rec on x86-64.
const recSize = 32

// maxName bounds a name read from guest memory.
const maxName = 64

// ErrNotFound is returned while no valid descriptor is in the regions
// (the kernel is not loaded yet, or has no BOOT_TRACE patch).
var ErrNotFound = errors.New("no BOOT_TRACE descriptor in guest memory")

// Region is a range of the VMM's address space that may map guest RAM.
type Region struct{ Start, End uint64 }

// Desc is struct boot_trace_desc, field for field (no padding in either).
type Desc struct {
	Magic       [16]byte
	Version     uint32
	RecSize     uint32
	SelfPhys    uint64
	BufPhys     uint64
	NextPhys    uint64
	DroppedPhys uint64
	KernelMap   uint64 // __START_KERNEL_map
	PhysBase    uint64
	PageOffset  uint64
	KASLR       uint64
	DoneTSC     uint64
	Cap         uint32
	TSCkHz      uint32
	CPUs        uint32
	Flags       uint32
	Done        uint32
	Release     [68]byte
}

// Flags in Desc.Flags beyond the header's.
const (
	// FlagOff: the guest was booted with boottrace=off.
	FlagOff = 2
)

var descSize = binary.Size(Desc{})

// Guest is a located descriptor and what has been read through it.
type Guest struct {
	mem    io.ReaderAt
	region Region
	base   uint64 // host address of guest-physical 0
	// Desc is the descriptor as last read.
	Desc Desc
	// Count is the slot counter as last read (at most Desc.Cap).
	Count   int
	Dropped int
	next    int // the first slot not returned yet
	names   map[uint64]string
	// Skipped counts records that could not be used, by reason.
	Skipped map[string]int
}

// Locate scans the regions of mem (a VMM's /proc/PID/mem) for the
// descriptor. It returns ErrNotFound while there is none whose
// guest-physical address places guest RAM inside its region.
func Locate(mem io.ReaderAt, regions []Region) (*Guest, error) {
	const chunk = 4 << 20
	buf := make([]byte, chunk+len(Magic))
	magic := []byte(Magic)
	for _, r := range regions {
		for off := r.Start; off < r.End; off += chunk {
			n := min(uint64(len(buf)), r.End-off)
			got, _ := mem.ReadAt(buf[:n], int64(off))
			b := buf[:got]
			for i := 0; ; {
				j := bytes.Index(b[i:], magic)
				if j < 0 {
					break
				}
				at := off + uint64(i+j)
				if at%descAlign == 0 {
					if g, err := open(mem, r, at); err == nil {
						return g, nil
					}
				}
				i += j + 1
			}
		}
	}
	return nil, ErrNotFound
}

// open checks a descriptor candidate at host address at.
func open(mem io.ReaderAt, r Region, at uint64) (*Guest, error) {
	var d Desc
	if err := readStruct(mem, at, &d); err != nil {
		return nil, err
	}
	if d.SelfPhys == 0 || d.SelfPhys > at || at-d.SelfPhys < r.Start {
		return nil, fmt.Errorf("descriptor at %#x: its guest-physical address %#x does not fit the region", at, d.SelfPhys)
	}
	g := &Guest{mem: mem, region: r, base: at - d.SelfPhys, names: map[uint64]string{}, Skipped: map[string]int{}}
	if err := g.check(d); err != nil {
		return nil, err
	}
	g.Desc = d
	return g, nil
}

// check refuses a descriptor this reader cannot trust.
func (g *Guest) check(d Desc) error {
	switch {
	case string(d.Magic[:]) != Magic:
		return errors.New("descriptor's magic changed")
	case d.Version != 1:
		return fmt.Errorf("descriptor version %d; this boottrace reads version 1: use a boottrace as new as the patch", d.Version)
	case d.RecSize != recSize:
		return fmt.Errorf("records of %d bytes, want %d", d.RecSize, recSize)
	case d.Cap > bootline.MaxRecords:
		return fmt.Errorf("a buffer of %d records, over %d", d.Cap, bootline.MaxRecords)
	case !g.inRAM(d.BufPhys, uint64(d.Cap)*recSize) || !g.inRAM(d.NextPhys, 4) || !g.inRAM(d.DroppedPhys, 4):
		return errors.New("the buffer or its counters lie outside guest memory")
	}
	return nil
}

// inRAM says whether n bytes at guest-physical phys lie in the region.
func (g *Guest) inRAM(phys, n uint64) bool {
	start := g.base + phys
	return start >= g.base && start+n >= start && start+n <= g.region.End
}

func (g *Guest) readPhys(phys uint64, b []byte) error {
	if !g.inRAM(phys, uint64(len(b))) {
		return fmt.Errorf("guest-physical %#x+%d outside guest memory", phys, len(b))
	}
	n, err := g.mem.ReadAt(b, int64(g.base+phys))
	if n == len(b) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read guest-physical %#x: %w", phys, err)
}

func readStruct(mem io.ReaderAt, at uint64, v any) error {
	b := make([]byte, binary.Size(v))
	if n, err := mem.ReadAt(b, int64(at)); n != len(b) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return binary.Read(bytes.NewReader(b), binary.LittleEndian, v)
}

// Done reports whether the guest's boot has ended: the count is final
// (or the guest records nothing, booted with boottrace=off).
func (g *Guest) Done() bool { return g.Desc.Done != 0 }

// Off reports whether the guest was booted with boottrace=off.
func (g *Guest) Off() bool { return g.Desc.Flags&FlagOff != 0 }

// Poll rereads the descriptor and returns the records published since the
// last poll, in slot order. A slot reserved but not yet written ends the
// batch (it is read at the next poll), unless the boot has ended: then it
// never will be, and is counted as skipped.
func (g *Guest) Poll() ([]bootline.Record, error) {
	var d Desc
	if err := readStruct(g.mem, g.base+g.Desc.SelfPhys, &d); err != nil {
		return nil, fmt.Errorf("read descriptor: %w", err)
	}
	if err := g.check(d); err != nil {
		return nil, err
	}
	// The done flag is written last: read it before the counters.
	g.Desc = d
	var counters [4]byte
	if err := g.readPhys(d.NextPhys, counters[:]); err != nil {
		return nil, err
	}
	g.Count = min(int(binary.LittleEndian.Uint32(counters[:])), int(d.Cap))
	if err := g.readPhys(d.DroppedPhys, counters[:]); err != nil {
		return nil, err
	}
	g.Dropped = int(int32(binary.LittleEndian.Uint32(counters[:])))
	if g.next >= g.Count {
		return nil, nil
	}
	// Kinds first, bodies second: the kernel writes the kind last, with
	// release order, so a body read after its kind is whole.
	raw := make([]byte, (g.Count-g.next)*recSize)
	if err := g.readPhys(d.BufPhys+uint64(g.next)*recSize, raw); err != nil {
		return nil, err
	}
	n := 0
	for ; n < g.Count-g.next && raw[n*recSize+30] != 0; n++ {
	}
	if d.Done != 0 {
		n = g.Count - g.next
	}
	if err := g.readPhys(d.BufPhys+uint64(g.next)*recSize, raw[:n*recSize]); err != nil {
		return nil, err
	}
	var out []bootline.Record
	for i := 0; i < n; i++ {
		b := raw[i*recSize : (i+1)*recSize]
		r := bootline.Record{
			Seq:  g.next + i,
			TSC:  binary.LittleEndian.Uint64(b[0:]),
			Addr: binary.LittleEndian.Uint64(b[16:]),
			PID:  int(int32(binary.LittleEndian.Uint32(b[24:]))),
			CPU:  int(binary.LittleEndian.Uint16(b[28:])),
			Kind: b[30],
		}
		switch {
		case r.Kind == 0:
			g.Skipped["a record reserved but never written"]++
			continue
		case !bytes.ContainsRune([]byte("BEFGIWXS"), rune(r.Kind)):
			g.Skipped[fmt.Sprintf("a record of unknown kind %#x", r.Kind)]++
			continue
		}
		if p := binary.LittleEndian.Uint64(b[8:]); p != 0 {
			name, err := g.name(p)
			if err != nil {
				g.Skipped["a record whose name is not in guest memory"]++
				continue
			}
			r.Name = name
		}
		out = append(out, r)
	}
	g.next += n
	return out, nil
}

// name reads the NUL-terminated name at kernel virtual address p: a
// string literal in the kernel image, or a copy in the direct map (a
// userspace mark). Names are read once: literals do not change, and marks
// are never freed during the boot.
func (g *Guest) name(p uint64) (string, error) {
	if s, ok := g.names[p]; ok {
		return s, nil
	}
	var phys uint64
	d := g.Desc
	switch {
	case d.KernelMap != 0 && p >= d.KernelMap:
		phys = p - d.KernelMap + d.PhysBase
	case d.PageOffset != 0 && p >= d.PageOffset && p-d.PageOffset < 1<<46:
		phys = p - d.PageOffset
	default:
		return "", fmt.Errorf("name at %#x: not a kernel address", p)
	}
	b := make([]byte, maxName)
	// A name near the end of guest memory: read what there is.
	for len(b) > 0 && !g.inRAM(phys, uint64(len(b))) {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || g.readPhys(phys, b) != nil {
		return "", fmt.Errorf("name at %#x: outside guest memory", p)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	g.names[p] = s
	return s, nil
}

// Header is the flush header the descriptor stands for, with the slot
// count as last read.
func (g *Guest) Header() bootline.Header {
	d := g.Desc
	rel := d.Release[:]
	if i := bytes.IndexByte(rel, 0); i >= 0 {
		rel = rel[:i]
	}
	h := bootline.Header{Version: 2, Release: string(rel), TSCkHz: uint64(d.TSCkHz), CPUs: int(d.CPUs), Records: g.Count, Dropped: g.Dropped, KASLR: d.KASLR, Flags: uint64(d.Flags &^ FlagOff)}
	if h.Release == "" {
		h.Release = "unknown"
	}
	if d.Done != 0 {
		h.TSC = d.DoneTSC
	}
	return h
}
