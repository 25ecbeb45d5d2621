package tracefile

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
)

// Probe is a probe event as version 2 writes it: the tracepoint's raw
// record, decoded when read with the header's format for its kind, so the
// recorder builds no map and no JSON per event. Its line is
//
//	e KIND TIME TGID TID CPU SEQ NRAW NARG DATA
//
// with KIND a number (Header.Kinds names it), and DATA the raw record's
// NRAW bytes then the ioctl argument's NARG bytes, in unpadded base64: a
// line cut short does not decode to that many bytes and is rejected.
type Probe struct {
	Time int64 // CLOCK_MONOTONIC nanoseconds
	Kind Kind
	TGID uint32
	TID  uint32
	CPU  uint16
	Seq  uint32
	// Raw is the record as the probe captured it (its first bytes: a
	// field beyond them was not captured).
	Raw []byte
	// Arg is the memory region a KVM_SET_USER_MEMORY_REGION ioctl points
	// to, or nil.
	Arg []byte
}

// MaxProbeData bounds NRAW+NARG, so a forged line cannot ask for much.
const MaxProbeData = 4096

// WriteProbe appends one probe event, allocating nothing.
func (rw *Writer) WriteProbe(p *Probe) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	b := append(rw.buf[:0], 'e', ' ')
	b = strconv.AppendUint(b, uint64(p.Kind), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time, 10)
	for _, v := range [...]uint64{uint64(p.TGID), uint64(p.TID), uint64(p.CPU), uint64(p.Seq), uint64(len(p.Raw)), uint64(len(p.Arg))} {
		b = append(b, ' ')
		b = strconv.AppendUint(b, v, 10)
	}
	b = append(b, ' ')
	b = appendData(b, p.Raw, p.Arg)
	b = append(b, '\n')
	rw.buf = b
	if rw.err == nil {
		_, rw.err = rw.w.Write(b)
	}
	return rw.err
}

// appendData encodes raw and arg as one base64 run.
func appendData(b, raw, arg []byte) []byte {
	if len(arg) == 0 {
		return base64.RawStdEncoding.AppendEncode(b, raw)
	}
	var both [MaxProbeData]byte
	n := copy(both[:], raw)
	n += copy(both[n:], arg)
	return base64.RawStdEncoding.AppendEncode(b, both[:n])
}

// IsProbe reports whether a line is a Probe line.
func IsProbe(line []byte) bool { return len(line) > 2 && line[0] == 'e' && line[1] == ' ' }

var errProbe = errors.New("not a probe event line")

// ParseProbe decodes a Probe line into p; p.Raw and p.Arg are decoded into
// buf's storage, which they share.
func ParseProbe(line []byte, p *Probe, buf *[]byte) error {
	if !IsProbe(line) {
		return errProbe
	}
	rest := line[2:]
	var v [8]uint64
	for i := range v {
		n, used, ok := parseUint(rest)
		if !ok || used == len(rest) || rest[used] != ' ' {
			return errProbe
		}
		v[i], rest = n, rest[used+1:]
	}
	kind, t, tgid, tid, cpu, seq, nraw, narg := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	if kind > 1<<16 || t > 1<<63-1 || tgid > 1<<32-1 || tid > 1<<32-1 || cpu > 1<<16-1 || seq > 1<<32-1 || nraw+narg > MaxProbeData {
		return errProbe
	}
	// Checked before decoding: Decode writes all that rest holds.
	if base64.RawStdEncoding.EncodedLen(int(nraw+narg)) != len(rest) {
		return errProbe
	}
	if uint64(cap(*buf)) < nraw+narg {
		*buf = make([]byte, MaxProbeData)
	}
	data := (*buf)[:nraw+narg]
	n, err := base64.RawStdEncoding.Decode(data, rest)
	if err != nil || uint64(n) != nraw+narg {
		return errProbe
	}
	*buf = data
	*p = Probe{Time: int64(t), Kind: Kind(kind), TGID: uint32(tgid), TID: uint32(tid), CPU: uint16(cpu), Seq: uint32(seq),
		Raw: data[:nraw:nraw]}
	if narg > 0 {
		p.Arg = data[nraw:]
	}
	return nil
}

// Decoder reads the event lines that follow a header.
type Decoder struct {
	kinds []decodedKind // by Probe kind number - 1
	p     Probe
	buf   []byte
	// arena holds the events' records: one allocation for many.
	arena []byte
}

type decodedKind struct {
	name   string
	format Format
	kind   Kind // as this reader numbers it
}

// NewDecoder returns a decoder for the events after h.
func NewDecoder(h *Header) *Decoder {
	d := &Decoder{}
	for _, name := range h.Kinds {
		d.kinds = append(d.kinds, decodedKind{name, h.Formats[name], KindOf(name)})
	}
	return d
}

var errEvent = errors.New("not an event line")

// Event decodes a JSON event line, or a Probe line with the header's
// kinds and formats. e owns what it holds: it stays valid after the next
// line is decoded.
func (d *Decoder) Event(line []byte, e *Event) error {
	if !IsProbe(line) {
		*e = Event{}
		if err := json.Unmarshal(line, e); err != nil || e.Kind == "" {
			return errEvent
		}
		e.Type = KindOf(e.Kind)
		return nil
	}
	if ParseProbe(line, &d.p, &d.buf) != nil || d.p.Kind == 0 || int(d.p.Kind) > len(d.kinds) {
		return errProbe
	}
	p := &d.p
	k := &d.kinds[p.Kind-1]
	n := len(p.Raw) + len(p.Arg)
	if len(d.arena) < n {
		d.arena = make([]byte, max(64<<10, n))
	}
	data := d.arena[:n:n]
	d.arena = d.arena[n:]
	copy(data, p.Raw)
	copy(data[len(p.Raw):], p.Arg)
	*e = Event{Time: p.Time, Kind: k.name, TGID: p.TGID, TID: p.TID, CPU: p.CPU, Seq: p.Seq,
		Raw: data[:len(p.Raw):len(p.Raw)], Format: k.format, Type: k.kind}
	if len(p.Arg) > 0 {
		e.Mem = data[len(p.Raw):]
	}
	if k.kind == KindSchedSwitch {
		e.Comm = e.Format.String(e.Raw, "prev_comm")
	}
	return nil
}

// parseUint reads the decimal number b starts with, and how many bytes
// it took; false if there is none or it overflows.
func parseUint(b []byte) (n uint64, used int, ok bool) {
	for used < len(b) && b[used] >= '0' && b[used] <= '9' {
		d := uint64(b[used] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, 0, false
		}
		n = n*10 + d
		used++
	}
	return n, used, used > 0
}
