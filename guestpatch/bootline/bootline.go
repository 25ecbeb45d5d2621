// Package bootline parses one line of the BOOT_TRACE flush that the guest
// kernel patch prints (on the console, or in /sys/kernel/debug/boot_trace):
//
//	BOOT_TRACE H 2 RELEASE TSC_KHZ CPUS RECORDS DROPPED TSC KASLR FLAGS *CRC32
//	BOOT_TRACE H 1 RELEASE TSC_KHZ CPUS RECORDS DROPPED [TSC] *CRC32 (older patches)
//	BOOT_TRACE SEQ KIND CPU PID TSC ADDR NAME *CRC32
//	BOOT_TRACE Z RECORDS CYCLES *CRC32
//
// It checks the line's checksum and fields, and nothing more: the reader
// (package trace/input) builds spans from the records, the recorder
// (package ebpf/record) watches for the end line. Names and the release are
// returned as printed: untrusted text, for the caller to clean.
package bootline

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
)

// Tag starts every flushed line (after any printk prefix).
const Tag = "BOOT_TRACE "

// Version is the newest flush format this package reads; it reads every
// older one too.
const Version = 2

// MaxRecords is the most records a kernel buffer holds
// (CONFIG_BOOT_TRACE_RECORDS's upper limit): a header or sequence number
// beyond it is forged or corrupt.
const MaxRecords = 1 << 20

// Errors a line can have.
var (
	ErrCut       = errors.New("BOOT_TRACE line cut short (no checksum)")
	ErrBadCRC    = errors.New("BOOT_TRACE line with a bad checksum")
	ErrMalformed = errors.New("BOOT_TRACE line that does not parse")
)

// Header is what the flush's header line says about the boot.
type Header struct {
	Version int
	Release string
	TSCkHz  uint64
	CPUs    int
	Records int
	Dropped int
	// TSC is the guest TSC as the header was printed (0 when the kernel did
	// not say).
	TSC uint64
	// KASLR is the kernel's KASLR offset: records' addresses minus it are
	// the addresses System.map and vmlinux give (version 2 on).
	KASLR uint64
	// Flags: FlagTSCUnstable.
	Flags uint64
}

// FlagTSCUnstable says the kernel marked its TSC unstable: times from it
// may jump.
const FlagTSCUnstable = 1

// Record is one record of the flush.
type Record struct {
	Seq  int
	Kind byte // B/E phase, F/G function, W/X wait, I instant, S sample
	CPU  int
	PID  int
	TSC  uint64
	Addr uint64
	Name string // "" when the kernel printed "-"
}

// End is the flush's last line.
type End struct {
	Records int
	Cycles  uint64 // how long the flush took
}

// Line is a parsed line: exactly one of its fields is set.
type Line struct {
	Header *Header
	Record *Record
	End    *End
}

// Find returns where the BOOT_TRACE payload starts in a console line, or
// -1 if the line holds none.
func Find(b []byte) int {
	i := bytes.Index(b, []byte(Tag))
	if i < 0 {
		return -1
	}
	return i + len(Tag)
}

// Parse parses a console line holding a BOOT_TRACE line. found is false for
// a line without one; err says what is wrong with one that is not usable
// (wrapping ErrCut, ErrBadCRC or ErrMalformed).
func Parse(b []byte) (l Line, found bool, err error) {
	i := Find(b)
	if i < 0 {
		return Line{}, false, nil
	}
	payload, err := checkCRC(b[i:])
	if err != nil {
		return Line{}, true, err
	}
	f := strings.Fields(payload)
	if len(f) == 0 {
		return Line{}, true, ErrMalformed
	}
	switch f[0] {
	case "H":
		h, err := parseHeader(f)
		return Line{Header: h}, true, err
	case "Z":
		e, err := parseEnd(f)
		return Line{End: e}, true, err
	}
	r, err := parseRecord(f)
	return Line{Record: r}, true, err
}

// checkCRC verifies "PAYLOAD *CRC32" and returns the payload.
func checkCRC(b []byte) (string, error) {
	b = bytes.TrimRight(b, " \r\n")
	i := bytes.LastIndex(b, []byte(" *"))
	if i < 0 || len(b)-i-2 != 8 {
		return "", ErrCut
	}
	want, err := strconv.ParseUint(string(b[i+2:]), 16, 32)
	if err != nil {
		return "", ErrCut
	}
	if crc32.ChecksumIEEE(b[:i]) != uint32(want) {
		return "", ErrBadCRC
	}
	return string(b[:i]), nil
}

func parseHeader(f []string) (*Header, error) {
	if len(f) < 2 {
		return nil, ErrMalformed
	}
	h := &Header{}
	var err error
	if h.Version, err = strconv.Atoi(f[1]); err != nil {
		return nil, fmt.Errorf("%w (header: version %q)", ErrMalformed, f[1])
	}
	if h.Version < 1 || h.Version > Version {
		return nil, fmt.Errorf("%w (header of flush format version %d; this boottrace reads versions 1 to %d: use a boottrace as new as the patch)", ErrMalformed, h.Version, Version)
	}
	if want := map[int][]int{1: {7, 8}, 2: {10}}[h.Version]; !slices.Contains(want, len(f)) {
		return nil, fmt.Errorf("%w (version %d header with %d fields, want %v)", ErrMalformed, h.Version, len(f), want)
	}
	h.Release = f[2]
	var errs [4]error
	h.TSCkHz, errs[0] = strconv.ParseUint(f[3], 10, 64)
	h.CPUs, errs[1] = strconv.Atoi(f[4])
	h.Records, errs[2] = strconv.Atoi(f[5])
	h.Dropped, errs[3] = strconv.Atoi(f[6])
	if len(f) >= 8 {
		var e error
		if h.TSC, e = strconv.ParseUint(f[7], 16, 64); e != nil {
			return nil, fmt.Errorf("%w (header: TSC %q)", ErrMalformed, f[7])
		}
	}
	if len(f) == 10 {
		var e1, e2 error
		h.KASLR, e1 = strconv.ParseUint(f[8], 16, 64)
		h.Flags, e2 = strconv.ParseUint(f[9], 16, 64)
		if e1 != nil || e2 != nil {
			return nil, fmt.Errorf("%w (header: KASLR offset %q, flags %q)", ErrMalformed, f[8], f[9])
		}
	}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("%w (header: %v)", ErrMalformed, err)
	}
	switch {
	case h.TSCkHz > 100e6:
		return nil, fmt.Errorf("%w (header: TSC of %d kHz, over 100 GHz)", ErrMalformed, h.TSCkHz)
	case h.Records < 0 || h.Records > MaxRecords:
		return nil, fmt.Errorf("%w (header: %d records; a kernel buffer holds 0 to %d)", ErrMalformed, h.Records, MaxRecords)
	case h.Dropped < 0 || h.CPUs < 0:
		return nil, fmt.Errorf("%w (header: negative count)", ErrMalformed)
	}
	return h, nil
}

func parseEnd(f []string) (*End, error) {
	if len(f) != 3 {
		return nil, ErrMalformed
	}
	n, err1 := strconv.Atoi(f[1])
	c, err2 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || n < 0 {
		return nil, ErrMalformed
	}
	return &End{Records: n, Cycles: c}, nil
}

func parseRecord(f []string) (*Record, error) {
	if len(f) != 7 || len(f[1]) != 1 {
		return nil, ErrMalformed
	}
	r := &Record{Kind: f[1][0]}
	var errs [5]error
	r.Seq, errs[0] = strconv.Atoi(f[0])
	r.CPU, errs[1] = strconv.Atoi(f[2])
	r.PID, errs[2] = strconv.Atoi(f[3])
	r.TSC, errs[3] = strconv.ParseUint(f[4], 16, 64)
	r.Addr, errs[4] = strconv.ParseUint(f[5], 16, 64)
	if errors.Join(errs[:]...) != nil {
		return nil, ErrMalformed
	}
	if r.Seq < 0 || r.Seq >= MaxRecords || r.CPU < 0 || r.CPU > 1<<16 || !strings.ContainsRune("BEFGIWXS", rune(r.Kind)) {
		return nil, ErrMalformed
	}
	if f[6] != "-" {
		r.Name = f[6]
	}
	return r, nil
}

// String is the header as the kernel prints it (version 2), checksummed.
func (h Header) String() string {
	return withCRC(fmt.Sprintf("H 2 %s %d %d %d %d %x %x %x", word(h.Release), h.TSCkHz, h.CPUs, h.Records, h.Dropped, h.TSC, h.KASLR, h.Flags))
}

// String is the record as the kernel prints it, checksummed.
func (r Record) String() string {
	return withCRC(fmt.Sprintf("%d %c %d %d %x %x %s", r.Seq, r.Kind, r.CPU, r.PID, r.TSC, r.Addr, word(r.Name)))
}

// String is the end line as the kernel prints it, checksummed.
func (e End) String() string {
	return withCRC(fmt.Sprintf("Z %d %d", e.Records, e.Cycles))
}

func withCRC(payload string) string {
	return fmt.Sprintf("%s%s *%08x", Tag, payload, crc32.ChecksumIEEE([]byte(payload)))
}

// word makes s one field of a line: "-" when empty, anything but
// printable ASCII (spaces included) replaced by '_'.
func word(s string) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}
