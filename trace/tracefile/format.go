package tracefile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Field is one field of a tracepoint's record, from its format file.
type Field struct {
	Name   string
	Offset int
	Size   int
	Signed bool
}

// Format is a tracepoint's record layout.
type Format []Field

// ParseFormat reads a tracefs "format" file. Only the fields after the
// common ones matter to boottrace, but all are kept.
func ParseFormat(r io.Reader) (Format, error) {
	var f Format
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "field:") {
			continue
		}
		var fl Field
		for _, part := range strings.Split(line, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok {
				continue
			}
			switch k {
			case "field":
				// "unsigned int port" or "char prev_comm[16]": the name is
				// the last word, without an array suffix.
				words := strings.Fields(v)
				if len(words) == 0 {
					continue
				}
				name := words[len(words)-1]
				if i := strings.IndexByte(name, '['); i >= 0 {
					name = name[:i]
				}
				fl.Name = name
			case "offset":
				fl.Offset, _ = strconv.Atoi(v)
			case "size":
				fl.Size, _ = strconv.Atoi(v)
			case "signed":
				fl.Signed = v == "1"
			}
		}
		if fl.Name != "" && fl.Size > 0 {
			f = append(f, fl)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(f) == 0 {
		return nil, fmt.Errorf("no fields in tracepoint format")
	}
	return f, nil
}

// Field finds a field by name.
func (f Format) Field(name string) (Field, bool) {
	for _, fl := range f {
		if fl.Name == name {
			return fl, true
		}
	}
	return Field{}, false
}

// Decode reads the integer fields of a raw record (at most len(raw)
// bytes; fields beyond are left out). Array and string fields are skipped.
func (f Format) Decode(raw []byte) map[string]int64 {
	out := map[string]int64{}
	for _, fl := range f {
		if v, ok := fl.value(raw); ok && !strings.HasPrefix(fl.Name, "common_") {
			out[fl.Name] = v
		}
	}
	return out
}

// Value reads one integer field of a raw record: false if the record has
// no such field, or it lies beyond the bytes captured, or is an array.
func (f Format) Value(raw []byte, name string) (int64, bool) {
	fl, ok := f.Field(name)
	if !ok {
		return 0, false
	}
	return fl.value(raw)
}

func (fl Field) value(raw []byte) (int64, bool) {
	if fl.Offset < 0 || fl.Offset+fl.Size > len(raw) {
		return 0, false
	}
	b := raw[fl.Offset : fl.Offset+fl.Size]
	var u uint64
	switch fl.Size {
	case 1:
		u = uint64(b[0])
	case 2:
		u = uint64(binary.LittleEndian.Uint16(b))
	case 4:
		u = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		u = binary.LittleEndian.Uint64(b)
	default:
		return 0, false // arrays (comm, insn)
	}
	v := int64(u)
	if fl.Signed {
		shift := 64 - 8*fl.Size
		v = int64(u<<shift) >> shift
	}
	return v, true
}

// String reads a char array field (a task's comm) as text, up to its NUL.
func (f Format) String(raw []byte, name string) string {
	fl, ok := f.Field(name)
	if !ok || fl.Offset+fl.Size > len(raw) {
		return ""
	}
	b := raw[fl.Offset : fl.Offset+fl.Size]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
